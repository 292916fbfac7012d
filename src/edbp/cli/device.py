"""`edbp device`: placeholder until issue 8 builds it."""

from edbp.cli import not_built

command = not_built("device", "Serve the reference device (or a faulty variant) over the device adapter protocol.", "issue 8")
