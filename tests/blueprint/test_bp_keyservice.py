"""The key service over a real loopback socket; DistributeKey over twins; device sync."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.blueprint import cpm as C
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.client import KeyServiceClient
from edbp.reference.blueprint.installer import device_public_key_spki, sync_keys
from edbp.reference.blueprint.keyservice import DEFAULT_INFRASTRUCTURE_SECRETS
from edbp.reference.blueprint.mutations import run_cpk
from edbp.reference.blueprint.twins import TwinConflict

from edbp.errors import BlueprintError, Code

APP = "cpk-demo-app"


def _spki(key: rsa.RSAPrivateKey) -> str:
    return base64.b64encode(crypto.rsa_public_to_spki_der(key.public_key())).decode()


def _unwrap(key: rsa.RSAPrivateKey, b64: str) -> bytes:
    r = crypto.pkcs1v15_decode(key, base64.b64decode(b64), 64)
    assert r.ret == 0
    return r.message


def test_provision_and_wrap_to_any_rsa_key(server, rsa_keys) -> None:
    client = KeyServiceClient(server.url, "fk-test")
    assert "provisioned" in client.provision_key(APP)
    anyone, attacker = rsa_keys["device"], rsa_keys["attacker"]
    k1 = _unwrap(anyone, client.wrap_key(APP, _spki(anyone)))
    k2 = _unwrap(attacker, client.wrap_key(APP, _spki(attacker)))  # no attestation: same key
    assert len(k1) == 32 and k1 == k2
    small = rsa.generate_private_key(65537, 1024)
    assert _unwrap(small, client.wrap_key(APP, _spki(small))) == k1  # any well-formed RSA key


def test_provision_overwrites_silently(server, rsa_keys) -> None:
    client = KeyServiceClient(server.url, "fk-test")
    client.provision_key(APP)
    before = _unwrap(rsa_keys["device"], client.wrap_key(APP, _spki(rsa_keys["device"])))
    client.provision_key(APP)
    after = _unwrap(rsa_keys["device"], client.wrap_key(APP, _spki(rsa_keys["device"])))
    assert before != after


def test_provision_overwrites_infrastructure_secret(server) -> None:
    svc = server.service
    name = DEFAULT_INFRASTRUCTURE_SECRETS[0]
    svc.secrets.set(name, b"HostName=hub;SharedAccessKey=secret")
    KeyServiceClient(server.url, "fk-test").provision_key(name)
    assert svc.secrets.use(name, bytes) != b"HostName=hub;SharedAccessKey=secret"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"key_name": APP, "client_public_key": "not base64!"}, Code.KEYSERVICE_BAD_REQUEST),
        (
            {"key_name": APP, "client_public_key": base64.b64encode(b"\x30\x00").decode()},
            Code.KEYSERVICE_BAD_REQUEST,
        ),
        ({"key_name": "abc", "client_public_key": "AA=="}, Code.KEYSERVICE_BAD_REQUEST),
        ({"client_public_key": "AA=="}, Code.KEYSERVICE_BAD_REQUEST),
    ],
)
def test_wrap_refusals(server, body, code) -> None:
    with pytest.raises(BlueprintError) as err:
        KeyServiceClient(server.url, "fk-test").request("POST", "/api/WrapKey", body)
    assert err.value.code is code


def test_wrap_unknown_key_and_function_key(server, rsa_keys) -> None:
    with pytest.raises(BlueprintError) as err:
        KeyServiceClient(server.url, "fk-test").wrap_key("no-such-app", _spki(rsa_keys["device"]))
    assert err.value.code is Code.KEYSERVICE_NOT_FOUND
    with pytest.raises(BlueprintError) as err:
        KeyServiceClient(server.url, "wrong").provision_key(APP)
    assert err.value.code is Code.KEYSERVICE_FORBIDDEN


def test_secret_file_never_holds_the_class_key(server, tmp_path, rsa_keys) -> None:
    client = KeyServiceClient(server.url, "fk-test")
    client.provision_key(APP)
    key = _unwrap(rsa_keys["device"], client.wrap_key(APP, _spki(rsa_keys["device"])))
    for f in tmp_path.iterdir():
        blob = f.read_bytes()
        assert key not in blob and base64.b64encode(key) not in blob


def test_distribute_key_over_twins(server, rsa_keys) -> None:
    svc = server.service
    client = KeyServiceClient(server.url, "fk-test")
    client.provision_key(APP)
    client.provision_key("second-app")
    svc.secrets.set(DEFAULT_INFRASTRUCTURE_SECRETS[1], b"storage secret")
    for dev in ("dev-a", "dev-b", "dev-bad", "dev-silent", "dev-revoked"):
        client.register_twin(dev)
    client.report("dev-a", {"device_public_key": _spki(rsa_keys["device"])})
    client.report("dev-b", {"device_public_key": _spki(rsa_keys["device2"])})
    client.report("dev-bad", {"device_public_key": "garbage"})
    client.report("dev-revoked", {"device_public_key": _spki(rsa_keys["attacker"])})
    client.request("POST", "/twins/dev-revoked/status", {"status": "disabled"})
    etag_before = client.get_twin("dev-a")["etag"]
    report = client.distribute()
    assert report["updated"] == ["dev-a", "dev-b", "dev-revoked"]  # disabled still served
    assert [s[0] for s in report["skipped"]] == ["dev-bad"]
    assert sorted(report["keys"]) == [APP, "second-app"]  # infrastructure secrets excluded
    twin = client.get_twin("dev-a")
    assert twin["etag"] != etag_before
    keys = twin["properties"]["desired"]["confidential_package_keys"]
    assert set(keys) == {APP, "second-app"}  # every key to every device
    revoked = client.get_twin("dev-revoked")["properties"]["desired"]["confidential_package_keys"]
    assert _unwrap(rsa_keys["attacker"], revoked[APP]) == _unwrap(rsa_keys["device"], keys[APP])
    assert "confidential_package_keys" not in client.get_twin("dev-silent")["properties"]["desired"]


def test_distribute_aborts_on_etag_conflict(keyservice, rsa_keys) -> None:
    keyservice.provision_key(APP)
    for dev in ("dev-a", "dev-b"):
        keyservice.twins.register(dev)
        keyservice.twins.update_reported(dev, {"device_public_key": _spki(rsa_keys["device"])})
    real = keyservice.twins.update_desired

    def racing(device_id, patch, etag=None):
        keyservice.twins.update_reported(device_id, {"other": 1})  # the device writes meanwhile
        return real(device_id, patch, etag)

    keyservice.twins.update_desired = racing
    report = keyservice.distribute_keys()
    assert report.conflict == "dev-a" and report.updated == ()
    with pytest.raises(TwinConflict):
        real("dev-b", {"x": 1}, '"stale"')


def test_device_syncs_desired_keys_into_cpm_and_installs(server, ctx, rsa_keys) -> None:
    svc = server.service
    svc.secrets.set(APP, ctx.class_key)  # the class key the context's packages use
    client = KeyServiceClient(server.url, "fk-test")
    for behaviour in C.BEHAVIOURS:
        dev = f"dev-{behaviour}"
        keys = iter([rsa_keys["device"], rsa_keys["device2"]])  # a reload makes a new device key
        cpm = C.Cpm(
            behaviour, trust_anchors=(ctx.signer.public_key(),), keygen=lambda k=keys: next(k)
        )
        client.register_twin(dev)
        client.report(dev, {"device_public_key": device_public_key_spki(cpm)})
        client.distribute()
        desired = client.get_twin(dev)["properties"]["desired"]["confidential_package_keys"]
        assert sync_keys(cpm, desired) == {APP: 0}
        assert run_cpk(ctx, behaviour, ctx.base(behaviour), cpm) == "installed"
        cpm.reload()  # device key lost: the twin's wrapped key no longer opens
        cpm.handle(C.Ping())
        assert sync_keys(cpm, desired) == {APP: -1}


def test_if_match_is_honoured_over_http(server) -> None:
    client = KeyServiceClient(server.url, "fk-test")
    twin = client.register_twin("dev-etag")
    client.report("dev-etag", {"device_public_key": "x"}, etag=twin["etag"])
    with pytest.raises(BlueprintError) as err:
        client.report("dev-etag", {"device_public_key": "y"}, etag=twin["etag"])  # stale ETag
    assert err.value.code is Code.KEYSERVICE_BAD_REQUEST
    assert client.get_twin("dev-etag")["properties"]["reported"]["device_public_key"] == "x"


def test_stale_desired_keys_replay_into_the_cpm(server, ctx) -> None:
    """P6: an old desired document still installs after the key was re-provisioned."""
    svc = server.service
    client = KeyServiceClient(server.url, "fk-test")
    svc.secrets.set(APP, ctx.class_key)
    cpm = ctx.cpm("as-published")
    client.register_twin("dev-replay")
    client.report("dev-replay", {"device_public_key": device_public_key_spki(cpm)})
    client.distribute()
    stale = client.get_twin("dev-replay")["properties"]["desired"]["confidential_package_keys"]
    client.provision_key(APP)  # "rotation": a new class key
    client.distribute()
    fresh = client.get_twin("dev-replay")["properties"]["desired"]["confidential_package_keys"]
    assert fresh[APP] != stale[APP]
    assert sync_keys(cpm, fresh) == {APP: 0}
    assert sync_keys(cpm, stale) == {APP: 0}  # nothing marks it stale
    assert (
        run_cpk(ctx, "as-published", ctx.base("as-published"), cpm) == "installed"
    )  # old-key package
