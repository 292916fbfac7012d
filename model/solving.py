"""z3 queries, with one retry policy for "unknown" shared by every proof of the model.

On quantified formulas z3's answer depends on its heuristics, and those on whatever else the
process built in z3's context (other proofs, other tests): "unknown (incomplete quantifiers)"
in one process, ``sat`` in another. ``sat`` and ``unsat`` are sound whatever the seed, so an
``unknown`` is retried under a few fixed seeds (fixed, so that a run is reproducible) before it
is reported. ``proofs.py`` (the main profile) and ``downgrade.py`` (the P14 sub-model) both ask
z3 through ``solve``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import z3

#: random seeds tried, in order, while z3 answers "unknown"
SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)


def solve(timeout_ms: int, *formulas: Any,
          seeds: Iterable[int] = SEEDS) -> tuple[z3.CheckSatResult, z3.Solver]:
    """z3's answer for the conjunction of ``formulas`` and the solver (for its model or its
    ``reason_unknown``): a fresh solver per seed, ``timeout_ms`` each, stopping at the first
    answer that is not ``unknown``."""
    r, s = z3.unknown, z3.Solver()
    for seed in seeds:
        s = z3.Solver()
        s.set("timeout", timeout_ms)
        s.set("random_seed", seed)
        s.add(*formulas)
        r = s.check()
        if r != z3.unknown:
            break
    return r, s


def satisfiable(timeout_ms: int, *formulas: Any) -> str:
    """``sat``/``unsat``/``unknown`` for the conjunction (see ``solve``)."""
    return str(solve(timeout_ms, *formulas)[0])
