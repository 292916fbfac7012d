"""How the runner keeps a ratio steady on a shared machine: samples in pairs (order alternating),
the ratio as the median of the per-pair ratios, writeback waited for before every sample
outside the timed window; and the size sweep's rows built for it. A fake clock drives every
number here: no assertion is made on a real time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bench_support import FakeClock

from edbp.bench import REGISTRY, benchmark, discover, select
from edbp.bench.runner import RunConfig, pair_ratios, results_to_json, run


def test_pair_ratios() -> None:
    assert pair_ratios([2.0, 3.0, 4.0], [1.0, 2.0]) == (2.0, 1.5)  # an unpartnered sample
    assert pair_ratios([1.0, 1.0], [0.0, 2.0]) == (0.5,)  # a zero baseline makes no pair
    assert pair_ratios([], [1.0]) == ()


def test_ratio_is_the_median_of_pairs_taken_in_alternating_order(
    clean_registry: None, fake_clock: FakeClock
) -> None:
    clock = fake_clock
    events: list[str] = []
    # one slow moment spoils pair 2 (the baseline) and pair 3 (both): the ratio of the
    # medians (2 / 4 = 0.5) would follow it, the median of the pairs does not
    mine_costs = iter([2.0, 2.0, 2.0, 6.0, 6.0])
    base_costs = iter([1.0, 1.0, 4.0, 4.0, 4.0])

    @benchmark("t.floor[1GiB]", samples=5, quick=False)
    def floor() -> None:
        events.append("base")
        clock.spend(next(base_costs))

    @benchmark("t.work[1GiB]", baseline="t.floor[1GiB]", samples=5, quick=False)
    def work() -> None:
        events.append("mine")
        clock.spend(next(mine_costs))

    def settle() -> None:
        events.append("settle")
        clock.spend(100.0)  # waiting for writeback is never part of a sample

    (result,) = run(
        select("t.work*"), RunConfig(samples=5), clock=clock, memory=False, settle=settle
    )
    assert result.timing is not None and result.baseline is not None
    assert result.timing.samples == (2.0, 2.0, 2.0, 6.0, 6.0)
    assert result.baseline.samples == (1.0, 1.0, 4.0, 4.0, 4.0)
    assert result.pairs == (2.0, 2.0, 0.5, 1.5, 1.5)
    assert result.ratio == pytest.approx(1.5)
    calls = [e for e in events if e != "settle"]
    assert calls == ["mine", "base", "base", "mine", "mine", "base", "base", "mine", "mine", "base"]
    assert events == [x for call in calls for x in ("settle", call)]  # settled before each
    doc = results_to_json([result], quick=False)["results"][0]
    assert doc["ratio"] == pytest.approx(1.5)
    assert doc["pair_ratios"] == [2.0, 2.0, 0.5, 1.5, 1.5]
    assert doc["timing"]["samples"] == [2.0, 2.0, 2.0, 6.0, 6.0]  # the raw samples stay


def test_fewer_baseline_samples_pair_the_first_ones(
    clean_registry: None, fake_clock: FakeClock
) -> None:
    clock = fake_clock

    @benchmark("t.peer[1]", samples=2)
    def peer() -> None:
        clock.spend(4.0)

    @benchmark("t.ours[1]", baseline="t.peer[1]", samples=5)
    def ours() -> None:
        clock.spend(1.0)

    (result,) = run(
        select("t.ours*"), RunConfig(samples=5), clock=clock, memory=False, settle=lambda: None
    )
    assert result.timing is not None and len(result.timing.samples) == 5
    assert result.pairs == (0.25, 0.25) and result.ratio == 0.25


def test_the_default_settle_waits_for_writeback(
    clean_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "sync", lambda: synced.append(1))

    @benchmark("t.b[1]", samples=2)
    def b() -> None: ...

    @benchmark("t.a[1]", baseline="t.b[1]", samples=2)
    def a() -> None: ...

    run(select("t.a*"), RunConfig(samples=2), memory=False)
    assert len(synced) == 4  # before each of the four samples (no calibration when heavy)


def test_sweep_rows_pair_every_sample_with_their_baseline() -> None:
    discover()
    rows = [b for b in REGISTRY.values() if b.module == "edbp.bench.sweep" and b.baseline]
    assert {b.name.split("[")[0] for b in rows} == {
        "optee.cli_sign_encrypt",
        "optee.cli_verify_decrypt",
        "device.install_process",
    }
    for bench in rows:
        base = REGISTRY[bench.baseline or ""]
        assert bench.samples == base.samples, bench.name  # no sample without a partner
        assert bench.samples is not None and bench.samples >= 3, bench.name
    assert REGISTRY["device.install_process[1GiB]"].samples == 7


def test_a_sign_row_times_the_child_and_removes_its_output_after(tmp_path: Path) -> None:
    from edbp.bench import sweep

    out = tmp_path / "image.ta"
    script = tmp_path / "write.py"
    script.write_text("import sys\nopen(sys.argv[1], 'wb').write(b'x' * 4096)\n")
    got = sweep._run_and_remove("script", str(script), [str(out)], out)
    assert isinstance(got["wall"], float) and got["seconds"] == got["wall"] > 0
    assert not out.exists()


def test_a_heavy_benchmark_takes_its_own_count_and_quick_caps_it(clean_registry: None) -> None:
    calls: list[int] = []

    @benchmark("t.big[1GiB]", samples=7, quick=False)
    def big() -> None:
        calls.append(1)

    (full,) = run(select("t.big*"), RunConfig(samples=5), memory=False, settle=lambda: None)
    assert full.timing is not None and len(full.timing.samples) == 7 == len(calls)
    (quick,) = run(select("t.big*"), RunConfig.quick(), memory=False, settle=lambda: None)
    assert quick.timing is not None and len(quick.timing.samples) == 3


def test_the_page_says_how_ratios_are_made_and_shows_the_pairs() -> None:
    from edbp.bench._report import render

    def timing(name: str, samples: list[float]) -> dict[str, object]:
        return {
            "name": name,
            "seconds": sorted(samples)[1],
            "best": min(samples),
            "samples": samples,
            "loops": 1,
            "nbytes": 1 << 30,
            "mib_per_s": 300.0,
            "peak_bytes": None,
            "metrics": {"py_peak": 1000},
        }

    row = {
        "name": "device.install_process[1GiB]",
        "module": "edbp.bench.sweep",
        "timing": timing("device.install_process[1GiB]", [3.0, 4.4, 3.3]),
        "baseline": timing("crypto.install_floor_process[1GiB]", [3.0, 4.0, 3.0]),
        "ratio": 1.1,
        "pair_ratios": [1.0, 1.1, 1.1],
        "error": None,
        "skipped": None,
        "baseline_skipped": None,
    }
    page = render({"schema": "edbp-bench/1", "quick": False, "results": [row]}, "edbp bench")
    assert "median of per-pair ratios" in page and "`os.sync`" in page
    target = next(line for line in page.splitlines() if "Agent install vs" in line)
    assert "1.10× (`device.install_process[1GiB]`; 3 pairs 1.00–1.10)" in target
    sweep = next(line for line in page.splitlines() if line.startswith("| `device.install_p"))
    assert "| 1.10× (3 pairs 1.00–1.10) |" in sweep
    # a report without pairs (an older one) renders as before
    del row["pair_ratios"]
    page = render({"schema": "edbp-bench/1", "quick": False, "results": [row]}, "edbp bench")
    assert "1.10× (`device.install_process[1GiB]`)" in page
