"""The conformance plugin's own duties, on synthetic cases run with pytester."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

CASES = """
import pytest
from edbp.conformance.outcome import Advisory, CaseFailure

@pytest.mark.edbp_case(id="demo.pass", properties=("P7",), flow="deploy")
def test_pass():
    pass

@pytest.mark.edbp_case(id="demo.fail", properties=("P4",), flow="deploy")
def test_fail():
    raise CaseFailure("deploy.verify_update", "error 602", "success", code=None)

@pytest.mark.edbp_case(id="demo.pinned", properties=("P6",), flow="deploy")
def test_pinned():
    raise CaseFailure("deploy.verify_update", "error 612", "error 603", code=603)

@pytest.mark.edbp_case(
    id="demo.advisory", properties=("P3",), flow="cpm", profile="blueprint", advisory=True
)
def test_advisory():
    raise Advisory("unwrap errors differ by padding failure", "unwrap error vs size mismatch")
"""


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    pytester.makepyfile(test_cases=CASES)
    out = pytester.path / "report.json"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--edbp-json", str(out), *args)
    return result, json.loads(out.read_text())


def _outcomes(report: dict) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in report["cases"]}


def test_outcomes_and_per_property_table(pytester: pytest.Pytester) -> None:
    result, report = _run(pytester)
    assert _outcomes(report) == {
        "demo.pass": "passed",
        "demo.fail": "failed",
        "demo.pinned": "failed",
        "demo.advisory": "advisory",
    }
    assert report["by_property"]["P7"] == {"passed": 1}
    result.stdout.fnmatch_lines(
        ["*= edbp conformance =*", "per property*", "*ADVISORY demo.advisory*"]
    )
    failed = next(c for c in report["cases"] if c["id"] == "demo.fail")
    assert failed["step"] == "deploy.verify_update"
    assert result.ret == 1


def test_pinned_failure_with_its_code_is_expected(pytester: pytest.Pytester) -> None:
    pins = pytester.path / "known.json"
    pins.write_text(json.dumps({"demo.pinned": "AGENT_ROLLBACK"}))
    _, report = _run(pytester, "--edbp-expected-failures", str(pins))
    assert _outcomes(report)["demo.pinned"] == "expected-failure"


def test_pinned_case_failing_with_another_code_fails(pytester: pytest.Pytester) -> None:
    pins = pytester.path / "known.json"
    pins.write_text(json.dumps({"demo.pinned": 612}))
    _, report = _run(pytester, "--edbp-expected-failures", str(pins))
    assert _outcomes(report)["demo.pinned"] == "failed"


def test_pinned_case_that_passes_fails_the_run(pytester: pytest.Pytester) -> None:
    pins = pytester.path / "known.json"
    pins.write_text(json.dumps({"demo.pass": "AGENT_ROLLBACK"}))
    result, report = _run(
        pytester, "--edbp-expected-failures", str(pins), "--edbp-case", "demo.pass"
    )
    assert _outcomes(report) == {"demo.pass": "failed"}
    assert result.ret == 1


def test_selection_by_property_and_flow(pytester: pytest.Pytester) -> None:
    result, report = _run(pytester, "--edbp-property", "P7")
    assert set(_outcomes(report)) == {"demo.pass"}
    assert result.ret == 0
    _, report = _run(pytester, "--edbp-flow", "cpm")
    assert set(_outcomes(report)) == {"demo.advisory"}


def test_bad_expected_failures_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pins = pytester.path / "known.json"
    pins.write_text(json.dumps({"demo.pass": "NO_SUCH_CODE"}))
    pytester.makepyfile(test_cases=CASES)
    result = pytester.runpytest_inprocess("--edbp-expected-failures", str(pins))
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_explore_mode_runs_the_model_lockstep_against_the_device(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest as _pytest

    from edbp.cli.conformance import build_pytest_args

    out = tmp_path / "explore.json"
    args = build_pytest_args(["builtin"], json_out=str(out), cases=("explore.lockstep",), explore=3)
    assert _pytest.main(args) == 0
    report = json.loads(out.read_text())
    assert [c["outcome"] for c in report["cases"]] == ["passed"]


def test_a_pool_of_two_devices_spreads_cases_over_two_workers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest as _pytest

    from edbp.cli.conformance import build_pytest_args

    out = tmp_path / "pool.json"
    args = build_pytest_args(
        ["builtin", "edbp device serve --stdio"], json_out=str(out), properties=("P7",)
    )
    assert "-n" in args
    assert _pytest.main(args) == 0
    report = json.loads(out.read_text())
    assert [d["spec"] for d in report["devices"]] == ["builtin", "edbp device serve --stdio"]
    assert all(d["profiles"] == ["edbp"] for d in report["devices"])  # each worker's hello
    ran = [c for c in report["cases"] if c["outcome"] != "skipped"]  # skips: blueprint cases
    assert {c["outcome"] for c in ran} == {"passed"}
    assert {c["device"] for c in ran} == {"builtin", "edbp device serve --stdio"}
