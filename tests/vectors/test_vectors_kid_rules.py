"""protocol.md section 2 (issue 13 item 6): 604 is decided by a `kid` alone. Without a `kid`,
a signature none of the role's trusted keys verifies is 406 (TEEP) or 303 (SUIT), even when
the Agent trusts no key of that role at all."""

from __future__ import annotations

import copy
from typing import Any

from vector_docs import load_all

from edbp.errors import Code
from edbp.vectorgen.replay import OPS, ReferenceTarget, ReplayContext, replay_file

DOCS = load_all()
replay_file({"testGroups": []})  # registers the op runners


def _honest() -> tuple[dict[str, Any], dict[str, Any]]:
    for group in DOCS["deploy/esp256-a128gcm.json"]["testGroups"]:
        for test in group["tests"]:
            if test["tcId"] == "deploy.esp256-a128gcm.valid.honest-install":
                return copy.deepcopy(test), group
    raise LookupError("honest-install")


def _first_code(test: dict[str, Any], group: dict[str, Any]) -> int | None:
    ctx = ReplayContext(test, group, ReferenceTarget())
    for step in test["steps"]:
        got = OPS[step["op"]](step["input"], ctx)
        if "error" in got:
            return int(got["error"])
    return None


def test_no_kid_and_no_trusted_tsk_is_a_bad_signature() -> None:
    test, group = _honest()
    test["device"]["trustAnchors"]["tam"] = []
    assert _first_code(test, group) == Code.TEEP_BAD_SIGNATURE


def test_no_kid_and_no_trusted_author_is_a_failed_authentication() -> None:
    test, group = _honest()
    test["device"]["trustAnchors"]["author"] = []
    assert _first_code(test, group) == Code.SUIT_AUTH_FAILED


def test_the_honest_vector_installs() -> None:
    test, group = _honest()
    assert _first_code(test, group) is None
