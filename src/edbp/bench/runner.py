"""Time registered benchmarks against their baselines in the same run, and report ratios.

Each benchmark and its baseline are sampled in pairs, one sample of each next to the other,
the order alternating from pair to pair (bench then baseline, baseline then bench, ...), so a
machine that speeds up or slows down during the run moves both members of a pair and neither
side always runs right after the other. The ratio is the median of the per-pair ratios (a
burst of load from another process spoils one pair, not the ratio); the reported time per
call is the median over the samples, and the JSON report keeps every sample and every pair's
ratio. A sample repeats the call enough times to last at least ``min_sample`` seconds.

Before every sample, of either side, and outside the timed window, the runner waits for the
writeback of every dirty page (``os.sync``): a sample that writes a file (the 1 GiB installs
write and fsync a sealed copy of the payload; a setup writes the inputs) must not hand its
writeback, or the freeing of its deleted output, to the next sample, which may be the other
side's. No assertion is ever made on a time: this module only measures.

Peak memory: after the samples, one more untimed call runs under ``tracemalloc`` and its peak
(Python allocations during the call, above what was allocated before) is reported; a
benchmark that returns metrics with ``"peak_rss"`` (a child process's peak resident set,
measured by the benchmark itself) is reported with that instead (see ``edbp.bench``).
"""

from __future__ import annotations

import json
import math
import os
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

__all__ = [
    "Result",
    "RunConfig",
    "Timing",
    "pair_ratios",
    "results_to_json",
    "run",
    "sync_writeback",
]

MIB = 1 << 20


@attrs.frozen
class RunConfig:
    """How long to measure. ``quick`` is the short profile of ``edbp bench --quick``.

    ``samples`` is the count of a benchmark that sets none; a heavy benchmark (one that sets
    ``samples``) takes its own count, chosen for what one call costs, capped at
    ``heavy_samples`` when that is set (the quick profile's)."""

    samples: int = 5
    min_sample: float = 0.2
    max_loops: int = 10_000
    heavy_samples: int | None = None

    @classmethod
    def quick(cls) -> RunConfig:
        return cls(samples=3, min_sample=0.02, heavy_samples=3)


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


def pair_ratios(mine: Iterable[float], theirs: Iterable[float]) -> tuple[float, ...]:
    """Per-pair ratios: the i-th sample of a benchmark over the i-th of its baseline (taken
    next to it); samples without a partner, or with a baseline time of zero, make no pair."""
    return tuple(m / t for m, t in zip(mine, theirs, strict=False) if t > 0)


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
    def pairs(self) -> tuple[float, ...]:
        """The per-pair ratios (``pair_ratios`` of the two sides' samples)."""
        if self.timing is None or self.baseline is None:
            return ()
        return pair_ratios(self.timing.samples, self.baseline.samples)

    @property
    def ratio(self) -> float | None:
        """The median of the per-pair ratios (see the module docstring)."""
        pairs = self.pairs
        return statistics.median(pairs) if pairs else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "timing": self.timing.to_json() if self.timing else None,
            "baseline": self.baseline.to_json() if self.baseline else None,
            "ratio": self.ratio,
            "pair_ratios": list(self.pairs),
            "error": self.error,
            "skipped": self.skipped,
            "baseline_skipped": self.baseline_skipped,
        }


def sync_writeback() -> None:
    """Write every dirty page back and wait for it (``os.sync``; nothing where there is none)."""
    sync = getattr(os, "sync", None)
    if sync is not None:
        sync()


def _loops_for(
    bench: Benchmark,
    call: Callable[[], object],
    cfg: RunConfig,
    clock: Callable[[], float],
    settle: Callable[[], None],
) -> int:
    if bench.samples is not None:
        return 1  # heavy: no calibration call
    settle()
    t0 = clock()
    call()  # also warms caches
    once = clock() - t0
    if once <= 0:
        return cfg.max_loops
    return max(1, min(cfg.max_loops, math.ceil(cfg.min_sample / once)))


def _sample(
    call: Callable[[], object],
    loops: int,
    clock: Callable[[], float],
    settle: Callable[[], None],
) -> tuple[float, object]:
    out: object = None
    settle()  # outside the timed window
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
    if bench.samples is None:
        return config.samples
    cap = bench.samples if config.heavy_samples is None else config.heavy_samples
    return max(1, min(cap, bench.samples))


def run(
    benchmarks: Iterable[Benchmark],
    config: RunConfig = RunConfig(),
    *,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] | None = None,
    memory: bool = True,
    settle: Callable[[], None] = sync_writeback,
) -> list[Result]:
    """Measure each benchmark (and its baseline, in pairs). A benchmark that raises, or
    names an unknown baseline, gives a ``Result`` with ``error`` set; one that raises ``Skip``
    a ``Result`` with ``skipped`` set; the others still run. ``memory=False`` leaves out the
    extra peak-memory call (for tests driven by a fake clock). ``settle`` runs before every
    sample, untimed (``sync_writeback``: see the module docstring)."""
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
            loops = _loops_for(bench, call, config, clock, settle)
            base_loops = 0
            if base_call is not None and base is not None:
                try:
                    base_loops = _loops_for(base, base_call, config, clock, settle)
                except Skip as why:
                    base_call, base_skipped = None, str(why)
            mine: list[float] = []
            theirs: list[float] = []
            last: object = None
            base_last: object = None
            base_n = _samples(base, config) if base is not None else 0
            for i in range(_samples(bench, config)):
                # pair i: bench then baseline when i is even, baseline then bench when odd
                for side in ("bench", "base") if i % 2 == 0 else ("base", "bench"):
                    if side == "bench":
                        t, last = _sample(call, loops, clock, settle)
                        mine.append(t)
                    elif base_call is not None and i < base_n:
                        try:
                            t, base_last = _sample(base_call, base_loops, clock, settle)
                        except Skip as why:
                            base_call, base_skipped = None, str(why)
                        else:
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
