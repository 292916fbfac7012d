"""Rollback resistance (P7): strictly monotone per-component floors, kept across uninstall."""

from __future__ import annotations

import pytest
from edbp.conformance.harness import TA_UUID, Harness
from edbp.conformance.outcome import CaseFailure
from edbp.reference.build.package import ta_component
from edbp.reference.wire import teep

from edbp.errors import Code

case = pytest.mark.edbp_case


def _refused_update(harness: Harness, sequence: int, code: Code, step: str) -> None:
    before = harness.state()
    published = harness.publish(sequence)
    q = harness.query(step=f"{step}: deploy.query_request")
    got = harness.deliver(harness.update(published, q), f"{step}: deploy.update")
    error = harness.expect_refusal(got, code, f"{step}: deploy.verify_update")
    harness.check_error_report(error, code, q, f"{step}: deploy.verify_update")
    harness.expect_unchanged(before, step)


@case(
    id="rollback.older-sequence",
    clauses=("P-8.5a", "P-9.8a", "E-2a", "E-2b", "E-3a", "A-3c"),
    properties=("P7",),
    flow="deploy",
    tags=("rollback",),
)
def test_older_sequence_refused(harness: Harness) -> None:
    harness.deploy(2, step="v2")
    _refused_update(harness, 1, Code.AGENT_ROLLBACK, "v1 after v2")


@case(
    id="rollback.equal-sequence",
    clauses=("P-9.8a",),
    properties=("P7",),
    flow="deploy",
    tags=("rollback",),
)
def test_equal_sequence_refused(harness: Harness) -> None:
    harness.deploy(2, step="v2")
    _refused_update(harness, 2, Code.AGENT_ROLLBACK, "v2 again")


@case(
    id="rollback.preset-floor",
    clauses=("P-9.8a",),
    properties=("P7",),
    flow="deploy",
    tags=("rollback",),
    needs=("test-keys",),
)
def test_preset_floor(bare: Harness) -> None:
    """A floor provisioned at manufacture holds before anything was installed."""
    floors = [{"component": list(ta_component(TA_UUID)), "sequence": 5, "ta_version": 0}]
    bare.provision(floors=floors)
    _refused_update(bare, 3, Code.AGENT_ROLLBACK, "v3 under floor 5")
    bare.deploy(6, step="v6")


@case(
    id="uninstall.component",
    clauses=("P-9.10a", "P-13a", "A-4b"),
    properties=("P7",),
    flow="lifecycle",
    tags=("uninstall",),
)
def test_uninstall(harness: Harness) -> None:
    """``uninstall.component``: Success bound to the exchange; component gone, floor kept."""
    harness.deploy(2, step="v2")
    q = harness.query(step="uninstall: deploy.query_request")
    got = harness.deliver(harness.uninstall(q), "uninstall.component")
    if got.code is not None or len(got.replies) != 1:
        raise CaseFailure("uninstall.component", "one Success", got.code, got.code)
    if not isinstance(harness.open_reply(got.replies[0], "uninstall.component"), teep.Success):
        raise CaseFailure("uninstall.component", "Success", "another message")
    if harness.installed() is not None:
        raise CaseFailure("uninstall.component (state)", "no component", harness.installed())
    if harness.floor() != 2:
        raise CaseFailure("uninstall.component (floor kept)", 2, harness.floor())


@case(
    id="uninstall.floor-survives",
    clauses=("P-13a",),
    properties=("P7",),
    flow="lifecycle",
    tags=("uninstall", "rollback"),
)
def test_rollback_after_uninstall(harness: Harness) -> None:
    """After an uninstall the old floor still refuses an older version."""
    harness.deploy(2, step="v2")
    q = harness.query(step="uninstall: deploy.query_request")
    harness.deliver(harness.uninstall(q), "uninstall.component")
    _refused_update(harness, 1, Code.AGENT_ROLLBACK, "v1 after uninstall")
    harness.deploy(3, step="v3")


@case(
    id="uninstall.replayed",
    clauses=("P-9.10a", "P-9.7a"),
    properties=("P6",),
    flow="lifecycle",
    tags=("uninstall", "replay"),
)
def test_uninstall_without_exchange(harness: Harness) -> None:
    harness.deploy(1, step="v1")
    q = harness.query(step="uninstall: deploy.query_request")
    message = harness.uninstall(q)
    harness.deliver(message, "uninstall.component")
    harness.deploy(2, step="v2")
    before = harness.state()
    got = harness.deliver(message, "replayed uninstall")
    harness.expect_refusal(got, Code.AGENT_REPLAY, "replayed uninstall")
    harness.expect_unchanged(before, "replayed uninstall")


