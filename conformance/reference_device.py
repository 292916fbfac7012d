"""The reference device behind the adapter: the reference Agent, a Broker-like relay and storage.

Why it exists: ``edbp device serve`` and ``--device builtin`` must offer a device that passes
the whole suite, so that every case is shown to be satisfiable, and the faulty variants
(``edbp.conformance.faults``) need a real device to break one duty at a time. It is also the
model shim a vendor reads: every adapter request maps onto one call of the Agent.

What it holds, as a board would:
- persistent TEE storage (``MemoryStorage`` behind ``PowerCutStorage``, the failure-injection
  edge the ``power_cut`` capability arms) and a HUK: the Agent's sealed files survive a power
  cut, its RAM state does not;
- REE storage where the relay keeps the ciphertext it fetched through the harness
  (``host.fetch``: the harness plays Registry and Broker);
- a fixed vendor and class (``example.com`` / ``reference-device``) and trust anchors that are
  empty until ``provision``.

Payloads are opaque images (``verify_ta=False``) until ``provision`` brings ``ta_keys``
(capability ``ta-check``): then the Agent runs OP-TEE's TA-image checks (signature by one of
those TA Signing Keys, UUID, TA-version floor) on every TA payload before it installs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import time
import traceback
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from edbp.conformance.adapter.messages import PROTOCOL_VERSION, bad_args, reset_keep_keys
from edbp.conformance.adapter.server import DeviceBackend, Host
from edbp.conformance.adapter.validate import check_edbp_provision
from edbp.reference.build.package import class_id_for, vendor_id_for
from edbp.reference.device.agent import (
    KEYS_NAME,
    Agent,
    FetchFailed,
    FetchPayload,
    MessageReceived,
    PayloadFetched,
    SendMessage,
)
from edbp.reference.device.broker import BrokerPayload
from edbp.reference.device.install import STATE_NAME, AgentRecord, component_key
from edbp.reference.device.keys import DeviceKeys, KeySuite
from edbp.reference.device.storage import FaultyStorage, MemoryStorage, Storage
from edbp.reference.device.update import TrustAnchors
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource
from edbp.reference.wire import pq
from edbp.reference.wire.cbor import loads
from edbp.reference.wire.cose_algs import KeyType
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_core import SuitDigest

from edbp.errors import AdapterError, Code, EdbpError

__all__ = [
    "CAPABILITIES",
    "CLASS_NAME",
    "PROFILES",
    "SUITES",
    "VENDOR_DOMAIN",
    "PowerCutStorage",
    "PowerLoss",
    "ReferenceDevice",
    "VendorBoard",
    "identity",
    "identity_for",
    "make_backend",
    "reference_identity",
]

VENDOR_DOMAIN = "example.com"
CLASS_NAME = "reference-device"
PROFILES = ("edbp",)
#: what the reference Agent runs (update.OFFERED_CONTENT_ALGS, ESP256 and Ed25519 keys);
#: "suit-sha256-ed25519-ecdh-a128gcm" is not (yet) a name of spec/adapter.cddl
SUITES: tuple[str, ...] = (
    "suit-sha256-esp256-ecdh-a128gcm",
    "suit-sha256-esp256-ecdh-a128ctr",
    "suit-sha256-ed25519-ecdh-a128gcm",
    "suit-sha256-ed25519-ecdh-a128ctr",
    "teep-sign1-esp256",
    "teep-sign1-ed25519",
)
#: the optional post-quantum suite (protocol.md 4.1), declared when this build has ML-DSA/ML-KEM;
#: the device runs it once ``provision`` brings PQ ``test_keys`` (AKP DAK and DSK)
PQ_SUITES = ("suit-sha256-mldsa65-hpke-xwing-a128gcm", "teep-sign1-mldsa65")
if pq.available():
    SUITES = (*SUITES, *PQ_SUITES)
CAPABILITIES = ("power-cut", "clock", "monotonic-clock", "test-keys", "ta-check", "agent-nonces")
#: the longest single ``advance_clock`` (one year, spec/adapter.cddl)
MAX_ADVANCE = 31_536_000
MAX_MESSAGE = 65536  # spec/protocol.md section 6

#: the (vendor_id, class_id) a reference device (and the vector generator's kit) takes when it
#: is given none: set by ``identity`` to stand in for a vendor's board (``builtin,vendor=...``)
#: and to re-derive the vectors under that vendor's ids
_IDENTITY: ContextVar[tuple[bytes, bytes] | None] = ContextVar("edbp_identity", default=None)


def reference_identity() -> tuple[bytes, bytes]:
    """``(vendor_id, class_id)`` in force: the reference device's, unless ``identity`` set one."""
    override = _IDENTITY.get()
    if override is not None:
        return override
    vendor = vendor_id_for(VENDOR_DOMAIN)
    return vendor, class_id_for(vendor, CLASS_NAME)


