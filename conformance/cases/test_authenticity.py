"""Package and message authenticity (P5): only the provisioned TAM and Author keys count."""

from __future__ import annotations

import pytest
from edbp.conformance.harness import Harness

from edbp.errors import Code

case = pytest.mark.edbp_case


def _refused(harness: Harness, code: Code, step: str, signer: str = "author", **kw: object) -> None:
    before = harness.state()
    published = harness.publish(1, signer=signer)
    q = harness.query(step=f"{step}: deploy.query_request")
    got = harness.deliver(harness.update(published, q, **kw), f"{step}: deploy.update")  # type: ignore[arg-type]
    harness.expect_refusal(got, code, f"{step}: deploy.verify_update")
    harness.expect_unchanged(before, step)


@case(
    id="auth.untrusted-tam-update",
    clauses=("P-2b", "P-9.2a"),
    properties=("P5",),
    flow="deploy",
    tags=("signature",),
)
def test_update_signed_by_untrusted_tam(harness: Harness) -> None:
    """A TEEP Update signed by a key that is no TAM trust anchor is refused."""
    _refused(
        harness, Code.AGENT_UNTRUSTED_SIGNER, "rogue TEEP signer", teep_tsk=harness.cloud.rogue_tsk
    )


@case(
    id="auth.untrusted-tam-query",
    clauses=("P-2b", "P-9.2a", "P-8.3a"),
    properties=("P5", "P3"),
    flow="deploy",
    tags=("signature",),
)
def test_query_signed_by_untrusted_tam(harness: Harness) -> None:
    """A QueryRequest from an untrusted TAM gets no evidence, only a refusal."""
    before = harness.state()
    _, _, request = harness.query_request(harness.cloud.rogue_tsk)
    got = harness.deliver(request, "rogue QueryRequest")
    harness.expect_refusal(got, Code.AGENT_UNTRUSTED_SIGNER, "rogue QueryRequest")
    harness.expect_unchanged(before, "rogue QueryRequest")


@case(
    id="auth.untrusted-device-manifest",
    clauses=("P-9.4a",),
    properties=("P5",),
    flow="deploy",
    tags=("signature",),
)
def test_device_manifest_signed_by_untrusted_tam(harness: Harness) -> None:
    """A per-device SUIT manifest signed by an untrusted key is refused (SUIT_AUTH_FAILED)."""
    _refused(
        harness,
        Code.SUIT_AUTH_FAILED,
        "rogue manifest signer",
        manifest_tsk=harness.cloud.rogue_tsk,
    )


@case(
    id="auth.untrusted-author",
    clauses=("P-9.5a",),
    properties=("P5",),
    flow="deploy",
    tags=("signature",),
)
def test_author_manifest_signed_by_untrusted_author(harness: Harness) -> None:
    """An author manifest signed by an Author the device does not trust is refused."""
    _refused(harness, Code.SUIT_AUTH_FAILED, "rogue author", signer="rogue-author")


@case(
    id="auth.tam-as-author",
    clauses=("P-9.5a",),
    properties=("P5", "P12"),
    flow="deploy",
    tags=("signature",),
)
def test_author_manifest_signed_by_tam(harness: Harness) -> None:
    """The TAM cannot forge a package: an author manifest signed by a TSK is refused."""
    _refused(harness, Code.SUIT_AUTH_FAILED, "TAM as author", signer="tam")


@case(
    id="auth.unnamed-signer",
    clauses=("P-2c", "P-9.2a"),
    properties=("P5",),
    flow="deploy",
    tags=("signature",),
)
def test_update_signed_without_kid_by_untrusted_key(harness: Harness) -> None:
    """Without a kid the Agent tries each trusted TSK: none verifies, TEEP_BAD_SIGNATURE."""
    from edbp.reference.wire import teep

    before = harness.state()
    published = harness.publish(1)
    q = harness.query(step="deploy.query_request")
    envelope = harness.delivery(published).envelope
    msg = teep.Update(token=q.token, manifest_list=(envelope,), agent_nonce=q.nonce)
    got = harness.deliver(harness.sign(msg, harness.cloud.rogue_tsk, kid=False), "unnamed signer")
    harness.expect_refusal(got, Code.TEEP_BAD_SIGNATURE, "deploy.verify_update")
    harness.expect_unchanged(before, "unnamed signer")


@case(
    id="auth.unnamed-tam",
    clauses=("P-2c", "P-9.2a"),
    properties=("P5",),
    flow="deploy",
    tags=("signature",),
)
def test_update_signed_without_kid_by_trusted_key(harness: Harness) -> None:
    """A kid is optional (protocol.md section 2): an Update the trusted TSK signed without a
    kid is verified under the role's keys and installs like any other."""
    from edbp.reference.wire import teep

    published = harness.publish(1)
    q = harness.query(step="deploy.query_request")
    envelope = harness.delivery(published).envelope
    msg = teep.Update(token=q.token, manifest_list=(envelope,), agent_nonce=q.nonce)
    got = harness.deliver(harness.sign(msg, harness.cloud.tsk, kid=False), "kid-less Update")
    harness.expect_success(got, q, published, "kid-less Update: deploy.success")


@pytest.mark.parametrize("layer", ["device", "author"])
@case(
    id="auth.manifest-algorithms",
    clauses=("P-9.4a", "P-9.5a", "P-9.4b"),
    properties=("P5",),
    flow="deploy",
    tags=("signature", "algorithms"),
)
def test_manifest_signature_algorithm(harness: Harness, layer: str) -> None:
    """Each SUIT layer is checked on its own: the device manifest's signature (TSK) and the
    author manifest's (ASK) with an algorithm no SUIT profile offers (A128GCM, 1, a COSE id
    a generic library knows; an unregistered one) are SUIT_UNSUPPORTED_PROFILE (316), refused
    before any key is tried; nothing changes."""
    for label, protected in (("A128GCM", {1: 1}), ("unregistered", {1: -65000})):
        before = harness.state()
        published = harness.publish(1)
        q = harness.query(step=f"{layer} {label}: deploy.query_request")
        envelope = harness.envelope_with_alg(harness.delivery(published).envelope, layer, protected)
        got = harness.deliver(harness.update(published, q, envelope=envelope), f"{layer} {label}")
        harness.expect_refusal(
            got, Code.SUIT_UNSUPPORTED_PROFILE, f"{layer} manifest signature alg ({label})"
        )
        harness.expect_unchanged(before, f"{layer} {label}")
