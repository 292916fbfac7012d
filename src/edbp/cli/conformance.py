"""`edbp conformance`: a thin front over pytest with the conformance plugin.

Everything a vendor's CI already knows from pytest keeps working: -k/-m selection, JUnit XML,
pytest-html, pytest-xdist for a pool of boards, pytest-timeout per case. This command only
assembles the arguments.
"""

from __future__ import annotations

import os
import sys
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import click

from edbp.cli import EXIT_HELP, Exit, report_error
from edbp.errors import EdbpError


def _cases_dir() -> Path:
    return Path(str(resources.files("edbp.conformance") / "cases"))


def _ini() -> Path:
    return Path(str(resources.files("edbp.conformance") / "pytest.ini"))


def _pool_file(path: str) -> list[str]:
    lines = Path(path).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def build_pytest_args(
    devices: list[str],
    *,
    json_out: str | None = None,
    junit: str | None = None,
    html: str | None = None,
    keyword: str | None = None,
    marker: str | None = None,
    properties: tuple[str, ...] = (),
    flows: tuple[str, ...] = (),
    suites: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    cases: tuple[str, ...] = (),
    expected_failures: str | None = None,
    exitfirst: bool = False,
    timeout: float = 30.0,
    case_timeout: float = 300.0,
    verbose: int = 0,
    collect_only: bool = False,
    explore: int = 0,
    extra: tuple[str, ...] = (),
) -> list[str]:
    args = [
        str(_cases_dir()),
        "-c",
        str(_ini()),
        "--rootdir",
        str(_cases_dir()),
        "--timeout",
        str(case_timeout),
        "--edbp-timeout",
        str(timeout),
        # the plugin prints the summary (skips by reason, failures with step, expected,
        # actual and transcript); pytest's tracebacks only with --debug
        "-r",
        "N",
        "--tb",
        "short" if os.environ.get("EDBP_DEBUG") else "no",
        # the CLI imported edbp before pytest started: its plugin cannot be assert-rewritten,
        # which is fine (cases report through CaseFailure, not bare asserts)
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        # an in-process device that crashes is that case's error, not a warning of the run
        "-W",
        "ignore::pytest.PytestUnhandledThreadExceptionWarning",
    ]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "edbp.conformance.plugin", "-p", "xdist.plugin", "-p", "pytest_timeout"]
    for spec in devices:
        args += ["--edbp-device", spec]
    if len(devices) > 1:
        args += ["-n", str(len(devices)), "--dist", "load"]
    for flag, values in (
        ("--edbp-property", properties),
        ("--edbp-flow", flows),
        ("--edbp-suite", suites),
        ("--edbp-tag", tags),
        ("--edbp-case", cases),
    ):
        for value in values:
            args += [flag, value]
    if json_out:
        args += ["--edbp-json", json_out]
    if junit:
        args += ["--edbp-junit", junit]
    if html:
        args += ["--edbp-html", html]
    if keyword:
        args += ["-k", keyword]
    if marker:
        args += ["-m", marker]
    if expected_failures:
        args += ["--edbp-expected-failures", expected_failures]
    if exitfirst:
        args.append("-x")
    if explore:
        args += ["--edbp-explore", str(explore)]
    if collect_only:
        args.append("--collect-only")
    args += ["-" + "v" * verbose] if verbose else ["-q"]
    return args + list(extra)


def collect_metas() -> list[Any]:
    """Every case's ``CaseMeta``, collected in this process with pytest's output off (so that
    a selection naming nothing is refused before any device is touched)."""
    import pytest

    from edbp.conformance.plugin import item_meta

    metas: list[Any] = []

    class _Collector:
        @pytest.hookimpl(tryfirst=True)
        def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
            metas.extend(m for m in map(item_meta, items) if m is not None)

    args = [
        str(_cases_dir()),
        "-c",
        str(_ini()),
        "--rootdir",
        str(_cases_dir()),
        "--collect-only",
        "-p",
        "no:terminal",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    ]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "edbp.conformance.plugin"]
    pytest.main(args, plugins=[_Collector()])
    return metas


