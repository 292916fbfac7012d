"""The suite passes against the reference device through every adapter, with the same results."""

from __future__ import annotations

import shlex
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from edbp.conformance.adapter.server import serve_tcp
from edbp.conformance.faults import FAULTS
from edbp.conformance.reference_device import make_backend


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {c["nodeid"]: c["outcome"] for c in report["cases"]}


@pytest.fixture(scope="module")
def builtin_report(tmp_path_factory: pytest.TempPathFactory, suite: Any) -> dict[str, Any]:
    code, report = suite(tmp_path_factory.mktemp("builtin"), "builtin")
    assert code == 0, [c for c in report["cases"] if c["outcome"] != "passed"]
    return report


def test_builtin_passes_everything(builtin_report: dict[str, Any]) -> None:
    assert set(builtin_report["summary"]) <= {"passed", "skipped"}
    for case in builtin_report["cases"]:  # skipped: other profiles, ops a device cannot run
        reason = case.get("reason", "")
        assert (
            case["outcome"] == "passed"
            or "profile" in reason
            or "runner" in reason
            or "--explore N" in reason  # model exploration runs only when asked for
        ), case
    ids = {c["id"] for c in builtin_report["cases"]}
    props = {p for c in builtin_report["cases"] for p in c["properties"]}
    assert {f"P{i}" for i in range(1, 14)} <= props  # every property has a case
    assert {"deploy.install", "rollback.equal-sequence", "powercut.install"} <= ids
    assert any(i.startswith("vector.cbor.invalid.") for i in ids)


def test_subprocess_same_results(
    tmp_path: Path, builtin_report: dict[str, Any], suite: Any, serve_argv: list[str]
) -> None:
    code, report = suite(tmp_path, shlex.join([*serve_argv, "device", "serve", "--stdio"]))
    assert code == 0
    assert outcomes(report) == outcomes(builtin_report)


def test_tcp_same_results(tmp_path: Path, builtin_report: dict[str, Any], suite: Any) -> None:
    ready = threading.Event()
    address: list[str] = []

    def on_ready(addr: str) -> None:
        address.append(addr)
        ready.set()

    server = threading.Thread(
        target=serve_tcp,
        args=("127.0.0.1:0", lambda: make_backend(None)),
        kwargs={"ready": on_ready, "max_connections": 1},
        daemon=True,
    )
    server.start()
    assert ready.wait(60)  # safety net only
    # the protocol cases (the vector replay runs through the subprocess adapter above)
    files = tuple(sorted({c["nodeid"].split("::")[0] for c in builtin_report["cases"]}))
    files = tuple(f for f in files if f != "test_vectors.py")
    code, report = suite(tmp_path, f"tcp:{address[0]}", files=files)
    assert code == 0
    same = {k: v for k, v in outcomes(builtin_report).items() if k.split("::")[0] in files}
    assert outcomes(report) == same
    server.join(timeout=60)


def test_tcp_serve_command(tmp_path: Path, suite: Any, serve_argv: list[str]) -> None:
    """``edbp device serve --tcp HOST:0 --once`` prints its address and serves one session."""
    proc = subprocess.Popen(
        [*serve_argv, "device", "serve", "--tcp", "127.0.0.1:0", "--once"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("listening on "), line
        code, report = suite(tmp_path, "tcp:" + line.split()[-1], "-k", "install or hello")
        assert code == 0
        assert report["summary"].get("passed", 0) > 1
        assert not {"failed", "error"} & set(report["summary"])
        assert proc.wait(timeout=120) == 0  # safety net only
    finally:
        proc.kill()
        proc.wait()


def test_list_faults(serve_argv: list[str]) -> None:
    out = subprocess.run(
        [*serve_argv, "device", "serve", "--list-faults"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(FAULTS)
    assert all(len(ln.split(None, 1)) == 2 for ln in lines)


def test_unknown_fault_is_a_clear_error(serve_argv: list[str]) -> None:
    res = subprocess.run(
        [*serve_argv, "device", "serve", "--stdio", "--fault", "no-such-fault"],
        capture_output=True,
        text=True,
        input="",
    )
    assert res.returncode != 0
    assert "unknown fault 'no-such-fault'" in res.stderr and "skip-rollback" in res.stderr


def test_fault_of_the_other_profile_is_a_usage_error() -> None:
    """A blueprint fault runs only with ``--profile blueprint`` (and an edbp fault only
    without it): the device would otherwise not be the one the fault names."""
    from click.testing import CliRunner

    from edbp.cli import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["device", "serve", "--stdio", "--fault", "bp-fixed-unbound-aad"])
    assert res.exit_code == 2 and "blueprint profile" in res.output
    res = runner.invoke(
        cli, ["device", "serve", "--stdio", "--profile", "blueprint", "--fault", "skip-rollback"]
    )
    assert res.exit_code == 2 and "edbp profile" in res.output
