"""The CPK frame: 16-byte fixed header, stream table, streams (little-endian throughout).

Layout (ConfidentialPackageSpecification ``file_format.md``, cpk crate ``package/frame/v1``)::

    magic u32 = 0x0ECCF00D | frame_version u16 = 1 | flags u16 = 0 | stream_count u16 |
    manifest_index u16 | manifest_type u16 = 1 | manifest_version u16 = 1
    stream table: stream_count x (offset u64, size u64), offsets relative to the origin
    origin = 16 + 16 * stream_count; streams follow, padding between them allowed

Two parsing modes, because a reviewer needs both. ``lenient`` makes exactly the prototype's
header checks, each with its own code, in the prototype's order, and nothing more: stream bounds
are discovered only when a stream is read (``CPK_TRUNCATED``), overlap and padding are accepted.
``strict`` adds what the prototype lacks: every stream inside the file, no two streams
overlapping, the stream count and every stream's size under a cap (a device that trusts the
table can otherwise be made to allocate 2^64 bytes). Neither mode ever allocates a stream's
size before checking that the bytes exist.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

import attrs

from edbp.errors import BlueprintError, Code

__all__ = [
    "ENTRY_SIZE",
    "HEADER_SIZE",
    "MAGIC",
    "Frame",
    "FrameHeader",
    "Limits",
    "StreamEntry",
    "encode_frame_prefix",
    "parse_frame",
]

MAGIC = 0x0ECCF00D
HEADER_SIZE = 16
ENTRY_SIZE = 16
_HEADER = struct.Struct("<IHHHHHH")
_ENTRY = struct.Struct("<QQ")


@attrs.frozen
class FrameHeader:
    """The 16 fixed bytes. Field names follow the Rust ``FixedHeader``."""

    stream_count: int
    manifest_index: int
    magic: int = MAGIC
    frame_version: int = 1
    flags: int = 0
    manifest_type: int = 1
    manifest_version: int = 1

    def encode(self) -> bytes:
        return _HEADER.pack(
            self.magic,
            self.frame_version,
            self.flags,
            self.stream_count,
            self.manifest_index,
            self.manifest_type,
            self.manifest_version,
        )

    @property
    def origin(self) -> int:
        """File offset of the first stream byte: stream offsets are relative to it."""
        return HEADER_SIZE + ENTRY_SIZE * self.stream_count


@attrs.frozen
class StreamEntry:
    """One stream-table row: offset relative to the origin, size in bytes (padding excluded)."""

    offset: int
    size: int

    def encode(self) -> bytes:
        return _ENTRY.pack(self.offset, self.size)


@attrs.frozen
class Limits:
    """Caps for ``strict`` parsing. The payload cap defaults to the CPM's 12 MiB buffer (nothing
    larger can install on a blueprint device); build and verify stream any size when the caller
    raises it. Metadata streams are small by construction, so 64 KiB is generous."""

    max_streams: int = 64
    max_payload: int = 12 * 1024 * 1024
    max_metadata: int = 64 * 1024


@attrs.frozen
class Frame:
    """A parsed frame: header, stream table and the length of the file it came from."""

    header: FrameHeader
    streams: tuple[StreamEntry, ...]
    file_size: int

    @property
    def origin(self) -> int:
        return self.header.origin

    def locate(self, index: int) -> tuple[int, int]:
        """(absolute file offset, size) of stream ``index``, after checking it lies in the file.

        This is the check every mode makes at read time (the prototype's ``read_exact`` fails
        the same way); ``strict`` makes it for every stream up front.
        """
        if not isinstance(index, int) or not 0 <= index < len(self.streams):
            raise BlueprintError(
                Code.CPK_MANIFEST_INVALID, f"stream index {index} not in the frame"
            )
        entry = self.streams[index]
        start = self.origin + entry.offset
        if start + entry.size > self.file_size:
            raise BlueprintError(Code.CPK_TRUNCATED, f"stream {index} ends beyond the file")
        return start, entry.size


def encode_frame_prefix(
    header: FrameHeader, streams: list[StreamEntry] | tuple[StreamEntry, ...]
) -> bytes:
    """Header and stream table bytes (what precedes the origin)."""
    return header.encode() + b"".join(e.encode() for e in streams)


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise BlueprintError(Code.CPK_TRUNCATED, "file ends inside the header or stream table")
    return data


def _file_size(f: BinaryIO) -> int:
    pos = f.tell()
    end = f.seek(0, os.SEEK_END)
    f.seek(pos)
    return end


def parse_frame(f: BinaryIO, *, strict: bool = False, limits: Limits = Limits()) -> Frame:
    """Parse header and stream table from ``f`` (seekable, positioned at the file start).

    ``strict=False`` is the prototype's parser; ``strict=True`` adds bounds, overlap and caps
    (the manifest stream is capped as metadata here; the package layer caps the other metadata
    streams once the manifest has said which they are).
    """
    size = _file_size(f)
    f.seek(0)
    raw = _read_exact(f, HEADER_SIZE)
    magic, version, flags, count, mindex, mtype, mversion = _HEADER.unpack(raw)
    # the prototype's checks, in its order
    if magic != MAGIC:
        raise BlueprintError(Code.CPK_BAD_MAGIC, f"magic {magic:#010x}")
    if version != 1:
        raise BlueprintError(Code.CPK_BAD_FRAME_VERSION, f"frame version {version}")
    if flags != 0:
        raise BlueprintError(Code.CPK_BAD_FLAGS, f"flags {flags:#06x}")
    if count == 0:
        raise BlueprintError(Code.CPK_NO_STREAMS)
    if mindex >= count:
        raise BlueprintError(Code.CPK_BAD_MANIFEST_INDEX, f"manifest index {mindex} >= {count}")
    if mtype != 1:
        raise BlueprintError(Code.CPK_BAD_MANIFEST_TYPE, f"manifest type {mtype}")
    if mversion != 1:
        raise BlueprintError(Code.CPK_BAD_MANIFEST_VERSION, f"manifest version {mversion}")
    header = FrameHeader(count, mindex, magic, version, flags, mtype, mversion)
    if strict and count > limits.max_streams:
        raise BlueprintError(Code.CPK_STREAM_TOO_LARGE, f"{count} streams > {limits.max_streams}")
    table = _read_exact(f, ENTRY_SIZE * count)
    streams = tuple(StreamEntry(*_ENTRY.unpack_from(table, i * ENTRY_SIZE)) for i in range(count))
    frame = Frame(header, streams, size)
    if strict:
        _strict_checks(frame, limits)
    return frame


def _strict_checks(frame: Frame, limits: Limits) -> None:
    body = frame.file_size - frame.origin
    for i, e in enumerate(frame.streams):
        if e.offset > body or e.size > body - e.offset:
            raise BlueprintError(Code.CPK_STREAM_OUT_OF_BOUNDS, f"stream {i} beyond the file")
        cap = limits.max_metadata if i == frame.header.manifest_index else limits.max_payload
        if e.size > cap:
            raise BlueprintError(Code.CPK_STREAM_TOO_LARGE, f"stream {i}: {e.size} bytes > {cap}")
    spans = sorted((e.offset, e.offset + e.size, i) for i, e in enumerate(frame.streams) if e.size)
    reach, owner = 0, -1  # furthest end seen so far and the stream that reaches it
    for start, end, i in spans:
        if start < reach:
            raise BlueprintError(Code.CPK_STREAM_OVERLAP, f"streams {owner} and {i} overlap")
        if end > reach:
            reach, owner = end, i
