"""`edbp device`: expose the reference device (or a seeded faulty variant) over the adapter.

It is both the vendor's model shim (read it to see what a shim answers) and the conformance
suite's own test subject. With ``--profile blueprint`` it serves the blueprint's CPM emulation
(``--cpm as-published`` or ``fixed``) instead of the edbp Agent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from edbp.errors import Code, ConfigError


@click.group(name="device")
def command() -> None:
    """Serve the reference device (or a faulty variant) over the device adapter protocol."""


@command.command(name="serve")
@click.option(
    "--stdio",
    "use_stdio",
    is_flag=True,
    help="frames on stdin/stdout (for ssh or a subprocess adapter)",
)
@click.option(
    "--tcp",
    "tcp_addr",
    metavar="HOST:PORT",
    help="listen on a TCP address (port 0 picks one and prints it)",
)
@click.option(
    "--profile",
    type=click.Choice(["edbp", "blueprint"]),
    default="edbp",
    show_default=True,
    help="which device to serve",
)
@click.option(
    "--cpm",
    type=click.Choice(["as-published", "fixed"]),
    default="as-published",
    show_default=True,
    help="with --profile blueprint: the CPM behaviour",
)
@click.option(
    "--fault",
    metavar="NAME",
    help="run a seeded faulty variant of the edbp device (see --list-faults)",
)
@click.option(
    "--list-faults", is_flag=True, help="list the faulty variants, one line each, and exit"
)
@click.option("--once", is_flag=True, help="with --tcp: serve one connection, then exit")
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="with --tcp: seconds a session may send nothing before the server ends it",
)
@click.option(
    "--frame-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=120.0,
    show_default=True,
    help="with --tcp: seconds a begun frame may take to arrive whole",
)
@click.option(
    "--max-sessions",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="with --tcp: sessions served at once; one more is refused with code 874",
)
@click.option(
    "--vendor",
    "vendor_domain",
    metavar="DOMAIN",
    help="edbp profile: stand in for another vendor's board (vendor_id derived from DOMAIN)",
)
@click.option(
    "--class",
    "class_name",
    metavar="NAME",
    help="edbp profile: the device class name (class_id derived from the vendor and NAME)",
)
@click.option(
    "--own-keys",
    is_flag=True,
    help="edbp profile: a board keeping its own keys (no test-keys capability; the suite "
    "re-derives every vector flow for them)",
)
def serve(
    use_stdio: bool,
    tcp_addr: str | None,
    profile: str,
    cpm: str,
    fault: str | None,
    list_faults: bool,
    once: bool,
    idle_timeout: float,
    frame_timeout: float,
    max_sessions: int,
    vendor_domain: str | None,
    class_name: str | None,
    own_keys: bool,
) -> None:
    """Serve the reference device."""
    from edbp.conformance.faults import FAULTS, check_fault

    if list_faults:
        width = max(len(name) for name in FAULTS)
        for name, fault_def in FAULTS.items():
            click.echo(f"{name:<{width}}  {fault_def.description}")
        return
    if use_stdio == bool(tcp_addr):
        raise click.UsageError("give exactly one of --stdio and --tcp HOST:PORT")
    make: Callable[[], Any]
    chosen = check_fault(fault)
    if chosen is not None and chosen.profile != profile:
        raise click.UsageError(f"--fault {fault} is a fault of the {chosen.profile} profile")
    if profile == "blueprint":
        if own_keys:
            raise click.UsageError("--own-keys applies to the edbp profile only")
        from edbp.conformance.blueprint_device import make_cpm_backend

        def make() -> Any:
            return chosen.make() if chosen is not None else make_cpm_backend(cpm)
    else:
        if chosen is not None and own_keys:
            raise click.UsageError("--own-keys serves the reference device, not a --fault")
        from edbp.conformance.reference_device import identity, identity_for, make_backend

        ids = identity_for(vendor_domain or "example.com", class_name or "reference-device")

        def make() -> Any:
            with identity(*ids):
                return make_backend(fault, own_keys)

    from edbp.conformance.adapter.server import parse_address, serve_stdio, serve_tcp

    if tcp_addr:
        parse_address(tcp_addr)  # a bad address is one coded line before anything starts
    if use_stdio:
        serve_stdio(make())
        return
    assert tcp_addr is not None
    _check_listen_address(tcp_addr)
    listening: list[str] = []

    def ready(addr: str) -> None:
        listening.append(addr)
        click.echo(f"listening on {addr}", err=True)
        sys.stderr.flush()

    try:
        serve_tcp(
            tcp_addr,
            make,
            ready=ready,
            max_connections=1 if once else None,
            idle_timeout=idle_timeout,
            frame_timeout=frame_timeout,
            max_sessions=max_sessions,
        )
    except OSError as exc:
        if listening:
            raise
        raise ConfigError(
            Code.CONFORMANCE_SERVE_ADDRESS, f"cannot listen on {tcp_addr}: {exc.strerror or exc}"
        ) from None


def _check_listen_address(address: str) -> None:
    """``HOST:PORT`` with a port in 0..65535 and a host that resolves (one coded line, exit 3,
    instead of a socket traceback)."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            Code.CONFORMANCE_SERVE_ADDRESS,
            f"--tcp {address!r}: expected HOST:PORT with a port 0-65535 (e.g. 127.0.0.1:0)",
        )
    try:
        socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(
            Code.CONFORMANCE_SERVE_ADDRESS, f"--tcp {address!r}: cannot resolve {host!r} ({exc})"
        ) from None
