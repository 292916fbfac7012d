"""Benchmarks of the model for ``edbp bench``: exploration speed and z3 proof time.

Registered through ``edbp.bench.benchmark`` when this module is imported (the bench package's
area module ``edbp/bench/model.py`` is one line: ``import edbp.model.benchmarks``). States per
second are in the JSON report of ``edbp model check --json`` (``states_per_second``); here the
runner times whole runs against a baseline in the same process.

The baseline (``model.bfs_baseline[small]``) is the explorer's own search loop with the model
taken out: a breadth-first search over a table that lists, for each state the exploration
found, the successor of every transition it took (duplicates included, in the same order),
keyed as the explorer keys states, by the state's field values, one fresh key per
transition. It therefore visits the same states, follows the same transitions and hashes
and compares comparable keys; the ratio is what computing successors and checking
properties costs over the bare search of the same graph. An earlier baseline ran
``networkx.bfs_edges`` over integer node ids and the de-duplicated edges: it followed fewer
edges (6,411 of 6,690 on the small instance) and hashed machine integers where any search of
this graph must hash states, so it measured a floor no state-space search can have; it stays
as ``model.bfs_networkx[small]`` (no ratio) for comparison with older reports.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from typing import Any

import attrs
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
def _small_exploration() -> Any:
    reset_caches()
    return explore(EDBP, Config(SMALL), build_graph=False)


@lru_cache(maxsize=1)
def _small_graph() -> Any:
    """The explored graph of the small instance, stripped to plain node ids and edges."""
    res = explore(EDBP, Config(SMALL))
    graph = nx.DiGraph()
    graph.add_nodes_from(res.graph.nodes)
    graph.add_edges_from(res.graph.edges)
    return graph


def _state_key(state: Any) -> tuple[Any, ...]:
    """A state's field values as a fresh tuple: what hashing and comparing the state costs."""
    return tuple([getattr(state, f.name) for f in attrs.fields(type(state))])


def _baseline_setup() -> tuple[tuple[Any, ...], list[list[tuple[Any, ...]]]]:
    """The successor table of the small instance (see the module docstring)."""
    res = _small_exploration()
    cfg = res.config
    table = [[_state_key(nw) for _ev, nw in EDBP.successors(w, cfg)] for w in res.states]
    start = _state_key(res.states[0])
    # the baseline must search exactly the explored graph: same states, same transitions
    found, followed = _bare_bfs((start, table))
    if (found, followed) != (res.state_count, res.edges):
        raise AssertionError(f"baseline searched {found} states / {followed} transitions, "
                             f"exploration {res.state_count} / {res.edges}")
    return start, table


def _bare_bfs(data: tuple[tuple[Any, ...], list[list[tuple[Any, ...]]]]) -> tuple[int, int]:
    start, table = data
    ids: dict[tuple[Any, ...], int] = {start: 0}
    parent: list[tuple[int, int] | None] = [None]
    queue: deque[int] = deque([0])
    followed = 0
    while queue:
        sid = queue.popleft()
        for key in table[sid]:
            nid = ids.get(key)
            if nid is None:
                nid = ids[key] = len(parent)
                parent.append((sid, followed))
                queue.append(nid)
            followed += 1
    return len(parent), followed


@benchmark("model.bfs_baseline[small]", setup=_baseline_setup, quick=True)
def bfs_baseline(data: Any) -> None:
    """The floor: the explorer's breadth-first search over the same graph, model removed."""
    _bare_bfs(data)


@benchmark("model.bfs_networkx[small]", setup=_small_graph, quick=True)
def bfs_networkx(graph: Any) -> None:
    """The former floor, for comparison: ``networkx.bfs_edges`` over integer ids and the
    de-duplicated edges of the same graph (no state is hashed)."""
    list(nx.bfs_edges(graph, 0))


@benchmark("model.explore[small]", baseline="model.bfs_baseline[small]", quick=True)
def explore_small() -> None:
    """Full exploration of a small instance, every property checked on every state, from cold
    caches (the memoised knowledge and candidate sets are part of the cost measured)."""
    reset_caches()
    explore(EDBP, Config(SMALL), build_graph=False)


@benchmark("model.explore[default]", quick=False)
def explore_default() -> None:
    """Full exploration of the default instance as ``edbp model check`` runs it (the edge
    table recorded; the networkx graph itself is built only when exported)."""
    reset_caches()
    explore(EDBP, Config(Instance()))


@benchmark("model.z3_prove[P1-P13]", quick=True)
def z3_prove() -> None:
    """Every inductive proof of the edbp profile."""
    prove()
