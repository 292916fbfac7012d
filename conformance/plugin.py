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
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from edbp.conformance.outcome import Advisory, CaseFailure, CaseMeta, case_meta
from edbp.conformance.report import build, terminal_lines, transcript, write_html, write_junit

from edbp.errors import AdapterError, Code, ConfigError, EdbpError

_RESULTS_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()
_PINS_KEY = pytest.StashKey[dict[str, int]]()
_DEVICES_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()
_DESELECTED_KEY = pytest.StashKey[int]()


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
    group.addoption("--edbp-junit", metavar="FILE", help="write the JUnit XML report here")
    group.addoption("--edbp-html", metavar="FILE", help="write the HTML report here")
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
    config.stash[_DEVICES_KEY] = {}
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
        if self.properties and not set(self.properties) & set(meta.properties):
            return False
        if self.flows and meta.flow not in self.flows:
            return False
        if self.suites and meta.suite not in self.suites:
            return False
        if self.tags and not set(self.tags) & set(meta.tags):
            return False
        return not self.cases or any(
            meta.id == c or meta.id.startswith(c + ".") for c in self.cases
        )


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
        _unknown("--case", selection.cases, _ids_and_prefixes(metas), limit=8),
    ]
    unknown_pins = sorted(set(pins or {}) - _ids_and_prefixes(metas))
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


def _ids_and_prefixes(metas: list[CaseMeta]) -> set[str]:
    out: set[str] = set()
    for meta in metas:
        parts = meta.id.split(".")
        out.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
    return out


def item_meta(item: pytest.Item) -> CaseMeta | None:
    """``case_meta`` with the id every report uses: a case parametrized by anything but its
    ``case`` metadata gets its parameter id appended (``payload.tampered.bit-flip``), so that
    case ids are unique and ``--case``/pins name one variant (or, by prefix, all of them)."""
    meta = case_meta(item)
    callspec = getattr(item, "callspec", None)
    if meta is None or callspec is None or set(callspec.params) <= {"case"}:
        return meta
    return attrs.evolve(meta, id=f"{meta.id}.{callspec.id}")


def _selected(meta: CaseMeta, config: pytest.Config) -> bool:
    return Selection.from_config(config).matches(meta)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    metas = [m for m in map(item_meta, items) if m is not None]
    if metas and not config.getoption("--collect-only"):
        try:
            check_selection(metas, Selection.from_config(config), config.stash[_PINS_KEY])
        except EdbpError as exc:
            raise pytest.UsageError(error_line(exc)) from None
    keep, drop = [], []
    for item in items:
        meta = item_meta(item)
        if meta is None or _selected(meta, config):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    config.stash[_DESELECTED_KEY] = len(drop)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    meta = item_meta(item)
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
    base = case_meta(item)
    pinned = pins.get(meta.id, pins.get(base.id) if base is not None else None)
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
    if (
        call.excinfo is not None
        and isinstance(call.excinfo.value, AdapterError)
        and os.environ.get("EDBP_DEBUG") != "1"
    ):
        # an adapter fault is one coded line on the terminal, never a harness traceback
        report.longrepr = error_line(call.excinfo.value)
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
    title = _title(item)
    if title:
        entry["title"] = title
    clauses = tuple(getattr(meta, "clauses", ()) or ())
    if clauses:
        entry["clauses"] = list(clauses)
    client = getattr(item, "funcargs", {}).get("edbp_device")
    log = getattr(client, "log", None)
    if log:
        entry["transcript"] = transcript(list(log))
    if outcome != "passed":
        longrepr = report.longrepr
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(longrepr, tuple):  # skip reports: (file, line, reason)
            entry["reason"] = str(longrepr[2]).removeprefix("Skipped: ")
        elif hasattr(report, "wasxfail"):
            entry["reason"] = str(report.wasxfail)
        elif isinstance(longrepr, str) or exc is None:
            entry["detail"] = str(longrepr)[-4000:]
        else:
            entry["detail"] = _detail(exc, longrepr)
        # what the failure shows broken: a divergence names its clauses (CaseFailure.clauses);
        # a device that crashed, hung or broke the adapter protocol during the case failed the
        # case's own clauses; a defect of the harness itself shows nothing about the device
        if isinstance(exc, CaseFailure):
            broken = exc.violates(clauses)
        elif isinstance(exc, EdbpError):
            # a frame that is no reply to the open request breaks the adapter's ordering rule
            # (adapter.md section 3) whatever the case was checking
            framing = ["A-3a"] if exc.code == Code.ADAPTER_MALFORMED_FRAME else []
            broken = list(dict.fromkeys([*framing, *clauses]))
        else:
            broken = []
        if broken:
            entry["violates"] = broken
        if isinstance(exc, CaseFailure):
            entry["step"] = exc.step
            entry["expected"] = exc.expected
            entry["actual"] = exc.actual
            if exc.expected == "deliver answered":  # the device answered deliver ok:false
                entry["hint"] = OK_FALSE_HINT
    results[item.nodeid] = entry


