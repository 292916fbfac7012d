"""`edbp bench`: run the registered benchmarks, each timed against its baseline in the same run.

Benchmarks live in ``edbp/bench/<area>.py`` (see ``edbp.bench`` for the registration API).
The table shows time per call, throughput, peak memory and the ratio to the baseline;
``--json`` writes all of it (samples, metrics, skips) as a machine-readable report, and
``--doc`` renders docs/performance.md from the run (or, with ``--from-json``, from a saved
report without running anything).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import JustifyMethod


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


@click.command(name="bench")
@click.option(
    "-k",
    "pattern",
    default=None,
    help="Only benchmarks whose name contains PATTERN (or matches a glob).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a JSON report.",
)
@click.option("--quick", is_flag=True, help="Small sizes only, short samples.")
@click.option("--list", "list_only", is_flag=True, help="List the benchmarks and exit.")
@click.option(
    "--doc",
    "doc_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the performance page (docs/performance.md) from this run.",
)
@click.option(
    "--from-json",
    "from_json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --doc: render a saved --json report instead of running.",
)
def command(
    pattern: str | None,
    json_path: Path | None,
    quick: bool,
    list_only: bool,
    doc_path: Path | None,
    from_json: Path | None,
) -> None:
    """Run the benchmarks and report ratios against baselines measured in the same run."""
    import json

    from rich.console import Console
    from rich.table import Table

    from edbp.bench import discover, select
    from edbp.bench._report import render
    from edbp.bench.runner import RunConfig, results_to_json, run

    if from_json is not None:
        if doc_path is None:
            raise click.UsageError("--from-json needs --doc")
        doc_path.write_text(render(json.loads(from_json.read_text()), "edbp bench"))
        click.echo(f"wrote {doc_path}")
        return

    console = Console(width=None if sys.stdout.isatty() else 160)
    err_console = Console(stderr=True)
    failed = discover()
    for module, error in failed.items():
        err_console.print(f"[red]benchmark module {module} failed to import:[/red] {error}")
    chosen = select(pattern, quick=quick)
    if list_only:
        for bench in chosen:
            click.echo(bench.name + (f"  (baseline {bench.baseline})" if bench.baseline else ""))
        sys.exit(1 if failed else 0)
    if not chosen:
        click.echo("no benchmark matches", err=True)
        sys.exit(1)
    config = RunConfig.quick() if quick else RunConfig()
    with console.status("benchmarking") as status:
        results = run(chosen, config, progress=lambda name: status.update(f"benchmarking {name}"))
    from rich.markup import escape

    table = Table(title="edbp bench" + (" (quick)" if quick else ""))
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("benchmark", "left"),
        ("time/op", "right"),
        ("MiB/s", "right"),
        ("baseline", "left"),
        ("baseline time/op", "right"),
        ("ratio", "right"),
        ("peak mem", "right"),
    )
    for col, justify in columns:
        table.add_column(col, justify=justify)
    for r in results:
        if r.error:
            table.add_row(escape(r.name), "[red]error[/red]", "", "", "", escape(r.error), "")
            continue
        if r.skipped:
            table.add_row(escape(r.name), "skipped", "", "", "", escape(r.skipped), "")
            continue
        t, b = r.timing, r.baseline
        mib = f"{t.mib_per_s:.1f}" if t and t.mib_per_s is not None else "-"
        table.add_row(
            escape(r.name),
            _fmt_time(t.seconds if t else None),
            mib,
            escape(b.name) if b else "-",
            _fmt_time(b.seconds if b else None),
            f"{r.ratio:.2f}×" if r.ratio is not None else "-",
            f"{t.peak_bytes / (1 << 20):.1f} MiB" if t and t.peak_bytes is not None else "-",
        )
    console.print(table)
    if json_path is not None or doc_path is not None:
        doc = results_to_json(results, quick=quick, path=json_path)
        if json_path is not None:
            click.echo(f"wrote {json_path}")
        if doc_path is not None:
            argv = [
                "edbp bench",
                *(["--quick"] if quick else []),
                *(["-k", pattern] if pattern else []),
            ]
            doc_path.write_text(render(doc, " ".join(argv)))
            click.echo(f"wrote {doc_path}")
    sys.exit(1 if failed or any(r.error for r in results) else 0)
