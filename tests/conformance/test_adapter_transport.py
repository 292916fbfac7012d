"""Adapter framing and transports, against a small test-local backend on every transport."""

from __future__ import annotations

import socket
import sys
import textwrap
import threading
from typing import Any

import pytest
from edbp.conformance.adapter import (
    DeviceClient,
    FrameReader,
    InProcessTransport,
    SubprocessTransport,
    TcpTransport,
    encode_frame,
)
from edbp.conformance.adapter.client import DeviceError
from edbp.conformance.adapter.server import serve_socket, serve_tcp

from edbp.errors import AdapterError, Code, ProtocolError

BACKEND_SRC = textwrap.dedent(
    """
    from edbp.errors import Code, ProtocolError

    class EchoBackend:
        def handle(self, req, args, host):
            if req == "hello":
                return {"version": 1, "name": "echo", "profiles": ["edbp"], "suites": [],
                        "capabilities": []}
            if req == "deliver":
                if args.get("message") == b"bad":
                    raise ProtocolError(Code.AGENT_UNEXPECTED_MESSAGE, "refused")
                if args.get("message") == b"crash":
                    raise RuntimeError("device crashed")
                if args.get("message") == b"hang":
                    import threading; threading.Event().wait()  # never answers
                payload = host.fetch("reg://x") if args.get("message") == b"fetch" else b""
                return {"replies": [args["message"] + payload]}
            return {}
    """
)
namespace: dict[str, Any] = {}
exec(compile(BACKEND_SRC, "echo_backend", "exec"), namespace)
EchoBackend = namespace["EchoBackend"]


def _inprocess() -> InProcessTransport:
    return InProcessTransport(lambda sock: serve_socket(sock, EchoBackend()))


def _subprocess() -> SubprocessTransport:
    serve = (
        "\nfrom edbp.conformance.adapter.server import serve_stdio\n"
        "serve_stdio(EchoBackend())\n"
    )
    code = BACKEND_SRC + serve
    return SubprocessTransport([sys.executable, "-c", code])


def _tcp() -> TcpTransport:
    ready: list[str] = []
    event = threading.Event()

    def on_ready(addr: str) -> None:
        ready.append(addr)
        event.set()

    threading.Thread(
        target=serve_tcp, args=("127.0.0.1:0", EchoBackend, on_ready, 1), daemon=True
    ).start()
    assert event.wait(60)  # safety net only
    return TcpTransport(ready[0])


TRANSPORTS = {"inprocess": _inprocess, "subprocess": _subprocess, "tcp": _tcp}


@pytest.fixture(params=sorted(TRANSPORTS))
def client(request: pytest.FixtureRequest) -> Any:
    c = DeviceClient(TRANSPORTS[request.param](), timeout=60, fetch=lambda uri: b"+" + uri.encode())
    yield c
    c.close()


def test_hello_and_round_trip(client: DeviceClient) -> None:
    info = client.hello()
    assert info.name == "echo" and info.profiles == ("edbp",)
    assert client.call("deliver", {"message": b"abc"}) == {"replies": [b"abc"]}


def test_device_asks_for_a_payload_mid_request(client: DeviceClient) -> None:
    assert client.call("deliver", {"message": b"fetch"}) == {"replies": [b"fetch+reg://x"]}


def test_refusal_carries_its_code(client: DeviceClient) -> None:
    with pytest.raises(DeviceError) as exc:
        client.call("deliver", {"message": b"bad"})
    assert exc.value.code is Code.AGENT_UNEXPECTED_MESSAGE
    client.call("reset")  # the connection survives a refusal


def test_unknown_request_is_refused(client: DeviceClient) -> None:
    with pytest.raises(DeviceError) as exc:
        client.call("format_disk")
    assert exc.value.code is Code.ADAPTER_UNKNOWN_REQUEST


def test_crashed_subprocess_device_is_reported_with_stderr() -> None:
    """A crash inside a request gets a coded reply (872, an adapter fault to the harness; the
    frame stream is still intact), then the session ends: over stdio the process exits, and
    its traceback is in the report."""
    client = DeviceClient(_subprocess(), timeout=60)
    try:
        with pytest.raises(AdapterError) as fault:
            client.call("deliver", {"message": b"crash"})
        assert fault.value.code is Code.CONFORMANCE_DEVICE_FAULT
        assert "RuntimeError" in fault.value.detail
        with pytest.raises(AdapterError) as exc:
            client.call("hello")
        assert exc.value.code is Code.ADAPTER_DEVICE_EXITED
        assert "device crashed" in exc.value.detail
    finally:
        client.close()


def test_hung_device_times_out() -> None:
    # the device never answers "hang", so 0.5 s cannot be too short however loaded the machine
    client = DeviceClient(_subprocess(), timeout=0.5)
    try:
        with pytest.raises(AdapterError) as exc:
            client.call("deliver", {"message": b"hang"})
        assert exc.value.code is Code.ADAPTER_TIMEOUT
    finally:
        client.close()


def test_missing_command_is_a_clear_error() -> None:
    with pytest.raises(AdapterError) as exc:
        SubprocessTransport("no-such-edbp-shim-binary --stdio")
    assert exc.value.code is Code.ADAPTER_DEVICE_EXITED


def test_frame_reader_splits_and_joins() -> None:
    data = encode_frame({"a": 1}) + encode_frame([1, 2])
    reader = FrameReader()
    items = []
    for i in range(len(data)):
        items += reader.feed(data[i : i + 1])
    assert items == [{"a": 1}, [1, 2]]


def test_oversize_announcement_refused_before_buffering() -> None:
    with pytest.raises(AdapterError) as exc:
        FrameReader(max_frame=16).feed((17).to_bytes(4, "big"))
    assert exc.value.code is Code.ADAPTER_FRAME_TOO_LARGE


def test_garbage_body_is_malformed_frame() -> None:
    with pytest.raises(AdapterError) as exc:
        FrameReader().feed(b"\x00\x00\x00\x02\xa1\x01")
    assert exc.value.code is Code.ADAPTER_MALFORMED_FRAME


def test_server_answers_garbage_then_closes() -> None:
    a, b = socket.socketpair()
    t = threading.Thread(target=serve_socket, args=(b, EchoBackend()), daemon=True)
    t.start()
    a.sendall(b"\x00\x00\x00\x01\xff")
    reader = FrameReader()
    reply = reader.feed(a.recv(4096))
    assert reply[0]["code"] == int(Code.ADAPTER_MALFORMED_FRAME)
    t.join(5)
    assert not t.is_alive()
    a.close()
    b.close()
    assert ProtocolError  # the backend's refusal type is importable for shims