@case(
    id="uninstall.stale",
    clauses=("P-9.10c",),
    properties=("P6",),
    flow="lifecycle",
    tags=("uninstall", "replay"),
)
def test_replayed_uninstall_names_an_older_install(harness: Harness) -> None:
    """Issue 19: the TAM's QueryRequest and its uninstall of v1 are captured; after v2 is
    deployed both are replayed. The QueryRequest reopens the exchange (its token is the old
    one); the uninstall echoes the first exchange's Agent nonce (409, P-9.7c) and names
    sequence 1, not the installed 2 (340, P-9.10c): either refusal keeps v2. The clause this
    case is for: an uninstall in the open exchange, echoing its nonce, that names sequence 1
    is SUIT_UNINSTALL_STALE; one naming no sequence number is 400."""
    harness.deploy(1, step="v1")
    q = harness.query(step="uninstall v1: deploy.query_request")
    message = harness.uninstall(q)
    got = harness.deliver(message, "uninstall.component (v1)")
    if got.code is not None or harness.installed() is not None:
        raise CaseFailure("uninstall.component (v1)", "v1 removed", got.code, got.code)
    harness.deploy(2, step="v2")
    before = harness.state()
    reopened = harness.deliver(q.request, "replayed QueryRequest")
    if reopened.code is not None or len(reopened.replies) != 1:
        raise CaseFailure("replayed QueryRequest", "one QueryResponse", reopened.code)
    got = harness.deliver(message, "replayed uninstall")
    either = Code.TEEP_AGENT_NONCE_MISMATCH if got.code == 409 else Code.SUIT_UNINSTALL_STALE
    harness.expect_refusal(got, either, "replayed uninstall")
    harness.expect_unchanged(before, "replayed uninstall")
    q = harness.query(step="stale uninstall: deploy.query_request")
    got = harness.deliver(harness.uninstall(q, sequence=1), "uninstall naming v1")
    harness.expect_refusal(got, Code.SUIT_UNINSTALL_STALE, "uninstall naming v1")
    harness.expect_unchanged(before, "uninstall naming v1")
    q = harness.query(step="unbound uninstall: deploy.query_request")
    msg = teep.Update(
        token=q.token,
        unneeded_manifest_list=(ta_component(TA_UUID),),
        unneeded_device=harness.ueid,
        agent_nonce=q.nonce,
    )
    got = harness.deliver(harness.sign(msg, harness.cloud.tsk), "uninstall naming no install")
    harness.expect_refusal(got, Code.TEEP_MALFORMED, "uninstall naming no install")
    harness.expect_unchanged(before, "uninstall naming no install")


@case(
    id="uninstall.other-device",
    clauses=("P-9.10d",),
    properties=("P4",),
    flow="lifecycle",
    tags=("uninstall", "replay"),
)
def test_uninstall_for_another_device(harness: Harness) -> None:
    """Issue 19 (found by the model): a QueryRequest names no device, so the attacker can
    replay device A's QueryRequest to this device and then hand it the uninstall the TAM made
    for A, with the same component and sequence number as installed here. Only the device the
    uninstall names tells them apart: an uninstall naming a UEID that differs from this
    device's in its last byte is AGENT_NOT_FOR_THIS_DEVICE, one naming no device is 400, and
    nothing is removed; the same uninstall naming this device then removes the component."""
    harness.deploy(1, step="v1")
    before = harness.state()
    other = harness.ueid[:-1] + bytes([harness.ueid[-1] ^ 0x01])
    q = harness.query(step="uninstall for another device: deploy.query_request")
    got = harness.deliver(harness.uninstall(q, ueid=other), "uninstall for another device")
    harness.expect_refusal(got, Code.AGENT_NOT_FOR_THIS_DEVICE, "uninstall for another device")
    harness.expect_unchanged(before, "uninstall for another device")
    q = harness.query(step="uninstall naming no device: deploy.query_request")
    msg = teep.Update(
        token=q.token,
        unneeded_manifest_list=(ta_component(TA_UUID),),
        unneeded_sequence_numbers=(1,),
        agent_nonce=q.nonce,
    )
    got = harness.deliver(harness.sign(msg, harness.cloud.tsk), "uninstall naming no device")
    harness.expect_refusal(got, Code.TEEP_MALFORMED, "uninstall naming no device")
    harness.expect_unchanged(before, "uninstall naming no device")
    q = harness.query(step="uninstall for this device: deploy.query_request")
    got = harness.deliver(harness.uninstall(q), "uninstall for this device")
    if got.code is not None or harness.installed() is not None:
        raise CaseFailure("uninstall for this device", "v1 removed", got.code, got.code)


@case(
    id="uninstall.absent",
    clauses=("P-9.10a", "P-9a"),
    properties=("P10",),
    flow="lifecycle",
    tags=("uninstall",),
)
def test_uninstall_absent_component(harness: Harness) -> None:
    """An uninstall naming a component that is not installed is AGENT_NO_SUCH_COMPONENT and
    removes nothing, even when another listed component is installed, and when the id differs
    from the installed one only in the last byte of its UUID."""
    harness.deploy(1, step="v1")
    before = harness.state()
    q = harness.query(step="uninstall: deploy.query_request")
    msg = teep.Update(
        token=q.token,
        unneeded_manifest_list=(ta_component(TA_UUID), ta_component(bytes(16))),
        unneeded_sequence_numbers=(1, 1),
        unneeded_device=harness.ueid,
        agent_nonce=q.nonce,
    )
    got = harness.deliver(harness.sign(msg, harness.cloud.tsk), "uninstall (one absent)")
    harness.expect_refusal(got, Code.AGENT_NO_SUCH_COMPONENT, "uninstall.component (absent)")
    harness.expect_unchanged(before, "uninstall (one absent)")
    # a near miss: the installed component's id with the UUID's last byte changed
    near = TA_UUID[:-1] + bytes([TA_UUID[-1] ^ 0x01])
    q = harness.query(step="uninstall near miss: deploy.query_request")
    msg = teep.Update(
        token=q.token,
        unneeded_manifest_list=(ta_component(near),),
        unneeded_sequence_numbers=(1,),
        unneeded_device=harness.ueid,
        agent_nonce=q.nonce,
    )
    got = harness.deliver(harness.sign(msg, harness.cloud.tsk), "uninstall (near miss)")
    harness.expect_refusal(got, Code.AGENT_NO_SUCH_COMPONENT, "uninstall.component (near miss)")
    harness.expect_unchanged(before, "uninstall (near miss)")
