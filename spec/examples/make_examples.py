"""Regenerate the example instances of spec/messages.cddl and spec/adapter.cddl.

Run ``python spec/examples/make_examples.py`` from the project root; it rewrites
``spec/examples/<name>.diag`` (CBOR diagnostic notation, RFC 8949 section 8, with ``<< >>`` for
embedded CBOR) and ``spec/examples/<name>.cbor.hex`` (the bytes, in core deterministic
encoding, RFC 8949 section 4.2.1). The first line of each ``.diag`` names the CDDL file and rule
the instance belongs to; ``tests/spec`` validates every example against that rule.

Why a script of its own, with cryptography and cbor2 only: the examples are part of the spec,
so they must be real (signatures verify, wrapped keys unwrap, the payload decrypts) and must
regenerate byte for byte, yet must not depend on the reference implementation they are meant
to check. Every "random" value is derived from a label with SHA-256; ECDSA signatures use
RFC 6979 deterministic nonces.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

HERE = Path(__file__).resolve().parent
SEED = b"edbp spec examples v1"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class Emb:
    """A byte string holding the encoding of ``value`` (CDDL ``bstr .cbor``; EDN ``<< >>``)."""

    def __init__(self, value: Any) -> None:
        self.value = value


class Named(dict):  # type: ignore[type-arg]
    """A map whose keys the diagnostic notation annotates with ``/ name /`` comments."""

    def __init__(self, names: dict[Any, str], items: dict[Any, Any]) -> None:
        super().__init__(items)
        self.names = names


class Commands(list):  # type: ignore[type-arg]
    """A SUIT command sequence: rendered one (command, argument) pair per line, named."""


# Names for the comments of the diagnostic notation (labels of the drafts and of messages.cddl).
TEEP_OPTIONS = {
    1: "supported-teep-cipher-suites",
    2: "challenge",
    3: "versions",
    4: "supported-suit-cose-profiles",
    6: "selected-version",
    7: "attestation-payload",
    10: "manifest-list",
    11: "msg",
    12: "err-msg",
    13: "attestation-payload-format",
    15: "unneeded-manifest-list",
    19: "suit-reports",
    20: "token",
    21: "supported-freshness-mechanisms",
    258: "edbp-agent-nonce",
}
COSE_HEADERS = {1: "alg", 4: "kid", 5: "IV", -1: "ephemeral key"}
COSE_KEY = {1: "kty", -1: "crv", -2: "x", -3: "y"}
ENVELOPE = {2: "authentication-wrapper", 3: "manifest"}
MANIFEST = {
    1: "manifest-version",
    2: "manifest-sequence-number",
    3: "common",
    5: "manifest-component-id",
    7: "validate",
    16: "payload-fetch",
    20: "install",
}
COMMON = {1: "dependencies", 2: "components", 4: "shared-sequence"}
PARAMETERS = {
    1: "vendor-identifier",
    2: "class-identifier",
    3: "image-digest",
    14: "image-size",
    19: "encryption-info",
    21: "uri",
    22: "source-component",
}
COMMANDS = {
    1: "condition-vendor-identifier",
    2: "condition-class-identifier",
    3: "condition-image-match",
    7: "condition-dependency-integrity",
    11: "directive-process-dependency",
    12: "directive-set-component-index",
    19: "directive-set-parameters",
    20: "directive-override-parameters",
    21: "directive-fetch",
    22: "directive-copy",
}
EAT = {
    6: "iat",
    8: "cnf",
    10: "eat_nonce",
    256: "ueid",
    258: "oemid",
    259: "hwmodel",
    265: "eat_profile",
    272: "manifests",
}
REPORT = {
    2: "suit-report-nonce",
    3: "suit-report-records",
    4: "suit-report-result",
    5: "result-code",
    6: "result-record",
    7: "result-reason",
    99: "suit-reference",
}
ENDORSEMENT = {
    1: "ueid",
    2: "class-identifier",
    3: "vendor-identifier",
    4: "DAK",
    5: "DSK",
    6: "issued-at",
}
ENROLMENT = {
    1: "ueid",
    2: "class-identifier",
    3: "vendor-identifier",
    4: "kid(DAK)",
    5: "kid(DSK)",
    6: "endorsement",
    7: "status",
    8: "registered-at",
    9: "revoked-at",
}
BINDING = {
    1: "ueid",
    2: "component-id",
    3: "sequence-number",
    4: "image-digest",
    5: "author-manifest-digest",
    6: "device-manifest-digest",
    7: "kid(DAK)",
    8: "challenge",
    9: "token",
}
PACKAGE = {
    1: "component-id",
    2: "sequence-number",
    3: "class-identifier",
    4: "author-envelope",
    5: "ciphertext-uri",
    6: "ciphertext-digest",
    7: "ciphertext-size",
}
RECEIPT = {
    1: "ueid",
    2: "component-id",
    3: "sequence-number",
    4: "device-manifest-digest",
    5: "signed-report",
    6: "code",
    7: "recorded-at",
}
AUDIT = {1: "index", 2: "previous-hash", 3: "time", 4: "event", 5: "ueid", 6: "record", 7: "code"}
TA_META = {
    1: "img_type",
    2: "uuid",
    3: "ta_version",
    4: "img_size",
    5: "algo",
    6: "hash",
    7: "key-bits",
    8: "enc_algo",
    9: "enc-flags",
}


# ------------------------------------------------------------------------- encoding and EDN


def _normal(obj: Any) -> Any:
    """Replace Emb by bytes and order every map by its keys' encoded bytes (RFC 8949 4.2.1)."""
    if isinstance(obj, Emb):
        return encode(obj.value)
    if isinstance(obj, cbor2.CBORTag):
        return cbor2.CBORTag(obj.tag, _normal(obj.value))
    if isinstance(obj, list):
        return [_normal(x) for x in obj]
    if isinstance(obj, dict):
        items = [(_normal(k), _normal(v)) for k, v in obj.items()]
        items.sort(key=lambda kv: cbor2.dumps(kv[0]))
        return dict(items)
    return obj


