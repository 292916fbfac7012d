"""The embedded default registry: a content-addressed directory.

Layout (under ``root``)::

    blobs/sha256/<hex>          every blob, named by its digest (written once, never changed)
    repos/<name>/tags/<tag>     the digest of the tag's package manifest (text)

Why this shape: a blob's name is its digest, so a write is idempotent and a reader can verify
what it gets; only tag files change, and they are replaced atomically (temporary file,
``os.replace``). The directory is as untrusted as any registry: reads are verified.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from edbp.reference.build.registry import CHUNK, Registry, RegistryError, check_digest, check_name

from edbp.errors import Code

__all__ = ["DirectoryRegistry"]


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RegistryError(
            Code.REGISTRY_UNAVAILABLE, f"cannot write {path.name}: {e.strerror}"
        ) from None


class DirectoryRegistry(Registry):
    """Packages in a directory tree (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DirectoryRegistry({self.root.name!r})"

    def _blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / check_digest(digest).split(":", 1)[1]

    def _tag_path(self, name: str, tag: str) -> Path:
        return self.root / "repos" / check_name(name) / "tags" / tag

    def _put_blob(self, name: str, digest: str, data: bytes) -> None:
        path = self._blob_path(digest)
        if not path.exists():
            _atomic_write(path, data)

    def _get_blob(self, name: str, digest: str) -> bytes:
        try:
            return self._blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise RegistryError(Code.REGISTRY_NOT_FOUND, f"no blob {digest}") from None
        except OSError as e:
            raise RegistryError(
                Code.REGISTRY_UNAVAILABLE, f"cannot read blob: {e.strerror}"
            ) from None

    def _iter_blob(self, name: str, digest: str) -> Iterator[bytes]:
        try:
            f = open(self._blob_path(digest), "rb")
        except FileNotFoundError:
            raise RegistryError(Code.REGISTRY_NOT_FOUND, f"no blob {digest}") from None
        try:
            while chunk := f.read(CHUNK):
                yield chunk
        finally:
            f.close()

    def _put_manifest(self, name: str, tag: str, data: bytes) -> None:
        digest = self.put_blob(name, data)
        _atomic_write(self._tag_path(name, tag), digest.encode())

    def _get_manifest(self, name: str, tag: str) -> bytes:
        try:
            digest = self._tag_path(name, tag).read_text().strip()
        except (FileNotFoundError, UnicodeDecodeError):
            raise RegistryError(Code.REGISTRY_NOT_FOUND, f"no package {name}:{tag}") from None
        return self.get_blob(name, digest)

    def tags(self, name: str) -> list[str]:
        folder = self.root / "repos" / check_name(name) / "tags"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
