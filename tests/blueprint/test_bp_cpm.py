"""The CPM contract, both behaviours: return codes, the published weaknesses, the fixes."""

from __future__ import annotations

import io
import uuid

import pytest
from edbp.reference.blueprint import cpm as C
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.installer import device_public_key_spki, install_package
from edbp.reference.blueprint.mutations import APP, run_cpk
from edbp.reference.blueprint.package import CpkReader
from edbp.reference.blueprint.ta_store import (
    SecureStorageTaStore,
    SignedTestTaVerifier,
    make_signed_test_ta,
)


def _keyed(ctx, behaviour: str, **kw) -> C.Cpm:
    cpm = C.Cpm(
        behaviour, trust_anchors=(ctx.signer.public_key(),), keygen=lambda: ctx.device_key, **kw
    )
    assert cpm.handle(C.Ping()).version == C.CONTRACT_VERSION == 1
    w = crypto.pkcs1v15_encrypt(cpm.device_public_key, ctx.class_key)
    assert cpm.handle(C.InstallApplicationKey(APP, w)).rc == 0
    return cpm


def test_ping_initialises_and_export_codes(ctx) -> None:
    cpm = C.Cpm(keygen=lambda: ctx.device_key)
    assert cpm.handle(C.ExportDevicePublicKey(1000)).rc == -1  # not initialised
    assert cpm.handle(C.GetDevicePublicKeyDataSize()).size == 0
    cpm.handle(C.Ping())
    size = cpm.handle(C.GetDevicePublicKeyDataSize()).size
    assert cpm.handle(C.ExportDevicePublicKey(size - 1)).rc == -2
    der = cpm.handle(C.ExportDevicePublicKey(size)).data
    assert (
        crypto.rsa_public_from_der(der).public_numbers()
        == ctx.device_key.public_key().public_numbers()
    )
    assert cpm.handle(C.IsOperationSupported("ecall_ping")).is_supported
    assert not cpm.handle(C.IsOperationSupported("ecall_attest")).is_supported
    assert device_public_key_spki(cpm)  # SPKI for the twin


def test_device_key_regenerated_on_reload() -> None:
    cpm = C.Cpm()
    cpm.handle(C.Ping())
    first = cpm.device_public_key.public_numbers()
    cpm.reload()
    assert cpm.handle(C.ExportDevicePublicKey(4096)).rc == -1
    cpm.handle(C.Ping())
    assert cpm.device_public_key.public_numbers() != first


@pytest.mark.parametrize("behaviour", C.BEHAVIOURS)
def test_initialize_return_codes(ctx, behaviour: str) -> None:
    for call, rc in [
        (C.InitializeDecryptionAesGcm(APP, 128, bytes(12), bytes(16)), -1),
        (C.InitializeDecryptionAesGcm(APP, 256, bytes(11), bytes(16)), -2),
        (C.InitializeDecryptionAesGcm(APP, 256, bytes(12), bytes(15)), -3),
    ]:
        cpm = _keyed(ctx, behaviour)
        cpm.handle(C.BeginApplicationDeployment(APP, 10, (1, 0, 0)))
        assert cpm.handle(call).rc == rc


def test_buffer_is_12_mib(ctx) -> None:
    cpm = _keyed(ctx, "as-published")
    cpm.handle(C.BeginApplicationDeployment(APP, 0))
    cpm.handle(C.InitializeDecryptionAesGcm(APP, 256, bytes(12), bytes(16)))
    assert cpm.handle(C.AddApplicationData(APP, bytes(C.MAX_TA_SIZE))).rc == 0
    assert cpm.handle(C.AddApplicationData(APP, b"x")).rc == -1
    assert cpm.log_lines[-1] == "data_size to large (1)"


def test_add_data_before_initialize_fails_as_published(ctx) -> None:
    cpm = _keyed(ctx, "as-published")
    assert cpm.handle(C.AddApplicationData(APP, b"x")).rc == -1
    assert cpm.handle(C.EndApplicationDeployment(APP)).rc == -1


def test_published_verify_reads_a_stale_tag_and_never_the_signature(ctx) -> None:
    cpm = _keyed(ctx, "as-published")
    r = CpkReader(io.BytesIO(ctx.build("as-published")))
    first = install_package(cpm, r)
    assert first.digest_check is False and first.signature_check is False  # tag of no previous end
    again = install_package(cpm, CpkReader(io.BytesIO(ctx.build("as-published"))))
    assert again.digest_check is True  # the previous end's tag happens to equal this tag
    assert again.signature_check is False


