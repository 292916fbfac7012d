"""Blueprint profile, advisories: the published weaknesses of the CPM, looked for on the device.

Each case drives the attack through the contract and raises ``Advisory`` when the weakness is
present (the run reports it apart from failures: the as-published CPM is conformant *and*
vulnerable). A device that closes the weakness passes; a device that answers outside the
contract while being probed fails as in any other case. A device that declares the fixed
suite claims the fixes of spec/blueprint.md §9: a weakness found on it is a failure.
spec/blueprint.md §10 maps each weakness to the properties it breaks and the model's attack.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from edbp.conformance.harness_blueprint import (
    APP,
    OTHER_APP,
    BlueprintHarness,
    Deployment,
    shared_cloud,
)
from edbp.conformance.outcome import Advisory, CaseFailure
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.mutations import WRAPPED_KEY_MUTATIONS, assemble, split_streams
from edbp.reference.rand import SeededRandom

#: wrapped-key mutations by PKCS#1 v1.5 failure class (all of the modulus' length)
BAD_PADDING = ("block_type_1", "leading_byte_nonzero", "padding_string_too_short", "no_separator")
CONFORMANT_WRONG_LENGTH = ("key_16_bytes", "empty_message", "key_33_bytes", "key_48_bytes")


def case(id: str, **kw: Any) -> pytest.MarkDecorator:
    kw.setdefault("flow", "cpm")
    kw.setdefault("tags", ("blueprint", "advisory"))
    return pytest.mark.edbp_case(id=id, profile="blueprint", advisory=True, **kw)


@pytest.fixture
def bp(edbp_device: Any, request: pytest.FixtureRequest) -> BlueprintHarness:
    harness = BlueprintHarness(edbp_device, shared_cloud(), label=request.node.nodeid)
    harness.provision()
    return harness


def _weakness(bp: BlueprintHarness, finding: str, evidence: str) -> Exception:
    """What a found weakness is: an advisory on a device of the published contract, a failure
    on one that declares the fixed suite (it claims the fix, spec/blueprint.md §9)."""
    if bp.binding == "fixed":
        return CaseFailure(
            "weakness closed (the device declares the fixed suite)", "no weakness", finding
        )
    return Advisory(finding, evidence)


def _must_refuse(
    bp: BlueprintHarness,
    cpk: bytes,
    image: bytes,
    step: str,
    finding: str,
    evidence: Callable[[Deployment], str],
) -> None:
    """Deploy ``cpk``; the weakness is there when the deployment completed or ``image`` ended
    up installed (a device may report a refusal and install anyway)."""
    got = bp.deploy(cpk, step)
    if got.completed or bp.has_image(image):
        raise _weakness(bp, finding, evidence(got))


def _sync(bp: BlueprintHarness, app: str = APP, **kw: Any) -> None:
    bp.expect_rc(bp.sync(app, **kw), 0, f"sync {app}")


@case(id="bp.advisory.padding-oracle", clauses=("B-9d",), properties=("P1", "P8"))
def test_unwrap_errors_indistinguishable(bp: BlueprintHarness) -> None:
    """Bleichenbacher: malformed wrapped keys of each PKCS#1 v1.5 failure class must all be
    refused, and alike as the REE sees them (return code and ``ocall_log`` lines). Any
    difference between a bad padding and a conformant block of the wrong length is a padding
    oracle: adaptive queries then decrypt any wrapped key the REE holds."""
    pub = bp.public_key()
    rng = SeededRandom("bp.advisory.padding-oracle")
    fake = rng.fork("key").random_bytes(32)
    seen: dict[tuple[int, tuple[str, ...]], list[str]] = {}
    for name in BAD_PADDING + CONFORMANT_WRONG_LENGTH:
        wrapped = WRAPPED_KEY_MUTATIONS[name].apply(pub, fake, rng.fork(name))
        got = bp.cpm("install_application_key", name, application_id=APP, wrapped=wrapped)
        if got.rc == 0:
            raise CaseFailure(f"install_application_key ({name})", "a refusal", "rc 0")
        seen.setdefault((got.rc, got.log), []).append(name)
    if len(seen) > 1:
        evidence = "\n".join(
            f"{', '.join(names)}: rc {rc}, log {list(log)}" for (rc, log), names in seen.items()
        )
        raise _weakness(
            bp,
            "unwrap failures are distinguishable by PKCS#1 v1.5 failure class "
            f"({len(seen)} different REE-visible answers): a Bleichenbacher padding oracle",
            evidence,
        )


@case(id="bp.advisory.signature-not-enforced", clauses=("B-9a",), properties=("P5",))
def test_attacker_signed_package(bp: BlueprintHarness) -> None:
    """An attacker who obtained the class key (WrapKey releases it to any RSA key) builds its
    own package and signs it with its own key and self-signed certificate. The device must not
    install it: the signature has to be checked against a trust anchor and enforced."""
    cloud = bp.cloud
    _sync(bp)

    def evidence(got: Deployment) -> str:
        verify = got.verify.out if got.verify is not None else {}
        return (
            f"deployment: {got.describe()}; verify reported digest_match="
            f"{verify.get('digest_match')}, signature_match={verify.get('signature_match')}"
        )

    _must_refuse(
        bp,
        cloud.package(bp.binding, signer="attacker", label="attacker"),
        cloud.ta_image(1, "attacker", dev_key=True),
        "attacker-signed package",
        "a package signed by an untrusted key was installed: the CPM does not enforce "
        "the payload signature (the host even supplies the verifying key)",
        evidence,
    )


@case(id="bp.advisory.manifest-unbound", clauses=("B-9b",), properties=("P5",))
def test_spliced_streams(bp: BlueprintHarness) -> None:
    """Ciphertext, nonce and tag of another package of the same application spliced under
    this package's manifest, digest and signature: the device must refuse, since what it
    would install is not what the signature covers."""
    cloud = bp.cloud
    _sync(bp)
    base = split_streams(cloud.package(bp.binding, label="base"))
    other = split_streams(cloud.package(bp.binding, label="spliced-in"))
    base[0], base[1], base[2] = other[0], other[1], other[2]
    _must_refuse(
        bp,
        assemble(base),
        cloud.ta_image(1, "spliced-in"),
        "spliced package",
        "streams spliced from another package were installed under this package's "
        "manifest and signature: the manifest and signature are not bound to the ciphertext",
        lambda got: f"deployment: {got.describe()}; installed: {bp.installed()}",
    )


@case(id="bp.advisory.single-key-slot", clauses=("B-9c",), properties=("P4",))
def test_application_id_ignored(bp: BlueprintHarness) -> None:
    """The class key of one application installed under another application's id must not
    decrypt the first application's package: keys are held per application."""
    cloud = bp.cloud
    _sync(bp, APP, install_as=OTHER_APP)
    _must_refuse(
        bp,
        cloud.package(bp.binding),
        cloud.ta_image(1),
        "package of an application with no key",
        "a key installed for another application id decrypted and installed this "
        "application's package: one global key slot, the application id is ignored",
        lambda got: f"key installed as {OTHER_APP!r}, package cp-id {APP!r}: {got.describe()}",
    )


