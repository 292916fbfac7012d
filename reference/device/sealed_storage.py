"""Sealed storage: files the Agent alone can read, on a medium the REE controls.

Why it looks like this: OP-TEE's REE file system stores a TA's objects in files that the normal
world keeps, encrypted under a File Encryption Key (FEK) that is itself encrypted under a key
only that TA's secure storage can derive from the Hardware Unique Key. The Agent does the same,
with the same key ladder, so that a vendor's Agent TA and this reference derive identical keys
from the same HUK:

- SSK = HMAC-SHA256(HUK, die_id[32] ‖ "ONLY_FOR_tee_fs_ssk\\0")  (``huk_subkey_derive`` for
  ``HUK_SUBKEY_SSK`` in its default compatibility mode, as ``edbp.reference.optee.huk``
  computes it; die_id is "BEEF" repeated unless the platform supplies one),
- TSK = HMAC-SHA256(SSK, TEE_UUID of the TA)  (the UUID as OP-TEE's in-memory ``TEE_UUID``
  struct: the first three fields little-endian, i.e. ``uuid.bytes_le``),
- a fresh 16-byte FEK per file, stored encrypted as AES-ECB(TSK, FEK) (``tee_fs_fek_crypt``).

The file body is edbp's own layout (OP-TEE's hash-tree layout is not needed for
interoperability: only the Agent reads its own files): a header, then the content cut into
chunks, each sealed with AES-128-GCM under the FEK. The nonce is a per-file random prefix, the
chunk counter and a final-chunk flag (the STREAM construction), and every chunk's additional
data is the header and the file's name, so chunks cannot be reordered, dropped, truncated,
moved to another file or spliced from another file. Streaming keeps memory flat for payloads
larger than the TEE's budget.

What it does not give: freshness. The REE can put back an older sealed file; OP-TEE answers that
with RPMB. The reference keeps the floors in a sealed record and says so in its report.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import struct
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from edbp.reference.device.storage import Storage
from edbp.reference.optee.huk import HUK_SIZE, HukUsage, die_id_compat, huk_subkey_derive
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource

from edbp.errors import Code, DecryptionFailed

__all__ = [
    "AGENT_TA_UUID",
    "HUK_SUBKEY_DIE_ID",
    "HUK_SUBKEY_RPMB",
    "HUK_SUBKEY_SSK",
    "HUK_SUBKEY_TA_ENC",
    "HUK_SUBKEY_UNIQUE_TA",
    "SealedStorage",
    "StorageKeys",
    "derive_ssk",
    "derive_tsk",
    "dummy_die_id",
    "huk_subkey_derive",
]

HUK_SUBKEY_RPMB = HukUsage.RPMB
HUK_SUBKEY_SSK = HukUsage.SSK
HUK_SUBKEY_DIE_ID = HukUsage.DIE_ID
HUK_SUBKEY_UNIQUE_TA = HukUsage.UNIQUE_TA
HUK_SUBKEY_TA_ENC = HukUsage.TA_ENC
dummy_die_id = die_id_compat
_FEK_SIZE = 16  # TEE_FS_KM_FEK_SIZE

#: The UUID of the edbp Agent TA (name-based, so every implementation can recompute it).
AGENT_TA_UUID = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ietf:params:edbp:agent")

_MAGIC = b"EDBPSLD1"
_HEADER = struct.Struct(">8sI16s7s")  # magic, chunk size, encrypted FEK, nonce prefix
_TAG = 16
DEFAULT_CHUNK = 64 * 1024
MAX_RECORD = 1 << 20  # whole-file reads (state records) are refused above this size


def derive_ssk(huk: bytes, die_id: bytes | None = None) -> bytes:
    """The Secure Storage Key of the device."""
    return huk_subkey_derive(huk, HUK_SUBKEY_SSK, die_id=die_id)


def derive_tsk(ssk: bytes, ta_uuid: uuid.UUID) -> bytes:
    """The TA Storage Key: HMAC-SHA256(SSK, TEE_UUID) as ``tee_fs_fek_crypt`` computes it."""
    return hmac.new(ssk, ta_uuid.bytes_le, hashlib.sha256).digest()


def _ecb(key: bytes, data: bytes, encrypt: bool) -> bytes:
    # AES-ECB on exactly one 16-byte key block: OP-TEE's TEE_FS_KM_ENC_FEK_ALG; not used for data
    cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - OP-TEE's FEK wrapping
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


@attrs.frozen
class StorageKeys:
    """The TA Storage Key of the Agent. Derived once at start, never shown."""

    tsk: bytes = attrs.field(repr=False)

    @classmethod
    def from_huk(
        cls, huk: bytes, ta_uuid: uuid.UUID = AGENT_TA_UUID, die_id: bytes | None = None
    ) -> StorageKeys:
        if len(huk) != HUK_SIZE:
            raise ValueError("the HUK is 16 bytes")
        return cls(derive_tsk(derive_ssk(huk, die_id), ta_uuid))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


class SealedStorage:
    """Named files sealed under the Agent's storage keys, on an untrusted ``Storage`` edge.

    Any tampering (a flipped bit, a swapped, truncated, extended or renamed file, another
    device's file) reads as ``DecryptionFailed(AGENT_STORAGE_CORRUPT)``, with no detail.
    """

    def __init__(
        self,
        storage: Storage,
        keys: StorageKeys,
        rng: RandomSource = DEFAULT_RANDOM,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        if not 16 <= chunk_size <= (1 << 24):
            raise ValueError("chunk size out of range")
        self.storage = storage
        self._keys = keys
        self._rng = rng
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"SealedStorage({self.storage!r})"

    # ------------------------------------------------------------------------------ writing

    def seal_chunks(self, name: str, plaintext: Iterable[bytes]) -> Iterator[bytes]:
        """The sealed file for ``name`` as a stream of pieces, consuming ``plaintext`` lazily.
        Memory stays within two chunks whatever the input's size."""
        fek = bytearray(self._rng.random_bytes(_FEK_SIZE))
        try:
            prefix = self._rng.random_bytes(7)
            header = _HEADER.pack(
                _MAGIC, self.chunk_size, _ecb(self._keys.tsk, bytes(fek), True), prefix
            )
            aad = header + name.encode()
            aead = AESGCM(bytes(fek))
            yield header
            # A full chunk is held back until the next byte arrives: only then is it known not
            # to be the last (the last chunk's nonce differs). Pieces that arrive exactly
            # chunk-sized (the Installer's) are sealed as they are, without being copied.
            cs = self.chunk_size
            index = 0
            held: bytes | None = None
            pending = bytearray()
            for piece in plaintext:
                if not pending and len(piece) == cs:
                    full: list[bytes] = [bytes(piece)]
                else:
                    pending += piece
                    full = []
                    while len(pending) >= cs:
                        full.append(bytes(pending[:cs]))
                        del pending[:cs]
                for chunk in full:
                    if held is not None:
                        yield aead.encrypt(_nonce(prefix, index, False), held, aad)
                        index += 1
                    held = chunk
            if pending or held is None:
                if held is not None:
                    yield aead.encrypt(_nonce(prefix, index, False), held, aad)
                    index += 1
                yield aead.encrypt(_nonce(prefix, index, True), bytes(pending), aad)
            else:
                yield aead.encrypt(_nonce(prefix, index, True), held, aad)
            pending[:] = bytes(len(pending))
        finally:
            fek[:] = bytes(len(fek))

    def write_stream(self, name: str, plaintext: Iterable[bytes]) -> int:
        """Seal ``plaintext`` into ``name`` (not atomic: callers write a new name, then
        ``rename``). Returns the sealed file's size."""
        return self.storage.write(name, self.seal_chunks(name, plaintext))

    def put(self, name: str, data: bytes) -> None:
        """Seal a small record into ``name`` atomically (write a temporary name, then rename).
        The temporary file is sealed under the final name, so the rename keeps it readable."""
        tmp = name + ".new"
        self.storage.write(tmp, self.seal_chunks(name, [data]))
        self.storage.rename(tmp, name)

    def seal_as(self, final_name: str, tmp_name: str, plaintext: Iterable[bytes]) -> int:
        """Seal under ``final_name``'s binding but write to ``tmp_name`` (switched in later
        with ``storage.rename``)."""
        return self.storage.write(tmp_name, self.seal_chunks(final_name, plaintext))

    # ------------------------------------------------------------------------------ reading

    def read_stream(self, name: str) -> Iterator[bytes]:
        """The plaintext of ``name`` chunk by chunk; each chunk is authenticated before it is
        yielded, and a missing final chunk fails at the end."""
        try:
            total = self.storage.size(name)
        except OSError:
            raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT) from None
        body = total - _HEADER.size
        if body < _TAG:
            raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT)
        reader = _Exact(self.storage.read_chunks(name, DEFAULT_CHUNK))
        header = reader.take(_HEADER.size)
        magic, chunk_size, enc_fek, prefix = _HEADER.unpack(header)
        if magic != _MAGIC or chunk_size != self.chunk_size:
            raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT)
        sealed = chunk_size + _TAG
        count = -(-body // sealed)
        fek = bytearray(_ecb(self._keys.tsk, enc_fek, False))
        try:
            aead = AESGCM(bytes(fek))
            aad = header + name.encode()
            for index in range(count):
                size = min(sealed, body - index * sealed)
                piece = reader.take(size)
                last = index == count - 1
                if size < _TAG or (not last and size != sealed):
                    raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT)
                try:
                    yield aead.decrypt(_nonce(prefix, index, last), piece, aad)
                except Exception:
                    raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT) from None
        except OSError:
            raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT) from None
        finally:
            fek[:] = bytes(len(fek))

    def get(self, name: str) -> bytes:
        """The whole plaintext of a small sealed record."""
        try:
            if self.storage.size(name) > MAX_RECORD:
                raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT)
        except OSError:
            raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT) from None
        return b"".join(self.read_stream(name))

    def exists(self, name: str) -> bool:
        return self.storage.exists(name)

    def plaintext_size(self, name: str) -> int:
        """The plaintext length of sealed file ``name``, from its size alone (each chunk adds
        a tag); a size no sealed file can have is ``AGENT_STORAGE_CORRUPT``."""
        try:
            body = self.storage.size(name) - _HEADER.size
        except OSError:
            raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT) from None
        sealed = self.chunk_size + _TAG
        count = -(-body // sealed)
        if body < _TAG or body - (count - 1) * sealed < _TAG:
            raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT)
        return body - count * _TAG

    def open(self, name: str) -> SealedReader:
        """``name``'s plaintext as a read-only binary file (authenticated chunk by chunk)."""
        return SealedReader(self, name)


