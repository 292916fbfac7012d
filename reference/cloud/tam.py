"""The TAM core: a sans-I/O state machine per device session, with an explicit transition table.

Why sans-I/O: the TAM's protocol logic (which message is acceptable when, what is checked,
what is sent back) must be the same whether messages arrive over HTTP, the device adapter or a
test; so the core takes bytes in and returns bytes out, and its edges are passed in: the
``DeviceRegistry`` (storage, audit), the ``KeyVault`` (CEK re-wrap) and a ``RandomSource``.

States (docs/VOCABULARY.md): ``NO_SESSION`` → ``CHALLENGED`` (QueryRequest sent, challenge
outstanding) → ``UPDATE_SENT`` → ``NO_SESSION`` (Success/Error recorded). Revoked devices
never leave ``NO_SESSION``. The table ``TRANSITIONS`` below is the whole of the machine; any
(state, input) pair not in it is refused with TAM_UNEXPECTED_MESSAGE.

Refusals and sessions (spec/protocol.md 10.2): a message is first matched to a session by its
TEEP token (an Error without a token, by whose DSK verifies it), then its signature is checked
under the device's endorsed DSK. A message that does not verify is refused with
TEEP_BAD_SIGNATURE *without* touching the session: an attacker who can inject bytes must not
be able to end a device's session (the spec's T4 lists 406 among the refusals that close a
CHALLENGED session; this implementation keeps it open, see the report). A verified
QueryResponse that fails a check of 8.3 step 3 ends the session (T4, fail closed, P10); a
verified Success whose report does not check is recorded and ignored (T8); a verified message
the table has no row for is recorded and leaves the state as it was (T10). Every refusal is
an audit entry with its code.

Evidence checks at ``deploy.verify_evidence`` (P3, P13), in the spec's order: the EAT is
signed by the device's DSK (EAT_BAD_SIGNATURE) and carries the required claims
(EAT_MISSING_CLAIM); it names the session's device (EAT_UNKNOWN_DEVICE); ``eat_nonce`` is the
outstanding challenge (EAT_NONCE_MISMATCH) issued at most ``SESSION_LIFETIME`` seconds ago
(EAT_STALE); ``cnf``, ``oemid`` and ``hwmodel`` are the endorsed DAK, vendor and class, and the
stored endorsement still verifies under the MRK (EAT_ENDORSEMENT_INVALID); the device is
active (TAM_DEVICE_REVOKED); its class and vendor are the package's (TAM_CLASS_MISMATCH).

Durability: each step's audit entry is committed before the call that took the step returns.
A caller serving many sessions at once may run a round of calls inside
``registry.group_commit()`` (one fsync for the round) and then must hold the round's outputs
until the block exits; ``Fleet`` does so. Per session the TAM reads the device row afresh
(revocation is seen at once) but remembers decoded keys and verified endorsements by their
bytes, so that repeated decoding and signature checks of unchanged data are not paid again.
"""

from __future__ import annotations

import enum
import hmac
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs
from edbp.reference.build.package import AuthorPackage, read_author_envelope, ta_component
from edbp.reference.cloud.delivery import Delivery, build_delivery
from edbp.reference.cloud.device_registry import DeviceRecord, DeviceRegistry
from edbp.reference.cloud.endorsement import Endorsement, signature_alg, verify_endorsement
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource
from edbp.reference.wire import eat, suit, teep
from edbp.reference.wire.cbor import dumps, loads
from edbp.reference.wire.cose_algs import Alg, KeyType
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_core import ComponentId
from edbp.reference.wire.suit_crypto import verify_report
from edbp.reference.wire.suit_envelope import Envelope

from edbp.errors import Code, EdbpError, ProtocolError, TeepErr, VerificationError

__all__ = [
    "TRANSITIONS",
    "Input",
    "Intent",
    "Tam",
    "TamOutput",
    "TamState",
]

