"""Fixtures every case uses: the run's cloud (shared) and a harness around the reset device."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from edbp.conformance.harness import Cloud, Harness


@pytest.fixture(scope="session")
def edbp_cloud() -> Iterator[Cloud]:
    cloud = Cloud()
    yield cloud
    cloud.close()


@pytest.fixture
def bare(edbp_device: Any, edbp_cloud: Cloud, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The harness around a freshly reset device with no trust anchors yet. After the case,
    every frame the device sent in it is scanned for the case's secrets (CEKs, plaintexts;
    raw, hex, base64): a leak fails whichever case it happens in."""
    harness = Harness(edbp_device, edbp_cloud, label=request.node.nodeid)
    yield harness
    harness.scan_frames("after the case: every frame scanned for the case's secrets")


@pytest.fixture
def harness(bare: Harness) -> Harness:
    """The harness around a freshly reset device provisioned with the run's TSK and ASK."""
    bare.provision()
    return bare
