"""Byte transports for adapter frames: subprocess pipes, TCP, and an in-process thread.

Every transport offers the same blocking ``send``/``recv(timeout)``. A device that does not
answer in time raises ``ADAPTER_TIMEOUT``; one that exits raises ``ADAPTER_DEVICE_EXITED`` with
the tail of its stderr, so a hung or crashed device becomes a failed case, never a hung run.
"""

from __future__ import annotations

import collections
import os
import selectors
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from edbp.conformance.adapter.framing import FrameReader, encode_frame

from edbp.errors import AdapterError, Code

_STDERR_TAIL = 64 * 1024


class Transport(Protocol):
    """What the client needs from a connection to a device."""

    name: str

    def send(self, item: Any) -> None: ...

    def recv(self, timeout: float) -> Any: ...

    def close(self) -> None: ...

    def stderr_tail(self) -> str: ...


class _FdTransport:
    """Shared logic: frames over a readable fd and a write callable, with a deadline."""

    name = "fd"

    def __init__(self, read_fd: int, write: Callable[[bytes], None]) -> None:
        self._read_fd = read_fd
        self._write = write
        self._reader = FrameReader()
        self._ready: collections.deque[Any] = collections.deque()
        self._selector = selectors.DefaultSelector()
        self._selector.register(read_fd, selectors.EVENT_READ)
        self._closed = False

    def send(self, item: Any) -> None:
        data = encode_frame(item)
        try:
            self._write(data)
        except (BrokenPipeError, ConnectionError, OSError):
            raise AdapterError(Code.ADAPTER_DEVICE_EXITED, self._exit_detail()) from None

    def recv(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while not self._ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AdapterError(Code.ADAPTER_TIMEOUT, f"no answer within {timeout:g} s")
            if not self._selector.select(remaining):
                continue
            try:
                chunk = os.read(self._read_fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                raise AdapterError(Code.ADAPTER_DEVICE_EXITED, self._exit_detail())
            self._ready.extend(self._reader.feed(chunk))
        return self._ready.popleft()

    def _exit_detail(self) -> str:
        tail = self.stderr_tail().strip()
        return "device closed the connection" + (f"; stderr: {tail[-2000:]}" if tail else "")

    def stderr_tail(self) -> str:
        return ""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._selector.close()


class SubprocessTransport(_FdTransport):
    """A device behind a command: frames on its stdin/stdout, its stderr kept for reports."""

    def __init__(self, command: str | list[str], env: dict[str, str] | None = None) -> None:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            raise AdapterError(Code.CONFORMANCE_CONFIG, "empty device command")
        self.name = " ".join(argv)
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                bufsize=0,
            )
        except OSError as exc:
            raise AdapterError(
                Code.ADAPTER_DEVICE_EXITED, f"cannot start {argv[0]!r}: {exc.strerror}"
            ) from None
        assert self._proc.stdin and self._proc.stdout and self._proc.stderr
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_size = 0
        self._stderr_lock = threading.Lock()
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        stdin = self._proc.stdin

        def write(data: bytes) -> None:
            stdin.write(data)
            stdin.flush()

        super().__init__(self._proc.stdout.fileno(), write)

    def _drain_stderr(self) -> None:
        stream = self._proc.stderr
        assert stream is not None
        fd = stream.fileno()
        for line in iter(lambda: os.read(fd, 4096), b""):
            with self._stderr_lock:
                self._stderr.append(line)
                self._stderr_size += len(line)
                while self._stderr_size > _STDERR_TAIL and len(self._stderr) > 1:
                    self._stderr_size -= len(self._stderr.popleft())

    def _exit_detail(self) -> str:
        # the device's last words arrive on stderr a moment after stdout closes
        try:
            code = self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr_thread.join(timeout=1)
        detail = super()._exit_detail()
        return detail if code is None else f"exit status {code}; {detail}"

    def stderr_tail(self) -> str:
        with self._stderr_lock:
            return b"".join(self._stderr).decode("utf-8", "replace")

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    def kill(self) -> None:
        """Stop a hung device at once (no grace period: it already failed to answer)."""
        if self._proc.poll() is None:
            self._proc.kill()

    def close(self) -> None:
        super().close()
        for stream in (self._proc.stdin, self._proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=3)


class TcpTransport(_FdTransport):
    """A device listening on a TCP address (``host:port``)."""

    def __init__(self, address: str, connect_timeout: float = 10.0) -> None:
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise AdapterError(
                Code.CONFORMANCE_CONFIG, f"TCP address must be host:port: {address!r}"
            )
        self.name = f"tcp:{address}"
        try:
            self._sock = socket.create_connection((host.strip("[]"), int(port)), connect_timeout)
        except OSError as exc:
            raise AdapterError(
                Code.ADAPTER_DEVICE_EXITED, f"cannot connect to {address}: {exc}"
            ) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(self._sock.fileno(), self._sock.sendall)

    def close(self) -> None:
        super().close()
        self._sock.close()


class InProcessTransport(_FdTransport):
    """The device's server loop on a thread of this process, over a socket pair.

    The frames cross a real socket, so the in-process device exercises exactly the code path
    of the subprocess and TCP adapters.
    """

    def __init__(self, serve: Callable[[socket.socket], None], name: str = "in-process") -> None:
        self.name = name
        self._sock, peer = socket.socketpair()
        self._thread = threading.Thread(target=self._run, args=(serve, peer), daemon=True)
        self._thread.start()
        super().__init__(self._sock.fileno(), self._sock.sendall)

    @staticmethod
    def _run(serve: Callable[[socket.socket], None], peer: socket.socket) -> None:
        try:
            serve(peer)
        finally:
            peer.close()

    def close(self) -> None:
        super().close()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(timeout=5)


def _builtin_options(spec: str, opts: list[str]) -> tuple[tuple[str, str] | None, bool]:
    """``vendor=DOMAIN,class=NAME,keys=own`` options of a builtin spec: the reference device
    standing in for another vendor's board (its vendor_id/class_id derived from them; with
    ``keys=own`` it keeps its own DAK/DSK/UEID across resets and offers no ``test-keys``).
    Returns (the ids' domain and class name or None, own keys)."""
    if not opts:
        return None, False
    values = dict(o.partition("=")[::2] for o in opts)
    if (
        set(values) - {"vendor", "class", "keys"}
        or not all(values.values())
        or values.get("keys", "own") != "own"
    ):
        raise AdapterError(
            Code.CONFORMANCE_CONFIG,
            f"{spec!r}: builtin options are vendor=DOMAIN, class=NAME and keys=own, "
            "comma-separated",
        )
    own_keys = values.pop("keys", None) == "own"
    if not values:
        return None, own_keys
    return (values.get("vendor", "example.com"), values.get("class", "reference-device")), own_keys


def open_transport(spec: str) -> Transport:
    """``tcp:HOST:PORT``, ``builtin`` / ``builtin:FAULT`` (in-process reference device;
    ``,vendor=DOMAIN,class=NAME`` gives it another vendor's identity, ``,keys=own`` makes it
    a board keeping its own keys, with no ``test-keys``),
    ``blueprint:as-published`` / ``blueprint:fixed`` (in-process blueprint CPM), or a command
    line run as a subprocess."""
    if spec.startswith("tcp:"):
        return TcpTransport(spec[4:])
    if spec.startswith("blueprint:") or spec == "blueprint":
        from edbp.conformance.blueprint_device import blueprint_serve

        behaviour = spec.partition(":")[2] or "as-published"
        return InProcessTransport(blueprint_serve(behaviour), name=spec)
    if spec == "builtin" or spec.startswith(("builtin:", "builtin,")):
        from edbp.conformance.adapter.server import builtin_serve
        from edbp.conformance.reference_device import identity, identity_for

        head, *opts = spec.split(",")
        fault = head.partition(":")[2] or None
        ids, own_keys = _builtin_options(spec, opts)
        if ids is None:
            return InProcessTransport(builtin_serve(fault, own_keys), name=spec)
        with identity(*identity_for(*ids)):
            return InProcessTransport(builtin_serve(fault, own_keys), name=spec)
    return SubprocessTransport(spec)