#: the hint for a shim that answers a refused delivery with an adapter error instead of an ok
#: reply carrying the signed TEEP Error (spec/adapter.md, docs/vendor-guide.md)
OK_FALSE_HINT = (
    "a refused delivery is an ok reply whose result carries the device's signed TEEP Error "
    "and its code; ok:false is only for the adapter itself refusing (docs/vendor-guide.md)"
)


def _title(item: pytest.Item) -> str:
    given = dict(getattr(item, "user_properties", ())).get("title")
    if given:
        return str(given)
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec is not None else None
    comment = getattr(case, "title", None)
    if comment:
        return str(comment)
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _detail(exc: BaseException, longrepr: Any) -> str:
    """What went wrong, as text a lab can read: the error line (no Python traceback unless
    ``--debug``/EDBP_DEBUG is set)."""
    if isinstance(exc, CaseFailure):
        text = str(exc)
    elif isinstance(exc, EdbpError):
        text = error_line(exc)
    else:
        text = f"harness fault: {type(exc).__name__}: {exc}"
    if os.environ.get("EDBP_DEBUG"):
        text += "\n" + str(longrepr)
    return text[-4000:]


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
    devices = node.workeroutput.get("edbp_devices") if hasattr(node, "workeroutput") else None
    if devices:
        node.config.stash[_DEVICES_KEY].update(json.loads(devices))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    results = config.stash[_RESULTS_KEY]
    if hasattr(config, "workeroutput"):  # an xdist worker: hand results to the controller
        config.workeroutput["edbp_results"] = json.dumps(results)
        config.workeroutput["edbp_devices"] = json.dumps(config.stash[_DEVICES_KEY])
        return
    if not results:
        return
    report = full_report(config)
    path = config.getoption("--edbp-json", default=None)
    if path:
        Path(path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    junit = config.getoption("--edbp-junit", default=None)
    if junit:
        write_junit(report, Path(junit))
    page = config.getoption("--edbp-html", default=None)
    if page:
        write_html(report, Path(page))


def full_report(config: pytest.Config) -> dict[str, Any]:
    """The report of this run (report.build) with its devices and selection."""
    cases = list(config.stash[_RESULTS_KEY].values())
    known = config.stash[_DEVICES_KEY]
    specs = config.getoption("--edbp-device") or ["builtin"]
    devices = [known.get(spec, {"spec": spec}) for spec in dict.fromkeys(specs)]
    sel = Selection.from_config(config)
    selection: dict[str, Any] = {
        "properties": list(sel.properties),
        "flows": list(sel.flows),
        "suites": list(sel.suites),
        "tags": list(sel.tags),
        "cases": list(sel.cases),
        "keyword": [config.getoption("keyword")] if config.getoption("keyword") else [],
        "pins": {k: int(v) for k, v in config.stash[_PINS_KEY].items()},
    }
    return build(cases, devices=devices, selection=selection)


def build_report(config: pytest.Config, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Kept for callers of the first report format: the same as ``full_report``."""
    return full_report(config)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not config.stash[_RESULTS_KEY] or hasattr(config, "workeroutput"):
        return
    tr = terminalreporter
    tr.section("edbp conformance")
    report = full_report(config)
    for line in terminal_lines(report):
        tr.write_line(line)
    dropped = config.stash.get(_DESELECTED_KEY, 0)
    if dropped:
        sel = report["selection"]
        how = "; ".join(f"{k}={','.join(v)}" for k, v in sel.items() if k != "pins" and v)
        tr.write_line(f"{dropped} cases deselected (not in the selection {how or '-k/-m'})"[:80])


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
        self.config = config
        self.spec = worker_device(config)
        self.timeout = float(config.getoption("--edbp-timeout"))
        self.client: Any = None
        self.info: Any = None
        self.restarts = 0  # devices restarted after a hang or an exit
        #: why the board is down (a TCP device that hung): the run ends before the next case
        self.down: str | None = None

    def get(self) -> Any:
        from edbp.conformance.adapter import DeviceClient, open_transport

        if self.down is not None:  # a hung board behind TCP: no harness can restart it
            pytest.exit(self.down, returncode=3)
        if self.client is None and self.spec in PREOPENED:
            self.client, self.info = PREOPENED.pop(self.spec)
            self._describe()
        if self.client is None:
            client = DeviceClient(open_transport(self.spec), timeout=self.timeout)
            try:
                self.info = client.hello()
            except BaseException as exc:
                client.close()  # a device that cannot say hello is not kept for the next case
                if self.restarts:  # it answered before: the run cannot go on (adapter.md §5)
                    pytest.exit(
                        f"device {self.spec} failed hello after a restart: {exc}", returncode=3
                    )
                raise
            self.client = client
            self._describe()
        return self.client

    def restart(self) -> None:
        """Drop a hung or dead device: the next ``get`` starts it again (subprocess, ssh) or
        reconnects (tcp, a device that exited or closed the connection), once. A board behind
        TCP that *hung* is marked down at once instead: the harness cannot power-cycle it, and
        reaching it again would only wait for it a second time (adapter.md section 5)."""
        hung = self.client is not None and getattr(self.client, "hung", False)
        self.restarts += 1
        self.drop()
        if hung and self.spec.startswith("tcp:"):
            self.down = (
                f"device {self.spec} hung (no reply within {self.timeout:g} s): the board is "
                "marked down and the run stops; power-cycle it and run again"
            )

    def _describe(self) -> None:
        """The device section of the reports: its hello reply and identity (public parts)."""
        devices = self.config.stash[_DEVICES_KEY]
        if self.spec in devices or self.client is None or self.info is None:
            return
        try:
            ident = self.client.call("identity", {})
        except EdbpError:
            ident = {}
        shown = {
            k: v.hex() if isinstance(v, bytes) else str(v)
            for k, v in (ident.items() if isinstance(ident, dict) else ())
            if k in ("ueid", "vendor_id", "class_id")
        }
        devices[self.spec] = {
            "spec": self.spec,
            "name": self.info.name,
            "version": self.info.version,
            "profiles": list(self.info.profiles),
            "suites": list(self.info.suites),
            "capabilities": list(self.info.capabilities),
            "identity": shown,
        }

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

    if edbp_pool.client is not None and getattr(edbp_pool.client, "hung", False):
        edbp_pool.restart()  # never wait twice for the same hung device
    try:
        client = edbp_pool.get()
    except EdbpError as exc:
        if edbp_pool.info is None and not hasattr(request.config, "workerinput"):
            # the device never answered hello: one line and exit status 3, not one error per
            # case (``edbp conformance run`` checks this before pytest starts)
            pytest.exit(error_line(_one_line(exc, edbp_pool.spec)), returncode=3)
        raise
    meta = case_meta(request.node)
    if meta is not None:
        if meta.profile not in edbp_pool.info.profiles:
            pytest.skip(f"device does not speak the {meta.profile} profile")
        missing = [n for n in meta.needs if not edbp_pool.info.supports(n)]
        if missing:
            pytest.skip(f"device lacks capability {', '.join(missing)}")
    # a vector case on a device that keeps its own keys (no test-keys): the reset keeps them,
    # so the flows re-derived for those keys in an earlier case still address the device
    # (edbp.vectorgen.rederive); every other case starts from new keys
    keep = meta is not None and "vector" in meta.tags and not edbp_pool.info.supports("test-keys")
    reset_args = {"keep_keys": True} if keep else {}
    try:
        client.call("reset", reset_args)
    except AdapterError:
        edbp_pool.restart()
        client = edbp_pool.get()
        client.call("reset", reset_args)
    client.log.clear()
    yield client
    if edbp_pool.client is not None and (
        getattr(edbp_pool.client.transport, "returncode", None) is not None
        or getattr(edbp_pool.client, "hung", False)
    ):
        edbp_pool.restart()  # the device died or hung: a fresh one for the next case
