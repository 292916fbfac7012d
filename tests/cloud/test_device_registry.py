"""Device registry: enrolment from a verified endorsement, revocation, tamper-evident audit log."""

from __future__ import annotations

import itertools
import sqlite3

import attrs
import pytest
from edbp.reference.cloud.device_registry import DeviceRegistry, DeviceStatus
from edbp.reference.cloud.endorsement import Endorsement, sign_endorsement, verify_endorsement
from edbp.reference.device.keys import DeviceKeys, KeySuite
from edbp.reference.rand import SeededRandom
from edbp.reference.wire.cbor import dumps, loads
from edbp.reference.wire.cose_algs import Alg, Curve
from edbp.reference.wire.cose_key import CoseKey

from edbp.errors import Code, EdbpError, VerificationError

CLASS_A = bytes(range(16))
VENDOR = bytes(range(16, 32))
MRK = CoseKey.generate(Curve.P256, SeededRandom("mrk"))


def endorsed(
    seed: str, suite: KeySuite = KeySuite.P256, class_id: bytes = CLASS_A
) -> tuple[Endorsement, bytes]:
    keys = DeviceKeys.generate(suite, SeededRandom(seed))
    e = Endorsement(keys.ueid, class_id, VENDOR, keys.dak_public, keys.dsk_public, 1_700_000_000)
    return e, sign_endorsement(e, MRK)


@pytest.fixture
def registry(tmp_path) -> DeviceRegistry:  # type: ignore[no-untyped-def]
    ticks = iter(range(1000, 10**6))
    return DeviceRegistry(tmp_path / "tam.sqlite", clock=lambda: next(ticks))


def test_endorsement_round_trip_and_refusals() -> None:
    for suite in KeySuite:
        if suite.is_pq:  # a PQ endorsement needs an ML-DSA MRK: tests/cloud/test_pq_roles.py
            continue
        e, data = endorsed(f"dev-{suite.value}", suite)
        got = verify_endorsement(data, MRK.public())
        assert got.ueid == e.ueid and got.dak.thumbprint() == e.dak.thumbprint()
    e, data = endorsed("dev")
    other_mrk = CoseKey.generate(Curve.P256, SeededRandom("other"))
    bad_inputs = [
        b"",
        b"\xa0",
        sign_endorsement(e, other_mrk),  # wrong manufacturer
        data[:-1] + bytes([data[-1] ^ 1]),  # signature flipped
        sign_endorsement(attrs.evolve(e, class_id=b"short"), MRK),
        sign_endorsement(attrs.evolve(e, ueid=b"\x02" + e.ueid[1:]), MRK),
    ]
    from edbp.reference.wire.cose_sign import sign1

    body = e.to_cbor()
    body[4] = CoseKey.generate(Curve.ED25519, SeededRandom("x")).public().to_map()  # Ed25519 DAK
    bad_inputs.append(sign1(dumps(body), MRK, Alg.ESP256).encode())
    body = e.to_cbor()
    body[7] = 1  # extra key
    bad_inputs.append(sign1(dumps(body), MRK, Alg.ESP256).encode())
    for bad in bad_inputs:
        with pytest.raises(VerificationError) as exc:
            verify_endorsement(bad, MRK.public())
        assert exc.value.code == Code.EAT_ENDORSEMENT_INVALID


def test_register_get_revoke(registry: DeviceRegistry) -> None:
    e, data = endorsed("a")
    rec = registry.register(e, data)
    assert rec.active and registry.get(e.ueid) == rec
    assert registry.get(e.ueid).dak.thumbprint() == e.dak.thumbprint()
    with pytest.raises(EdbpError) as exc:
        registry.register(e, data)
    assert exc.value.code == Code.TAM_DEVICE_EXISTS
    with pytest.raises(EdbpError) as exc:
        registry.get(b"\x01" + bytes(16))
    assert exc.value.code == Code.TAM_UNKNOWN_DEVICE
    revoked = registry.revoke(e.ueid)
    assert (
        revoked.status is DeviceStatus.REVOKED
        and registry.get(e.ueid).status is DeviceStatus.REVOKED
    )
    assert registry.revoke(e.ueid).status is DeviceStatus.REVOKED  # idempotent, no second entry
    events = [x.event for x in registry.entries()]
    assert events == ["enrol.register", "revoke.device"]
    assert registry.verify() == 2


def test_audit_chain_links_every_entry(registry: DeviceRegistry) -> None:
    for i in range(3):
        e, data = endorsed(f"d{i}")
        registry.register(e, data)
    registry.record("deploy.update", e.ueid, b"binding", None)
    registry.record("deploy.record", e.ueid, b"receipt", int(Code.AGENT_ROLLBACK))
    entries = list(registry.entries())
    assert [x.index for x in entries] == list(range(5))
    assert entries[0].prev_hash == bytes(32)
    import hashlib

    for prev, cur in itertools.pairwise(entries):
        assert cur.prev_hash == hashlib.sha256(prev.encode()).digest()
    assert entries[4].error == Code.AGENT_ROLLBACK
    with pytest.raises(EdbpError):
        registry.record("not.a.step")


