"""Shared keys (RSA generation is the slow part) and a key service on a loopback socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.blueprint.keyservice import KeyService
from edbp.reference.blueprint.keyservice_http import LoopbackKeyService
from edbp.reference.blueprint.mutations import MutationContext, make_context
from edbp.reference.blueprint.secret_store import KeyVaultSecretStore
from edbp.reference.blueprint.twins import TwinStore
from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
from edbp.reference.rand import SeededRandom


@pytest.fixture(scope="session")
def rsa_keys() -> dict[str, rsa.RSAPrivateKey]:
    return {
        n: rsa.generate_private_key(65537, 2048)
        for n in ("signer", "attacker", "device", "device2")
    }


@pytest.fixture(scope="session")
def ctx(rsa_keys: dict[str, rsa.RSAPrivateKey]) -> MutationContext:
    return make_context(
        7, signer=rsa_keys["signer"], attacker=rsa_keys["attacker"], device_key=rsa_keys["device"]
    )


@pytest.fixture
def keyservice(tmp_path) -> Iterator[KeyService]:
    vault = SoftwareKeyVault(tmp_path / "vault.sealed", b"m" * 32, rng=SeededRandom("vault"))
    store = KeyVaultSecretStore(vault, tmp_path / "secrets.json", rng=SeededRandom("store"))
    yield KeyService(store, TwinStore(), rng=SeededRandom("keyservice"))
    vault.close()


@pytest.fixture
def server(keyservice: KeyService) -> Iterator[LoopbackKeyService]:
    srv = LoopbackKeyService(keyservice, port=0, function_key="fk-test").start()
    try:
        yield srv
    finally:
        srv.stop()
