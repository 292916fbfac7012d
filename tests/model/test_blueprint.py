"""The blueprint profile: every expected attack found with a shortest trace."""

from __future__ import annotations

import pytest
from edbp.model.attacks import ATTACKS, find_attack
from edbp.model.catalogue import render_catalogue
from edbp.model.edbp_profile import Config
from edbp.model.instance import Instance

EXPECTED_LENGTH = {
    "key_release_to_attacker_key": 1,  # one WrapKey call with the attacker's own key
    "every_key_to_every_device": 2,  # register + DistributeKey
    "revoked_device_still_keyed": 3,
}


@pytest.fixture(scope="module")
def findings():  # type: ignore[no-untyped-def]
    return {a.id: find_attack(a, Config(Instance())) for a in ATTACKS}


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_attack_is_found(attack, findings) -> None:  # type: ignore[no-untyped-def]
    f = findings[attack.id]
    assert f.found, attack.id
    assert f.trace is not None and len(f.trace) >= 1
    assert any(s.startswith(("attack.", "deploy.update", "revoke.")) for s in f.trace.steps)
    if attack.id in EXPECTED_LENGTH:
        assert len(f.trace) == EXPECTED_LENGTH[attack.id]


def test_key_release_trace_is_the_wrapkey_call(findings) -> None:  # type: ignore[no-untyped-def]
    f = findings[ATTACKS[0].id]
    assert f.trace is not None
    (only,) = f.trace.events
    assert only.steps == ("attack.inject", "deploy.update") and "WrapKey" in only.text


def test_rollback_uses_genuine_packages_only(findings) -> None:  # type: ignore[no-untyped-def]
    f = findings["rollback_to_older_package"]
    assert f.trace is not None
    installs = [e for e in f.trace.events if "deploy.install" in e.steps]
    assert len(installs) == 2 and all("attacker code" not in e.text for e in installs)


def test_an_attack_disappears_when_its_weakness_is_withheld() -> None:
    # without WrapKey and without a compromised or malicious REE, nobody outside the devices
    # learns a class key: the search must come back empty, so "found" is not automatic
    attack = ATTACKS[0]
    tiny = Instance(devices=1, apps=1, versions=1, rotations=0, revocations=0)
    assert find_attack(attack, Config(tiny)).found
    cfg = Config(tiny, moves_off=frozenset({"wrapkey", "control_ree"}))
    assert not find_attack(attack, cfg).found


def test_catalogue_markdown() -> None:
    text, ok = render_catalogue(Instance())
    assert ok
    assert text.count("```mermaid") == len(ATTACKS)
    assert "What stops it in edbp" in text
