"""Run one benchmark call in a child interpreter and measure the child's own peak memory.

Why a child: the memory targets are about a real process (a 1 GiB image must not cost 1 GiB of
RAM), and ``tracemalloc`` sees only Python's allocations, not OpenSSL's. The child runs under
``_hwm.py``, which records its ``VmHWM`` (peak resident set of its own memory map) at exit;
``ru_maxrss`` from ``wait4`` cannot be used, as it starts from the parent's size at fork. The
reference point, "interpreter start", is the same figure for a bare interpreter (``none``),
measured once per run.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["REPORT_ENV", "bare_interpreter_rss", "run_child"]

#: environment variable naming the file a reporting child writes its JSON measurements to
REPORT_ENV = "EDBP_BENCH_REPORT"
_HWM = str(Path(__file__).with_name("_hwm.py"))
#: stderr kept from a failing child, for the error message
_TAIL = 2000


def _tmp() -> Path:
    fd, name = tempfile.mkstemp(prefix="edbp-bench-", suffix=".json")
    os.close(fd)
    return Path(name)


def _run(kind: str, target: str, args: tuple[str, ...], report: bool) -> dict[str, Any]:
    hwm = _tmp()
    extra = _tmp() if report else None
    env = {**os.environ, REPORT_ENV: str(extra)} if extra is not None else None
    try:
        argv = [sys.executable, _HWM, str(hwm), kind]
        if target:
            argv.append(target)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*argv, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            check=False,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace")[-_TAIL:]
            raise RuntimeError(f"{target or kind} exited with {proc.returncode}: {tail}")
        result: dict[str, Any] = {
            "peak_rss": json.loads(hwm.read_text())["vm_hwm"],
            "wall": wall,
        }
        if extra is not None:
            result.update(json.loads(extra.read_text()))
        return result
    finally:
        hwm.unlink(missing_ok=True)
        if extra is not None:
            extra.unlink(missing_ok=True)


def run_child(kind: str, target: str, *args: str, report: bool = False) -> dict[str, Any]:
    """Run a Python program (``kind`` ``script`` PATH, ``module`` NAME, ``call`` MOD:FUNC) to
    completion; its peak RSS, that peak above a bare interpreter's (``rss_above_start``), and
    ``wall``: the child's whole life (start-up, work, exit) as this process saw it, without
    this function's own temporary files around it. With ``report``, the child (an
    ``edbp.bench._floors`` task) also writes its own measurements as JSON to the file named by
    ``EDBP_BENCH_REPORT``, merged in (``seconds``: the work alone, without interpreter start
    and imports). A non-zero exit is a ``RuntimeError`` naming the end of its stderr."""
    result = _run(kind, target, args, report)
    result["rss_above_start"] = result["peak_rss"] - bare_interpreter_rss()
    return result


@functools.lru_cache(maxsize=1)
def bare_interpreter_rss() -> int:
    """Peak RSS of an interpreter that runs nothing: "interpreter start" for the targets."""
    return int(_run("none", "", (), False)["peak_rss"])
