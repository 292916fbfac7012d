"""The fleet deployment the benchmark times: every simulated device ends up with the package."""

from __future__ import annotations

from edbp.reference.cloud.fleet import deploy_fleet
from edbp.reference.cloud.keyvault import KeyVault


def test_fleet_deploys_to_every_device(vault: KeyVault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = deploy_fleet(4, vault, tmp_path, payload_bytes=3000)
    assert result.devices == 4 and result.installed == 4
    assert result.backend == vault.backend
    assert result.seconds_tam <= result.seconds_total
    assert result.devices_per_s > 0 and result.tam_devices_per_s >= result.devices_per_s


def test_fleet_upgrades_on_every_call(vault: KeyVault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from edbp.reference.cloud.fleet import Fleet

    fleet = Fleet(3, vault, tmp_path, payload_bytes=1000)
    assert [fleet.deploy_next().installed for _ in range(2)] == [3, 3]
    assert fleet.sequence == 2