def test_as_published_installs_attacker_signed_package_fixed_refuses(ctx) -> None:
    evil = {
        b: ctx.build(
            "fixed" if b == "fixed" else "as-published",
            payload=b"evil",
            signer="attacker",
            label="x",
        )
        for b in C.BEHAVIOURS
    }
    published = _keyed(ctx, "as-published")
    assert run_cpk(ctx, "as-published", evil["as-published"], published) == "installed"
    assert published.ta_store.installed  # it really is in secure storage
    fixed = _keyed(ctx, "fixed")
    assert run_cpk(ctx, "fixed", evil["fixed"], fixed) == "cpm:EndApplicationDeployment:-7"
    assert not fixed.ta_store.installed


def test_single_global_key_slot(ctx) -> None:
    cpm = _keyed(ctx, "as-published")
    other = crypto.pkcs1v15_encrypt(cpm.device_public_key, bytes(32))
    assert (
        cpm.handle(C.InstallApplicationKey("some-other-app", other)).rc == 0
    )  # overwrites the slot
    assert (
        run_cpk(ctx, "as-published", ctx.build("as-published"), cpm)
        == "cpm:EndApplicationDeployment:-2"
    )
    fixed = _keyed(ctx, "fixed")
    other = crypto.pkcs1v15_encrypt(fixed.device_public_key, bytes(32))
    assert fixed.handle(C.InstallApplicationKey("some-other-app", other)).rc == 0
    assert run_cpk(ctx, "fixed", ctx.build("fixed"), fixed) == "installed"


def test_published_short_key_overwrites_slot_prefix_even_when_refused(ctx) -> None:
    cpm = _keyed(ctx, "as-published")
    short = crypto.pkcs1v15_encrypt(cpm.device_public_key, bytes(16))
    assert cpm.handle(C.InstallApplicationKey(APP, short)).rc == -1
    # the slot now holds 16 zero bytes + the old key's tail: the package no longer decrypts
    assert (
        run_cpk(ctx, "as-published", ctx.build("as-published"), cpm)
        == "cpm:EndApplicationDeployment:-2"
    )


def test_fixed_refuses_out_of_order_calls_and_aborts(ctx) -> None:
    cpm = _keyed(ctx, "fixed")
    assert cpm.handle(C.AddApplicationData(APP, b"x")).rc == C.RC_BAD_STATE
    assert cpm.handle(C.EndApplicationDeployment(APP)).rc == C.RC_BAD_STATE
    assert cpm.handle(C.BeginApplicationDeployment(APP, 10, (1, 0, 0))).rc == 0
    assert cpm.handle(C.EndApplicationDeployment(APP)).rc == C.RC_BAD_STATE
    assert cpm.state is C.DeployState.IDLE
    assert cpm.handle(C.BeginApplicationDeployment("unknown-app", 10, (1, 0, 0))).rc == C.RC_NO_KEY
    assert cpm.handle(C.BeginApplicationDeployment(APP, 10, None)).rc == -1
    published = _keyed(ctx, "as-published")
    assert published.handle(C.EndApplicationDeployment(APP)).rc == -1  # no state check, fails later


def test_transition_tables() -> None:
    fixed = C.TRANSITIONS["fixed"]
    assert fixed[(C.DeployState.VERIFIED, C.EndApplicationDeployment)] is C.DeployState.IDLE
    assert (C.DeployState.DECRYPTING, C.EndApplicationDeployment) not in fixed
    published = C.TRANSITIONS["as-published"]
    assert len(published) == len(C.DeployState) * 10  # every call in every state


def test_fixed_rollback_floor(ctx) -> None:
    cpm = _keyed(ctx, "fixed")
    assert run_cpk(ctx, "fixed", ctx.build("fixed", ver=(2, 0, 0)), cpm) == "installed"
    assert (
        run_cpk(ctx, "fixed", ctx.build("fixed", ver=(1, 0, 0)), cpm)
        == "cpm:BeginApplicationDeployment:-8"
    )
    assert (
        run_cpk(ctx, "fixed", ctx.build("fixed", ver=(2, 0, 0)), cpm)
        == "cpm:BeginApplicationDeployment:-8"
    )
    published = _keyed(ctx, "as-published")
    assert (
        run_cpk(ctx, "as-published", ctx.build("as-published", ver=(2, 0, 0)), published)
        == "installed"
    )
    assert (
        run_cpk(ctx, "as-published", ctx.build("as-published", ver=(1, 0, 0)), published)
        == "installed"
    )


