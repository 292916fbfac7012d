"""The benchmark registry and runner: registration, selection, ratios, JSON, the CLI.

No timing is asserted: the runner is driven by a fake clock where numbers matter.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_support import FakeClock
from click.testing import CliRunner

from edbp import bench
from edbp.bench import REGISTRY, Benchmark, benchmark, discover, select
from edbp.bench.runner import RunConfig, results_to_json, run
from edbp.cli import cli


def test_registration_and_selection(clean_registry: None) -> None:
    @benchmark("t.base[1]", nbytes=10, quick=True)
    def base() -> None: ...

    @benchmark("t.work[1]", baseline="t.base[1]", quick=True)
    def work() -> None: ...

    @benchmark("t.work[big]", baseline="t.base[1]", quick=False)
    def big() -> None: ...

    assert REGISTRY["t.work[1]"].baseline == "t.base[1]"
    assert [b.name for b in select("t.work")] == ["t.work[1]", "t.work[big]"]
    assert [b.name for b in select("t.work", quick=True)] == ["t.work[1]"]
    assert [b.name for b in select("t.w*")] == ["t.work[1]", "t.work[big]"]
    assert [b.name for b in select("*big*")] == ["t.work[big]"]
    with pytest.raises(ValueError):
        benchmark("bad name!")
    with pytest.raises(ValueError):
        benchmark("t.self", baseline="t.self")
    with pytest.raises(ValueError):

        @benchmark("t.base[1]")
        def other() -> None: ...


def test_runner_reports_ratio_from_the_same_run(
    clean_registry: None, fake_clock: FakeClock
) -> None:
    clock = fake_clock

    def setup() -> dict[str, float]:
        clock.spend(100.0)  # setup is never timed
        return {"cost": 0.004}

    @benchmark("t.raw", setup=setup, nbytes=1 << 20)
    def raw(state: dict[str, float]) -> None:
        clock.spend(state["cost"])

    @benchmark("t.mine", baseline="t.raw", nbytes=1 << 20)
    def mine() -> None:
        clock.spend(0.010)

    [result] = run([REGISTRY["t.mine"]], RunConfig(samples=3, min_sample=0.05), clock=clock)
    assert result.error is None
    assert result.timing is not None and result.baseline is not None
    assert result.timing.seconds == pytest.approx(0.010)
    assert result.baseline.seconds == pytest.approx(0.004)
    assert result.ratio == pytest.approx(2.5)
    assert result.timing.loops == 5 and result.baseline.loops == 13
    assert result.timing.mib_per_s == pytest.approx(100.0)


def test_runner_reports_errors_and_keeps_going(clean_registry: None) -> None:
    @benchmark("t.boom")
    def boom() -> None:
        raise RuntimeError("no")

    @benchmark("t.orphan", baseline="t.missing")
    def orphan() -> None: ...

    @benchmark("t.fine")
    def fine() -> None: ...

    results = run([REGISTRY[n] for n in ("t.boom", "t.orphan", "t.fine")], RunConfig.quick())
    assert "RuntimeError" in (results[0].error or "")
    assert "unknown baseline" in (results[1].error or "")
    assert results[2].error is None and results[2].ratio is None


def test_json_report(clean_registry: None, tmp_path: Path) -> None:
    @benchmark("t.a")
    def a() -> None: ...

    results = run([REGISTRY["t.a"]], RunConfig(samples=2, min_sample=0.001))
    doc = results_to_json(results, quick=True, path=tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == doc
    assert doc["schema"] == "edbp-bench/1" and doc["results"][0]["name"] == "t.a"
    assert len(doc["results"][0]["timing"]["samples"]) == 2


def test_discover_finds_the_optee_benchmarks() -> None:
    assert "edbp.bench.optee" not in discover()  # other areas report their own failures
    names = set(REGISTRY)
    for size in ("1MiB", "64MiB"):
        assert f"optee.sign_encrypt[{size}]" in names
        assert f"optee.verify_decrypt[{size}]" in names
        assert REGISTRY[f"optee.sign_encrypt[{size}]"].baseline in names
    assert not REGISTRY["optee.sign_encrypt[64MiB]"].quick
    assert all(b.nbytes is not None and b.nbytes <= 1 << 20 for b in select("optee.", quick=True))
    assert isinstance(REGISTRY["optee.verify_decrypt[1MiB]"], Benchmark)
    assert bench.__doc__ and "@benchmark(" in bench.__doc__


def test_cli_runs_a_benchmark_and_writes_json(clean_registry: None, tmp_path: Path) -> None:
    @benchmark("t.cli.base")
    def base() -> None:
        sum(range(100))

    @benchmark("t.cli.work", baseline="t.cli.base")
    def work() -> None:
        sum(range(200))

    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["bench", "-k", "t.cli.work", "--quick", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "t.cli.work" in result.output and "t.cli.base" in result.output
    doc = json.loads(out.read_text())
    assert [r["name"] for r in doc["results"]] == ["t.cli.work"]
    assert doc["results"][0]["ratio"] > 0


def test_cli_list_and_no_match() -> None:
    result = CliRunner().invoke(cli, ["bench", "--list", "-k", "optee."])
    assert result.exit_code == 0 and "optee.verify_decrypt[64MiB]" in result.output
    result = CliRunner().invoke(cli, ["bench", "-k", "no-such-benchmark"])
    assert result.exit_code == 1
