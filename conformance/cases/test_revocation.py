"""Revocation and rotation (P13): trust anchors replaced by a later provision are no longer
trusted; the rotated TAM key works; a class-key rotation keeps packages installable."""

from __future__ import annotations

import pytest
from edbp.conformance.harness import Harness

from edbp.errors import Code

case = pytest.mark.edbp_case


@case(
    id="revocation.tam-key",
    clauses=("A-4d",),
    properties=("P13", "P5"),
    flow="lifecycle",
    tags=("revocation",),
)
def test_revoked_tam_key(harness: Harness) -> None:
    """After re-provisioning with the rotated TSK only, the old TSK's messages are refused
    and the new one deploys."""
    harness.deploy(1, step="v1 under TSK 1")
    cloud = harness.cloud
    harness.provision(tam_keys=[cloud.tsk2])
    before = harness.state()
    _, _, request = harness.query_request(cloud.tsk)
    got = harness.deliver(request, "QueryRequest under revoked TSK")
    harness.expect_refusal(got, Code.AGENT_UNTRUSTED_SIGNER, "QueryRequest under revoked TSK")
    harness.expect_unchanged(before, "QueryRequest under revoked TSK")
    published = harness.publish(2)
    q = harness.query(signer=cloud.tsk2, step="QueryRequest under TSK 2")
    harness.check_evidence(q, "QueryResponse under TSK 2")
    update = harness.update(published, q, manifest_tsk=cloud.tsk2, teep_tsk=cloud.tsk2)
    got = harness.deliver(update, "Update under TSK 2")
    harness.expect_success(got, q, published, "v2 under TSK 2")


@case(
    id="revocation.author-key",
    # the refusal is the author layer's (step 5: the author envelope passes step 4 under the
    # ASKs now trusted), besides the adapter's provision that changed them
    clauses=("A-4d", "P-9.5a"),
    properties=("P13", "P5"),
    flow="lifecycle",
    tags=("revocation",),
)
def test_revoked_author_key(harness: Harness) -> None:
    """An Author key dropped from the anchors no longer authenticates packages."""
    cloud = harness.cloud
    harness.provision(author_keys=[cloud.rogue_ask])
    before = harness.state()
    published = harness.publish(1)
    q = harness.query(step="deploy.query_request")
    got = harness.deliver(harness.update(published, q), "Update of a revoked Author")
    harness.expect_refusal(got, Code.SUIT_AUTH_FAILED, "deploy.verify_update")
    harness.expect_unchanged(before, "Update of a revoked Author")


@case(
    id="rotation.class-key",
    clauses=("P-9.4b",),
    properties=("P13", "P2"),
    flow="lifecycle",
    tags=("rotation",),
)
def test_class_key_rotation(harness: Harness) -> None:
    """After ``rotate.class_key`` the re-wrapped package (new author envelope, same sequence,
    payload and CEK) installs like any other; the installed version is unaffected."""
    harness.deploy(1, step="v1 before rotation")
    rewrapped = harness.cloud.rotate_and_rewrap(harness.publish(2))
    q = harness.query(step="after rotation: deploy.query_request")
    got = harness.deliver(harness.update(rewrapped, q), "after rotation: deploy.update")
    harness.expect_success(got, q, rewrapped, "v2 re-wrapped under the new class key")
