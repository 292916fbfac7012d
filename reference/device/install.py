"""Atomic, verify-before-decrypt installation of a payload, within a fixed memory budget.

Why this order (spec steps ``deploy.check_payload`` → ``deploy.decrypt`` → ``deploy.install`` →
``deploy.raise_floor``):

1. The ciphertext stays in the REE (the Broker's cache). Its size and SHA-256 are checked
   against the values signed in the manifest *before a single byte is decrypted* (P9).
2. Decryption streams the ciphertext a second time, hashing it again (the REE could swap the
   file between the two passes), and seals the plaintext into a new file of the Agent's sealed
   storage. Nothing of that file is used until the second hash, the AEAD tag (or, for the
   unauthenticated CTR modes, the signed plaintext digest) and the TA image check have passed.
3. The switch is one atomic write of the Agent's state record: it makes the new version current,
   keeps the old one as ``previous`` (still runnable), and raises the component's sequence floor
   (and the TA version floor) in the same step, so a power cut at any write leaves either the
   old state whole or the new state whole. No write follows the switch.

Passes over the data (each counted, each needed; no other copy of the payload is made):

- ciphertext, pass 1 (``check_payload``): read + SHA-256, before any decryption (P9).
- ciphertext, pass 2 (``_decrypt_into``): read + SHA-256 again (the REE may have swapped the
  file since pass 1) + AES-GCM decrypt, and in the same loop the plaintext's SHA-256 (the
  signed image digest, and the digest kept to re-check the installed file later), the
  sealed-storage AES-GCM encryption and the one write of the sealed file (with its fsync).
- plaintext, pass 3, OP-TEE TAs only (``ta_check``): the sealed file is read back and
  unsealed in a stream and checked as OP-TEE's loader checks it (its own SHA-256 over the
  headers and the ELF; AES-GCM too for an encrypted TA). It cannot fold into pass 2: the
  loader's checks come in an order that starts with the signed header, and a TA must be checked
  as it is stored, which is what the device will load.

Memory: the payload passes through in chunks of ``MemoryBudget.chunk`` bytes; what is held at
once is a few chunks whatever the payload's size. ``MemoryBudget.limit`` is the stated ceiling
that the benchmark measures against (tracemalloc).

Files no state record refers to (a staging file left by a power cut, versions older than
``previous``) are removed at the start of the next installation, before anything new is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from edbp.reference.device.sealed_storage import SealedStorage
from edbp.reference.wire.cbor import dumps, loads
from edbp.reference.wire.cose_algs import Alg

from edbp.errors import Code, DecryptionFailed, EdbpError, ProtocolError, VerificationError

__all__ = [
    "AgentRecord",
    "CiphertextSource",
    "ComponentState",
    "FileCounter",
    "InstallFailed",
    "Installed",
    "Installer",
    "MemoryBudget",
    "MemoryCounter",
    "MonotonicCounter",
    "PayloadSpec",
    "component_key",
]

STATE_NAME = "agent/state"
_GCM_TAG = 16


class InstallFailed(EdbpError):
    """The medium failed while the new version was written or switched in (the previous
    version is still installed)."""


@attrs.frozen
class MemoryBudget:
    """How much payload the Agent holds at once. ``limit`` is the stated ceiling on the
    Agent's own allocations while it installs (checked by the device benchmark)."""

    chunk: int = 64 * 1024
    limit: int = 1024 * 1024
    #: largest ciphertext the Agent accepts (spec/protocol.md section 6: 16 MiB)
    max_payload: int = 16 * 1024 * 1024


class CiphertextSource(Protocol):
    """Read access to the ciphertext the Broker stored (untrusted REE storage)."""

    def size(self) -> int: ...

    def read_chunks(self, chunk_size: int) -> Iterator[bytes]: ...


def component_key(component_id: tuple[bytes, ...]) -> str:
    """A storage-safe name for a SUIT component identifier (hex of its CBOR encoding)."""
    return dumps(list(component_id)).hex()