TOKEN_BYTES = 16
CHALLENGE_BYTES = 32
CF_CBOR = 60
#: seconds a session may wait for its next message (spec/protocol.md 10.2, T5 and T11)
SESSION_LIFETIME = 300.0
#: evidence refusals kept with the EAT layer's own code
_EAT_CODES = frozenset(
    {Code.EAT_MALFORMED, Code.EAT_BAD_SIGNATURE, Code.EAT_MISSING_CLAIM, Code.EAT_NONCE_MISMATCH}
)
#: refusals about the device's standing or the package (the others are verification failures)
_PROTOCOL_CODES = frozenset(
    {
        Code.TAM_DEVICE_REVOKED,
        Code.TAM_CLASS_MISMATCH,
        Code.TAM_UNKNOWN_DEVICE,
        Code.TAM_NO_SUCH_PACKAGE,
        Code.TAM_UNEXPECTED_MESSAGE,
    }
)


#: verified endorsements the TAM remembers (one per device it serves; cleared when full)
_ENDORSEMENT_MEMO = 1 << 16


class TamState(enum.Enum):
    NO_SESSION = "NO_SESSION"
    CHALLENGED = "CHALLENGED"
    UPDATE_SENT = "UPDATE_SENT"


class Input(enum.Enum):
    """What can happen to a session: the operator starts one, or a TEEP message arrives."""

    BEGIN = "begin"
    QUERY_RESPONSE = "QueryResponse"
    SUCCESS = "Success"
    ERROR = "Error"


@attrs.frozen
class Transition:
    next_state: TamState
    step: str
    output: str


#: The TAM's transition table: (state, input) → next state, spec step, what is sent.
#: "CHALLENGED + QueryResponse" leads to NO_SESSION instead when the device already runs the
#: package's version or newer (nothing to send), or when the evidence is refused.
TRANSITIONS: dict[tuple[TamState, Input], Transition] = {
    (TamState.NO_SESSION, Input.BEGIN): Transition(
        TamState.CHALLENGED, "deploy.query_request", "QueryRequest"
    ),
    (TamState.CHALLENGED, Input.BEGIN): Transition(
        TamState.CHALLENGED, "deploy.query_request", "QueryRequest"
    ),
    (TamState.UPDATE_SENT, Input.BEGIN): Transition(
        TamState.CHALLENGED, "deploy.query_request", "QueryRequest"
    ),
    (TamState.CHALLENGED, Input.QUERY_RESPONSE): Transition(
        TamState.UPDATE_SENT, "deploy.update", "Update"
    ),
    (TamState.CHALLENGED, Input.ERROR): Transition(TamState.NO_SESSION, "deploy.record", "-"),
    (TamState.UPDATE_SENT, Input.SUCCESS): Transition(TamState.NO_SESSION, "deploy.record", "-"),
    (TamState.UPDATE_SENT, Input.ERROR): Transition(TamState.NO_SESSION, "deploy.record", "-"),
}

_INPUT_FOR = {
    teep.QueryResponse: Input.QUERY_RESPONSE,
    teep.Success: Input.SUCCESS,
    teep.Error: Input.ERROR,
}


@attrs.frozen
class Intent:
    """Why a session is opened: deploy a package version, or uninstall a component."""

    package: tuple[bytes, int] | None = None  # (ta-uuid, sequence)
    uninstall: ComponentId | None = None


@attrs.define
class _Session:
    ueid: bytes
    token: bytes
    challenge: bytes = attrs.field(repr=False)
    intent: Intent
    issued_at: float = 0.0
    state: TamState = TamState.CHALLENGED
    delivery: Delivery | None = None
    sent_at: float | None = None  # when the Update went out (T11 counts L_u from here)
    #: the Agent nonce of the verified QueryResponse, echoed in every Update (8.3.1, P-9.7c)
    agent_nonce: bytes | None = None


@attrs.frozen
class TamOutput:
    """What one input produced: the state after it, the step taken, the message to send."""

    state: TamState
    step: str
    send: bytes | None = attrs.field(default=None, repr=False)
    ueid: bytes | None = None
    detail: str = ""


def _input_of(msg: teep.TeepMessage) -> Input:
    for cls, inp in _INPUT_FOR.items():
        if isinstance(msg, cls):
            return inp
    raise ProtocolError(Code.TAM_UNEXPECTED_MESSAGE, f"{type(msg).__name__} is never sent to a TAM")


