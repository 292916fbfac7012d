"""Atomic install (P10): a power cut at each persistent write of an install leaves either the
old version or the new one, whole, and the device installs again after it."""

from __future__ import annotations

import hashlib

import pytest
from edbp.conformance.harness import TA_UUID, Harness
from edbp.conformance.outcome import CaseFailure
from edbp.reference.wire import teep
from edbp.reference.wire.suit_core import SuitDigest

from edbp.errors import Code

case = pytest.mark.edbp_case
MAX_WRITES = 64


def _check_whole(harness: Harness, step: str) -> int:
    state = harness.state()
    if state.get("agent_state") != "IDLE":
        raise CaseFailure(step + " (agent_state)", "IDLE", state.get("agent_state"))
    entries = [e for e in state.get("components", [])]
    if len(entries) != 1 or entries[0].get("sequence") not in (1, 2):
        raise CaseFailure(step + " (state)", "version 1 or 2 installed", entries)
    seq = int(entries[0]["sequence"])
    digest = SuitDigest(-16, hashlib.sha256(harness.image(seq, TA_UUID)).digest()).to_cbor()
    if entries[0].get("digest") != digest:
        raise CaseFailure(step + " (image)", f"the whole image of version {seq}", "another digest")
    harness.check_image_digest(entries[0], harness.image(seq, TA_UUID), step)
    floor = harness.floor()
    if floor != seq:
        raise CaseFailure(step + " (floor)", seq, floor)
    return seq


def _check_replies_before_cut(
    harness: Harness, replies: tuple[bytes, ...], seq: int, step: str
) -> None:
    """adapter.md power_cut: what the device sent before the cut must hold after the reboot;
    a signed Success for version 2 while version 1 is what survived is a lie to the TAM."""
    for data in replies:
        msg = harness.open_reply(data, f"{step} (reply before the cut)")
        if isinstance(msg, teep.Success) and seq != 2:
            raise CaseFailure(
                f"{step} (reply before the cut)", "no Success for v2", f"Success, v{seq} installed"
            )


@case(
    id="persistence.reboot",
    clauses=("P-13a", "A-4c", "A-4d"),
    properties=("P7", "P13"),
    flow="lifecycle",
    tags=("power-cut", "reboot", "rollback", "revocation"),
    needs=("power-cut",),
)
def test_state_survives_reboots(harness: Harness) -> None:
    """Persistence across reboots (a power cut between the steps that set state and those
    that rely on it): the floor of an uninstalled component, and trust anchors replaced by a
    provision, hold after the device restarted."""
    harness.deploy(2, step="v2")
    q = harness.query(step="uninstall: deploy.query_request")
    got = harness.deliver(harness.uninstall(q), "uninstall.component")
    if got.code is not None:
        raise CaseFailure("uninstall.component", "Success", got.code, got.code)
    harness.reboot("reboot after uninstall")
    before = harness.state()
    published = harness.publish(2)
    q = harness.query(step="v2 after reboot: deploy.query_request")
    got = harness.deliver(harness.update(published, q), "v2 after reboot: deploy.update")
    harness.expect_refusal(got, Code.AGENT_ROLLBACK, "v2 again after uninstall and reboot")
    harness.expect_unchanged(before, "v2 again after uninstall and reboot")
    cloud = harness.cloud
    harness.provision(tam_keys=[cloud.tsk2])
    harness.reboot("reboot after provision", sequence=10_001, tsk=cloud.tsk2)
    _, _, request = harness.query_request(cloud.tsk)
    got = harness.deliver(request, "QueryRequest under the replaced TSK after reboot")
    harness.expect_refusal(got, Code.AGENT_UNTRUSTED_SIGNER, "replaced TSK after reboot")


@case(
    id="powercut.install",
    clauses=("A-4c", "P-9.9a", "P-9a"),
    properties=("P10", "P7"),
    flow="deploy",
    tags=("power-cut",),
    needs=("power-cut",),
)
def test_power_cut_at_each_install_write(harness: Harness) -> None:
    for at in range(1, MAX_WRITES + 1):
        step = f"power cut at write {at}"
        harness.call("reset", {}, step=step)
        harness.read_identity()
        harness.provision()
        harness.deploy(1, step=f"{step}: v1")
        harness.call("power_cut", {"at": at}, step=step)
        published = harness.publish(2)
        q = harness.query(step=f"{step}: deploy.query_request")
        got = harness.deliver(harness.update(published, q), f"{step}: deploy.update")
        if not got.power_cut:
            harness.expect_success(got, q, published, f"{step}: not reached")
            return
        seq = _check_whole(harness, step)
        _check_replies_before_cut(harness, got.replies, seq, step)
        if seq == 1:
            harness.deploy(2, step=f"{step}: v2 after reboot")
        else:
            harness.deploy(3, step=f"{step}: v3 after reboot")
    raise CaseFailure("power cut", f"an install of at most {MAX_WRITES} writes", "more")
