"""The conformance reports a lab hands on: JSON (spec/report.schema.json), JUnit XML, a
self-contained HTML page and the terminal summary, all made from the same case records.

Why one module and not pytest's own junitxml/pytest-html: those name cases by pytest function,
describe the host Python as the "environment", show harness tracebacks, and count a crashed
device differently from the JSON. Here every format takes the same record per case (id, title,
clauses, outcome, step, expected, actual, transcript) and the same header (device, tool,
vectors digest, selection), so a case has one name and one outcome everywhere:

| outcome | JSON | JUnit | terminal |
|---|---|---|---|
| the device diverged from the spec | ``failed`` | ``<failure>`` | FAILED |
| an adapter or harness fault (crash, timeout, bad frame) | ``error`` | ``<error>`` | ERROR |
| failed with its pinned code | ``expected-failure`` | ``<skipped>`` | XFAIL |
| capability/profile/suite not declared | ``skipped`` | ``<skipped>`` | skipped, by reason |

Secrets never reach a report: the transcript is CBOR diagnostic notation of the adapter frames
with the values of secret-bearing keys replaced (``REDACTED_KEYS``) and long byte strings cut.
"""

from __future__ import annotations

import hashlib
import html
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

#: report format version (spec/report.schema.json)
REPORT_VERSION = "2"

#: map keys whose values are secret (test keys carry private halves; a CEK or plaintext must
#: never be printed even when a faulty device leaks one)
REDACTED_KEYS = frozenset({"test_keys", "huk", "cek", "plaintext", "d", "private", "secret"})
MAX_BYTES_SHOWN = 48
MAX_FRAMES = 60

OUTCOMES = ("passed", "failed", "error", "expected-failure", "skipped", "advisory")


# ------------------------------------------------------------------------------ transcript


def diag(value: Any, key: Any = None) -> str:
    """CBOR diagnostic notation of an adapter frame's value, secrets redacted, bytes cut."""
    if key in REDACTED_KEYS:
        return '"<redacted>"'
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        if len(data) > MAX_BYTES_SHOWN:
            return f"h'{data[:MAX_BYTES_SHOWN].hex()}...'({len(data)} bytes)"
        return f"h'{data.hex()}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        text = value if len(value) <= 200 else value[:200] + "..."
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{diag(k)}: {diag(v, k)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(diag(v) for v in value) + "]"
    return '"' + type(value).__name__ + '"'


def transcript(log: list[tuple[str, Any]]) -> list[str]:
    """The adapter frames of a case, one line each (``->`` to the device, ``<-`` from it)."""
    lines = []
    shown = log[-MAX_FRAMES:]
    if len(log) > len(shown):
        lines.append(f"... {len(log) - len(shown)} earlier frames")
    for direction, item in shown:
        arrow = "<-" if direction == "<" else "->"
        lines.append(f"{arrow} {diag(item)}")
    return lines


# ------------------------------------------------------------------------------ header facts


def tool_info() -> dict[str, str]:
    """edbp's version and, when it runs from a git checkout, the commit."""
    from edbp import __version__

    commit = "unknown"
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if out.returncode == 0 and out.stdout.strip():
            commit = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"name": "edbp conformance", "version": __version__, "commit": commit}


def vectors_info() -> dict[str, Any]:
    """The SHA-256 of the committed ``vectors/index.json`` (which pins every file's digest)."""
    try:
        data = (resources.files("edbp.vectors") / "index.json").read_bytes()
    except (OSError, ModuleNotFoundError):
        return {"index_sha256": None}
    return {"index_sha256": hashlib.sha256(data).hexdigest()}


def verdict(summary: dict[str, int]) -> str:
    if summary.get("failed") or summary.get("error"):
        return "not conformant"
    if not summary.get("passed") and not summary.get("expected-failure"):
        return "nothing ran"
    return "conformant"