@contextlib.contextmanager
def identity(vendor_id: bytes, class_id: bytes) -> Iterator[None]:
    """Within the block, reference devices and vector kits are made with these ids."""
    token = _IDENTITY.set((bytes(vendor_id), bytes(class_id)))
    try:
        yield
    finally:
        _IDENTITY.reset(token)


def identity_for(vendor_domain: str, class_name: str) -> tuple[bytes, bytes]:
    """The ids a vendor derives from its domain and class name (spec/protocol.md)."""
    vendor = vendor_id_for(vendor_domain)
    return vendor, class_id_for(vendor, class_name)


MAX_PAYLOAD = 16 << 20


class ScriptedNonces:
    """The Agent's nonce source on the reference device: the nonces ``provision`` scripted
    (``agent_nonces``, capability ``agent-nonces``) first, in order, then the device's own RNG.
    Why: a vector's Update echoes the nonce the stand-in device drew while the vector was made
    (protocol.md 8.3.1), so a device replaying it must draw the same one; the list is the
    device's, shared by every Agent it boots (a reboot does not replay a nonce)."""

    def __init__(self, script: list[bytes], fallback: RandomSource) -> None:
        self._script = script
        self._fallback = fallback

    def random_bytes(self, n: int) -> bytes:
        if self._script and len(self._script[0]) == n:
            return self._script.pop(0)
        return self._fallback.random_bytes(n)

    def fork(self, label: str) -> RandomSource:
        return self._fallback.fork(label)

    def with_fallback(self, fallback: RandomSource) -> ScriptedNonces:
        """The same script (shared, not copied) in front of another source: a faulty device's
        broken nonce generator stands behind the test hook, as a real one would."""
        return ScriptedNonces(self._script, fallback)


class PowerLoss(BaseException):
    """The simulated power loss: a BaseException so that no handler in the Agent (which maps
    OSError to AGENT_INSTALL_FAILED and cleans up) runs; the device simply stops."""


class PowerCutStorage(FaultyStorage):
    """Persistent storage with the ``power_cut`` edge: when armed at N, the N-th mutating
    operation (chunk written, rename, removal) does not happen and the power is lost. The
    counting is the reference's failure-injection edge; only what the fault raises differs."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner, fail_at=None, sticky=False)

    @property
    def armed_at(self) -> int | None:
        return self.fail_at

    def arm(self, at: int) -> None:
        self.fail_at = at
        self.writes = 0

    def _tick(self) -> None:
        if self.fail_at is None:
            return
        self.writes += 1
        if self.writes >= self.fail_at:
            self.fail_at = None
            raise PowerLoss(f"power lost at write {self.writes}")


def _suite_of(dak: CoseKey) -> KeySuite:
    """The key suite a provisioned DAK belongs to (P-256, X25519 with an Ed25519 DSK, or the
    post-quantum suite's AKP key)."""
    if dak.kty == KeyType.AKP:
        if not pq.available():
            raise bad_args(f"PQ test keys on a build without them: {pq.unavailable_reason()}")
        return KeySuite.PQ
    for suite in KeySuite:
        if suite.is_pq:
            continue
        if int(suite.agreement_curve) == int(dak.crv or 0):
            return suite
    raise bad_args("test DAK on a curve the device does not support")


def _bytes_list(args: dict[str, Any], name: str) -> list[bytes]:
    value = args.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, bytes) for v in value):
        raise bad_args(f"{name} must be an array of byte strings")
    return value


def _ta_key(data: bytes) -> rsa.RSAPublicKey:
    """A TA Signing Key from ``ta_keys``: DER SubjectPublicKeyInfo of an RSA key."""
    try:
        key = load_der_public_key(data)
    except (ValueError, TypeError):
        raise bad_args("ta key is not a DER SubjectPublicKeyInfo") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise bad_args("ta key is not an RSA key")
    return key


def _key(data: bytes, what: str) -> CoseKey:
    try:
        return CoseKey.decode(data)
    except EdbpError:
        raise bad_args(f"{what} is not a COSE_Key") from None


