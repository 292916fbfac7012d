"""Traces as text: numbered spec steps, and Mermaid sequence diagrams."""

from __future__ import annotations

import re

from edbp.model.edbp_profile import Event

_UNSAFE = re.compile(r"[;#<>{}]")


def _clean(text: str) -> str:
    return _UNSAFE.sub(lambda m: {";": ",", "#": "", "<": "(", ">": ")", "{": "(",
                                  "}": ")"}[m.group(0)], text)


def steps_text(events: tuple[Event, ...] | list[Event]) -> list[str]:
    """One line per event: ``3. deploy.query_response — QueryResponse: ...``."""
    return [f"{i}. {e.label} — {e.text}" for i, e in enumerate(events, 1)]


def sequence_diagram(events: tuple[Event, ...] | list[Event], title: str = "") -> str:
    """A Mermaid ``sequenceDiagram``; attacker-driven steps are dashed and marked."""
    participants: list[str] = []
    for e in events:
        for p in (e.src, e.dst):
            if p not in participants:
                participants.append(p)
    if any(not e.honest for e in events) and "Attacker" not in participants:
        participants.insert(0, "Attacker")
    lines = ["sequenceDiagram"]
    if title:
        lines.insert(0, f"%% {_clean(title)}")
    lines += [f"    participant {p}" for p in participants]
    for i, e in enumerate(events, 1):
        arrow = "->>" if e.honest else "--)"
        label = _clean(f"{i}. {e.label}: {e.text}")
        if e.src == e.dst:
            lines.append(f"    Note over {e.src}: {label}")
        else:
            if not e.honest:
                moves = ", ".join(s for s in e.steps if s.startswith("attack."))
                lines.append(f"    Note over Attacker: {_clean(moves)}")
            lines.append(f"    {e.src}{arrow}{e.dst}: {label}")
    return "\n".join(lines)
