"""The Error duties every ``agent.deliver`` step checks (spec/protocol.md section 7, Error:
which token, which lists, which report) catch a device that breaks them (issue 13 item 7).

A wrapper around the reference device re-signs each Error it sends with the test's DSK after
one seeded change; the replay of a vector the reference passes must then fail on ``checks``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from edbp.reference.wire import teep
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_key import CoseKey
from vector_docs import load_all

from edbp.vectorgen.replay import ReferenceTarget, replay_test

DOCS = load_all()


def _test(tc_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for doc in DOCS.values():
        for group in doc["testGroups"]:
            for test in group["tests"]:
                if test["tcId"] == tc_id:
                    return copy.deepcopy(test), group
    raise LookupError(tc_id)


class ChangedErrors(ReferenceTarget):
    """The reference device, with every Error it sends changed by ``change`` and re-signed."""

    def __init__(self, dsk: CoseKey, change: Callable[[teep.Error], teep.Error]) -> None:
        super().__init__()
        self.dsk, self.change = dsk, change

    def call(self, req: str, args: dict[str, Any], fetch: Any = None) -> Any:
        result = super().call(req, args, fetch)
        if req != "deliver":
            return result
        replies = []
        for reply in result["replies"]:
            msg = teep.peek(reply)
            if isinstance(msg, teep.Error):
                reply = teep.sign(self.change(msg), self.dsk, Alg.ESP256)
            replies.append(reply)
        return {**result, "replies": replies}


CHANGES: dict[str, tuple[str, Callable[[teep.Error], teep.Error]]] = {
    "a list with a code that is no negotiation failure": (
        "deploy.esp256-a128gcm.invalid.update-rollback",
        lambda e: attrs.evolve(e, cipher_suites=teep.EDBP_CIPHER_SUITES),
    ),
    "SUIT profiles in an Error": (
        "deploy.esp256-a128gcm.invalid.query-es256-only",
        lambda e: attrs.evolve(e, suit_cose_profiles=teep.EDBP_SUIT_COSE_PROFILES),
    ),
    "a token of nobody's": (
        "deploy.esp256-a128gcm.invalid.update-rollback",
        lambda e: attrs.evolve(e, token=bytes(16)),
    ),
    "no token on a refused Update's report": (
        "deploy.esp256-a128gcm.invalid.update-rollback",
        lambda e: attrs.evolve(e, token=None),
    ),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_broken_error_duty_fails_the_vector(name: str) -> None:
    tc_id, change = CHANGES[name]
    test, group = _test(tc_id)
    dsk = CoseKey.decode(bytes.fromhex(test["device"]["testKeys"]["dsk"]))
    assert replay_test(test, group, ReferenceTarget()).passed
    outcome = replay_test(test, group, ChangedErrors(dsk, change))
    assert not outcome.passed
    assert any("checks" in f for f in outcome.failures), outcome.failures


def test_the_unchanged_wrapper_passes() -> None:
    test, group = _test("deploy.esp256-a128gcm.invalid.update-rollback")
    dsk = CoseKey.decode(bytes.fromhex(test["device"]["testKeys"]["dsk"]))
    assert replay_test(test, group, ChangedErrors(dsk, lambda e: e)).passed
