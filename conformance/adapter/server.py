"""The device's side of the adapter protocol: a loop that answers frames with a backend.

``edbp device serve`` runs this loop over stdin/stdout or TCP with the reference device (or a
faulty variant) as the backend; a vendor's shim implements the same frames in front of its TA.
A backend refusal (``EdbpError``) becomes an error reply; any other exception is a device crash
and ends the loop, exactly what a crashing shim would do.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from typing import Any, Protocol

from edbp.conformance.adapter.framing import FrameReader, encode_frame
from edbp.conformance.adapter.messages import REQUESTS, check_reply, error_reply, ok_reply

from edbp.errors import AdapterError, Code, EdbpError


class Host(Protocol):
    """What a backend may ask of the harness during a request."""

    def fetch(self, uri: str) -> bytes: ...


class DeviceBackend(Protocol):
    """A device as the adapter sees it. ``handle`` raises EdbpError to refuse."""

    def handle(self, req: str, args: dict[str, Any], host: Host) -> Any: ...


class _StreamHost:
    def __init__(self, conn: _Conn) -> None:
        self._conn = conn
        self._ask_ids = 0

    def fetch(self, uri: str) -> bytes:
        self._ask_ids += 1
        aid = 1_000_000_000 + self._ask_ids
        self._conn.send({"id": aid, "ask": "fetch", "args": {"uri": uri}})
        item = self._conn.recv()
        if item is None:
            raise AdapterError(Code.ADAPTER_DEVICE_EXITED, "harness closed during fetch")
        reply = check_reply(item, aid)
        if not reply.ok:
            raise AdapterError(Code.AGENT_PAYLOAD_FETCH_FAILED, reply.msg)
        payload = reply.result.get("payload") if isinstance(reply.result, dict) else None
        if not isinstance(payload, bytes):
            raise AdapterError(Code.ADAPTER_MALFORMED_FRAME, "fetch reply without payload")
        return payload


class _Conn:
    def __init__(self, read: Callable[[int], bytes], write: Callable[[bytes], None]) -> None:
        self._read = read
        self._write = write
        self._reader = FrameReader()
        self._ready: list[Any] = []

    def send(self, item: Any) -> None:
        self._write(encode_frame(item))

    def recv(self) -> Any | None:
        while not self._ready:
            chunk = self._read(1 << 16)
            if not chunk:
                return None
            self._ready.extend(self._reader.feed(chunk))
        return self._ready.pop(0)


def serve_stream(
    read: Callable[[int], bytes], write: Callable[[bytes], None], backend: DeviceBackend
) -> None:
    """Answer frames until the harness closes the stream."""
    conn = _Conn(read, write)
    host = _StreamHost(conn)
    while True:
        try:
            item = conn.recv()
        except AdapterError as exc:  # a malformed frame: say so, then stop (framing is lost)
            conn.send(error_reply(None, exc.code, exc.detail))
            return
        if item is None:
            return
        rid = item.get("id") if isinstance(item, dict) else None
        req = item.get("req") if isinstance(item, dict) else None
        args = item.get("args", {}) if isinstance(item, dict) else None
        if not isinstance(rid, int) or not isinstance(req, str) or not isinstance(args, dict):
            conn.send(error_reply(rid, Code.ADAPTER_MALFORMED_FRAME, "not a request frame"))
            continue
        if req not in REQUESTS:
            conn.send(error_reply(rid, Code.ADAPTER_UNKNOWN_REQUEST, req[:64]))
            continue
        try:
            result = backend.handle(req, args, host)
        except EdbpError as exc:
            conn.send(error_reply(rid, exc.code, exc.detail))
            continue
        conn.send(ok_reply(rid, result))


def serve_socket(sock: socket.socket, backend: DeviceBackend) -> None:
    def read(n: int) -> bytes:
        try:
            return sock.recv(n)
        except OSError:
            return b""

    serve_stream(read, sock.sendall, backend)


def serve_stdio(backend: DeviceBackend) -> None:
    """Frames on fd 0/1; anything the device prints goes to stderr, never to stdout."""
    out_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints cannot corrupt the frame stream
    sys.stdout = sys.stderr

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(out_fd, view) :]

    serve_stream(lambda n: os.read(0, n), write, backend)


def serve_tcp(
    address: str,
    make_backend: Callable[[], DeviceBackend],
    ready: Callable[[str], None] | None = None,
    max_connections: int | None = None,
) -> None:
    """Listen on ``host:port`` (port 0 picks one, reported through ``ready``); one backend per
    connection, connections served one after another (a device is one board)."""
    host, _, port = address.rpartition(":")
    with socket.create_server((host.strip("[]") or "127.0.0.1", int(port or 0))) as server:
        bound = server.getsockname()
        if ready is not None:
            ready(f"{bound[0]}:{bound[1]}")
        served = 0
        while max_connections is None or served < max_connections:
            conn, _ = server.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with conn:
                serve_socket(conn, make_backend())
            served += 1


def builtin_serve(fault: str | None) -> Callable[[socket.socket], None]:
    """The in-process reference device (optionally with a seeded fault) as a socket server."""
    from edbp.conformance.reference_device import make_backend

    backend = make_backend(fault)
    return lambda sock: serve_socket(sock, backend)
