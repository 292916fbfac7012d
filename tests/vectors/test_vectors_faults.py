"""Each faulty device of ``edbp.conformance.faults`` fails a deploy vector guarding a property it
breaks (replayed over the same adapter-request interface the conformance suite uses)."""

from __future__ import annotations

import pytest
from vector_docs import load_all

from edbp.vectorgen.replay import ReferenceTarget, replay_file

faults = pytest.importorskip("edbp.conformance.faults")

DOCS = [
    d
    for p, d in sorted(load_all().items())
    if p
    in (
        "deploy/esp256-a128gcm.json",
        "deploy/esp256-a128ctr.json",
        "pq/deploy-mldsa65-hpke-xwing-a128gcm.json",  # P14: the edbp-pq downgrades
    )
]
#: faults no single-device vector can show (they need two devices or several resets); the
#: conformance suite covers them
NOT_A_VECTOR_FAULT = {
    "shared-device-keys": "identical keys across units need two devices",
    # the deploy vectors provision no ta_keys (their payloads are opaque images)
    "skip-ta-check": "deploy vectors ship opaque payloads; the ta.* conformance cases catch it",
    # a vector carries no clock (P6(a)'s lifetime L_a, spec/protocol.md 8.3.1)
    "exchange-never-expires": "needs time to pass in the TEE; "
    "freshness.update-after-exchange-lifetime catches it",
    "clock-not-advanced": "an adapter duty over time; "
    "freshness.update-after-exchange-lifetime catches it",
}
#: clause faults (issue 12) whose input no deploy vector carries (a malformed encoding, a
#: near-miss value, an adapter duty, a TA image): the conformance cases naming their clause
#: catch them (tests/conformance/test_mutation_score.py)
NO_VECTOR_FOR_CLAUSE = {
    # until the faulty Agent refused an Update carrying both lists and passed the exchange's
    # offered profile as the reference does, these "failed" update-profile-not-offered (409
    # for 316) whatever their own defect: no deploy vector carries a header moved to the
    # unprotected bucket, an unknown critical label, an ECDSA hash taken from a wrong alg, a
    # digest wrong in its last byte or a near-miss uninstall UUID; the cases naming their
    # clauses catch them. constant-agent-nonce: a vector scripts the nonces it needs
    "author-manifest-alg-unprotected",
    "author-manifest-crit-ignored",
    "author-manifest-ecdsa-hash-from-alg",
    "constant-agent-nonce",
    "device-manifest-alg-unprotected",
    "device-manifest-crit-ignored",
    "device-manifest-ecdsa-hash-from-alg",
    "manifest-digest-off-by-one",
    "teep-alg-unprotected",
    "teep-crit-ignored",
    "teep-ecdsa-hash-from-alg",
    "uninstall-uuid-prefix",
    # issue 12
    "cbor-depth-64",
    "cbor-strict-receive",
    "deliver-omits-code",
    "err-msg-without-code",
    "manifest-limit-8",
    "merge-header-buckets",
    "no-message-limit",
    "power-cut-not-reported",
    "refuses-es256",
    "refuses-unknown-members",
    "skip-device-manifest-signature",
    "skip-recipient-kid",
    "small-limits",
    "ta-floor-strict",
    "ta-uuid-unchecked",
    "ta-version-vs-suit-floor",
    "token-length-unchecked",
    "token-prefix-compare",
    "ueid-prefix-compare",
    "unexpected-keeps-exchange",
    "uninstall-partial",
    "unknown-type-unexpected",
    "error-without-report",
    "kid-prefix-compare",
    "report-reference-author",
    "ta-floor-ignored",
    "device-wide-floor",
    "success-before-commit",
    "retired-floors-in-ram",
    "anchors-in-ram",
    "emits-es256",
    "device-alg-late",
    "author-alg-late",
    "evidence-without-manifests",
    # issue 12, second pass: one emitting layer labelled ES256 (a verifier accepts -7, so a
    # vector replay does not refuse it; open_reply's emitted-alg check does), adapter frame
    # duties (a vector replay calls the backend, not the frame loop), and the SUIT sequence
    # checked against the TA-version floor (deploy vectors carry opaque payloads, no TA version)
    "eat-es256",
    "reply-es256",
    "report-es256",
    "reply-id-after-ask",
    "unknown-request-malformed",
    "sequence-vs-ta-floor",
}


@pytest.mark.parametrize("name", sorted(faults.FAULTS))
def test_fault_fails_a_vector_of_its_property(name: str) -> None:
    if name in NOT_A_VECTOR_FAULT:
        pytest.skip(NOT_A_VECTOR_FAULT[name])
    if name in NO_VECTOR_FOR_CLAUSE:
        pytest.skip("no deploy vector carries this clause's input; its conformance cases do")
    fault = faults.FAULTS[name]
    if fault.profile != "edbp":
        pytest.skip("a blueprint-profile fault: the bp.* conformance cases catch it")
    caught = []
    for doc in DOCS:
        props = {t["tcId"]: set(t["properties"]) for g in doc["testGroups"] for t in g["tests"]}
        for outcome in replay_file(doc, lambda g, t: ReferenceTarget(fault.make())):
            if (
                not outcome.passed
                and not outcome.skipped
                and props[outcome.tc_id] & set(fault.properties)
            ):
                caught.append(outcome.tc_id)
    assert caught, f"{name} ({fault.properties}) passes every deploy vector"


def test_the_honest_reference_device_passes_the_same_vectors() -> None:
    from edbp.conformance.reference_device import ReferenceDevice

    for doc in DOCS:
        outcomes = replay_file(doc, lambda g, t: ReferenceTarget(ReferenceDevice()))
        assert [o.tc_id for o in outcomes if not o.passed] == []