class SealedReader(io.RawIOBase):
    """A seekable read-only view of a sealed file's plaintext, so that a streaming consumer
    (the TA image check) reads it in bounded memory. Reads go forward through
    ``read_stream``; a backward seek (the loader re-reading a header) restarts the stream,
    which only ever happens within the first chunks."""

    def __init__(self, sealed: SealedStorage, name: str) -> None:
        super().__init__()
        self._sealed = sealed
        self._name = name
        self._size = sealed.plaintext_size(name)
        self._pos = 0
        self._stream: Iterator[bytes] | None = None
        self._buf = b""  # the part of the current chunk not yet read
        self._stream_pos = 0  # plaintext offset of the end of what the stream has yielded

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        """Fill ``b`` as far as the file allows (never a short read before the end)."""
        view = memoryview(b).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            done += self._read_some(view[done:])
        return done

    def _read_some(self, view: memoryview) -> int:
        buf_start = self._stream_pos - len(self._buf)
        if self._stream is None or self._pos < buf_start:
            self._stream = self._sealed.read_stream(self._name)
            self._buf, self._stream_pos, buf_start = b"", 0, 0
        while self._pos >= self._stream_pos:  # skip forward to the chunk holding _pos
            try:
                self._buf = next(self._stream)
            except StopIteration:  # shorter than its size said: the file changed under us
                raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT) from None
            self._stream_pos += len(self._buf)
            buf_start = self._stream_pos - len(self._buf)
        start = self._pos - buf_start
        n = min(len(view), len(self._buf) - start)
        view[:n] = self._buf[start : start + n]
        self._pos += n
        return n


class _Exact:
    """Cuts an iterator of byte pieces into reads of exact lengths."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buf = bytearray()

    def take(self, n: int) -> bytes:
        while len(self._buf) < n:
            try:
                self._buf += next(self._pieces)
            except StopIteration:
                raise DecryptionFailed(Code.AGENT_STORAGE_CORRUPT) from None
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out
