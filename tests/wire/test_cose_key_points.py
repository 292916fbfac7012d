"""EC2 points are checked when a COSE_Key is decoded, not only when it is used (issue 16):
a TAM key off its curve must not be accepted by ``provision``."""

from __future__ import annotations

import attrs
import pytest
from edbp.conformance.adapter.server import Host
from edbp.conformance.reference_device import ReferenceDevice
from edbp.reference.wire import cbor
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_key import CoseKey

from edbp.errors import AdapterError, Code, WireError


def _off_curve() -> bytes:
    key = CoseKey.generate(Curve.P256).public()
    m = key.to_map()
    m[-3] = bytes(31) + b"\x01"  # y = 1: (x, 1) is not on P-256 for this x
    return bytes(cbor.dumps(m))


def test_off_curve_ec2_key_is_refused_at_decode() -> None:
    with pytest.raises(WireError) as exc:
        CoseKey.decode(_off_curve())
    assert exc.value.code is Code.COSE_BAD_KEY


def test_on_curve_and_compressed_keys_still_decode() -> None:
    key = CoseKey.generate(Curve.P256)
    assert CoseKey.decode(key.encode()) == key
    compressed = attrs.evolve(key.public(), y=bool(key.public_key().public_numbers().y & 1))  # type: ignore[union-attr]
    assert CoseKey.decode(compressed.encode()).public_key() == key.public_key()


class _NoHost(Host):
    def fetch(self, uri: str) -> bytes:
        raise AssertionError("no fetch in provision")


def test_provision_refuses_an_off_curve_tam_key() -> None:
    device = ReferenceDevice()
    with pytest.raises(AdapterError) as exc:
        device.handle("provision", {"tam_keys": [_off_curve()], "author_keys": []}, _NoHost())
    assert exc.value.code is Code.ADAPTER_MALFORMED_FRAME
    assert device.anchors.tam == ()
