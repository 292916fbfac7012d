"""COSE against a peer implementation: edbp's wire layer next to python-cwt, same keys, same
algorithms, same payload, measured in the same run.

- ``cose.sign1[ES256]`` / ``cose.verify1[ES256]``: COSE_Sign1 with ECDSA P-256, encode and
  sign; decode and verify. Baselines ``peer.cwt_sign1[ES256]`` / ``peer.cwt_verify1[ES256]``.
- ``cose.encrypt[ECDH-ES+A128KW]`` / ``cose.decrypt[ECDH-ES+A128KW]``: COSE_Encrypt with one
  ECDH-ES + AES key wrap recipient (P-256) and A128GCM content, the suite a Delivery uses.
  Baselines ``peer.cwt_encrypt[...]`` / ``peer.cwt_decrypt[...]``.

The ratio is edbp's time over python-cwt's: below 1 edbp is faster. Skipped, with the reason,
when python-cwt is not installed (it is in the ``test`` extra).
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from edbp.bench import Skip, benchmark
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cose
from edbp.reference.wire.cose import Alg, CoseKey, Curve

_PAYLOAD = bytes(range(256)) * 4  # 1 KiB: a protocol message, not a bulk payload
_ECDH = Alg.ECDH_ES_A128KW


def _cwt() -> Any:
    try:
        import cwt
    except ImportError:
        raise Skip("python-cwt is not installed (pip install cwt)") from None
    return cwt


def _cwt_key(cwt: Any, key: CoseKey, alg: Alg) -> Any:
    m = key.to_map()
    m[3] = int(alg)
    return cwt.COSEKey.new(m)


@attrs.frozen
class _State:
    cwt: Any
    sign_key: CoseKey = attrs.field(repr=False)
    dak: CoseKey = attrs.field(repr=False)
    cwt_sign_key: Any = attrs.field(repr=False)
    cwt_verify_key: Any
    cwt_dak: Any = attrs.field(repr=False)
    cwt_dak_public: Any
    signed: bytes
    encrypted: bytes
    cwt_encrypted: bytes
    context: list[Any]


@functools.lru_cache(maxsize=1)
def _state() -> _State:
    cwt = _cwt()
    rng = SeededRandom("edbp bench cose")
    sign_key = CoseKey.generate(Curve.P256, rng.fork("sign"), kid=b"signer")
    dak = CoseKey.generate(Curve.P256, rng.fork("dak"), kid=b"dak")
    signed = cose.sign1(_PAYLOAD, sign_key, Alg.ES256).encode()
    ours = cose.encrypt(_PAYLOAD, [cose.RecipientSpec(_ECDH, dak.public())], Alg.A128GCM)
    # python-cwt must be told the COSE_KDF_Context; the one edbp's recipient used
    info = cose.alg_info(_ECDH)
    assert info.wrap is not None
    context = [
        int(info.wrap),
        [None, None, None],
        [None, None, None],
        [cose.alg_info(info.wrap).key_bytes * 8, ours.recipients[0].headers.protected_raw],
    ]
    recipient = cwt.Recipient.new(
        protected={1: int(_ECDH)},
        recipient_key=_cwt_key(cwt, dak.public(), _ECDH),
        context=context,
    )
    theirs = cwt.COSE.new().encode_and_encrypt(
        _PAYLOAD,
        cwt.COSEKey.from_symmetric_key(alg=int(Alg.A128GCM)),
        protected={1: int(Alg.A128GCM)},
        recipients=[recipient],
    )
    return _State(
        cwt,
        sign_key,
        dak,
        _cwt_key(cwt, sign_key, Alg.ES256),
        _cwt_key(cwt, sign_key.public(), Alg.ES256),
        _cwt_key(cwt, dak, _ECDH),
        _cwt_key(cwt, dak.public(), _ECDH),
        signed,
        ours.encode(),
        theirs,
        context,
    )


@benchmark("peer.cwt_sign1[ES256]", setup=_state, nbytes=len(_PAYLOAD))
def cwt_sign1(s: _State) -> None:
    s.cwt.COSE.new().encode_and_sign(_PAYLOAD, s.cwt_sign_key, protected={1: int(Alg.ES256)})


@benchmark(
    "cose.sign1[ES256]", baseline="peer.cwt_sign1[ES256]", setup=_state, nbytes=len(_PAYLOAD)
)
def edbp_sign1(s: _State) -> None:
    cose.sign1(_PAYLOAD, s.sign_key, Alg.ES256).encode()


@benchmark("peer.cwt_verify1[ES256]", setup=_state, nbytes=len(_PAYLOAD))
def cwt_verify1(s: _State) -> None:
    s.cwt.COSE.new().decode(s.signed, s.cwt_verify_key)


@benchmark(
    "cose.verify1[ES256]", baseline="peer.cwt_verify1[ES256]", setup=_state, nbytes=len(_PAYLOAD)
)
def edbp_verify1(s: _State) -> None:
    cose.Sign1.decode(s.signed).verify(s.sign_key.public(), algorithms={Alg.ES256})


_ENC = f"[{_ECDH.name.replace('_', '-')}]"


@benchmark(f"peer.cwt_encrypt{_ENC}", setup=_state, nbytes=len(_PAYLOAD))
def cwt_encrypt(s: _State) -> None:
    recipient = s.cwt.Recipient.new(
        protected={1: int(_ECDH)}, recipient_key=s.cwt_dak_public, context=s.context
    )
    s.cwt.COSE.new().encode_and_encrypt(
        _PAYLOAD,
        s.cwt.COSEKey.from_symmetric_key(alg=int(Alg.A128GCM)),
        protected={1: int(Alg.A128GCM)},
        recipients=[recipient],
    )


@benchmark(
    f"cose.encrypt{_ENC}", baseline=f"peer.cwt_encrypt{_ENC}", setup=_state, nbytes=len(_PAYLOAD)
)
def edbp_encrypt(s: _State) -> None:
    cose.encrypt(_PAYLOAD, [cose.RecipientSpec(_ECDH, s.dak.public())], Alg.A128GCM).encode()


@benchmark(f"peer.cwt_decrypt{_ENC}", setup=_state, nbytes=len(_PAYLOAD))
def cwt_decrypt(s: _State) -> None:
    s.cwt.COSE.new().decode(s.cwt_encrypted, s.cwt_dak, context=s.context)


@benchmark(
    f"cose.decrypt{_ENC}", baseline=f"peer.cwt_decrypt{_ENC}", setup=_state, nbytes=len(_PAYLOAD)
)
def edbp_decrypt(s: _State) -> None:
    cose.Encrypt.decode(s.encrypted).decrypt(
        s.dak, algorithms={Alg.A128GCM}, recipient_algorithms={_ECDH}
    )
