"""OP-TEE's secure-storage TA install, as the CPM's ``end`` call reaches it (``ta_secstor.c``).

OP-TEE's ``secstor_ta_mgmt`` pseudo-TA checks the TA image's own signature and refuses a TA
version lower than the one installed for that UUID. Parsing real ``shdr`` images belongs to the
OP-TEE TA layer of edbp, so the store takes the image check as an edge: a ``TaVerifier`` returns
(uuid, version) or raises. Two verifiers ship here: ``OpaqueTaVerifier`` (any bytes, identity
from their hash, version 0: the CPM contract alone, no TA format) and ``SignedTestTaVerifier``,
a deliberately small signed format for tests of the version floor and signature refusal.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.blueprint import crypto

from edbp.errors import BlueprintError, Code

__all__ = [
    "OpaqueTaVerifier",
    "SecureStorageTaStore",
    "SignedTestTaVerifier",
    "TaIdentity",
    "make_signed_test_ta",
]


@attrs.frozen
class TaIdentity:
    uuid: bytes
    version: int


TaVerifier = Callable[[bytes], TaIdentity]


class OpaqueTaVerifier:
    """Any image: uuid = first 16 bytes of its SHA-256, version 0 (so no floor can refuse it)."""

    def __call__(self, image: bytes) -> TaIdentity:
        return TaIdentity(hashlib.sha256(image).digest()[:16], 0)


_TEST_MAGIC = b"TTA1"


def make_signed_test_ta(key: rsa.RSAPrivateKey, uuid: bytes, version: int, body: bytes) -> bytes:
    """``TTA1 || uuid(16) || version u32 LE || body || RSA-PKCS1v15-SHA256 signature``."""
    head = _TEST_MAGIC + uuid + struct.pack("<I", version) + body
    return head + crypto.sign_digest(key, hashlib.sha256(head).digest())


@attrs.frozen
class SignedTestTaVerifier:
    """Checks ``make_signed_test_ta`` images against one TA signing key (the TAK)."""

    public_key: rsa.RSAPublicKey

    def __call__(self, image: bytes) -> TaIdentity:
        sig_len = (self.public_key.key_size + 7) // 8
        if len(image) < 24 + sig_len or image[:4] != _TEST_MAGIC:
            raise BlueprintError(Code.CPM_ERROR, "not a TA image")
        head, sig = image[:-sig_len], image[-sig_len:]
        if not crypto.verify_digest(self.public_key, hashlib.sha256(head).digest(), sig):
            raise BlueprintError(Code.CPM_ERROR, "TA signature")
        return TaIdentity(head[4:20], struct.unpack("<I", head[20:24])[0])


@attrs.define
class SecureStorageTaStore:
    """Installed TAs by UUID with OP-TEE's version rule (equal allowed, lower refused)."""

    verify: TaVerifier = attrs.field(factory=OpaqueTaVerifier)
    installed: dict[bytes, tuple[int, bytes]] = attrs.field(
        factory=dict
    )  # uuid -> (version, sha256)

    def install(self, image: bytes) -> int:
        """0 on success, -1 when the image check refuses, -2 on a version below the installed."""
        try:
            ident = self.verify(image)
        except BlueprintError:
            return -1
        have = self.installed.get(ident.uuid)
        if have is not None and ident.version < have[0]:
            return -2
        self.installed[ident.uuid] = (ident.version, hashlib.sha256(image).digest())
        return 0
