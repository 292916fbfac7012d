"""The reference implementation passes every committed vector, replayed by the generic runner
(``edbp.vectorgen.replay``), and the runner is not vacuous: a vector with a changed expectation
fails."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from vector_docs import VECTORS, load_all

from edbp.vectorgen.replay import OPS, ReferenceTarget, replay_file, replay_test

DOCS = load_all()


@pytest.mark.parametrize("path", sorted(DOCS))
def test_reference_passes_every_vector(path: str) -> None:
    outcomes = replay_file(DOCS[path], lambda group, test: ReferenceTarget())
    bad = [(o.tc_id, o.skipped or o.failures) for o in outcomes if not o.passed]
    assert bad == []
    assert len(outcomes) == DOCS[path]["numberOfTests"]


def test_every_op_in_the_vectors_has_a_runner() -> None:
    ops = {
        s["op"]
        for d in DOCS.values()
        for g in d["testGroups"]
        for t in g["tests"]
        for s in t["steps"]
    }
    replay_file({"testGroups": []})  # loads the runners
    assert ops <= set(OPS)


def _first(prefix: str, result: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for path, doc in sorted(DOCS.items()):
        if not path.startswith(prefix):
            continue
        for g in doc["testGroups"]:
            for t in g["tests"]:
                if t["result"] == result:
                    return g, t
    raise LookupError(prefix)


@pytest.mark.parametrize(
    "prefix",
    [
        "deploy/",
        "cose/",
        "ta-image/",
        "blueprint/cpk",
        "blueprint/wrapped",
        "tam/",
        "publish/",
        "enrol/",
    ],
)
def test_a_changed_expectation_fails(prefix: str) -> None:
    group, test = _first(prefix, "invalid")
    bent = copy.deepcopy(test)
    last = bent["steps"][-1]["expect"]
    last["error"] = 1 if last.get("error") != 1 else 2
    assert not replay_test(bent, group, ReferenceTarget()).passed
    group, test = _first(prefix, "valid")
    bent = copy.deepcopy(test)
    bent["steps"][-1]["expect"] = {"error": 600, "errorName": "AGENT_UNEXPECTED_MESSAGE"}
    assert not replay_test(bent, group, ReferenceTarget()).passed


def test_a_wrong_state_after_fails() -> None:
    group, test = _first("deploy/esp256-a128gcm", "valid")
    bent = copy.deepcopy(test)
    step = next(s for s in bent["steps"] if "stateAfter" in s and s["stateAfter"]["components"])
    step["stateAfter"]["components"][0]["sequence"] += 1
    outcome = replay_test(bent, group, ReferenceTarget())
    assert not outcome.passed and "stateAfter" in outcome.failures[0]


def test_tc_ids_are_unique_across_files() -> None:
    ids = [t["tcId"] for d in DOCS.values() for g in d["testGroups"] for t in g["tests"]]
    assert len(ids) == len(set(ids))


def test_a_few_hundred_vectors_cover_both_suites_and_profiles() -> None:
    index = json.loads((VECTORS / "index.json").read_text())
    assert sum(e["tests"] for e in index["files"]) >= 300
    suites = {g["suite"] for d in DOCS.values() for g in d["testGroups"]}
    assert {"esp256-a128gcm", "ed25519-a128gcm", "as-published", "fixed"} <= suites
    profiles = {g["profile"] for d in DOCS.values() for g in d["testGroups"]}
    assert profiles == {"edbp", "blueprint"}
