"""The reference device's ``ta_keys`` provision member: OP-TEE's TA-image checks are on exactly
when TA Signing Keys are provisioned, and a key that is not DER SPKI RSA is a malformed request."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from edbp.conformance.harness import Cloud
from edbp.conformance.reference_device import ReferenceDevice
from edbp.reference.rand import SeededRandom

from edbp.errors import AdapterError, Code


@pytest.fixture(scope="module")
def cloud() -> Any:
    c = Cloud(seed="ta-keys-test")
    yield c
    c.close()


def _args(cloud: Cloud, **extra: Any) -> dict[str, Any]:
    return {
        "tam_keys": [cloud.tsk.public().encode()],
        "author_keys": [cloud.ask.public().encode()],
        **extra,
    }


def test_ta_keys_turn_on_optee_checks(cloud: Cloud) -> None:
    dev = ReferenceDevice(SeededRandom("ta-keys-device"))
    assert "ta-check" in dev.req_hello({}, None)["capabilities"]  # type: ignore[arg-type]
    dev.req_provision(_args(cloud), None)  # type: ignore[arg-type]
    assert dev.agent.image_check is None and dev.anchors.ta_signers == ()
    dev.req_provision(_args(cloud, ta_keys=[cloud.ta_key_der()]), None)  # type: ignore[arg-type]
    assert dev.agent.image_check is not None
    (signer,) = dev.anchors.ta_signers
    assert (
        signer.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == cloud.ta_key_der()
    )
    dev.req_reset({}, None)  # type: ignore[arg-type]
    assert dev.agent.image_check is None  # a reset erases the TA trust anchors too


@pytest.mark.parametrize("kind", ["garbage", "ec", "not-bytes"])
def test_bad_ta_key_is_malformed(cloud: Cloud, kind: str) -> None:
    dev = ReferenceDevice(SeededRandom("ta-keys-device"))
    bad: Any
    if kind == "garbage":
        bad = [b"\x30\x03\x02\x01\x00"]
    elif kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        bad = [
            key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ]
    else:
        bad = ["not bytes"]
    with pytest.raises(AdapterError) as err:
        dev.req_provision(_args(cloud, ta_keys=bad), None)  # type: ignore[arg-type]
    assert err.value.code == Code.ADAPTER_MALFORMED_FRAME
    assert dev.agent.image_check is None and dev.anchors.ta_signers == ()
