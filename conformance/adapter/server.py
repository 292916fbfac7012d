"""The device's side of the adapter protocol: a loop that answers frames with a backend.

``edbp device serve`` runs this loop over stdin/stdout or TCP with the reference device (or a
faulty variant) as the backend; a vendor's shim implements the same frames in front of its TA.
A backend refusal (``EdbpError``) becomes an error reply; any other exception is a device crash:
it gets an ``CONFORMANCE_DEVICE_FAULT`` reply and ends that session (over stdio, the process), as
a crashing shim would. A peer that resets, stalls or sends a malformed frame ends only its own
session: ``serve_tcp`` serves sessions concurrently, each with read timeouts and a frame bound.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from edbp.conformance.adapter.framing import MAX_FRAME, FrameReader, encode_frame
from edbp.conformance.adapter.messages import REQUESTS, check_reply, error_reply, ok_reply

from edbp.errors import AdapterError, Code, EdbpError


class Host(Protocol):
    """What a backend may ask of the harness during a request."""

    def fetch(self, uri: str) -> bytes: ...


class DeviceBackend(Protocol):
    """A device as the adapter sees it. ``handle`` raises EdbpError to refuse."""

    def handle(self, req: str, args: dict[str, Any], host: Host) -> Any: ...


#: a session that sends no request for this long is ended (with a coded frame) so that a silent
#: client cannot hold a server slot forever
DEFAULT_IDLE_TIMEOUT = 300.0
#: once a frame's first byte arrived, the whole frame must follow within this long (a client
#: announcing 64 MiB and sending a byte a minute is a stall, not a slow link)
DEFAULT_FRAME_TIMEOUT = 120.0
#: sessions served at once by ``serve_tcp``; one more connection gets CONFORMANCE_SERVER_BUSY
DEFAULT_MAX_SESSIONS = 32
#: the largest frame a server reads: the largest request (a fetch reply carrying a payload
#: above the reference device's 16 MiB ``max_payload``, so the device itself can refuse it) with
#: room to spare, and far below the protocol's 64 MiB so that 32 sessions stay bounded
SERVER_MAX_FRAME = 32 * 1024 * 1024


class _PeerGone(Exception):
    """The peer closed or reset the connection: no reply is possible, the session ends."""


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
    """One session's frames. A transport error (reset, broken pipe) marks the peer gone; a
    read that times out raises CONFORMANCE_SESSION_TIMEOUT. ``set_timeout`` (sockets only) bounds
    each read: the idle timeout between frames, what is left of the frame timeout inside one."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        write: Callable[[bytes], None],
        *,
        max_frame: int = MAX_FRAME,
        set_timeout: Callable[[float | None], None] | None = None,
        idle_timeout: float | None = None,
        frame_timeout: float | None = None,
    ) -> None:
        self._read = read
        self._write = write
        self._reader = FrameReader(max_frame)
        self._ready: list[Any] = []
        self._set_timeout = set_timeout
        self._idle = idle_timeout
        self._frame = frame_timeout
        self.gone = False

    def send(self, item: Any) -> None:
        if self.gone:
            raise _PeerGone
        try:
            self._write(encode_frame(item))
        except OSError:
            self.gone = True
            raise _PeerGone from None

    def recv(self) -> Any | None:
        """The next frame's item, or None at end of stream."""
        if self.gone:
            raise _PeerGone
        frame_deadline: float | None = None
        while not self._ready:
            if self._set_timeout is not None:
                if self._reader.pending:
                    if frame_deadline is None:
                        frame_deadline = time.monotonic() + (self._frame or 0.0)
                    remaining = frame_deadline - time.monotonic() if self._frame else None
                    if remaining is not None and remaining <= 0:
                        raise AdapterError(Code.CONFORMANCE_SESSION_TIMEOUT, "frame not completed")
                    self._set_timeout(remaining)
                else:
                    self._set_timeout(self._idle)
            try:
                chunk = self._read(1 << 16)
            except TimeoutError:
                what = "frame not completed" if self._reader.pending else "no request"
                raise AdapterError(Code.CONFORMANCE_SESSION_TIMEOUT, what) from None
            except OSError:
                self.gone = True
                raise _PeerGone from None
            if not chunk:
                return None
            self._ready.extend(self._reader.feed(chunk))
        return self._ready.pop(0)


def _crash(exc: BaseException) -> str:
    """A backend's unexpected exception: its traceback goes to stderr (the harness attaches a
    device's stderr to the failed case); the reply names only its type."""
    traceback.print_exception(exc, file=sys.stderr)
    return f"device fault: {type(exc).__name__}"


def serve_stream(
    read: Callable[[int], bytes],
    write: Callable[[bytes], None],
    backend: DeviceBackend,
    **conn_options: Any,
) -> None:
    """Answer frames until the harness closes the stream. Never raises for anything the peer
    or the backend does: a refusal is an error reply and the session goes on; a malformed or
    stalled frame, or a backend crash, gets a coded error reply (if the peer can still read
    one) and ends the session; a reset or broken pipe ends it silently."""
    conn = _Conn(read, write, **conn_options)
    try:
        _serve(conn, backend)
    except _PeerGone:
        return


