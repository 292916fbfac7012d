"""Reports a lab can hand on (issue 14 §3): the JSON report against spec/report.schema.json,
JUnit named by case id with adapter faults as <error>, a terminal summary within 80 columns,
and the HTML report rendered in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SPEC = Path(__file__).resolve().parents[2] / "spec"
SCHEMA = json.loads((SPEC / "report.schema.json").read_text())
EDBP = [sys.executable, "-c", "import sys; from edbp.cli import main; sys.exit(main())"]


def _validate(report: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(report))
    assert not errors, [e.message[:200] for e in errors[:5]]


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One CLI run against a device that crashes on malformed input, with every report."""
    out = tmp_path_factory.mktemp("crash")
    paths = {k: out / f"r.{k}" for k in ("json", "xml", "html")}
    res = subprocess.run(
        [
            *EDBP,
            "conformance",
            "run",
            "--device",
            "builtin:crash-on-malformed",
            "--property",
            "P10",
            "--json",
            str(paths["json"]),
            "--junit",
            str(paths["xml"]),
            "--html",
            str(paths["html"]),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        # what a lab sees without --debug, whatever this worker's environment holds
        env={k: v for k, v in os.environ.items() if k != "EDBP_DEBUG"},
    )
    return {"res": res, "paths": paths, "report": json.loads(paths["json"].read_text())}


def test_json_report_validates_and_carries_the_run(crashed: dict[str, Any]) -> None:
    report = crashed["report"]
    _validate(report)
    assert crashed["res"].returncode == 1
    assert report["verdict"] == "not conformant"
    (device,) = report["devices"]
    assert device["spec"] == "builtin:crash-on-malformed" and device["identity"]["vendor_id"]
    assert len(report["vectors"]["index_sha256"]) == 64
    assert report["selection"]["properties"] == ["P10"]
    errors = [c for c in report["cases"] if c["outcome"] == "error"]
    assert errors
    for case in report["cases"]:
        assert "Traceback" not in case.get("detail", "")
    assert all(c["detail"].startswith("edbp: error 872 ") for c in errors)
    assert all(c.get("transcript") for c in errors)  # the frames exchanged before the crash


def test_the_schema_refuses_a_traceback_and_an_unknown_outcome(crashed: dict[str, Any]) -> None:
    bad = json.loads(json.dumps(crashed["report"]))
    bad["cases"][0]["detail"] = "Traceback (most recent call last):\n  File ..."
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    bad = json.loads(json.dumps(crashed["report"]))
    bad["cases"][0]["outcome"] = "crashed"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_junit_names_cases_by_id_and_agrees_with_the_json(crashed: dict[str, Any]) -> None:
    report = crashed["report"]
    root = ET.parse(crashed["paths"]["xml"]).getroot()
    (suite,) = root.iter("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties") or ()}
    assert props["vectors.index_sha256"] == report["vectors"]["index_sha256"]
    assert "builtin:crash-on-malformed" in props["device"]
    by_id = {c["id"]: c for c in report["cases"]}
    seen = 0
    for tc in suite.iter("testcase"):
        case = by_id[tc.get("name")]
        seen += 1
        first = case["properties"][0] if case["properties"] else "other"
        assert tc.get("classname") == f"{first}.{case['flow']}"
        kind = {"error": "error", "failed": "failure", "skipped": "skipped"}.get(case["outcome"])
        children = {child.tag for child in tc} - {"properties"}
        assert children == ({kind} if kind else set()), (case["id"], children)
    assert seen == len(by_id)
    assert int(suite.get("errors")) == report["summary"]["error"]
    assert "failures" in suite.attrib and int(suite.get("failures")) == 0


