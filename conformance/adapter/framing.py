"""Adapter framing: a 4-byte big-endian length, then exactly one CBOR data item.

Sans-I/O: ``FrameReader`` is fed bytes from whatever transport and yields decoded items, so the
same code frames stdin/stdout pipes, TCP streams and the in-process loop. A frame longer than
``MAX_FRAME`` is refused before any of it is buffered (a device cannot exhaust the harness's
memory, nor the harness the device's).
"""

from __future__ import annotations

from typing import Any

from edbp.reference.wire import cbor

from edbp.errors import AdapterError, Code, WireError

MAX_FRAME = 64 * 1024 * 1024
#: adapter.md keeps the strict option of protocol §5 (edbp's own protocol, one implementation
#: of each side): deterministic encoding required
_ADAPTER_LIMITS = cbor.Limits(
    max_size=MAX_FRAME, max_depth=24, deterministic=True, allow_indefinite=False
)


def encode_frame(item: Any) -> bytes:
    body: bytes = cbor.dumps(item)
    if len(body) > MAX_FRAME:
        raise AdapterError(Code.ADAPTER_FRAME_TOO_LARGE, f"frame of {len(body)} bytes")
    return len(body).to_bytes(4, "big") + body


def decode_body(body: bytes) -> Any:
    try:
        return cbor.loads(body, _ADAPTER_LIMITS)
    except WireError as exc:
        raise AdapterError(Code.ADAPTER_MALFORMED_FRAME, f"{exc.code.name}: {exc.detail}") from None


class FrameReader:
    """Accumulates bytes and returns complete frames' items, in order."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        items: list[Any] = []
        while len(self._buf) >= 4:
            size = int.from_bytes(self._buf[:4], "big")
            if size > self._max:
                raise AdapterError(Code.ADAPTER_FRAME_TOO_LARGE, f"frame of {size} bytes announced")
            if len(self._buf) < 4 + size:
                break
            body = bytes(self._buf[4 : 4 + size])
            del self._buf[: 4 + size]
            items.append(decode_body(body))
        return items

    @property
    def pending(self) -> int:
        return len(self._buf)
