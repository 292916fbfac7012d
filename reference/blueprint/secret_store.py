"""Where the blueprint key service keeps its class keys: a narrow secret-store interface.

The blueprint stores each class key as a Key Vault *secret* (extractable by design: the key
service must wrap it to devices). ``SecretStore`` is the five operations the key service
uses, so that a PKCS#11 or cloud-vault backend can slot in. ``KeyVaultSecretStore`` is the
software backend, built on edbp's ``KeyVault`` instead of a second sealing scheme: every
secret is AES-256-GCM encrypted under its own data key (AAD = the secret's name, so entries
cannot be swapped in the file), and the data key is A256KW-wrapped by a KeyVault class key
(software: sealed file under a master key; PKCS#11: inside the token). The index file holds
only ciphertext and wrapped data keys; a secret exists in the clear only inside a ``use``
callback, in a ``bytearray`` wiped afterwards.
"""

from __future__ import annotations

import abc
import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from edbp.reference.cloud.keyvault import KeyVault, WrappedCek, wipe
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource

from edbp.errors import BlueprintError, Code, EdbpError

__all__ = ["KeyVaultSecretStore", "MemorySecretStore", "SecretStore"]

T = TypeVar("T")


class SecretStore(abc.ABC):
    """Named secrets: list, set (silently overwriting, as Key Vault's SetSecret does), use."""

    @abc.abstractmethod
    def names(self) -> tuple[str, ...]:
        """Every secret name, sorted."""

    @abc.abstractmethod
    def set(self, name: str, value: bytes | bytearray) -> None:
        """Create or overwrite ``name``."""

    @abc.abstractmethod
    def use(self, name: str, fn: Callable[[bytearray], T]) -> T:
        """Call ``fn`` with the secret (wiped after); ``KEYSERVICE_NOT_FOUND`` if absent."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove ``name``; ``KEYSERVICE_NOT_FOUND`` if absent."""

    def generate(self, name: str, size: int = 32, rng: RandomSource = DEFAULT_RANDOM) -> None:
        """A fresh random secret (ProvisionKey: ``Aes.Create().GenerateKey()``)."""
        value = bytearray(rng.random_bytes(size))
        try:
            self.set(name, value)
        finally:
            wipe(value)

    def exists(self, name: str) -> bool:
        return name in self.names()


def _not_found(name: str) -> BlueprintError:
    return BlueprintError(Code.KEYSERVICE_NOT_FOUND, f"no secret {name!r}")


class MemorySecretStore(SecretStore):
    """Process memory only (tests, the demo): nothing persists."""

    def __init__(self) -> None:
        self._items: dict[str, bytearray] = {}

    def __repr__(self) -> str:
        return f"MemorySecretStore(names={len(self._items)})"

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._items))

    def set(self, name: str, value: bytes | bytearray) -> None:
        old = self._items.get(name)
        self._items[name] = bytearray(value)
        if old is not None:
            wipe(old)

    def use(self, name: str, fn: Callable[[bytearray], T]) -> T:
        if name not in self._items:
            raise _not_found(name)
        copy = bytearray(self._items[name])
        try:
            return fn(copy)
        finally:
            wipe(copy)

    def delete(self, name: str) -> None:
        if name not in self._items:
            raise _not_found(name)
        wipe(self._items.pop(name))


class KeyVaultSecretStore(SecretStore):
    """Secrets in ``index_path`` (JSON), each sealed under a data key wrapped by ``vault``'s
    class key ``kek_id`` (created on first use)."""

    def __init__(
        self,
        vault: KeyVault,
        index_path: str | os.PathLike[str],
        kek_id: str = "blueprint-secret-store",
        rng: RandomSource = DEFAULT_RANDOM,
    ) -> None:
        self._vault = vault
        self._path = Path(index_path)
        self._kek = kek_id
        self._rng = rng
        if not vault.exists(kek_id):
            vault.create_class_key(kek_id)
        self._index: dict[str, dict[str, Any]] = self._load()

    def __repr__(self) -> str:
        return f"KeyVaultSecretStore(index={self._path.name!r}, vault={self._vault.backend!r})"

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self._path.exists():
            return {}
        try:
            doc = json.loads(self._path.read_text("utf-8"))
            if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
                raise ValueError
            return doc
        except (ValueError, UnicodeDecodeError):
            raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "secret index is not valid") from None

    def _save(self) -> None:
        tmp = self._path.with_name(f".{self._path.name}.tmp-{os.getpid()}")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(self._index, sort_keys=True), "utf-8")
        os.replace(tmp, self._path)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._index))

    def set(self, name: str, value: bytes | bytearray) -> None:
        dek = bytearray(self._rng.random_bytes(32))
        try:
            nonce = self._rng.random_bytes(12)
            sealed = AESGCM(bytes(dek)).encrypt(nonce, bytes(value), name.encode())
            wrapped = self._vault.wrap_cek(self._kek, dek)
        finally:
            wipe(dek)
        self._index[name] = {
            "kek_version": wrapped.version,
            "dek": base64.b64encode(wrapped.wrapped).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "sealed": base64.b64encode(sealed).decode(),
        }
        self._save()

    def use(self, name: str, fn: Callable[[bytearray], T]) -> T:
        entry = self._index.get(name)
        if entry is None:
            raise _not_found(name)
        try:
            wrapped = WrappedCek(
                self._kek, int(entry["kek_version"]), base64.b64decode(entry["dek"])
            )
            nonce, sealed = base64.b64decode(entry["nonce"]), base64.b64decode(entry["sealed"])
        except (KeyError, ValueError, TypeError, EdbpError):
            raise BlueprintError(
                Code.KEYSERVICE_BAD_REQUEST, "secret index entry is not valid"
            ) from None

        def open_(dek: bytearray) -> T:
            try:
                plain = bytearray(AESGCM(bytes(dek)).decrypt(nonce, sealed, name.encode()))
            except InvalidTag:
                raise BlueprintError(
                    Code.KEYSERVICE_BAD_REQUEST, "secret does not unseal"
                ) from None
            try:
                return fn(plain)
            finally:
                wipe(plain)

        return self._vault.rewrap(wrapped, open_)

    def delete(self, name: str) -> None:
        if name not in self._index:
            raise _not_found(name)
        del self._index[name]
        self._save()