def encode(obj: Any) -> bytes:
    """Core deterministic encoding: cbor2 emits shortest heads; maps are pre-sorted above."""
    return cbor2.dumps(_normal(obj))


def _edn_text(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _edn_bytes(b: bytes) -> str:
    if b and all(32 <= c < 127 and c not in (39, 92) for c in b) and len(b) <= 40:
        return "'" + b.decode("ascii") + "'"
    return "h'" + b.hex() + "'"


def edn(obj: Any, level: int = 0) -> str:
    """Diagnostic notation, two-space indentation, maps in encoded order."""
    pad = "  " * (level + 1)
    end = "  " * level
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if obj is None:
        return "null"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, str):
        return _edn_text(obj)
    if isinstance(obj, bytes):
        return _edn_bytes(obj)
    if isinstance(obj, Emb):
        return "<< " + edn(obj.value, level) + " >>"
    if isinstance(obj, cbor2.CBORTag):
        return f"{obj.tag}(" + edn(obj.value, level) + ")"
    if isinstance(obj, Commands):
        lines = []
        for code, arg in zip(obj[::2], obj[1::2], strict=True):
            lines.append(pad + f"{code} / {COMMANDS.get(code, '?')} /, " + edn(arg, level + 1))
        return "[\n" + ",\n".join(lines) + "\n" + end + "]"
    if isinstance(obj, list):
        if not obj:
            return "[]"
        if (
            all(isinstance(x, int | bytes | str) and not isinstance(x, bool) for x in obj)
            and len(obj) <= 6
        ):
            return "[" + ", ".join(edn(x, level) for x in obj) + "]"
        return "[\n" + ",\n".join(pad + edn(x, level + 1) for x in obj) + "\n" + end + "]"
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        names = getattr(obj, "names", {})
        items = sorted(obj.items(), key=lambda kv: encode(kv[0]))
        return (
            "{\n"
            + ",\n".join(
                pad
                + edn(k, level + 1)
                + (f" / {names[k]} /" if k in names else "")
                + ": "
                + edn(v, level + 1)
                for k, v in items
            )
            + "\n"
            + end
            + "}"
        )
    raise TypeError(type(obj))


# ------------------------------------------------------------------------- keys and crypto


