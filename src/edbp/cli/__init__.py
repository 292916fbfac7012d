"""The ``edbp`` command line: one click group, one module per command group.

Each command group lives in its own module below this package (``edbp.cli.ta``,
``edbp.cli.model``, ...) and exports ``command``. A group that is not built yet is a
``not_built`` placeholder that says so and exits 2.
"""

from __future__ import annotations

import importlib
import sys

import click

from edbp import __version__
from edbp.errors import EdbpError

#: command name -> module holding ``command``; order is the order of ``edbp --help``
GROUPS: dict[str, str] = {
    "demo": "edbp.cli.demo",
    "model": "edbp.cli.model",
    "vectors": "edbp.cli.vectors",
    "conformance": "edbp.cli.conformance",
    "device": "edbp.cli.device",
    "ta": "edbp.cli.ta",
    "cpk": "edbp.cli.cpk",
    "inspect": "edbp.cli.inspect",
    "bench": "edbp.cli.bench",
}


class _LazyGroup(click.Group):
    """Imports a command group's module only when that group runs (fast ``--help``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*GROUPS, *(n for n in super().list_commands(ctx) if n not in GROUPS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = GROUPS.get(cmd_name)
        if module is None:
            return super().get_command(ctx, cmd_name)
        cmd = importlib.import_module(module).command
        assert isinstance(cmd, click.Command)
        return cmd


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edbp")
def cli() -> None:
    """edbp: the Enclave Device Blueprint Protocol kit.

    Spec, formal model, reference implementation (build pipeline, key vault + TAM, device
    Broker + Agent), conformance suite and CBOR test vectors for confidential package delivery
    to OP-TEE / TrustZone devices, in two profiles: `edbp` (COSE/SUIT/TEEP/EAT, hardened) and
    `blueprint` (the Enclave Device Blueprint as its public code builds it).
    """


def not_built(name: str, summary: str, issue: str) -> click.Command:
    """A placeholder for a command group that a later issue builds: says so, exits 2."""

    @click.command(
        name=name,
        help=f"{summary}\n\nNot built yet ({issue}); running it exits with status 2.",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def _cmd() -> None:
        click.echo(f"edbp {name}: not built yet ({issue}).", err=True)
        sys.exit(2)

    return _cmd


def main(argv: list[str] | None = None) -> None:
    """Entry point. An ``EdbpError`` escaping a command becomes one line and exit status 1."""
    try:
        cli.main(args=argv, prog_name="edbp", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except EdbpError as exc:
        detail = f": {exc.detail}" if exc.detail else ""
        click.echo(f"edbp: error {int(exc.code)} {exc.code.name}{detail}", err=True)
        sys.exit(1)
    sys.exit(0)
