"""The post-quantum suite's wire layer: ML-DSA-65 COSE_Sign1 (RFC 9964), AKP keys, and COSE-HPKE
recipients with the MLKEM768-X25519 KEM (spec/protocol.md section 4.1)."""

from __future__ import annotations

import attrs
import pytest
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, pq
from edbp.reference.wire.cose_algs import Alg, Curve, HeaderLabel, KeyType
from edbp.reference.wire.cose_encrypt import Encrypt, RecipientSpec, encryption_info
from edbp.reference.wire.cose_headers import Headers
from edbp.reference.wire.cose_hpke import recipient_structure
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1, sign1
from edbp.reference.wire.cose_trace import Trace

from edbp.errors import Code, DecryptionFailed, EdbpError, VerificationError, WireError

pytestmark = pytest.mark.skipif(not pq.available(), reason=f"{pq.unavailable_reason()}")

HPKE = Alg.EDBP_HPKE_XWING_KE


def _key(alg: Alg, label: str) -> CoseKey:
    key = CoseKey.generate_akp(alg, SeededRandom("pq-wire").fork(label))
    return attrs.evolve(key, kid=key.thumbprint())


def _info(dak: CoseKey, cek: bytes = b"\x11" * 16) -> Encrypt:
    spec = RecipientSpec(alg=HPKE, key=dak.public())
    return encryption_info([spec], Alg.A128GCM, cek=cek, iv=b"\x22" * 12)


def _unwrap(enc: Encrypt, dak: CoseKey, trace: Trace | None = None) -> bytes:
    return enc.unwrap_cek(
        dak, algorithms={Alg.A128GCM}, recipient_algorithms={HPKE}, trace=trace
    )


# ------------------------------------------------------------------ keys


def test_akp_keys_replay_from_a_seed_and_round_trip():
    a, b = _key(Alg.ML_DSA_65, "k"), _key(Alg.ML_DSA_65, "k")
    assert a == b and a.kty == KeyType.AKP and len(a.x or b"") == pq.MLDSA65_PUBLIC_BYTES
    assert CoseKey.decode(a.encode()) == a
    assert CoseKey.decode(a.public().encode()).d is None
    dak = _key(HPKE, "dak")
    assert len(dak.x or b"") == pq.XWING_PUBLIC_BYTES
    assert "d=" not in repr(dak) or repr(dak.d) not in repr(dak)


def test_akp_thumbprint_covers_kty_alg_pub_only():
    key = _key(Alg.ML_DSA_65, "t")
    assert key.thumbprint() == attrs.evolve(key, kid=b"other", d=None).thumbprint()
    import hashlib

    want = cbor.dumps({1: 7, 3: -49, -1: key.x})
    assert key.thumbprint() == hashlib.sha256(want).digest()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: {**m, -1: m[-1][:-1]},  # short pub
        lambda m: {**m, 3: -9},  # alg outside the AKP profile
        lambda m: {k: v for k, v in m.items() if k != 3},  # no alg
        lambda m: {k: v for k, v in m.items() if k != -1},  # no pub
        lambda m: {**m, -2: 5},  # priv not bytes
    ],
)
def test_bad_akp_keys_are_cose_bad_key(mutate):
    m = _key(Alg.ML_DSA_65, "bad").to_map()
    with pytest.raises(WireError) as err:
        CoseKey.from_map(mutate(m))
    assert err.value.code == Code.COSE_BAD_KEY


def test_akp_private_part_must_match():
    key = _key(Alg.ML_DSA_65, "m")
    key.check_private()
    with pytest.raises(WireError) as err:
        attrs.evolve(key, d=bytes(32)).check_private()
    assert err.value.code == Code.COSE_BAD_KEY


# ------------------------------------------------------------------ ML-DSA-65 signatures


def test_mldsa65_sign1_round_trip_and_size():
    key = _key(Alg.ML_DSA_65, "sig")
    msg = sign1(b"payload", key, Alg.ML_DSA_65, unprotected={4: key.kid})
    assert len(msg.signature) == pq.MLDSA65_SIGNATURE_BYTES
    got = Sign1.decode(msg.encode()).verify(key.public(), algorithms={Alg.ML_DSA_65})
    assert got == b"payload"


