"""`edbp inspect FILE`: decode a CBOR file (binary, hex, or annotated hex) and print diagnostic
notation with the COSE / SUIT / TEEP / EAT parts named.

Why hex and annotated hex too: the drafts and vectors publish hex (with line breaks, sometimes a
``0x`` prefix) and the TEEP draft publishes annotated hex (``cbor.me`` pretty form, ``#``
comments to the end of each line); reading all three means a reviewer can point the tool at any
published example. Any well-formed CBOR is shown; what is not deterministic encoding is printed
as ``/ note: ... /`` lines, not refused (``--strict`` refuses it). Malformed input is a one-line
error and exit status 1 (``edbp.cli.main`` turns the ``EdbpError`` into that line).
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
    """The CBOR bytes of a file: hex text (whitespace, ``0x``, line breaks and ``#`` comments to
    the end of a line ignored) when the whole file is hex, else the bytes as they are."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    if "#" in text:
        text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
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
    help="Kept for compatibility: any well-formed CBOR is shown by default.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse input that is not core deterministic CBOR (the strict option of protocol §5).",
)
def command(file: Path, lenient: bool, strict: bool) -> None:
    """Decode a CBOR file (binary, hex or annotated hex) and print diagnostic notation with
    COSE/SUIT/TEEP/EAT labels named; non-deterministic encodings are noted."""
    from edbp.reference.wire.inspect import inspect as inspect_bytes

    if str(file) == "-":
        raw = sys.stdin.buffer.read()
    else:
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise click.FileError(str(file), hint=exc.strerror) from None
    result = inspect_bytes(read_input(raw), strict=strict)
    click.echo(f"/ {result.kind} /")
    for note in result.notes:
        click.echo(f"/ note: {note} /")
    click.echo(result.text)
