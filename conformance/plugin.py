"""pytest plugin of the conformance suite.

Registered under the ``pytest11`` entry point, so ``edbp conformance run`` and a vendor's own
``pytest --pyargs edbp.conformance.cases --edbp-device ...`` load the same options. It adds
nothing to a pytest session that does not collect conformance cases.

What pytest and its plugins already do is left to them (selection with ``-k``/``-m``, JUnit XML,
pytest-html, pytest-xdist, pytest-timeout). This plugin adds only:
- the device pool: one adapter connection per worker, a reset before every case;
- case metadata (``@pytest.mark.edbp_case(id=..., properties=..., flow=..., suite=...,
  needs=...)``) with selection by property, flow, suite and tag, and capability-gated skips;
- the expected-failures file: a case pinned to an error code must fail with exactly that code
  (a pass or another code is a failure, so a fixed device is noticed);
- the per-property summary and the JSON report.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from edbp.conformance.outcome import Advisory, CaseFailure, CaseMeta, case_meta

from edbp.errors import AdapterError, Code, ConfigError, EdbpError

_RESULTS_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()
_PINS_KEY = pytest.StashKey[dict[str, int]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("edbp", "edbp conformance")
    group.addoption(
        "--edbp-device",
        action="append",
        default=[],
        metavar="SPEC",
        help="device to test: 'builtin', 'builtin:FAULT', 'tcp:HOST:PORT' or a command "
        "speaking the adapter protocol on stdin/stdout; repeat for a pool of boards",
    )
    group.addoption("--edbp-timeout", type=float, default=30.0, help="seconds per request")
    group.addoption(
        "--edbp-expected-failures",
        metavar="FILE",
        help="JSON object mapping case id -> error code (int or name) the device is known to give",
    )
    group.addoption("--edbp-property", action="append", default=[], help="only cases guarding P<n>")
    group.addoption("--edbp-flow", action="append", default=[], help="only cases of this flow")
    group.addoption("--edbp-suite", action="append", default=[], help="only cases of this suite")
    group.addoption("--edbp-tag", action="append", default=[], help="only cases with this tag")
    group.addoption("--edbp-case", action="append", default=[], help="only this case id")
    group.addoption("--edbp-json", metavar="FILE", help="write the JSON report here")
    group.addoption(
        "--edbp-explore",
        type=int,
        default=0,
        metavar="N",
        help="also drive the device with N model-generated traces in lockstep with the model",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "edbp_case(id, properties, flow, suite, tags, needs, profile): conformance case metadata",
    )
    config.stash[_RESULTS_KEY] = {}
    pins: dict[str, int] = {}
    path = config.getoption("--edbp-expected-failures", default=None)
    if path:
        pins = load_expected_failures(Path(path))
    config.stash[_PINS_KEY] = pins


def load_expected_failures(path: Path) -> dict[str, int]:
    """``{case id: code}`` with codes as integers or ``Code`` names (pytest usage error)."""
    try:
        return read_pins(path)
    except EdbpError as exc:
        raise pytest.UsageError(error_line(exc)) from None


def read_pins(path: Path) -> dict[str, int]:
    """``{case id: code}`` of an expected-failures file; a bad one is ``CONFORMANCE_SELECTION``."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            Code.CONFORMANCE_SELECTION, f"cannot read expected-failures file {path}: {exc}"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            Code.CONFORMANCE_SELECTION, "expected-failures file must hold a JSON object"
        )
    pins: dict[str, int] = {}
    for case_id, code in raw.items():
        if isinstance(code, str) and code in Code.__members__:
            pins[case_id] = int(Code[code])
        elif isinstance(code, int) and not isinstance(code, bool):
            pins[case_id] = code
        else:
            raise ConfigError(
                Code.CONFORMANCE_SELECTION,
                f"expected failure {case_id!r}: unknown code {code!r} (an integer or a code name)",
            )
    return pins


def error_line(exc: EdbpError) -> str:
    """The CLI's one-line form of an error (``edbp: error NNN NAME: detail``)."""
    detail = f": {exc.detail}" if exc.detail else ""
    return f"edbp: error {int(exc.code)} {exc.code.name}{detail}"


