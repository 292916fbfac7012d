"""`edbp vectors`: placeholder until issue 7 builds it."""

from edbp.cli import not_built

command = not_built("vectors", "Generate, check and verify the CBOR test vectors.", "issue 7")
