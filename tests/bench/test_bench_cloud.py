"""The cloud benchmarks' structure: the TAM row times the TAM's calls only, against the TAM's
own cryptography; the whole loop is its own row against both sides' cryptography. No timing is
asserted (only that the parts are what they say: the TAM's share of a loop is within it)."""

from __future__ import annotations

import os
from pathlib import Path

from edbp.bench import REGISTRY, discover


def test_rows_and_their_floors() -> None:
    discover()
    for size in ("50dev", "1000dev"):
        for backend in ("software", "pkcs11"):
            bench = REGISTRY[f"cloud.deploy[{size}-{backend}]"]
            assert bench.baseline == f"crypto.delivery_floor[{size}]"
        assert REGISTRY[f"cloud.deploy_loop[{size}-software]"].baseline == (
            f"crypto.fleet_floor[{size}]"
        )


def test_the_tam_row_reports_the_tam_seconds(tmp_path: Path) -> None:
    from edbp.reference.cloud.fleet import Fleet
    from edbp.reference.cloud.keyvault_software import SoftwareKeyVault

    from edbp.bench import cloud

    discover()
    fleet = Fleet(3, SoftwareKeyVault(tmp_path / "ck.sealed", os.urandom(32)), tmp_path)
    tam_row = REGISTRY["cloud.deploy[50dev-software]"].func
    out = tam_row(fleet, 3)
    assert isinstance(out, dict)
    # the runner takes "seconds" as the sample: the TAM's own time, part of the loop's
    assert out["seconds"] == out["tam_seconds"] <= out["loop_seconds"]
    assert 0 < out["tam_share"] <= 1
    loop_row = REGISTRY["cloud.deploy_loop[50dev-software]"].func
    out = loop_row(fleet, 3)
    assert isinstance(out, dict) and out["seconds"] == out["loop_seconds"]
    assert fleet.sequence == 2  # two real upgrades

    # the floors run their primitives (a tiny n), the fleet floor being the larger set
    state = cloud._floor_state(2)
    cloud._delivery_floor(state)
    cloud._fleet_floor(state)


def test_timed_deploys_follow_an_untimed_one_and_pair_with_their_floor() -> None:
    """The first session with a freshly enrolled device verifies its endorsement (an
    enrolment cost): the setup deploys once, so every timed call is a later deploy. A heavy
    row and its floor take the same sample count, so that every sample has a partner."""
    from edbp.bench import cloud

    discover()
    fleet = cloud._fleet(2, "software", "-test")
    assert fleet.sequence == 1
    for size in ("50dev", "1000dev"):
        floor = REGISTRY[f"crypto.delivery_floor[{size}]"]
        assert REGISTRY[f"cloud.deploy[{size}-software]"].samples == floor.samples
        loop_floor = REGISTRY[f"crypto.fleet_floor[{size}]"]
        assert REGISTRY[f"cloud.deploy_loop[{size}-software]"].samples == loop_floor.samples
    assert REGISTRY["cloud.deploy[1000dev-software]"].samples == 7
    # each floor's setup has run its primitives once: the first timed pass is a warm one
    runs: list[int] = []
    cloud._warmed(lambda state: runs.append(state.n), 2)
    assert runs == [2]
