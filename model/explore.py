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
import weakref
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from operator import attrgetter, is_
from typing import Any, overload

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
    properties: Mapping[str, Callable[[Any, Config], str | None]]
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


class Parents(Sequence[tuple[int, Event] | None]):
    """BFS parent pointers, read as a list of ``(parent id, event)`` (``None`` for the initial
    state) and stored as a machine-integer array beside a list of shared events: 16 bytes a
    state instead of a tuple and an integer object (about 90)."""

    __slots__ = ("_events", "_ids")

    def __init__(self) -> None:
        self._ids = array("q", [-1])
        self._events: list[Event | None] = [None]

    def add(self, sid: int, ev: Event) -> None:
        """Record the next state's parent ``sid`` and the event that led from it."""
        self._ids.append(sid)
        self._events.append(ev)

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, i: int) -> tuple[int, Event] | None: ...

    @overload
    def __getitem__(self, i: slice) -> list[tuple[int, Event] | None]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        sid = self._ids[i]
        ev = self._events[i]
        return None if sid < 0 or ev is None else (sid, ev)


@attrs.define
class Exploration:
    """The result of one search."""

    profile: str
    config: Config
    states: list[Any]
    parent: Parents  # state id -> (BFS parent id, event) or None for the initial state
    violations: dict[str, tuple[int, str]]  # property -> (state id, description)
    witnesses: dict[str, tuple[int, Event | None]]  # name -> (state id, final edge or None)
    complete: bool  # False when stopped early (a counterexample found, or the state cap hit)
    seconds: float
    truncated: bool = False  # the state cap was hit: the graph is NOT the whole reachable set
    edges: int = 0
    liveness_failures: list[int] = attrs.Factory(list)
    liveness_checked: int = 0
    liveness_seconds: float = 0.0
    #: the distinct edges as ``src << 32 | dst`` -> event (empty unless the graph was built);
    #: the ``networkx`` graph is made from them only when ``graph`` is first read, because a
    #: DiGraph with an attribute dict per edge costs several hundred bytes an edge and most
    #: runs (``edbp model check`` without ``--graph``/``--dot``) never read it
    edge_events: dict[int, Event] = attrs.Factory(dict)
    graph_nodes: int = 1
    _graph: nx.DiGraph | None = attrs.field(default=None, init=False, repr=False, eq=False)

    @property
    def graph(self) -> nx.DiGraph:
        """The reachable graph: node = state id, edge = transition with its ``event``."""
        if self._graph is None:
            graph = nx.DiGraph()
            graph.add_nodes_from(range(self.graph_nodes))
            graph.add_edges_from((k >> 32, k & _LOW, {"event": ev})
                                 for k, ev in self.edge_events.items())
            self._graph = graph
        return self._graph

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


_LOW = (1 << 32) - 1


#: one object per distinct configuration (weakly held): the profiles memoise message builders
#: and candidate sets on the configuration, and a lookup whose key holds an equal but distinct
#: ``Config`` compares every field of it and of its ``Rules`` and ``Instance``
_CONFIGS: weakref.WeakValueDictionary[Any, Any] = weakref.WeakValueDictionary()


