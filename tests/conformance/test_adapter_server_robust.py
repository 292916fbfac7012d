"""The adapter server under clients that misbehave (issue 16, "Servers").

Each test drives a real ``edbp device serve --tcp`` process (or ``serve_tcp`` on a thread when
the backend must be a test double) over real sockets. What is asserted: a session's failure
ends that session only, with a coded error frame where a reply is still possible, and the
server keeps answering the next client. No assertion is about speed: every wait below is a
generous safety net for a loaded machine, and the stall tests give the server an idle timeout
(``STALL``) far above what any well-behaved client needs, and wait for the event it causes.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from edbp.conformance.adapter.server import serve_tcp
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_key import CoseKey

from edbp.errors import Code

from .conftest import SERVE, Peer

#: safety net for one blocking socket operation (never reached unless the server is broken)
NET = 60.0
#: the idle timeout of the stall tests: they wait for it once; no well-behaved client of a
#: loaded machine is ever silent this long between connecting and its first request
STALL = "10"


class Server:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*SERVE, "device", "serve", "--tcp", "127.0.0.1:0", *args],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        assert line.startswith("listening on "), line
        self.address = line.split()[-1]

    def alive_and_answering(self) -> bool:
        peer = Peer(self.address)
        try:
            reply = peer.call("hello", {"version": 1, "harness": "test"}, rid=7)
            return self.proc.poll() is None and reply is not None and reply["ok"] is True
        finally:
            peer.close()

    def stop(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate(timeout=NET)
        return err


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    try:
        yield srv
    finally:
        srv.stop()


def _expect_error(reply: Any, code: Code) -> None:
    assert isinstance(reply, dict) and reply["ok"] is False, reply
    assert reply["code"] == int(code), reply


def test_reset_after_request_ends_only_that_session(server: Server) -> None:
    for _ in range(5):
        peer = Peer(server.address)
        peer.send({"id": 1, "req": "identity", "args": {}})
        peer.reset()
    assert server.alive_and_answering()


def test_malformed_provision_argument_is_coded(server: Server) -> None:
    peer = Peer(server.address)
    floors = [{"component": [[b"a"]], "sequence": 1}]  # a list inside a component id
    _expect_error(
        peer.call("provision", {"tam_keys": [], "author_keys": [], "floors": floors}),
        Code.ADAPTER_MALFORMED_FRAME,
    )
    # the same session goes on
    assert peer.call("state", rid=2)["ok"] is True
    peer.close()
    assert server.alive_and_answering()


@pytest.mark.parametrize(
    "floor",
    [
        {"component": [1, 2], "sequence": 1},  # integer component ids
        {"component": [b"a"], "sequence": 1, "ta_version": "x"},
        {"component": [], "sequence": 1},  # an empty component
        {"component": [b"a"], "sequence": True},
        {"component": [b"a"], "sequence": 1, "ta_version": -1},
        {"sequence": 1},
    ],
    ids=["int-ids", "ta-version-text", "empty-component", "bool-sequence", "negative", "no-id"],
)
def test_malformed_floors_are_refused(server: Server, floor: dict[str, Any]) -> None:
    peer = Peer(server.address)
    reply = peer.call("provision", {"tam_keys": [], "author_keys": [], "floors": [floor]})
    _expect_error(reply, Code.ADAPTER_MALFORMED_FRAME)
    peer.close()


@pytest.mark.parametrize(
    "args",
    [
        {"tam_keys": [], "author_keys": [], "test_keys": {"dak": 5}},
        {"tam_keys": [], "author_keys": [], "test_keys": {"ueid": "text"}},
        {"tam_keys": [], "author_keys": [], "test_keys": []},
        {"tam_keys": [[]], "author_keys": []},
        {"tam_keys": [], "author_keys": [], "ta_keys": "x"},
    ],
)
def test_malformed_provision_shapes_are_refused(server: Server, args: dict[str, Any]) -> None:
    peer = Peer(server.address)
    _expect_error(peer.call("provision", args), Code.ADAPTER_MALFORMED_FRAME)
    peer.close()
    assert server.alive_and_answering()


def test_power_cut_armed_before_provision(server: Server) -> None:
    peer = Peer(server.address)
    assert peer.call("power_cut", {"at": 1})["ok"] is True
    dak = CoseKey.generate(Curve.P256)
    args = {"tam_keys": [], "author_keys": [], "test_keys": {"dak": dak.encode()}}
    _expect_error(peer.call("provision", args, rid=2), Code.CONFORMANCE_POWER_LOST)
    # the device rebooted and answers on the same session
    assert peer.call("state", rid=3)["ok"] is True
    peer.close()
    assert server.alive_and_answering()


def test_silent_client_does_not_block_others_and_is_timed_out() -> None:
    srv = Server("--idle-timeout", STALL)
    try:
        silent = Peer(srv.address)
        assert srv.alive_and_answering()  # served while the first one is connected and silent
        # the silent session ends with a coded error frame, then EOF
        _expect_error(silent.recv(), Code.CONFORMANCE_SESSION_TIMEOUT)
        assert silent.recv() is None
        silent.close()
    finally:
        srv.stop()


def test_announced_frame_never_sent_does_not_block_others() -> None:
    srv = Server("--idle-timeout", STALL)
    try:
        staller = Peer(srv.address)
        staller.sock.sendall((64 * 1024 * 1024).to_bytes(4, "big") + b"\xa0")
        assert srv.alive_and_answering()
        reply = staller.recv()
        assert isinstance(reply, dict) and reply["ok"] is False
        assert reply["code"] in (
            int(Code.ADAPTER_FRAME_TOO_LARGE),
            int(Code.CONFORMANCE_SESSION_TIMEOUT),
        )
        staller.close()
    finally:
        srv.stop()


def test_oversized_frame_is_refused_before_it_is_read(server: Server) -> None:
    peer = Peer(server.address)
    peer.sock.sendall((0xFFFFFFFF).to_bytes(4, "big"))
    _expect_error(peer.recv(), Code.ADAPTER_FRAME_TOO_LARGE)
    assert peer.recv() is None
    peer.close()
    assert server.alive_and_answering()


def test_bad_address_is_one_coded_line() -> None:
    for address in ("nonsense", "127.0.0.1:notaport", "127.0.0.1:99999", "no.such.host.invalid:1"):
        res = subprocess.run(
            [*SERVE, "device", "serve", "--tcp", address],
            capture_output=True,
            text=True,
            timeout=NET,
        )
        assert res.returncode == 3, (address, res.stderr)  # device/config error (README)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
        assert str(int(Code.CONFORMANCE_SERVE_ADDRESS)) in lines[0], lines[0]


class _FetchingBackend:
    """Asks the harness for a payload inside every request (as a deliver does)."""

    fetched = threading.Event()

    def handle(self, req: str, args: dict[str, Any], host: Any) -> Any:
        if req == "hello":
            return {"version": 1}
        self.fetched.set()
        return {"payload": len(host.fetch("oci://x"))}


def test_client_gone_during_fetch_ends_only_that_session() -> None:
    ready = threading.Event()
    address: list[str] = []

    def on_ready(addr: str) -> None:
        address.append(addr)
        ready.set()

    thread = threading.Thread(
        target=serve_tcp,
        args=("127.0.0.1:0", _FetchingBackend),
        kwargs={"ready": on_ready, "max_connections": 4},
        daemon=True,
    )
    thread.start()
    assert ready.wait(NET)
    for closer in ("reset", "close"):
        peer = Peer(address[0])
        peer.send({"id": 1, "req": "deliver", "args": {}})
        ask = peer.recv()
        assert ask is not None and ask["ask"] == "fetch"
        getattr(peer, closer)()
    # a broken pipe or reset did not end the server: the next sessions are answered
    for _ in range(2):
        peer = Peer(address[0])
        assert peer.call("hello")["ok"] is True
        peer.close()
    thread.join(NET)
    assert not thread.is_alive()