def build(
    cases: list[dict[str, Any]],
    *,
    devices: list[dict[str, Any]],
    selection: dict[str, Any],
) -> dict[str, Any]:
    """The JSON report (spec/report.schema.json)."""
    counts: Counter[str] = Counter(c["outcome"] for c in cases)
    summary = {o: counts[o] for o in OUTCOMES if counts[o]}
    vector_modes = Counter(c["vector"] for c in cases if "vector" in c)
    return {
        "report_version": REPORT_VERSION,
        "tool": tool_info(),
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "devices": devices,
        "vectors": {**vectors_info(), "runs": dict(sorted(vector_modes.items()))},
        "selection": selection,
        "verdict": verdict(summary),
        "summary": summary,
        "by_property": property_table(cases),
        "by_clause": clause_table(cases),
        "cases": sorted(cases, key=lambda c: c["id"]),
    }


def clause_table(cases: list[dict[str, Any]]) -> dict[str, list[str]]:
    """For each spec clause a failure shows broken, the ids of the cases that failed on it:
    the report's answer to "which requirements does this device not meet"."""
    table: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        for clause in case.get("violates", ()):
            table[clause].append(case["id"])
    return {c: sorted(ids) for c, ids in sorted(table.items(), key=lambda kv: _clause_key(kv[0]))}


def _clause_key(clause: str) -> tuple[str, tuple[int, ...], str]:
    """P-9.10a after P-9.9a: numbers compared as numbers."""
    doc, _, rest = clause.partition("-")
    nums = re.match(r"[\d.]*\d", rest)
    head = nums.group(0) if nums else ""
    return (doc, tuple(int(n) for n in head.split(".") if n), rest[len(head) :])


def _natural(p: str) -> tuple[int, str]:
    return (len(p), p)


