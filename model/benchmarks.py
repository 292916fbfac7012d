"""Benchmarks of the model for ``edbp bench``: exploration speed and z3 proof time.

Registered through ``edbp.bench.benchmark`` when this module is imported (the bench package's
area module ``edbp/bench/model.py`` is one line: ``import edbp.model.benchmarks``). States per
second are in the JSON report of ``edbp model check --json`` (``states_per_second``); here the
runner times whole runs against a baseline in the same process: a breadth-first search of the
very graph the exploration finds (its states and transitions as a plain networkx graph), so
the ratio is the model's cost of computing successors and checking properties over the bare
search of the same graph.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import networkx as nx
from edbp.model.edbp_profile import Config
from edbp.model.explore import explore
from edbp.model.instance import Instance
from edbp.model.profiles import EDBP
from edbp.model.proofs import prove
from edbp.model.properties import reset_caches

from edbp.bench import benchmark

SMALL = Instance(devices=2, versions=2, sessions=1)


@lru_cache(maxsize=1)
def _small_graph() -> Any:
    """The explored graph of the small instance, stripped to plain node ids and edges."""
    res = explore(EDBP, Config(SMALL))
    graph = nx.DiGraph()
    graph.add_nodes_from(res.graph.nodes)
    graph.add_edges_from(res.graph.edges)
    return graph


def _baseline_setup() -> Any:
    return _small_graph()


@benchmark("model.bfs_baseline[small]", setup=_baseline_setup, quick=True)
def bfs_baseline(graph: Any) -> None:
    """The floor: a breadth-first search over the same graph the exploration builds."""
    list(nx.bfs_edges(graph, 0))


@benchmark("model.explore[small]", baseline="model.bfs_baseline[small]", quick=True)
def explore_small() -> None:
    """Full exploration of a small instance, every property checked on every state, from cold
    caches (the memoised knowledge and candidate sets are part of the cost measured)."""
    reset_caches()
    explore(EDBP, Config(SMALL), build_graph=False)


@benchmark("model.explore[default]", quick=False)
def explore_default() -> None:
    """Full exploration of the default instance (the graph ``edbp model check`` builds)."""
    reset_caches()
    explore(EDBP, Config(Instance()))


@benchmark("model.z3_prove[P1-P13]", quick=True)
def z3_prove() -> None:
    """Every inductive proof of the edbp profile."""
    prove()
