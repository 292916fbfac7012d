"""Signing and verifying SUIT envelopes and reports, and reading SUIT encryption info, through
the COSE layer (``cose_sign``, ``cose_encrypt``).

Why a separate module: the structures (``suit_envelope``) decode without keys; this module adds
the checks that need keys, in the order the SUIT drafts require: the authentication wrapper's
digest must cover the manifest bytes exactly, then a COSE_Sign1 over that digest (detached
payload) must verify under an explicit allow-list of algorithms. No fallback: a block with an
algorithm outside the list does not count as authentication. A COSE_Mac0 block (HMAC 256/256,
the SUIT encryption draft's AES-KW examples) counts only when the caller allows a MAC algorithm
(``SUIT_MAC_ALGS``) and passes a symmetric key: the default list holds signatures only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_mac import MAC_ALGS, Mac0, mac0
from edbp.reference.wire.cose_sign import Sign1, sign1
from edbp.reference.wire.suit_commands import CommandSequence
from edbp.reference.wire.suit_core import SuitDigest, wrap
from edbp.reference.wire.suit_envelope import AuthenticationWrapper, Envelope, Manifest, SuitText
from edbp.reference.wire.suit_labels import SHA256, ManifestKey
from edbp.reference.wire.suit_report import SuitReport

from edbp.errors import Code, EdbpError, VerificationError, WireError

__all__ = [
    "SUIT_CONTENT_ALGS",
    "SUIT_MAC_ALGS",
    "SUIT_RECIPIENT_ALGS",
    "SUIT_SIGNATURE_ALGS",
    "decode_encryption_info",
    "decrypt_payload",
    "mac_envelope",
    "sever",
    "sign_envelope",
    "sign_report",
    "verify_envelope",
    "verify_report",
]

#: Signature algorithms a SUIT manifest may be signed with in the edbp profile (emit ESP256 /
#: Ed25519; accept the older ES256 / EdDSA ids on verify).
SUIT_SIGNATURE_ALGS: frozenset[Alg] = frozenset(
    {Alg.ESP256, Alg.ES256, Alg.ED25519, Alg.EDDSA, Alg.ML_DSA_65}
)
#: COSE_Mac0 authentication (symmetric key), never in the default allow-list
#: HMAC 256/256 only: what the SUIT encryption draft's AES-KW examples use
SUIT_MAC_ALGS: frozenset[Alg] = frozenset({Alg.HMAC_256_256}) & MAC_ALGS

_SEVERABLE_ATTRS = {
    ManifestKey.DEPENDENCY_RESOLUTION: "dependency_resolution",
    ManifestKey.PAYLOAD_FETCH: "payload_fetch",
    ManifestKey.INSTALL: "install",
    ManifestKey.TEXT: "text",
}


def sever(manifest: Manifest, members: Iterable[int]) -> tuple[Manifest, dict[int, bytes]]:
    """Replace severable ``members`` by their digests; returns the manifest and the envelope
    members to carry beside it."""
    changes: dict[str, Any] = {}
    severed: dict[int, bytes] = {}
    for key in members:
        attr = _SEVERABLE_ATTRS[ManifestKey(key)]
        member = getattr(manifest, attr)
        if not isinstance(member, CommandSequence | SuitText):
            raise WireError(Code.SUIT_SEVERABLE_MISMATCH, f"member {key} absent or already severed")
        data = member.encode()
        severed[int(key)] = data
        changes[attr] = SuitDigest.of(wrap(data))
    return attrs.evolve(manifest, **changes), severed


def sign_envelope(
    manifest: Manifest,
    keys: CoseKey | Iterable[tuple[CoseKey, Alg]],
    alg: Alg = Alg.ESP256,
    *,
    severed: Mapping[int, bytes] | None = None,
    integrated: Mapping[str, bytes] | None = None,
    digest_alg: int = SHA256,
) -> Envelope:
    """Digest the bstr-wrapped manifest and sign the encoded SUIT_Digest (detached COSE_Sign1)
    with each key. ``keys`` is one key (signed with ``alg``) or (key, alg) pairs."""
    pairs = [(keys, alg)] if isinstance(keys, CoseKey) else list(keys)
    digest = manifest.digest(digest_alg)
    payload = digest.encode()
    blocks = [sign1(payload, key, a, detached=True).encode() for key, a in pairs]
    return Envelope(
        AuthenticationWrapper(digest, blocks), manifest, dict(severed or {}), dict(integrated or {})
    )


def mac_envelope(
    manifest: Manifest,
    key: CoseKey,
    *,
    severed: Mapping[int, bytes] | None = None,
    integrated: Mapping[str, bytes] | None = None,
    digest_alg: int = SHA256,
) -> Envelope:
    """Digest the bstr-wrapped manifest and authenticate the encoded SUIT_Digest with a
    detached COSE_Mac0 (HMAC 256/256) under a symmetric ``key``, as the SUIT encryption draft's
    AES-KW examples do."""
    digest = manifest.digest(digest_alg)
    block = mac0(digest.encode(), key, detached=True).encode()
    return Envelope(
        AuthenticationWrapper(digest, [block]),
        manifest,
        dict(severed or {}),
        dict(integrated or {}),
    )


def verify_envelope(
    envelope: Envelope,
    keys: CoseKey | Iterable[CoseKey],
    *,
    algorithms: Collection[Alg] = SUIT_SIGNATURE_ALGS,
    lenient: bool = False,
) -> Manifest:
    """Check the manifest digest, then require one authentication block that verifies under
    one of ``keys`` with an algorithm in ``algorithms``. Returns the authenticated manifest.

    Raises VerificationError: SUIT_DIGEST_MISMATCH when the digest does not cover the manifest,
    SUIT_AUTH_FAILED when no block verifies (the detail names the last COSE refusal)."""
    if not envelope.digest_matches():
        raise VerificationError(Code.SUIT_DIGEST_MISMATCH, "manifest digest does not match")
    key_list = [keys] if isinstance(keys, CoseKey) else list(keys)
    payload = envelope.authentication.signed_payload
    last = "no COSE_Sign1 authentication block"
    for block in envelope.authentication.blocks:
        try:
            cose: Sign1 | Mac0
            if block[:1] == b"\xd1":  # tag 17: COSE_Mac0 (the wrapper admits only 17 and 18)
                if not set(algorithms) & MAC_ALGS:
                    last = "COSE_Mac0 block where only signatures are allowed"
                    continue
                cose = Mac0.decode(block, lenient=lenient)
            else:
                cose = Sign1.decode(block, lenient=lenient)
        except EdbpError as exc:
            last = exc.code.name
            continue
        for key in key_list:
            try:
                cose.verify(key, algorithms=algorithms, detached_payload=payload)
            except EdbpError as exc:
                last = exc.code.name
                continue
            return envelope.manifest
    raise VerificationError(Code.SUIT_AUTH_FAILED, last)


def sign_report(report: SuitReport, key: CoseKey, alg: Alg = Alg.ESP256) -> bytes:
    """SUIT_Report_Protected: a tagged COSE_Sign1 whose payload is the report."""
    return sign1(report.encode(), key, alg).encode()


def verify_report(
    data: bytes,
    key: CoseKey,
    *,
    algorithms: Collection[Alg] = SUIT_SIGNATURE_ALGS,
    lenient: bool = False,
) -> SuitReport:
    """Verify a signed SUIT report and decode its payload."""
    payload = Sign1.decode(data, lenient=lenient).verify(key, algorithms=algorithms)
    return SuitReport.decode(payload, lenient)


def decode_encryption_info(data: bytes, lenient: bool = False) -> Any:
    """The COSE_Encrypt inside suit-parameter-encryption-info, decoded by the COSE layer."""
    from edbp.reference.wire import cose_encrypt

    return cose_encrypt.Encrypt.decode(data, lenient=lenient)


#: Content and key-delivery algorithms a SUIT encryption info may use in the edbp profile
#: (draft-ietf-suit-firmware-encryption / suit-mti): AEAD content, AES-CTR only where the signed
#: image digest covers the plaintext.
SUIT_CONTENT_ALGS: frozenset[Alg] = frozenset({Alg.A128GCM, Alg.A256GCM, Alg.A128CTR, Alg.A256CTR})
SUIT_RECIPIENT_ALGS: frozenset[Alg] = frozenset(
    {Alg.A128KW, Alg.A256KW, Alg.ECDH_ES_A128KW, Alg.EDBP_HPKE_XWING_KE}
)


def decrypt_payload(
    info: Any,
    ciphertext: bytes,
    key: CoseKey,
    *,
    algorithms: Collection[Alg] = SUIT_CONTENT_ALGS,
    recipient_algorithms: Collection[Alg] = SUIT_RECIPIENT_ALGS,
    digest_checked: bool = False,
    lenient: bool = False,
) -> bytes:
    """Decrypt a detached payload with the CEK its encryption info delivers to ``key``.

    ``info`` is an ``EncryptionInfo`` (or its bytes). ECDH-ES recipients use the SUIT KDF
    context (``SuppPubInfo.other = "SUIT Payload Encryption"``). AES-CTR has no integrity of
    its own: it is refused unless ``digest_checked`` says the caller will check the plaintext
    against the signed image digest (condition-image-match) before using it. Every failure to
    decrypt is ``DecryptionFailed``."""
    from edbp.reference.wire import cose_encrypt
    from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER

    data = info if isinstance(info, bytes) else info.data
    enc = cose_encrypt.Encrypt.decode(data, lenient=lenient)
    return enc.decrypt(
        key,
        algorithms=algorithms,
        recipient_algorithms=recipient_algorithms,
        detached_ciphertext=ciphertext,
        allow_unauthenticated=digest_checked,
        supp_pub_other=SUIT_KDF_OTHER,
    )
