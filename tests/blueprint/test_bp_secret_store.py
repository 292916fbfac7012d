"""The key service's secret store over both KeyVault backends (software; SoftHSM2 via PKCS#11)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from edbp.reference.blueprint.secret_store import (
    KeyVaultSecretStore,
    MemorySecretStore,
    SecretStore,
)
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
from edbp.reference.cloud.softhsm import process_token, softhsm_unavailable_reason
from edbp.reference.rand import SeededRandom

from edbp.errors import BlueprintError, Code

_ns = itertools.count()


@pytest.fixture(params=["software", pytest.param("pkcs11", marks=pytest.mark.softhsm)])
def vault(request: pytest.FixtureRequest, tmp_path, tmp_path_factory) -> Iterator[KeyVault]:
    if request.param == "software":
        kv: KeyVault = SoftwareKeyVault(
            tmp_path / "vault.sealed", b"M" * 32, rng=SeededRandom("kv")
        )
    else:
        reason = softhsm_unavailable_reason()
        if reason:
            pytest.skip(f"SoftHSM2 unavailable: {reason}")
        kv = process_token(tmp_path_factory.mktemp("softhsm")).open_vault(
            namespace=f"bp{next(_ns)}"
        )
    yield kv
    kv.close()


def _exercise(store: SecretStore) -> None:
    store.set("app-one", b"A" * 32)
    store.set("IoTHubConnectionString", b"HostName=x;SharedAccessKey=y")
    assert store.names() == ("IoTHubConnectionString", "app-one")
    assert store.use("app-one", bytes) == b"A" * 32
    store.set("app-one", b"B" * 32)  # silent overwrite
    assert store.use("app-one", bytes) == b"B" * 32
    seen: list[bytearray] = []
    store.use("app-one", seen.append)
    assert seen[0] == bytearray(32)  # wiped after use
    store.delete("app-one")
    with pytest.raises(BlueprintError) as err:
        store.use("app-one", bytes)
    assert err.value.code is Code.KEYSERVICE_NOT_FOUND


def test_memory_store() -> None:
    _exercise(MemorySecretStore())


def test_keyvault_store(vault: KeyVault, tmp_path) -> None:
    store = KeyVaultSecretStore(vault, tmp_path / "secrets.json", rng=SeededRandom("s"))
    _exercise(store)
    store.set("app-two", b"C" * 32)
    raw = (tmp_path / "secrets.json").read_bytes()
    assert b"C" * 32 not in raw and b"HostName" not in raw
    reopened = KeyVaultSecretStore(vault, tmp_path / "secrets.json")
    assert reopened.use("app-two", bytes) == b"C" * 32


def test_swapped_entries_do_not_unseal(vault: KeyVault, tmp_path) -> None:
    path = tmp_path / "secrets.json"
    store = KeyVaultSecretStore(vault, path)
    store.set("app-one", b"1" * 32)
    store.set("app-two", b"2" * 32)
    doc = json.loads(path.read_text())
    doc["app-one"], doc["app-two"] = doc["app-two"], doc["app-one"]
    path.write_text(json.dumps(doc))
    with pytest.raises(BlueprintError):
        KeyVaultSecretStore(vault, path).use("app-one", bytes)
