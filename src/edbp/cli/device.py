"""`edbp device`: expose the reference device (or a seeded faulty variant) over the adapter.

It is both the vendor's model shim (read it to see what a shim answers) and the conformance
suite's own test subject.
"""

from __future__ import annotations

import sys

import click


@click.group(name="device")
def command() -> None:
    """Serve the reference device (or a faulty variant) over the device adapter protocol."""


@command.command(name="serve")
@click.option("--stdio", "use_stdio", is_flag=True, help="frames on stdin/stdout (for ssh or a subprocess adapter)")
@click.option("--tcp", "tcp_addr", metavar="HOST:PORT", help="listen on a TCP address (port 0 picks one and prints it)")
@click.option("--fault", metavar="NAME", help="run a seeded faulty variant (see --list-faults)")
@click.option("--list-faults", is_flag=True, help="list the faulty variants, one line each, and exit")
@click.option("--once", is_flag=True, help="with --tcp: serve one connection, then exit")
def serve(use_stdio: bool, tcp_addr: str | None, fault: str | None, list_faults: bool, once: bool) -> None:
    """Serve the reference device."""
    from edbp.conformance.faults import FAULTS, check_fault

    if list_faults:
        width = max(len(name) for name in FAULTS)
        for name, fault_def in FAULTS.items():
            click.echo(f"{name:<{width}}  {fault_def.description}")
        return
    check_fault(fault)
    from edbp.conformance.adapter.server import serve_stdio, serve_tcp
    from edbp.conformance.reference_device import make_backend

    if use_stdio == bool(tcp_addr):
        raise click.UsageError("give exactly one of --stdio and --tcp HOST:PORT")
    if use_stdio:
        serve_stdio(make_backend(fault))
        return
    assert tcp_addr is not None

    def ready(addr: str) -> None:
        click.echo(f"listening on {addr}", err=True)
        sys.stderr.flush()

    serve_tcp(tcp_addr, lambda: make_backend(fault), ready=ready, max_connections=1 if once else None)