@case(id="bp.advisory.device-key-reload", clauses=("B-9h",), properties=("P3", "P8"))
def test_device_key_survives_reload(bp: BlueprintHarness) -> None:
    """The device key must survive a TA reload (``reset`` keeping keys). A key that changes
    makes every wrapped key the device holds useless and has the REE report a new key to the
    twin, which nothing authenticates."""
    before = bp.public_key("before reload")
    bp.call("reset", {"keep_keys": True}, step="reset (keep_keys)")
    bp.provision()
    after = bp.public_key("after reload")
    spki = crypto.rsa_public_to_spki_der
    if spki(before) != spki(after):
        raise _weakness(
            bp,
            "the device key is not persisted: a TA reload exports a different key",
            f"before: {base64.b64encode(spki(before)).decode()[:48]}...; "
            f"after: {base64.b64encode(spki(after)).decode()[:48]}...",
        )


@case(id="bp.advisory.package-rollback", clauses=("B-9f",), properties=("P7",))
def test_older_package_refused(bp: BlueprintHarness) -> None:
    """After package 2.0.0, the vendor's older package 1.0.0 (same TA version, other image)
    must be refused, and so must another package 2.0.0: a rollback floor per application
    that a version must exceed, not only OP-TEE's TA version."""
    cloud = bp.cloud
    _sync(bp)
    bp.expect_installed(
        cloud.package(bp.binding, ver=(2, 0, 0), label="pkg-2"),
        cloud.ta_image(1, "pkg-2"),
        "install package 2.0.0",
    )
    _must_refuse(
        bp,
        cloud.package(bp.binding, ver=(1, 0, 0), label="pkg-1"),
        cloud.ta_image(1, "pkg-1"),
        "package 1.0.0",
        "an older package of the application was installed over a newer one: no rollback "
        "floor beyond OP-TEE's TA version (equal versions pass)",
        lambda got: f"package 1.0.0 after 2.0.0: {got.describe()}",
    )
    _must_refuse(
        bp,
        cloud.package(bp.binding, ver=(2, 0, 0), label="pkg-2-again"),
        cloud.ta_image(1, "pkg-2-again"),
        "another package 2.0.0",
        "a second package of the installed version replaced the image: the rollback "
        "floor admits an equal version",
        lambda got: f"package 2.0.0 (other image) after 2.0.0: {got.describe()}",
    )