class Tam:
    """One TAM: trusted Author keys, the MRK, its TSK, and its edges (registry, vault, rng)."""

    def __init__(
        self,
        registry: DeviceRegistry,
        vault: KeyVault,
        tsk: CoseKey,
        mrk_public: CoseKey,
        author_keys: Iterable[CoseKey],
        tsk_alg: Alg = Alg.ESP256,
        rng: RandomSource = DEFAULT_RANDOM,
        clock: Callable[[], float] = time.monotonic,
        *,
        pq_tsk: CoseKey | None = None,
        pq_mrk_public: CoseKey | None = None,
    ) -> None:
        self.registry = registry
        self._clock = clock
        self.vault = vault
        self._tsk = tsk
        self._tsk_alg = tsk_alg
        self._mrk = mrk_public
        # the post-quantum suite (spec/protocol.md section 4.1): an ML-DSA-65 TSK for the
        # devices endorsed with PQ keys, and the ML-DSA-65 MRK that endorses them
        if pq_tsk is not None:
            from edbp.reference.wire import pq

            pq.require()  # COSE_PQ_UNAVAILABLE on a build without ML-DSA / ML-KEM
            pq_tsk.check_alg(Alg.ML_DSA_65)
        self._pq_tsk = pq_tsk
        self._pq_mrk = pq_mrk_public.public() if pq_mrk_public is not None else None
        self._author_keys = [k.public() for k in author_keys]
        self._rng = rng
        self._sessions: dict[bytes, _Session] = {}  # token -> session
        self._by_device: dict[bytes, bytes] = {}  # ueid -> token
        self._packages: dict[tuple[bytes, int], AuthorPackage] = {}
        self._counter = 0
        self._endorsed: dict[bytes, Endorsement] = {}  # endorsement bytes -> verified body

    def __repr__(self) -> str:
        return f"Tam(devices={len(self.registry.devices())}, packages={len(self._packages)})"

    @property
    def tsk_public(self) -> CoseKey:
        return self._tsk.public()

    # ------------------------------------------------------------------ enrolment, packages

    def enrol(self, endorsement: bytes) -> DeviceRecord:
        """``enrol.register``: verify the Manufacturer's endorsement, record the device."""
        body: Endorsement = self._verify_endorsement(endorsement)
        return self.registry.register(body, endorsement)

    def add_package(self, envelope: bytes) -> AuthorPackage:
        """Accept an author envelope from the registry after verifying it under a trusted ASK
        (the TAM never forwards a package it could not authenticate, P5)."""
        package = read_author_envelope(envelope, self._author_keys)
        key = (package.ta_uuid, package.sequence)
        self._packages[key] = package
        self.registry.record(
            "publish.push",
            None,
            dumps(
                {
                    1: list(package.component_id),
                    2: package.sequence,
                    3: package.class_id,
                    4: envelope,
                    5: package.uri,
                    6: package.ciphertext_digest.to_cbor(),
                    7: package.ciphertext_size,
                }
            ),
        )
        return package

    def package(self, ta_uuid: bytes, sequence: int) -> AuthorPackage:
        try:
            return self._packages[(ta_uuid, sequence)]
        except KeyError:
            raise ProtocolError(
                Code.TAM_NO_SUCH_PACKAGE, f"no package {ta_uuid.hex()} #{sequence}"
            ) from None

    # ------------------------------------------------------------------ lifecycle

    def revoke(self, ueid: bytes) -> DeviceRecord:
        """``revoke.device``: no new delivery reaches the device (P13); open sessions die."""
        record = self.registry.revoke(ueid)
        self._by_device.pop(record.ueid, None)
        for token in [t for t, x in self._sessions.items() if x.ueid == record.ueid]:
            del self._sessions[token]  # the current session and any held one (8.3.1)
        return record

    def retire_class_key_versions(self, key_id: str) -> tuple[int, ...]:
        """``rotate.class_key`` step 3: destroy every version of ``key_id`` that is not current
        and that no package the TAM holds refers to (after ``Author.rewrap`` moved them)."""
        current = self.vault.current_version(key_id)
        used = {
            p.wrapped_cek.version for p in self._packages.values() if p.wrapped_cek.key_id == key_id
        }
        retired = tuple(v for v in self.vault.versions(key_id) if v != current and v not in used)
        for version in retired:
            self.vault.delete(key_id, version)
        if retired:
            self.registry.record("rotate.class_key", None, dumps({1: key_id, 3: list(retired)}))
        return retired

    def rotate_class_key(self, key_id: str) -> int:
        """``rotate.class_key`` step 1: a fresh class-key version, current from now on. Older
        versions stay until ``retire_class_key_versions`` (after the Author re-wrapped the
        packages that use them with ``Author.rewrap`` and the TAM took the new envelopes)."""
        version = self.vault.rotate(key_id)
        self.registry.record("rotate.class_key", None, dumps({1: key_id, 2: version}))
        return version

    # ------------------------------------------------------------------ sessions

    def state(self, ueid: bytes) -> TamState:
        token = self._by_device.get(ueid)
        return TamState.NO_SESSION if token is None else self._sessions[token].state

    def _transition(self, state: TamState, inp: Input) -> Transition:
        t = TRANSITIONS.get((state, inp))
        if t is None:
            raise ProtocolError(Code.TAM_UNEXPECTED_MESSAGE, f"{inp.value} in state {state.value}")
        return t

    def _close(self, session: _Session) -> None:
        self._sessions.pop(session.token, None)
        if self._by_device.get(session.ueid) == session.token:
            del self._by_device[session.ueid]

    def _verify_endorsement(self, endorsement: bytes) -> Endorsement:
        """The endorsement under the MRK of its signature's suite (an ML-DSA-65 signature is
        checked against the PQ MRK, anything else against the classical one)."""
        mrk = self._mrk
        if self._pq_mrk is not None and signature_alg(endorsement) == int(Alg.ML_DSA_65):
            mrk = self._pq_mrk
        return verify_endorsement(endorsement, mrk)

    def _signer(self, device: DeviceRecord) -> tuple[CoseKey, Alg]:
        """The TSK (and algorithm) for messages to ``device``: the suite its endorsement pins
        (P14). A PQ device is never sent a classical signature; without a PQ TSK the TAM
        cannot serve it and says so rather than fall back."""
        if device.dsk.kty == KeyType.AKP:
            if self._pq_tsk is None:
                raise ProtocolError(
                    Code.COSE_SUITE_DOWNGRADE, "an edbp-pq device needs the TAM's ML-DSA TSK"
                )
            return self._pq_tsk, Alg.ML_DSA_65
        return self._tsk, self._tsk_alg

    def _sign(self, msg: teep.TeepMessage, device: DeviceRecord) -> bytes:
        key, alg = self._signer(device)
        return teep.sign(msg, key, alg)

    def begin(self, ueid: bytes, intent: Intent) -> TamOutput:
        """``deploy.query_request``: open a session with a fresh token and challenge."""
        device = self.registry.get(ueid)
        if not device.active:
            raise ProtocolError(Code.TAM_DEVICE_REVOKED, "device is revoked")
        if intent.package is not None:
            package = self.package(*intent.package)
            if package.class_id != device.class_id or package.vendor_id != device.vendor_id:
                raise ProtocolError(Code.TAM_CLASS_MISMATCH, "package is for another device class")
        elif intent.uninstall is None:
            raise ProtocolError(
                Code.TAM_NO_SUCH_PACKAGE, "a session needs a package or a component"
            )
        t = self._transition(self.state(ueid), Input.BEGIN)
        old = self._by_device.get(ueid)
        if old is not None:
            held = self._sessions[old]
            if held.sent_at is not None and self._clock() - held.sent_at <= teep.UPDATE_HOLD:
                # 8.3.1: a session that sent its Update stays open for L_u, so that whatever
                # the Agent still accepts belongs to an open session (P6(a)): the new session
                # becomes the device's, the held one keeps its token until T11 or a report
                del self._by_device[ueid]
            else:
                self._close(held)
        rng = self._rng.fork(f"session/{ueid.hex()}/{self._counter}")
        self._counter += 1
        session = _Session(
            ueid=ueid,
            token=rng.fork("token").random_bytes(TOKEN_BYTES),
            challenge=rng.fork("challenge").random_bytes(CHALLENGE_BYTES),
            intent=intent,
            issued_at=self._clock(),
        )
        suites: dict[str, Any] = {}
        if device.dsk.kty == KeyType.AKP:  # P14: offer exactly the suite the device pins
            suites = {
                "supported_cipher_suites": (teep.CIPHER_SUITE_MLDSA65,),
                "supported_suit_cose_profiles": (teep.SUIT_PROFILE_PQ,),
            }
        msg = teep.QueryRequest(
            token=session.token,
            challenge=session.challenge,
            freshness_mechanisms=(teep.Freshness.NONCE,),
            versions=(0,),
            # attestation only: installed state travels in the signed EAT (spec/protocol.md §14)
            data_item_requested=int(teep.DataItem.ATTESTATION),
            **suites,
        )
        self._sessions[session.token] = session
        self._by_device[ueid] = session.token
        return TamOutput(t.next_state, t.step, self._sign(msg, device), ueid)

    def receive(self, data: bytes) -> TamOutput:
        """A TEEP message from a device (through its untrusted Broker)."""
        try:
            # decoded once: read for routing here, acted on only after ``verify`` below
            opened = teep.open_signed(data)
        except EdbpError:
            raise ProtocolError(Code.TAM_UNEXPECTED_MESSAGE, "not a signed TEEP message") from None
        peeked = opened.message
        token = getattr(peeked, "token", None)
        if token is None and isinstance(peeked, teep.Error):
            # TEEP lets an Error omit the token: the sender is the open session's device whose
            # DSK verifies it (authenticated routing, never by an unsigned field)
            found = self._session_by_signature(opened)
            if found is None:
                raise ProtocolError(Code.TAM_UNEXPECTED_MESSAGE, "Error from no device in session")
            session, device, msg = found
        else:
            open_session = self._sessions.get(token) if isinstance(token, bytes) else None
            if open_session is None:
                raise ProtocolError(Code.TAM_UNEXPECTED_MESSAGE, "no session for this token")
            session = open_session
            device = self.registry.get(session.ueid)
            try:
                msg = opened.verify(device.dsk)
            except EdbpError:
                # not from the device: refuse, but leave its session as it was (an injected
                # message must not end a device's session)
                raise VerificationError(
                    Code.TEEP_BAD_SIGNATURE, "message not signed by the device's DSK"
                ) from None
        inp = _input_of(msg)
        t = TRANSITIONS.get((session.state, inp))
        if t is None:
            # T10: any other input leaves the session as it is; audit entry with the code
            step = (
                "deploy.verify_evidence"
                if session.state is TamState.CHALLENGED
                else "deploy.record"
            )
            self.registry.record(step, session.ueid, None, int(Code.TAM_UNEXPECTED_MESSAGE))
            raise ProtocolError(
                Code.TAM_UNEXPECTED_MESSAGE, f"{inp.value} in state {session.state.value}"
            )
        if inp is Input.QUERY_RESPONSE:
            return self._on_query_response(session, device, msg, t)
        if inp is Input.SUCCESS:
            return self._on_success(session, device, msg, t)
        return self._on_error(session, msg, t)

    def expire(self) -> list[TamOutput]:
        """T5 / T11: a CHALLENGED session older than ``SESSION_LIFETIME`` seconds ends, recorded
        as stale evidence (EAT_STALE); an UPDATE_SENT one ends only ``UPDATE_HOLD`` (L_u)
        seconds after its Update was *sent*, recorded as an unknown outcome. L_u ≥ L_a·(1+ρ)
        and the Agent accepted the QueryRequest before the Update could be sent, so every
        Update an Agent still accepts arrives while its session is the current one (8.3.1)."""
        now = self._clock()
        out = []
        for session in list(self._sessions.values()):
            if session.sent_at is not None:
                if now - session.sent_at <= teep.UPDATE_HOLD:
                    continue
            elif now - session.issued_at <= SESSION_LIFETIME:
                continue
            self._close(session)
            if session.state is TamState.CHALLENGED:
                self.registry.record(
                    "deploy.verify_evidence", session.ueid, None, int(Code.EAT_STALE)
                )
                out.append(
                    TamOutput(
                        TamState.NO_SESSION, "deploy.verify_evidence", None, session.ueid, "expired"
                    )
                )
            else:
                self.registry.record("deploy.record", session.ueid, dumps({"outcome": "unknown"}))
                out.append(
                    TamOutput(
                        TamState.NO_SESSION, "deploy.record", None, session.ueid, "outcome unknown"
                    )
                )
        return out

    def _endorsement(self, data: bytes) -> Endorsement:
        """``verify_endorsement`` of the stored bytes under the MRK, memoized on those bytes:
        the same bytes under the same key verify the same way, so the check against a
        tampered row stays (other bytes are verified afresh) without a signature verification
        and a decode per session. Only successes are kept; the memo is bounded."""
        found = self._endorsed.get(data)
        if found is None:
            found = self._verify_endorsement(data)
            if len(self._endorsed) >= _ENDORSEMENT_MEMO:
                self._endorsed.clear()
            self._endorsed[data] = found
        return found

    def _session_by_signature(
        self, opened: teep.Opened
    ) -> tuple[_Session, DeviceRecord, Any] | None:
        for session in list(self._sessions.values()):
            device = self.registry.get(session.ueid)
            try:
                return session, device, opened.verify(device.dsk)
            except EdbpError:
                continue
        return None

    # ------------------------------------------------------------------ handlers

    def _refuse(
        self, session: _Session, step: str, code: Code, detail: str, close: bool = True
    ) -> EdbpError:
        """Record a refusal in the audit log; T4 closes the session, T8 leaves it open."""
        if close:
            self._close(session)
        self.registry.record(step, session.ueid, None, int(code))
        cls = ProtocolError if code in _PROTOCOL_CODES else VerificationError
        return cls(code, detail)

    def _on_query_response(
        self, session: _Session, device: DeviceRecord, msg: Any, t: Transition
    ) -> TamOutput:
        """T3 / T3b / T4: the checks of spec/protocol.md 8.3 step 3, in its order."""
        step = "deploy.verify_evidence"

        def refuse(code: Code, detail: str) -> EdbpError:
            return self._refuse(session, step, code, detail)

        if msg.attestation_payload is None:
            raise refuse(Code.EAT_MISSING_CLAIM, "QueryResponse without evidence")
        if device.dsk.kty == KeyType.AKP and (
            signature_alg(msg.attestation_payload) != int(Alg.ML_DSA_65)
        ):
            # P14: the device enrolled PQ; classical evidence is a downgrade, refused unread
            raise refuse(Code.EAT_SUITE_DOWNGRADE, "evidence not signed ML-DSA-65")
        try:
            claims = eat.verify(msg.attestation_payload, device.dsk)
        except EdbpError as e:
            code = e.code if e.code in _EAT_CODES else Code.EAT_MALFORMED
            raise refuse(code, f"evidence refused ({e.code.name})") from None
        if claims.nonce is None or claims.hwmodel is None or claims.oemid is None:
            raise refuse(Code.EAT_MISSING_CLAIM, "eat_nonce, hwmodel and oemid are required")
        if not hmac.compare_digest(claims.ueid, device.ueid):
            raise refuse(Code.EAT_UNKNOWN_DEVICE, "evidence names another device")
        if not claims.nonce_matches(session.challenge):
            raise refuse(Code.EAT_NONCE_MISMATCH, "eat_nonce is not this session's challenge")
        if self._clock() - session.issued_at > SESSION_LIFETIME:
            raise refuse(Code.EAT_STALE, "the challenge is older than the session lifetime")
        if not hmac.compare_digest(claims.cnf.thumbprint(), device.dak.thumbprint()):
            raise refuse(Code.EAT_ENDORSEMENT_INVALID, "cnf is not the endorsed DAK")
        if not isinstance(claims.oemid, bytes) or not hmac.compare_digest(
            claims.oemid, device.vendor_id
        ):
            raise refuse(Code.EAT_ENDORSEMENT_INVALID, "oemid is not the endorsed vendor")
        if not hmac.compare_digest(claims.hwmodel, device.class_id):
            raise refuse(Code.EAT_ENDORSEMENT_INVALID, "hwmodel is not the endorsed class")
        try:
            endorsed = self._endorsement(device.endorsement)
        except EdbpError:
            raise refuse(Code.EAT_ENDORSEMENT_INVALID, "endorsement no longer verifies") from None
        if (
            endorsed.ueid != device.ueid
            or endorsed.dsk.thumbprint() != device.dsk.thumbprint()
            or endorsed.dak.thumbprint() != device.dak.thumbprint()
            or endorsed.class_id != device.class_id
            or endorsed.vendor_id != device.vendor_id
        ):
            raise refuse(Code.EAT_ENDORSEMENT_INVALID, "registry keys differ from the endorsement")
        if not device.active:
            raise refuse(Code.TAM_DEVICE_REVOKED, "device is revoked")
        if msg.agent_nonce is None:
            # the edbp profile: the Update must echo it (protocol.md 8.3.1, section 9 P-9.7c)
            raise refuse(Code.TEEP_MALFORMED, "QueryResponse without edbp-agent-nonce")
        session.agent_nonce = msg.agent_nonce
        installed = _installed(claims)
        if session.intent.uninstall is not None:
            self.registry.record(step, device.ueid, None, None)
            # T12 / T12b: the removal names the install the device just attested (P-9.10c), so
            # that this Update, replayed after a later install, removes nothing; and the device
            # (P-9.10d), so that it removes nothing when relayed to another device
            attested = installed.get(tuple(session.intent.uninstall))
            if attested is None:
                self._close(session)
                return TamOutput(TamState.NO_SESSION, step, None, device.ueid, "not installed")
            update = teep.Update(
                token=session.token,
                unneeded_manifest_list=(session.intent.uninstall,),
                unneeded_sequence_numbers=(attested,),
                unneeded_device=device.ueid,
                agent_nonce=session.agent_nonce,
            )
            session.state = t.next_state
            session.sent_at = self._clock()
            self.registry.record(
                "uninstall.component", device.ueid, dumps([list(session.intent.uninstall)])
            )
            return TamOutput(
                t.next_state,
                "uninstall.component",
                self._sign(update, device),
                device.ueid,
            )

        assert session.intent.package is not None
        package = self.package(*session.intent.package)
        if package.class_id != device.class_id or package.vendor_id != device.vendor_id:
            raise self._refuse(
                session, step, Code.TAM_CLASS_MISMATCH, "package is for another device class"
            )
        self.registry.record(step, device.ueid, None, None)
        have = installed.get(package.component_id)
        if have is not None and have >= package.sequence:
            self._close(session)
            return TamOutput(TamState.NO_SESSION, step, None, device.ueid, "already installed")
        delivery = build_delivery(
            package,
            device,
            self.vault,
            *self._signer(device),
            self._rng.fork(f"delivery/{session.token.hex()}"),
        )
        session.delivery = delivery
        session.state = t.next_state
        session.sent_at = self._clock()
        self.registry.record(
            t.step, device.ueid, delivery.binding(package, session.challenge, session.token)
        )
        # TEEP carries envelopes untagged in manifest-list (bstr .cbor SUIT_Envelope)
        envelope = suit.untagged_envelope(delivery.envelope)
        update = teep.Update(
            token=session.token, manifest_list=(envelope,), agent_nonce=session.agent_nonce
        )
        return TamOutput(t.next_state, t.step, self._sign(update, device), device.ueid)

    def _on_success(
        self, session: _Session, device: DeviceRecord, msg: Any, t: Transition
    ) -> TamOutput:
        reports = msg.suit_reports or ()
        if session.delivery is None:  # an uninstall session: no manifest to report on
            self._close(session)
            self.registry.record(t.step, device.ueid, dumps({6: 0}), 0)
            return TamOutput(t.next_state, t.step, None, device.ueid, "uninstalled")
        # T8: a Success that does not check is recorded and ignored; the session stays open
        if not reports:
            raise self._refuse(
                session, t.step, Code.TEEP_MALFORMED, "Success without a SUIT report", close=False
            )
        try:
            report = verify_report(reports[0], device.dsk)
        except EdbpError:
            raise self._refuse(
                session,
                t.step,
                Code.TEEP_BAD_SIGNATURE,
                "report not signed by the DSK",
                close=False,
            ) from None
        # the report is bound to this session by its nonce: the challenge (spec/messages.cddl)
        # or the session token (what the reference Agent sends; both are fresh per session)
        if report.nonce is None or not (
            hmac.compare_digest(report.nonce, session.challenge)
            or hmac.compare_digest(report.nonce, session.token)
        ):
            raise self._refuse(
                session,
                t.step,
                Code.EAT_NONCE_MISMATCH,
                "report is not for this session",
                close=False,
            )
        # reference: the device manifest sent (spec), or the author manifest it depends on
        package = self.package(*session.intent.package) if session.intent.package else None
        named = report.reference.digest
        if not report.succeeded or not (
            named == session.delivery.manifest_digest
            or (package is not None and named == package.manifest_digest)
        ):
            raise self._refuse(
                session,
                t.step,
                Code.SUIT_DIGEST_MISMATCH,
                "report names another manifest",
                close=False,
            )
        receipt = _receipt(session, reports[0], 0)
        self._close(session)
        self.registry.record(t.step, device.ueid, receipt, 0)
        return TamOutput(t.next_state, t.step, None, device.ueid, "installed")

    def _on_error(self, session: _Session, msg: Any, t: Transition) -> TamOutput:
        code = int(msg.err_code)
        edbp_code = _edbp_code_in(msg.err_msg)
        for data in msg.suit_reports or ():
            try:
                report = verify_report(data, self.registry.get(session.ueid).dsk)
            except EdbpError:
                continue
            if report.result is not True:
                edbp_code = report.result.code
        receipt = _receipt(
            session, (msg.suit_reports or (b"",))[0], edbp_code if edbp_code is not None else code
        )
        self._close(session)
        self.registry.record(
            t.step, session.ueid, receipt, edbp_code if edbp_code is not None else code
        )
        name = TeepErr(code).name if code in set(TeepErr) else str(code)
        return TamOutput(t.next_state, t.step, None, session.ueid, f"device refused: {name}")


