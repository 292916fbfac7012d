"""The TAM's device registry (SQLite) and its append-only, hash-chained audit log.

Why SQLite: the embedded default needs transactions (a device row and its audit entry are
written together or not at all) and nothing else; a production TAM maps the same two tables
onto its database.

Devices: one row per UEID with the class and vendor ids, the endorsed public keys (DAK, DSK as
COSE_Key bytes, and their RFC 9679 thumbprints), the Manufacturer's endorsement as received,
and the status ``active`` / ``revoked`` (``enrol.register``, ``revoke.device``).

Audit log: every step the TAM takes on a device is an ``edbp-audit-entry`` (spec/messages.cddl):
``{1: index, 2: SHA-256 of the previous entry's encoding (32 zero bytes for entry 0), 3: time,
4: step name, ?5: ueid, ?6: body, ?7: error code}`` in deterministic CBOR. Each entry therefore
hashes the previous one: editing, removing or reordering any entry breaks the link of the entry
after it, and ``verify`` names the first entry that does not check. SQLite triggers refuse
UPDATE and DELETE on the log (a guard against mistakes, not against an attacker with the file,
who can drop the triggers: the hash chain is what detects that). Truncating the tail or
rewriting the last entry leaves a consistent shorter chain: a caller that keeps ``head()``
elsewhere (a signed checkpoint, another system's log) passes it to ``verify`` to detect that.

``verify`` also checks the devices table against the log: each device's keys, class and status
must be what its ``enrol.register`` and ``revoke.device`` entries recorded, so flipping a
revoked device back to active with an SQL UPDATE is detected too.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import hashlib
import hmac
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
from edbp.reference.cloud.endorsement import Endorsement
from edbp.reference.wire.cbor import bstr, dumps, loads, text, uint
from edbp.reference.wire.cose_key import CoseKey

from edbp.errors import Code, EdbpError, ProtocolError, VerificationError

__all__ = [
    "AUDIT_EVENTS",
    "AuditEntry",
    "AuditTampered",
    "DeviceRecord",
    "DeviceRegistry",
    "DeviceStatus",
]

GENESIS = bytes(32)
#: step names an audit entry may carry (spec/messages.cddl edbp-audit-event)
AUDIT_EVENTS = frozenset(
    {
        "enrol.register",
        "deploy.verify_evidence",
        "deploy.update",
        "deploy.record",
        "revoke.device",
        "rotate.class_key",
        "uninstall.component",
        "publish.push",
    }
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    ueid BLOB PRIMARY KEY,
    class_id BLOB NOT NULL,
    vendor_id BLOB NOT NULL,
    dak BLOB NOT NULL,
    dsk BLOB NOT NULL,
    dak_thumbprint BLOB NOT NULL,
    dsk_thumbprint BLOB NOT NULL,
    endorsement BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    registered_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS audit (
    idx INTEGER PRIMARY KEY,
    entry BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"""


@functools.lru_cache(maxsize=8192)
def _decode_key(data: bytes) -> CoseKey:
    """``CoseKey.decode`` of a stored public key, memoized on its bytes: every message of a
    session looks the device up again, and the row is read fresh each time (so a revocation
    is seen at once), but decoding the same key bytes gives the same frozen value."""
    return CoseKey.decode(data)


#: device records ``DeviceRegistry.get`` keeps with their rows (one per device it serves)
_RECORDS_MAX = 1 << 16
#: the heads of maps of 0..7 entries
_MAP_HEADS = tuple(bytes([0xA0 | n]) for n in range(8))


class DeviceStatus(enum.Enum):
    ACTIVE = "active"
    REVOKED = "revoked"


#: the status column's values (the table's CHECK admits these two only)
_STATUS = {s.value: s for s in DeviceStatus}


