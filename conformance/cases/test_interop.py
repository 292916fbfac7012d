"""Interoperability with peers that follow the TEEP and SUIT drafts (spec/protocol.md §5):
a device under test accepts a TAM's message in any well-formed encoding (the TEEP draft's own
examples put the token before lower keys), and still refuses what is unsafe (a tag inside a map
key, errors.md 108) with the code, its state unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from edbp.conformance.harness import Harness
from edbp.conformance.harness.session import Query
from edbp.conformance.outcome import CaseFailure
from edbp.reference.wire import cbor, cose, teep
from edbp.reference.wire.cose import Alg

from edbp.errors import Code

case = pytest.mark.edbp_case


def _map_reversed(value: dict[Any, Any]) -> cbor.Raw:
    """The map with its keys in descending order: well-formed, not deterministic."""
    entries = sorted(value.items(), key=lambda kv: cbor.dumps(kv[0]), reverse=True)
    if len(entries) > 23:
        raise CaseFailure("interop: build", "an options map of at most 23 entries", len(entries))
    head = bytes([0xA0 | len(entries)])
    return cbor.Raw(head + b"".join(cbor.dumps(k) + cbor.dumps(v) for k, v in entries))


def _signed(harness: Harness, payload: bytes) -> bytes:
    key = harness.cloud.tsk
    return cose.sign1(payload, key, Alg.ESP256, unprotected={4: key.thumbprint()}).encode()


@case(
    id="interop.unsorted-query-request",
    clauses=("P-5c",),
    properties=("P10",),
    flow="deploy",
    tags=("interop", "cbor"),
)
def test_query_request_with_unsorted_keys(harness: Harness) -> None:
    """A QueryRequest whose options map is out of deterministic order (as the TEEP draft's
    example is): the device answers with evidence bound to the challenge."""
    token = harness.rng.fork("interop/unsorted/token").random_bytes(16)
    challenge = harness.rng.fork("interop/unsorted/challenge").random_bytes(32)
    msg = teep.QueryRequest(
        token=token,
        challenge=challenge,
        freshness_mechanisms=(teep.Freshness.NONCE,),
        versions=(0,),
        data_item_requested=int(teep.DataItem.ATTESTATION),
    )
    items = cbor.loads(msg.encode())
    items[1] = _map_reversed(items[1])
    payload = cbor.dumps(items)
    if cbor.is_deterministic(payload):
        raise CaseFailure("interop: build", "a non-deterministic QueryRequest", "deterministic")
    request = _signed(harness, payload)
    got = harness.deliver(request, "interop: deploy.query_request (unsorted keys)")
    harness.check_evidence(Query(token, challenge, request, got.replies, got.code))


@case(
    id="interop.tagged-map-key",
    clauses=("P-5b",),
    properties=("P10",),
    flow="deploy",
    tags=("interop", "cbor"),
)
def test_tag_inside_a_map_key_refused(harness: Harness) -> None:
    """The same QueryRequest with its token key written as tag 1(20): refused with
    CBOR_UNEXPECTED_TAG (108) before anything else, state unchanged."""
    before = harness.state()
    token = harness.rng.fork("interop/tagged/token").random_bytes(16)
    challenge = harness.rng.fork("interop/tagged/challenge").random_bytes(32)
    msg = teep.QueryRequest(token=token, challenge=challenge)
    data = msg.encode()
    key20 = b"\x14\x50" + token  # token label 20, bstr(16)
    if data.count(key20) != 1:
        raise CaseFailure("interop: build", "one token entry", data.hex())
    payload = data.replace(key20, b"\xc1" + key20)
    got = harness.deliver(_signed(harness, payload), "interop: tagged map key")
    harness.expect_refusal(got, Code.CBOR_UNEXPECTED_TAG, "interop: tagged map key")
    harness.expect_unchanged(before, "interop: tagged map key")