def property_table(cases: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """outcome counts per property; cases guarding none are counted under ``other``."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for case in cases:
        for prop in case["properties"] or ["other"]:
            table[prop][case["outcome"]] += 1
    order = sorted((p for p in table if p != "other"), key=_natural)
    order += ["other"] if "other" in table else []
    return {p: dict(sorted(table[p].items())) for p in order}


# ------------------------------------------------------------------------------ terminal

_SHORT = {
    "passed": "pass",
    "failed": "fail",
    "error": "error",
    "expected-failure": "xfail",
    "skipped": "skip",
    "advisory": "advis.",
}


def terminal_lines(report: dict[str, Any], width: int = 80) -> list[str]:
    """The summary printed after a run; no line is wider than ``width`` (80 by default)."""
    out = ["per property (other = adapter and wire cases that guard no property P1-P13):"]
    out.append(f"{'property':<10}" + "".join(f"{_SHORT[o]:>8}" for o in OUTCOMES))
    for prop, row in report["by_property"].items():
        out.append(f"{prop:<10}" + "".join(f"{row.get(o, 0):>8}" for o in OUTCOMES))
    cases = report["cases"]
    reasons = Counter(c.get("reason", "?") for c in cases if c["outcome"] == "skipped")
    if reasons:
        out.append("skipped, by reason:")
        out += [f"  {n:>4} x {reason}" for reason, n in reasons.most_common()]
    runs = report["vectors"].get("runs") or {}
    if runs:
        out.append("vectors: " + ", ".join(f"{n} {mode}" for mode, n in sorted(runs.items())))
    for case in (c for c in cases if c["outcome"] == "advisory"):
        out.append(f"ADVISORY {case['id']}: {case.get('finding', '')}")
    broken = report.get("by_clause") or {}
    if broken:
        out.append("spec clauses not met (failing cases):")
        items = [f"{clause} ({len(ids)})" for clause, ids in broken.items()]
        line = " "
        for item in items:
            if len(line) + len(item) + 2 > width and line.strip():
                out.append(line.rstrip(", "))
                line = " "
            line += f" {item},"
        out.append(line.rstrip(", "))
    bad = [c for c in cases if c["outcome"] in ("failed", "error")]
    for case in bad[:50]:
        out.append(f"{case['outcome'].upper()} {case['id']}")
        if case.get("violates"):
            out.append(f"  violates: {', '.join(case['violates'])}")
        if case.get("step"):
            out.append(f"  step:     {case['step']}")
        if "expected" in case:
            out.append(f"  expected: {case['expected']}")
            out.append(f"  actual:   {case['actual']}")
        elif case.get("detail"):
            out.append(f"  {case['detail'].splitlines()[0]}")
        if case.get("hint"):
            out.append(f"  hint: {case['hint']}")
        for line in (case.get("transcript") or [])[-6:]:
            out.append(f"    {line}")
    if len(bad) > 50:
        out.append(f"... and {len(bad) - 50} more (see the JSON or HTML report)")
    summary = ", ".join(f"{n} {o}" for o, n in report["summary"].items())
    out.append(f"edbp conformance: {report['verdict']} ({summary})")
    return [_fit(line, width) for line in out]


def _fit(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


# ------------------------------------------------------------------------------ JUnit


def write_junit(report: dict[str, Any], path: Path) -> None:
    """JUnit XML: ``name`` = case id, ``classname`` = first property / flow; ``<failure>`` for
    non-conformance, ``<error>`` for adapter faults, ``<skipped>`` for skips and pins."""
    summary = report["summary"]
    suite = ET.Element(
        "testsuite",
        {
            "name": "edbp conformance",
            "tests": str(len(report["cases"])),
            "failures": str(summary.get("failed", 0)),
            "errors": str(summary.get("error", 0)),
            "skipped": str(summary.get("skipped", 0) + summary.get("expected-failure", 0)),
            "timestamp": report["generated"],
        },
    )
    props = ET.SubElement(suite, "properties")
    header = [
        ("tool", f"{report['tool']['name']} {report['tool']['version']}"),
        ("tool.commit", report["tool"]["commit"]),
        ("vectors.index_sha256", str(report["vectors"].get("index_sha256"))),
        ("verdict", report["verdict"]),
    ]
    for dev in report["devices"]:
        header.append(("device", _device_line(dev)))
    for name, value in header:
        ET.SubElement(props, "property", {"name": name, "value": value})
    for case in report["cases"]:
        first = case["properties"][0] if case["properties"] else "other"
        tc = ET.SubElement(
            suite,
            "testcase",
            {
                "name": case["id"],
                "classname": f"{first}.{case['flow']}",
                "time": f"{case.get('duration', 0):.3f}",
            },
        )
        cprops = ET.SubElement(tc, "properties")
        for clause in case.get("clauses", ()):
            ET.SubElement(cprops, "property", {"name": "clause", "value": clause})
        for clause in case.get("violates", ()):
            ET.SubElement(cprops, "property", {"name": "violates", "value": clause})
        for prop in case["properties"]:
            ET.SubElement(cprops, "property", {"name": "property", "value": prop})
        ET.SubElement(cprops, "property", {"name": "device", "value": str(case.get("device"))})
        if "vector" in case:
            ET.SubElement(cprops, "property", {"name": "vector", "value": case["vector"]})
        outcome = case["outcome"]
        text = "\n".join(_case_text(case))
        if outcome == "failed":
            ET.SubElement(tc, "failure", {"message": _message(case)}).text = text
        elif outcome == "error":
            ET.SubElement(tc, "error", {"message": _message(case)}).text = text
        elif outcome in ("skipped", "expected-failure"):
            ET.SubElement(tc, "skipped", {"message": case.get("reason", outcome)})
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _message(case: dict[str, Any]) -> str:
    if "expected" in case:
        return f"step {case.get('step')}: expected {case['expected']}, got {case['actual']}"
    return str(case.get("detail") or case["outcome"]).splitlines()[0]


def _case_text(case: dict[str, Any]) -> list[str]:
    lines = []
    if case.get("step"):
        lines.append(f"step:     {case['step']}")
    if "expected" in case:
        lines += [f"expected: {case['expected']}", f"actual:   {case['actual']}"]
    if case.get("detail"):
        lines.append(case["detail"])
    if case.get("transcript"):
        lines += ["transcript:", *case["transcript"]]
    return lines


def _device_line(dev: dict[str, Any]) -> str:
    ident = dev.get("identity") or {}
    return (
        f"{dev.get('spec')}: {dev.get('name') or '?'}; vendor_id={ident.get('vendor_id', '?')} "
        f"class_id={ident.get('class_id', '?')}; profiles={','.join(dev.get('profiles', []))}"
    )


# ------------------------------------------------------------------------------ HTML

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#111}
h1{font-size:1.6em;margin:0 0 .2em} h2{font-size:1.2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.2em .5em;
text-align:left;vertical-align:top} th{background:#f2f2f2}
.verdict{font-size:1.3em;font-weight:bold;padding:.4em .8em;display:inline-block}
.conformant{background:#d9f2d9;color:#0a4d0a} .not-conformant{background:#f8d7d7;color:#7a0a0a}
.nothing-ran{background:#eee}
.passed{color:#0a6b0a} .failed,.error{color:#a00;font-weight:bold} .skipped{color:#777}
.expected-failure{color:#8a5a00} .advisory{color:#004f8a}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;white-space:pre-wrap;word-break:break-all;
font-size:12px} details{margin:.2em 0} summary{cursor:pointer}
@media print{details{break-inside:avoid} details>*{display:block} body{margin:0}}
"""


def write_html(report: dict[str, Any], path: Path) -> None:
    """A self-contained page (no script, no external resource) that prints as it shows."""
    e = html.escape
    v = report["verdict"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>edbp conformance report: {e(v)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>edbp conformance report</h1>",
        f'<p id="verdict" class="verdict {v.replace(" ", "-")}">Verdict: {e(v)}</p>',
        "<h2>Device</h2>",
    ]
    for dev in report["devices"]:
        ident = dev.get("identity") or {}
        rows = [
            ("spec", dev.get("spec")),
            ("shim", dev.get("name")),
            ("adapter protocol version", dev.get("version")),
            ("vendor_id", ident.get("vendor_id")),
            ("class_id", ident.get("class_id")),
            ("ueid", ident.get("ueid")),
            ("profiles", ", ".join(dev.get("profiles", []))),
            ("suites", ", ".join(dev.get("suites", []))),
            ("capabilities", ", ".join(dev.get("capabilities", []))),
        ]
        parts.append(_kv_table(rows, "device"))
    tool = report["tool"]
    sel = report["selection"]
    parts += [
        "<h2>Run</h2>",
        _kv_table(
            [
                ("tool", f"{tool['name']} {tool['version']}"),
                ("commit", tool["commit"]),
                ("vectors (index.json SHA-256)", report["vectors"].get("index_sha256")),
                (
                    "vector runs",
                    ", ".join(f"{n} {m}" for m, n in report["vectors"].get("runs", {}).items()),
                ),
                ("selection", _selection_text(sel)),
                ("pins (expected failures)", ", ".join(f"{k}={c}" for k, c in sel["pins"].items())),
                ("date (UTC)", report["generated"]),
                ("summary", ", ".join(f"{n} {o}" for o, n in report["summary"].items())),
            ],
            "run",
        ),
        "<h2>Per property</h2>",
        '<table id="properties"><tr><th>property</th>'
        + "".join(f"<th>{e(o)}</th>" for o in OUTCOMES)
        + "</tr>",
    ]
    for prop, row in report["by_property"].items():
        parts.append(
            f"<tr><td>{e(prop)}</td>"
            + "".join(f"<td>{row.get(o, 0)}</td>" for o in OUTCOMES)
            + "</tr>"
        )
    parts.append("</table>")
    parts.append(
        "<p>other: cases that guard no property (adapter basics, wire checks). "
        "A case's clauses link to the spec text it checks.</p>"
    )
    broken = report.get("by_clause") or {}
    if broken:
        parts.append("<h2>Spec clauses not met</h2>")
        parts.append(
            '<table id="clauses"><tr><th>clause</th><th>failing cases</th></tr>'
            + "".join(
                f'<tr><td><a href="{e(_clause_href(c))}">{e(c)}</a></td>'
                f"<td>{e(', '.join(ids))}</td></tr>"
                for c, ids in broken.items()
            )
            + "</table>"
        )
        parts.append(
            "<p>Each failure names the requirements it shows unmet: the clauses of the check "
            "that failed (a case's own check, or one the harness makes in every case, such as "
            "the evidence or the reports), not only the case that noticed.</p>"
        )
    parts.append('<h2>Cases</h2><div id="cases">')
    bad_first = sorted(
        report["cases"], key=lambda c: (c["outcome"] not in ("failed", "error"), c["id"])
    )
    for case in bad_first:
        outcome = case["outcome"]
        open_attr = " open" if outcome in ("failed", "error") else ""
        clauses = ", ".join(
            f'<a href="{e(_clause_href(c))}">{e(c)}</a>' for c in case.get("clauses", ())
        )
        violates = ", ".join(
            f'<a href="{e(_clause_href(c))}">{e(c)}</a>' for c in case.get("violates", ())
        )
        body = [
            _kv_table(
                [
                    ("title", case.get("title")),
                    ("properties", ", ".join(case["properties"]) or "other"),
                    ("flow / suite", f"{case['flow']} / {case['suite']}"),
                    ("device", case.get("device")),
                    ("vector", case.get("vector")),
                    ("reason", case.get("reason")),
                    ("step", case.get("step")),
                    ("expected", case.get("expected")),
                    ("actual", case.get("actual")),
                    ("hint", case.get("hint")),
                ],
                None,
                raw={k: v for k, v in (("clauses", clauses), ("violates", violates)) if v} or None,
            )
        ]
        if case.get("detail"):
            body.append(f"<pre>{e(case['detail'])}</pre>")
        if case.get("transcript"):
            body.append(
                "<p>messages exchanged (CBOR diagnostic notation, secrets redacted):</p>"
                f"<pre>{e(chr(10).join(case['transcript']))}</pre>"
            )
        parts.append(
            f'<details class="case" id="case-{e(case["id"])}"{open_attr}><summary>'
            f'<span class="{outcome}">{e(outcome)}</span> <code>{e(case["id"])}</code> '
            f"{e(case.get('title') or '')}</summary>{''.join(body)}</details>"
        )
    parts.append("</div></body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _kv_table(
    rows: list[tuple[str, Any]], table_id: str | None, raw: dict[str, str] | None = None
) -> str:
    e = html.escape
    ident = f' id="{table_id}"' if table_id else ""
    out = [f"<table{ident}>"]
    for key, value in rows:
        if value is None or value == "":
            continue
        out.append(f"<tr><th>{e(key)}</th><td>{e(str(value))}</td></tr>")
    for key, value in (raw or {}).items():
        out.append(f"<tr><th>{e(key)}</th><td>{value}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _clause_href(clause: str) -> str:
    """A clause id as a link into the spec text: ``adapter.md#hello`` or ``adapter#hello`` ->
    ``spec/adapter.md#hello``; anything else -> its anchor in spec/clauses.md."""
    name, _, anchor = clause.partition("#")
    if anchor:
        doc = name if name.endswith(".md") else f"{name}.md"
        return f"spec/{doc}#{anchor}"
    return f"spec/clauses.md#{clause}"


def _selection_text(sel: dict[str, Any]) -> str:
    parts = [f"{k}={','.join(v)}" for k, v in sel.items() if k != "pins" and v]
    return "; ".join(parts) or "all cases"
