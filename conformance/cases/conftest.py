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
def bare(edbp_device: Any, edbp_cloud: Cloud, request: pytest.FixtureRequest) -> Harness:
    """The harness around a freshly reset device with no trust anchors yet."""
    return Harness(edbp_device, edbp_cloud, label=request.node.nodeid)


@pytest.fixture
def harness(bare: Harness) -> Harness:
    """The harness around a freshly reset device provisioned with the run's TSK and ASK."""
    bare.provision()
    return bare
