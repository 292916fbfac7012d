"""`edbp vectors`: generate, check and verify the CBOR test vectors."""

from __future__ import annotations

import sys
import time
from importlib import resources
from pathlib import Path

import click

from edbp.vectorgen.registry import DEFAULT_SEED


def _committed() -> Path:
    """The vectors shipped with this installation (a checkout's vectors/ in development)."""
    return Path(str(resources.files("edbp.vectors")))


@click.group(name="vectors")
def command() -> None:
    """Generate, check and verify the CBOR test vectors (spec/vectors.md)."""


@command.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="folder to write (default: the package's vectors/)",
)
@click.option(
    "--seed", default=DEFAULT_SEED, show_default=True, help="seed every random byte is derived from"
)
@click.option("--only", metavar="PREFIX", help="only sources whose path starts with PREFIX")
@click.option(
    "--check",
    is_flag=True,
    help="regenerate into a temporary folder and fail on any byte difference",
)
def generate(out: str | None, seed: str, only: str | None, check: bool) -> None:
    """Write every vector file, or with --check compare a regeneration with the committed ones."""
    from edbp.vectorgen.registry import check as check_vectors
    from edbp.vectorgen.registry import generate as gen

    target = Path(out) if out else _committed()
    started = time.perf_counter()
    if check:
        problems = check_vectors(target, seed)
        for line in problems:
            click.echo(line, err=True)
        if problems:
            click.echo(
                f"vectors: {len(problems)} difference(s); run `edbp vectors generate`", err=True
            )
            sys.exit(1)
        click.echo(f"vectors: byte-identical regeneration ({time.perf_counter() - started:.1f} s)")
        return
    index = gen(target, seed, only)
    total = sum(f["tests"] for f in index["files"])
    click.echo(
        f"vectors: {total} tests in {len(index['files'])} files under {target} "
        f"({time.perf_counter() - started:.1f} s)"
    )


@command.command()
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False))
def verify(folder: str | None) -> None:
    """Check index digests, the JSON Schema, and every message against the spec's CDDL."""
    from edbp.vectorgen.verify import verify as run_verify

    problems = run_verify(Path(folder) if folder else _committed())
    for line in problems:
        click.echo(line, err=True)
    if problems:
        sys.exit(1)
    click.echo("vectors: index, schema and CDDL all check")


@command.command()
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False))
def coverage(folder: str | None) -> None:
    """Property x flow/suite/profile table of valid and invalid vectors."""
    from rich.console import Console
    from rich.table import Table

    from edbp.vectorgen.verify import coverage as cov

    data = cov(Path(folder) if folder else _committed())
    table = Table(title="vector coverage")
    for col in ("property", "flow/suite/profile", "valid", "invalid"):
        table.add_column(col)
    for prop in sorted(data, key=lambda p: (len(p), p)):
        for key, counts in sorted(data[prop].items()):
            table.add_row(prop, key, str(counts["valid"]), str(counts["invalid"]))
    Console().print(table)
    missing = [
        f"P{i}"
        for i in range(1, 14)
        if not all(any(c[k] for c in data.get(f"P{i}", {}).values()) for k in ("valid", "invalid"))
    ]
    if missing:
        click.echo(
            "properties without both valid and invalid vectors: " + ", ".join(missing), err=True
        )
        sys.exit(1)