@pytest.mark.parametrize("where", ["payload", "signature", "protected"])
def test_mldsa65_tampering_is_bad_signature(where):
    key = _key(Alg.ML_DSA_65, "sig")
    msg = sign1(b"payload", key, Alg.ML_DSA_65)
    if where == "payload":
        msg = attrs.evolve(msg, payload=b"payloae")
    elif where == "signature":
        sig = bytearray(msg.signature)
        sig[100] ^= 1
        msg = attrs.evolve(msg, signature=bytes(sig))
    else:
        msg = attrs.evolve(msg, headers=Headers.make({1: -49, 16: "x"}, {}))
    with pytest.raises(VerificationError) as err:
        msg.verify(key.public(), algorithms={Alg.ML_DSA_65})
    assert err.value.code == Code.COSE_BAD_SIGNATURE


def test_mldsa65_needs_an_mldsa_key_and_the_allow_list():
    key = _key(Alg.ML_DSA_65, "sig")
    msg = sign1(b"p", key, Alg.ML_DSA_65)
    with pytest.raises(WireError) as err:
        msg.verify(CoseKey.generate(Curve.P256), algorithms={Alg.ML_DSA_65})
    assert err.value.code == Code.COSE_ALG_KEY_MISMATCH
    with pytest.raises(WireError) as err:
        msg.verify(key.public(), algorithms={Alg.ESP256})
    assert err.value.code == Code.COSE_ALG_NOT_ALLOWED
    with pytest.raises(WireError) as err:
        sign1(b"p", _key(HPKE, "dak"), Alg.ML_DSA_65)
    assert err.value.code == Code.COSE_ALG_KEY_MISMATCH


# ------------------------------------------------------------------ COSE-HPKE recipients


def test_hpke_recipient_round_trip_and_shape():
    dak = _key(HPKE, "dak")
    enc = Encrypt.decode(_info(dak).encode())
    (rcpt,) = enc.recipients
    assert rcpt.headers.protected[HeaderLabel.ALG] == int(HPKE)
    assert rcpt.headers.protected[HeaderLabel.KID] == dak.kid
    assert len(rcpt.headers.unprotected[HeaderLabel.EK]) == pq.XWING_ENC_BYTES
    assert len(rcpt.ciphertext) == 16 + 16
    assert _unwrap(enc, dak) == b"\x11" * 16


def test_recomputed_intermediates_open_what_the_library_sealed():
    dak = _key(HPKE, "dak")
    trace = Trace()
    enc = _info(dak)
    assert _unwrap(enc, dak, trace) == b"\x11" * 16
    rt = trace.recipients[0]
    assert rt.hpke_info == recipient_structure(1, enc.recipients[0].headers.protected_for_crypto)
    inter = pq.hpke_intermediates(dak.d or b"", rt.hpke_enc or b"", rt.hpke_info or b"")
    assert pq.open_with_intermediates(inter, rt.wrapped_cek or b"") == b"\x11" * 16
    # a different info gives a different key schedule: the recomputation is not a constant
    other = pq.hpke_intermediates(dak.d or b"", rt.hpke_enc or b"", b"other")
    assert other.shared_secret == inter.shared_secret and other.key != inter.key
    with pytest.raises(DecryptionFailed):
        pq.open_with_intermediates(other, rt.wrapped_cek or b"")


def _mutated(enc: Encrypt, *, prot=None, unprot=None, ct=None) -> Encrypt:
    (r,) = enc.recipients
    p = dict(r.headers.protected) if prot is None else prot
    u = dict(r.headers.unprotected) if unprot is None else unprot
    r2 = attrs.evolve(r, headers=Headers.make(p, u), ciphertext=r.ciphertext if ct is None else ct)
    return attrs.evolve(enc, recipients=(r2,))