def _installed(claims: eat.EatClaims) -> dict[ComponentId, int]:
    """Component → sequence number, from the ``manifests`` claim. An entry's body is either an
    ``edbp-installed-entry`` ([component-id, sequence, digest, ta-version], spec/messages.cddl)
    or the installed author envelope itself (what the reference Agent reports): both are read.
    Unreadable entries are ignored: the claim only saves a needless Update, the Agent's own
    floor is what enforces rollback resistance (P7)."""
    out: dict[ComponentId, int] = {}
    for m in claims.manifests:
        if m.content_format != CF_CBOR:
            continue
        component: Any = None
        seq: Any = None
        try:
            entry = loads(m.body)
            if isinstance(entry, list):
                component, seq = tuple(entry[0]), entry[1]
            else:
                manifest = Envelope.decode(m.body).manifest
                component, seq = tuple(manifest.common.components[0]), manifest.sequence_number
        except (EdbpError, TypeError, IndexError, KeyError):
            continue
        if (
            isinstance(seq, int)
            and not isinstance(seq, bool)
            and all(isinstance(p, bytes) for p in component)
        ):
            out[component] = max(seq, out.get(component, -1))
    return out


def _edbp_code_in(err_msg: str | None) -> int | None:
    """The edbp code an Agent puts at the start of its err-msg ("edbp:<code> <NAME>"), if any."""
    if not err_msg or not err_msg.startswith("edbp:"):
        return None
    head = err_msg[5:].split(" ", 1)[0]
    return int(head) if head.isdigit() and int(head) in set(Code) else None


def _receipt(session: _Session, report: bytes, code: int) -> bytes:
    """``edbp-install-receipt`` for the audit log (time is the audit entry's own)."""
    d = session.delivery
    if session.intent.package is not None:
        component = list(ta_component(session.intent.package[0]))
    else:
        component = list(session.intent.uninstall or ())
    return dumps(
        {
            1: session.ueid,
            2: component,
            3: 0 if d is None else d.sequence,
            4: [] if d is None else d.manifest_digest.to_cbor(),
            5: report,
            6: code,
        }
    )
