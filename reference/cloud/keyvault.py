"""The KeyVault interface: class keys that wrap CEKs and never leave the vault.

Why one abstract class with two backends: the TAM and the Author must not care whether class
keys live in a PKCS#11 HSM (``keyvault_pkcs11``) or in the embedded software store
(``keyvault_software``); both backends pass the same test suite, so the protocol's statement of
where a CEK exists in plaintext holds for either.

Key model. A class key (CK) is an AES-256 key per (application, device class), named by a
``key_id`` string. It has versions 1, 2, ...: ``rotate`` adds a version and makes it current;
older versions stay, for unwrapping CEKs wrapped before the rotation, until ``delete``. A CEK
wrapped under a class key is a ``WrappedCek`` (key id, version, RFC 3394 A256KW output): that
is all the Author keeps and all that travels in the author manifest.

Where a plaintext CEK exists in the cloud, and for how long (the spec and the model use this
statement):

1. In the Author process, from ``publish.encrypt`` (made fresh) to ``publish.wrap_cek``: the
   caller hands it to ``wrap_cek`` and wipes its own ``bytearray`` at once.
2. Inside the vault during ``wrap_cek``: the PKCS#11 backend imports it as a session object
   (never a token object), wraps it under the class key inside the token and destroys the
   session object before returning; the software backend wraps it in process memory.
3. During ``rewrap`` (``deploy.update``: the CEK re-wrapped to one device's DAK by
   ECDH-ES+A128KW): SoftHSM2 has ECDH1_DERIVE but no HKDF mechanism (PKCS#11 3.0's
   CKM_HKDF_DERIVE), so neither backend can run the COSE ECDH-ES+A128KW recipient inside the
   token; nor has it ML-KEM (PKCS#11 3.2's CKM_ML_KEM), so the post-quantum suite's
   COSE-HPKE MLKEM768-X25519 recipient (spec/protocol.md 4.1) cannot run there either: both
   recipients take the same path. The CEK is therefore unwrapped *into TAM process memory* for
   the duration of one
   ``seal`` call only, held in a ``bytearray`` that is overwritten with zeros in a ``finally``
   block before ``rewrap`` returns (and the PKCS#11 session object holding it is destroyed).
   Python cannot promise that no copy survives in freed memory (the ``bytes`` a library returns
   are immutable); the wipe is best effort and the spec says so. An HSM that implements
   CKM_HKDF_DERIVE could override ``rewrap`` to keep the CEK in the token throughout.

Nowhere else: the CEK is never logged, never written to a file, never in a ``repr``.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable
from typing import TypeVar

import attrs

from edbp.errors import Code, DecryptionFailed, KeyVaultError

__all__ = [
    "CEK_LENGTHS",
    "KeyVault",
    "WrappedCek",
    "check_key_id",
    "wipe",
]

T = TypeVar("T")

#: AES key lengths a CEK may have (A128GCM, A192GCM, A256GCM / ChaCha20 use 16, 24, 32 bytes)
CEK_LENGTHS = frozenset({16, 24, 32})
#: A256KW output is the key plus one 8-byte integrity block
_KW_OVERHEAD = 8
_KEY_ID = re.compile(r"[A-Za-z0-9._:/@+-]{1,128}")


def check_key_id(key_id: object) -> str:
    """A class-key name: 1-128 characters of a safe set (it becomes an HSM label, a map key)."""
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise KeyVaultError(Code.KEYVAULT_BAD_KEY_ID, "class key id: 1-128 of [A-Za-z0-9._:/@+-]")
    return key_id


def wipe(buf: bytearray) -> None:
    """Overwrite ``buf`` with zeros in place (best effort; see the module docstring)."""
    buf[:] = bytes(len(buf))  # same length: CPython overwrites the buffer in place


@attrs.frozen
class WrappedCek:
    """A CEK wrapped under one version of a class key (RFC 3394 AES key wrap, A256KW).

    Not secret: without the class key it is opaque, so it may sit in a public registry.
    """

    key_id: str
    version: int
    wrapped: bytes

    def __attrs_post_init__(self) -> None:
        check_key_id(self.key_id)
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise KeyVaultError(Code.KEYVAULT_NO_SUCH_KEY, "class key version must be >= 1")
        if not isinstance(self.wrapped, bytes):
            raise KeyVaultError(Code.KEYVAULT_OPERATION_FAILED, "wrapped CEK is not bytes")
        if len(self.wrapped) - _KW_OVERHEAD not in CEK_LENGTHS:
            # a wrong length is one more way a wrapped CEK fails to unwrap: same code, no detail
            raise DecryptionFailed(Code.KEYVAULT_UNWRAP_FAILED)


class KeyVault(abc.ABC):
    """Class keys: create, wrap a CEK, re-wrap a CEK to a device, rotate, delete.

    Subclasses implement the five ``_``-prefixed primitives; the public methods do argument
    checks, version bookkeeping and the wipe discipline once for every backend.
    """

    #: backend name as the CLI and reports show it ("software", "pkcs11")
    backend: str = "abstract"

    # ------------------------------------------------------------------ backend primitives

    @abc.abstractmethod
    def versions(self, key_id: str) -> tuple[int, ...]:
        """The versions of ``key_id`` that exist, ascending; empty when the key does not exist."""

    @abc.abstractmethod
    def _generate(self, key_id: str, version: int) -> None:
        """Make a fresh AES-256 class key version inside the vault."""

    @abc.abstractmethod
    def _wrap(self, key_id: str, version: int, cek: bytes | bytearray) -> bytes:
        """A256KW ``cek`` under (key_id, version)."""

    @abc.abstractmethod
    def _unwrap_into(self, key_id: str, version: int, wrapped: bytes) -> bytearray:
        """Unwrap ``wrapped``; the caller wipes the returned buffer. Integrity failure raises
        ``DecryptionFailed(KEYVAULT_UNWRAP_FAILED)``, with no detail (every cause looks alike)."""

    @abc.abstractmethod
    def _destroy(self, key_id: str, versions: tuple[int, ...]) -> None:
        """Destroy the given versions of ``key_id``."""

    def _has_version(self, key_id: str, version: int) -> bool:
        """Whether ``version`` of ``key_id`` exists (``version in self.versions(key_id)``; a
        backend may answer it more directly). ``key_id`` is a checked one (a ``WrappedCek``'s)."""
        return version in self.versions(key_id)

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release the backend's resources (sessions, file handles)."""

    def __enter__(self) -> KeyVault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ public operations

    def exists(self, key_id: str) -> bool:
        return bool(self.versions(check_key_id(key_id)))

    def current_version(self, key_id: str) -> int:
        """The version ``wrap_cek`` uses: the newest."""
        versions = self.versions(check_key_id(key_id))
        if not versions:
            raise KeyVaultError(Code.KEYVAULT_NO_SUCH_KEY, f"no class key {key_id!r}")
        return versions[-1]

    def create_class_key(self, key_id: str) -> int:
        """Create version 1 of a new class key. Refuses to overwrite an existing key (rotate
        instead): replacing a class key in place would orphan every CEK wrapped under it."""
        check_key_id(key_id)
        if self.versions(key_id):
            raise KeyVaultError(Code.KEYVAULT_KEY_EXISTS, f"class key {key_id!r} exists")
        self._generate(key_id, 1)
        return 1

    def wrap_cek(self, key_id: str, cek: bytes | bytearray) -> WrappedCek:
        """``publish.wrap_cek``: A256KW the CEK under the current version of the class key.

        The caller owns ``cek`` and must wipe it right after this returns (the Author does).
        """
        if not isinstance(cek, bytes | bytearray) or len(cek) not in CEK_LENGTHS:
            raise KeyVaultError(Code.KEYVAULT_OPERATION_FAILED, "CEK must be 16, 24 or 32 bytes")
        version = self.current_version(key_id)
        return WrappedCek(key_id, version, self._wrap(key_id, version, cek))

    def rewrap(self, wrapped: WrappedCek, seal: Callable[[bytearray], T]) -> T:
        """``deploy.update``: give the CEK to ``seal`` (which builds the device's ECDH-ES+A128KW
        recipient) and wipe it. The plaintext CEK exists in process memory only during ``seal``.

        ``seal`` must not keep a reference to its argument; whatever it returns (the recipient,
        i.e. the CEK wrapped to the device's DAK) is returned here.
        """
        if not isinstance(wrapped, WrappedCek):
            raise KeyVaultError(Code.KEYVAULT_OPERATION_FAILED, "expected a WrappedCek")
        if not self._has_version(wrapped.key_id, wrapped.version):
            raise KeyVaultError(
                Code.KEYVAULT_NO_SUCH_KEY, f"no class key {wrapped.key_id!r} v{wrapped.version}"
            )
        cek = self._unwrap_into(wrapped.key_id, wrapped.version, wrapped.wrapped)
        try:
            return seal(cek)
        finally:
            wipe(cek)

    def rewrap_to_current(self, wrapped: WrappedCek) -> WrappedCek:
        """After ``rotate``: the same CEK wrapped under the newest class-key version, so that
        an old version can be deleted without losing packages still in service."""
        current = self.current_version(wrapped.key_id)
        if wrapped.version == current:
            return wrapped
        return self.rewrap(wrapped, lambda cek: self.wrap_cek(wrapped.key_id, cek))

    def rotate(self, key_id: str) -> int:
        """``rotate.class_key``: add a fresh version and make it current; older versions stay
        (unwrap only in practice: ``wrap_cek`` always uses the newest). Returns the new version."""
        version = self.current_version(key_id) + 1
        self._generate(key_id, version)
        return version

    def delete(self, key_id: str, version: int | None = None) -> None:
        """Destroy one version (never the current one while older ones remain in use is the
        operator's choice) or, with ``version=None``, every version of ``key_id``."""
        versions = self.versions(check_key_id(key_id))
        if not versions or (version is not None and version not in versions):
            raise KeyVaultError(Code.KEYVAULT_NO_SUCH_KEY, f"no class key {key_id!r}")
        self._destroy(key_id, versions if version is None else (version,))
