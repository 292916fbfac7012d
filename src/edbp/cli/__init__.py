"""The ``edbp`` command line: one click group, one module per command group.

Each command group lives in its own module below this package (``edbp.cli.ta``,
``edbp.cli.model``, ...) and exports ``command``. A group that is not built yet is a
``not_built`` placeholder that says so and exits 2.

Why the groups are listed here with their summaries: ``edbp --help`` (and any command) must
start fast, so the root imports only click and the error table; a group's module, and with it
cryptography, pytest or z3, is imported only when that group runs (``edbp bench -k cli.``
measures it against a bare interpreter start).

Every command ends with one of the ``Exit`` statuses below; an error is one line,
``edbp: error NNN NAME: detail``, followed by a hint line where one helps.
"""

from __future__ import annotations

import enum
import importlib
import os
import sys

import click

from edbp import __version__
from edbp.errors import AdapterError, Code, ConfigError, EdbpError


class Exit(enum.IntEnum):
    """Exit statuses shared by every command (README "Exit status", ``edbp --help``)."""

    OK = 0  #: success; for ``conformance run``: every selected case passed (or failed as pinned)
    FAILED = 1  #: a check failed: a case did not conform, an input was refused, a flaw not caught
    USAGE = 2  #: bad command line: unknown option, bad value, a selection or pin naming nothing
    DEVICE = 3  #: the device or the configuration is wrong: unreachable, no hello, bad spec
    INTERNAL = 4  #: a defect in edbp itself (EDBP_DEBUG=1 shows the traceback)
    INTERRUPTED = 130  #: Ctrl-C


EXIT_HELP = (
    "Exit status: 0 success (conformant); 1 a check failed (not conformant, input refused); "
    "2 usage error; 3 device or configuration error; 4 internal error; 130 interrupted."
)

#: command name -> (module holding ``command``, one-line summary); order is ``edbp --help``'s
GROUP_TABLE: dict[str, tuple[str, str]] = {
    "demo": ("edbp.cli.demo", "Run the end-to-end delivery demo on this machine."),
    "model": (
        "edbp.cli.model",
        "Check the formal model: exploration, z3 proofs, seeded flaws, attacks.",
    ),
    "vectors": ("edbp.cli.vectors", "Generate, check and verify the CBOR test vectors."),
    "conformance": ("edbp.cli.conformance", "Run the conformance suite against a device."),
    "device": ("edbp.cli.device", "Serve the reference device over the adapter protocol."),
    "ta": ("edbp.cli.ta", "Sign, encrypt and verify OP-TEE TA images."),
    "cpk": ("edbp.cli.cpk", "Build, inspect and verify blueprint .cpk packages; key service."),
    "inspect": ("edbp.cli.inspect", "Decode a CBOR file to diagnostic notation."),
    "bench": ("edbp.cli.bench", "Run the benchmarks (ratios against same-run baselines)."),
}

