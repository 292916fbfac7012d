"""Group commit of the audit log: one durable commit per group, the hash chain intact, and a
crash (a real SIGKILL of a real process) loses a whole uncommitted group or nothing of it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from edbp.reference.cloud.device_registry import DeviceRegistry

from edbp.errors import Code, ProtocolError


def _child(db: Path, body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` with ``reg`` open on ``db`` in a fresh interpreter, which then kills
    itself with SIGKILL: no atexit, no finally, no close: only what SQLite made durable stays."""
    script = (
        textwrap.dedent(
            f"""
        import os, signal
        from edbp.reference.cloud.device_registry import DeviceRegistry
        reg = DeviceRegistry({str(db)!r})
        """
        )
        + textwrap.dedent(body)
        + "\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_committed_group_survives_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "tam.sqlite"
    out = _child(
        db,
        """
        reg.record("publish.push", None, b"before")
        with reg.group_commit():
            for i in range(50):
                reg.record("deploy.update", bytes([i]) * 16, b"x")
        """,
    )
    assert out.returncode == -signal.SIGKILL, out.stderr
    reg = DeviceRegistry(db)
    assert reg.verify() == 51
    assert [e.event for e in reg.entries()][-1] == "deploy.update"


def test_a_crash_inside_a_group_loses_exactly_that_group(tmp_path: Path) -> None:
    db = tmp_path / "tam.sqlite"
    out = _child(
        db,
        """
        with reg.group_commit():
            reg.record("publish.push", None, b"first group")
        with reg.group_commit():
            for i in range(20):
                reg.record("deploy.update", bytes([i]) * 16, b"x")
            os.kill(os.getpid(), signal.SIGKILL)  # before the group's commit
        """,
    )
    assert out.returncode == -signal.SIGKILL, out.stderr
    reg = DeviceRegistry(db)
    assert reg.verify() == 1  # the chain is the one of the last commit, intact
    assert [e.event for e in reg.entries()] == ["publish.push"]
    reg.record("deploy.record", b"\x01" * 16, b"after")  # and it continues from there
    assert reg.verify() == 2


def test_one_commit_per_group(tmp_path: Path) -> None:
    reg = DeviceRegistry(tmp_path / "tam.sqlite")
    commits: list[str] = []
    reg._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    with reg.group_commit():
        for i in range(10):
            reg.record("deploy.update", bytes([i]) * 16, None)
        with reg.group_commit():  # a nested group joins the outer one
            reg.record("deploy.record", b"\x00" * 16, None)
    assert commits == ["COMMIT"]
    for i in range(3):
        reg.record("deploy.update", bytes([i]) * 16, None)
    assert commits == ["COMMIT"] * 4  # outside a group: one commit per entry, as before
    assert reg.verify() == 14


def test_a_group_commits_when_an_exception_leaves_it(tmp_path: Path) -> None:
    # a refusal raised inside the group was recorded; that entry must not be rolled back
    reg = DeviceRegistry(tmp_path / "tam.sqlite")
    with pytest.raises(ProtocolError):
        with reg.group_commit():
            reg.record("deploy.verify_evidence", b"\x02" * 16, None, int(Code.EAT_STALE))
            raise ProtocolError(Code.EAT_STALE, "refused")
    reopened = DeviceRegistry(tmp_path / "tam.sqlite")
    assert [e.error for e in reopened.entries()] == [int(Code.EAT_STALE)]


def test_a_failed_write_inside_a_group_is_undone_alone(tmp_path: Path) -> None:
    from test_device_registry import endorsed

    reg = DeviceRegistry(tmp_path / "tam.sqlite")
    e, data = endorsed("dev-group")
    with reg.group_commit():
        reg.register(e, data)
        with pytest.raises(ProtocolError) as info:
            reg.register(e, data)  # the duplicate's row and entry roll back to its savepoint
        assert info.value.code is Code.TAM_DEVICE_EXISTS
        reg.record("deploy.update", e.ueid, None)
    assert [x.event for x in reg.entries()] == ["enrol.register", "deploy.update"]
    assert reg.verify() == 2


def test_group_commit_keeps_the_fleet_result(tmp_path: Path) -> None:
    # the fleet deploys in lockstep groups: same outcome for a group of 1 and a group of all
    from edbp.reference.cloud.fleet import Fleet
    from edbp.reference.cloud.keyvault_software import SoftwareKeyVault

    for group in (1, 5):
        root = tmp_path / f"g{group}"
        vault = SoftwareKeyVault(root / "ck.sealed", os.urandom(32))
        fleet = Fleet(5, vault, root, payload_bytes=1000, group=group)
        assert fleet.deploy_next().installed == 5
        assert fleet.tam.registry.verify() == 5 + 1 + 3 * 5  # enrol, publish, 3 per device


def test_a_remembered_endorsement_does_not_hide_a_swapped_row(tmp_path: Path) -> None:
    # the TAM remembers verified endorsements by their bytes: a row rewritten behind its back
    # (here: the same body signed by a rogue manufacturer key) is verified afresh and refused
    import sqlite3

    from cloud_world import TA_UUID, World, ta_image
    from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
    from edbp.reference.cloud.tam import Intent
    from edbp.reference.rand import SeededRandom
    from edbp.reference.wire.cose_algs import Curve
    from edbp.reference.wire.cose_key import CoseKey

    from edbp.errors import EdbpError

    world = World(tmp_path, SoftwareKeyVault(tmp_path / "ck.sealed", bytes(32)))
    dev = world.device()
    world.publish(ta_image(1), 1)
    assert world.deploy(dev, 1)[-1].detail == "installed"  # the endorsement is now remembered
    rogue = world.endorsement(dev, mrk=CoseKey.generate(Curve.P256, SeededRandom("rogue")))
    db = sqlite3.connect(world.devices_db_path)
    db.execute("UPDATE devices SET endorsement = ? WHERE ueid = ?", (rogue, dev.ueid))
    db.commit()
    db.close()
    world.publish(ta_image(2), 2)
    out = world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 2)))
    (reply,) = dev.broker.deliver(out.send)
    with pytest.raises(EdbpError) as info:
        world.tam.receive(reply)
    assert info.value.code is Code.EAT_ENDORSEMENT_INVALID


