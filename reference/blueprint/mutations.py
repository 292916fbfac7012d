"""Public catalogues of CPK mutations and wrapped-key mutations with their expected outcome on
each CPM behaviour, for tests, the vector generator and the conformance cases.

``CPK_MUTATIONS``: name -> ``CpkMutation`` (``apply(context, behaviour) -> bytes`` and
``expect[behaviour] -> outcome``). Outcomes are strings: ``"installed"``;
``"parse:<CODE>"`` (the host's parser refuses; lenient parser for as-published, strict for
fixed); ``"host:<CODE>"`` (the installer refuses before or between CPM calls);
``"cpm:<Call>:<rc>"`` (the first CPM call that returns non-zero). ``run_cpk`` computes the
outcome of a package on a fresh CPM provisioned with the context's class key, so an
expectation is checked, not asserted.

``WRAPPED_KEY_MUTATIONS``: name -> ``WrappedKeyMutation`` (``apply(device_public_key,
class_key, rng) -> bytes`` and ``expect[behaviour] -> (rc, REE log lines)``). The as-published
log lines differ by failure class: that difference is the padding oracle.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import struct
from collections.abc import Callable
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.blueprint import cpm as C
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.frame import (
    HEADER_SIZE,
    FrameHeader,
    StreamEntry,
    encode_frame_prefix,
)
from edbp.reference.blueprint.installer import install_package, sync_keys
from edbp.reference.blueprint.package import Binding, CpkReader, build_cpk
from edbp.reference.rand import RandomSource, SeededRandom

from edbp.errors import BlueprintError, Code, EdbpError

__all__ = [
    "CPK_MUTATIONS",
    "WRAPPED_KEY_MUTATIONS",
    "CpkMutation",
    "MutationContext",
    "WrappedKeyMutation",
    "assemble",
    "make_context",
    "run_cpk",
    "run_wrapped_key",
    "split_streams",
]

APP = "cpk-demo-app"
DATE = "2021-10-05 12:52:37.489525 UTC"


@attrs.frozen
class MutationContext:
    """Keys and base packages the mutations start from (secrets: repr=False)."""

    class_key: bytes = attrs.field(repr=False)
    signer: rsa.RSAPrivateKey = attrs.field(repr=False)
    signer_cert: x509.Certificate
    attacker: rsa.RSAPrivateKey = attrs.field(repr=False)
    attacker_cert: x509.Certificate
    device_key: rsa.RSAPrivateKey = attrs.field(repr=False)
    payload: bytes
    other_payload: bytes
    rng: RandomSource

    def build(
        self,
        binding: Binding,
        *,
        payload: bytes | None = None,
        signer: str = "vendor",
        ver: tuple[int, int, int] = (1, 0, 0),
        cp_id: str = APP,
        align: int = 1,
        label: str = "base",
    ) -> bytes:
        key, cert = (
            (self.signer, self.signer_cert)
            if signer == "vendor"
            else (self.attacker, self.attacker_cert)
        )
        out = io.BytesIO()
        build_cpk(
            out,
            io.BytesIO(self.payload if payload is None else payload),
            class_key=self.class_key,
            signing_key=key,
            certificate=cert,
            cp_id=cp_id,
            cp_name="Demo",
            cp_vendor="Vendor",
            date=DATE,
            ver=ver,
            rng=self.rng.fork(f"{label}/{binding}/{signer}/{ver}/{align}"),
            binding=binding,
            align=align,
        )
        return out.getvalue()

    def base(self, behaviour: str) -> bytes:
        return self.build("fixed" if behaviour == "fixed" else "as-published")

    def cpm(self, behaviour: str) -> C.Cpm:
        return C.Cpm(
            C.as_behaviour(behaviour),
            trust_anchors=(self.signer.public_key(),),
            keygen=lambda: self.device_key,
        )


def make_context(
    seed: int | str = 1,
    *,
    signer: rsa.RSAPrivateKey | None = None,
    attacker: rsa.RSAPrivateKey | None = None,
    device_key: rsa.RSAPrivateKey | None = None,
) -> MutationContext:
    """A context from a seed. RSA keys cannot be drawn from a seed with ``cryptography``; pass
    fixed ones for byte-stable vectors (fresh ones are generated otherwise)."""
    import datetime as dt

    rng = SeededRandom(seed)

    def gen() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(65537, 2048)

    signer = signer or gen()
    attacker = attacker or gen()
    when = dt.datetime(2021, 10, 5, tzinfo=dt.UTC)
    return MutationContext(
        class_key=rng.fork("class-key").random_bytes(32),
        signer=signer,
        signer_cert=crypto.self_signed_certificate(
            signer, "vendor", rng=rng.fork("vendor-cert"), not_before=when
        ),
        attacker=attacker,
        attacker_cert=crypto.self_signed_certificate(
            attacker, "attacker", rng=rng.fork("attacker-cert"), not_before=when
        ),
        device_key=device_key or gen(),
        payload=rng.fork("payload").random_bytes(3000),
        other_payload=rng.fork("other-payload").random_bytes(2000),
        rng=rng,
    )


# ----------------------------------------------------------------------------- raw helpers


def split_streams(cpk: bytes) -> list[bytes]:
    """The streams of a well-formed CPK, by index (no checks beyond slicing)."""
    count = struct.unpack_from("<H", cpk, 8)[0]
    origin = HEADER_SIZE + 16 * count
    out = []
    for i in range(count):
        off, size = struct.unpack_from("<QQ", cpk, HEADER_SIZE + 16 * i)
        out.append(cpk[origin + off : origin + off + size])
    return out


def assemble(streams: list[bytes], manifest_index: int | None = None) -> bytes:
    """Contiguous CPK from streams (prototype header, manifest last unless said otherwise)."""
    mi = len(streams) - 1 if manifest_index is None else manifest_index
    entries, cursor = [], 0
    for s in streams:
        entries.append(StreamEntry(cursor, len(s)))
        cursor += len(s)
    return encode_frame_prefix(FrameHeader(len(streams), mi), entries) + b"".join(streams)


def _set(cpk: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(cpk)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def _flip(data: bytes, index: int = 0) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


def _with_stream(cpk: bytes, index: int, value: bytes) -> bytes:
    s = split_streams(cpk)
    s[index] = value
    return assemble(s)


def _with_manifest(cpk: bytes, edit: Callable[[dict[str, Any]], object]) -> bytes:
    s = split_streams(cpk)
    doc = json.loads(s[6])
    edit(doc)
    s[6] = json.dumps(doc, separators=(",", ":")).encode()
    return assemble(s)


def _entry(i: int, field: int) -> int:
    return HEADER_SIZE + 16 * i + 8 * field


# ----------------------------------------------------------------------------- CPK catalogue


@attrs.frozen
class CpkMutation:
    name: str
    description: str
    apply: Callable[[MutationContext, str], bytes]
    expect: dict[str, str]


def _both(outcome: str) -> dict[str, str]:
    return {"as-published": outcome, "fixed": outcome}


def _m(
    name: str, description: str, expect: dict[str, str]
) -> Callable[[Callable[[MutationContext, str], bytes]], Callable[[MutationContext, str], bytes]]:
    def deco(
        fn: Callable[[MutationContext, str], bytes],
    ) -> Callable[[MutationContext, str], bytes]:
        CPK_MUTATIONS[name] = CpkMutation(name, description, fn, expect)
        return fn

    return deco


CPK_MUTATIONS: dict[str, CpkMutation] = {}
END = "cpm:EndApplicationDeployment"

_m("valid", "the package as built", _both("installed"))(lambda c, b: c.base(b))
_m("padding_between_streams", "streams aligned to 16 bytes (allowed padding)", _both("installed"))(
    lambda c, b: c.build("fixed" if b == "fixed" else "as-published", align=16)
)
_m("bad_magic", "magic 0x0ECCF00E", _both("parse:CPK_BAD_MAGIC"))(
    lambda c, b: _set(c.base(b), 0, "<I", 0x0ECCF00E)
)
_m("frame_version_2", "frame version 2", _both("parse:CPK_BAD_FRAME_VERSION"))(
    lambda c, b: _set(c.base(b), 4, "<H", 2)
)
_m("flags_nonzero", "flags 1", _both("parse:CPK_BAD_FLAGS"))(
    lambda c, b: _set(c.base(b), 6, "<H", 1)
)
_m("zero_streams", "stream count 0", _both("parse:CPK_NO_STREAMS"))(
    lambda c, b: _set(c.base(b), 8, "<H", 0)
)
_m(
    "manifest_index_out_of_range",
    "manifest index = stream count",
    _both("parse:CPK_BAD_MANIFEST_INDEX"),
)(lambda c, b: _set(c.base(b), 10, "<H", 7))
_m("manifest_type_2", "manifest type 2", _both("parse:CPK_BAD_MANIFEST_TYPE"))(
    lambda c, b: _set(c.base(b), 12, "<H", 2)
)
_m("manifest_version_2", "manifest version 2", _both("parse:CPK_BAD_MANIFEST_VERSION"))(
    lambda c, b: _set(c.base(b), 14, "<H", 2)
)
_m("truncated_header", "file ends inside the fixed header", _both("parse:CPK_TRUNCATED"))(
    lambda c, b: c.base(b)[:10]
)
_m("truncated_table", "file ends inside the stream table", _both("parse:CPK_TRUNCATED"))(
    lambda c, b: c.base(b)[:40]
)
_m(
    "payload_size_beyond_file",
    "ciphertext size 2^40 in the table",
    {"as-published": "host:CPK_TRUNCATED", "fixed": "parse:CPK_STREAM_OUT_OF_BOUNDS"},
)(lambda c, b: _set(c.base(b), _entry(0, 1), "<Q", 1 << 40))
_m(
    "manifest_offset_beyond_file",
    "manifest offset past the end",
    {"as-published": "parse:CPK_TRUNCATED", "fixed": "parse:CPK_STREAM_OUT_OF_BOUNDS"},
)(lambda c, b: _set(c.base(b), _entry(6, 0), "<Q", 1 << 32))
_m(
    "nonce_overlaps_tag",
    "nonce entry moved 4 bytes into the tag",
    {"as-published": f"{END}:-2", "fixed": "parse:CPK_STREAM_OVERLAP"},
)(
    lambda c, b: _set(
        c.base(b), _entry(1, 0), "<Q", struct.unpack_from("<Q", c.base(b), _entry(2, 0))[0] - 8
    )
)
_m(
    "manifest_over_size_cap",
    "manifest padded with 70 000 spaces (JSON whitespace)",
    {"as-published": "installed", "fixed": "parse:CPK_STREAM_TOO_LARGE"},
)(lambda c, b: _with_stream(c.base(b), 6, split_streams(c.base(b))[6] + b" " * 70000))
_m("manifest_not_json", "manifest bytes are not JSON", _both("parse:CPK_MANIFEST_INVALID"))(
    lambda c, b: _with_stream(c.base(b), 6, b"{not json")
)
_m("manifest_missing_payload", "manifest without payload", _both("parse:CPK_MANIFEST_INVALID"))(
    lambda c, b: _with_manifest(c.base(b), lambda d: d.pop("payload"))
)
_m("manifest_wrong_type", "payload.data is a string", _both("parse:CPK_MANIFEST_INVALID"))(
    lambda c, b: _with_manifest(c.base(b), lambda d: d["payload"].__setitem__("data", "0"))
)
_m(
    "manifest_nonce_index_out_of_range", "enc.aes-gcm.nonce = 9", _both("host:CPK_MANIFEST_INVALID")
)(
    lambda c, b: _with_manifest(
        c.base(b), lambda d: d["payload"]["enc"]["aes-gcm"].__setitem__("nonce", 9)
    )
)
_m("manifest_duplicate_field", "cp-id twice", _both("parse:CPK_MANIFEST_INVALID"))(
    lambda c, b: _with_stream(
        c.base(b), 6, split_streams(c.base(b))[6].replace(b'{"cp-id":', b'{"cp-id":"x","cp-id":', 1)
    )
)
_m(
    "manifest_duplicate_map_index",
    "package.map [0,0]",
    {"as-published": "installed", "fixed": "parse:CPK_MANIFEST_INVALID"},
)(lambda c, b: _with_manifest(c.base(b), lambda d: d["package"].__setitem__("map", [0, 0])))
_m("manifest_enc_none", "payload.enc = none", _both("host:CPK_UNSUPPORTED_SCHEME"))(
    lambda c, b: _with_manifest(c.base(b), lambda d: d["payload"].__setitem__("enc", "none"))
)
_m(
    "manifest_key_strength_128",
    "aes-gcm key_strength 128",
    _both("cpm:InitializeDecryptionAesGcm:-1"),
)(
    lambda c, b: _with_manifest(
        c.base(b), lambda d: d["payload"]["enc"]["aes-gcm"].__setitem__("key_strength", 128)
    )
)
_m(
    "manifest_cp_id_substituted",
    "cp-id names another application (metadata substitution)",
    {"as-published": "installed", "fixed": "cpm:BeginApplicationDeployment:-6"},
)(lambda c, b: _with_manifest(c.base(b), lambda d: d.__setitem__("cp-id", "another-app")))
_m(
    "manifest_version_substituted",
    "ver 9.0.0 on the same ciphertext",
    {"as-published": "installed", "fixed": f"{END}:-2"},
)(lambda c, b: _with_manifest(c.base(b), lambda d: d["payload"]["ver"].__setitem__("maj", 9)))
_m("ciphertext_bitflip", "one ciphertext bit", _both(f"{END}:-2"))(
    lambda c, b: _with_stream(c.base(b), 0, _flip(split_streams(c.base(b))[0]))
)
_m("nonce_bitflip", "one nonce bit", _both(f"{END}:-2"))(
    lambda c, b: _with_stream(c.base(b), 1, _flip(split_streams(c.base(b))[1]))
)
_m("tag_bitflip", "one tag bit", _both(f"{END}:-2"))(
    lambda c, b: _with_stream(c.base(b), 2, _flip(split_streams(c.base(b))[2]))
)
_m("nonce_11_bytes", "nonce stream of 11 bytes", _both("cpm:InitializeDecryptionAesGcm:-2"))(
    lambda c, b: _with_stream(c.base(b), 1, split_streams(c.base(b))[1][:11])
)
_m("tag_15_bytes", "tag stream of 15 bytes", _both("cpm:InitializeDecryptionAesGcm:-3"))(
    lambda c, b: _with_stream(c.base(b), 2, split_streams(c.base(b))[2][:15])
)
_m("digest_bitflip", "one digest bit", {"as-published": "installed", "fixed": f"{END}:-7"})(
    lambda c, b: _with_stream(c.base(b), 3, _flip(split_streams(c.base(b))[3]))
)
_m("signature_bitflip", "one signature bit", {"as-published": "installed", "fixed": f"{END}:-7"})(
    lambda c, b: _with_stream(c.base(b), 4, _flip(split_streams(c.base(b))[4], 100))
)
_m("certificate_not_pem", "certificate stream is not PEM", _both("host:CPK_BAD_SIGNATURE"))(
    lambda c, b: _with_stream(c.base(b), 5, b"not a certificate")
)


def _attacker_resigned(c: MutationContext, b: str) -> bytes:
    s = split_streams(c.base(b))
    s[4] = (
        crypto.sign_digest(c.attacker, s[3])
        if b != "fixed"
        else crypto.sign_digest(c.attacker, crypto.sha256(s[3]))
    )
    s[5] = c.attacker_cert.public_bytes(serialization.Encoding.PEM)
    return assemble(s)


_m(
    "attacker_resigned",
    "vendor payload, signature and certificate replaced by the attacker's",
    {"as-published": "installed", "fixed": f"{END}:-7"},
)(_attacker_resigned)
_m(
    "attacker_built_package",
    "attacker's own payload, encrypted with the class key, signed by the attacker",
    {"as-published": "installed", "fixed": f"{END}:-7"},
)(
    lambda c, b: c.build(
        "fixed" if b == "fixed" else "as-published",
        payload=b"attacker TA " * 50,
        signer="attacker",
        label="attacker",
    )
)


def _splice(c: MutationContext, b: str) -> bytes:
    binding: Binding = "fixed" if b == "fixed" else "as-published"
    other = split_streams(c.build(binding, payload=c.other_payload, label="other"))
    s = split_streams(c.base(b))
    s[0], s[1], s[2] = other[0], other[1], other[2]
    return assemble(s)


_m(
    "ciphertext_spliced_from_other_package",
    "ciphertext, nonce and tag of another package of the same application",
    {"as-published": "installed", "fixed": f"{END}:-7"},
)(_splice)


def run_cpk(context: MutationContext, behaviour: str, cpk: bytes, cpm: C.Cpm | None = None) -> str:
    """The outcome of installing ``cpk`` on a (fresh, keyed) CPM of ``behaviour``."""
    cpm = cpm or context.cpm(behaviour)
    if not cpm.initialized:
        cpm.handle(C.Ping())
        pub = cpm.device_public_key
        assert pub is not None
        wrapped = base64.b64encode(
            crypto.pkcs1v15_encrypt(pub, context.class_key, context.rng.fork("wrap"))
        ).decode()
        sync_keys(cpm, {APP: wrapped})
    try:
        reader = CpkReader(io.BytesIO(cpk), strict=behaviour == "fixed")
    except EdbpError as exc:
        return f"parse:{exc.code.name}"
    try:
        install_package(cpm, reader)
    except BlueprintError as exc:
        if exc.code is Code.CPM_ERROR:
            call, _, rc = exc.detail.partition(" returned ")
            return f"cpm:{call}:{rc}"
        return f"host:{exc.code.name}"
    except EdbpError as exc:
        return f"host:{exc.code.name}"
    return "installed"


# ----------------------------------------------------------------------------- wrapped keys


@attrs.frozen
class WrappedKeyMutation:
    name: str
    description: str
    apply: Callable[[rsa.RSAPublicKey, bytes, RandomSource], bytes]
    expect: dict[str, tuple[int, tuple[str, ...]]]


def _k(pub: rsa.RSAPublicKey) -> int:
    return (pub.key_size + 7) // 8


def _ps(rng: RandomSource, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        out.extend(b for b in rng.random_bytes(n - len(out)) if b)
    return bytes(out)


def _em(
    pub: rsa.RSAPublicKey,
    msg: bytes,
    rng: RandomSource,
    *,
    lead: bytes = b"\x00\x02",
    ps_len: int | None = None,
    sep: bool = True,
) -> bytes:
    k = _k(pub)
    n_ps = (k - len(lead) - len(msg) - (1 if sep else 0)) if ps_len is None else ps_len
    body = lead + _ps(rng, n_ps) + (b"\x00" if sep else b"") + msg
    if ps_len is not None:  # pad the message side so the block stays k bytes
        body = lead + _ps(rng, n_ps) + b"\x00" + _ps(rng, k - len(lead) - n_ps - 1 - len(msg)) + msg
    return crypto.raw_rsa_encrypt(pub, body[:k])


WRAPPED_KEY_MUTATIONS: dict[str, WrappedKeyMutation] = {}
_KeyFn = Callable[[rsa.RSAPublicKey, bytes, RandomSource], bytes]
_INSTALL = "ecall_install_application_key({n})"
_FIXED_REJECT = (-1, ("application key rejected",))


def _w(
    name: str,
    description: str,
    published: tuple[int, tuple[str, ...]],
    fixed: tuple[int, tuple[str, ...]] = _FIXED_REJECT,
) -> Callable[[_KeyFn], _KeyFn]:
    def deco(
        fn: Callable[[rsa.RSAPublicKey, bytes, RandomSource], bytes],
    ) -> Callable[[rsa.RSAPublicKey, bytes, RandomSource], bytes]:
        WRAPPED_KEY_MUTATIONS[name] = WrappedKeyMutation(
            name, description, fn, {"as-published": published, "fixed": fixed}
        )
        return fn

    return deco


_PAD = "Application key unwrap error (ffffbf00)"
_MIS0 = "Application key size mismatch (0)"
_w(
    "valid",
    "PKCS#1 v1.5 block with the 32-byte class key",
    (0, (_INSTALL,)),
    (0, ("application key installed",)),
)(lambda pub, ck, rng: crypto.pkcs1v15_encrypt(pub, ck, rng))


@functools.cache
def _other_rsa_key() -> rsa.RSAPublicKey:
    return rsa.generate_private_key(65537, 2048).public_key()


def _wrong_key(pub: rsa.RSAPublicKey, ck: bytes, rng: RandomSource) -> bytes:
    """The class key wrapped to another RSA-2048 key, redrawn until the ciphertext is below the
    device's modulus (otherwise the device reports "input too large", another class). Under
    the device key it decrypts to a pseudo-random block, conformant with probability about
    2^-16 * 0.97 (the vector generator pins the bytes it draws)."""
    n = pub.public_numbers().n
    while True:
        c = crypto.pkcs1v15_encrypt(_other_rsa_key(), ck, rng)
        if int.from_bytes(c, "big") < n:
            return c


_w("wrong_key", "wrapped to another RSA key", (-1, (_INSTALL, _PAD, _MIS0)))(_wrong_key)
_w("block_type_1", "00 01 (signature block type)", (-1, (_INSTALL, _PAD, _MIS0)))(
    lambda pub, ck, rng: _em(pub, ck, rng, lead=b"\x00\x01")
)
_w("leading_byte_nonzero", "01 02 ...", (-1, (_INSTALL, _PAD, _MIS0)))(
    lambda pub, ck, rng: _em(pub, ck, rng, lead=b"\x01\x02")
)
_w(
    "padding_string_too_short",
    "zero separator after 4 padding bytes",
    (-1, (_INSTALL, _PAD, _MIS0)),
)(lambda pub, ck, rng: _em(pub, ck, rng, ps_len=4))
_w("no_separator", "no zero byte after the padding string", (-1, (_INSTALL, _PAD, _MIS0)))(
    lambda pub, ck, rng: _em(pub, _ps(rng, 32), rng, sep=False)
)
_w(
    "key_16_bytes",
    "conformant block carrying 16 bytes",
    (-1, (_INSTALL, "Application key size mismatch (16)")),
)(lambda pub, ck, rng: crypto.pkcs1v15_encrypt(pub, ck[:16], rng))
_w(
    "key_33_bytes",
    "conformant block carrying 33 bytes",
    (-1, (_INSTALL, "Loaded application key", "Application key size mismatch (33)")),
)(lambda pub, ck, rng: crypto.pkcs1v15_encrypt(pub, ck + b"\x00", rng))
_w(
    "key_48_bytes",
    "conformant block too large for the 33-byte slot",
    (-1, (_INSTALL, "Application key unwrap error (ffffbc00)", _MIS0)),
)(lambda pub, ck, rng: crypto.pkcs1v15_encrypt(pub, ck + ck[:16], rng))
_w("empty_message", "conformant block carrying nothing", (-1, (_INSTALL, _MIS0)))(
    lambda pub, ck, rng: crypto.pkcs1v15_encrypt(pub, b"", rng)
)
_w(
    "ciphertext_short",
    "255-byte ciphertext",
    (-1, ("ecall_install_application_key(255)", "Application key unwrap error (ffffbf80)", _MIS0)),
)(lambda pub, ck, rng: crypto.pkcs1v15_encrypt(pub, ck, rng)[1:])
_w(
    "ciphertext_not_below_modulus",
    "ciphertext = n",
    (-1, (_INSTALL, "Application key unwrap error (ffffbcfc)", _MIS0)),
)(lambda pub, ck, rng: pub.public_numbers().n.to_bytes(_k(pub), "big"))


def run_wrapped_key(
    cpm: C.Cpm, wrapped: bytes, application_id: str = APP
) -> tuple[int, tuple[str, ...]]:
    """Install ``wrapped`` on an initialised CPM; return (rc, the REE log lines it produced)."""
    before = len(cpm.log_lines)
    rc = cpm.handle(C.InstallApplicationKey(application_id, wrapped)).rc
    return rc, tuple(cpm.log_lines[before:])


def expected_lines(
    expect: tuple[int, tuple[str, ...]], wrapped: bytes
) -> tuple[int, tuple[str, ...]]:
    """Fill the ciphertext length into the expectation's first log line."""
    rc, lines = expect
    return rc, tuple(line.format(n=len(wrapped)) for line in lines)