class ReferenceDevice(DeviceBackend):
    """The reference device as an adapter backend. Faulty variants subclass it and override
    one hook: ``make_agent`` (the Agent class), ``relay`` (the REE side of a delivery) or a
    request handler."""

    name = "edbp reference device"
    agent_class: type[Agent] = Agent
    tee: PowerCutStorage  # set by factory_reset, which runs first

    def __init__(self, rng: RandomSource = DEFAULT_RANDOM) -> None:
        self.rng = rng
        self.vendor_id, self.class_id = reference_identity()
        self.clock: float | None = None
        #: seconds ``advance_clock`` added to the TEE's monotonic clock (never reset: a
        #: monotonic clock does not go back, not even across a factory reset)
        self.advanced = 0.0
        self._resets = 0
        self.factory_reset(keep_keys=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.agent!r})"

    # ------------------------------------------------------------------ device lifecycle

    def factory_reset(self, keep_keys: bool) -> None:
        """Erase everything persistent; unless ``keep_keys``, new DAK, DSK and UEID."""
        kept = self.tee.inner.read(KEYS_NAME) if keep_keys and hasattr(self, "tee") else None
        self._resets += 1
        fork = self.rng.fork(f"reset/{self._resets}")
        if not keep_keys or not hasattr(self, "huk"):
            self.huk = fork.fork("huk").random_bytes(16)
        self.tee = PowerCutStorage(MemoryStorage())
        self.ree: Storage = MemoryStorage()
        if kept is not None:
            self.tee.inner.write(KEYS_NAME, [kept])
        self.anchors = TrustAnchors(tam=(), author=())
        self._agent_rng = fork.fork("agent")
        #: Agent nonces scripted by ``provision`` (``agent_nonces``), drawn first, in order
        self._scripted_nonces: list[bytes] = []
        self.boot()

    def boot(self) -> None:
        """Power on: the Agent reloads its keys and record from persistent storage; RAM state
        (open exchange, CEK) is gone."""
        self.agent = self.make_agent()

    def make_agent(self) -> Agent:
        return self.agent_class.open(
            self.tee,
            self.huk,
            vendor_id=self.vendor_id,
            class_id=self.class_id,
            anchors=self.anchors,
            suite=KeySuite.P256,
            rng=self._agent_rng,
            nonce_rng=ScriptedNonces(self._scripted_nonces, self._agent_rng.fork("agent-nonce")),
            # OP-TEE's TA-image checks only once TA Signing Keys are provisioned
            verify_ta=bool(self.anchors.ta_signers),
            clock=self.tee_clock,
        )

    def tee_clock(self) -> float:
        """The TEE's monotonic clock (OP-TEE ``TEE_GetSystemTime``), as the harness drives it."""
        return time.monotonic() + self.advanced

    # ------------------------------------------------------------------ adapter requests

    def handle(self, req: str, args: dict[str, Any], host: Host) -> Any:
        handler = getattr(self, "req_" + req, None)
        if handler is None:
            raise AdapterError(Code.ADAPTER_UNKNOWN_REQUEST, req[:64])
        return handler(args, host)

    def capabilities(self) -> tuple[str, ...]:
        return CAPABILITIES

    def _need(self, capability: str) -> None:
        if capability not in self.capabilities():
            raise AdapterError(Code.ADAPTER_CAPABILITY_MISSING, capability)

    def req_hello(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "name": self.name,
            "profiles": list(PROFILES),
            "suites": list(SUITES),
            "capabilities": list(self.capabilities()),
            "limits": {"max_message": MAX_MESSAGE, "max_payload": MAX_PAYLOAD},
        }

    def req_reset(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        self.factory_reset(keep_keys=reset_keep_keys(args, PROFILES))
        return {}

    def req_identity(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        keys = self.agent.keys
        return {
            "ueid": keys.ueid,
            "class_id": self.class_id,
            "vendor_id": self.vendor_id,
            "dak": keys.dak_public.encode(),
            "dsk": keys.dsk_public.encode(),
        }

    def req_provision(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        check_edbp_provision(args)
        try:
            return self._provision(args)
        except PowerLoss:  # armed before provision: the writes stop, the device reboots
            self.boot()
            raise AdapterError(Code.CONFORMANCE_POWER_LOST, "power lost during provision") from None

    def _provision(self, args: dict[str, Any]) -> dict[str, Any]:
        tam = [_key(k, "tam key") for k in _bytes_list(args, "tam_keys")]
        author = [_key(k, "author key") for k in _bytes_list(args, "author_keys")]
        ta_keys = _bytes_list(args, "ta_keys")
        if ta_keys:
            self._need("ta-check")
        ta_signers = [_ta_key(k) for k in ta_keys]
        test_keys = args.get("test_keys")
        floors = args.get("floors")
        if test_keys is not None or floors is not None:
            self._need("test-keys")
        nonces = args.get("agent_nonces")
        if nonces is not None:
            self._need("agent-nonces")
            self._scripted_nonces[:] = nonces
        if test_keys is not None:
            self._install_test_keys(test_keys)
        if floors is not None:
            self._preset_floors(floors)
        self.anchors = TrustAnchors(tam=tam, author=author, ta_signers=ta_signers)
        self.boot()
        return {}

    def _install_test_keys(self, test_keys: Any) -> None:
        if not isinstance(test_keys, dict):
            raise bad_args("test_keys must be a map")
        current = self.agent.keys
        dak = _key(test_keys["dak"], "dak") if "dak" in test_keys else current.agreement_key()
        dsk = (
            _key(test_keys["dsk"], "dsk")
            if "dsk" in test_keys
            else DeviceKeys.from_sealed_record(self.agent.sealed.get(KEYS_NAME))._dsk
        )
        ueid = test_keys.get("ueid", current.ueid)
        if not isinstance(ueid, bytes) or not dak.has_private or not dsk.has_private:
            raise bad_args("test keys need private parts and a byte-string ueid")
        # kids are the RFC 9679 thumbprints, as at enrol.keygen (deliveries name the DAK by it)
        dak = attrs.evolve(dak, kid=dak.thumbprint())
        dsk = attrs.evolve(dsk, kid=dsk.thumbprint())
        if (dak.kty == KeyType.AKP) != (dsk.kty == KeyType.AKP):
            raise bad_args("test DAK and DSK must belong to one suite")
        suite = _suite_of(dak)
        keys = DeviceKeys(suite=suite, ueid=ueid, dak=dak, dsk=dsk)
        self.agent.sealed.put(KEYS_NAME, keys.seal_record())

    def _preset_floors(self, floors: Any) -> None:
        if not isinstance(floors, list):
            raise bad_args("floors must be an array")
        record = self.agent.record()
        retired = dict(record.retired)
        ta_floors = dict(record.ta_floors)
        for entry in floors:
            if not isinstance(entry, dict):
                raise bad_args("floor entry must be a map")
            comp, seq = entry.get("component"), entry.get("sequence")
            if not isinstance(comp, list) or not isinstance(seq, int) or seq < 0:
                raise bad_args("floor entry needs component and sequence")
            retired[component_key(tuple(comp))] = seq
            ta_version = entry.get("ta_version", 0)
            if ta_version and len(comp) == 3:
                ta_floors[comp[2]] = ta_version
        updated = AgentRecord(dict(record.components), ta_floors, record.installs, retired)
        self.agent.sealed.put(STATE_NAME, updated.encode())

    def req_deliver(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        message = args.get("message")
        if not isinstance(message, bytes):
            raise bad_args("deliver needs message (bytes)")
        replies: list[SendMessage] = []
        try:
            self.relay(message, host, replies)
        except PowerLoss:
            self.boot()
            return self._deliver_result(replies, power_cut=True)
        self._log_internal_fault()
        return self._deliver_result(replies)

    def _log_internal_fault(self) -> None:
        """An Agent that failed closed on an internal fault says why on stderr (the harness
        attaches the device's stderr to a failed case)."""
        exc = getattr(self.agent, "last_exception", None)
        if exc is not None:
            self.agent.last_exception = None
            traceback.print_exception(exc, file=sys.stderr)

    def _deliver_result(
        self, replies: list[SendMessage], power_cut: bool = False
    ) -> dict[str, Any]:
        result: dict[str, Any] = {"replies": [r.data for r in replies]}
        codes = [r.code for r in replies if r.code is not None]
        if codes:
            result["code"] = int(codes[-1])
        if power_cut:
            result["power_cut"] = True
        return result

    def relay(self, message: bytes, host: Host, replies: list[SendMessage]) -> None:
        """The REE side (the Broker's job): hand the message to the Agent, serve its payload
        fetches through the harness, collect what it sends back."""
        outputs: list[Any] = self.agent.receive(MessageReceived(message))
        while outputs:
            output = outputs.pop(0)
            if isinstance(output, SendMessage):
                replies.append(output)
            elif isinstance(output, FetchPayload):
                outputs.extend(self.agent.receive(self.fetch(output, host)))

    def fetch(self, request: FetchPayload, host: Host) -> PayloadFetched | FetchFailed:
        """``deploy.fetch``: the ciphertext, through the harness, into REE storage."""
        try:
            payload = host.fetch(request.uri)
        except EdbpError as exc:
            return FetchFailed(exc.detail[:100])
        if len(payload) > MAX_PAYLOAD:
            return FetchFailed("payload larger than max_payload")
        name = f"broker/payloads/{request.digest.hex()}.bin"
        self.ree.write(name, [payload])
        return PayloadFetched(BrokerPayload(self.ree, name))

    def req_state(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        record = self.agent.record()
        components = []
        floors = []
        for comp in record.components.values():
            components.append(
                {
                    "component": list(comp.component_id),
                    "sequence": comp.current.sequence,
                    "ta_version": comp.current.ta_version or 0,
                    "digest": SuitDigest(-16, comp.current.digest).to_cbor(),
                    # computed over the image read back from TEE storage, not the record
                    "image_digest": hashlib.sha256(
                        self.agent.installed_image(comp.component_id)
                    ).digest(),
                }
            )
            floors.append(self._floor_entry(list(comp.component_id), comp.floor, record))
        for key, floor in record.retired.items():
            if key not in record.components:
                component = list(loads(bytes.fromhex(key)))
                floors.append(self._floor_entry(component, floor, record))
        return {"agent_state": self.agent.state.value, "components": components, "floors": floors}

    @staticmethod
    def _floor_entry(component: list[bytes], seq: int, record: AgentRecord) -> dict[str, Any]:
        ta = record.ta_floors.get(component[2], 0) if len(component) == 3 else 0
        return {"component": component, "sequence": seq, "ta_version": ta}

    def req_power_cut(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        self._need("power-cut")
        at = args.get("at")
        if not isinstance(at, int) or isinstance(at, bool) or at < 1:
            raise bad_args("power_cut needs at >= 1")
        self.tee.arm(at)
        return {}

    def req_set_clock(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        self._need("clock")
        t = args.get("time")
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            raise bad_args("set_clock needs time (POSIX seconds)")
        self.clock = float(t)
        return {}

    def req_advance_clock(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        self._need("monotonic-clock")
        s = args.get("seconds")
        if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= MAX_ADVANCE:
            raise bad_args("advance_clock needs seconds (0 to one year)")
        self.advanced += s
        return {}

    def now(self) -> float:
        return self.clock if self.clock is not None else time.time()

    def req_cpm(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        self._need("cpm")
        raise AdapterError(Code.ADAPTER_CAPABILITY_MISSING, "cpm")


class VendorBoard(ReferenceDevice):
    """The reference device standing in for a vendor's production board (``builtin,keys=own``):
    its DAK, DSK and UEID are made inside it (``enrol.keygen``; a ``reset`` without
    ``keep_keys`` makes new ones, as spec/adapter.md says) and never leave it; it has no
    ``test-keys`` (its keys cannot be replaced, floors cannot be preset), and declares the
    suites its own P-256 keys run. The suite meets such a board by re-deriving every vector
    flow for its keys (issue 14 §1, ``edbp.vectorgen.rederive``)."""

    name = "edbp reference device (vendor board with its own keys)"

    def capabilities(self) -> tuple[str, ...]:
        return tuple(c for c in CAPABILITIES if c != "test-keys")

    def req_hello(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        hello = super().req_hello(args, host)
        hello["suites"] = [s for s in SUITES if "esp256" in s]
        return hello


def make_backend(fault: str | None = None, own_keys: bool = False) -> DeviceBackend:
    """The reference device, or its seeded faulty variant ``fault`` (edbp.conformance.faults);
    ``own_keys``: the reference device as a vendor board keeping its own keys (``VendorBoard``)."""
    if own_keys:
        if fault is not None:
            raise AdapterError(
                Code.CONFORMANCE_CONFIG, "keys=own runs the reference device, not a fault"
            )
        return VendorBoard()
    if fault is None:
        return ReferenceDevice()
    from edbp.conformance.faults import check_fault

    found = check_fault(fault)
    assert found is not None  # a name was given
    return found.make()
