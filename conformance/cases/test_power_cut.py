"""Atomic install (P10): a power cut at each persistent write of an install leaves either the
old version or the new one, whole, and the device installs again after it."""

from __future__ import annotations

import hashlib

import pytest
from edbp.conformance.harness import TA_UUID, Harness
from edbp.conformance.outcome import CaseFailure
from edbp.reference.wire.suit_core import SuitDigest

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


@case(
    id="powercut.install",
    clauses=("A-4c", "P-9.9a"),
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
        if seq == 1:
            harness.deploy(2, step=f"{step}: v2 after reboot")
        else:
            harness.deploy(3, step=f"{step}: v3 after reboot")
    raise CaseFailure("power cut", f"an install of at most {MAX_WRITES} writes", "more")