@attrs.frozen
class Selection:
    """What a run selects: the ``--property/--flow/--suite/--tag/--case`` values."""

    properties: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    explore: bool = False

    @classmethod
    def from_config(cls, config: pytest.Config) -> Selection:
        return cls(
            tuple(config.getoption("--edbp-property") or ()),
            tuple(config.getoption("--edbp-flow") or ()),
            tuple(config.getoption("--edbp-suite") or ()),
            tuple(config.getoption("--edbp-tag") or ()),
            tuple(config.getoption("--edbp-case") or ()),
            bool(config.getoption("--edbp-explore", default=0)),
        )

    def matches(self, meta: CaseMeta) -> bool:
        if "explore" in meta.tags and not self.explore:
            return False  # model-based exploration runs only when asked for (--explore N)
        if self.properties and not set(self.properties) & set(meta.properties):
            return False
        if self.flows and meta.flow not in self.flows:
            return False
        if self.suites and meta.suite not in self.suites:
            return False
        if self.tags and not set(self.tags) & set(meta.tags):
            return False
        return not (self.cases and meta.id not in self.cases)


def _natural(value: str) -> tuple[int, str]:
    return (len(value), value)  # P2 before P10


def _unknown(option: str, asked: tuple[str, ...], known: set[str], limit: int = 40) -> str | None:
    missing = [v for v in asked if v not in known]
    if not missing:
        return None
    valid = sorted(known, key=_natural)
    shown = ", ".join(valid[:limit])
    if len(valid) > limit:
        shown += f", ... ({len(valid)} in all)"
    hint = ""
    digits = [v for v in missing if v.isdigit()]
    if option == "--property" and digits:
        hint = f" (properties are named P<n>: did you mean P{digits[0]}?)"
    return f"{option} {', '.join(missing)}: no case has it{hint}; valid: {shown}"


def check_selection(
    metas: list[CaseMeta], selection: Selection, pins: dict[str, int] | None = None
) -> int:
    """The number of cases ``selection`` keeps; a value that no case has, a pin naming an
    unknown case id, or a selection that keeps nothing raises ``CONFORMANCE_SELECTION``
    (never a silent empty run)."""
    problems = [
        _unknown("--property", selection.properties, {p for m in metas for p in m.properties}),
        _unknown("--flow", selection.flows, {m.flow for m in metas}),
        _unknown("--suite", selection.suites, {m.suite for m in metas}),
        _unknown("--tag", selection.tags, {t for m in metas for t in m.tags}),
        _unknown("--case", selection.cases, {m.id for m in metas}, limit=8),
    ]
    unknown_pins = sorted(set(pins or {}) - {m.id for m in metas})
    if unknown_pins:
        more = f" (+{len(unknown_pins) - 8} more)" if len(unknown_pins) > 8 else ""
        problems.append(
            f"expected-failures file pins unknown case ids: {', '.join(unknown_pins[:8])}{more}"
        )
    found = [p for p in problems if p]
    if found:
        raise ConfigError(Code.CONFORMANCE_SELECTION, "; ".join(found))
    kept = sum(1 for m in metas if selection.matches(m))
    if metas and not kept:
        raise ConfigError(
            Code.CONFORMANCE_SELECTION, "the selection keeps no case (the options are ANDed)"
        )
    return kept


def _selected(meta: CaseMeta, config: pytest.Config) -> bool:
    return Selection.from_config(config).matches(meta)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    metas = [m for m in map(case_meta, items) if m is not None]
    if metas and not config.getoption("--collect-only"):
        try:
            check_selection(metas, Selection.from_config(config), config.stash[_PINS_KEY])
        except EdbpError as exc:
            raise pytest.UsageError(error_line(exc)) from None
    keep, drop = [], []
    for item in items:
        meta = case_meta(item)
        if meta is None or _selected(meta, config):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    meta = case_meta(item)
    if meta is None:
        return report
    if (
        report.when == "call"
        and call.excinfo is not None
        and isinstance(call.excinfo.value, Advisory)
    ):
        if meta.advisory:
            finding = call.excinfo.value
            report.outcome = "passed"
            report.longrepr = None
            report.sections.append(("edbp advisory", f"{finding.finding}\n{finding.evidence}"))
            _record(item, meta, report, call, advisory=finding)
            return report
    pins = item.config.stash[_PINS_KEY]
    pinned = pins.get(meta.id)
    if report.when == "call" and pinned is not None:
        got = (
            call.excinfo.value.code
            if call.excinfo and isinstance(call.excinfo.value, CaseFailure)
            else None
        )
        if report.passed:
            report.outcome = "failed"
            report.longrepr = (
                f"[XPASS(strict)] {meta.id} was pinned to fail with code {pinned} but passed: "
                "update the expected-failures file"
            )
        elif got is not None and int(got) == pinned:
            report.outcome = "skipped"
            report.wasxfail = f"expected failure with code {pinned}"
        elif report.failed:
            report.longrepr = (
                f"{meta.id} was pinned to code {pinned}, failed with {got}:\n{report.longrepr}"
            )
    if report.when == "call" or report.outcome != "passed":
        _record(item, meta, report, call)
    return report


