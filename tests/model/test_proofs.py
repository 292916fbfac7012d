"""z3: every property inductive for any size; seeded flaws break the induction readably."""

from __future__ import annotations

from edbp.model.flaws import flaw
from edbp.model.proofs import SUPPORT, lemma_titles, prove
from edbp.model.properties import PROPERTY_IDS


def test_every_property_is_proved_inductive() -> None:
    results = prove()
    assert [o.prop for o in results] == list(PROPERTY_IDS)
    failed = {o.prop: o.failure for o in results if not o.proved}
    assert failed == {}


def test_a_flaw_yields_a_readable_counterexample_to_induction() -> None:
    (o,) = prove(flaw("tam-ignores-revocation").rules, props=("P13",))
    assert not o.proved
    assert "deploy.query_request(d=device" in o.failure or "deploy.verify_evidence" in o.failure
    assert "!val!" not in o.failure


def test_the_flaw_breaks_only_what_it_should() -> None:
    results = {o.prop: o.proved for o in prove(flaw("author-reuses-iv").rules)}
    assert not results["P11"]
    assert all(ok for p, ok in results.items() if p != "P11")


def test_strengthening_invariants_are_named() -> None:
    titles = lemma_titles()
    used = {x for deps in SUPPORT.values() for x in deps if x.startswith("L")}
    assert used <= set(titles)
    assert titles["L1"] == "wraps on the network were delivered"
