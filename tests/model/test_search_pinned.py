"""The explored graphs, pinned: a change to the explorer's speed or memory must not change what
it searches.

The numbers are those of the model before the explorer's optimisations (issue 17, issue 19
item 8: hash-consed events, per-run verdict memos, compiled state updates, the graph built on
demand); the optimised explorer must find the very same states, transitions, witnesses and
search order. A change that alters the model's transitions on purpose (a new step, a new
attacker move) changes them too: update them in the same commit and say why there.
"""

from __future__ import annotations

import hashlib

import attrs
import pytest
from edbp.model import downgrade
from edbp.model.check import SUPPLEMENTARY
from edbp.model.edbp_profile import Config, World, _evolve, initial
from edbp.model.explore import Exploration, evolver, explore
from edbp.model.instance import Instance
from edbp.model.profiles import EDBP
from edbp.model.properties import reset_caches

SMALL = Instance(devices=2, versions=2, sessions=1)  # the instance of ``model.explore[small]``


def _run(profile, inst: Instance, build_graph: bool = False) -> Exploration:  # type: ignore[no-untyped-def]
    reset_caches()
    res = explore(profile, Config(inst), build_graph=build_graph)
    assert res.complete and not res.truncated
    assert res.violations == {}
    return res


def _order(res: Exploration) -> str:
    """Digest of the search order: each state's BFS parent and the steps that reached it."""
    h = hashlib.sha256()
    for p in res.parent[1:]:
        assert p is not None
        h.update(f"{p[0]} {p[1].label}\n".encode())
    return h.hexdigest()[:16]


@pytest.mark.slow
def test_default_instance_states_and_transitions() -> None:
    """What `edbp model check` explores: 191,135 states, 824,476 transitions (252,730 and
    1,388,725 before the Agent nonce, when replayed QueryRequests were answered without bound
    and collapsed into one state; the default instance now answers none, ``requeries=0``, and
    a supplementary instance explores them; 103,951 and 537,195 before issue 19's abstract
    time, model/timing.py; the witnesses' depths stayed)."""
    res = _run(EDBP, Instance())
    assert (res.state_count, res.edges) == (191_135, 824_476)
    depth = {name: len(res.witness_trace(name)) for name in res.witnesses}
    assert depth == {"P1": 4, "P2": 2, "P3": 4, "P4": 11, "P5": 9, "P6": 8, "P7": 13, "P8": 6,
                     "P9": 6, "P10": 6, "P11": 2, "P12": 5, "P13": 5, "installs_latest": 7,
                     "revoked_gets_nothing": 5}


def test_small_instance_search_order() -> None:
    res = _run(EDBP, SMALL, build_graph=True)
    # 3 114 / 13 361 / 12 797 edges / order 8a7de91d6a7672b0 before the Agent nonce (no
    # replayed QueryRequest answered since, ``requeries=0``); 1 665 / 6 690 / 6 411 edges /
    # order 94a9a519b1c9aeb2 before abstract time (model/timing.py)
    assert (res.state_count, res.edges) == (1_719, 6_078)
    assert res.graph.number_of_nodes() == 1_719
    assert res.graph.number_of_edges() == 5_763  # distinct (source, target) pairs
    assert _order(res) == "2675400df4df1531"
    assert {k: v[0] for k, v in res.witnesses.items()} == {
        "P11": 7, "P2": 12, "P3": 85, "P1": 109, "P12": 186, "P13": 89,
        "revoked_gets_nothing": 89, "P10": 182, "P8": 346, "P9": 346, "installs_latest": 475}


@pytest.mark.parametrize(("profile", "inst", "counts"), [
    # 28 838 / 67 094 before the Agent nonce (this instance now answers one replayed
    # QueryRequest, ``requeries=1``, with a fresh Agent nonce); 16 037 / 36 445 before issue 19's
    # third pass made uninstall a message (model/uninstall.py), 19 277 / 41 982 before abstract
    # time (model/timing.py)
    (EDBP, SUPPLEMENTARY[0], (64_400, 129_512)),
    (downgrade.PROFILE, Instance(), (2_911, 14_524)),
], ids=["supplementary", "negotiation"])
def test_other_explored_instances(profile, inst: Instance, counts: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    res = _run(profile, inst)
    assert (res.state_count, res.edges) == counts


def test_graph_on_demand_matches_the_search() -> None:
    """The graph is built from the run's edge table when first read; without build_graph it
    is the initial state alone, as before."""
    res = _run(EDBP, SMALL, build_graph=True)
    g = res.graph
    assert g is res.graph  # built once
    for a, b, data in g.edges(data=True):
        assert 0 <= a < res.state_count and 0 <= b < res.state_count
        assert data["event"] is res.edge_events[a << 32 | b]
    bare = _run(EDBP, SMALL)
    assert list(bare.graph.nodes) == [0] and bare.graph.number_of_edges() == 0


def test_events_are_shared() -> None:
    """Equal events are one object (parent pointers and edges hold no copies)."""
    res = _run(EDBP, SMALL, build_graph=True)
    events = [p[1] for p in res.parent[1:] if p is not None] + list(res.edge_events.values())
    by_value: dict[object, int] = {}
    for ev in events:
        assert by_value.setdefault(ev, id(ev)) == id(ev)


def test_evolver_is_attrs_evolve() -> None:
    w = initial(Config(SMALL))
    assert evolver(World)(w, {"issued": 3}) == attrs.evolve(w, issued=3)
    assert _evolve(w, issued=3, uninstalls=1) == attrs.evolve(w, issued=3, uninstalls=1)
    assert evolver(World)(w, {}) == w
