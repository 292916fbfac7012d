"""edbp benchmarks: a registry of timed functions, each reported as a ratio to a baseline
measured in the same run (so the numbers mean something on any machine).

Registering a benchmark (the public API; one module per area, ``edbp/bench/<area>.py``)::

    from edbp.bench import benchmark

    def _setup():                       # optional, not timed; its result is passed in
        return make_inputs()

    @benchmark("crypto.aes256gcm_encrypt[1MiB]", setup=_setup, nbytes=1 << 20, quick=True)
    def raw_gcm(state):                 # the baseline: what the work costs at the floor
        ...

    @benchmark("cose.encrypt[1MiB]", baseline="crypto.aes256gcm_encrypt[1MiB]", setup=_setup,
               nbytes=1 << 20, quick=True)
    def cose_encrypt(state):
        ...

- ``name``: unique; ``area.what[size]`` by convention. ``-k`` matches it.
- ``baseline``: the name of another registered benchmark; the runner times the two in the same
  run, interleaved, and reports ``ratio = time / baseline time`` (1.0 = as fast as the floor).
  A baseline registered in another area's module is found too.
- ``setup``: called once per run, untimed; without it the function takes no argument. Cache
  expensive setup yourself (``functools.lru_cache``) to share it between a benchmark and its
  baseline.
- ``nbytes``: bytes processed per call, for a MiB/s column.
- ``quick``: included in ``edbp bench --quick`` (small sizes only; keep those under a second).
- ``samples``: for a heavy benchmark (seconds per call, a child process, a 1 GiB file): this
  many samples of one call each (``edbp bench --quick`` takes at most 3), and no calibration
  call. A benchmark and its baseline should take the same count: the ratio is the median of
  per-pair ratios, and a sample without a partner makes no pair.

Memory: the runner measures every benchmark's peak memory too. By default it makes one more,
untimed call under ``tracemalloc`` (the peak of Python allocations during the call). A
benchmark that measures its own memory (one that runs a child process and reads the child's
peak RSS) returns a ``dict`` of metrics with ``"peak_rss"`` (bytes); the runner then keeps
those metrics (from the last sample) and makes no extra call. Any returned metrics are kept in
the JSON report.

Skipping: a setup or benchmark that cannot run here (a peer tool that is not installed, an
environment variable not set) raises ``Skip(reason)``; the result says so, with the reason, and
a benchmark whose baseline is skipped is still timed, without a ratio.

``discover()`` imports every module of this package, so a new ``<area>.py`` is picked up
without touching anything else. ``edbp.bench.runner`` times and reports; ``edbp bench`` is the
command line.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any, TypeVar

import attrs

__all__ = ["REGISTRY", "Benchmark", "Skip", "benchmark", "discover", "select"]

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[A-Za-z0-9_.+\-\[\]]+$")


class Skip(Exception):
    """This benchmark cannot run here; the message says why (reported, not an error)."""


@attrs.frozen
class Benchmark:
    """One registered benchmark."""

    name: str
    func: Callable[..., object]
    baseline: str | None = None
    setup: Callable[[], Any] | None = None
    nbytes: int | None = None
    quick: bool = True
    module: str = ""
    samples: int | None = None

    def prepare(self) -> Callable[[], object]:
        """Run the setup (untimed) and return the zero-argument callable to time."""
        if self.setup is None:
            return self.func
        state = self.setup()
        func = self.func
        return lambda: func(state)


#: name -> Benchmark, in registration order
REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    name: str,
    *,
    baseline: str | None = None,
    setup: Callable[[], Any] | None = None,
    nbytes: int | None = None,
    quick: bool = True,
    samples: int | None = None,
) -> Callable[[F], F]:
    """Register the decorated function as benchmark ``name`` (see the module docstring)."""
    if not _NAME.match(name):
        raise ValueError(f"benchmark name {name!r}: use letters, digits and . _ - + [ ]")
    if baseline == name:
        raise ValueError("a benchmark cannot be its own baseline")

    def register(func: F) -> F:
        existing = REGISTRY.get(name)
        if existing is not None and (existing.module, existing.func.__qualname__) != (
            func.__module__,
            func.__qualname__,
        ):
            raise ValueError(f"benchmark {name!r} registered twice")
        REGISTRY[name] = Benchmark(
            name, func, baseline, setup, nbytes, quick, func.__module__, samples
        )
        return func

    return register


def discover() -> dict[str, str]:
    """Import every area module of this package; returns module -> error for those that fail
    (they are reported, not hidden, and the others still run)."""
    errors: dict[str, str] = {}
    for info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        if info.name.rsplit(".", 1)[-1] in ("runner",) or info.name.rsplit(".", 1)[-1].startswith(
            "_"
        ):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # a broken area must not stop the others
            errors[info.name] = f"{type(exc).__name__}: {exc}"
    return errors


def select(pattern: str | None = None, *, quick: bool = False) -> list[Benchmark]:
    """Registered benchmarks whose name matches ``pattern`` (a substring, or a glob when it
    holds ``*?[``), restricted to quick ones when ``quick``."""
    out = []
    for bench in REGISTRY.values():
        if quick and not bench.quick:
            continue
        if pattern:
            if any(c in pattern for c in "*?["):
                if not fnmatchcase(bench.name, pattern):
                    continue
            elif pattern not in bench.name:
                continue
        out.append(bench)
    return out
