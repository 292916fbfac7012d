"""Device keys (P12, P1): per-device, made in the TEE, only public parts leave it."""

from __future__ import annotations

import pytest
from edbp.conformance.harness import Harness
from edbp.conformance.outcome import CaseFailure
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_key import CoseKey

case = pytest.mark.edbp_case


@case(
    id="keys.public-only",
    clauses=("P-8.1a",),
    properties=("P12", "P1"),
    flow="enrol",
    tags=("keys",),
)
def test_identity_exposes_public_keys_only(bare: Harness) -> None:
    for name in ("dak", "dsk"):
        key = CoseKey.decode(bare.identity[name])
        if key.has_private:
            raise CaseFailure(f"identity ({name})", "public key only", "private part present")


@case(id="keys.per-device", clauses=("P-8.1b",), properties=("P12",), flow="enrol", tags=("keys",))
def test_reset_makes_new_keys(bare: Harness) -> None:
    """``enrol.keygen`` on every factory reset: a new UEID, DAK and DSK (no fleet-wide key);
    ``keep_keys`` keeps them."""
    first = dict(bare.identity)
    bare.call("reset", {"keep_keys": True}, step="reset keep_keys")
    bare.read_identity()
    for name in ("ueid", "dak", "dsk"):
        if bare.identity[name] != first[name]:
            raise CaseFailure(f"reset keep_keys ({name})", "unchanged", "changed")
    bare.call("reset", {}, step="reset")
    bare.read_identity()
    for name in ("ueid", "dak", "dsk"):
        if bare.identity[name] == first[name]:
            raise CaseFailure(f"enrol.keygen ({name})", "a new value", "the previous device's")


@case(
    id="keys.test-keys",
    clauses=("P-9.6a",),
    properties=("P4",),
    flow="enrol",
    tags=("keys",),
    needs=("test-keys",),
)
def test_provisioned_test_keys(bare: Harness) -> None:
    """Test keys provisioned through the adapter become the device's identity and are the
    keys deliveries are bound to."""
    rng = bare.rng.fork("test-keys")
    dak = CoseKey.generate(Curve.P256, rng.fork("dak"))
    dsk = CoseKey.generate(Curve.P256, rng.fork("dsk"))
    ueid = b"\x01" + rng.fork("ueid").random_bytes(16)
    bare.provision(test_keys={"dak": dak.encode(), "dsk": dsk.encode(), "ueid": ueid})
    bare.read_identity()
    if bare.ueid != ueid or bare.dak.thumbprint() != dak.thumbprint():
        raise CaseFailure("provision test_keys (identity)", "the provisioned keys", "others")
    bare.deploy(1)


@case(
    id="keys.no-class-key",
    clauses=("P-9.4b", "A-4e"),
    properties=("P2",),
    flow="deploy",
    tags=("keys",),
)
def test_class_key_wrap_refused(harness: Harness) -> None:
    """A device never holds a class key: offered one at provisioning (an unknown member it
    ignores), it still refuses a delivery whose CEK is wrapped under that class key
    (A256KW) rather than to its DAK: the profile admits ECDH-ES+A128KW only."""
    from edbp.conformance.harness.session import ClassWrapVault

    from edbp.errors import Code

    class_key = harness.rng.fork("class-key").random_bytes(32)
    harness.provision(class_keys=[class_key])
    before = harness.state()
    published = harness.publish(1)
    q = harness.query(step="deploy.query_request")
    vault = ClassWrapVault(harness.cloud.vault, class_key)
    got = harness.deliver(harness.update(published, q, vault=vault), "class-key wrapped Update")
    harness.expect_refusal(got, Code.SUIT_UNSUPPORTED_PROFILE, "deploy.verify_update")
    harness.expect_unchanged(before, "class-key wrapped Update")
