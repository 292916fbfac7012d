"""CLI start-up: ``edbp --help`` and ``edbp inspect`` in a fresh interpreter, against a bare one.

Why a subprocess each time: start-up cost is module imports, which a warm process has already
paid. Two baselines are measured in the same run: ``python -c pass`` (the interpreter alone;
the ratio says what the CLI adds on this machine) and ``python -c "import click"`` (the
command-line framework every command needs; ``cli.help`` against it shows what edbp itself
adds). The issue's target is an absolute 0.25 s, read off the time column and, on a loaded
machine, better judged by the ratio to the interpreter start (0.25 s is about 2.5× a quiet
``python -c pass`` on the project's machine). What keeps these fast is structural (lazy
imports per command group: ``edbp.cli`` imports click and the error table only; ``edbp
inspect`` loads the CBOR codec and the label tables, never ``cryptography``), and tests check
those module lists; no test times anything.

Bytecode: every child runs with a bytecode cache of its own (``PYTHONPYCACHEPREFIX`` in a
temporary directory, filled by the runner's first, untimed call; ``PYTHONDONTWRITEBYTECODE``
dropped), as any installed or once-run copy of edbp has one: without it, a shell that sets
``PYTHONDONTWRITEBYTECODE`` would time the compilation of every edbp module at each start,
which is not what a user's start costs. The baselines run the same way.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edbp.bench import benchmark

_MAIN = "import sys\nfrom edbp.cli import main\nsys.argv = {argv!r}\nmain()\n"
_HELP = _MAIN.format(argv=["edbp", "--help"])


@functools.lru_cache(maxsize=1)
def _env() -> dict[str, str]:
    """The children's environment: the caller's, with a bytecode cache of their own."""
    import atexit

    root = Path(tempfile.mkdtemp(prefix="edbp-bench-pycache-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(root)
    return env


def _run(code: str) -> None:
    subprocess.run(
        [sys.executable, "-c", code],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        env=_env(),
    )


@functools.lru_cache(maxsize=1)
def _inspect_input() -> str:
    """A signed TEEP QueryResponse-sized COSE_Sign1 (what a reviewer inspects), written once."""
    import atexit

    from edbp.reference.wire.cbor import Tag, dumps

    root = Path(tempfile.mkdtemp(prefix="edbp-bench-cli-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    path = root / "message.cbor"
    body = dumps({1: 2, 2: b"\x01" * 16, 3: [b"\x02" * 32], 4: {"a": [1, 2, 3]}})
    path.write_bytes(dumps(Tag(18, [dumps({1: -7}), {}, body, b"\x00" * 64])))
    return _MAIN.format(argv=["edbp", "inspect", str(path)])


@benchmark("cli.python_startup", quick=True)
def python_startup() -> None:
    """The floor: an interpreter that starts and exits."""
    _run("pass")


@benchmark("cli.import_click", baseline="cli.python_startup", quick=True)
def import_click() -> None:
    """The second floor: an interpreter that imports click (every command needs it)."""
    _run("import click")


@benchmark("cli.help", baseline="cli.python_startup", quick=True)
def edbp_help() -> None:
    """``edbp --help``: click, the error table and the group summaries, no group module."""
    _run(_HELP)


@benchmark("cli.help_over_click", baseline="cli.import_click", quick=True)
def edbp_help_over_click() -> None:
    """``edbp --help`` again, against ``import click``: what edbp adds to its framework."""
    _run(_HELP)


@benchmark("cli.inspect", baseline="cli.python_startup", setup=_inspect_input, quick=True)
def edbp_inspect(code: str) -> None:
    """``edbp inspect FILE``: the CBOR codec, the name tables, a COSE_Sign1 shown."""
    _run(code)


@benchmark("cli.conformance_help", baseline="cli.python_startup", quick=True)
def conformance_help() -> None:
    """``edbp conformance run --help``: one group module, still no pytest."""
    _run(_HELP.replace("'--help'", "'conformance', 'run', '--help'"))
