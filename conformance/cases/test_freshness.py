"""Freshness (P6, P3): an Update is accepted only inside the exchange whose challenge it
answers; old, stale or unbound Updates are replays."""

from __future__ import annotations

import math

import pytest
from edbp.conformance.harness import Harness
from edbp.conformance.harness.session import Echo
from edbp.conformance.outcome import CaseFailure
from edbp.reference.wire import teep

from edbp.errors import Code

case = pytest.mark.edbp_case


def _expect_replay(harness: Harness, message: bytes, step: str) -> None:
    before = harness.state()
    got = harness.deliver(message, step)
    harness.expect_refusal(got, Code.AGENT_REPLAY, step)
    harness.expect_unchanged(before, step)


@case(
    id="freshness.stale-challenge",
    clauses=("P-9.7a", "P-10.1a"),
    properties=("P6", "P3"),
    flow="deploy",
    tags=("replay",),
)
def test_stale_challenge(harness: Harness) -> None:
    """An Update bound to a challenge that a newer QueryRequest replaced is refused."""
    published = harness.publish(1)
    old = harness.query(step="query 1")
    harness.query(step="query 2")
    _expect_replay(harness, harness.update(published, old), "Update bound to query 1")


@case(
    id="freshness.replayed-update",
    clauses=("P-9.7a", "P-10.1a"),
    properties=("P6",),
    flow="deploy",
    tags=("replay",),
)
def test_replayed_update(harness: Harness) -> None:
    """The exact bytes of an Update already installed, delivered again, are a replay."""
    published = harness.publish(1)
    q = harness.query(step="deploy.query_request")
    update = harness.update(published, q)
    got = harness.deliver(update, "deploy.update")
    harness.expect_success(got, q, published)
    _expect_replay(harness, update, "replayed Update")


@case(
    id="freshness.replay-into-new-exchange",
    clauses=("P-9.7a",),
    properties=("P6",),
    flow="deploy",
    tags=("replay",),
)
def test_replay_into_new_exchange(harness: Harness) -> None:
    """An old Update delivered while a newer exchange is open is refused (token mismatch)."""
    published = harness.publish(1)
    q = harness.query(step="query 1")
    update = harness.update(published, q)
    harness.deliver(update, "deploy.update")
    harness.query(step="query 2")
    _expect_replay(harness, update, "old Update in exchange 2")


@case(
    id="freshness.no-exchange",
    clauses=("P-9.7a",),
    properties=("P6", "P3"),
    flow="deploy",
    tags=("replay",),
)
def test_update_without_exchange(harness: Harness) -> None:
    """An Update on a device that issued no challenge is refused."""
    published = harness.publish(1)
    _expect_replay(harness, harness.update(published, None, token=b"\x5a" * 16), "unbound Update")


@case(
    id="freshness.token-mismatch",
    clauses=("P-9.7a",),
    properties=("P6",),
    flow="deploy",
    tags=("replay",),
)
def test_token_mismatch(harness: Harness) -> None:
    """Inside an open exchange, an Update with another token is refused."""
    published = harness.publish(1)
    harness.query(step="deploy.query_request")
    _expect_replay(harness, harness.update(published, None, token=b"\xa5" * 16), "wrong token")


@case(
    id="freshness.interleaved",
    clauses=("P-9.7a", "P-9.8a"),
    properties=("P6", "P7"),
    flow="deploy",
    tags=("replay",),
)
def test_interleaved_exchanges(harness: Harness) -> None:
    """Two TAM sessions interleave (query 1, query 2): the Update of the open exchange
    installs, the other one, delivered after it, is a replay and changes nothing."""
    v1, v2 = harness.publish(1), harness.publish(2)
    q1 = harness.query(step="query 1")
    q2 = harness.query(step="query 2")
    first, second = harness.update(v1, q1), harness.update(v2, q2)
    got = harness.deliver(second, "Update of exchange 2")
    harness.expect_success(got, q2, v2, "Update of exchange 2")
    _expect_replay(harness, first, "Update of exchange 1, after exchange 2")


@case(
    id="freshness.near-miss-token",
    clauses=("P-9.7a",),
    properties=("P6",),
    flow="deploy",
    tags=("replay", "near-miss"),
)
def test_token_differing_in_last_byte(harness: Harness) -> None:
    """An Update whose token differs from the open exchange's only in its last byte is a
    replay: the whole token is compared. The exchange is closed by the refusal."""
    published = harness.publish(1)
    q = harness.query(step="deploy.query_request")
    near = q.token[:-1] + bytes([q.token[-1] ^ 0x01])
    _expect_replay(harness, harness.update(published, q, token=near), "near-miss token")