@attrs.frozen
class PayloadSpec:
    """What the verified manifests say about the payload: the Agent fills it only after both
    signatures, the ids, the device binding and the floor have been checked."""

    component_id: tuple[bytes, ...]
    sequence: int
    ciphertext_digest: bytes  # SHA-256 of the ciphertext as fetched
    ciphertext_size: int
    content_alg: Alg
    iv: bytes
    aad: bytes  # the COSE Enc_structure the AEAD authenticates
    plaintext_digest: bytes | None = None  # SHA-256 of the image (required for CTR modes)
    plaintext_size: int | None = None
    manifest_digest: bytes = b""  # digest of the author manifest (named in reports)
    envelope: bytes = attrs.field(default=b"", repr=False)  # the author envelope (evidence)


@attrs.frozen
class Installed:
    """One installed version of a component."""

    sequence: int
    file: str
    digest: bytes  # SHA-256 of the plaintext image
    size: int
    manifest_digest: bytes = b""
    ta_version: int | None = None
    envelope: bytes = attrs.field(default=b"", repr=False)

    def to_cbor(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.sequence,
            "file": self.file,
            "digest": self.digest,
            "size": self.size,
            "manifest": self.manifest_digest,
            "envelope": self.envelope,
        }
        if self.ta_version is not None:
            out["ta_version"] = self.ta_version
        return out

    @classmethod
    def from_cbor(cls, value: dict[str, Any]) -> Installed:
        return cls(
            value["seq"],
            value["file"],
            value["digest"],
            value["size"],
            value.get("manifest", b""),
            value.get("ta_version"),
            value.get("envelope", b""),
        )


@attrs.frozen
class ComponentState:
    """A component's floor and its current and previous versions."""

    component_id: tuple[bytes, ...]
    floor: int
    current: Installed
    previous: Installed | None = None

    def to_cbor(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": list(self.component_id),
            "floor": self.floor,
            "current": self.current.to_cbor(),
        }
        if self.previous is not None:
            out["previous"] = self.previous.to_cbor()
        return out

    @classmethod
    def from_cbor(cls, value: dict[str, Any]) -> ComponentState:
        prev = value.get("previous")
        return cls(
            tuple(value["id"]),
            value["floor"],
            Installed.from_cbor(value["current"]),
            Installed.from_cbor(prev) if prev is not None else None,
        )


