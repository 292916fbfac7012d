"""The embedded KeyVault backend: class keys in one file sealed under a master key.

Why AES-SIV (RFC 5297) for the seal: it is deterministic-nonce misuse resistant, and the file
is rewritten on every create/rotate/delete, so a nonce repeat under the one master key must not
be catastrophic; a random 16-byte nonce is still mixed in as associated data so that two writes
of the same key set differ. The file never holds a class key in the clear: it is
``MAGIC || nonce || AES-SIV(K_seal, plaintext, AD=[MAGIC, nonce])`` where K_seal (64 bytes) is
HKDF-SHA256 of the caller's 32-byte master key, and the plaintext is deterministic CBOR
``{"keys": {key_id: {version: key}}}``.

Writes are atomic: a temporary file in the same directory, fsync, ``os.replace``, fsync of the
directory, so a crash leaves either the old or the new store, never a torn one.

Weaker than the HSM on purpose, and said so: the class keys live in this process's memory
(``bytearray``s, wiped on delete and on ``close``) while the vault is open, and anyone holding
the master key and the file holds the class keys. The file's freshness is not protected (an
attacker with write access can restore an older sealed file); an HSM or a monotonic counter
outside the file would be needed for that.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)
from edbp.reference.cloud.keyvault import KeyVault, check_key_id, wipe
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource
from edbp.reference.wire.cbor import dumps, loads

from edbp.errors import Code, DecryptionFailed, EdbpError, KeyVaultError

__all__ = ["MASTER_KEY_BYTES", "SoftwareKeyVault"]

MAGIC = b"EDBPKV1\x00"
MASTER_KEY_BYTES = 32
_NONCE_BYTES = 16
_CLASS_KEY_BYTES = 32


@attrs.define
class _Store:
    """The decrypted store; never printed."""

    keys: dict[str, dict[int, bytearray]] = attrs.field(factory=dict, repr=False)


class SoftwareKeyVault(KeyVault):
    """Class keys sealed in ``path`` under ``master_key`` (32 bytes).

    ``rng`` draws the class keys and the seal nonces (a ``SeededRandom`` makes a test able to
    recompute a class key and prove it is absent from the file).
    """

    backend = "software"

    def __init__(
        self, path: str | os.PathLike[str], master_key: bytes, rng: RandomSource = DEFAULT_RANDOM
    ) -> None:
        if not isinstance(master_key, bytes | bytearray) or len(master_key) != MASTER_KEY_BYTES:
            raise KeyVaultError(Code.KEYVAULT_BACKEND_UNAVAILABLE, "master key must be 32 bytes")
        self._path = Path(path)
        self._rng = rng
        self._siv = AESSIV(
            HKDF(
                algorithm=hashes.SHA256(),
                length=64,
                salt=None,
                info=b"edbp keyvault software seal v1",
            ).derive(bytes(master_key))
        )
        self._store = self._load()

    def __repr__(self) -> str:
        return f"SoftwareKeyVault(path={self._path.name!r})"

    # ------------------------------------------------------------------ sealed file

    def _load(self) -> _Store:
        if not self._path.exists():
            return _Store()
        blob = self._path.read_bytes()
        if len(blob) < len(MAGIC) + _NONCE_BYTES + 16 or blob[: len(MAGIC)] != MAGIC:
            raise KeyVaultError(Code.KEYVAULT_SEALED_STORE_INVALID, "not a sealed key store")
        nonce = blob[len(MAGIC) : len(MAGIC) + _NONCE_BYTES]
        try:
            plain = self._siv.decrypt(blob[len(MAGIC) + _NONCE_BYTES :], [MAGIC, nonce])
        except InvalidTag:
            # wrong master key and tampering look the same
            raise KeyVaultError(
                Code.KEYVAULT_SEALED_STORE_INVALID, "seal does not verify"
            ) from None
        buf = bytearray(plain)
        try:
            return self._parse(loads(bytes(buf)))
        except EdbpError:
            raise KeyVaultError(
                Code.KEYVAULT_SEALED_STORE_INVALID, "sealed store content"
            ) from None
        finally:
            wipe(buf)

    @staticmethod
    def _parse(doc: Any) -> _Store:
        store = _Store()
        if not isinstance(doc, dict) or set(doc) != {"keys"} or not isinstance(doc["keys"], dict):
            raise KeyVaultError(Code.KEYVAULT_SEALED_STORE_INVALID, "sealed store shape")
        for key_id, versions in doc["keys"].items():
            check_key_id(key_id)
            if not isinstance(versions, dict) or not versions:
                raise KeyVaultError(Code.KEYVAULT_SEALED_STORE_INVALID, "sealed store shape")
            for version, key in versions.items():
                if not isinstance(version, int) or version < 1:
                    raise KeyVaultError(Code.KEYVAULT_SEALED_STORE_INVALID, "key version")
                if not isinstance(key, bytes) or len(key) != _CLASS_KEY_BYTES:
                    raise KeyVaultError(Code.KEYVAULT_SEALED_STORE_INVALID, "key length")
            store.keys[key_id] = {v: bytearray(k) for v, k in versions.items()}
        return store

    def _save(self) -> None:
        doc = {
            "keys": {
                k: {v: bytes(key) for v, key in vs.items()} for k, vs in self._store.keys.items()
            }
        }
        plain = bytearray(dumps(doc))
        nonce = self._rng.random_bytes(_NONCE_BYTES)
        try:
            blob = MAGIC + nonce + self._siv.encrypt(bytes(plain), [MAGIC, nonce])
        finally:
            wipe(plain)
        tmp = self._path.with_name(f".{self._path.name}.tmp-{os.getpid()}")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise KeyVaultError(
                Code.KEYVAULT_BACKEND_UNAVAILABLE, f"cannot write store: {e.strerror}"
            ) from None
        dir_fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # ------------------------------------------------------------------ primitives

    def versions(self, key_id: str) -> tuple[int, ...]:
        return tuple(sorted(self._store.keys.get(check_key_id(key_id), {})))

    def _has_version(self, key_id: str, version: int) -> bool:
        return version in self._store.keys.get(key_id, ())

    def _key(self, key_id: str, version: int) -> bytearray:
        try:
            return self._store.keys[key_id][version]
        except KeyError:
            raise KeyVaultError(
                Code.KEYVAULT_NO_SUCH_KEY, f"no class key {key_id!r} v{version}"
            ) from None

    def _generate(self, key_id: str, version: int) -> None:
        key = bytearray(
            self._rng.fork(f"class-key/{key_id}/{version}").random_bytes(_CLASS_KEY_BYTES)
        )
        self._store.keys.setdefault(key_id, {})[version] = key
        try:
            self._save()
        except EdbpError:
            del self._store.keys[key_id][version]
            if not self._store.keys[key_id]:
                del self._store.keys[key_id]
            raise

    def _wrap(self, key_id: str, version: int, cek: bytes | bytearray) -> bytes:
        return aes_key_wrap(bytes(self._key(key_id, version)), bytes(cek))

    def _unwrap_into(self, key_id: str, version: int, wrapped: bytes) -> bytearray:
        try:
            return bytearray(aes_key_unwrap(bytes(self._key(key_id, version)), wrapped))
        except InvalidUnwrap:
            raise DecryptionFailed(Code.KEYVAULT_UNWRAP_FAILED) from None

    def _destroy(self, key_id: str, versions: tuple[int, ...]) -> None:
        removed = {v: self._store.keys[key_id].pop(v) for v in versions}
        if not self._store.keys[key_id]:
            del self._store.keys[key_id]
        self._save()
        for key in removed.values():
            wipe(key)

    def close(self) -> None:
        for versions in self._store.keys.values():
            for key in versions.values():
                wipe(key)
        self._store = _Store()
