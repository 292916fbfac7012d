"""A device that hangs does not cost the lab an hour (issue 12 §3): after a timeout the harness
restarts the device once, never waits twice for it, attaches its last stderr lines, and every
case that needed the hung request is reported as an adapter error. Asserted on counts and
outcomes only; the timeouts are short so that the test stays quick, not as a speed claim."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path
from typing import Any

from edbp.conformance.adapter.server import serve_tcp
from edbp.conformance.reference_device import ReferenceDevice

from edbp.errors import AdapterError, Code

#: a device that answers everything like the reference device but hangs on every deliver; it
#: writes one line per start to ``starts`` (so the test counts restarts) and a last word on
#: stderr before it hangs
HANGING_DEVICE = """
import sys, time
from edbp.conformance.adapter.server import serve_stdio
from edbp.conformance.reference_device import ReferenceDevice

with open(sys.argv[1], "a") as f:
    f.write("start\\n")
with open(sys.argv[1]) as f:
    if len(sys.argv) > 2 and len(f.read().splitlines()) > 1:
        print("board did not come back after the restart", file=sys.stderr, flush=True)
        sys.exit(1)

class Hanging(ReferenceDevice):
    def req_deliver(self, args, host):
        print("hanging in deliver: a lock never freed", file=sys.stderr, flush=True)
        time.sleep(3600)

serve_stdio(Hanging())
"""

#: seconds per request: the hang costs this once per case; the honest requests before it
#: (provision, state) must fit in it on a loaded machine, and ``hello`` has its own allowance
REQUEST_TIMEOUT = 5.0

#: the cases below all deliver a TEEP message
FILES = ("test_freshness.py",)


def test_hung_device_is_restarted_once_per_case(tmp_path: Path, suite: Any) -> None:
    script = tmp_path / "hanging_device.py"
    script.write_text(HANGING_DEVICE)
    starts = tmp_path / "starts"
    device = f"{sys.executable} {script} {starts}"
    code, report = suite(tmp_path, device, "--tb=no", files=FILES, timeout=REQUEST_TIMEOUT)
    cases = report["cases"]
    assert code != 0 and len(cases) >= 6
    # every case hit the hang: an adapter error (not a divergence, not a pass) naming the
    # timeout and carrying the device's last stderr line
    assert {c["outcome"] for c in cases} == {"error"}, [(c["id"], c["outcome"]) for c in cases]
    for c in cases:
        assert "ADAPTER_TIMEOUT" in c["detail"] or "timeout" in c["detail"].lower(), c["detail"]
        assert "hanging in deliver" in c["detail"], c["detail"][-500:]
    # one start for the first case, then exactly one restart after each hung case (the last
    # one's device is only stopped): no case waited twice for a hung device, and no reset was
    # sent to one (that would have been a second wait, then a second restart)
    assert len(starts.read_text().splitlines()) == len(cases)


def test_device_that_fails_hello_after_restart_ends_the_run(tmp_path: Path, suite: Any) -> None:
    """The restarted device does not come back (no hello): the run ends at once with one
    clear error instead of failing every remaining case."""
    script = tmp_path / "hanging_device.py"
    script.write_text(HANGING_DEVICE)
    starts = tmp_path / "starts"
    device = f"{sys.executable} {script} {starts} once"
    code, report = suite(tmp_path, device, "--tb=no", files=FILES, timeout=REQUEST_TIMEOUT)
    assert code == 3  # pytest.exit from the device pool
    assert len(starts.read_text().splitlines()) == 2  # the first start and one restart
    assert len(report["cases"]) == 1  # only the case that hung ran


def test_hung_tcp_board_is_marked_down_at_once(tmp_path: Path, suite: Any) -> None:
    """A board behind TCP that hangs is not reached again (the harness cannot restart it):
    the case that hit the hang is an adapter error, and the run ends before the next case
    with exit status 3, having connected exactly once."""
    release = threading.Event()
    connections: list[int] = []

    class Hanging(ReferenceDevice):
        def req_deliver(self, args: Any, host: Any) -> Any:
            release.wait(120)  # hangs until the test ends (a safety net, never reached)
            raise AdapterError(Code.ADAPTER_DEVICE_ERROR, "released")

    def make() -> ReferenceDevice:
        connections.append(1)
        return Hanging()

    ready: list[str] = []
    bound = threading.Event()

    def on_ready(address: str) -> None:
        ready.append(address)
        bound.set()

    server = threading.Thread(
        target=serve_tcp,
        args=("127.0.0.1:0", make, on_ready, 2),
        kwargs={"idle_timeout": None, "frame_timeout": None},
        daemon=True,
    )
    server.start()
    assert bound.wait(30)
    try:
        code, report = suite(
            tmp_path, f"tcp:{ready[0]}", "--tb=no", files=FILES, timeout=REQUEST_TIMEOUT
        )
        reached = len(connections)
    finally:
        release.set()
        host, _, port = ready[0].rpartition(":")
        socket.create_connection((host, int(port)), 10).close()  # the server's last accept
        server.join(30)
    assert code == 3
    assert reached == 1  # marked down: never reached a second time
    cases = report["cases"]
    assert len(cases) == 1 and cases[0]["outcome"] == "error", cases
    assert "ADAPTER_TIMEOUT" in cases[0]["detail"] or "timeout" in cases[0]["detail"].lower()