@attrs.frozen
class AgentRecord:
    """The Agent's persistent state: per-component floors and versions, TA version floors
    (OP-TEE semantics, per TA UUID), and a counter of completed installs."""

    components: dict[str, ComponentState] = attrs.field(factory=dict)
    ta_floors: dict[bytes, int] = attrs.field(factory=dict)
    installs: int = 0
    #: floors of uninstalled components: an uninstall never lowers what may be installed next
    retired: dict[str, int] = attrs.field(factory=dict)
    #: commits so far; checked against the rollback-protected counter when there is one
    generation: int = 0

    def encode(self) -> bytes:
        return dumps(
            {
                "v": 1,
                "components": {k: c.to_cbor() for k, c in self.components.items()},
                "ta_floors": dict(self.ta_floors),
                "installs": self.installs,
                "retired": dict(self.retired),
                "gen": self.generation,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> AgentRecord:
        try:
            value = loads(data)
            if value.get("v") != 1:
                raise ValueError("record version")
            return cls(
                {k: ComponentState.from_cbor(c) for k, c in value["components"].items()},
                dict(value["ta_floors"]),
                value["installs"],
                dict(value.get("retired", {})),
                value.get("gen", 0),
            )
        except (EdbpError, ValueError, KeyError, TypeError, AttributeError):
            raise VerificationError(Code.AGENT_STORAGE_CORRUPT, "state record") from None

    def floor(self, component_id: tuple[bytes, ...]) -> int | None:
        key = component_key(component_id)
        comp = self.components.get(key)
        return comp.floor if comp is not None else self.retired.get(key)


#: Verifies a decrypted image (sealed file ``staging``) before the switch; returns the TA
#: version and TA UUID to record (or Nones when the payload is not a TA).
ImageCheck = Callable[
    [SealedStorage, str, "PayloadSpec", "AgentRecord"], tuple[int | None, bytes | None]
]


@attrs.define
class _Progress:
    """What the streaming decryption has seen: plaintext bytes out, the trailing AEAD tag."""

    plain: int = 0
    tag: bytes = b""


class MonotonicCounter(Protocol):
    """Rollback-protected storage for one number (OP-TEE: RPMB; elsewhere a TPM NV counter).
    The REE cannot lower it; sealed files alone cannot prove they are the newest."""

    def read(self) -> int: ...

    def advance(self, value: int) -> None:
        """Raise the counter to ``value`` (never lowers it)."""
        ...


class MemoryCounter:
    """A counter in memory (simulated devices)."""

    def __init__(self) -> None:
        self.value = 0

    def read(self) -> int:
        return self.value

    def advance(self, value: int) -> None:
        self.value = max(self.value, value)

    def __repr__(self) -> str:
        return f"MemoryCounter({self.value})"


class FileCounter:
    """A counter in a file standing for the RPMB partition of a simulated device (the
    simulation's REE attacker is not given this file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> int:
        try:
            return int(self.path.read_text() or "0")
        except FileNotFoundError:
            return 0
        except ValueError:
            raise VerificationError(Code.AGENT_STORAGE_CORRUPT, "rollback counter") from None

    def advance(self, value: int) -> None:
        if value > self.read():
            tmp = self.path.with_suffix(".new")
            tmp.write_text(str(value))
            os.replace(tmp, self.path)

    def __repr__(self) -> str:
        return f"FileCounter({self.path.name!r})"


class Installer:
    """Keeps the Agent's record and installs payloads into sealed storage."""

    def __init__(
        self,
        sealed: SealedStorage,
        budget: MemoryBudget = MemoryBudget(),
        counter: MonotonicCounter | None = None,
    ) -> None:
        self.sealed = sealed
        self.budget = budget
        self.counter = counter
        #: (plaintext, decoded record) of the state record last read or written; records are
        #: never mutated in place (every change builds a new one), so sharing it is safe
        self._memo: tuple[bytes, AgentRecord] | None = None

    def __repr__(self) -> str:
        return f"Installer({self.sealed!r})"

    def load(self) -> AgentRecord:
        """The committed record (an empty one on a factory-fresh device). With a rollback
        counter, a sealed record older than the counter (the REE put back an old copy, or
        removed it) is refused: AGENT_STORAGE_CORRUPT."""
        if self.sealed.exists(STATE_NAME):
            # read and authenticated every time (the REE may have replaced the file); decoded
            # again only when its plaintext differs from the last one this Installer decoded
            # or wrote (a session loads it several times)
            plain = self.sealed.get(STATE_NAME)
            memo = self._memo
            if memo is not None and memo[0] == plain:
                record = memo[1]
            else:
                record = AgentRecord.decode(plain)
                self._memo = (plain, record)
        else:
            record = AgentRecord()
        if self.counter is not None and record.generation < self.counter.read():
            raise VerificationError(Code.AGENT_STORAGE_CORRUPT, "sealed state rolled back")
        return record

    def check_floor(self, record: AgentRecord, component_id: tuple[bytes, ...], seq: int) -> None:
        """Refuse a sequence number not strictly above the component's floor (P7)."""
        floor = record.floor(component_id)
        if floor is not None and seq <= floor:
            raise ProtocolError(Code.AGENT_ROLLBACK, f"sequence {seq} <= floor {floor}")

    def read_installed(self, component_id: tuple[bytes, ...], previous: bool = False) -> bytes:
        """The plaintext of the current (or previous) version: proof it is still runnable."""
        record = self.load()
        comp = record.components.get(component_key(component_id))
        if comp is None:
            raise ProtocolError(Code.AGENT_NO_SUCH_COMPONENT, "component not installed")
        inst = comp.previous if previous else comp.current
        if inst is None:
            raise ProtocolError(Code.AGENT_NO_SUCH_COMPONENT, "no previous version")
        data = b"".join(self.sealed.read_stream(inst.file))
        if not hmac.compare_digest(hashlib.sha256(data).digest(), inst.digest):
            raise VerificationError(Code.AGENT_STORAGE_CORRUPT, "installed image digest")
        return data

    # ------------------------------------------------------------------------- the steps

    def check_payload(self, spec: PayloadSpec, source: CiphertextSource) -> None:
        """``deploy.check_payload``: size and SHA-256 of the ciphertext, before decrypting."""
        try:
            size = source.size()
        except OSError:
            raise ProtocolError(Code.AGENT_PAYLOAD_FETCH_FAILED, "payload unavailable") from None
        if size != spec.ciphertext_size:
            raise VerificationError(Code.AGENT_PAYLOAD_MISMATCH, "ciphertext size")
        digest = hashlib.sha256()
        seen = 0
        try:
            for chunk in source.read_chunks(self.budget.chunk):
                digest.update(chunk)
                seen += len(chunk)
        except OSError:
            raise ProtocolError(Code.AGENT_PAYLOAD_FETCH_FAILED, "payload unreadable") from None
        if seen != spec.ciphertext_size or not hmac.compare_digest(
            digest.digest(), spec.ciphertext_digest
        ):
            raise VerificationError(Code.AGENT_PAYLOAD_MISMATCH, "ciphertext digest")

    def decrypt_and_install(
        self,
        spec: PayloadSpec,
        cek: bytearray,
        source: CiphertextSource,
        image_check: ImageCheck | None = None,
    ) -> AgentRecord:
        """``deploy.decrypt`` + ``deploy.install`` + ``deploy.raise_floor``; returns the new
        committed record. On any failure the committed record is unchanged."""
        record = self.load()
        self.check_floor(record, spec.component_id, spec.sequence)
        key = component_key(spec.component_id)
        self._collect_garbage(record)
        # unique: the sequence is above every kept version's, and stale staging files are gone
        staging = f"c/{key}/{spec.sequence}.img"
        try:
            plain_digest, plain_size = self._decrypt_into(spec, cek, source, staging)
            ta_version: int | None = None
            ta_uuid: bytes | None = None
            if image_check is not None:
                ta_version, ta_uuid = image_check(self.sealed, staging, spec, record)
            new = Installed(
                spec.sequence,
                staging,
                plain_digest,
                plain_size,
                spec.manifest_digest,
                ta_version,
                spec.envelope,
            )
            old = record.components.get(key)
            comps = dict(record.components)
            comps[key] = ComponentState(
                spec.component_id, spec.sequence, new, old.current if old else None
            )
            ta_floors = dict(record.ta_floors)
            if ta_uuid is not None and ta_version is not None:
                ta_floors[ta_uuid] = max(ta_version, ta_floors.get(ta_uuid, 0))
            retired = {k: v for k, v in record.retired.items() if k != key}
            updated = AgentRecord(
                comps, ta_floors, record.installs + 1, retired, record.generation + 1
            )
            self._commit(updated)
            return updated
        except OSError as exc:
            self._discard(staging)
            raise InstallFailed(Code.AGENT_INSTALL_FAILED, "storage failed") from exc
        except BaseException:
            self._discard(staging)
            raise

    def uninstall(self, component_ids: Sequence[tuple[bytes, ...]]) -> AgentRecord:
        """``uninstall.component``: drop the components from the record in one atomic write,
        keeping their floors (a later install must still be above them). Their files become
        garbage, removed by the next install."""
        record = self.load()
        comps = dict(record.components)
        retired = dict(record.retired)
        for cid in component_ids:
            key = component_key(tuple(cid))
            comp = comps.pop(key, None)
            if comp is None:
                raise ProtocolError(Code.AGENT_NO_SUCH_COMPONENT, "component not installed")
            retired[key] = comp.floor
        updated = AgentRecord(
            comps, dict(record.ta_floors), record.installs, retired, record.generation + 1
        )
        try:
            self._commit(updated)
        except OSError as exc:
            raise InstallFailed(Code.AGENT_INSTALL_FAILED, "storage failed") from exc
        return updated

    def _commit(self, record: AgentRecord) -> None:
        # the only switch: write the new record beside the old one, then rename over it; the
        # rollback counter follows (a cut between the two leaves record >= counter: accepted)
        data = record.encode()
        self.sealed.put(STATE_NAME, data)
        self._memo = (data, record)
        if self.counter is not None:
            with contextlib.suppress(OSError):
                self.counter.advance(record.generation)

    def _discard(self, name: str) -> None:
        try:
            self.sealed.storage.remove(name)
        except OSError:
            pass  # the medium is failing; the next install's garbage collection removes it

    def _collect_garbage(self, record: AgentRecord) -> None:
        keep = {STATE_NAME}
        for comp in record.components.values():
            keep.add(comp.current.file)
            if comp.previous is not None:
                keep.add(comp.previous.file)
        try:
            for name in self.sealed.storage.list("c/"):
                if name not in keep:
                    self.sealed.storage.remove(name)
            if self.sealed.storage.exists(STATE_NAME + ".new"):
                self.sealed.storage.remove(STATE_NAME + ".new")
        except OSError as exc:
            raise InstallFailed(Code.AGENT_INSTALL_FAILED, "storage failed") from exc

    def _decrypt_into(
        self, spec: PayloadSpec, cek: bytearray, source: CiphertextSource, staging: str
    ) -> tuple[bytes, int]:
        """Stream-decrypt ``source`` into sealed file ``staging``; returns the plaintext's
        SHA-256 and size once every check on it has passed."""
        alg = spec.content_alg
        if alg in (Alg.A128GCM, Alg.A256GCM):
            aead = True
            want = 16 if alg == Alg.A128GCM else 32
            if len(spec.iv) != 12:
                raise DecryptionFailed(Code.AGENT_DECRYPT_FAILED)
            mode: Any = modes.GCM(spec.iv)
        elif alg in (Alg.A128CTR, Alg.A256CTR):
            aead = False
            want = 16 if alg == Alg.A128CTR else 32
            if len(spec.iv) != 16 or spec.plaintext_digest is None:
                # CTR has no integrity of its own: without a signed image digest it is refused
                raise DecryptionFailed(Code.AGENT_DECRYPT_FAILED)
            mode = modes.CTR(spec.iv)
        else:
            raise ProtocolError(Code.SUIT_ENCRYPTION_INFO, f"content algorithm {int(alg)}")
        if len(cek) != want:
            raise DecryptionFailed(Code.AGENT_DECRYPT_FAILED)
        decryptor = Cipher(algorithms.AES(bytes(cek)), mode).decryptor()
        if aead:
            decryptor.authenticate_additional_data(spec.aad)
        body_size = spec.ciphertext_size - (_GCM_TAG if aead else 0)
        if body_size < 0:
            raise DecryptionFailed(Code.AGENT_DECRYPT_FAILED)
        cipher_hash = hashlib.sha256()
        plain_hash = hashlib.sha256()
        state = _Progress()

        def plaintext() -> Iterator[bytes]:
            consumed = 0
            tail = bytearray()
            for chunk in source.read_chunks(self.budget.chunk):
                cipher_hash.update(chunk)
                remaining = body_size - consumed
                body, extra = (
                    chunk[:remaining] if remaining > 0 else b"",
                    chunk[max(remaining, 0) :],
                )
                consumed += len(body)
                tail += extra
                if len(tail) > _GCM_TAG:
                    raise DecryptionFailed(Code.AGENT_DECRYPT_FAILED)
                if body:
                    out = decryptor.update(body)
                    plain_hash.update(out)
                    state.plain += len(out)
                    yield out
            state.tag = bytes(tail)

        self.sealed.seal_as(staging, staging, plaintext())
        # every check before the new file can become current
        if not hmac.compare_digest(cipher_hash.digest(), spec.ciphertext_digest):
            raise VerificationError(Code.AGENT_PAYLOAD_MISMATCH, "ciphertext changed in the REE")
        try:
            if aead:
                tag = state.tag
                if len(tag) != _GCM_TAG:
                    raise InvalidTag()
                decryptor.finalize_with_tag(tag)
            else:
                decryptor.finalize()
        except InvalidTag:
            raise DecryptionFailed(Code.AGENT_DECRYPT_FAILED) from None
        size = state.plain
        digest = plain_hash.digest()
        if spec.plaintext_size is not None and size != spec.plaintext_size:
            raise VerificationError(Code.SUIT_IMAGE_SIZE, "image size")
        if spec.plaintext_digest is not None and not hmac.compare_digest(
            digest, spec.plaintext_digest
        ):
            raise VerificationError(Code.SUIT_CONDITION_IMAGE_DIGEST, "image digest")
        return digest, size