def rnd(label: str, n: int) -> bytes:
    """Reproducible 'random' bytes for ``label``."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(SEED + b"|" + label.encode() + b"|" + bytes([counter])).digest()
        counter += 1
    return out[:n]


def p256(label: str) -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(rnd("key:" + label, 32), "big") % (P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def cose_key(priv: ec.EllipticCurvePrivateKey) -> dict[int, Any]:
    nums = priv.public_key().public_numbers()
    x, y = nums.x.to_bytes(32, "big"), nums.y.to_bytes(32, "big")
    return Named(COSE_KEY, {1: 2, -1: 1, -2: x, -3: y})


def thumbprint(key: dict[int, Any]) -> bytes:
    """RFC 9679: SHA-256 over the deterministic encoding of the required parameters."""
    required = {k: key[k] for k in (1, -1, -2, -3) if k in key}
    return hashlib.sha256(encode(required)).digest()


def sign_es(priv: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    der = priv.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign1(
    priv: ec.EllipticCurvePrivateKey, payload: Any, kid: bytes | None = None
) -> cbor2.CBORTag:
    """COSE_Sign1_Tagged, ESP256, attached payload (``payload`` is encoded as bstr .cbor)."""
    protected = Named(COSE_HEADERS, {1: -9})
    unprotected = Named(COSE_HEADERS, {} if kid is None else {4: kid})
    to_be_signed = encode(["Signature1", Emb(protected), b"", Emb(payload)])
    return cbor2.CBORTag(
        18, [Emb(protected), unprotected, Emb(payload), sign_es(priv, to_be_signed)]
    )


def sign1_detached(priv: ec.EllipticCurvePrivateKey, detached: bytes, kid: bytes) -> cbor2.CBORTag:
    protected = Named(COSE_HEADERS, {1: -9})
    to_be_signed = encode(["Signature1", Emb(protected), b"", detached])
    unprotected = Named(COSE_HEADERS, {4: kid})
    return cbor2.CBORTag(18, [Emb(protected), unprotected, None, sign_es(priv, to_be_signed)])


def P(items: dict[int, Any]) -> Named:
    """SUIT parameters, named."""
    return Named(PARAMETERS, items)


def digest(data: bytes) -> list[Any]:
    return [-16, hashlib.sha256(data).digest()]


def manifest_digest(manifest: dict[int, Any]) -> list[Any]:
    """SUIT_Digest of a manifest: over the bstr-wrapped manifest, as the authentication wrapper
    and condition-dependency-integrity compute it (draft-ietf-suit-manifest)."""
    return digest(cbor2.dumps(encode(manifest)))


# ------------------------------------------------------------------------- the world

TA_UUID = uuid.UUID("8aaaf200-2450-11e4-abe2-0002a5d5c51b").bytes
VENDOR = uuid.uuid5(uuid.NAMESPACE_DNS, "vendor.example")
VENDOR_ID = VENDOR.bytes
CLASS_ID = uuid.uuid5(VENDOR, "ls1028a-gateway").bytes
UEID = b"\x01" + rnd("ueid", 16)
CK_KID = b"app.example/ls1028a#1"
REGISTRY_URI = "oci://registry.example/edbp/hello-ta@sha256:"
SEQ = 3
TA_VERSION = 3

ASK, TSK, DSK, DAK, MRK, TK = (p256(n) for n in ("ASK", "TSK", "DSK", "DAK", "MRK", "TK"))
CK = rnd("class key", 32)
CEK = rnd("cek", 16)
IV = rnd("iv", 12)
CHALLENGE = rnd("challenge", 32)
TOKEN = rnd("token", 16)
AGENT_NONCE = rnd("agent nonce", 16)
NOW = 1_795_000_000
PLAINTEXT = b"edbp example payload: stands in for an OP-TEE TA image (shdr + ELF)"

TA_COMPONENT = [b"TEEP-Device", b"SecureFS", TA_UUID]
STAGING_COMPONENT = [b"edbp", b"ciphertext", TA_UUID]
ASK_KID = thumbprint(cose_key(ASK))
TSK_KID = thumbprint(cose_key(TSK))
DSK_KID = thumbprint(cose_key(DSK))
DAK_KID = thumbprint(cose_key(DAK))


def content_layer() -> tuple[dict[int, Any], bytes]:
    """The payload's COSE_Encrypt content layer: A128GCM, detached ciphertext."""
    protected = Named(COSE_HEADERS, {1: 1})
    aad = encode(["Encrypt", Emb(protected), b""])
    return protected, AESGCM(CEK).encrypt(IV, PLAINTEXT, aad)


CONTENT_PROTECTED, CIPHERTEXT = content_layer()
CIPHERTEXT_URI = REGISTRY_URI + hashlib.sha256(CIPHERTEXT).hexdigest()