def test_every_cryptographic_miss_is_decryption_failed():
    dak = _key(HPKE, "dak")
    enc = _info(dak)
    (r,) = enc.recipients
    ek = bytearray(r.headers.unprotected[HeaderLabel.EK])
    ek[5] ^= 1
    flipped_ct = bytes([r.ciphertext[0] ^ 1]) + r.ciphertext[1:]
    cases = [
        _mutated(enc, ct=flipped_ct),
        _mutated(enc, unprot={HeaderLabel.EK.value: bytes(ek)}),
        # a changed protected header changes the Recipient_structure (info)
        _mutated(enc, prot={**r.headers.protected, 16: "x"}),
    ]
    for bad in cases:
        with pytest.raises(DecryptionFailed) as err:
            _unwrap(Encrypt.decode(bad.encode()), dak)
        assert err.value.code == Code.COSE_DECRYPT_FAILED
    other = attrs.evolve(_key(HPKE, "other"), kid=dak.kid)
    with pytest.raises(DecryptionFailed):
        _unwrap(enc, other)


def test_next_layer_alg_binds_the_cek_to_the_content_algorithm():
    dak = _key(HPKE, "dak")
    enc = _info(dak)
    swapped = attrs.evolve(enc, headers=Headers.make(None, {1: int(Alg.A128CTR), 5: b"\x22" * 16}))
    with pytest.raises(DecryptionFailed):
        swapped.unwrap_cek(
            dak, algorithms={Alg.A128CTR}, recipient_algorithms={HPKE},
            allow_unauthenticated=True,
        )


@pytest.mark.parametrize(
    "where", ["missing", "short", "text", "protected"]
)
def test_bad_ek_is_its_own_code(where):
    dak = _key(HPKE, "dak")
    enc = _info(dak)
    (r,) = enc.recipients
    ek = r.headers.unprotected[HeaderLabel.EK]
    if where == "missing":
        bad = _mutated(enc, unprot={})
    elif where == "short":
        bad = _mutated(enc, unprot={HeaderLabel.EK.value: ek[:-1]})
    elif where == "text":
        bad = _mutated(enc, unprot={HeaderLabel.EK.value: "x"})
    else:
        bad = _mutated(enc, prot={**r.headers.protected, HeaderLabel.EK.value: ek}, unprot={})
    with pytest.raises(EdbpError) as err:
        _unwrap(bad, dak)
    assert err.value.code == Code.COSE_HPKE_BAD_EK


def test_hpke_recipient_is_not_opened_unless_allowed():
    dak = _key(HPKE, "dak")
    with pytest.raises(WireError) as err:
        _info(dak).unwrap_cek(
            dak, algorithms={Alg.A128GCM}, recipient_algorithms={Alg.ECDH_ES_A128KW}
        )
    assert err.value.code == Code.COSE_ALG_NOT_ALLOWED


def test_unavailable_build_refuses_with_its_code(monkeypatch):
    monkeypatch.setattr(pq, "_REASON", "test: no primitives")
    with pytest.raises(WireError) as err:
        pq.mldsa65_public(bytes(32))
    assert err.value.code == Code.COSE_PQ_UNAVAILABLE
    assert not pq.available()


def test_inspect_names_the_pq_code_points():
    from edbp.reference.wire.inspect import inspect

    dak = _key(HPKE, "dak")
    text = str(inspect(_info(dak).encode()).text)
    assert "edbp HPKE MLKEM768-X25519 KE (private use)" in text
    assert "ek (HPKE encapsulated key)" in text
    key = _key(Alg.ML_DSA_65, "sig")
    signed = str(inspect(sign1(b"p", key, Alg.ML_DSA_65).encode()).text)
    assert "ML-DSA-65" in signed


def test_low_order_x25519_half_of_ek_is_decryption_failed():
    dak = _key(HPKE, "dak")
    enc = _info(dak)
    (r,) = enc.recipients
    ek = r.headers.unprotected[HeaderLabel.EK]
    low_order = ek[: pq.XWING_ENC_BYTES - 32] + bytes(32)  # the all-zero X25519 point
    bad = _mutated(enc, unprot={HeaderLabel.EK.value: low_order})
    for trace in (None, Trace()):
        with pytest.raises(DecryptionFailed):
            _unwrap(bad, dak, trace)
