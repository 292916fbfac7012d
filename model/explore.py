"""Explicit-state exploration: the reachable graph, property checks, shortest traces, liveness.

Breadth-first search from the initial state builds the full reachable graph of a bounded
instance as a ``networkx.DiGraph`` (node = state id, edge = transition with its spec step
names). Every property is evaluated on every state; because the search is breadth-first, the
first violating state found is at minimal depth and its BFS-parent chain is a shortest
counterexample. Witness predicates record the first state in which each property's premise is
exercised, so that "holds" is never vacuous.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import attrs
import networkx as nx
from edbp.model.edbp_profile import Config, Event

Progress = Callable[[int, int], None]


@attrs.frozen
class Profile:
    """What the explorer needs from a profile's state machine."""

    name: str
    initial: Callable[[Config], Any]
    successors: Callable[[Any, Config], Iterator[tuple[Event, Any]]]
    properties: dict[str, Callable[[Any, Config], str | None]]
    witnesses: dict[str, tuple[str, Callable[[Any, Config], bool]]]
    goals: dict[str, tuple[str, Callable[[Any, Config], bool]]]
    event_witnesses: dict[str, tuple[str, Callable[[Any, Event, Config], bool]]]
    complete: Callable[[Any, Config], bool]
    rank: Callable[[Event, Any, Config], int | None]
    control: Callable[[Any], Hashable]
    live_config: Callable[[Any, Config], Config]
    #: property -> the state attributes it reads; lets the explorer skip a property on a
    #: successor whose inputs are the very objects of its parent's (hash-consed states)
    reads: dict[str, tuple[str, ...]] = attrs.Factory(dict)


@attrs.frozen
class Trace:
    """A path from the initial state: the events taken, in order."""

    events: tuple[Event, ...]

    @property
    def steps(self) -> list[str]:
        return [e.label for e in self.events]

    def __len__(self) -> int:
        return len(self.events)


@attrs.define
class Exploration:
    """The result of one search."""

    profile: str
    config: Config
    graph: nx.DiGraph
    states: list[Any]
    parent: list[tuple[int, Event] | None]
    violations: dict[str, tuple[int, str]]  # property -> (state id, description)
    witnesses: dict[str, tuple[int, Event | None]]  # name -> (state id, final edge or None)
    complete: bool  # False when stopped early (a counterexample found, or the state cap hit)
    seconds: float
    truncated: bool = False  # the state cap was hit: the graph is NOT the whole reachable set
    edges: int = 0
    liveness_failures: list[int] = attrs.Factory(list)
    liveness_checked: int = 0
    liveness_seconds: float = 0.0

    def witness_trace(self, name: str) -> Trace:
        """The trace that exhibits witness ``name``."""
        sid, ev = self.witnesses[name]
        t = self.trace(sid)
        return Trace((*t.events, ev)) if ev is not None else t

    def trace(self, sid: int) -> Trace:
        """The BFS (shortest) path to state ``sid``."""
        out: list[Event] = []
        while (p := self.parent[sid]) is not None:
            sid, ev = p
            out.append(ev)
        return Trace(tuple(reversed(out)))

    @property
    def state_count(self) -> int:
        return len(self.states)


