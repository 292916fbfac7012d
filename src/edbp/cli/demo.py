"""`edbp demo`: placeholder until issue 5 builds it."""

from edbp.cli import not_built

command = not_built("demo", "Run the end-to-end demonstration on embedded defaults (enrol, publish, deploy, attacks refused, revoke, rotate).", "issue 5")