def test_a_unit_rolled_back_after_its_append_leaves_the_chain_whole(tmp_path: Path) -> None:
    # the group keeps the chain's head in memory; a unit that appended and then failed must
    # take its entry *and* that head with it, or the next entry would link to a lost one
    reg = DeviceRegistry(tmp_path / "tam.sqlite")
    with reg.group_commit():
        reg.record("publish.push", None, b"kept")
        with pytest.raises(RuntimeError), reg._transaction():
            reg._append("deploy.update", b"\x03" * 16, b"lost", None)
            raise RuntimeError("the unit fails after its append")
        reg.record("deploy.record", b"\x03" * 16, b"after")
    assert [e.body for e in reg.entries()] == [b"kept", b"after"]
    assert reg.verify() == 2


def test_another_writer_between_groups_is_linked_to(tmp_path: Path) -> None:
    # a head kept in memory lives only while the group holds the write lock: entries another
    # connection appends between two groups are read, not overwritten or skipped
    reg = DeviceRegistry(tmp_path / "tam.sqlite")
    other = DeviceRegistry(tmp_path / "tam.sqlite")
    for i in range(3):
        with reg.group_commit():
            reg.record("deploy.update", bytes([i]) * 16, b"mine")
            reg.record("deploy.record", bytes([i]) * 16, b"mine")
        other.record("publish.push", None, b"theirs")
    assert [e.body for e in reg.entries()] == [b"mine", b"mine", b"theirs"] * 3
    assert reg.verify() == 9


class _Counting:
    """The registry's connection, counting the audit INSERT calls (execute or executemany)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.calls: list[str] = []

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql.startswith("INSERT INTO audit"):
            self.calls.append("execute")
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, rows: list[tuple[int, bytes, bytes]]) -> sqlite3.Cursor:
        if sql.startswith("INSERT INTO audit"):
            self.calls.append(f"executemany x{len(rows)}")
        return self._db.executemany(sql, rows)

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


def test_a_group_inserts_its_entries_in_one_statement(tmp_path: Path) -> None:
    # the group's bare records are queued and inserted together before its COMMIT; the
    # entries are the very bytes one-by-one appends write (same clock, same chain)
    grouped = DeviceRegistry(tmp_path / "grouped.sqlite", clock=lambda: 1_800_000_000)
    single = DeviceRegistry(tmp_path / "single.sqlite", clock=lambda: 1_800_000_000)
    counting = _Counting(grouped._db)
    grouped._db = counting  # type: ignore[assignment]
    with grouped.group_commit():
        for i in range(10):
            grouped.record("deploy.update", bytes([i]) * 16, b"x")
    for i in range(10):
        single.record("deploy.update", bytes([i]) * 16, b"x")
    assert counting.calls == ["executemany x10"]
    assert [e.encode() for e in grouped.entries()] == [e.encode() for e in single.entries()]
    assert grouped.head() == single.head()
    # durable: another connection sees all ten, the chain whole
    assert DeviceRegistry(tmp_path / "grouped.sqlite").verify() == 10


def test_queued_entries_survive_a_unit_rolled_back_after_them(tmp_path: Path) -> None:
    from test_device_registry import endorsed

    reg = DeviceRegistry(tmp_path / "tam.sqlite")
    e, data = endorsed("dev-queued")
    with reg.group_commit():
        reg.record("publish.push", None, b"queued")
        reg.register(e, data)
        reg.record("deploy.update", e.ueid, b"queued too")
        with pytest.raises(ProtocolError):
            reg.register(e, data)  # rolls back to its savepoint: the queued entries stay
        reg.record("deploy.record", e.ueid, b"after")
        assert reg.verify() == 4  # a read inside the group sees the queued entries
    events = [x.event for x in DeviceRegistry(tmp_path / "tam.sqlite").entries()]
    assert events == ["publish.push", "enrol.register", "deploy.update", "deploy.record"]