def explore(
    profile: Profile,
    cfg: Config,
    *,
    stop_on: frozenset[str] | None = None,
    check: frozenset[str] | None = None,
    max_states: int = 2_000_000,
    progress: Progress | None = None,
    build_graph: bool = True,
) -> Exploration:
    """Breadth-first exploration of ``profile`` under ``cfg``.

    ``check`` limits the properties evaluated (default: all); ``stop_on`` stops the search as
    soon as every one of those properties has a (shortest) counterexample: seeded-flaw and
    expected-attack runs need nothing more.
    """
    t0 = time.perf_counter()
    props = {k: f for k, f in profile.properties.items() if check is None or k in check}
    init = profile.initial(cfg)
    ids: dict[Any, int] = {init: 0}
    states: list[Any] = [init]
    parent: list[tuple[int, Event] | None] = [None]
    graph = nx.DiGraph()
    graph.add_node(0)
    violations: dict[str, tuple[int, str]] = {}
    witnesses: dict[str, tuple[int, Event | None]] = {}
    ev_wit = dict(profile.event_witnesses)
    edges = 0

    # properties grouped by the fields they read: one identity test per group and state
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in props:
        groups.setdefault(profile.reads.get(name, ()), []).append(name)
    order = [(fields, [(n, props[n]) for n in names]) for fields, names in groups.items()]

    def visit(sid: int, w: Any, before: Any = None) -> bool:
        for fields, members in order:
            if before is not None and fields and all(
                    getattr(w, f) is getattr(before, f) for f in fields):
                continue  # same inputs as the parent, which was checked and holds
            for name, fn in members:
                if name in violations:
                    continue
                why = fn(w, cfg)
                if why is None:
                    continue
                violations[name] = (sid, why)
                if stop_on and stop_on <= violations.keys():
                    return True
        return _witness(sid, w)

    pending = {**profile.witnesses, **profile.goals}

    def _witness(sid: int, w: Any) -> bool:
        for name, (_, pred) in list(pending.items()):
            if pred(w, cfg):
                witnesses.setdefault(name, (sid, None))
                del pending[name]
        return False

    edge_events: dict[tuple[int, int], Event] = {}
    truncated = False
    stopped = visit(0, init)
    queue: deque[int] = deque([0])
    while queue and not stopped:
        sid = queue.popleft()
        w = states[sid]
        for ev, nw in profile.successors(w, cfg):
            if ev_wit:
                for name in [n for n, (_, p) in ev_wit.items() if p(w, ev, cfg)]:
                    witnesses.setdefault(name, (sid, ev))
                    del ev_wit[name]
            nid = ids.get(nw)
            if nid is None:
                nid = len(states)
                ids[nw] = nid
                states.append(nw)
                parent.append((sid, ev))
                queue.append(nid)
                if visit(nid, nw, w):
                    stopped = True
                    break
                if len(states) >= max_states and queue:
                    stopped = truncated = True
                    break
            edges += 1
            if build_graph:
                prev = edge_events.get((sid, nid))
                if prev is None or (ev.honest and not prev.honest):
                    edge_events[(sid, nid)] = ev
        if progress and sid % 2000 == 0:
            progress(len(states), len(queue))
    if progress:
        progress(len(states), 0)
    if build_graph:
        graph.add_nodes_from(range(len(states)))
        graph.add_edges_from((a, b, {"event": ev}) for (a, b), ev in edge_events.items())
    return Exploration(profile.name, cfg, graph, states, parent, violations, witnesses,
                       complete=not stopped, seconds=time.perf_counter() - t0, edges=edges,
                       truncated=truncated)


def check_liveness(profile: Profile, result: Exploration, max_steps: int = 80,
                   progress: Progress | None = None) -> None:
    """Bounded liveness: from every reachable state, the honest deployment can still complete.

    From each state the attacker stops (the network delivers, no more attacker moves) and an
    honest scheduler drives the protocol: it always takes the most advanced honest step
    available (rank order), with a fresh-challenge budget large enough for the remaining work.
    The outcome depends only on the control part of a state (sessions, Agents, publications,
    revocations, compromises), so results are memoised on that projection. States from which
    the scheduler cannot reach completion within ``max_steps`` are liveness failures.
    """
    t0 = time.perf_counter()
    memo: dict[Hashable, bool] = {}
    failures: list[int] = []
    for sid, w in enumerate(result.states):
        if not _drives_to_completion(profile, result.config, w, memo, max_steps):
            failures.append(sid)
        if progress and sid % 5000 == 0:
            progress(sid, len(result.states))
    result.liveness_failures = failures
    result.liveness_checked = len(result.states)
    result.liveness_seconds = time.perf_counter() - t0


def _drives_to_completion(profile: Profile, cfg: Config, w: Any, memo: dict[Hashable, bool],
                          max_steps: int) -> bool:
    path: list[Hashable] = []
    live_cfg = profile.live_config(w, cfg)
    ok = False
    for _ in range(max_steps):
        key = profile.control(w)
        if key in memo:
            ok = memo[key]
            break
        path.append(key)
        if profile.complete(w, cfg):
            ok = True
            break
        best: tuple[int, Any] | None = None
        for ev, nw in profile.successors(w, live_cfg):
            r = profile.rank(ev, w, live_cfg)
            if r is not None and (best is None or r < best[0]):
                best = (r, nw)
        if best is None:
            break
        w = best[1]
    for key in path:
        memo[key] = ok
    return ok


def shortest_path_between(result: Exploration, src: int, dst: int) -> list[Event]:
    """Events along a shortest path of the explored graph (used for witness traces)."""
    nodes = nx.shortest_path(result.graph, src, dst)
    return [result.graph.edges[a, b]["event"] for a, b in itertools.pairwise(nodes)]