def _tamper(path, sql: str, *args) -> None:  # type: ignore[no-untyped-def]
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS audit_no_update")
    db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    db.execute(sql, args)
    db.commit()
    db.close()


def _filled(tmp_path) -> tuple[DeviceRegistry, list[bytes]]:  # type: ignore[no-untyped-def]
    reg = DeviceRegistry(tmp_path / "tam.sqlite", clock=lambda: 5)
    ueids = []
    for i in range(3):
        e, data = endorsed(f"t{i}")
        reg.register(e, data)
        ueids.append(e.ueid)
    for i in range(3):
        reg.record("deploy.update", ueids[i], dumps({"n": i}))
    return reg, ueids


def test_triggers_refuse_casual_edits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reg, _ = _filled(tmp_path)
    with pytest.raises(sqlite3.DatabaseError):
        reg._db.execute("UPDATE audit SET entry = x'00' WHERE idx = 1")
    with pytest.raises(sqlite3.DatabaseError):
        reg._db.execute("DELETE FROM audit WHERE idx = 5")
    assert reg.verify() == 6


@pytest.mark.parametrize("victim", [0, 2, 4])
def test_edited_entry_is_named(tmp_path, victim: int) -> None:  # type: ignore[no-untyped-def]
    reg, _ = _filled(tmp_path)
    path = str(tmp_path / "tam.sqlite")
    (data,) = reg._db.execute("SELECT entry FROM audit WHERE idx = ?", (victim,)).fetchone()
    entry = loads(bytes(data))
    entry[3] = entry[3] + 1  # change the time of one entry; keep it well-formed
    forged = dumps(entry)
    # the attacker also recomputes that row's own hash: the next entry's link still breaks
    import hashlib

    _tamper(
        path,
        "UPDATE audit SET entry = ?, hash = ? WHERE idx = ?",
        forged,
        hashlib.sha256(forged).digest(),
        victim,
    )
    with pytest.raises(VerificationError) as exc:
        DeviceRegistry(path).verify()
    assert exc.value.code == Code.TAM_AUDIT_TAMPERED
    assert exc.value.first_bad_index == victim + 1  # type: ignore[attr-defined]
    assert f"audit entry {victim + 1}" in str(exc.value)


