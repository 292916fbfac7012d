"""`edbp inspect FILE`: decode a CBOR file (hex or binary) and print diagnostic notation with the
COSE / SUIT / TEEP / EAT parts named.

Why hex too: the drafts and vectors publish hex (with line breaks, sometimes a ``0x`` prefix);
reading both means a reviewer can point the tool at any published example. Malformed input is a
one-line error and exit status 1 (``edbp.cli.main`` turns the ``EdbpError`` into that line).
"""

from __future__ import annotations

import re
import string
import sys
from pathlib import Path

import click

from edbp.errors import Code, WireError

_HEX_DIGITS = set(string.hexdigits)


def read_input(raw: bytes) -> bytes:
    """The CBOR bytes of a file: hex text (whitespace, ``0x`` and line breaks ignored) when the
    whole file is hex, else the bytes as they are."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return raw
    compact = re.sub(r"\s+", "", text)
    if compact.lower().startswith("0x"):
        compact = compact[2:]
    if compact and set(compact) <= _HEX_DIGITS:
        if len(compact) % 2:
            raise WireError(Code.CBOR_MALFORMED, "hex input has an odd number of digits")
        return bytes.fromhex(compact)
    return raw


@click.command(name="inspect")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, path_type=Path, allow_dash=True)
)
@click.option(
    "--lenient",
    is_flag=True,
    help="Accept well-formed but non-deterministic CBOR (published examples).",
)
def command(file: Path, lenient: bool) -> None:
    """Decode a CBOR file (hex or binary) and print diagnostic notation with COSE/SUIT/TEEP/EAT
    labels named."""
    from edbp.reference.wire.inspect import inspect as inspect_bytes

    if str(file) == "-":
        raw = sys.stdin.buffer.read()
    else:
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise click.FileError(str(file), hint=exc.strerror) from None
    result = inspect_bytes(read_input(raw), lenient=lenient)
    click.echo(f"/ {result.kind} /")
    click.echo(result.text)
