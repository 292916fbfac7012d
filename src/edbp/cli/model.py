"""`edbp model`: placeholder until issue 6 builds it."""

from edbp.cli import not_built

command = not_built("model", "Check the formal model: exhaustive exploration, z3 proofs, seeded flaws.", "issue 6")