def encryption_info_class() -> cbor2.CBORTag:
    recipient = [b"", Named(COSE_HEADERS, {1: -5, 4: CK_KID}), aes_key_wrap(CK, CEK)]
    unprotected = Named(COSE_HEADERS, {5: IV})
    return cbor2.CBORTag(96, [Emb(CONTENT_PROTECTED), unprotected, None, [recipient]])


def kdf_context() -> list[Any]:
    return [
        -3,
        [None, None, None],
        [None, None, None],
        [128, Emb(Named(COSE_HEADERS, {1: -29})), b"SUIT Payload Encryption"],
    ]


def encryption_info_device() -> cbor2.CBORTag:
    shared = TK.exchange(ec.ECDH(), DAK.public_key())
    kek = HKDF(hashes.SHA256(), 16, salt=None, info=encode(kdf_context())).derive(shared)
    wrapped = aes_key_wrap(kek, CEK)
    recipient = [
        Emb(Named(COSE_HEADERS, {1: -29})),
        Named(COSE_HEADERS, {-1: cose_key(TK), 4: DAK_KID}),
        wrapped,
    ]
    unprotected = Named(COSE_HEADERS, {5: IV})
    return cbor2.CBORTag(96, [Emb(CONTENT_PROTECTED), unprotected, None, [recipient]])


def author_manifest() -> dict[int, Any]:
    """Layer 1, the layout of spec/protocol.md section 7 (and of reference/build/author.py)."""
    # fmt: off
    shared = Commands([
        12, 0,
        20, P({1: VENDOR_ID, 2: CLASS_ID, 3: Emb(digest(PLAINTEXT)), 14: len(PLAINTEXT)}),
        1, 15,
        2, 15,
        12, 1,
        20, P({3: Emb(digest(CIPHERTEXT)), 14: len(CIPHERTEXT)}),
    ])
    payload_fetch = Commands([
        12, 1,
        20, P({21: CIPHERTEXT_URI}),
        21, 2,
        3, 15,
    ])
    install = Commands([
        12, 0,
        19, P({19: Emb(encryption_info_class())}),
        20, P({22: 1}),
        22, 15,
        3, 15,
    ])
    validate = Commands([12, 0, 3, 15])
    # fmt: on
    return Named(
        MANIFEST,
        {
            1: 1,
            2: SEQ,
            3: Emb(Named(COMMON, {2: [TA_COMPONENT, STAGING_COMPONENT], 4: Emb(shared)})),
            5: [b"edbp", b"author", TA_UUID],
            7: Emb(validate),
            16: Emb(payload_fetch),
            20: Emb(install),
        },
    )


def envelope(
    manifest: dict[int, Any],
    priv: ec.EllipticCurvePrivateKey,
    kid: bytes,
    extra: dict[str, Any] | None = None,
) -> cbor2.CBORTag:
    suit_digest = encode(manifest_digest(manifest))
    signature = Emb(sign1_detached(priv, suit_digest, kid))
    body: dict[Any, Any] = Named(
        ENVELOPE, {2: Emb([Emb(manifest_digest(manifest)), signature]), 3: Emb(manifest)}
    )
    body.update(extra or {})
    return cbor2.CBORTag(107, body)


def author_envelope() -> cbor2.CBORTag:
    return envelope(author_manifest(), ASK, ASK_KID)


def device_manifest() -> dict[int, Any]:
    """Layer 2, the layout of spec/protocol.md section 7 (and of reference/cloud/delivery.py)."""
    # fmt: off
    shared = Commands([
        12, 0,
        20, P({1: VENDOR_ID, 2: CLASS_ID, 3: Emb(digest(PLAINTEXT)), 14: len(PLAINTEXT)}),
        1, 15,
        2, 15,
    ])
    install = Commands([
        12, 0,
        20, P({19: Emb(encryption_info_device())}),
        12, 2,
        20, P({3: Emb(manifest_digest(author_manifest())), 21: "#author"}),
        7, 15,
        11, 15,
    ])
    # fmt: on
    return Named(
        MANIFEST,
        {
            1: 1,
            2: SEQ,
            3: Emb(
                Named(COMMON, {1: {2: {}}, 2: [TA_COMPONENT, STAGING_COMPONENT], 4: Emb(shared)})
            ),
            5: [b"edbp", b"device", TA_UUID, UEID],
            20: Emb(install),
        },
    )


