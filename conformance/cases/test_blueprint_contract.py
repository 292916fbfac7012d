"""Blueprint profile, contract conformance: the CPM's EDL calls, their outputs and every return
code the contract defines (spec/blueprint.md §7-8), on any device that declares ``blueprint``.

A device that passes these speaks the published CPM contract; it may still carry the
published weaknesses, which ``test_blueprint_advisories`` reports apart from failures.
"""

from __future__ import annotations

from typing import Any

import pytest
from edbp.conformance.harness_blueprint import (
    APP,
    BlueprintHarness,
    edit_manifest,
    flip_bit,
    replace_stream,
    shared_cloud,
)
from edbp.conformance.outcome import CaseFailure
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.cpm import CONTRACT_VERSION, SUPPORTED_OPERATIONS
from edbp.reference.blueprint.mutations import WRAPPED_KEY_MUTATIONS, split_streams
from edbp.reference.rand import SeededRandom


def case(id: str, **kw: Any) -> pytest.MarkDecorator:
    kw.setdefault("flow", "cpm")
    kw.setdefault("tags", ("blueprint", "contract"))
    return pytest.mark.edbp_case(id=id, profile="blueprint", **kw)


@pytest.fixture
def bp(edbp_device: Any, request: pytest.FixtureRequest) -> BlueprintHarness:
    """The host tool and the vendor's cloud around a freshly reset, provisioned device."""
    harness = BlueprintHarness(edbp_device, shared_cloud(), label=request.node.nodeid)
    harness.provision()
    return harness


@case(id="bp.ping-version", clauses=("B-7a",))
def test_ping_returns_contract_version(bp: BlueprintHarness) -> None:
    """``ecall_ping``: rc 0 and the contract version (0 << 16) | 1."""
    got = bp.expect_rc(bp.cpm("ping"), 0, "ping")
    if got.out.get("version") != CONTRACT_VERSION:
        raise CaseFailure("ping", f"version {CONTRACT_VERSION}", got.out.get("version"))


@case(id="bp.operations-supported", clauses=("B-7a",))
def test_operations_supported(bp: BlueprintHarness) -> None:
    """``ecall_is_operation_supported``: true for each of the contract's ten calls (by their
    EDL names), false for a name outside the contract."""
    for name in SUPPORTED_OPERATIONS:
        got = bp.expect_rc(bp.cpm("is_operation_supported", name, name=name), 0, name)
        if got.out.get("supported") is not True:
            raise CaseFailure(f"is_operation_supported({name})", True, got.out.get("supported"))
    unknown = "ecall_no_such_operation"
    got = bp.expect_rc(bp.cpm("is_operation_supported", unknown, name=unknown), 0, unknown)
    if got.out.get("supported") is not False:
        raise CaseFailure(f"is_operation_supported({unknown})", False, got.out.get("supported"))


@case(id="bp.export-key", clauses=("B-7a",), properties=("P8",))
def test_export_device_public_key(bp: BlueprintHarness) -> None:
    """Size, then export: a DER RSAPublicKey of at least 1024 bits (the EDL's floor; the
    published TA makes 2048), exactly ``size`` bytes; a buffer one byte short is refused with
    -2."""
    key = bp.public_key("export")
    if key.key_size < 1024:
        raise CaseFailure("export", "an RSA key of >= 1024 bits", key.key_size)
    der = crypto.rsa_public_to_pkcs1_der(key)
    size = bp.cpm("get_device_public_key_data_size").out.get("size")
    if size != len(der):
        raise CaseFailure("get_device_public_key_data_size", len(der), size)
    bp.expect_rc(
        bp.cpm("export_device_public_key", size=len(der) - 1), -2, "export (buffer too small)"
    )


@case(id="bp.install-key", clauses=("B-7a",), properties=("P1",))
def test_install_wrapped_class_key(bp: BlueprintHarness) -> None:
    """The published key path: the device key reported to the twin, DistributeKey wraps the
    class key to it (PKCS#1 v1.5), ``install_application_key`` returns 0."""
    bp.expect_rc(bp.sync(APP), 0, "sync: install_application_key")


@case(
    id="bp.deploy-valid",
    clauses=("B-9a", "B-9b"),
    properties=("P5",),
    tags=("blueprint", "contract", "deploy"),
)
def test_deploy_valid_package(bp: BlueprintHarness) -> None:
    """A valid CPK of the vendor: every call returns 0 and OP-TEE holds the TA afterwards."""
    cloud = bp.cloud
    bp.expect_rc(bp.sync(APP), 0, "sync")
    bp.expect_installed(cloud.package(bp.binding), cloud.ta_image(1), "install v1")


