"""Fixtures of the conformance tests: run the suite in this process (``pytest.main`` with the
CLI's arguments) and read its JSON report; the reference device as a serve command."""

from __future__ import annotations

import json
import shlex
import socket
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from edbp.conformance.adapter.framing import FrameReader, encode_frame

from edbp.cli import conformance as cli_conformance

#: the reference device as a subprocess speaking the adapter protocol on stdin/stdout
SERVE = [sys.executable, "-c", "import sys; from edbp.cli import main; sys.exit(main())"]


def serve_command(*args: str) -> str:
    return shlex.join([*SERVE, "device", "serve", *args])


def run_suite(
    tmp_path: Path,
    device: str,
    *extra: str,
    name: str = "report",
    files: tuple[str, ...] = (),
    **options: Any,
) -> tuple[int, dict[str, Any]]:
    """Exit status and JSON report of one run of the suite against ``device``; ``files``
    (case module names) restricts collection to those modules, to keep runs short."""
    report = tmp_path / f"{name}.json"
    args = cli_conformance.build_pytest_args([device], json_out=str(report), **options) + list(
        extra
    )
    if files:
        cases = Path(args[0])
        args[:1] = [str(cases / f) for f in files]
    code = int(pytest.main(args))
    data = json.loads(report.read_text()) if report.exists() else {"cases": []}
    return code, data


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {c["nodeid"]: c["outcome"] for c in report["cases"]}


@pytest.fixture(scope="session")
def suite() -> Any:
    """``suite(tmp_path, device, *pytest_args, **cli_options) -> (exit status, report)``."""
    return run_suite


@pytest.fixture(scope="session")
def serve_argv() -> list[str]:
    """argv prefix running ``edbp`` with this interpreter (no reliance on PATH)."""
    return list(SERVE)


#: safety net for one blocking socket operation of a raw peer (never reached unless the
#: server is broken)
PEER_TIMEOUT = 60.0


class Peer:
    """A raw adapter client: frames out, frames in, nothing more (so it can misbehave)."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=PEER_TIMEOUT)
        self.reader = FrameReader()
        self.ready: list[Any] = []

    def send(self, item: Any) -> None:
        self.sock.sendall(encode_frame(item))

    def recv(self) -> Any | None:
        while not self.ready:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            self.ready.extend(self.reader.feed(chunk))
        return self.ready.pop(0)

    def call(self, req: str, args: dict[str, Any] | None = None, rid: int = 1) -> Any:
        self.send({"id": rid, "req": req, "args": args or {}})
        return self.recv()

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()