#: command name -> module holding ``command`` (kept for callers of the old table)
GROUPS: dict[str, str] = {name: module for name, (module, _) in GROUP_TABLE.items()}


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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``GROUP_TABLE``: no group module is imported for ``--help``."""
        rows = [(name, summary) for name, (_, summary) in GROUP_TABLE.items()]
        rows += [
            (name, cmd.get_short_help_str())
            for name, cmd in self.commands.items()
            if name not in GROUPS and not cmd.hidden
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_HELP,
)
@click.version_option(__version__, prog_name="edbp")
@click.option(
    "--debug",
    is_flag=True,
    help="Show Python tracebacks (also EDBP_DEBUG=1); errors are one line without it.",
)
def cli(debug: bool) -> None:
    """edbp: the Enclave Device Blueprint Protocol kit.

    Spec, formal model, reference implementation (build pipeline, key vault + TAM, device
    Broker + Agent), conformance suite and CBOR test vectors for confidential package delivery
    to OP-TEE / TrustZone devices, in two profiles: `edbp` (COSE/SUIT/TEEP/EAT, hardened) and
    `blueprint` (the Enclave Device Blueprint as its public code builds it).
    """
    if debug:
        os.environ["EDBP_DEBUG"] = "1"


def not_built(name: str, summary: str, issue: str) -> click.Command:
    """A placeholder for a command group that a later issue builds: says so, exits 2."""

    @click.command(
        name=name,
        help=f"{summary}\n\nNot built yet ({issue}); running it exits with status 2.",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def _cmd() -> None:
        click.echo(f"edbp {name}: not built yet ({issue}).", err=True)
        sys.exit(Exit.USAGE)

    return _cmd


#: a hint line printed under an error line, per code
HINTS: dict[Code, str] = {
    Code.CONFORMANCE_CONFIG: "a device is 'builtin', 'builtin:FAULT' (edbp device serve "
    "--list-faults), 'tcp:HOST:PORT' or a command speaking the adapter protocol",
    Code.ADAPTER_DEVICE_EXITED: "is the device (shim) running and reachable? a command device "
    "must speak the adapter protocol on stdin/stdout and log only to stderr",
    Code.ADAPTER_MALFORMED_FRAME: "the peer does not speak the adapter protocol "
    "(length-prefixed CBOR frames, spec/adapter.md); is it the right port?",
    Code.ADAPTER_FRAME_TOO_LARGE: "the peer does not speak the adapter protocol "
    "(length-prefixed CBOR frames, spec/adapter.md); is it the right port?",
    Code.ADAPTER_TIMEOUT: "the device did not answer in time: is it up, and does it speak the "
    "adapter protocol (a peer waiting for another protocol, e.g. HTTP, stays silent)? --timeout "
    "sets the wait",
    Code.ADAPTER_UNSUPPORTED_VERSION: "the shim speaks another adapter protocol version "
    "(spec/adapter.md, hello)",
    Code.CONFORMANCE_SELECTION: "'edbp conformance run --list' lists the case ids; "
    "'edbp conformance run --help' the selection options",
}


def error_line(exc: EdbpError) -> str:
    """The one line every command prints for an ``EdbpError``."""
    detail = f": {exc.detail}" if exc.detail else ""
    return f"edbp: error {int(exc.code)} {exc.code.name}{detail}"


def report_error(exc: EdbpError) -> Exit:
    """Print ``exc`` as one line (plus a hint) and return the exit status it maps to."""
    click.echo(error_line(exc), err=True)
    hint = HINTS.get(exc.code)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    return exit_for(exc)


def exit_for(exc: EdbpError) -> Exit:
    """Device and configuration faults (adapter 8xx, ``ConfigError``) are 3; a selection that
    names nothing is a usage error (2); every other refusal is a failed check (1)."""
    if exc.code == Code.CONFORMANCE_SELECTION:
        return Exit.USAGE
    if isinstance(exc, AdapterError | ConfigError):
        return Exit.DEVICE
    return Exit.FAILED


def main(argv: list[str] | None = None) -> None:
    """Entry point: every outcome becomes one of the ``Exit`` statuses, errors one line."""
    try:
        cli.main(args=argv, prog_name="edbp", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "edbp"
        click.echo(f"edbp: usage error: {exc.format_message()}", err=True)
        click.echo(f"  hint: '{where} --help' lists the options", err=True)
        sys.exit(Exit.USAGE)
    except click.ClickException as exc:  # e.g. an input file that cannot be opened
        click.echo(f"edbp: usage error: {exc.format_message()}", err=True)
        sys.exit(Exit.USAGE)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("edbp: interrupted", err=True)
        sys.exit(Exit.INTERRUPTED)
    except EdbpError as exc:
        sys.exit(report_error(exc))
    except Exception as exc:
        if os.environ.get("EDBP_DEBUG"):
            raise
        click.echo(f"edbp: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("  hint: run again with --debug (or EDBP_DEBUG=1) for the traceback", err=True)
        sys.exit(Exit.INTERNAL)
    sys.exit(Exit.OK)
