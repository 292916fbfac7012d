"""CLI start-up: ``edbp --help`` in a fresh interpreter against a bare interpreter start.

Why a subprocess each time: start-up cost is module imports, which a warm process has already
paid. The baseline is ``python -c pass`` measured in the same run, so the ratio says what the
CLI adds to the interpreter on this machine (issue 14: lazy imports per command group; the
target is an absolute ``edbp --help`` under 0.25 s, read off the time column).
"""

from __future__ import annotations

import subprocess
import sys

from edbp.bench import benchmark

_HELP = "import sys\nfrom edbp.cli import main\nsys.argv = ['edbp', '--help']\nmain()\n"


def _run(code: str) -> None:
    subprocess.run(
        [sys.executable, "-c", code],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


@benchmark("cli.python_startup", quick=True)
def python_startup() -> None:
    """The floor: an interpreter that starts and exits."""
    _run("pass")


@benchmark("cli.help", baseline="cli.python_startup", quick=True)
def edbp_help() -> None:
    """``edbp --help``: click, the error table and the group summaries, no group module."""
    _run(_HELP)


@benchmark("cli.conformance_help", baseline="cli.python_startup", quick=True)
def conformance_help() -> None:
    """``edbp conformance run --help``: one group module, still no pytest."""
    _run(_HELP.replace("'--help'", "'conformance', 'run', '--help'"))