def _record(
    item: pytest.Item,
    meta: CaseMeta,
    report: pytest.TestReport,
    call: pytest.CallInfo[None],
    advisory: Advisory | None = None,
) -> None:
    results = item.config.stash[_RESULTS_KEY]
    if advisory is not None:
        outcome = "advisory"
    elif hasattr(report, "wasxfail"):
        outcome = "expected-failure"
    elif report.skipped:
        outcome = "skipped"
    elif report.failed:
        failure = call.excinfo.value if call.excinfo else None
        # a divergence (or a pinned case that passed) is a failure; a harness or adapter fault,
        # or a failure outside the case body, is an error
        diverged = failure is None or isinstance(failure, CaseFailure | AssertionError)
        outcome = "failed" if report.when == "call" and diverged else "error"
    else:
        outcome = "passed"
    entry: dict[str, Any] = {
        "id": meta.id,
        "nodeid": item.nodeid,
        "outcome": outcome,
        "properties": list(meta.properties),
        "flow": meta.flow,
        "suite": meta.suite,
        "tags": list(meta.tags),
        "duration": round(report.duration, 4),
        "profile": meta.profile,
        "device": worker_device(item.config),
    }
    props = dict(getattr(item, "user_properties", ()))
    if "vector" in props:  # byte-exact or re-derived for the device's own identity
        entry["vector"] = str(props["vector"])
        if "vector_identity" in props:
            entry["vector_identity"] = str(props["vector_identity"])
    if advisory is not None:
        entry["finding"] = advisory.finding
        entry["evidence"] = advisory.evidence[:4000]
    if outcome != "passed":
        longrepr = report.longrepr
        if isinstance(longrepr, tuple):  # skip reports: (file, line, reason)
            entry["reason"] = str(longrepr[2])
        elif longrepr is not None:
            entry["detail"] = str(longrepr)[-4000:]
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(exc, CaseFailure):
            entry["step"] = exc.step
            entry["expected"] = exc.expected
            entry["actual"] = exc.actual
    results[item.nodeid] = entry


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    if report.when == "call" and getattr(report, "wasxfail", "").startswith(
        "expected failure with code"
    ):
        return "xfailed", "x", "XFAIL"
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:  # xdist: merge worker results
    results = node.workeroutput.get("edbp_results") if hasattr(node, "workeroutput") else None
    if results:
        node.config.stash[_RESULTS_KEY].update(json.loads(results))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    results = config.stash[_RESULTS_KEY]
    if hasattr(config, "workeroutput"):  # an xdist worker: hand results to the controller
        config.workeroutput["edbp_results"] = json.dumps(results)
        return
    path = config.getoption("--edbp-json", default=None)
    if path and results:
        report = build_report(config, list(results.values()))
        Path(path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def build_report(config: pytest.Config, cases: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for case in cases:
        counts[case["outcome"]] += 1
    return {
        "tool": "edbp conformance",
        "devices": config.getoption("--edbp-device") or ["builtin"],
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "summary": dict(sorted(counts.items())),
        "by_property": property_table(cases),
        "cases": sorted(cases, key=lambda c: c["id"]),
    }


def property_table(cases: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for case in cases:
        for prop in case["properties"] or ["-"]:
            table[prop][case["outcome"]] += 1
    def key(p: str) -> tuple[int, str]:  # P2 before P10
        return (len(p), p)

    return {p: dict(sorted(table[p].items())) for p in sorted(table, key=key)}


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    cases = list(config.stash[_RESULTS_KEY].values())
    if not cases or hasattr(config, "workeroutput"):
        return
    tr = terminalreporter
    tr.section("edbp conformance: per property")
    outcomes = ["passed", "failed", "error", "expected-failure", "skipped", "advisory"]
    tr.write_line(f"{'property':<10}" + "".join(f"{o:>17}" for o in outcomes))
    for prop, row in property_table(cases).items():
        tr.write_line(f"{prop:<10}" + "".join(f"{row.get(o, 0):>17}" for o in outcomes))
    advisories = [c for c in cases if c["outcome"] == "advisory"]
    if advisories:
        tr.section("edbp advisories (published weaknesses found; not conformance failures)")
        for case in sorted(advisories, key=lambda c: c["id"]):
            tr.write_line(f"ADVISORY {case['id']}: {case['finding']}")
    failed = [c for c in cases if c["outcome"] in ("failed", "error")]
    for case in sorted(failed, key=lambda c: c["id"])[:50]:
        where = f" at step {case['step']}" if case.get("step") else ""
        tr.write_line(f"FAILED {case['id']}{where}")
        if "expected" in case:
            tr.write_line(f"    expected: {case['expected']}")
            tr.write_line(f"    actual:   {case['actual']}")
    if os.environ.get("EDBP_CONFORMANCE_QUIET") is None:
        tr.write_line(f"{len(cases)} conformance cases recorded")


# ------------------------------------------------------------------------------ device fixtures


def worker_device(config: pytest.Config) -> str:
    """The device spec this worker drives: worker ``gwN`` takes the N-th (mod count) device."""
    specs = config.getoption("--edbp-device") or ["builtin"]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    return str(specs[index % len(specs)])


#: device spec -> (client, info) opened by the pre-flight of ``edbp conformance run`` in this
#: process; the first pool of that spec takes it over (a ``--once`` TCP device serves one
#: connection, so the pre-flight's connection must be the run's)
PREOPENED: dict[str, tuple[Any, Any]] = {}


def preflight(spec: str, timeout: float, keep: bool = False) -> Any:
    """Open ``spec`` and send one ``hello``; returns the ``DeviceInfo``. Every way this fails
    (a bad spec, a refused port, an unknown host, a peer that answers HTTP, a command that
    exits first) is an ``EdbpError`` whose detail names the device and fits one line."""
    from edbp.conformance.adapter import DeviceClient, open_transport

    try:
        client = DeviceClient(open_transport(spec), timeout=timeout)
    except EdbpError as exc:
        raise _one_line(exc, spec) from None
    try:
        info = client.hello()
    except EdbpError as exc:
        client.close()
        raise _one_line(exc, spec) from None
    except Exception as exc:  # a reply the client cannot even classify
        client.close()
        raise AdapterError(
            Code.ADAPTER_MALFORMED_FRAME, f"device {spec!r}: bad hello reply ({exc})"
        ) from None
    if keep:
        PREOPENED[spec] = (client, info)
    else:
        client.close()
    return info


def _one_line(exc: EdbpError, spec: str) -> EdbpError:
    detail = " | ".join(ln.strip() for ln in exc.detail.splitlines() if ln.strip())
    if len(detail) > 700:  # a long stderr tail: its start and its last words
        detail = detail[:300] + " ... " + detail[-300:]
    kind = AdapterError if isinstance(exc, AdapterError) else ConfigError
    return kind(exc.code, f"device {spec!r}: {detail}" if detail else f"device {spec!r}")


class _Pool:
    """One adapter connection for this worker, opened on first use and kept for the session."""

    def __init__(self, config: pytest.Config) -> None:
        self.spec = worker_device(config)
        self.timeout = float(config.getoption("--edbp-timeout"))
        self.client: Any = None
        self.info: Any = None

    def get(self) -> Any:
        from edbp.conformance.adapter import DeviceClient, open_transport

        if self.client is None and self.spec in PREOPENED:
            self.client, self.info = PREOPENED.pop(self.spec)
        if self.client is None:
            client = DeviceClient(open_transport(self.spec), timeout=self.timeout)
            try:
                self.info = client.hello()
            except BaseException:
                client.close()  # a device that cannot say hello is not kept for the next case
                raise
            self.client = client
        return self.client

    def drop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None

    def close(self) -> None:
        self.drop()


@pytest.fixture(scope="session")
def edbp_pool(request: pytest.FixtureRequest) -> Iterator[_Pool]:
    pool = _Pool(request.config)
    yield pool
    pool.close()


@pytest.fixture
def edbp_device(edbp_pool: _Pool, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A freshly reset device; a case that leaves it crashed gets a new connection next time."""
    from edbp.errors import AdapterError

    client = edbp_pool.get()
    meta = case_meta(request.node)
    if meta is not None:
        missing = [n for n in meta.needs if not edbp_pool.info.supports(n)]
        if missing:
            pytest.skip(f"device lacks capability {', '.join(missing)}")
        if meta.profile not in edbp_pool.info.profiles:
            pytest.skip(f"device does not speak the {meta.profile} profile")
    try:
        client.call("reset")
    except AdapterError:
        edbp_pool.drop()
        client = edbp_pool.get()
        client.call("reset")
    client.log.clear()
    yield client
    if (
        edbp_pool.client is not None
        and getattr(edbp_pool.client.transport, "returncode", None) is not None
    ):
        edbp_pool.drop()  # the device process died: reconnect for the next case
