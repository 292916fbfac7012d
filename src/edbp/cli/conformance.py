"""`edbp conformance`: placeholder until issue 8 builds it."""

from edbp.cli import not_built

command = not_built("conformance", "Run the conformance suite against a device (the built-in reference device by default).", "issue 8")
