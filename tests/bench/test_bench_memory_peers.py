"""Peak memory, skips, heavy and self-timed benchmarks, child processes, peers and the generated
performance page. Behaviour only: no assertion on a time (a fake clock where it matters)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edbp.bench import REGISTRY, Skip, benchmark, discover, select
from edbp.bench._proc import bare_interpreter_rss, run_child
from edbp.bench._report import render
from edbp.bench.runner import RunConfig, results_to_json, run
from edbp.cli import cli

FAST = RunConfig(samples=2, min_sample=0.0, max_loops=1)


def test_skip_is_reported_with_its_reason(clean_registry: None) -> None:
    def no_peer() -> None:
        raise Skip("peer not installed")

    @benchmark("t.peer[1]", setup=no_peer)
    def peer(_: object) -> None: ...

    @benchmark("t.ours[1]", baseline="t.peer[1]")
    def ours() -> None: ...

    peer_result, ours_result = run(select("t.*"), FAST, memory=False)
    assert peer_result.skipped == "peer not installed" and peer_result.error is None
    # the benchmark still runs, alone, and says why it has no ratio
    assert ours_result.timing is not None and ours_result.ratio is None
    assert ours_result.baseline_skipped == "peer not installed"
    doc = results_to_json([peer_result, ours_result], quick=True)
    assert doc["results"][0]["skipped"] == "peer not installed"


def test_heavy_benchmark_runs_its_samples_only(clean_registry: None) -> None:
    calls: list[int] = []

    @benchmark("t.heavy[1GiB]", samples=1, quick=False)
    def heavy() -> None:
        calls.append(1)

    (result,) = run(select("t.heavy"), RunConfig(samples=5), memory=False)
    assert len(calls) == 1  # no calibration call, one sample
    assert result.timing is not None and len(result.timing.samples) == 1


def test_a_self_timed_benchmark_reports_its_own_seconds(clean_registry: None) -> None:
    @benchmark("t.child[1]", samples=2)
    def child() -> dict[str, Any]:
        return {"seconds": 0.25, "peak_rss": 123 << 20, "rss_above_start": 7}

    (result,) = run(select("t.child"), FAST)
    assert result.timing is not None
    assert result.timing.samples == (0.25, 0.25)
    assert result.timing.peak_bytes == 123 << 20  # the child's own figure, no extra call
    assert result.timing.metrics["rss_above_start"] == 7


def test_tracemalloc_peak_of_an_in_process_benchmark(clean_registry: None) -> None:
    @benchmark("t.alloc[8MiB]")
    def alloc() -> None:
        block = bytearray(8 << 20)
        del block

    @benchmark("t.small[1]")
    def small() -> None:
        return None

    big, tiny = run(select("t.*"), FAST)
    assert big.timing is not None and big.timing.peak_bytes is not None
    assert tiny.timing is not None and tiny.timing.peak_bytes is not None
    assert big.timing.peak_bytes >= 8 << 20 > tiny.timing.peak_bytes


def test_child_peak_rss_is_the_childs_own(tmp_path: Path) -> None:
    script = tmp_path / "grow.py"
    script.write_text("block = bytearray(96 << 20)\nblock[::4096] = b'x' * len(block[::4096])\n")
    grown = run_child("script", str(script))
    assert grown["peak_rss"] - bare_interpreter_rss() >= 80 << 20
    assert grown["rss_above_start"] >= 80 << 20
    idle = tmp_path / "idle.py"
    idle.write_text("pass\n")
    # a child of this (large) process does not report this process's size
    assert run_child("script", str(idle))["rss_above_start"] < 16 << 20
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit('boom')\n")
    with pytest.raises(RuntimeError, match="boom"):
        run_child("script", str(bad))


def test_optee_peer_is_skipped_without_a_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    discover()
    monkeypatch.delenv("EDBP_OPTEE_OS", raising=False)
    (result,) = run([REGISTRY["peer.optee_sign_encrypt[1MiB]"]], FAST, memory=False)
    assert result.skipped is not None and "EDBP_OPTEE_OS" in result.skipped
    monkeypatch.setenv("EDBP_OPTEE_OS", str(tmp_path))
    (result,) = run([REGISTRY["peer.optee_sign_encrypt[1MiB]"]], FAST, memory=False)
    assert result.skipped is not None and "sign_encrypt.py" in result.skipped


def test_cwt_peers_run_and_give_ratios() -> None:
    pytest.importorskip("cwt")
    discover()
    results = run(select("cose.*"), RunConfig(samples=1, min_sample=0.0, max_loops=1))
    assert {r.name for r in results} == {
        "cose.sign1[ES256]",
        "cose.verify1[ES256]",
        "cose.encrypt[ECDH-ES-A128KW]",
        "cose.decrypt[ECDH-ES-A128KW]",
    }
    for r in results:
        assert r.error is None and r.ratio is not None, r
        assert r.baseline is not None and r.baseline.name.startswith("peer.cwt_")


def _doc(**over: Any) -> dict[str, Any]:
    def timing(name: str, seconds: float, **metrics: Any) -> dict[str, Any]:
        return {
            "name": name,
            "seconds": seconds,
            "best": seconds,
            "samples": [seconds],
            "loops": 1,
            "nbytes": 1 << 30,
            "mib_per_s": 1024 / seconds,
            "peak_bytes": metrics.get("peak_rss"),
            "metrics": metrics,
        }

    sign = {
        "name": "optee.cli_sign_encrypt[1GiB]",
        "module": "edbp.bench.sweep",
        "timing": timing(
            "optee.cli_sign_encrypt[1GiB]", 5.0, peak_rss=40 << 20, rss_above_start=30 << 20
        ),
        "baseline": timing("peer.optee_sign_encrypt[1GiB]", 20.0),
        "ratio": over.get("sign_ratio", 0.25),
        "error": None,
        "skipped": None,
        "baseline_skipped": None,
    }
    peer = {
        "name": "peer.optee_sign_encrypt[1MiB]",
        "module": "edbp.bench.sweep",
        "timing": None,
        "baseline": None,
        "ratio": None,
        "error": None,
        "skipped": "EDBP_OPTEE_OS is not set",
        "baseline_skipped": None,
    }
    return {"schema": "edbp-bench/1", "quick": False, "python": "3", "results": [sign, peer]}


def test_performance_page_states_targets_and_skips() -> None:
    page = render(_doc(), "edbp bench")
    assert "0.25× (`optee.cli_sign_encrypt[1GiB]`); 30.0 MiB above start at 1024.0 MiB" in page
    row = next(line for line in page.splitlines() if "sign_encrypt.py sign-enc" in line)
    assert row.endswith("| met |")
    slow = render(_doc(sign_ratio=0.9), "edbp bench")
    row = next(line for line in slow.splitlines() if "sign_encrypt.py sign-enc" in line)
    assert row.endswith("| **not met** |")
    assert "EDBP_OPTEE_OS is not set" in page
    assert "not measured in this run" in page  # the TAM row, absent from this report


def test_cli_renders_the_page_from_a_saved_report(tmp_path: Path) -> None:
    saved = tmp_path / "bench.json"
    saved.write_text(json.dumps(_doc()))
    out = tmp_path / "performance.md"
    got = CliRunner().invoke(cli, ["bench", "--from-json", str(saved), "--doc", str(out)])
    assert got.exit_code == 0, got.output
    assert out.read_text().startswith("# edbp performance")
    got = CliRunner().invoke(cli, ["bench", "--from-json", str(saved)])
    assert got.exit_code != 0 and "--doc" in got.output


def test_floors_child_reports_its_own_time_and_python_peak(tmp_path: Path) -> None:
    from edbp.bench import sweep

    d = sweep._install_inputs(64 << 10)
    got = run_child(
        "module", "edbp.bench._floors", "install", str(d), str(tmp_path / "w"), report=True
    )
    assert isinstance(got["seconds"], float) and got["py_peak"] < 1 << 20
    assert not (tmp_path / "w").exists()  # the child removes its sealed storage
    assert sys.executable  # the child ran with this interpreter (run_child's contract)
