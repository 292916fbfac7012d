"""The storage edge under the Agent's sealed storage (and the Broker's ciphertext cache).

Why an edge: the Agent's install must be atomic whatever the medium does, and that can only be
shown by making the medium fail. Every mutating operation (each chunk written, each rename, each
removal) goes through ``Storage``; ``FaultyStorage`` wraps any storage and fails the N-th of
those operations, which is how the interrupted-install tests cut the power at every write.

Names are relative, slash-separated, made of ``[A-Za-z0-9._-]`` segments: the Agent chooses them,
but a bad name is still refused rather than joined blindly onto a directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

__all__ = [
    "FaultyStorage",
    "FileStorage",
    "InjectedFault",
    "MemoryStorage",
    "Storage",
    "check_name",
]

_SEGMENT = re.compile(r"[A-Za-z0-9._-]{1,128}")


class InjectedFault(OSError):
    """A storage failure injected by ``FaultyStorage`` (a power cut at one write)."""


def check_name(name: str) -> str:
    """Refuse names that could escape the storage root (``..``, absolute, odd characters)."""
    parts = name.split("/")
    if not parts or any(p in ("", ".", "..") or not _SEGMENT.fullmatch(p) for p in parts):
        raise ValueError(f"bad storage name {name!r}")
    return name


class Storage(Protocol):
    """What the Agent needs from a medium: write-and-sync, atomic rename, read, remove."""

    def write(self, name: str, chunks: Iterable[bytes]) -> int:
        """Create or truncate ``name``, write every chunk, make it durable; returns the size.
        An exception from ``chunks`` propagates (the partial file may remain)."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Atomically replace ``dst`` by ``src`` and make the change durable."""
        ...

    def remove(self, name: str) -> None:
        """Delete ``name`` if it exists."""
        ...

    def read_chunks(self, name: str, chunk_size: int) -> Iterator[bytes]:
        """The content of ``name`` in pieces of at most ``chunk_size`` bytes (FileNotFoundError
        when absent)."""
        ...

    def read(self, name: str) -> bytes:
        """The whole content of ``name`` (small files only)."""
        ...

    def size(self, name: str) -> int:
        """Length of ``name`` in bytes (FileNotFoundError when absent)."""
        ...

    def exists(self, name: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]:
        """Names that start with ``prefix``, sorted."""
        ...


class FileStorage:
    """Files under one directory; writes are fsynced, renames use ``os.replace`` and fsync the
    directory, so a completed ``rename`` survives a power cut."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FileStorage({str(self.root)!r})"

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def write(self, name: str, chunks: Iterable[bytes]) -> int:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        total = 0
        with open(path, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                total += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        return total

    def rename(self, src: str, dst: str) -> None:
        target = self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path(src), target)
        _fsync_dir(target.parent)

    def remove(self, name: str) -> None:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            return

    def read_chunks(self, name: str, chunk_size: int) -> Iterator[bytes]:
        with open(self._path(name), "rb") as fh:
            while True:
                chunk = fh.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def list(self, prefix: str = "") -> list[str]:
        out = []
        for path in self.root.rglob("*"):
            if path.is_file():
                rel = path.relative_to(self.root).as_posix()
                if rel.startswith(prefix):
                    out.append(rel)
        return sorted(out)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


class MemoryStorage:
    """In-memory storage with the same semantics (simulated devices, fast tests)."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"MemoryStorage({len(self._files)} files)"

    def write(self, name: str, chunks: Iterable[bytes]) -> int:
        check_name(name)
        buf = bytearray()
        try:
            for chunk in chunks:
                buf += chunk
        finally:
            self._files[name] = bytes(buf)  # a partial file stays visible, as on disk
        return len(buf)

    def rename(self, src: str, dst: str) -> None:
        check_name(dst)
        if src not in self._files:
            raise FileNotFoundError(src)
        self._files[dst] = self._files.pop(src)

    def remove(self, name: str) -> None:
        self._files.pop(name, None)

    def read_chunks(self, name: str, chunk_size: int) -> Iterator[bytes]:
        data = self.read(name)
        for i in range(0, len(data), chunk_size):
            yield data[i : i + chunk_size]

    def read(self, name: str) -> bytes:
        try:
            return self._files[name]
        except KeyError:
            raise FileNotFoundError(name) from None

    def size(self, name: str) -> int:
        return len(self.read(name))

    def exists(self, name: str) -> bool:
        return name in self._files

    def list(self, prefix: str = "") -> list[str]:
        return sorted(n for n in self._files if n.startswith(prefix))


class FaultyStorage:
    """Wraps a storage and fails its ``fail_at``-th mutating operation (1-based) and, when
    ``sticky``, every one after it (a medium that died). Counts chunks written, renames and
    removals; ``writes`` tells how many happened, so a test can sweep every position."""

    def __init__(self, inner: Storage, fail_at: int | None = None, sticky: bool = True) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.sticky = sticky
        self.writes = 0
        self.failed = False

    def __repr__(self) -> str:
        return f"FaultyStorage({self.inner!r}, fail_at={self.fail_at})"

    def _tick(self) -> None:
        self.writes += 1
        if self.fail_at is not None and (
            self.writes == self.fail_at or (self.sticky and self.writes > self.fail_at)
        ):
            self.failed = True
            raise InjectedFault(f"injected storage fault at write {self.writes}")

    def write(self, name: str, chunks: Iterable[bytes]) -> int:
        def counted() -> Iterator[bytes]:
            for chunk in chunks:
                self._tick()
                yield chunk

        return self.inner.write(name, counted())

    def rename(self, src: str, dst: str) -> None:
        self._tick()
        self.inner.rename(src, dst)

    def remove(self, name: str) -> None:
        self._tick()
        self.inner.remove(name)

    def read_chunks(self, name: str, chunk_size: int) -> Iterator[bytes]:
        return self.inner.read_chunks(name, chunk_size)

    def read(self, name: str) -> bytes:
        return self.inner.read(name)

    def size(self, name: str) -> int:
        return self.inner.size(name)

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)