def _serve(conn: _Conn, backend: DeviceBackend) -> None:
    host = _StreamHost(conn)
    while True:
        try:
            item = conn.recv()
        except AdapterError as exc:  # a malformed or stalled frame: say so, then stop
            conn.send(error_reply(None, exc.code, exc.detail))
            return
        if item is None:
            return
        rid = item.get("id") if isinstance(item, dict) else None
        req = item.get("req") if isinstance(item, dict) else None
        args = item.get("args", {}) if isinstance(item, dict) else None
        if not isinstance(rid, int) or not isinstance(req, str) or not isinstance(args, dict):
            conn.send(error_reply(_plain_id(rid), Code.ADAPTER_MALFORMED_FRAME, "not a request"))
            continue
        if req not in REQUESTS:
            conn.send(error_reply(rid, Code.ADAPTER_UNKNOWN_REQUEST, req[:64]))
            continue
        try:
            result = backend.handle(req, args, host)
        except EdbpError as exc:
            if conn.gone:
                return
            conn.send(error_reply(rid, exc.code, exc.detail))
            continue
        except _PeerGone:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            if conn.gone:
                return
            conn.send(error_reply(rid, Code.CONFORMANCE_DEVICE_FAULT, _crash(exc)))
            return
        if conn.gone:
            return
        try:
            frame = ok_reply(rid, result)
            conn.send(frame)
        except AdapterError as exc:  # a result that cannot be framed (too large, not CBOR)
            conn.send(error_reply(rid, exc.code, exc.detail))
        except _PeerGone:
            raise
        except Exception as exc:
            conn.send(error_reply(rid, Code.CONFORMANCE_DEVICE_FAULT, _crash(exc)))
            return


def _plain_id(rid: Any) -> int | None:
    """The id to echo in an error reply: only a request-id (uint32), else null."""
    if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid <= 0xFFFFFFFF:
        return rid
    return None


def serve_socket(
    sock: socket.socket,
    backend: DeviceBackend,
    *,
    idle_timeout: float | None = None,
    frame_timeout: float | None = None,
    max_frame: int = MAX_FRAME,
) -> None:
    """One session on a connected socket. With ``idle_timeout``/``frame_timeout`` a stalled
    peer ends its session (CONFORMANCE_SESSION_TIMEOUT) instead of holding the server."""
    timed = idle_timeout is not None or frame_timeout is not None
    serve_stream(
        sock.recv,
        sock.sendall,
        backend,
        max_frame=max_frame,
        set_timeout=sock.settimeout if timed else None,
        idle_timeout=idle_timeout,
        frame_timeout=frame_timeout,
    )


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


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``; an empty host is loopback) or CONFORMANCE_SERVE_ADDRESS."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise AdapterError(Code.CONFORMANCE_SERVE_ADDRESS, f"not HOST:PORT: {address[:80]!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def listen(address: str) -> socket.socket:
    """A listening socket on ``address``; every failure is CONFORMANCE_SERVE_ADDRESS."""
    host, port = parse_address(address)
    try:
        return socket.create_server((host, port))
    except (OSError, UnicodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise AdapterError(
            Code.CONFORMANCE_SERVE_ADDRESS, f"cannot listen on {address[:80]}: {reason}"
        ) from None


def serve_tcp(
    address: str,
    make_backend: Callable[[], DeviceBackend],
    ready: Callable[[str], None] | None = None,
    max_connections: int | None = None,
    *,
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    frame_timeout: float | None = DEFAULT_FRAME_TIMEOUT,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    max_frame: int = SERVER_MAX_FRAME,
) -> None:
    """Listen on ``host:port`` (port 0 picks one, reported through ``ready``); one backend per
    connection (each session is a fresh board), up to ``max_sessions`` sessions at once on
    their own threads, so that one stalled client never delays another. After
    ``max_connections`` connections the server stops accepting and returns once they end."""
    sessions = threading.BoundedSemaphore(max_sessions)
    threads: list[threading.Thread] = []

    def session(conn: socket.socket) -> None:
        try:
            with conn:
                try:
                    backend = make_backend()
                except Exception as exc:
                    _refuse(conn, Code.CONFORMANCE_DEVICE_FAULT, _crash(exc))
                    return
                serve_socket(
                    conn,
                    backend,
                    idle_timeout=idle_timeout,
                    frame_timeout=frame_timeout,
                    max_frame=max_frame,
                )
        finally:
            sessions.release()

    with listen(address) as server:
        bound = server.getsockname()
        if ready is not None:
            ready(f"{bound[0]}:{bound[1]}")
        served = 0
        while max_connections is None or served < max_connections:
            try:
                conn, _ = server.accept()
            except OSError:  # the peer gave up before accept, or fds ran out: go on
                time.sleep(0.01)
                continue
            served += 1
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            if not sessions.acquire(blocking=False):
                with conn:
                    _refuse(conn, Code.CONFORMANCE_SERVER_BUSY, f"{max_sessions} sessions open")
                continue
            thread = threading.Thread(target=session, args=(conn,), daemon=True)
            threads = [t for t in threads if t.is_alive()]
            threads.append(thread)
            thread.start()
        for thread in threads:
            thread.join()


def _refuse(conn: socket.socket, code: Code, msg: str) -> None:
    """A coded error frame to a connection the server will not serve, then close."""
    try:
        conn.settimeout(5.0)
        conn.sendall(encode_frame(error_reply(None, code, msg)))
    except OSError:
        pass


def builtin_serve(fault: str | None, own_keys: bool = False) -> Callable[[socket.socket], None]:
    """The in-process reference device (optionally with a seeded fault, or as a vendor board
    keeping its own keys) as a socket server."""
    from edbp.conformance.reference_device import make_backend

    backend = make_backend(fault, own_keys)
    own_loop = getattr(backend, "serve_socket", None)  # a faulty shim's own loop (faults.py)
    if own_loop is not None:
        return lambda sock: own_loop(sock)
    return lambda sock: serve_socket(sock, backend)
