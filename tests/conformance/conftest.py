"""Fixtures of the conformance tests: run the suite in this process (``pytest.main`` with the
CLI's arguments) and read its JSON report; the reference device as a serve command."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

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
