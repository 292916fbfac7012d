"""Fixtures for the cloud tests: a KeyVault on each backend (software, and SoftHSM2 via PKCS#11).

SoftHSM2 is configured once per test process (see ``edbp.reference.cloud.softhsm``): every
test gets a fresh, empty vault on the shared token through its own namespace.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
from edbp.reference.cloud.softhsm import SoftHsmToken, process_token, softhsm_unavailable_reason
from edbp.reference.rand import SeededRandom

# the tests import their helpers (``cloud_world``) by name; --import-mode=importlib does not
# put the test folder on sys.path
sys.path.insert(0, str(Path(__file__).parent))

_namespaces = itertools.count()


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmToken:
    reason = softhsm_unavailable_reason()
    if reason:
        pytest.skip(f"SoftHSM2 unavailable: {reason}")
    return process_token(tmp_path_factory.mktemp("softhsm"))


def make_vault(backend: str, request: pytest.FixtureRequest, tmp_path) -> KeyVault:  # type: ignore[no-untyped-def]
    if backend == "software":
        return SoftwareKeyVault(
            tmp_path / "classkeys.sealed", b"M" * 32, rng=SeededRandom("kv-test")
        )
    token: SoftHsmToken = request.getfixturevalue("softhsm_token")
    return token.open_vault(namespace=f"t{next(_namespaces)}")


@pytest.fixture(params=["software", pytest.param("pkcs11", marks=pytest.mark.softhsm)])
def vault(request: pytest.FixtureRequest, tmp_path) -> Iterator[KeyVault]:  # type: ignore[no-untyped-def]
    kv = make_vault(request.param, request, tmp_path)
    yield kv
    kv.close()