def test_edited_entry_without_rehash_is_named_itself(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reg, _ = _filled(tmp_path)
    _tamper(str(tmp_path / "tam.sqlite"), "UPDATE audit SET entry = ? WHERE idx = 3", dumps({1: 3}))
    with pytest.raises(VerificationError) as exc:
        reg.verify()
    assert exc.value.first_bad_index == 3  # type: ignore[attr-defined]


def test_deleted_entry_and_truncation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reg, _ = _filled(tmp_path)
    head = reg.head()
    assert head[0] == 5
    _tamper(str(tmp_path / "tam.sqlite"), "DELETE FROM audit WHERE idx = 2")
    with pytest.raises(VerificationError) as exc:
        reg.verify()
    assert exc.value.first_bad_index == 2  # type: ignore[attr-defined]

    reg2, _ = _filled(tmp_path / "b")
    head = reg2.head()
    _tamper(str(tmp_path / "b" / "tam.sqlite"), "DELETE FROM audit WHERE idx = 5")
    assert reg2.verify() == 5  # a shorter chain is consistent on its own ...
    with pytest.raises(VerificationError) as exc:
        reg2.verify(expected_head=head)  # ... but not with the checkpoint kept elsewhere
    assert exc.value.first_bad_index == 5  # type: ignore[attr-defined]


def test_device_rows_are_checked_against_the_log(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reg, ueids = _filled(tmp_path)
    reg.revoke(ueids[1])
    assert reg.verify() == 7
    path = str(tmp_path / "tam.sqlite")
    _tamper(
        path, "UPDATE devices SET status = 'active', revoked_at = NULL WHERE ueid = ?", ueids[1]
    )
    with pytest.raises(VerificationError) as exc:
        reg.verify()
    assert exc.value.code == Code.TAM_AUDIT_TAMPERED and ueids[1].hex() in str(exc.value)
    _tamper(path, "UPDATE devices SET status = 'revoked' WHERE ueid = ?", ueids[1])
    assert reg.verify() == 7
    other, _ = endorsed("intruder")
    _tamper(
        path,
        "UPDATE devices SET dak = ?, dak_thumbprint = ? WHERE ueid = ?",
        other.dak.encode(),
        other.dak.thumbprint(),
        ueids[0],
    )
    with pytest.raises(VerificationError):
        reg.verify()


def test_get_reads_the_row_afresh_every_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``get`` reuses the record of an unchanged row only: a row another connection changed
    (revoked, tampered into something that does not decode) is what the next ``get`` answers."""
    reg = DeviceRegistry(tmp_path / "tam.sqlite", clock=lambda: 5)
    e, data = endorsed("fresh")
    reg.register(verify_endorsement(data, MRK.public()), data)
    first = reg.get(e.ueid)
    assert reg.get(e.ueid) is first and first.active
    path = str(tmp_path / "tam.sqlite")
    _tamper(path, "UPDATE devices SET status = 'revoked', revoked_at = 9 WHERE ueid = ?", e.ueid)
    again = reg.get(e.ueid)
    assert not again.active and again.revoked_at == 9
    _tamper(path, "UPDATE devices SET dsk = ? WHERE ueid = ?", b"\xa0", e.ueid)
    with pytest.raises(VerificationError) as exc:
        reg.get(e.ueid)
    assert exc.value.code == Code.TAM_AUDIT_TAMPERED


def test_audit_entry_encoding_is_dumps_of_its_map() -> None:
    """``AuditEntry.encode``'s assembly from parts writes ``dumps(to_cbor())`` for every field
    combination and at every head-length boundary (and the general rule for other types)."""
    from edbp.reference.cloud.device_registry import AuditEntry

    lengths = (0, 1, 23, 24, 255, 256, 65535, 65536)
    numbers = (0, 1, 23, 24, 255, 256, 65535, 65536, 2**32, 2**63)
    for i, n in enumerate(numbers):
        for ueid in (None, bytes(lengths[i % len(lengths)])):
            for body in (None, bytes(lengths[(i + 3) % len(lengths)])):
                for error in (None, 0, n, -5):
                    event = "deploy.record" * (i % 3)
                    entry = AuditEntry(n, bytes(32), n, event, ueid, body, error)
                    assert entry.encode() == dumps(entry.to_cbor())
    odd = AuditEntry(1, bytes(32), 2.5, "deploy.record")  # type: ignore[arg-type]
    assert odd.encode() == dumps(odd.to_cbor())


def test_get_inside_groups_sees_every_change(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Inside a group ``get`` answers from what it read in this or an earlier group, and only
    while that is what a fresh read would return: a row another connection changed between two
    groups (revoked, tampered, undecodable), or one this registry revoked, is what the next
    ``get`` answers; inside a group no other connection can write at all."""
    path = tmp_path / "tam.sqlite"
    reg = DeviceRegistry(path, clock=lambda: 5)
    e, data = endorsed("grouped")
    reg.register(verify_endorsement(data, MRK.public()), data)
    with reg.group_commit():
        first = reg.get(e.ueid)
        assert reg.get(e.ueid) is first and first.active
        # the group holds the write lock: another connection cannot change the row now
        other = sqlite3.connect(path, timeout=0)
        with pytest.raises(sqlite3.OperationalError):
            other.execute("UPDATE devices SET status = 'revoked' WHERE ueid = ?", (e.ueid,))
        other.close()
    with reg.group_commit():
        assert reg.get(e.ueid) is first  # nothing was committed since: no row read again
    _tamper(
        str(path), "UPDATE devices SET status = 'revoked', revoked_at = 9 WHERE ueid = ?", e.ueid
    )
    with reg.group_commit():
        again = reg.get(e.ueid)
        assert not again.active and again.revoked_at == 9
    _tamper(
        str(path), "UPDATE devices SET status = 'active', revoked_at = NULL WHERE ueid = ?", e.ueid
    )
    with reg.group_commit():
        assert reg.get(e.ueid).active
        reg.revoke(e.ueid)  # this connection's own write (data_version does not move)
        assert not reg.get(e.ueid).active
    with reg.group_commit():
        assert not reg.get(e.ueid).active
    _tamper(str(path), "UPDATE devices SET dsk = ? WHERE ueid = ?", b"\xa0", e.ueid)
    with reg.group_commit(), pytest.raises(VerificationError) as exc:
        reg.get(e.ueid)
    assert exc.value.code == Code.TAM_AUDIT_TAMPERED


def test_get_inside_groups_reads_once_per_device(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What the rule above buys: with no other writer, a device's row is read by the first
    ``get`` of the first group that asks for it, and not again (one SELECT, not one per
    message); outside groups every ``get`` still reads it."""
    reg = DeviceRegistry(tmp_path / "tam.sqlite", clock=lambda: 5)
    e, data = endorsed("counted")
    reg.register(verify_endorsement(data, MRK.public()), data)
    reads: list[str] = []
    reg._db.set_trace_callback(lambda sql: reads.append(sql) if "FROM devices" in sql else None)
    for _ in range(3):
        with reg.group_commit():
            reg.get(e.ueid)
            reg.get(e.ueid)
    assert len(reads) == 1
    reg.get(e.ueid)
    reg.get(e.ueid)
    assert len(reads) == 3
