"""More than one component (P7, P10): floors, installs, uninstalls and reports are per
component; nothing device-wide stands in for them."""

from __future__ import annotations

import pytest
from edbp.conformance.harness import TA_UUID, Harness
from edbp.conformance.outcome import CaseFailure
from edbp.reference.build.package import ta_component

from edbp.errors import Code

case = pytest.mark.edbp_case

#: a second TA of the run (its own component, floor and image)
OTHER_TA = bytes.fromhex("0b1c2d3e4f5061728394a5b6c7d8e9f0")


@case(
    id="components.two",
    clauses=("P-13a", "P-9.8a", "P-9.10a", "A-4b"),
    properties=("P7", "P10"),
    flow="lifecycle",
    tags=("components", "rollback", "uninstall"),
)
def test_two_components(harness: Harness) -> None:
    """TA A at sequence 5, TA B at sequence 1: both install (B's sequence is below A's floor,
    which is A's alone). Each component's state, image and floor are its own. Uninstalling B
    keeps B's floor and leaves A running; B's old sequence is refused, a newer one installs;
    A's own floor still refuses A's old sequence."""
    harness.deploy(5, step="A v5")
    pub_b = harness.publish(1, ta_uuid=OTHER_TA)
    q = harness.query(step="B v1: deploy.query_request")
    got = harness.deliver(harness.update(pub_b, q), "B v1: deploy.update")
    harness.expect_success(got, q, pub_b, "B v1 (below A's floor)")
    if harness.installed(TA_UUID) != 5 or harness.installed(OTHER_TA) != 1:
        raise CaseFailure("state (components)", "A at 5, B at 1", harness.state().get("components"))
    q = harness.query(step="uninstall B: deploy.query_request")
    got = harness.deliver(harness.uninstall(q, OTHER_TA), "uninstall B")
    if got.code is not None:
        raise CaseFailure("uninstall B", "Success", got.code, got.code)
    if harness.installed(OTHER_TA) is not None or harness.installed(TA_UUID) != 5:
        raise CaseFailure("state after uninstall B", "A at 5 only", harness.state())
    if harness.floor(OTHER_TA) != 1 or harness.floor(TA_UUID) != 5:
        raise CaseFailure(
            "state (floors)", "A: 5, B: 1", (harness.floor(TA_UUID), harness.floor(OTHER_TA))
        )
    for ta, seq, label in ((OTHER_TA, 1, "B v1 again"), (TA_UUID, 4, "A v4")):
        before = harness.state()
        published = harness.publish(seq, ta_uuid=ta)
        q = harness.query(step=f"{label}: deploy.query_request")
        got = harness.deliver(harness.update(published, q), f"{label}: deploy.update")
        harness.expect_refusal(got, Code.AGENT_ROLLBACK, f"{label}: deploy.verify_update")
        harness.expect_unchanged(before, label)
    pub_b2 = harness.publish(2, ta_uuid=OTHER_TA)
    q = harness.query(step="B v2: deploy.query_request")
    got = harness.deliver(harness.update(pub_b2, q), "B v2: deploy.update")
    harness.expect_success(got, q, pub_b2, "B v2")
    entry = [
        e for e in harness.state()["components"] if e["component"] == list(ta_component(TA_UUID))
    ]
    harness.check_image_digest(entry[0], harness.image(5, TA_UUID), "A still runs v5")
