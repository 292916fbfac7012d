"""The harness keeps the TA version and the SUIT sequence number apart in every honest package
(issue: a device checking one counter against the other's floor, or keeping one counter for
both, must fail ordinary upgrades, not only the case built to catch it)."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.conformance.harness import TA_UUID, Cloud, TaImage
from edbp.conformance.harness.cloud import default_ta_version
from edbp.reference.optee.verify import verify_ta


@pytest.fixture(scope="module")
def cloud() -> Any:
    c = Cloud(seed="ta-version-test")
    yield c
    c.close()


def test_default_ta_version_never_the_sequence(cloud: Cloud) -> None:
    key = serialization.load_der_public_key(cloud.ta_key_der())
    assert isinstance(key, rsa.RSAPublicKey)
    previous = -1
    for sequence in (0, 1, 2, 3, 7, 100, 2**20):
        image = cloud.image(TA_UUID, sequence, TaImage())
        got = verify_ta(image, key, expected_uuid=uuidlib.UUID(bytes=TA_UUID)).ta_version
        assert got == default_ta_version(sequence)
        assert got != sequence
        assert got > previous  # honest upgrades never lower the TA version
        previous = got


def test_explicit_ta_version_is_kept(cloud: Cloud) -> None:
    key = serialization.load_der_public_key(cloud.ta_key_der())
    assert isinstance(key, rsa.RSAPublicKey)
    image = cloud.image(TA_UUID, 5, TaImage(ta_version=5))
    assert verify_ta(image, key, expected_uuid=uuidlib.UUID(bytes=TA_UUID)).ta_version == 5
