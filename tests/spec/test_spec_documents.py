"""The spec's prose agrees with the shared vocabulary, the flaw catalogue and itself.

Checks: every step name of docs/VOCABULARY.md is specified in protocol.md; every Agent and TAM
state appears in the transition tables; properties.md states P1-P13 and places every seeded flaw
of the model under the property it targets; Mermaid blocks are sequence diagrams whose lines
parse; every error code named in protocol.md and adapter.md exists with that integer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from edbp.model.flaws import FLAWS

from edbp.errors import Code

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"
PROTOCOL = (SPEC / "protocol.md").read_text(encoding="utf-8")
PROPERTIES = (SPEC / "properties.md").read_text(encoding="utf-8")
ADAPTER = (SPEC / "adapter.md").read_text(encoding="utf-8")
VOCABULARY = (ROOT / "docs" / "VOCABULARY.md").read_text(encoding="utf-8")


def _vocabulary_steps() -> list[str]:
    flows = VOCABULARY.split("## Flows", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"`((?:enrol|publish|deploy|revoke|rotate|uninstall)\.[a-z_]+)`", flows)
    return sorted(set(names))


@pytest.mark.parametrize("step", _vocabulary_steps())
def test_every_vocabulary_step_is_specified(step: str) -> None:
    assert f"`{step}`" in PROTOCOL


def test_vocabulary_has_the_steps_we_expect() -> None:
    steps = _vocabulary_steps()
    assert "deploy.verify_update" in steps and "rotate.class_key" in steps
    assert len(steps) >= 25


@pytest.mark.parametrize("state", ["IDLE", "QUERIED", "VERIFYING", "FETCHING", "INSTALLING"])
def test_agent_states_in_transition_table(state: str) -> None:
    table = PROTOCOL.split("### 10.1", 1)[1].split("### 10.2", 1)[0]
    assert re.search(rf"^\| A\d+ \|[^|]*\b{state}\b", table, re.M) or f"| {state}" in table


@pytest.mark.parametrize("state", ["NO_SESSION", "CHALLENGED", "UPDATE_SENT"])
def test_tam_states_in_transition_table(state: str) -> None:
    table = PROTOCOL.split("### 10.2", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^\| T\d+b? \| [^|]*\b{state}\b", table, re.M)


def _property_sections() -> dict[str, str]:
    parts = re.split(r"^### (P\d+) ", PROPERTIES, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_properties_p1_to_p13_each_with_statement_attacker_and_flaw() -> None:
    sections = _property_sections()
    # P14 (no suite downgrade, the optional post-quantum suite) follows P13
    assert sorted(sections, key=lambda p: int(p[1:])) == [f"P{i}" for i in range(1, 15)]
    for pid, text in sections.items():
        for part in (
            "**Statement.**",
            "**Holds against.**",
            "**Strengthening invariants",
            "**Flaw",
        ):
            assert part in text, f"{pid} lacks {part}"


@pytest.mark.parametrize("flaw", FLAWS, ids=lambda f: f.name)
def test_every_seeded_flaw_is_under_its_target_property(flaw: object) -> None:
    sections = _property_sections()
    name, target = flaw.name, flaw.target  # type: ignore[attr-defined]
    assert f"`{name}`" in sections[target], f"{name} not named under {target}"


def test_blueprint_line_for_every_property() -> None:
    table = PROPERTIES.split("## Which properties the `blueprint` profile breaks", 1)[1]
    for i in range(1, 15):
        assert re.search(rf"^\| P{i} \| \S", table, re.M), f"no blueprint line for P{i}"


_MERMAID_LINE = re.compile(
    r"^\s*(participant \w+( as .+)?|\w+-?->>\+?\w+: .+|\w+-->>\w+: .+|Note .+|sequenceDiagram)\s*$"
)


def test_mermaid_blocks_are_sequence_diagrams() -> None:
    blocks = re.findall(r"```mermaid\n(.*?)```", PROTOCOL, flags=re.S)
    assert len(blocks) >= 5
    for block in blocks:
        lines = [ln for ln in block.splitlines() if ln.strip()]
        assert lines[0].strip() == "sequenceDiagram"
        for line in lines:
            assert ";" not in line, line
            assert _MERMAID_LINE.match(line), f"unexpected Mermaid line: {line!r}"


@pytest.mark.parametrize("text", [PROTOCOL, ADAPTER], ids=["protocol", "adapter"])
def test_named_codes_exist_with_their_integers(text: str) -> None:
    pairs = re.findall(r"`([A-Z][A-Z0-9_]+)`,? \(?(\d{3,4})\b", text)
    assert pairs
    for name, value in pairs:
        assert name in Code.__members__, f"{name} is not an error code"
        assert int(Code[name]) == int(value), f"{name} is {int(Code[name])}, text says {value}"
