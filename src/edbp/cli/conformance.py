"""`edbp conformance`: a thin front over pytest with the conformance plugin.

Everything a vendor's CI already knows from pytest keeps working: -k/-m selection, JUnit XML,
pytest-html, pytest-xdist for a pool of boards, pytest-timeout per case. This command only
assembles the arguments.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

import click


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
        "-r",
        "fEsx",
        # the CLI imported edbp before pytest started: its plugin cannot be assert-rewritten,
        # which is fine (cases report through CaseFailure, not bare asserts)
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
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
        args += ["--junitxml", junit]
    if html:
        args += ["--html", html, "--self-contained-html"]
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


@click.group(name="conformance")
def command() -> None:
    """Run the conformance suite against a device (the built-in reference device by default).

    A device is given as `builtin` (the in-process reference device), `builtin:FAULT` (a
    seeded faulty variant), `tcp:HOST:PORT`, or a command that speaks the adapter protocol on
    stdin/stdout, e.g. "ssh board edbp-shim" or "edbp device serve --stdio --fault X".
    """


@command.command(name="run", context_settings={"ignore_unknown_options": True})
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
@click.option("--list", "collect_only", is_flag=True, help="list the selected cases, run nothing")
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

    Arguments after `--` go to pytest unchanged.
    """
    import pytest

    specs = list(devices) + (_pool_file(pool_file) if pool_file else [])
    args = build_pytest_args(specs or ["builtin"], extra=pytest_extra, **options)  # type: ignore[arg-type]
    code = int(pytest.main(args))
    if code == 5:
        click.echo("edbp conformance: no case selected", err=True)
        sys.exit(1)
    sys.exit(code)


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