@case(
    id="freshness.update-after-exchange-lifetime",
    clauses=("P-8.3d", "A-4f"),
    properties=("P6",),
    flow="deploy",
    tags=("replay", "time"),
    needs=("monotonic-clock",),
)
def test_update_after_exchange_lifetime(harness: Harness) -> None:
    """An Update withheld by the REE for longer than the exchange lifetime L_a (on the TEE's
    monotonic clock, which the harness advances) is refused with TEEP_EXCHANGE_EXPIRED and
    changes nothing; the exchange is closed, so the same bytes are then a replay. The same
    delivery within L_a installs (protocol.md 8.3.1)."""
    published = harness.publish(1)
    q = harness.query(step="deploy.query_request")
    update = harness.update(published, q)
    before = harness.state()
    harness.advance_clock(math.ceil(teep.EXCHANGE_LIFETIME) + 1, "L_a + 1 s pass in the TEE")
    got = harness.deliver(update, "Update after L_a")
    harness.expect_refusal(got, Code.TEEP_EXCHANGE_EXPIRED, "Update after L_a")
    harness.expect_unchanged(before, "Update after L_a")
    _expect_replay(harness, update, "the same Update once the exchange closed")
    q = harness.query(step="deploy.query_request (2)")
    harness.advance_clock(math.floor(teep.EXCHANGE_LIFETIME) - 1, "just under L_a passes")
    got = harness.deliver(harness.update(published, q), "Update within L_a")
    harness.expect_success(got, q, published)


# ------------------------------------------------ the Agent nonce (issue 19, protocol.md 8.3.1)


@case(
    id="freshness.update-from-replayed-query",
    clauses=("P-9.7c", "P-9a"),
    properties=("P6",),
    flow="deploy",
    tags=("replay",),
)
def test_update_from_replayed_query(harness: Harness) -> None:
    """P6(a): the REE withholds exchange 1's Update, replays exchange 1's signed QueryRequest
    (the device reopens an exchange with its token and draws a new Agent nonce), then delivers
    the withheld Update. It echoes exchange 1's nonce: TEEP_AGENT_NONCE_MISMATCH, nothing
    installed; the exchange is closed, so even an Update echoing the reopened exchange's nonce
    is then a replay."""
    published = harness.publish(1)
    q1 = harness.query(step="exchange 1: deploy.query_request")
    withheld = harness.update(published, q1)
    before = harness.state()
    q2 = harness.requery(q1, "exchange 2: the replayed QueryRequest")
    got = harness.deliver(withheld, "exchange 1's Update in exchange 2")
    harness.expect_refusal(got, Code.TEEP_AGENT_NONCE_MISMATCH, "exchange 1's Update")
    harness.expect_unchanged(before, "exchange 1's Update in exchange 2")
    _expect_replay(harness, harness.update(published, q2), "an Update of the closed exchange 2")


@case(
    id="freshness.agent-nonce-fresh",
    clauses=("P-8.3f",),
    properties=("P6",),
    flow="deploy",
    tags=("replay",),
)
def test_agent_nonce_is_fresh(harness: Harness) -> None:
    """Every accepted QueryRequest, the same signed one replayed included, gets a QueryResponse
    with an Agent nonce of 16 bytes (edbp-agent-nonce, option 258) of its own: no two are
    equal, nor all zero."""
    q = harness.query(step="deploy.query_request")
    nonces = [q.nonce]
    for i in (1, 2):
        nonces.append(harness.requery(q, f"the same QueryRequest, delivery {i + 1}").nonce)
    nonces.append(harness.query(step="another QueryRequest").nonce)
    for i, nonce in enumerate(nonces):
        if nonce is None or len(nonce) != teep.AGENT_NONCE_BYTES or not any(nonce):
            raise CaseFailure(f"QueryResponse {i + 1}", "16 random bytes", nonce)
    if len(set(nonces)) != len(nonces):
        raise CaseFailure("edbp-agent-nonce", "a new nonce per QueryRequest", "a repeated one")


@case(
    id="freshness.update-without-agent-nonce",
    clauses=("P-9.7c",),
    properties=("P6",),
    flow="deploy",
    tags=("replay",),
)
def test_update_without_agent_nonce(harness: Harness) -> None:
    """An Update, install or uninstall, that echoes no Agent nonce is TEEP_MALFORMED (the edbp
    profile requires edbp-agent-nonce) and changes nothing."""
    published = harness.publish(1)
    q = harness.query(step="deploy.query_request")
    before = harness.state()
    got = harness.deliver(harness.update(published, q, nonce=Echo.OMIT), "install, no nonce")
    harness.expect_refusal(got, Code.TEEP_MALFORMED, "install without edbp-agent-nonce")
    harness.expect_unchanged(before, "install without edbp-agent-nonce")
    harness.deploy(1, step="v1")
    before = harness.state()
    q = harness.query(step="uninstall: deploy.query_request")
    got = harness.deliver(harness.uninstall(q, nonce=Echo.OMIT), "uninstall, no nonce")
    harness.expect_refusal(got, Code.TEEP_MALFORMED, "uninstall without edbp-agent-nonce")
    harness.expect_unchanged(before, "uninstall without edbp-agent-nonce")
