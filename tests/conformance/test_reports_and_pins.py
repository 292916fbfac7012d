"""Reports (JSON, JUnit XML, HTML), expected-failure pinning both ways, and a hung device."""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def test_reports(tmp_path: Path, suite: Any) -> None:
    junit, html = tmp_path / "junit.xml", tmp_path / "report.html"
    code, report = suite(
        tmp_path, "builtin", junit=str(junit), html=str(html), keyword="rollback or vector"
    )
    assert code == 0
    assert report["summary"]["passed"] > 20
    assert not {"failed", "error"} & set(report["summary"])
    assert "P7" in report["by_property"]
    root = ET.parse(junit).getroot()
    cases = root.iter("testcase")
    assert sum(1 for _ in cases) == len(report["cases"])
    assert html.exists() and b"<html" in html.read_bytes()[:2000].lower()


def test_failure_names_step_and_codes(tmp_path: Path, suite: Any) -> None:
    code, report = suite(tmp_path, "builtin:equal-sequence", cases=("rollback.equal-sequence",))
    assert code == 1
    (case,) = report["cases"]
    assert case["outcome"] == "failed"
    assert "deploy.verify_update" in case["step"]
    assert "AGENT_ROLLBACK" in case["expected"] and case["actual"] == "accepted"


def test_failure_names_the_clause_it_breaks(tmp_path: Path, suite: Any) -> None:
    """A check the case asked for breaks the case's clauses; a check the harness makes on the
    way (here the evidence of a device whose EAT names another key) names its own clause,
    whichever case tripped it, in every report format."""
    junit, html = tmp_path / "junit.xml", tmp_path / "report.html"
    code, report = suite(
        tmp_path,
        "builtin:evidence-cnf",
        cases=("rollback.equal-sequence", "deploy.evidence"),
        junit=str(junit),
        html=str(html),
    )
    assert code == 1
    by_id = {c["id"]: c for c in report["cases"]}
    assert by_id["deploy.evidence"]["violates"] == ["P-8.3a"]
    # rollback.equal-sequence names P-9.8a, but its first deploy failed on the evidence
    assert by_id["rollback.equal-sequence"]["violates"] == ["P-8.3a"]
    assert report["by_clause"] == {"P-8.3a": ["deploy.evidence", "rollback.equal-sequence"]}
    props = [
        p.get("value")
        for p in ET.parse(junit).getroot().iter("property")
        if p.get("name") == "violates"
    ]
    assert props == ["P-8.3a", "P-8.3a"]
    assert b"violates" in html.read_bytes()
    code, report = suite(tmp_path, "builtin:equal-sequence", cases=("rollback.equal-sequence",))
    (case,) = report["cases"]
    # the case's own check: the clauses naming the refusal's code (AGENT_ROLLBACK), then the
    # case's own
    assert case["violates"][0] == "P-9.8a" and set(case["clauses"]) <= set(case["violates"])


def test_wrong_code_breaks_the_order_and_the_case(tmp_path: Path, suite: Any) -> None:
    """Refused, but with another check's code: the order of checks (E-3a), the clauses that
    name the expected code (AGENT_ROLLBACK: the rollback check, P-9.8a) and the case's own."""
    code, report = suite(tmp_path, "builtin:wrong-error-code", cases=("rollback.older-sequence",))
    (case,) = report["cases"]
    assert code == 1 and case["outcome"] == "failed"
    assert case["violates"][0] == "E-3a" and "P-9.8a" in case["violates"]
    assert set(case["clauses"]) <= set(case["violates"])


def _pins(tmp_path: Path, pins: dict[str, Any]) -> str:
    path = tmp_path / "expected-failures.json"
    path.write_text(json.dumps(pins))
    return str(path)


def test_pinned_failure_is_expected(tmp_path: Path, suite: Any) -> None:
    """The wrong-error-code device fails rollback.older-sequence with code 608: pinned, the run
    passes and the case is an expected failure."""
    pins = _pins(tmp_path, {"rollback.older-sequence": "AGENT_INSTALL_FAILED"})
    code, report = suite(
        tmp_path,
        "builtin:wrong-error-code",
        cases=("rollback.older-sequence",),
        expected_failures=pins,
    )
    assert code == 0
    assert [c["outcome"] for c in report["cases"]] == ["expected-failure"]


def test_pinned_case_that_passes_fails_the_run(tmp_path: Path, suite: Any) -> None:
    """Fixing the device is noticed: the pinned case passes on the reference device."""
    pins = _pins(tmp_path, {"rollback.older-sequence": "AGENT_INSTALL_FAILED"})
    code, report = suite(
        tmp_path, "builtin", cases=("rollback.older-sequence",), expected_failures=pins
    )
    assert code == 1
    assert [c["outcome"] for c in report["cases"]] == ["failed"]


def test_pinned_to_another_code_fails(tmp_path: Path, suite: Any) -> None:
    pins = _pins(tmp_path, {"rollback.older-sequence": "AGENT_REPLAY"})
    code, report = suite(
        tmp_path,
        "builtin:wrong-error-code",
        cases=("rollback.older-sequence",),
        expected_failures=pins,
    )
    assert code == 1
    assert [c["outcome"] for c in report["cases"]] == ["failed"]


SLEEPY = textwrap.dedent(
    """
    import threading
    import time
    time.sleep(3)  # a slow start, as on a loaded machine: hello must still pass
    from edbp.conformance.adapter.server import serve_stdio
    from edbp.conformance.reference_device import ReferenceDevice

    class Sleepy(ReferenceDevice):
        def req_deliver(self, args, host):
            threading.Event().wait()  # a hung board: never answers, however long one waits
            return super().req_deliver(args, host)

    serve_stdio(Sleepy())
    """
)


#: the per-request timeout of the hung-device run. The device never answers ``deliver``, so
#: that case fails whatever this is; every other request (starting the device process and its
#: ``hello`` included, which a loaded 2-core machine once took more than 2 s to do) has this
#: long to be answered. It is a safety net, not a speed requirement.
HUNG_TIMEOUT = 20.0


def test_hung_device_is_a_failed_case(tmp_path: Path, suite: Any) -> None:
    script = tmp_path / "sleepy.py"
    script.write_text(SLEEPY)
    device = shlex.join([sys.executable, str(script)])
    code, report = suite(
        tmp_path, device, cases=("deploy.install", "adapter.hello"), timeout=HUNG_TIMEOUT
    )
    assert code == 1
    got = {c["id"]: c["outcome"] for c in report["cases"]}
    assert got["adapter.hello"] == "passed"
    assert got["deploy.install"] in ("failed", "error")
    detail = next(c for c in report["cases"] if c["id"] == "deploy.install")["detail"]
    assert "ADAPTER_TIMEOUT" in detail or "no answer within" in detail