def test_terminal_fits_80_columns_and_groups_skips(crashed: dict[str, Any]) -> None:
    out = crashed["res"].stdout
    lines = out.splitlines()
    wide = [ln for ln in lines if len(ln) > 80]
    assert not wide, wide[:3]
    assert "Traceback" not in out
    assert any(ln.startswith("ERROR vector.") for ln in lines)  # the case id, not a node id
    skip_lines = [ln for ln in lines if " x device does not speak the blueprint profile" in ln]
    assert len(skip_lines) == 1
    assert "edbp conformance: not conformant" in out
    assert "cases deselected (not in the selection properties=P10)" in out


def test_html_report_is_an_edbp_report(crashed: dict[str, Any]) -> None:
    page = crashed["paths"]["html"].read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "http://" not in page and "https://" not in page  # self-contained
    for needle in (
        "Verdict: not conformant",
        "builtin:crash-on-malformed",
        "vendor_id",
        "index.json SHA-256",
        "messages exchanged",
        "CONFORMANCE_DEVICE_FAULT",
    ):
        assert needle in page, needle
    assert "Traceback" not in page and "pytest" not in page


def test_html_report_renders_in_headless_chromium(crashed: dict[str, Any], tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    page = crashed["paths"]["html"].resolve().as_uri()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    ).stdout
    # the DOM as the browser built it: verdict, device and property tables, the cases
    assert 'id="verdict"' in dom and "not conformant" in dom
    assert 'id="device"' in dom and 'id="properties"' in dom
    assert dom.count('class="case"') == len(crashed["report"]["cases"])
    png = tmp_path / "report.png"
    subprocess.run(
        [chromium, *flags, f"--screenshot={png}", "--window-size=1200,1600", page],
        capture_output=True,
        check=False,
        timeout=300,
    )
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 1600)
    assert len(data) > 20_000  # a rendered page, not a blank canvas


OK_FALSE = """
from edbp.conformance.adapter.server import serve_stdio
from edbp.conformance.reference_device import ReferenceDevice
from edbp.errors import AdapterError, Code


class OkFalse(ReferenceDevice):
    '''The vendor-guide mistake: a refused delivery answered as an adapter error.'''

    def req_deliver(self, args, host):
        result = super().req_deliver(args, host)
        if result.get("code"):
            raise AdapterError(Code(result["code"]), "refused")
        return result


serve_stdio(OkFalse())
"""


def test_a_refusal_answered_with_ok_false_gets_the_hint(tmp_path: Path, suite: Any) -> None:
    import shlex

    script = tmp_path / "ok_false.py"
    script.write_text(OK_FALSE)
    device = shlex.join([sys.executable, str(script)])
    code, report = suite(tmp_path, device, cases=("rollback.equal-sequence", "deploy.install"))
    assert code == 1
    by_id = {c["id"]: c for c in report["cases"]}
    assert by_id["deploy.install"]["outcome"] == "passed"  # no refusal, no hint
    refused = by_id["rollback.equal-sequence"]
    assert refused["outcome"] == "failed" and "AGENT_ROLLBACK" in refused["actual"]
    assert "a refused delivery is an ok reply" in refused["hint"]
    assert "hint" not in by_id["deploy.install"]


def test_transcripts_redact_secrets(tmp_path: Path, suite: Any) -> None:
    """A failing vector case's transcript shows its provision frame, with the private test
    keys redacted: no byte of them reaches the report."""
    from edbp.conformance.harness.vectors import load_vector_cases
    from edbp.conformance.report import diag

    assert diag({"test_keys": {"dak": b"\x01" * 40}, "tam_keys": [b"\x02"]}) == (
        '{"test_keys": "<redacted>", "tam_keys": [h\'02\']}'
    )
    case_id = "vector.deploy.esp256-a128gcm.invalid.update-rollback"
    (vector,) = [c for c in load_vector_cases() if c.meta.id == case_id]
    secrets = [v[-64:] for v in vector.test["device"]["testKeys"].values()]
    code, report = suite(tmp_path, "builtin:skip-rollback", cases=(case_id,))
    assert code == 1
    (case,) = report["cases"]
    text = json.dumps(report)
    assert any('"test_keys": "<redacted>"' in line for line in case["transcript"])
    assert not any(s in text for s in secrets)
