"""Time registered benchmarks against their baselines in the same run, and report ratios.

Each benchmark and its baseline are sampled alternately (bench, baseline, bench, ...), so a
machine that speeds up or slows down during the run moves both. A sample repeats the call
enough times to last at least ``min_sample`` seconds; the reported time per call is the
median over the samples. No assertion is ever made on a time: this module only measures.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from edbp.bench import REGISTRY, Benchmark

__all__ = ["Result", "RunConfig", "Timing", "results_to_json", "run"]

MIB = 1 << 20


@attrs.frozen
class RunConfig:
    """How long to measure. ``quick`` is the short profile of ``edbp bench --quick``."""

    samples: int = 5
    min_sample: float = 0.2
    max_loops: int = 10_000

    @classmethod
    def quick(cls) -> RunConfig:
        return cls(samples=3, min_sample=0.02)


@attrs.frozen
class Timing:
    name: str
    seconds: float  # median per call
    best: float
    samples: tuple[float, ...]
    loops: int
    nbytes: int | None

    @property
    def mib_per_s(self) -> float | None:
        if not self.nbytes or self.seconds <= 0:
            return None
        return self.nbytes / MIB / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seconds": self.seconds,
            "best": self.best,
            "samples": list(self.samples),
            "loops": self.loops,
            "nbytes": self.nbytes,
            "mib_per_s": self.mib_per_s,
        }


@attrs.frozen
class Result:
    name: str
    module: str
    timing: Timing | None
    baseline: Timing | None
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.timing is None or self.baseline is None or self.baseline.seconds <= 0:
            return None
        return self.timing.seconds / self.baseline.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "timing": self.timing.to_json() if self.timing else None,
            "baseline": self.baseline.to_json() if self.baseline else None,
            "ratio": self.ratio,
            "error": self.error,
        }


def _loops_for(call: Callable[[], object], cfg: RunConfig, clock: Callable[[], float]) -> int:
    t0 = clock()
    call()  # also warms caches
    once = clock() - t0
    if once <= 0:
        return cfg.max_loops
    return max(1, min(cfg.max_loops, math.ceil(cfg.min_sample / once)))


def _sample(call: Callable[[], object], loops: int, clock: Callable[[], float]) -> float:
    t0 = clock()
    for _ in range(loops):
        call()
    return (clock() - t0) / loops


def _timing(bench: Benchmark, samples: list[float], loops: int) -> Timing:
    return Timing(
        bench.name, statistics.median(samples), min(samples), tuple(samples), loops, bench.nbytes
    )


def run(
    benchmarks: Iterable[Benchmark],
    config: RunConfig = RunConfig(),
    *,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] | None = None,
) -> list[Result]:
    """Measure each benchmark (and its baseline, interleaved). A benchmark that raises, or
    names an unknown baseline, gives a ``Result`` with ``error`` set; the others still run."""
    results = []
    for bench in benchmarks:
        if progress:
            progress(bench.name)
        base = REGISTRY.get(bench.baseline) if bench.baseline else None
        if bench.baseline and base is None:
            results.append(
                Result(bench.name, bench.module, None, None, f"unknown baseline {bench.baseline!r}")
            )
            continue
        try:
            call = bench.prepare()
            base_call = base.prepare() if base is not None else None
            loops = _loops_for(call, config, clock)
            base_loops = _loops_for(base_call, config, clock) if base_call is not None else 0
            mine: list[float] = []
            theirs: list[float] = []
            for _ in range(config.samples):
                mine.append(_sample(call, loops, clock))
                if base_call is not None:
                    theirs.append(_sample(base_call, base_loops, clock))
        except Exception as exc:  # report, keep going
            results.append(
                Result(bench.name, bench.module, None, None, f"{type(exc).__name__}: {exc}")
            )
            continue
        results.append(
            Result(
                bench.name,
                bench.module,
                _timing(bench, mine, loops),
                _timing(base, theirs, base_loops) if base is not None else None,
            )
        )
    return results


def results_to_json(
    results: list[Result], *, quick: bool, path: Path | None = None
) -> dict[str, Any]:
    """The JSON report (written to ``path`` when given)."""
    from cryptography import __version__ as crypto_version

    doc = {
        "schema": "edbp-bench/1",
        "quick": quick,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "system": platform.system(),
        "cryptography": crypto_version,
        "results": [r.to_json() for r in results],
    }
    if path is not None:
        path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc
