"""`edbp model`: check the formal model, list its seeded flaws, print traces, write the attack
catalogue.

``edbp model check`` exits 0 only if every property holds (explored on every reachable state,
with a witness, and proved inductive by z3), liveness holds, and every seeded flaw is caught;
with ``--profile blueprint`` it exits 0 only if every expected attack is still found.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from edbp.errors import Code, ConfigError

PROFILE = click.Choice(["edbp", "blueprint"])


@click.group(name="model")
def command() -> None:
    """Check the formal model: exhaustive exploration, z3 proofs, seeded flaws, attacks."""


def _instance(text: str | None, profile: str):
    from edbp.model.instance import parse_instance

    return parse_instance(text)


@command.command("check")
@click.option("--profile", type=PROFILE, default="edbp", show_default=True)
@click.option("--instance", "instance_text", metavar="K=V,...",
              help="bounded instance, e.g. devices=2,versions=2,sessions=2")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="write the full report (traces included) as JSON")
@click.option("--graph", "graph_out", type=click.Path(dir_okay=False, path_type=Path),
              help="write the reachable graph as GraphML (edbp profile)")
@click.option("--dot", "dot_out", type=click.Path(dir_okay=False, path_type=Path),
              help="write the reachable graph as Graphviz DOT (edbp profile)")
@click.option("--traces/--no-traces", default=False, help="print every counterexample trace")
@click.option("--quiet", is_flag=True, help="no progress display")
@click.option("--max-states", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="state cap; an exploration that hits it is reported incomplete and fails")
def check(profile: str, instance_text: str | None, json_out: Path | None,
          graph_out: Path | None, dot_out: Path | None, traces: bool, quiet: bool,
          max_states: int) -> None:
    """Explore, prove and attack the model; exit 0 only if everything checks."""
    from edbp.model.check import run
    from edbp.model.export import write_dot, write_graphml

    inst = _instance(instance_text, profile)
    console = Console(stderr=True)
    out = Console() if Console().is_terminal else Console(width=160)
    if (graph_out or dot_out) and profile != "edbp":
        raise ConfigError(Code.MODEL_BAD_INSTANCE, "--graph/--dot need --profile edbp")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, disable=quiet, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def stage(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=max(total, 1))
            progress.update(tasks[name], completed=done, total=max(total, done, 1))

        report = run(profile, inst, stage, max_states=max_states)
    _print_report(out, report, traces)
    if json_out:
        json_out.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    if report.exploration is not None:
        if graph_out:
            write_graphml(report.exploration, graph_out)
        if dot_out:
            write_dot(report.exploration, dot_out)
    sys.exit(0 if report.ok else 1)


def _mark(value: bool | None) -> str:
    return {True: "[green]yes[/]", False: "[red]NO[/]", None: "–"}[value]


def _print_report(out: Console, report, traces: bool) -> None:
    inst = ", ".join(f"{k}={v}" for k, v in report.instance.as_dict().items())
    if report.profile == "edbp":
        cover = "complete" if report.complete else "[red]TRUNCATED (state cap hit)[/]"
        title = (f"edbp model check — profile edbp — {report.states} states, "
                 f"{report.edges} transitions explored in {report.explore_seconds:.1f} s, "
                 f"{cover} ({inst})")
        t = Table(title=title)
        for col in ("property", "every state", "witness (steps)", "z3 (s)", "flaws caught",
                    "seeded flaws (shortest trace, steps)"):
            t.add_column(col)
        for r in report.rows:
            z3c = "–" if r.z3 is None else (f"[green]proved[/] {r.z3.seconds:.2f}" if r.z3.proved
                                            else "[red]FAILED[/]")
            caught = sum(1 for f in r.flaws if f.caught)
            flaws = f"{caught}/{len(r.flaws)}"
            flaw_steps = ", ".join(f"{f.flaw.name} ({len(f.trace)})" for f in r.flaws)
            explored = "[green]holds[/]" if r.holds else "[red]VIOLATED[/]"
            wit = (f"{r.witness_steps}" if r.witness_steps is not None else "[red]none[/]")
            t.add_row(f"{r.id} {r.title}", explored, wit, z3c, flaws, flaw_steps)
        out.print(t)
        out.print(f"liveness: {report.liveness_checked} states checked, "
                  f"{report.liveness_failures} cannot complete "
                  f"({report.liveness_seconds:.1f} s); honest goals: "
                  + ", ".join(f"{k} in {v} steps" if v is not None else f"{k} UNREACHABLE"
                              for k, v in report.goals.items()))
        for extra in report.supplementary:
            inst_text = ", ".join(f"{k}={v}" for k, v in extra["instance"].items()
                                  if k in ("devices", "versions", "sessions", "uninstalls")
                                  or (k in ("ck_rotations", "ta_builds") and v))
            where = f"sub-model {extra['model']}" if "model" in extra else "supplementary instance"
            out.print(f"{where} ({inst_text}): {extra['states']} states, "
                      f"{len(extra['violations'])} violations, "
                      f"{extra['liveness_failures']} liveness failures")
        out.print(f"z3 proofs: {report.z3_seconds:.1f} s; states/s: "
                  f"{report.states / max(report.explore_seconds, 1e-9):.0f}; "
                  f"total {report.seconds:.1f} s")
        if traces:
            for r in report.rows:
                for f in r.flaws:
                    out.print(f"\n[bold]{f.flaw.name}[/] ({f.flaw.target}): {f.violation}")
                    for i, step in enumerate(f.trace, 1):
                        out.print(f"  {i}. {step}")
                    if f.z3_failure:
                        out.print(f"  z3: {f.z3_failure}")
    else:
        t = Table(title=f"edbp model check — profile blueprint (as built) — {inst}")
        for col in ("expected attack", "found", "steps", "properties", "states",
                    "stopped in edbp by"):
            t.add_column(col)
        for a in report.attacks:
            t.add_row(a.attack.title, _mark(a.found), str(len(a.trace) if a.trace else "–"),
                      ", ".join(a.attack.properties), str(a.states), a.attack.edbp_mechanism)
        out.print(t)
        t2 = Table(title="P1–P14 on the blueprint profile")
        for col in ("property", "blueprint", "shortest counterexample (steps)"):
            t2.add_column(col)
        for r in report.rows:
            state = ("[red]violated[/] (expected)" if r.holds is False else
                     "[yellow]not found[/]" if r.holds else "not modelled")
            t2.add_row(f"{r.id} {r.title}", state,
                       f"{len(r.trace)}: {r.violation}" if r.trace else r.violation)
        out.print(t2)
        if traces:
            for a in report.attacks:
                out.print(f"\n[bold]{a.attack.title}[/]: {a.description}")
                for i, e in enumerate(a.trace.events if a.trace else (), 1):
                    out.print(f"  {i}. {e.label} — {e.text}")
        out.print(f"total {report.seconds:.1f} s")
    if report.problems:
        out.print("[red]problems:[/]")
        for p in report.problems:
            out.print(f"  - {p}")
    else:
        out.print("[green]model check passed[/]")


@command.command("flaws")
def flaws() -> None:
    """List the seeded flaws and the property each must break."""
    from edbp.model.flaws import FLAWS

    t = Table(title="seeded flaws")
    for col in ("flaw", "target", "z3", "what it changes"):
        t.add_column(col)
    for f in FLAWS:
        t.add_row(f.name, f.target, "yes" if f.z3 else "no", f.summary)
    Console().print(t)


@command.command("trace")
@click.argument("flaw_name")
@click.option("--instance", "instance_text", metavar="K=V,...")
@click.option("--mermaid", is_flag=True, help="print a Mermaid sequence diagram")
def trace(flaw_name: str, instance_text: str | None, mermaid: bool) -> None:
    """Print the shortest counterexample for one seeded flaw."""
    from edbp.model.check import check_flaw
    from edbp.model.flaws import FLAW_NAMES, flaw

    # names are kebab-case (spec/README.md "Names"); the snake_case spelling of earlier
    # releases still finds the flaw
    flaw_name = flaw_name.replace("_", "-")
    if flaw_name not in FLAW_NAMES:
        raise ConfigError(
            Code.MODEL_BAD_INSTANCE,
            f"no seeded flaw named {flaw_name!r} (`edbp model flaws` lists them)",
        )
    fr = check_flaw(flaw(flaw_name), _instance(instance_text, "edbp"))
    click.echo(f"{flaw_name} -> {fr.flaw.target}: {fr.violation or 'NOT CAUGHT'}")
    if mermaid:
        click.echo(fr.mermaid)
    else:
        for i, step in enumerate(fr.trace, 1):
            click.echo(f"{i}. {step}")
    if fr.z3_failure:
        click.echo(f"z3: {fr.z3_failure}")
    sys.exit(0 if fr.caught else 1)


@command.command("attacks")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the Markdown catalogue here (default: stdout)")
@click.option("--instance", "instance_text", metavar="K=V,...")
def attacks(out_path: Path | None, instance_text: str | None) -> None:
    """Generate the blueprint attack catalogue (spec/attacks.md) from the model's traces."""
    from edbp.model.catalogue import render_catalogue

    text, ok = render_catalogue(_instance(instance_text, "blueprint"))
    if out_path:
        out_path.write_text(text)
    else:
        click.echo(text, nl=False)
    sys.exit(0 if ok else 1)