#: pytest's exit statuses -> edbp's (``edbp.cli.Exit``)
_PYTEST_EXIT = {0: 0, 1: 1, 2: 130, 3: 4, 4: 2, 5: 2}


@click.group(name="conformance", epilog=EXIT_HELP)
def command() -> None:
    """Run the conformance suite against a device (the built-in reference device by default).

    A device is given as `builtin` (the in-process reference device), `builtin:FAULT` (a
    seeded faulty variant), `tcp:HOST:PORT`, or a command that speaks the adapter protocol on
    stdin/stdout, e.g. "ssh board edbp-shim" or "edbp device serve --stdio --fault X".
    """


@command.command(name="run", epilog=EXIT_HELP)
@click.option(
    "--device",
    "devices",
    multiple=True,
    metavar="SPEC",
    help="device to test; repeat for a pool of boards (one worker each)",
)
@click.option(
    "--pool",
    "pool_file",
    type=click.Path(exists=True, dir_okay=False),
    help="file with one device spec per line",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="write the JSON report")
@click.option("--junit", type=click.Path(dir_okay=False), help="write JUnit XML")
@click.option("--html", type=click.Path(dir_okay=False), help="write a self-contained HTML report")
@click.option("-k", "keyword", help="pytest -k expression over case names")
@click.option("-m", "marker", help="pytest -m marker expression")
@click.option(
    "--property",
    "properties",
    multiple=True,
    metavar="P<n>",
    help="only cases guarding this property",
)
@click.option("--flow", "flows", multiple=True, help="only cases of this flow")
@click.option("--suite", "suites", multiple=True, help="only cases of this suite")
@click.option("--tag", "tags", multiple=True, help="only cases with this tag")
@click.option("--case", "cases", multiple=True, help="only this case id")
@click.option(
    "--expected-failures",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON file pinning known failures to case id and error code",
)
@click.option("-x", "--exitfirst", is_flag=True, help="stop at the first failing case")
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="seconds per device request"
)
@click.option(
    "--case-timeout", type=float, default=300.0, show_default=True, help="seconds per case"
)
@click.option("-v", "--verbose", count=True)
@click.option(
    "--list",
    "list_cases",
    is_flag=True,
    help="list the selected case ids (with flow and properties), run nothing",
)
@click.option(
    "--explore",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="also drive each device with N model-generated traces in lockstep with the model "
    "(minimal failing trace on divergence)",
)
@click.argument("pytest_extra", nargs=-1, type=click.UNPROCESSED)
def run(
    devices: tuple[str, ...],
    pool_file: str | None,
    pytest_extra: tuple[str, ...],
    **options: object,
) -> None:
    """Run the suite. Exit 0 only if every selected case passed or was an expected failure.

    Before any case runs, the selection and the expected-failures pins are checked against the
    suite (a value no case has is a usage error, exit 2) and every device is sent one `hello`
    (a device that cannot be reached or does not answer is one error line, exit 3). Arguments
    after `--` go to pytest unchanged.
    """
    import pytest

    from edbp.conformance.plugin import Selection, check_selection, preflight, read_pins

    specs = list(devices) + (_pool_file(pool_file) if pool_file else [])
    specs = specs or ["builtin"]
    list_cases = bool(options.pop("list_cases"))
    try:
        pins_path = options.get("expected_failures")
        pins = read_pins(Path(str(pins_path))) if pins_path else {}
        picked = {
            k: tuple(str(v) for v in options[k])  # type: ignore[attr-defined]
            for k in ("properties", "flows", "suites", "tags", "cases")
        }
        selection = Selection(**picked, explore=bool(options.get("explore")))
        metas = collect_metas()
        check_selection(metas, selection, pins)
        if list_cases:
            for meta in sorted((m for m in metas if selection.matches(m)), key=lambda m: m.id):
                props = ",".join(meta.properties) or "-"
                click.echo(f"{meta.id}  [{meta.flow}; {props}]")
            sys.exit(Exit.OK)
        for spec in specs:
            preflight(spec, float(options["timeout"]), keep=len(specs) == 1)  # type: ignore[arg-type]
    except EdbpError as exc:
        sys.exit(report_error(exc))
    args = build_pytest_args(specs, extra=pytest_extra, **options)  # type: ignore[arg-type]
    code = int(pytest.main(args))
    sys.exit(_PYTEST_EXIT.get(code, Exit.INTERNAL))