@attrs.frozen
class DeviceRecord:
    """One enrolled device as the registry holds it."""

    ueid: bytes
    class_id: bytes
    vendor_id: bytes
    dak: CoseKey
    dsk: CoseKey
    endorsement: bytes = attrs.field(repr=False)
    status: DeviceStatus
    registered_at: int
    revoked_at: int | None = None

    @property
    def active(self) -> bool:
        return self.status is DeviceStatus.ACTIVE

    def enrolment_record(self) -> bytes:
        """``edbp-enrolment-record`` (spec/messages.cddl) at registration time."""
        return dumps(
            {
                1: self.ueid,
                2: self.class_id,
                3: self.vendor_id,
                4: self.dak.thumbprint(),
                5: self.dsk.thumbprint(),
                6: self.endorsement,
                7: DeviceStatus.ACTIVE.value,
                8: self.registered_at,
            }
        )


@attrs.frozen
class AuditEntry:
    """One decoded link of the audit log."""

    index: int
    prev_hash: bytes
    time: int
    event: str
    ueid: bytes | None = None
    body: bytes | None = None
    error: int | None = None

    def to_cbor(self) -> dict[int, Any]:
        out: dict[int, Any] = {1: self.index, 2: self.prev_hash, 3: self.time, 4: self.event}
        if self.ueid is not None:
            out[5] = self.ueid
        if self.body is not None:
            out[6] = self.body
        if self.error is not None:
            out[7] = self.error
        return out

    def encode(self) -> bytes:
        """``dumps(self.to_cbor())``; an entry of the usual types (what ``_append`` makes) is
        assembled from its parts (keys 1..7 are in deterministic order as written)."""
        index, prev, at, event, ueid, body, error = (
            self.index,
            self.prev_hash,
            self.time,
            self.event,
            self.ueid,
            self.body,
            self.error,
        )
        if not (
            type(index) is int
            and index >= 0
            and type(prev) is bytes
            and type(at) is int
            and at >= 0
            and type(event) is str
            and (ueid is None or type(ueid) is bytes)
            and (body is None or type(body) is bytes)
            and (error is None or (type(error) is int and error >= 0))
        ):
            return dumps(self.to_cbor())
        parts = [b"", b"\x01", uint(index), b"\x02", bstr(prev), b"\x03", uint(at), b"\x04"]
        parts.append(text(event))
        if ueid is not None:
            parts += (b"\x05", bstr(ueid))
        if body is not None:
            parts += (b"\x06", bstr(body))
        if error is not None:
            parts += (b"\x07", uint(error))
        parts[0] = _MAP_HEADS[(len(parts) - 1) // 2]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> AuditEntry:
        value = loads(data)
        if not isinstance(value, dict) or not {1, 2, 3, 4} <= set(value) <= {1, 2, 3, 4, 5, 6, 7}:
            raise ValueError("audit entry shape")
        entry = cls(
            index=value[1],
            prev_hash=value[2],
            time=value[3],
            event=value[4],
            ueid=value.get(5),
            body=value.get(6),
            error=value.get(7),
        )
        if (
            not isinstance(entry.index, int)
            or not isinstance(entry.prev_hash, bytes)
            or len(entry.prev_hash) != 32
            or entry.event not in AUDIT_EVENTS
        ):
            raise ValueError("audit entry fields")
        return entry


class AuditTampered(VerificationError):
    """``TAM_AUDIT_TAMPERED``; ``first_bad_index`` is the first entry the chain check refuses.
    (An attribute, not an ``__init__`` argument: ``EdbpError``'s args stay (code, detail), so
    the error pickles unchanged.)"""

    first_bad_index: int


def _tampered(index: int, why: str) -> AuditTampered:
    err = AuditTampered(Code.TAM_AUDIT_TAMPERED, f"audit entry {index}: {why}")
    err.first_bad_index = index
    return err


class _Unit:
    """``DeviceRegistry._transaction``: BEGIN IMMEDIATE ... COMMIT, or a savepoint inside a
    group (one class, not one per call: this runs for every device write)."""

    __slots__ = ("_registry",)

    def __init__(self, registry: DeviceRegistry) -> None:
        self._registry = registry

    def __enter__(self) -> None:
        r = self._registry
        if r._group_depth:
            r._flush()  # a unit's rollback must undo its own writes only
            r._db.execute("SAVEPOINT unit")
            r._units += 1
        else:
            r._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        r = self._registry
        if r._group_depth:
            r._units -= 1
            if exc_type:
                r._db.execute("ROLLBACK TO unit")
                r._group_head = None  # what this unit appended is gone: read the head again
                r._forget_current()  # and what it read after its own writes
            r._db.execute("RELEASE unit")
        else:
            if exc_type:
                r._forget_current()
            r._db.execute("ROLLBACK" if exc_type else "COMMIT")


class DeviceRegistry:
    """Devices and the audit log in one SQLite database (``":memory:"`` for tests)."""

    def __init__(
        self, path: str | Path = ":memory:", clock: Callable[[], int] | None = None
    ) -> None:
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            # WAL: one fsync per commit (of the log), readers never block the writer;
            # synchronous=FULL keeps every committed audit entry across a power cut
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise ProtocolError(
                Code.TAM_STORAGE_FAILED, f"device registry: {type(e).__name__}"
            ) from None
        self._clock = clock or (lambda: int(time.time()))
        self._group_depth = 0
        #: the audit chain's head while a group holds the write lock (see ``_append``)
        self._group_head: tuple[int, bytes] | None = None
        #: a group's audit rows not yet inserted (see ``record``), in chain order
        self._pending: list[tuple[int, bytes, bytes]] = []
        #: savepoint units open inside the group (their appends are never queued)
        self._units = 0
        #: the record last made from each device's row, with that row (see ``get``)
        self._records: dict[bytes, tuple[tuple[Any, ...], DeviceRecord]] = {}
        #: records read inside groups, current while no other connection has committed since
        #: (``PRAGMA data_version`` unchanged) and this one has not written the row (see ``get``)
        self._current: dict[bytes, DeviceRecord] = {}
        #: the ``data_version`` ``_current`` is valid for (None: nothing is known current)
        self._current_version: int | None = None

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return "DeviceRegistry()"

    # ------------------------------------------------------------------ audit log

    def _append(
        self,
        event: str,
        ueid: bytes | None,
        body: bytes | None,
        error: int | None,
        defer: bool = False,
    ) -> AuditEntry:
        """Append within the caller's transaction.

        The chain's head (last index and hash) is read from the table, except inside a
        ``group_commit``: that transaction holds SQLite's write lock from its first statement
        to its COMMIT, so no other connection can append meanwhile and the head this
        connection last wrote is the table's; it is kept in memory until the group ends (or a
        unit inside it rolls back, which forgets it).

        ``defer`` (a bare ``record`` inside a group): the row is queued and inserted with the
        group's other queued rows in one ``executemany`` (``_flush``), before the group's COMMIT
        and before anything else touches the database inside the group."""
        # (a group whose transaction SQLite rolled back on an I/O error has no head to trust)
        head = self._group_head if self._db.in_transaction else None
        if head is None:
            self._flush()
            row = self._db.execute(
                "SELECT idx, hash FROM audit ORDER BY idx DESC LIMIT 1"
            ).fetchone()
            head = (-1, GENESIS) if row is None else (int(row[0]), bytes(row[1]))
        index, prev = head[0] + 1, head[1]
        entry = AuditEntry(index, prev, self._clock(), event, ueid, body, error)
        data = entry.encode()
        digest = hashlib.sha256(data).digest()
        if defer:
            self._pending.append((index, data, digest))
            self._group_head = (index, digest)
            return entry
        self._group_head = None
        self._db.execute(
            "INSERT INTO audit (idx, entry, hash) VALUES (?, ?, ?)", (index, data, digest)
        )
        if self._group_depth:
            self._group_head = (index, digest)
        return entry

    def _flush(self) -> None:
        """Insert the group's queued audit rows (one statement for them all, in chain order)."""
        if self._pending:
            rows, self._pending = self._pending, []
            if not self._db.in_transaction:
                return  # SQLite rolled the group back (I/O error): its queued rows go with it
            self._db.executemany("INSERT INTO audit (idx, entry, hash) VALUES (?, ?, ?)", rows)

    def record(
        self,
        event: str,
        ueid: bytes | None = None,
        body: bytes | None = None,
        error: int | None = None,
    ) -> AuditEntry:
        """Append one audit entry (``deploy.*``, ``rotate.class_key``, ``publish.push`` ...)."""
        if event not in AUDIT_EVENTS:
            raise ProtocolError(Code.TAM_UNEXPECTED_MESSAGE, f"unknown audit event {event!r}")
        if self._group_depth and not self._units:
            # queued, inserted with the group's other entries in one statement (``_flush``)
            # and durable when the group commits; no savepoint needed for an append alone
            return self._append(event, ueid, body, error, defer=True)
        with self._transaction():
            return self._append(event, ueid, body, error)

    def _transaction(self) -> _Unit:
        """One atomic unit of writes: its own transaction, or, inside ``group_commit``, a
        savepoint of the group's (atomic all the same; durable when the group commits)."""
        return _Unit(self)

    @contextlib.contextmanager
    def group_commit(self) -> Iterator[None]:
        """Group commit: every write inside is one transaction, made durable by one COMMIT
        (one fsync under ``synchronous=FULL``) when the block exits, instead of one per entry.

        The guarantee is the one a per-entry commit gives, moved to the block's exit: a caller
        must not act on anything done inside (send a message, report an outcome) until the block
        has exited, because until then a crash loses those entries together, atomically, and
        the chain is left as it was at the previous commit. The block commits on exit even when
        an exception leaves it: the entries inside record steps that did happen (a refusal is
        an entry too), exactly as they would have been committed one by one. Each write inside
        keeps its own atomicity (a savepoint). Nested groups join the outer one."""
        if self._group_depth:
            self._group_depth += 1
            try:
                yield
            finally:
                self._group_depth -= 1
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise ProtocolError(Code.TAM_STORAGE_FAILED, f"audit log: {type(e).__name__}") from None
        try:
            self._check_current()
        except sqlite3.Error:
            self._forget_current()  # (a record is then read afresh by every get of this group)
        self._group_depth = 1
        completed = False
        try:
            yield
            completed = True
        finally:
            self._group_depth = 0
            self._group_head = None
            self._units = 0
            if not completed:
                # the block failed part way: whatever it read is not trusted past it
                self._forget_current()
            try:
                # the queued entries are a suffix of the chain in order: should inserting them
                # fail part way, what is committed is still a whole chain, only shorter
                try:
                    self._flush()
                finally:
                    self._pending = []
                    self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._forget_current()
                raise ProtocolError(
                    Code.TAM_STORAGE_FAILED, f"audit log commit: {type(e).__name__}"
                ) from None

    def entries(self) -> Iterator[AuditEntry]:
        """Decoded entries in order (for display; ``verify`` is the check)."""
        self._flush()
        for (data,) in self._db.execute("SELECT entry FROM audit ORDER BY idx"):
            yield AuditEntry.decode(bytes(data))

    def head(self) -> tuple[int, bytes]:
        """(index of the last entry, its hash): keep it outside to detect tail truncation."""
        self._flush()
        row = self._db.execute("SELECT idx, hash FROM audit ORDER BY idx DESC LIMIT 1").fetchone()
        return (-1, GENESIS) if row is None else (int(row[0]), bytes(row[1]))

    def verify(self, expected_head: tuple[int, bytes] | None = None) -> int:
        """Walk the chain; raise TAM_AUDIT_TAMPERED naming the first bad entry (the exception's
        ``first_bad_index``). Returns the number of entries. See the module docstring."""
        self._flush()
        prev = GENESIS
        expected = 0
        enrolled: dict[bytes, dict[int, Any]] = {}
        revoked: set[bytes] = set()
        hashes: list[bytes] = []
        for idx, data, stored_hash in self._db.execute(
            "SELECT idx, entry, hash FROM audit ORDER BY idx"
        ):
            data = bytes(data)
            if idx != expected:
                raise _tampered(expected, "missing (the chain has a gap)")
            try:
                entry = AuditEntry.decode(data)
            except (EdbpError, ValueError, TypeError):
                raise _tampered(idx, "does not decode") from None
            digest = hashlib.sha256(data).digest()
            if entry.index != idx or not hmac.compare_digest(entry.prev_hash, prev):
                raise _tampered(idx, "does not link to the previous entry")
            if not hmac.compare_digest(digest, bytes(stored_hash)):
                raise _tampered(idx, "stored hash does not match")
            if (
                entry.event == "enrol.register"
                and entry.ueid is not None
                and entry.body is not None
            ):
                try:
                    enrolled[entry.ueid] = loads(entry.body)
                except EdbpError:
                    raise _tampered(idx, "enrolment record does not decode") from None
                revoked.discard(entry.ueid)
            elif entry.event == "revoke.device" and entry.ueid is not None:
                revoked.add(entry.ueid)
            prev = digest
            hashes.append(digest)
            expected += 1
        if expected_head is not None:
            head_index, head_hash = expected_head
            if head_index >= expected:
                raise _tampered(expected, "missing: the log ends before the checkpoint")
            if head_index >= 0 and not hmac.compare_digest(hashes[head_index], head_hash):
                raise _tampered(head_index, "differs from the checkpoint")
        self._check_devices(enrolled, revoked)
        return expected

    def _check_devices(self, enrolled: dict[bytes, dict[int, Any]], revoked: set[bytes]) -> None:
        rows = self._db.execute(
            "SELECT ueid, class_id, vendor_id, dak_thumbprint, dsk_thumbprint, status FROM devices"
        ).fetchall()
        seen = set()
        for ueid, class_id, vendor_id, dak_tp, dsk_tp, status in rows:
            ueid = bytes(ueid)
            seen.add(ueid)
            rec = enrolled.get(ueid)
            expected_status = "revoked" if ueid in revoked else "active"
            if (
                rec is None
                or rec.get(2) != bytes(class_id)
                or rec.get(3) != bytes(vendor_id)
                or rec.get(4) != bytes(dak_tp)
                or rec.get(5) != bytes(dsk_tp)
                or status != expected_status
            ):
                raise VerificationError(
                    Code.TAM_AUDIT_TAMPERED, f"device {ueid.hex()} differs from its audit entries"
                )
        missing = set(enrolled) - seen
        if missing:
            raise VerificationError(Code.TAM_AUDIT_TAMPERED, "an enrolled device row was removed")

    # ------------------------------------------------------------------ devices

    def register(self, endorsement: Endorsement, endorsement_bytes: bytes) -> DeviceRecord:
        """``enrol.register``: record a device whose endorsement the caller has verified."""
        record = DeviceRecord(
            ueid=endorsement.ueid,
            class_id=endorsement.class_id,
            vendor_id=endorsement.vendor_id,
            dak=endorsement.dak,
            dsk=endorsement.dsk,
            endorsement=endorsement_bytes,
            status=DeviceStatus.ACTIVE,
            registered_at=self._clock(),
        )
        self._forget(record.ueid)
        with self._transaction():
            if self._db.execute("SELECT 1 FROM devices WHERE ueid = ?", (record.ueid,)).fetchone():
                raise ProtocolError(
                    Code.TAM_DEVICE_EXISTS, f"device {record.ueid.hex()} is enrolled"
                )
            self._db.execute(
                "INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    record.ueid,
                    record.class_id,
                    record.vendor_id,
                    record.dak.encode(),
                    record.dsk.encode(),
                    record.dak.thumbprint(),
                    record.dsk.thumbprint(),
                    record.endorsement,
                    record.status.value,
                    record.registered_at,
                ),
            )
            self._append("enrol.register", record.ueid, record.enrolment_record(), None)
        return record

    def _check_current(self) -> None:
        """At a group's start, inside its write transaction: keep ``_current`` only if no other
        connection committed anything since it was last checked. ``PRAGMA data_version``
        changes exactly when another connection (or process) commits to the database; this
        connection's own writes do not change it, so every write this class makes to a device
        row drops that row from ``_current`` (``_forget``)."""
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        if version != self._current_version:
            self._current.clear()
            self._current_version = version

    def _forget(self, ueid: bytes) -> None:
        """This connection wrote (or is about to write) the device's row."""
        self._current.pop(bytes(ueid), None)

    def _forget_current(self) -> None:
        """Nothing read so far is known current (a rolled back unit or group, a failed commit)."""
        self._current.clear()
        self._current_version = None

    def get(self, ueid: bytes) -> DeviceRecord:
        """The device, or TAM_UNKNOWN_DEVICE.

        Outside a group the row is read afresh every call. Inside a group (``group_commit``)
        this connection holds SQLite's write lock from the group's first statement to its
        COMMIT, so no other connection can change a device row meanwhile; and a change another
        connection committed between two groups moves ``PRAGMA data_version``, checked as each
        group starts (``_check_current``). So inside a group, the record read for a device in
        this or an earlier group is what a fresh read would return, unless this connection
        wrote the row since, and each write here drops it (``_forget``): a revocation, through
        this registry or any other connection, is seen by the next message all the same."""
        key = ueid if type(ueid) is bytes else bytes(ueid)
        grouped = self._group_depth and self._current_version is not None
        if grouped:
            known_current = self._current.get(key)
            if known_current is not None:
                return known_current
        record = self._read(key)
        if grouped:
            if len(self._current) >= _RECORDS_MAX:
                self._current.clear()
            self._current[key] = record
        return record

    def _read(self, ueid: bytes) -> DeviceRecord:
        """The device's row, read now, as a record."""
        row = self._db.execute(
            "SELECT ueid, class_id, vendor_id, dak, dsk, endorsement, status, registered_at,"
            " revoked_at"
            " FROM devices WHERE ueid = ?",
            (bytes(ueid),),
        ).fetchone()
        if row is None:
            raise ProtocolError(Code.TAM_UNKNOWN_DEVICE, "device is not enrolled")
        # the row is read afresh every time (a revocation or a changed row is seen at once);
        # the record made from an identical row is the same frozen value, so it is reused
        known = self._records.get(row[0])
        if known is not None and known[0] == row:
            return known[1]
        try:
            record = DeviceRecord(
                ueid=bytes(row[0]),
                class_id=bytes(row[1]),
                vendor_id=bytes(row[2]),
                dak=_decode_key(bytes(row[3])),
                dsk=_decode_key(bytes(row[4])),
                endorsement=bytes(row[5]),
                status=_STATUS[row[6]],
                registered_at=int(row[7]),
                revoked_at=row[8],
            )
        except (EdbpError, ValueError, KeyError, TypeError):
            raise VerificationError(Code.TAM_AUDIT_TAMPERED, "device row does not decode") from None
        if len(self._records) >= _RECORDS_MAX:
            self._records.clear()
        self._records[row[0]] = (row, record)
        return record

    def devices(self) -> list[bytes]:
        return [bytes(r[0]) for r in self._db.execute("SELECT ueid FROM devices ORDER BY ueid")]

    def revoke(self, ueid: bytes) -> DeviceRecord:
        """``revoke.device``: the device gets no new delivery from now on (P13)."""
        with self._transaction():
            record = self.get(ueid)
            if not record.active:
                return record
            now = self._clock()
            self._forget(record.ueid)
            self._db.execute(
                "UPDATE devices SET status = 'revoked', revoked_at = ? WHERE ueid = ?",
                (now, record.ueid),
            )
            self._append("revoke.device", record.ueid, None, None)
        return attrs.evolve(record, status=DeviceStatus.REVOKED, revoked_at=now)
