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


def test_fleet_tam_randomness_is_the_system_one_unless_seeded(vault: KeyVault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the benchmark's TAM draws from the OS CSPRNG as a TAM in service does; a seeded source
    # replays its sessions (the same tokens in two worlds built alike)
    from edbp.reference.cloud.fleet import TA_UUID, Fleet
    from edbp.reference.cloud.tam import Intent
    from edbp.reference.rand import DEFAULT_RANDOM, SeededRandom

    assert Fleet(1, vault, tmp_path / "a").tam._rng is DEFAULT_RANDOM
    tokens = []
    for name in ("b", "c"):
        fleet = Fleet(1, vault, tmp_path / name, tam_rng=SeededRandom("tam"))
        assert fleet.deploy_next().installed == 1
        ueid = fleet.brokers[0].agent.keys.ueid
        assert fleet.tam.begin(ueid, Intent(package=(TA_UUID, 1))).send is not None
        tokens.append(fleet.tam._by_device[ueid])
    assert tokens[0] == tokens[1]
