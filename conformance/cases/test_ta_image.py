"""OP-TEE's TA-image checks (P5, P7) on a device that declared ``ta-check``.

The SUIT layer proves the Author shipped the bytes; OP-TEE's loader still refuses a TA whose
own signature (TA Signing Key), bootstrap UUID or TA version does not check. A device that
installed such a TA would report a success it cannot run, or roll a TA back under a newer SUIT
sequence number. Each case sends an otherwise valid delivery (TAM- and Author-signed, bound to
the device, fresh) whose payload breaks exactly one of those checks, and expects the refusal
code OP-TEE's check gives (spec/errors.md) with nothing installed and no floor moved.
"""

from __future__ import annotations

import pytest
from edbp.conformance.harness import Harness, TaImage
from edbp.conformance.harness.cloud import default_ta_version
from edbp.conformance.outcome import CaseFailure

from edbp.errors import Code

case = pytest.mark.edbp_case

#: a UUID no component of the run uses (the TA image claims it; the component does not)
OTHER_UUID = bytes.fromhex("5b9e0e40255711e4a5ef0002a5d5c51b")


def _refused(harness: Harness, sequence: int, ta: TaImage, code: Code, step: str) -> None:
    if not harness.ta_check:
        raise CaseFailure("provision", "ta_keys provisioned (capability ta-check)", "none")
    before = harness.state()
    published = harness.publish(sequence, ta=ta)
    q = harness.query(step=f"{step}: deploy.query_request")
    got = harness.deliver(harness.update(published, q), f"{step}: deploy.update")
    harness.expect_refusal(got, code, f"{step}: deploy.install (TA image check)")
    harness.expect_unchanged(before, step)


@case(
    id="ta.untrusted-signer",
    clauses=("T-6a",),
    properties=("P5",),
    flow="deploy",
    tags=("ta-image", "authenticity"),
    needs=("ta-check",),
)
def test_ta_signed_by_untrusted_key(harness: Harness) -> None:
    """A TA image signed by a TA key the device does not trust, in a delivery the TAM and the
    Author signed, is refused with TA_BAD_SIGNATURE; nothing is installed."""
    _refused(harness, 1, TaImage(signer="rogue-tak"), Code.TA_BAD_SIGNATURE, "rogue TA key")
    harness.deploy(1, step="v1 signed by the trusted TA key")


@case(
    id="ta.uuid-mismatch",
    clauses=("T-6b",),
    properties=("P5",),
    flow="deploy",
    tags=("ta-image",),
    needs=("ta-check",),
)
def test_ta_uuid_mismatch(harness: Harness) -> None:
    """A trusted-key TA image whose bootstrap UUID is not the component's is refused with
    TA_UUID_MISMATCH (it would be installed under another TA's name)."""
    _refused(harness, 1, TaImage(uuid=OTHER_UUID), Code.TA_UUID_MISMATCH, "other TA's UUID")


@case(
    id="ta.version-rollback",
    clauses=("T-7a", "P-13b"),
    properties=("P7",),
    flow="deploy",
    tags=("ta-image", "rollback"),
    needs=("ta-check",),
)
def test_ta_version_rollback(harness: Harness) -> None:
    """After SUIT sequence 2 carrying TA version t (the harness's default, not 2), a package
    with a higher SUIT sequence number carrying TA version t - 1 is refused with
    TA_VERSION_ROLLBACK: the TA-version floor holds apart from the SUIT floor; an equal TA
    version under a new sequence installs."""
    t = default_ta_version(2)
    harness.deploy(2, step=f"v2 (TA version {t})")
    versions = [c.get("ta_version") for c in harness.state().get("components", [])]
    if versions != [t]:
        raise CaseFailure("v2 (state ta_version)", f"TA version {t} installed", versions)
    _refused(
        harness, 3, TaImage(ta_version=t - 1), Code.TA_VERSION_ROLLBACK, f"TA version {t - 1} in v3"
    )
    published = harness.publish(4, ta=TaImage(ta_version=t))
    q = harness.query(step=f"v4 (TA version {t} again): deploy.query_request")
    got = harness.deliver(harness.update(published, q), f"v4 (TA version {t} again): deploy.update")
    image = harness.cloud.image(published.package.ta_uuid, 4, TaImage(ta_version=t))
    harness.expect_success(got, q, published, f"v4 (TA version {t})", image=image)


@case(
    id="floors.independent",
    clauses=("P-13c", "T-7b", "T-7a"),
    properties=("P7",),
    flow="deploy",
    tags=("ta-image", "rollback"),
    needs=("ta-check",),
)
def test_floors_independent(harness: Harness) -> None:
    """TA version and SUIT sequence number diverge: each is checked against its own floor.
    Sequence 5 carrying TA version 1, then sequence 6 carrying TA version 2, install (a device
    that checked the TA version against the SUIT floor would refuse them); sequence 8 carrying
    TA version 10 installs, then sequence 9 carrying TA version 9 is TA_VERSION_ROLLBACK (a
    device that checked the TA version against the SUIT floor, 8, would accept it); the state
    reports both floors apart."""
    for seq, ta_version in ((5, 1), (6, 2), (8, 10)):
        step = f"v{seq} (TA version {ta_version})"
        published = harness.publish(seq, ta=TaImage(ta_version=ta_version))
        q = harness.query(step=f"{step}: deploy.query_request")
        got = harness.deliver(harness.update(published, q), f"{step}: deploy.update")
        image = harness.cloud.image(published.package.ta_uuid, seq, TaImage(ta_version=ta_version))
        harness.expect_success(got, q, published, step, image=image)
    _refused(harness, 9, TaImage(ta_version=9), Code.TA_VERSION_ROLLBACK, "TA version 9 in v9")
    floors = [(f.get("sequence"), f.get("ta_version")) for f in harness.state().get("floors", [])]
    if floors != [(8, 10)]:
        raise CaseFailure("state (floors)", "SUIT floor 8, TA-version floor 10", floors)
