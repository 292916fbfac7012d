"""Fixtures for the build tests: every registry backend, and a KeyVault on each backend.

The distribution-API registry is Debian's ``docker-registry`` on 127.0.0.1 at a free port,
one server per test with its storage in the test's temporary directory; tests that need it
skip with the reason when the binary is absent. SoftHSM2 is configured once per process (see
``edbp.reference.cloud.softhsm``); each test gets an empty vault through its own namespace.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from edbp.reference.build.registry import Registry
from edbp.reference.build.registry_dir import DirectoryRegistry
from edbp.reference.build.registry_oci import OciDistributionRegistry, OciLayoutRegistry
from edbp.reference.build.registry_server import (
    LocalDockerRegistry,
    docker_registry_unavailable_reason,
)
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
from edbp.reference.cloud.softhsm import SoftHsmToken, process_token, softhsm_unavailable_reason
from edbp.reference.rand import SeededRandom

_namespaces = itertools.count()


@pytest.fixture
def docker_registry(tmp_path) -> Iterator[LocalDockerRegistry]:  # type: ignore[no-untyped-def]
    """A fresh server per test (it starts in well under a second), so tests share no state."""
    reason = docker_registry_unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = LocalDockerRegistry(tmp_path / "docker-registry").start()
    yield server
    server.stop()


@pytest.fixture(params=["dir", "oci-layout", "oci-distribution"])
def registry(request: pytest.FixtureRequest, tmp_path) -> Registry:  # type: ignore[no-untyped-def]
    if request.param == "dir":
        return DirectoryRegistry(tmp_path / "registry")
    if request.param == "oci-layout":
        return OciLayoutRegistry(tmp_path / "layout")
    server: LocalDockerRegistry = request.getfixturevalue("docker_registry")
    return OciDistributionRegistry(server.url)


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmToken:
    reason = softhsm_unavailable_reason()
    if reason:
        pytest.skip(f"SoftHSM2 unavailable: {reason}")
    return process_token(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture(params=["software", pytest.param("pkcs11", marks=pytest.mark.softhsm)])
def vault(request: pytest.FixtureRequest, tmp_path) -> Iterator[KeyVault]:  # type: ignore[no-untyped-def]
    kv: KeyVault
    if request.param == "software":
        kv = SoftwareKeyVault(
            tmp_path / "classkeys.sealed", b"M" * 32, rng=SeededRandom("kv-build")
        )
    else:
        token: SoftHsmToken = request.getfixturevalue("softhsm_token")
        kv = token.open_vault(namespace=f"b{next(_namespaces)}")
    yield kv
    kv.close()