# ------------------------------------------------------------------------------ coverage


@command.command(name="coverage")
@click.option(
    "--write",
    "write",
    is_flag=True,
    help="write the matrix to spec/coverage.md (the file the project commits)",
)
@click.option(
    "--check",
    is_flag=True,
    help="exit 1 when a clause has no case, a case or fault names an unknown clause, or "
    "spec/coverage.md is stale",
)
def coverage(write: bool, check: bool) -> None:
    """Print the MUST-coverage matrix: spec clause -> cases -> faulty devices they catch."""
    from edbp.conformance.coverage import build_matrix, render_markdown, spec_coverage_path

    matrix = build_matrix()
    text = render_markdown(matrix)
    for clause in matrix.clauses.values():
        if not clause.testable:
            click.echo(f"{clause.id:<9} untestable: {clause.untestable}")
            continue
        cases = ", ".join(matrix.cases_of(clause.id)) or "NO CASE"
        faults = ", ".join(matrix.faults_of(clause.id)) or "-"
        click.echo(f"{clause.id:<9} cases: {cases}\n{'':<9} faults: {faults}")
    testable = matrix.testable
    click.echo(
        f"{len(matrix.clauses)} clauses ({len(testable)} testable), {len(matrix.cases)} cases, "
        f"{len(matrix.faults)} faulty devices"
    )
    path = spec_coverage_path()
    problems = matrix.problems()
    if write:
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path.name}")
    elif check and (not path.exists() or path.read_text(encoding="utf-8") != text):
        problems.append("spec/coverage.md is stale: run `edbp conformance coverage --write`")
    for problem in problems:
        click.echo(f"PROBLEM {problem}", err=True)
    if check and problems:
        sys.exit(1)


@command.command(name="specificity", epilog=EXIT_HELP)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    help="only this faulty device (repeat); default every fault of the edbp profile",
)
@click.option(
    "--without-vectors",
    is_flag=True,
    help="leave the vector replay cases out (about half the time; protocol cases only)",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="write the results")
def specificity(faults: tuple[str, ...], without_vectors: bool, json_out: str | None) -> None:
    """Run the whole suite, vector replays included, against each seeded faulty device and
    check that every failure names a spec clause the fault breaks. Exit 1 when a fault also
    breaks something else (collateral failures) or is not caught at all. Slow: one suite run
    per fault."""
    import json

    from edbp.conformance.faults import FAULTS, check_fault
    from edbp.conformance.specificity import ALL_CASES, NOT_VECTORS, measure

    try:
        names = list(faults) or [n for n, f in FAULTS.items() if f.profile == "edbp"]
        for name in names:
            check_fault(name)
        results = []
        for name in names:
            res = measure(name, keyword=NOT_VECTORS if without_vectors else ALL_CASES)
            results.append(res)
            verdict = "specific" if res.specific else ("NOT CAUGHT" if not res.caught else "BROAD")
            # within 80 columns: the verdict first (aligned), then what varies in length
            click.echo(
                f"{verdict:<10} {name} [{','.join(res.clauses)}]: {res.failed} failed, "
                f"{len(res.collateral)} collateral"
            )
            for case, broken in res.collateral:
                click.echo(
                    textwrap.fill(
                        f"{case}: shows {', '.join(broken)} broken",
                        width=80,
                        initial_indent="    ",
                        subsequent_indent="      ",
                        break_on_hyphens=False,
                    )
                )
    except EdbpError as exc:
        sys.exit(report_error(exc))
    good = sum(1 for r in results if r.specific)
    click.echo(f"{good}/{len(results)} faults specific (every failure names their clause)")
    if json_out:
        Path(json_out).write_text(
            json.dumps([r.to_json() for r in results], indent=2) + "\n", encoding="utf-8"
        )
    sys.exit(0 if good == len(results) else 1)
