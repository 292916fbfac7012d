"""`edbp bench`: placeholder until issue 5 builds it."""

from edbp.cli import not_built

command = not_built("bench", "Run the benchmarks and report ratios against baselines measured in the same run.", "issue 5")