def canonical(cfg: Config) -> Config:
    """The one live ``Config`` equal to ``cfg`` (``cfg`` itself the first time)."""
    key = attrs.astuple(cfg, recurse=False)  # not ``cfg`` itself: a key is held strongly
    found: Config | None = _CONFIGS.get(key)
    if found is None:
        _CONFIGS[key] = found = cfg
    return found


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

    Where the time goes, and what this loop does about it (issue 17, issue 19 item 8):
    successor generation is the profile's and dominates; each successor is hashed once and
    compared with the state it equals (most successors are states already seen); properties
    are evaluated only on new states, once per distinct value of the fields they read (a
    verdict memo per group of properties, local to this run, so nothing leaks between
    configurations); events are hash-consed, so a state's parent pointer and the graph's
    edges share one object per distinct event instead of one per transition.
    """
    t0 = time.perf_counter()
    cfg = canonical(cfg)
    # a property that carries its own memo (``__wrapped__``, as functools.wraps sets it) is
    # called unwrapped where the explorer memoises it here, once per run
    props = {k: (getattr(f, "__wrapped__", f) if profile.reads.get(k) else f)
             for k, f in profile.properties.items() if check is None or k in check}
    init = profile.initial(cfg)
    ids: dict[Any, int] = {init: 0}
    states: list[Any] = [init]
    parent = Parents()
    violations: dict[str, tuple[int, str]] = {}
    witnesses: dict[str, tuple[int, Event | None]] = {}
    ev_wit = dict(profile.event_witnesses)
    edges = 0
    events: dict[Event, Event] = {}

    # properties grouped by the fields they read: one identity test per group and state, and
    # one evaluation per distinct value of those fields (the READS contract: a property is a
    # function of the configuration and the fields it names)
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in props:
        groups.setdefault(profile.reads.get(name, ()), []).append(name)
    Verdicts = list[tuple[str, str]]
    order: list[tuple[Callable[[Any], Any] | None, bool,
                      list[tuple[str, Callable[[Any, Config], str | None]]],
                      dict[Any, Verdicts]]] = [
        (attrgetter(*fields) if fields else None, len(fields) == 1,
         [(n, props[n]) for n in names], {})
        for fields, names in groups.items()]

    def visit(sid: int, w: Any, before: Any = None) -> bool:
        for get, single, members, memo in order:
            found: Verdicts | None
            if get is None:
                found = [(name, why) for name, fn in members
                         if name not in violations and (why := fn(w, cfg)) is not None]
            else:
                key = get(w)
                if before is not None:
                    old = get(before)
                    if key is old if single else all(map(is_, key, old)):
                        continue  # same inputs as the parent, which was checked and holds
                found = memo.get(key)
                if found is None:
                    found = memo[key] = [(name, why) for name, fn in members
                                         if (why := fn(w, cfg)) is not None]
            for name, why in found:
                if name in violations:
                    continue
                violations[name] = (sid, why)
                if stop_on and stop_on <= violations.keys():
                    return True
        return _witness(sid, w) if pending else False

    pending = {**profile.witnesses, **profile.goals}

    def _witness(sid: int, w: Any) -> bool:
        for name, (_, pred) in list(pending.items()):
            if pred(w, cfg):
                witnesses.setdefault(name, (sid, None))
                del pending[name]
        return False

    edge_events: dict[int, Event] = {}
    truncated = False
    stopped = visit(0, init)
    queue: deque[int] = deque([0])
    successors = profile.successors
    # a new state is stored with each field replaced by the equal value already stored, if
    # any: equal parts of states (observation sets, ghosts, tuples of agents) are kept once
    parts: dict[Any, Any] = {}
    canon = canonicaliser(type(init)) if attrs.has(type(init)) else None
    while queue and not stopped:
        sid = queue.popleft()
        w = states[sid]
        for ev, nw in successors(w, cfg):
            if ev_wit:
                for name in [n for n, (_, p) in ev_wit.items() if p(w, ev, cfg)]:
                    witnesses.setdefault(name, (sid, ev))
                    del ev_wit[name]
            nid = ids.get(nw)
            if nid is None:
                nid = len(states)
                if canon is not None:
                    nw = canon(nw, parts)
                ids[nw] = nid
                states.append(nw)
                parent.add(sid, events.setdefault(ev, ev))
                queue.append(nid)
                if visit(nid, nw, w):
                    stopped = True
                    break
                if len(states) >= max_states and queue:
                    stopped = truncated = True
                    break
            edges += 1
            if build_graph:
                key = sid << 32 | nid
                prev = edge_events.get(key)
                if prev is None or (ev.honest and not prev.honest):
                    edge_events[key] = events.setdefault(ev, ev)
        if progress and sid % 2000 == 0:
            progress(len(states), len(queue))
    if progress:
        progress(len(states), 0)
    return Exploration(profile.name, cfg, states, parent, violations, witnesses,
                       complete=not stopped, seconds=time.perf_counter() - t0, edges=edges,
                       truncated=truncated, edge_events=edge_events,
                       graph_nodes=len(states) if build_graph else 1)


def evolver(cls: type) -> Callable[[Any, dict[str, Any]], Any]:
    """A function ``(obj, changes) -> cls(...)``: ``obj`` with the fields named in ``changes``
    replaced, for an attrs class ``cls``.

    Compiled once per class, so each call is one constructor call with the fields read
    directly: the profiles build a successor state per transition with it, and the generic
    ``attrs.evolve`` (field introspection and a keyword dict per call) was the explorer's
    largest single cost."""
    names = [f.name for f in attrs.fields(cls)]
    if any(not f.init or f.kw_only or f.alias != f.name for f in attrs.fields(cls)):
        raise ValueError(f"{cls.__name__}: only plain positional fields are supported")
    args = ", ".join(f"c[{n!r}] if {n!r} in c else o.{n}" for n in names)
    namespace: dict[str, Any] = {"cls": cls}
    exec(f"def evolve(o, c):\n    return cls({args})\n", namespace)  # noqa: S102
    fn: Callable[[Any, dict[str, Any]], Any] = namespace["evolve"]
    return fn


def canonicaliser(cls: type) -> Callable[[Any, dict[Any, Any]], Any]:
    """A function ``(obj, pool) -> cls(...)``: ``obj`` with every field replaced by the equal
    value in ``pool`` (added to ``pool`` when absent).

    The explorer stores each new state through it, so that equal parts of different states
    are one object: a state then costs its own record and a few pointers, and the identity
    test that lets a successor inherit its parent's verdicts succeeds more often."""
    fields = attrs.fields(cls)
    if any(not f.init or f.kw_only or f.alias != f.name or not f.eq or f.hash is False
           for f in fields):
        return lambda o, _pool: o  # not a plain record of hashed values: stored as built
    names = [f.name for f in fields]
    args = ", ".join(f"p.setdefault(o.{n}, o.{n})" for n in names)
    namespace: dict[str, Any] = {"cls": cls}
    exec(f"def canon(o, p):\n    return cls({args})\n", namespace)  # noqa: S102
    fn: Callable[[Any, dict[Any, Any]], Any] = namespace["canon"]
    return fn


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
    live_cfg = canonical(profile.live_config(w, cfg))
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
