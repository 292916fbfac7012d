"""Every seeded flaw of the model has vectors: its flags exist and guard its target property."""

from __future__ import annotations

import pytest
from edbp.model.flaws import FLAWS
from vector_docs import load_all

from edbp.vectorgen.model_links import ATTACK_VECTORS, FLAW_FLAGS, NO_VECTOR_FLAWS

DOCS = load_all()


def test_every_model_flaw_is_linked() -> None:
    assert {f.name for f in FLAWS} == set(FLAW_FLAGS) | set(NO_VECTOR_FLAWS)
    assert not set(FLAW_FLAGS) & set(NO_VECTOR_FLAWS)


@pytest.mark.parametrize("flaw", FLAWS, ids=lambda f: f.name)
def test_flaw_flags_exist_and_guard_its_property(flaw: object) -> None:
    notes = {}
    used = set()
    for doc in DOCS.values():
        notes.update(doc["notes"])
        used |= {flag for g in doc["testGroups"] for t in g["tests"] for flag in t["flags"]}
    if flaw.name in NO_VECTOR_FLAWS:  # type: ignore[attr-defined]
        pytest.skip(NO_VECTOR_FLAWS[flaw.name])  # type: ignore[attr-defined]
    flags = FLAW_FLAGS[flaw.name]  # type: ignore[attr-defined]
    assert set(flags) <= used
    assert any(flaw.target in notes[f]["properties"] for f in flags)  # type: ignore[attr-defined]


@pytest.mark.parametrize("attack", sorted(ATTACK_VECTORS))
def test_blueprint_attacks_have_cpk_vectors(attack: str) -> None:
    from edbp.model.attacks import ATTACKS

    assert attack in {a.id for a in ATTACKS}
    tests = {t["tcId"]: t for g in DOCS["blueprint/cpk.json"]["testGroups"] for t in g["tests"]}
    for name in ATTACK_VECTORS[attack]:
        published = tests[f"cpk.as-published.acceptable.{name}"]
        fixed = tests[f"cpk.fixed.invalid.{name}"]
        assert published["steps"][0]["expect"]["outcome"] == "installed"
        assert "error" in fixed["steps"][0]["expect"]