def _keyed(bp: BlueprintHarness) -> bytes:
    bp.expect_rc(bp.sync(APP), 0, "sync")
    return bp.cloud.package(bp.binding)


@case(id="bp.refuse.key-strength", clauses=("B-7a",), properties=("P10",))
def test_key_strength_refused(bp: BlueprintHarness) -> None:
    """``initialize_decryption_aes_gcm`` with key strength 128: -1, nothing installed."""
    cpk = edit_manifest(
        _keyed(bp), lambda d: d["payload"]["enc"]["aes-gcm"].__setitem__("key_strength", 128)
    )
    bp.expect_refused(cpk, "initialize_decryption_aes_gcm", -1, "key strength 128")


@case(id="bp.refuse.iv-size", clauses=("B-7a",), properties=("P10",))
def test_iv_size_refused(bp: BlueprintHarness) -> None:
    """An 11-byte IV: -2."""
    cpk = _keyed(bp)
    cpk = replace_stream(cpk, 1, split_streams(cpk)[1][:11])
    bp.expect_refused(cpk, "initialize_decryption_aes_gcm", -2, "IV of 11 bytes")


@case(id="bp.refuse.tag-size", clauses=("B-7a",), properties=("P10",))
def test_tag_size_refused(bp: BlueprintHarness) -> None:
    """A 15-byte tag: -3."""
    cpk = _keyed(bp)
    cpk = replace_stream(cpk, 2, split_streams(cpk)[2][:15])
    bp.expect_refused(cpk, "initialize_decryption_aes_gcm", -3, "tag of 15 bytes")


@case(id="bp.refuse.tag-mismatch", clauses=("B-7a",), properties=("P5", "P10"))
def test_tag_mismatch_refused(bp: BlueprintHarness) -> None:
    """One flipped bit of the ciphertext, or of the tag: ``end`` returns -2 and installs
    nothing; the untouched package still installs afterwards."""
    cpk = _keyed(bp)
    bp.expect_refused(flip_bit(cpk, 0, 100), "end_application_deployment", -2, "ciphertext bit")
    bp.expect_refused(flip_bit(cpk, 2), "end_application_deployment", -2, "tag bit")
    bp.expect_installed(cpk, bp.cloud.ta_image(1), "install v1 after the refusals")


@case(id="bp.refuse.key-size", clauses=("B-7a",), properties=("P10",))
def test_wrong_key_size_refused(bp: BlueprintHarness) -> None:
    """Conformant PKCS#1 v1.5 blocks carrying 16, 0, 33 and 48 bytes instead of the 32-byte
    class key: ``install_application_key`` returns -1 for each."""
    pub = bp.public_key()
    rng = SeededRandom("bp.refuse.key-size")
    fake = rng.fork("key").random_bytes(32)
    for name in ("key_16_bytes", "empty_message", "key_33_bytes", "key_48_bytes"):
        wrapped = WRAPPED_KEY_MUTATIONS[name].apply(pub, fake, rng.fork(name))
        got = bp.cpm("install_application_key", name, application_id=APP, wrapped=wrapped)
        bp.expect_rc(got, -1, f"install_application_key ({name})")


@case(
    id="bp.refuse.ta-rollback",
    clauses=("B-9f",),
    properties=("P7",),
    tags=("blueprint", "contract", "rollback"),
)
def test_ta_version_rollback_refused(bp: BlueprintHarness) -> None:
    """OP-TEE's secure-storage install refuses a TA version below the installed one: a newer
    package carrying TA version 1 after TA version 2 ends with -4; version 2 stays."""
    cloud = bp.cloud
    bp.expect_rc(bp.sync(APP), 0, "sync")
    bp.expect_installed(
        cloud.package(bp.binding, ver=(2, 0, 0), ta_version=2, label="v2"),
        cloud.ta_image(2, "v2"),
        "install TA v2",
    )
    older_ta = cloud.package(bp.binding, ver=(3, 0, 0), ta_version=1, label="v1-repackaged")
    bp.expect_refused(older_ta, "end_application_deployment", -4, "TA v1 after TA v2")
    if not bp.has_image(cloud.ta_image(2, "v2")):
        raise CaseFailure("TA v2 still installed", "TA v2", bp.installed())
