"""Time registered benchmarks against their baselines in the same run, and report ratios.

Each benchmark and its baseline are sampled alternately (bench, baseline, bench, ...), so a
machine that speeds up or slows down during the run moves both. A sample repeats the call
enough times to last at least ``min_sample`` seconds; the reported time per call is the
median over the samples. No assertion is ever made on a time: this module only measures.

Peak memory: after the samples, one more untimed call runs under ``tracemalloc`` and its peak
(Python allocations during the call, above what was allocated before) is reported; a
benchmark that returns metrics with ``"peak_rss"`` (a child process's peak resident set,
measured by the benchmark itself) is reported with that instead (see ``edbp.bench``).
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from edbp.bench import REGISTRY, Benchmark, Skip

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
    peak_bytes: int | None = None
    metrics: dict[str, Any] = attrs.field(factory=dict)

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
            "peak_bytes": self.peak_bytes,
            "metrics": self.metrics,
        }


@attrs.frozen
class Result:
    name: str
    module: str
    timing: Timing | None
    baseline: Timing | None
    error: str | None = None
    skipped: str | None = None  # why it did not run here
    baseline_skipped: str | None = None  # why its baseline did not run (timed alone)

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
            "skipped": self.skipped,
            "baseline_skipped": self.baseline_skipped,
        }


def _loops_for(
    bench: Benchmark, call: Callable[[], object], cfg: RunConfig, clock: Callable[[], float]
) -> int:
    if bench.samples is not None:
        return 1  # heavy: no calibration call
    t0 = clock()
    call()  # also warms caches
    once = clock() - t0
    if once <= 0:
        return cfg.max_loops
    return max(1, min(cfg.max_loops, math.ceil(cfg.min_sample / once)))


def _sample(
    call: Callable[[], object], loops: int, clock: Callable[[], float]
) -> tuple[float, object]:
    out: object = None
    t0 = clock()
    for _ in range(loops):
        out = call()
    elapsed = (clock() - t0) / loops
    if isinstance(out, dict) and isinstance(out.get("seconds"), float):
        return out["seconds"], out  # a benchmark that times its own work (a child process)
    return elapsed, out


def _peak(call: Callable[[], object], last: object) -> tuple[int | None, dict[str, Any]]:
    """(peak bytes, metrics): the benchmark's own ``peak_rss`` when it returned one, else the
    tracemalloc peak of one more untimed call."""
    if isinstance(last, dict) and "peak_rss" in last:
        return int(last["peak_rss"]), dict(last)
    metrics = dict(last) if isinstance(last, dict) else {}
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        call()
        return max(0, tracemalloc.get_traced_memory()[1] - base), metrics
    finally:
        if started:
            tracemalloc.stop()


def _timing(
    bench: Benchmark, samples: list[float], loops: int, peak: int | None, metrics: dict[str, Any]
) -> Timing:
    return Timing(
        bench.name,
        statistics.median(samples),
        min(samples),
        tuple(samples),
        loops,
        bench.nbytes,
        peak,
        metrics,
    )


def _samples(bench: Benchmark, config: RunConfig) -> int:
    return config.samples if bench.samples is None else max(1, min(config.samples, bench.samples))


def run(
    benchmarks: Iterable[Benchmark],
    config: RunConfig = RunConfig(),
    *,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] | None = None,
    memory: bool = True,
) -> list[Result]:
    """Measure each benchmark (and its baseline, interleaved). A benchmark that raises, or
    names an unknown baseline, gives a ``Result`` with ``error`` set; one that raises ``Skip``
    a ``Result`` with ``skipped`` set; the others still run. ``memory=False`` leaves out the
    extra peak-memory call (for tests driven by a fake clock)."""
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
        base_skipped: str | None = None
        try:
            call = bench.prepare()
            base_call = None
            if base is not None:
                try:
                    base_call = base.prepare()
                except Skip as why:
                    base_skipped = str(why)
            loops = _loops_for(bench, call, config, clock)
            base_loops = 0
            if base_call is not None and base is not None:
                try:
                    base_loops = _loops_for(base, base_call, config, clock)
                except Skip as why:
                    base_call, base_skipped = None, str(why)
            mine: list[float] = []
            theirs: list[float] = []
            last: object = None
            base_last: object = None
            for i in range(_samples(bench, config)):
                t, last = _sample(call, loops, clock)
                mine.append(t)
                if base_call is not None and base is not None and i < _samples(base, config):
                    try:
                        t, base_last = _sample(base_call, base_loops, clock)
                    except Skip as why:
                        base_call, base_skipped = None, str(why)
                        continue
                    theirs.append(t)
            peak, metrics = _peak(call, last) if memory else (None, {})
            base_peak, base_metrics = (
                _peak(base_call, base_last) if memory and base_call is not None else (None, {})
            )
        except Skip as why:
            results.append(Result(bench.name, bench.module, None, None, skipped=str(why)))
            continue
        except Exception as exc:  # report, keep going
            results.append(
                Result(bench.name, bench.module, None, None, f"{type(exc).__name__}: {exc}")
            )
            continue
        results.append(
            Result(
                bench.name,
                bench.module,
                _timing(bench, mine, loops, peak, metrics),
                _timing(base, theirs, base_loops, base_peak, base_metrics)
                if base is not None and theirs
                else None,
                baseline_skipped=base_skipped,
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