def device_envelope() -> cbor2.CBORTag:
    return envelope(device_manifest(), TSK, TSK_KID, {"#author": Emb(author_envelope())})


def eat_claims() -> dict[int, Any]:
    installed = [TA_COMPONENT, SEQ - 1, digest(b"previous device manifest"), TA_VERSION - 1]
    return Named(
        EAT,
        {
            10: CHALLENGE,
            256: UEID,
            258: VENDOR_ID,
            259: CLASS_ID,
            8: {1: cose_key(DAK)},
            265: "tag:edbp.dev,2026:eat-profile:1",
            272: [[60, Emb(installed)]],
            6: NOW,
        },
    )


def suit_report(ok: bool) -> dict[int, Any]:
    record = [[0], 20, 4, 0, {3: Emb(digest(PLAINTEXT)), 14: len(PLAINTEXT)}]
    result: Any = True if ok else Named(REPORT, {5: 603, 6: record, 7: 10})
    return Named(
        REPORT, {99: ["", manifest_digest(device_manifest())], 2: CHALLENGE, 3: [record], 4: result}
    )


def query_request() -> list[Any]:
    return [
        1,
        Named(TEEP_OPTIONS, {20: TOKEN, 21: [0], 2: CHALLENGE, 3: [0]}),
        [[[18, -9]], [[18, -19]]],
        [[-16, -9, -29, 1]],
        1,
    ]


def query_response() -> list[Any]:
    return [
        2,
        Named(
            TEEP_OPTIONS,
            {
                20: TOKEN,
                6: 0,
                13: "application/eat+cwt",
                7: Emb(sign1(DSK, eat_claims(), DSK_KID)),
                258: AGENT_NONCE,
            },
        ),
    ]


def update() -> list[Any]:
    # TEEP's manifest-list carries untagged SUIT_Envelopes
    # edbp-agent-nonce (258) echoes the QueryResponse's (protocol.md 8.3.1)
    return [
        3,
        Named(TEEP_OPTIONS, {20: TOKEN, 10: [Emb(device_envelope().value)], 258: AGENT_NONCE}),
    ]


def success() -> list[Any]:
    return [5, Named(TEEP_OPTIONS, {20: TOKEN, 19: [Emb(sign1(DSK, suit_report(True), DSK_KID))]})]


def error() -> list[Any]:
    return [
        6,
        Named(
            TEEP_OPTIONS,
            {
                20: TOKEN,
                12: "edbp:603 AGENT_ROLLBACK",
                19: [Emb(sign1(DSK, suit_report(False), DSK_KID))],
            },
        ),
        17,
    ]


def endorsement_body() -> dict[int, Any]:
    return Named(
        ENDORSEMENT,
        {1: UEID, 2: CLASS_ID, 3: VENDOR_ID, 4: cose_key(DAK), 5: cose_key(DSK), 6: NOW - 86400},
    )


def endorsement() -> cbor2.CBORTag:
    return sign1(MRK, endorsement_body(), thumbprint(cose_key(MRK)))


def delivery_binding() -> dict[int, Any]:
    return Named(
        BINDING,
        {
            1: UEID,
            2: TA_COMPONENT,
            3: SEQ,
            4: digest(PLAINTEXT),
            5: manifest_digest(author_manifest()),
            6: manifest_digest(device_manifest()),
            7: DAK_KID,
            8: CHALLENGE,
            9: TOKEN,
        },
    )


def install_receipt() -> dict[int, Any]:
    return Named(
        RECEIPT,
        {
            1: UEID,
            2: TA_COMPONENT,
            3: SEQ,
            4: manifest_digest(device_manifest()),
            5: Emb(sign1(DSK, suit_report(True), DSK_KID)),
            6: 0,
            7: NOW + 5,
        },
    )


def ta_image_metadata() -> dict[int, Any]:
    return Named(
        TA_META,
        {
            1: 2,
            2: TA_UUID,
            3: TA_VERSION,
            4: len(PLAINTEXT),
            5: 0x70414930,
            6: hashlib.sha256(b"shdr-hash-input").digest(),
            7: 3072,
            8: 0x40000810,
            9: 1,
        },
    )


# ------------------------------------------------------------------------- adapter frames


_SMALL_PRIMES = tuple(
    n for n in range(3, 2000, 2) if all(n % d for d in range(3, int(n**0.5) + 1, 2))
)


def _probable_prime(n: int) -> bool:
    """Trial division, then Miller-Rabin with the first 20 primes as fixed bases."""
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for b in (2, *_SMALL_PRIMES[:19]):
        x = pow(b, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


@functools.cache
def rsa_key(label: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """A reproducible RSA key for ``label``: primes searched upward from derived seeds."""
    primes = []
    for part in ("p", "q"):
        cand = int.from_bytes(rnd(f"rsa:{label}:{part}", bits // 16), "big")
        cand |= (3 << (bits // 2 - 2)) | 1  # top two bits set: the modulus has ``bits`` bits
        while not (_probable_prime(cand) and (cand - 1) % 65537 != 0):
            cand += 2
        primes.append(cand)
    p, q = primes
    d = pow(65537, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(65537, p * q),
    )
    return numbers.private_key()


def rsa_public_der(key: rsa.RSAPrivateKey, spki: bool = False) -> bytes:
    fmt = (
        serialization.PublicFormat.SubjectPublicKeyInfo
        if spki
        else serialization.PublicFormat.PKCS1
    )
    return key.public_key().public_bytes(serialization.Encoding.DER, fmt)


@functools.cache
def adapter_frames() -> dict[str, Any]:
    signed_qr = encode(sign1(TSK, query_request(), TSK_KID))
    signed_resp = encode(sign1(DSK, query_response(), DSK_KID))
    return {
        "adapter-hello-request": {
            "id": 1,
            "req": "hello",
            "args": {"version": 1, "harness": "edbp"},
        },
        "adapter-hello-reply": {
            "id": 1,
            "ok": True,
            "result": {
                "version": 1,
                "name": "edbp reference device",
                "profiles": ["edbp"],
                "suites": [
                    "suit-sha256-esp256-ecdh-a128gcm",
                    "suit-sha256-esp256-ecdh-a128ctr",
                    "suit-sha256-ed25519-ecdh-a128gcm",
                    "suit-sha256-ed25519-ecdh-a128ctr",
                    "teep-sign1-esp256",
                    "teep-sign1-ed25519",
                ],
                "capabilities": ["power-cut", "clock", "test-keys", "ta-check"],
                "limits": {"max_message": 65536, "max_payload": 16777216},
            },
        },
        "adapter-deliver-request": {"id": 7, "req": "deliver", "args": {"message": signed_qr}},
        "adapter-deliver-reply": {"id": 7, "ok": True, "result": {"replies": [signed_resp]}},
        "adapter-fetch-ask": {
            "id": 1000000001,
            "ask": "fetch",
            "args": {"uri": CIPHERTEXT_URI},
        },
        "adapter-fetch-reply": {"id": 1000000001, "ok": True, "result": {"payload": CIPHERTEXT}},
        "adapter-state-reply": {
            "id": 9,
            "ok": True,
            "result": {
                "agent_state": "IDLE",
                "components": [
                    {
                        "component": TA_COMPONENT,
                        "sequence": SEQ,
                        "ta_version": TA_VERSION,
                        "digest": digest(PLAINTEXT),
                    }
                ],
                "floors": [{"component": TA_COMPONENT, "sequence": SEQ, "ta_version": TA_VERSION}],
            },
        },
        "adapter-error-reply": {
            "id": 10,
            "ok": False,
            "code": 806,
            "msg": "capability power-cut missing",
        },
        "adapter-cpm-request": {
            "id": 11,
            "req": "cpm",
            "args": {
                "call": "initialize_decryption_aes_gcm",
                "args": {
                    "application_id": "hello-ta",
                    "key_strength": 256,
                    "iv": rnd("cpk iv", 12),
                    "tag": rnd("cpk tag", 16),
                },
            },
        },
        "adapter-identity-reply": {
            "id": 3,
            "ok": True,
            "result": {
                "ueid": UEID,
                "class_id": CLASS_ID,
                "vendor_id": VENDOR_ID,
                "dak": encode(cose_key(DAK)),
                "dsk": encode(cose_key(DSK)),
                "endorsement": encode(endorsement()),
            },
        },
        "adapter-provision-request": {
            "id": 4,
            "req": "provision",
            "args": {
                "tam_keys": [encode(cose_key(TSK))],
                "author_keys": [encode(cose_key(ASK))],
            },
        },
        # a device that declared "ta-check": OP-TEE's TA-image checks against this TA key
        "adapter-provision-request-ta-check": {
            "id": 4,
            "req": "provision",
            "args": {
                "tam_keys": [encode(cose_key(TSK))],
                "author_keys": [encode(cose_key(ASK))],
                "ta_keys": [rsa_public_der(rsa_key("ta signing key"), spki=True)],
            },
        },
        # a device that declared "agent-nonces": the Agent nonces of its next QueryRequests
        "adapter-provision-request-agent-nonces": {
            "id": 4,
            "req": "provision",
            "args": {
                "tam_keys": [encode(cose_key(TSK))],
                "author_keys": [encode(cose_key(ASK))],
                "agent_nonces": [AGENT_NONCE, rnd("agent nonce 2", 16)],
            },
        },
        # a refusal is a successful adapter reply: the Agent's signed Error and its code
        "adapter-deliver-refused": {
            "id": 8,
            "ok": True,
            "result": {"replies": [encode(sign1(DSK, error(), DSK_KID))], "code": 603},
        },
        "adapter-identity-reply-blueprint": {
            "id": 3,
            "ok": True,
            "result": {
                "device_public_key": rsa_public_der(rsa_key("cpm device key")),
                "cpm_ta_uuid": uuid.UUID("d3c5bbbc-adad-11eb-bd25-4362002e2749").bytes,
            },
        },
        "adapter-provision-request-blueprint": {
            "id": 4,
            "req": "provision",
            "args": {
                "payload_keys": [rsa_public_der(rsa_key("package signer"), spki=True)],
                "ta_keys": [rsa_public_der(rsa_key("ta signing key"), spki=True)],
                "test_keys": {
                    "device_key": rsa_key("cpm device key").private_bytes(
                        serialization.Encoding.DER,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                },
                "ta_check": True,
            },
        },
        "adapter-hello-reply-blueprint": {
            "id": 1,
            "ok": True,
            "result": {
                "version": 1,
                "name": "edbp blueprint device (CPM fixed)",
                "profiles": ["blueprint"],
                "suites": ["cpk-fixed-aes256gcm-rsa2048"],
                "capabilities": ["cpm", "test-keys"],
                "limits": {"max_payload": 12582912},
            },
        },
        "adapter-cpm-begin-request": {
            "id": 12,
            "req": "cpm",
            "args": {
                "call": "begin_application_deployment",
                "args": {"application_id": "hello-ta", "total_size": 65536, "version": [1, 2, 0]},
            },
        },
        "adapter-cpm-reply": {
            "id": 13,
            "ok": True,
            "result": {
                "rc": -1,
                "log": [
                    "Application key unwrap error (ffffbf00)",
                    "Application key size mismatch (0)",
                ],
            },
        },
        "adapter-blueprint-state-reply": {
            "id": 14,
            "ok": True,
            "result": {
                "cpm_state": "IDLE",
                "tas": [
                    {
                        "uuid": TA_UUID,
                        "ta_version": TA_VERSION,
                        "digest": hashlib.sha256(PLAINTEXT).digest(),
                    }
                ],
                "floors": [{"application_id": "hello-ta", "version": [1, 2, 0]}],
            },
        },
    }


#: name -> (cddl file, rule, builder)
EXAMPLES: dict[str, tuple[str, str, Callable[[], Any]]] = {
    "teep-query-request": ("messages.cddl", "edbp-query-request", query_request),
    "teep-query-request-signed": (
        "messages.cddl",
        "edbp-teep-message-signed",
        lambda: sign1(TSK, query_request(), TSK_KID),
    ),
    "teep-query-response-signed": (
        "messages.cddl",
        "edbp-teep-message-signed",
        lambda: sign1(DSK, query_response(), DSK_KID),
    ),
    "teep-update-signed": (
        "messages.cddl",
        "edbp-teep-message-signed",
        lambda: sign1(TSK, update(), TSK_KID),
    ),
    "teep-success-signed": (
        "messages.cddl",
        "edbp-teep-message-signed",
        lambda: sign1(DSK, success(), DSK_KID),
    ),
    "teep-error-signed": (
        "messages.cddl",
        "edbp-teep-message-signed",
        lambda: sign1(DSK, error(), DSK_KID),
    ),
    "suit-envelope-author": ("messages.cddl", "edbp-suit-envelope-author", author_envelope),
    "suit-envelope-device": ("messages.cddl", "edbp-suit-envelope-device", device_envelope),
    "suit-encryption-info-class": (
        "messages.cddl",
        "edbp-encryption-info-class",
        encryption_info_class,
    ),
    "suit-encryption-info-device": (
        "messages.cddl",
        "edbp-encryption-info-device",
        encryption_info_device,
    ),
    "cose-kdf-context": ("messages.cddl", "edbp-kdf-context", kdf_context),
    "suit-report-signed": (
        "messages.cddl",
        "edbp-suit-report-signed",
        lambda: sign1(DSK, suit_report(True), DSK_KID),
    ),
    "eat-claims": ("messages.cddl", "edbp-eat-claims", eat_claims),
    "eat-signed": ("messages.cddl", "edbp-eat-signed", lambda: sign1(DSK, eat_claims(), DSK_KID)),
    "device-endorsement": ("messages.cddl", "edbp-device-endorsement", endorsement),
    "enrolment-record": (
        "messages.cddl",
        "edbp-enrolment-record",
        lambda: Named(
            ENROLMENT,
            {
                1: UEID,
                2: CLASS_ID,
                3: VENDOR_ID,
                4: DAK_KID,
                5: DSK_KID,
                6: Emb(endorsement()),
                7: "active",
                8: NOW - 3600,
            },
        ),
    ),
    "delivery-binding": ("messages.cddl", "edbp-delivery-binding", delivery_binding),
    "package-record": (
        "messages.cddl",
        "edbp-package-record",
        lambda: Named(
            PACKAGE,
            {
                1: TA_COMPONENT,
                2: SEQ,
                3: CLASS_ID,
                4: Emb(author_envelope()),
                5: CIPHERTEXT_URI,
                6: digest(CIPHERTEXT),
                7: len(CIPHERTEXT),
            },
        ),
    ),
    "install-receipt": ("messages.cddl", "edbp-install-receipt", install_receipt),
    "audit-entry": (
        "messages.cddl",
        "edbp-audit-entry",
        lambda: Named(
            AUDIT,
            {
                1: 42,
                2: rnd("previous audit entry", 32),
                3: NOW + 5,
                4: "deploy.record",
                5: UEID,
                6: Emb(install_receipt()),
            },
        ),
    ),
    "ta-image-metadata": ("messages.cddl", "edbp-ta-image-metadata", ta_image_metadata),
}
#: adapter example -> the typed frame rule it instantiates
ADAPTER_RULES = {
    "adapter-hello-request": "hello-request",
    "adapter-hello-reply": "hello-reply",
    "adapter-deliver-request": "deliver-request",
    "adapter-deliver-reply": "deliver-reply",
    "adapter-fetch-ask": "fetch-ask",
    "adapter-fetch-reply": "fetch-reply",
    "adapter-state-reply": "state-reply",
    "adapter-error-reply": "adapter-error",
    "adapter-cpm-request": "cpm-request",
    "adapter-identity-reply": "identity-reply",
    "adapter-provision-request": "provision-request",
    "adapter-provision-request-ta-check": "provision-request",
    "adapter-provision-request-agent-nonces": "provision-request",
    "adapter-deliver-refused": "deliver-reply",
    "adapter-hello-reply-blueprint": "hello-reply",
    "adapter-identity-reply-blueprint": "identity-reply",
    "adapter-provision-request-blueprint": "provision-request",
    "adapter-cpm-begin-request": "cpm-request",
    "adapter-cpm-reply": "cpm-reply",
    "adapter-blueprint-state-reply": "state-reply",
}
for _name, _rule in ADAPTER_RULES.items():  # built on first use (the RSA keys take a moment)
    EXAMPLES[_name] = ("adapter.cddl", _rule, lambda n=_name: adapter_frames()[n])


def build() -> dict[str, tuple[str, str]]:
    """name -> (diag text, hex text), exactly as written to disk."""
    out = {}
    for name, (cddl, rule, make) in EXAMPLES.items():
        obj = make()
        diag = f"/ {cddl} {rule} /\n" + edn(obj) + "\n"
        out[name] = (diag, encode(obj).hex() + "\n")
    return out


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else HERE
    for name, (diag, hexa) in build().items():
        (target / f"{name}.diag").write_text(diag)
        (target / f"{name}.cbor.hex").write_text(hexa)
    print(f"wrote {len(EXAMPLES)} examples to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
