"""`edbp inspect`: placeholder until the wire layer (issue 3) builds it."""

from edbp.cli import not_built

command = not_built("inspect", "Decode a CBOR file (hex or binary) and print diagnostic notation with COSE/SUIT/TEEP labels named.", "issue 3")
