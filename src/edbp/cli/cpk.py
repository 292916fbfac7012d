"""`edbp cpk`: placeholder until issue 9 builds it."""

from edbp.cli import not_built

command = not_built("cpk", "Build, inspect and verify blueprint .cpk confidential packages.", "issue 9")
