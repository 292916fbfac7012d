"""The reference roles wired for vector generation: in-memory vault and registry, a TAM, an
Author, test devices, all drawn from one seeded stream, plus helpers that shape what they
produce into vector steps.

Why in memory: the vault and registry backends' files are edges, not vector content; keeping
them in memory keeps generation fast and free of temporary folders. The vault here is a real
KeyVault (A256KW under AES-256 class keys, RFC 3394), so the class-key wrap in the vectors is
the one the software and PKCS#11 backends produce for the same key.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import attrs
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from edbp.conformance.harness.cloud import MemoryRegistry
from edbp.conformance.reference_device import reference_identity
from edbp.errors import Code, DecryptionFailed, EdbpError
from edbp.reference.build.author import Author, Published
from edbp.reference.cloud.device_registry import DeviceRegistry
from edbp.reference.cloud.endorsement import Endorsement, sign_endorsement
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.cloud.tam import Intent, Tam
from edbp.reference.device.install import component_key
from edbp.reference.device.keys import DeviceKeys, KeySuite
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, teep
from edbp.reference.wire.cose_algs import Alg, Curve
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_commands import CommandSequence
from edbp.vectorgen.format import Step, TestCase, error, message
from edbp.vectorgen.replay import DeviceTarget, ReferenceTarget, device_state_view

__all__ = [
    "SUITES",
    "DeviceHandle",
    "Kit",
    "LiveDevice",
    "MemoryVault",
    "PublicDeviceKeys",
    "Suite",
    "live_device",
]

#: The CDDL rule every honest TEEP message names.
TEEP_RULE = "messages.cddl#edbp-teep-message-signed"
AUTO = "auto"


def teep_rule(data: bytes) -> str | None:
    """The rule an honest TEEP message names (see ``TEEP_RULE``); None for bytes that are not
    a TEEP message at all."""
    try:
        teep.peek(data)
    except EdbpError:
        return None
    return TEEP_RULE


TA_UUID = bytes.fromhex("8aaaf200245011e4abe20002a5d5c51b")


@attrs.frozen
class Suite:
    """One algorithm suite of the profile as the vectors name it."""

    name: str
    keys: KeySuite
    content_alg: Alg
    profile: tuple[int, int, int, int]

    @property
    def sig_alg(self) -> Alg:
        return self.keys.signing_alg

    @property
    def sig_curve(self) -> Curve:
        return self.keys.signing_curve


SUITES = (
    Suite("esp256-a128gcm", KeySuite.P256, Alg.A128GCM, (-16, -9, -29, 1)),
    Suite("ed25519-a128gcm", KeySuite.X25519, Alg.A128GCM, (-16, -19, -29, 1)),
    Suite("esp256-a128ctr", KeySuite.P256, Alg.A128CTR, (-16, -9, -29, -65534)),
)


class MemoryVault(KeyVault):
    """Class keys in memory (test material: the generator publishes them as intermediates)."""

    backend = "memory"

    def __init__(self, rng: SeededRandom) -> None:
        self._rng = rng
        self._keys: dict[tuple[str, int], bytes] = {}

    def __repr__(self) -> str:
        return f"MemoryVault(keys={len(self._keys)})"

    def versions(self, key_id: str) -> tuple[int, ...]:
        return tuple(sorted(v for k, v in self._keys if k == key_id))

    def _generate(self, key_id: str, version: int) -> None:
        self._keys[(key_id, version)] = self._rng.fork(f"{key_id}#{version}").random_bytes(32)

    def _wrap(self, key_id: str, version: int, cek: bytes | bytearray) -> bytes:
        return aes_key_wrap(self._keys[(key_id, version)], bytes(cek))

    def _unwrap_into(self, key_id: str, version: int, wrapped: bytes) -> bytearray:
        try:
            return bytearray(aes_key_unwrap(self._keys[(key_id, version)], wrapped))
        except (InvalidUnwrap, KeyError):
            raise DecryptionFailed(Code.KEYVAULT_UNWRAP_FAILED) from None

    def _destroy(self, key_id: str, versions: tuple[int, ...]) -> None:
        for v in versions:
            self._keys.pop((key_id, v), None)

    def class_key(self, key_id: str, version: int | None = None) -> bytes:
        """The class key itself (test material only: real vaults have no such method)."""
        return self._keys[(key_id, version or self.current_version(key_id))]


@attrs.frozen
class PublicDeviceKeys:
    """A device's identity as it reports it (``identity``): UEID and the public halves of its
    DAK and DSK. Enough for a TAM to verify its evidence and wrap CEKs to it; no private part,
    so a vector made for it carries no ``testKeys`` and only the device itself can run it."""

    ueid: bytes
    dak_public: CoseKey
    dsk_public: CoseKey


@attrs.frozen
class LiveDevice:
    """A device under test standing in, during a re-derivation, for the kit's test device whose
    (seeded, stand-in) UEID is ``stand_in``: the kit enrols the device's public keys instead,
    and ``target()`` (a fresh connection to the device, reset and provisioned by the kit) plays
    that device's part of each flow. Why: a board's keys never leave it, so the flow's
    messages can only be made for it by running the flow with it (its evidence, its DAK)."""

    stand_in: bytes
    keys: PublicDeviceKeys
    target: Callable[[], DeviceTarget] = attrs.field(eq=False, repr=False)


_LIVE: ContextVar[LiveDevice | None] = ContextVar("edbp_live_device", default=None)


@contextlib.contextmanager
def live_device(device: LiveDevice) -> Iterator[None]:
    """Within the block, kits made for vector generation use ``device`` (see ``LiveDevice``)."""
    token = _LIVE.set(device)
    try:
        yield
    finally:
        _LIVE.reset(token)


def live() -> LiveDevice | None:
    """The device standing in for a test device of the flows being generated, if any."""
    return _LIVE.get()


def image_for(sequence: int, size: int = 700, label: str = "") -> bytes:
    """A deterministic opaque payload per sequence (the adapter's devices take opaque images)."""
    head = b"edbp vector image%s #%d\n" % (label.encode(), sequence)
    return (head * (size // len(head) + 1))[:size]


@attrs.define
class DeviceHandle:
    """A test device: its keys (test material), identity and the vector's starting state."""

    label: str
    keys: DeviceKeys | PublicDeviceKeys
    vendor_id: bytes
    class_id: bytes
    endorsement: bytes

    @property
    def ueid(self) -> bytes:
        return self.keys.ueid

    def state(
        self,
        kit: Kit,
        floors: dict[tuple[bytes, ...], int] | None = None,
        tam_keys: list[CoseKey] | None = None,
    ) -> dict[str, Any]:
        """The ``device`` starting state of a vector (spec/vectors.md)."""
        tam = tam_keys if tam_keys is not None else [kit.tsk.public()]
        # a live device keeps its own keys: its vectors carry none (``reset`` keeps them)
        test_keys = (
            {
                "testKeys": {
                    "dak": self.keys.agreement_key().encode().hex(),
                    "dsk": self.keys._dsk.encode().hex(),
                }
            }
            if isinstance(self.keys, DeviceKeys)
            else {}
        )
        return {
            "profile": "edbp",
            "suite": kit.suite.name,
            "ueid": self.ueid.hex(),
            "vendorId": self.vendor_id.hex(),
            "classId": self.class_id.hex(),
            **test_keys,
            "trustAnchors": {
                "tam": [k.encode().hex() for k in tam],
                "author": [kit.ask.public().encode().hex()],
            },
            "floors": [
                {"component": [c.hex() for c in comp], "sequence": seq}
                for comp, seq in sorted((floors or {}).items())
            ],
            "agentNonces": [n.hex() for n in agent_nonces(kit, self.label)],
        }


#: Agent nonces scripted per test device while a flow is generated: more than any flow's
#: accepted QueryRequests on one device
AGENT_NONCES = 16


def agent_nonces(kit: Kit, label: str) -> list[bytes]:
    """The Agent nonces test device ``label`` draws, in order, for the QueryRequests it
    accepts while its flows are generated (adapter capability ``agent-nonces``), so that the
    Updates a flow records are the same bytes on every run. A function of the label only:
    each flow's target starts from the same list. A test's own ``agentNonces`` are then made
    by ``Kit.with_agent_nonces`` from what its steps need."""
    rng = kit.rng.fork(f"agent-nonces/{label}")
    return [rng.random_bytes(16) for _ in range(AGENT_NONCES)]


class _Recorder:
    """A generation target that notes the Agent nonce of each QueryResponse its device sends:
    ``Kit.drawn[(ueid, QueryRequest bytes)]``, in delivery order."""

    def __init__(self, target: DeviceTarget, ueid: bytes, drawn: dict[Any, list[bytes]]) -> None:
        self.target = target
        self.ueid = ueid
        self.drawn = drawn

    def call(self, req: str, args: dict[str, Any], fetch: Any = None) -> Any:
        result = self.target.call(req, args, fetch)
        if req == "deliver" and isinstance(result, dict):
            for reply in result.get("replies", []):
                try:
                    msg = teep.peek(bytes(reply))
                except EdbpError:
                    continue
                if isinstance(msg, teep.QueryResponse) and msg.agent_nonce is not None:
                    key = (self.ueid, bytes(args["message"]))
                    self.drawn.setdefault(key, []).append(msg.agent_nonce)
        return result


class Kit:
    """Vendor cloud + test devices for one suite, everything from ``rng``."""

    def __init__(self, rng: SeededRandom, suite: Suite) -> None:
        self.rng = rng
        self.suite = suite
        self.vault = MemoryVault(rng.fork("vault"))
        self.registry = MemoryRegistry()

        def key(label: str, curve: Curve | None = None) -> CoseKey:
            if suite.keys.is_pq and curve is None:  # edbp-pq: every signing key ML-DSA-65
                k = CoseKey.generate_akp(Alg.ML_DSA_65, rng.fork(label))
            else:
                k = CoseKey.generate(curve or suite.sig_curve, rng.fork(label))
            return attrs.evolve(k, kid=k.thumbprint())

        self.ask = key("ask")
        self.tsk = key("tsk")
        self.tsk_rotated = key("tsk-rotated")
        self.rogue_ask = key("rogue-ask")
        self.rogue_tsk = key("rogue-tsk")
        # the MRK's suite is the devices' (protocol.md 4.1 rule 1: PQ keys need a PQ MRK)
        self.mrk = key("mrk", None if suite.keys.is_pq else Curve.P256)
        # the reference ids, or a vendor's own while its vectors are re-derived
        self.vendor_id, self.class_id = reference_identity()
        self.author = Author(self.vault, self.registry, self.ask, suite.sig_alg, rng.fork("author"))
        self.rogue_author = Author(
            self.vault, self.registry, self.rogue_ask, suite.sig_alg, rng.fork("rogue-author")
        )
        self.tam_author = Author(
            self.vault, self.registry, self.tsk, suite.sig_alg, rng.fork("tam-author")
        )
        self.tam = self.new_tam(self.tsk, "tam")
        #: (UEID, QueryRequest bytes) -> the Agent nonces drawn for it while generating
        self.drawn: dict[tuple[bytes, bytes], list[bytes]] = {}
        self.devices: dict[str, DeviceHandle] = {}
        #: every package published, with its label ("" for the honest packages of the class)
        self.published: list[tuple[str, Published]] = []

    def new_tam(self, tsk: CoseKey, label: str) -> Tam:
        pq = self.suite.keys.is_pq  # the TAM serves PQ devices with its ML-DSA TSK and MRK
        return Tam(
            DeviceRegistry(":memory:", clock=lambda: 0),
            self.vault,
            tsk,
            self.mrk.public(),
            [self.ask.public()],
            self.suite.sig_alg,
            self.rng.fork(label),
            clock=lambda: 0.0,
            pq_tsk=tsk if pq else None,
            pq_mrk_public=self.mrk.public() if pq else None,
        )

    # ------------------------------------------------------------------ enrol, publish

    def device(
        self,
        label: str,
        *,
        class_id: bytes | None = None,
        vendor_id: bytes | None = None,
        tams: tuple[Tam, ...] | None = None,
    ) -> DeviceHandle:
        """``enrol.keygen`` (test keys), ``enrol.endorse`` (MRK) and ``enrol.register``."""
        if label in self.devices:
            return self.devices[label]
        keys: DeviceKeys | PublicDeviceKeys = DeviceKeys.generate(
            self.suite.keys, self.rng.fork(f"device/{label}")
        )
        device = live()
        if device is not None and keys.ueid == device.stand_in:
            keys = device.keys  # the device under test plays this one
        vendor = vendor_id or self.vendor_id
        cls = class_id or self.class_id
        body = Endorsement(
            ueid=keys.ueid, class_id=cls, vendor_id=vendor, dak=keys.dak_public, dsk=keys.dsk_public
        )
        mrk_alg = Alg.ML_DSA_65 if self.suite.keys.is_pq else Alg.ESP256
        endorsement = sign_endorsement(body, self.mrk, mrk_alg)
        for tam in tams or (self.tam,):
            tam.enrol(endorsement)
        handle = DeviceHandle(label, keys, vendor, cls, endorsement)
        self.devices[label] = handle
        return handle

    def class_key_id(self, class_id: bytes) -> str:
        return "class-" + class_id.hex()

    def publish(
        self,
        sequence: int,
        *,
        class_id: bytes | None = None,
        vendor_id: bytes | None = None,
        rogue: bool | str = False,
        add_to: tuple[Tam, ...] | None = None,
        label: str = "",
        content_alg: Alg | None = None,
        uninstall: CommandSequence | None = None,
    ) -> Published:
        cls = class_id or self.class_id
        vendor = vendor_id or self.vendor_id
        key_id = self.class_key_id(cls)
        if not self.vault.exists(key_id):
            self.vault.create_class_key(key_id)
        author = {False: self.author, True: self.rogue_author, "tam": self.tam_author}[rogue]
        published = author.publish(
            image_for(sequence, label=label),
            ta_uuid=TA_UUID,
            sequence=sequence,
            vendor_id=vendor,
            class_id=cls,
            class_key_id=key_id,
            repository="vectors/"
            + ("ta" if rogue is False else "rogue")
            + (f"-{label}" if label else ""),
            content_alg=content_alg or self.suite.content_alg,
            uninstall=uninstall,
        )
        if not rogue:
            for tam in add_to if add_to is not None else (self.tam,):
                tam.add_package(published.envelope)
        self.published.append((label, published))
        return published

    def honest_package(self, sequence: int) -> Published:
        """The first unlabelled package published with ``sequence``."""
        for label, published in self.published:
            if not label and published.package.sequence == sequence:
                return published
        raise KeyError(sequence)

    def payload(self, published: Published) -> tuple[str, bytes]:
        return published.package.uri, self.registry.payload(published.package.uri)

    def cek(self, published: Published) -> bytes:
        out: bytes = self.vault.rewrap(published.package.wrapped_cek, lambda c: bytes(c))
        return out

    # ------------------------------------------------------------------ live sessions

    def target(self, state: dict[str, Any]) -> DeviceTarget:
        """A reference device set up from a vector's starting state (used while generating);
        the live device instead when the state is the one it plays (``LiveDevice``)."""
        from edbp.vectorgen.replay import _setup_device

        device = live()
        target: DeviceTarget
        if device is not None and state.get("ueid") == device.keys.ueid.hex():
            target = device.target()
        else:
            target = ReferenceTarget()
        _setup_device(target, state)
        return _Recorder(target, bytes.fromhex(state["ueid"]), self.drawn)

    def nonce_for(self, handle: DeviceHandle, query_request: bytes) -> bytes:
        """The Agent nonce of ``handle``'s exchange opened by ``query_request`` (its first
        delivery), for an Update made by hand: the one drawn while generating or, when the flow
        never delivered it, a fresh value recorded as drawn (``with_agent_nonces`` then
        scripts it for the tests that deliver it)."""
        drawn = self.drawn.setdefault((handle.ueid, query_request), [])
        if not drawn:
            drawn.append(self._fresh_nonce(handle.ueid, query_request, 0))
        return drawn[0]

    def _fresh_nonce(self, ueid: bytes, query_request: bytes, k: int) -> bytes:
        digest = hashlib.sha256(query_request).hexdigest()
        return self.rng.fork(f"agent-nonce/{ueid.hex()}/{digest}/{k}").random_bytes(16)

    def with_agent_nonces(self, tests: Iterator[TestCase] | tuple[TestCase, ...] | list[TestCase]
                          ) -> list[TestCase]:
        """Each test with the ``agentNonces`` its steps need (spec/vectors.md): for the k-th
        accepted delivery of a QueryRequest in the test, the nonce the device drew at the k-th
        delivery of the same bytes while the flow was generated, so that an Update made in that
        exchange echoes it; a delivery with no such counterpart (a replay the generator never
        made) gets a fresh value. Why per test: a test replays from ``reset``, and its
        QueryRequests are not always the first its device accepted while generating."""
        out = []
        for test in tests:
            device = test.device
            if not device or "agentNonces" not in device:
                out.append(test)
                continue
            ueid = bytes.fromhex(device["ueid"])
            seen: dict[bytes, int] = {}
            nonces: list[bytes] = []
            for step in test.steps:
                expect = step.expect
                if step.op != "agent.deliver" or expect.get("result") != "ok" or expect.get(
                    "replies"
                ) != ["QueryResponse"]:
                    continue
                data = bytes.fromhex(step.input["message"]["cbor"])
                k = seen.get(data, 0)
                seen[data] = k + 1
                drawn = self.drawn.get((ueid, data), [])
                nonces.append(drawn[k] if k < len(drawn) else self._fresh_nonce(ueid, data, k))
            state = {k: v for k, v in device.items() if k != "agentNonces"}
            if nonces:
                state["agentNonces"] = [n.hex() for n in nonces]
            out.append(attrs.evolve(test, device=state))
        return out


def deliver(
    target: DeviceTarget, data: bytes, payloads: dict[str, bytes] | None = None
) -> list[bytes]:
    """Deliver to a live reference device during generation; its replies."""
    pay = payloads or {}

    def fetch(uri: str) -> bytes:
        if uri not in pay:
            from edbp.errors import AdapterError

            raise AdapterError(Code.AGENT_PAYLOAD_FETCH_FAILED, "no payload")
        return pay[uri]

    result = target.call("deliver", {"message": data}, fetch)
    return list(result["replies"])


def open_session(
    kit: Kit, tam: Tam, handle: DeviceHandle, target: DeviceTarget, intent: Intent
) -> tuple[bytes, bytes, bytes | None]:
    """TAM ``begin`` → device QueryResponse → TAM: (QueryRequest, QueryResponse, Update)."""
    qr = tam.begin(handle.ueid, intent).send
    assert qr is not None
    replies = deliver(target, qr)
    response = replies[0]
    out = tam.receive(response)
    return qr, response, out.send


def deliver_step(
    data: bytes,
    expect: dict[str, Any],
    payloads: dict[str, bytes] | None = None,
    state_after: dict[str, Any] | None = None,
    rule: str | None = AUTO,
) -> Step:
    """One ``agent.deliver`` step. ``rule``: AUTO for honest bytes (the TEEP rule), None for
    bytes broken on purpose."""
    inp: dict[str, Any] = {"message": message(data, teep_rule(data) if rule == AUTO else rule)}
    if payloads:
        inp["payloads"] = {uri: p.hex() for uri, p in payloads.items()}
    return Step("agent.deliver", inp, expect, state_after)


def ok(*replies: str) -> dict[str, Any]:
    return {"result": "ok", "replies": list(replies), "checks": "ok"}


def refused(code: Code) -> dict[str, Any]:
    return {**error(code), "replies": ["Error"], "checks": "ok"}


def state_after(
    agent_state: str,
    installed: dict[tuple[bytes, ...], int] | None = None,
    floors: dict[tuple[bytes, ...], int] | None = None,
) -> dict[str, Any]:
    """The ``stateAfter`` view (see ``replay.device_state_view``)."""
    installed = installed or {}
    floors = dict(floors or {})
    for comp, seq in installed.items():
        floors[comp] = max(seq, floors.get(comp, 0))
    return device_state_view(
        {
            "agent_state": agent_state,
            "components": [{"component": list(c), "sequence": s} for c, s in installed.items()],
            "floors": [{"component": list(c), "sequence": s} for c, s in floors.items()],
        }
    )


def component_hex(component: tuple[bytes, ...]) -> str:
    return component_key(component) if component else cbor.dumps([]).hex()