def test_optee_ta_version_floor_and_signature(ctx) -> None:
    tak = ctx.attacker  # any RSA key serves as the TA signing key here
    store = SecureStorageTaStore(SignedTestTaVerifier(tak.public_key()))
    cpm = _keyed(ctx, "as-published", ta_store=store)
    u = uuid.UUID(C.CPM_TA_UUID).bytes
    v2 = make_signed_test_ta(tak, u, 2, b"body")
    v1 = make_signed_test_ta(tak, u, 1, b"body")
    unsigned = make_signed_test_ta(ctx.signer, u, 3, b"body")
    assert (
        run_cpk(ctx, "as-published", ctx.build("as-published", payload=v2, label="v2"), cpm)
        == "installed"
    )
    assert (
        run_cpk(ctx, "as-published", ctx.build("as-published", payload=v1, label="v1"), cpm)
        == "cpm:EndApplicationDeployment:-4"
    )
    assert (
        run_cpk(ctx, "as-published", ctx.build("as-published", payload=unsigned, label="u"), cpm)
        == "cpm:EndApplicationDeployment:-4"
    )
    assert store.installed[u][0] == 2


def test_log_sink_receives_ree_lines(ctx) -> None:
    seen: list[str] = []
    cpm = C.Cpm(log=seen.append, keygen=lambda: ctx.device_key)
    cpm.handle(C.Ping())
    cpm.handle(C.InstallApplicationKey(APP, b"\x00" * 256))
    assert seen == cpm.log_lines and "Application key unwrap error (ffffbf00)" in seen
    assert all(len(line) < 128 for line in seen)


def test_install_key_before_ping_logs_pk_bad_input(ctx) -> None:
    cpm = C.Cpm(keygen=lambda: ctx.device_key)
    assert cpm.handle(C.InstallApplicationKey(APP, b"\x01" * 256)).rc == -1
    assert cpm.log_lines == [
        "ecall_install_application_key(256)",
        "Application key unwrap error (ffffc180)",
        "Application key size mismatch (0)",
    ]


def test_fixed_declared_size_is_enforced(ctx) -> None:
    cpm = _keyed(ctx, "fixed")
    assert cpm.handle(C.BeginApplicationDeployment(APP, 4, (1, 0, 0))).rc == 0
    assert cpm.handle(C.InitializeDecryptionAesGcm(APP, 256, bytes(12), bytes(16))).rc == 0
    assert cpm.handle(C.AddApplicationData(APP, b"12345")).rc == C.RC_SIZE
    assert cpm.state is C.DeployState.IDLE  # aborted


def test_no_secret_in_reprs(ctx) -> None:
    cpm = _keyed(ctx, "as-published")
    text = repr(cpm) + repr(C.AddApplicationData(APP, ctx.class_key)) + repr(ctx)
    assert ctx.class_key.hex() not in text and repr(ctx.class_key) not in text


def test_adapter_calls_are_checked(ctx) -> None:
    from edbp.errors import BlueprintError, Code

    cpm = C.Cpm(keygen=lambda: ctx.device_key)
    assert cpm.handle(C.call_from_args("ping", {})).version == 1
    assert cpm.handle(C.call_from_args("export_device_public_key", {})).data
    call = C.call_from_args(
        "begin_application_deployment",
        {"application_id": APP, "total_size": 3, "version": [1, 2, 3]},
    )
    assert call.version == (1, 2, 3)
    for name, args in [
        ("nope", {}),
        ("install_application_key", {"application_id": APP}),
        ("install_application_key", {"application_id": APP, "wrapped": "text"}),
        (
            "initialize_decryption_aes_gcm",
            {"application_id": APP, "key_strength": True, "iv": b"", "tag": b""},
        ),
        ("begin_application_deployment", {"application_id": APP, "total_size": -1}),
        (
            "begin_application_deployment",
            {"application_id": APP, "total_size": 1, "version": [1, 2]},
        ),
    ]:
        with pytest.raises(BlueprintError) as err:
            C.call_from_args(name, args)
        assert err.value.code is Code.CPM_ERROR
    assert set(C.CALLS) == {op.removeprefix("ecall_") for op in C.SUPPORTED_OPERATIONS}
