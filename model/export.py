"""Writing the explored graph for other tools: GraphML (networkx) and Graphviz DOT."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
from edbp.model.explore import Exploration


def labelled_graph(res: Exploration) -> nx.DiGraph:
    """A copy of the reachable graph with string attributes only (what GraphML can carry)."""
    g = nx.DiGraph()
    bad = {sid: prop for prop, (sid, _) in res.violations.items()}
    for n in res.graph.nodes:
        g.add_node(n, initial=(n == 0), violates=bad.get(n, ""))
    for a, b, data in res.graph.edges(data=True):
        ev = data["event"]
        g.add_edge(a, b, step=ev.label, text=ev.text, attacker=not ev.honest)
    return g


def write_graphml(res: Exploration, path: Path) -> None:
    """GraphML: node ids are state numbers in BFS order; edges carry spec step names."""
    nx.write_graphml(labelled_graph(res), path)


def write_dot(res: Exploration, path: Path) -> None:
    """Graphviz DOT, written directly (no pydot dependency); attacker edges are dashed."""
    with path.open("w") as fh:
        fh.write("digraph edbp {\n  node [shape=point];\n")
        fh.write('  0 [shape=doublecircle, label="init"];\n')
        for a, b, data in res.graph.edges(data=True):
            ev = data["event"]
            label = ev.label.replace('"', "'")
            style = ', style=dashed' if not ev.honest else ""
            fh.write(f'  {a} -> {b} [label="{label}"{style}];\n')
        fh.write("}\n")
