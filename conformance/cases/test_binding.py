"""Recipient binding (P4) and device class (P5): a delivery installs only on the device, the
vendor and the class it was made for."""

from __future__ import annotations

import attrs
import pytest
from edbp.conformance.harness import Harness
from edbp.conformance.harness.session import Target
from edbp.reference.build.package import class_id_for, vendor_id_for
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_key import CoseKey

from edbp.errors import Code

case = pytest.mark.edbp_case


def _other_device(harness: Harness, own_dak: bool) -> Target:
    key = CoseKey.generate(Curve.P256, harness.rng.fork("other-device"))
    dak = harness.dak if own_dak else attrs.evolve(key, kid=key.thumbprint()).public()
    return Target(b"\x01" + harness.rng.fork("other-ueid").random_bytes(16), dak)


def _refused(harness: Harness, code: Code, step: str, **kw: object) -> None:
    before = harness.state()
    published = harness.publish(
        1, **{k: v for k, v in kw.items() if k in ("class_id", "vendor_id")}
    )
    q = harness.query(step=f"{step}: deploy.query_request")
    target = kw.get("target")
    update = harness.update(published, q, target=target)  # type: ignore[arg-type]
    got = harness.deliver(update, f"{step}: deploy.update")
    error = harness.expect_refusal(got, code, f"{step}: deploy.verify_update")
    harness.check_error_report(error, code, q, f"{step}: deploy.verify_update")
    harness.expect_unchanged(before, step)


@case(
    id="binding.other-device",
    clauses=("P-9.6a",),
    properties=("P4",),
    flow="deploy",
    tags=("binding",),
)
def test_delivery_for_another_device(harness: Harness) -> None:
    """A delivery made for another device (its UEID, its DAK) is refused before unwrapping."""
    _refused(
        harness,
        Code.AGENT_NOT_FOR_THIS_DEVICE,
        "other device",
        target=_other_device(harness, own_dak=False),
    )


@case(
    id="binding.other-ueid",
    clauses=(
        "P-8.5a",
        "P-9.6a",
    ),
    properties=("P4",),
    flow="deploy",
    tags=("binding",),
)
def test_manifest_naming_another_ueid(harness: Harness) -> None:
    """A device manifest naming another UEID is refused even when the CEK is wrapped to this
    device's DAK."""
    _refused(
        harness,
        Code.AGENT_NOT_FOR_THIS_DEVICE,
        "other UEID",
        target=_other_device(harness, own_dak=True),
    )


@case(
    id="binding.wrong-class",
    clauses=("P-9.5b",),
    properties=("P4", "P5"),
    flow="deploy",
    tags=("binding",),
)
def test_wrong_class(harness: Harness) -> None:
    """A package for another class of the same vendor is refused (condition-class-identifier)."""
    _refused(
        harness,
        Code.SUIT_CONDITION_CLASS,
        "other class",
        class_id=class_id_for(harness.vendor_id, "another-model"),
    )


@case(
    id="binding.wrong-vendor",
    clauses=("P-9.5b",),
    properties=("P4", "P5"),
    flow="deploy",
    tags=("binding",),
)
def test_wrong_vendor(harness: Harness) -> None:
    """A package of another vendor is refused (condition-vendor-identifier)."""
    _refused(
        harness,
        Code.SUIT_CONDITION_VENDOR,
        "other vendor",
        vendor_id=vendor_id_for("other-vendor.example"),
    )


@case(
    id="binding.replay-other-device",
    clauses=("P-9.7b", "E-3a"),
    properties=("P4", "P6"),
    flow="deploy",
    tags=("binding", "replay"),
)
def test_replayed_update_for_another_device(harness: Harness) -> None:
    """An Update made for another device, delivered with no exchange open (a replay as well):
    the device binding is checked before the session binding, so the code is
    AGENT_NOT_FOR_THIS_DEVICE (602), not AGENT_REPLAY (612)."""
    before = harness.state()
    published = harness.publish(1)
    q = harness.query(step="deploy.query_request")
    update = harness.update(published, q, target=_other_device(harness, own_dak=False))
    harness.deliver(harness.uninstall(q), "close the exchange (nothing to uninstall)")
    got = harness.deliver(update, "replayed Update for another device")
    harness.expect_refusal(got, Code.AGENT_NOT_FOR_THIS_DEVICE, "deploy.verify_update (order)")
    harness.expect_unchanged(before, "replayed Update for another device")


@case(
    id="binding.other-dak",
    clauses=("P-9.6a",),
    properties=("P4",),
    flow="deploy",
    tags=("binding",),
)
def test_delivery_wrapped_to_another_dak(harness: Harness) -> None:
    """A device manifest naming this device's UEID, with the CEK wrapped to another DAK (its
    kid is not this device's kid(DAK)), is refused before any key agreement."""
    other = _other_device(harness, own_dak=False)
    _refused(
        harness,
        Code.AGENT_NOT_FOR_THIS_DEVICE,
        "other DAK",
        target=Target(harness.ueid, other.dak),
    )


@case(
    id="binding.near-miss-ueid",
    clauses=("P-9.6a",),
    properties=("P4",),
    flow="deploy",
    tags=("binding", "near-miss"),
)
def test_ueid_differing_in_last_byte(harness: Harness) -> None:
    """A device manifest naming a UEID that differs from this device's only in its last byte
    (CEK wrapped to this device's DAK) is refused: the whole UEID is compared."""
    near = harness.ueid[:-1] + bytes([harness.ueid[-1] ^ 0x01])
    _refused(
        harness, Code.AGENT_NOT_FOR_THIS_DEVICE, "near-miss UEID", target=Target(near, harness.dak)
    )


@case(
    id="binding.near-miss-kid",
    clauses=("P-9.6a",),
    properties=("P4",),
    flow="deploy",
    tags=("binding", "near-miss"),
)
def test_recipient_kid_differing_in_last_byte(harness: Harness) -> None:
    """The CEK wrapped to this device's DAK under a recipient kid that differs from kid(DAK)
    only in its last byte is refused: the whole kid is compared."""
    kid = harness.dak.thumbprint()
    near = kid[:-1] + bytes([kid[-1] ^ 0x01])
    before = harness.state()
    published = harness.publish(1)
    q = harness.query(step="near-miss kid: deploy.query_request")
    envelope = harness.envelope_with_kid(published, near)
    got = harness.deliver(harness.update(published, q, envelope=envelope), "near-miss kid")
    harness.expect_refusal(got, Code.AGENT_NOT_FOR_THIS_DEVICE, "deploy.verify_update (kid)")
    harness.expect_unchanged(before, "near-miss kid")
    # the same construction with the exact kid installs: the refusal is the kid's doing
    exact = harness.envelope_with_kid(published, kid)
    q = harness.query(step="exact kid: deploy.query_request")
    got = harness.deliver(harness.update(published, q, envelope=exact), "exact kid")
    harness.expect_success(got, q, published, "exact kid")
