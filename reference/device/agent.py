"""The TEEP Agent (device TEE): a sans-I/O state machine with one explicit transition table.

Why sans-I/O: the same core runs in-process (tests, the demo, the 1,000-device benchmark),
behind the device adapter (conformance), and is what a vendor's TA is checked against. It
receives events (a TEEP message, a fetched payload, a failed fetch) and returns outputs (a TEEP
message to send, a payload to fetch). Storage is an edge (``SealedStorage`` over a ``Storage``),
and so is time: the one clock the Agent reads is an injected *monotonic* clock (the TEE's own,
OP-TEE's ``TEE_GetSystemTime``; never the REE's wall clock), used only to measure how long its
exchange has been open (spec/protocol.md 8.3.1). There is no network or thread in here.

The table (``TRANSITIONS``) is the spec's Agent state machine, in one place:

==========  ==============  ==============================================  ==============
state       input           what happens (spec steps)                       next
==========  ==============  ==============================================  ==============
IDLE        QUERY_REQUEST   evidence (EAT) in a QueryResponse               QUERIED
QUERIED     QUERY_REQUEST   a newer challenge replaces the outstanding one  QUERIED
QUERIED     UPDATE          verify_update, unwrap_cek; ask for the payload  FETCHING
IDLE        UPDATE          an Update bound to no open challenge: replay    IDLE (Error)
QUERIED     UNINSTALL       uninstall.run_sequence (each listed component's IDLE
                            suit-uninstall), uninstall.component (floors
                            kept); Success
IDLE        UNINSTALL       bound to no open challenge: replay              IDLE (Error)
FETCHING    PAYLOAD         check_payload, decrypt, install, raise_floor,   IDLE
                            erase_cek; Success with a signed report
FETCHING    FETCH_FAILED    erase_cek; Error                                IDLE
==========  ==============  ==============================================  ==============

Every other (state, input) pair, and every failure inside a transition, ends the same way:
Error with a code (``edbp.errors``; the TEEP err-code from ``teep_err_code``), state IDLE, the
CEK erased, nothing installed (the install is atomic; see ``install``). VERIFYING and
INSTALLING are the states the Agent is in while the corresponding transition runs.

Order of the Update checks (each refusal has its own code): TEEP signature (TSK) → SUIT
envelopes (TAM then author signature, vendor/class ids) → device binding
(AGENT_NOT_FOR_THIS_DEVICE) → the Update is bound to the open challenge (AGENT_REPLAY),
arrives within the exchange's lifetime L_a (TEEP_EXCHANGE_EXPIRED) and echoes the exchange's
Agent nonce (TEEP_AGENT_NONCE_MISMATCH) → sequence number above the component's floor
(AGENT_ROLLBACK) → CEK unwrap with the DAK.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from edbp.reference.device.install import (
    AgentRecord,
    CiphertextSource,
    ComponentState,
    ImageCheck,
    Installer,
    MemoryBudget,
    MonotonicCounter,
    PayloadSpec,
)
from edbp.reference.device.keys import DeviceKeys, KeySuite
from edbp.reference.device.sealed_storage import SealedStorage, StorageKeys
from edbp.reference.device.storage import Storage
from edbp.reference.device.update import (
    DeviceIdentity,
    InstallPlan,
    TrustAnchors,
    check_binding,
    verify_update,
)
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource
from edbp.reference.wire import teep
from edbp.reference.wire.cbor import dumps
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_sign import Sign1
from edbp.reference.wire.eat import EatClaims, EatManifest
from edbp.reference.wire.suit_commands import Parameters
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_crypto import SUIT_CONTENT_ALGS, SUIT_SIGNATURE_ALGS
from edbp.reference.wire.suit_envelope import Envelope
from edbp.reference.wire.suit_labels import ManifestKey, ReportReason, SuitCommand
from edbp.reference.wire.suit_process import (
    check_class,
    check_vendor,
    component_for,
    uninstall_steps,
)
from edbp.reference.wire.suit_report import SuitRecord, SuitReference, SuitReport, SuitResult

from edbp.errors import (
    Code,
    EdbpError,
    ProtocolError,
    TeepErr,
    VerificationError,
    WireError,
    teep_err_code,
)

__all__ = [
    "EAT_FORMAT",
    "TRANSITIONS",
    "Agent",
    "AgentInput",
    "AgentState",
    "FetchFailed",
    "FetchPayload",
    "MessageReceived",
    "PayloadFetched",
    "SendMessage",
    "Transition",
]

#: attestation-payload-format of the evidence (RFC 9782 media type of an EAT in a CWT)
EAT_FORMAT = "application/eat+cwt"
#: eat_profile claim of the evidence (spec/messages.cddl edbp-eat-claims)
EAT_PROFILE = "tag:edbp.dev,2026:eat-profile:1"
KEYS_NAME = "agent/keys"
CF_CBOR = 60  # content-format of an ``edbp-installed-entry`` in the manifests claim
TEEP_VERSION = 0
TOKEN_BYTES = 16  # spec/protocol.md section 6: exactly 16 / 32 bytes
CHALLENGE_BYTES = 32
MAX_TEEP_MESSAGE = 64 * 1024
#: Recipient algorithms the Agent accepts for the CEK delivered to it (no class-key wraps)
DEVICE_RECIPIENT_ALGS = frozenset({Alg.ECDH_ES_A128KW})
#: TEEP messages from the TAM: COSE_Sign1 with ESP256 or Ed25519 (the old ids accepted)
TEEP_SIGNATURE_ALGS = SUIT_SIGNATURE_ALGS


class AgentState(enum.Enum):
    """docs/VOCABULARY.md: the TEEP Agent's states."""

    IDLE = "IDLE"
    QUERIED = "QUERIED"
    VERIFYING = "VERIFYING"
    FETCHING = "FETCHING"
    INSTALLING = "INSTALLING"


class AgentInput(enum.Enum):
    """What can arrive at the Agent, classified before the table is consulted."""

    QUERY_REQUEST = "QUERY_REQUEST"
    UPDATE = "UPDATE"
    UNINSTALL = "UNINSTALL"  # an Update that only lists unneeded components
    OTHER_MESSAGE = "OTHER_MESSAGE"  # a well-formed TEEP message an Agent never receives
    MALFORMED = "MALFORMED"  # bytes that are not a TEEP message signed by a trusted TAM
    PAYLOAD = "PAYLOAD"
    FETCH_FAILED = "FETCH_FAILED"


# ------------------------------------------------------------------------------ events


@attrs.frozen
class MessageReceived:
    """A TEEP message (COSE_Sign1 bytes) the Broker relays to the Agent."""

    data: bytes


@attrs.frozen
class PayloadFetched:
    """The Broker stored the ciphertext the Agent asked for; ``source`` reads it (REE)."""

    source: CiphertextSource


@attrs.frozen
class FetchFailed:
    """The Broker could not fetch the payload."""

    reason: str = ""


Event = MessageReceived | PayloadFetched | FetchFailed


@attrs.frozen
class SendMessage:
    """Output: a signed TEEP message for the TAM. ``kind`` and ``code`` are for logs/tests."""

    data: bytes
    kind: teep.TeepType
    code: Code | None = None


@attrs.frozen
class FetchPayload:
    """Output: the Broker must fetch ``uri`` (ciphertext of ``size`` bytes, SHA-256 ``digest``)."""

    uri: str
    size: int
    digest: bytes


Output = SendMessage | FetchPayload


@attrs.frozen
class Transition:
    """One row of the table: the handler's name and the state it leads to on success."""

    handler: str
    next_state: AgentState
    steps: tuple[str, ...] = ()


S, I = AgentState, AgentInput  # noqa: E741 - table readability
TRANSITIONS: dict[tuple[AgentState, AgentInput], Transition] = {
    (S.IDLE, I.QUERY_REQUEST): Transition("_on_query", S.QUERIED, ("deploy.query_response",)),
    (S.QUERIED, I.QUERY_REQUEST): Transition("_on_query", S.QUERIED, ("deploy.query_response",)),
    (S.QUERIED, I.UPDATE): Transition(
        "_on_update", S.FETCHING, ("deploy.verify_update", "deploy.unwrap_cek")
    ),
    (S.IDLE, I.UPDATE): Transition("_on_update", S.IDLE, ("deploy.verify_update",)),
    (S.QUERIED, I.UNINSTALL): Transition(
        "_on_uninstall", S.IDLE, ("uninstall.run_sequence", "uninstall.component")
    ),
    (S.IDLE, I.UNINSTALL): Transition(
        "_on_uninstall", S.IDLE, ("uninstall.run_sequence", "uninstall.component")
    ),
    (S.FETCHING, I.PAYLOAD): Transition(
        "_on_payload",
        S.IDLE,
        (
            "deploy.check_payload",
            "deploy.decrypt",
            "deploy.install",
            "deploy.raise_floor",
            "deploy.erase_cek",
            "deploy.success",
        ),
    ),
    (S.FETCHING, I.FETCH_FAILED): Transition("_on_fetch_failed", S.IDLE, ("deploy.erase_cek",)),
}
del S, I


@attrs.frozen
class _Session:
    """The open exchange: the challenge sent in evidence, the token the Update must carry, the
    SUIT COSE profiles the TAM offered (the Update's profile must be one of them) and the Agent
    nonce drawn for this exchange, which the Update must echo (spec/protocol.md 8.3.1)."""

    challenge: bytes = attrs.field(repr=False)
    token: bytes | None
    offered: tuple[teep.SuitCoseProfile, ...] = teep.EDBP_SUIT_COSE_PROFILES
    opened_at: float = 0.0  # the Agent's monotonic clock when it accepted the QueryRequest
    nonce: bytes = attrs.field(default=b"", repr=False)


@attrs.frozen
class _Pending:
    """An Update verified and waiting for its payload."""

    plan: InstallPlan
    token: bytes | None
    challenge: bytes = attrs.field(repr=False)


class Agent:
    """One device's TEEP Agent. Construct with ``Agent.open`` (loads or makes its keys)."""

    def __init__(
        self,
        sealed: SealedStorage,
        keys: DeviceKeys,
        identity: DeviceIdentity,
        anchors: TrustAnchors,
        *,
        budget: MemoryBudget = MemoryBudget(),
        image_check: ImageCheck | None = None,
        observer: Callable[[str, str], None] | None = None,
        counter: MonotonicCounter | None = None,
        clock: Callable[[], float] = time.monotonic,
        exchange_lifetime: float = teep.EXCHANGE_LIFETIME,
        rng: RandomSource = DEFAULT_RANDOM,
    ) -> None:
        self.sealed = sealed
        #: the TEE's RNG, for the Agent nonce of each exchange (spec/protocol.md 8.3.1)
        self._rng = rng
        #: the TEE's monotonic clock (seconds; only differences are used) and L_a
        self._clock = clock
        self.exchange_lifetime = exchange_lifetime
        self.keys = keys
        self.identity = identity
        self.anchors = anchors
        self.installer = Installer(sealed, budget, counter)
        self.image_check = image_check
        self.state = AgentState.IDLE
        self._session: _Session | None = None
        self._pending: _Pending | None = None
        self._cek: bytearray | None = None
        self._report_to: tuple[bytes, bytes] | None = None
        self._observer = observer
        self.last_error: Code | None = None
        self.last_exception: Exception | None = None  # an internal fault (kept for debugging)
        #: every CEK the Agent held, as the (wiped) buffer: tests check they are all zero
        self.erased_ceks: list[bytearray] = []

    def __repr__(self) -> str:
        return f"Agent(ueid={self.keys.ueid.hex()}, state={self.state.name})"

    @classmethod
    def open(
        cls,
        storage: Storage,
        huk: bytes,
        *,
        vendor_id: bytes,
        class_id: bytes,
        anchors: TrustAnchors,
        suite: KeySuite = KeySuite.P256,
        rng: RandomSource = DEFAULT_RANDOM,
        budget: MemoryBudget = MemoryBudget(),
        image_check: ImageCheck | None = None,
        chunk_size: int | None = None,
        verify_ta: bool = True,
        counter: MonotonicCounter | None = None,
        clock: Callable[[], float] = time.monotonic,
        nonce_rng: RandomSource | None = None,
    ) -> Agent:
        """Start the Agent on a device: derive the storage key from the HUK, load the sealed
        keys, or on a factory-fresh device make them (``enrol.keygen``) and seal them.

        TA components are checked as OP-TEE's loader checks them, against
        ``anchors.ta_signers`` (``verify_ta=False`` only for tests that ship opaque bytes).
        ``counter`` is the rollback-protected counter (RPMB) that makes an old copy of the
        sealed state refused; without it the floors are only as fresh as the REE's files.
        ``nonce_rng`` draws the Agent nonces (default: ``rng``'s fork ``agent-nonce``; a test
        device scripts them so that recorded Updates replay, conformance ``agent-nonces``)."""
        sealed = SealedStorage(
            storage,
            StorageKeys.from_huk(huk),
            rng.fork("sealed"),
            chunk_size=chunk_size or budget.chunk,
        )
        if sealed.exists(KEYS_NAME):
            keys = DeviceKeys.from_sealed_record(sealed.get(KEYS_NAME))
        else:
            keys = DeviceKeys.generate(suite, rng.fork("keys"))
            sealed.put(KEYS_NAME, keys.seal_record())
        identity = DeviceIdentity(keys.ueid, vendor_id, class_id, pq=keys.suite.is_pq)
        if image_check is None and verify_ta:
            from edbp.reference.device.ta_check import optee_image_check

            image_check = optee_image_check(anchors.ta_signers, huk=huk)
        return cls(
            sealed,
            keys,
            identity,
            anchors,
            budget=budget,
            image_check=image_check,
            counter=counter,
            clock=clock,
            rng=nonce_rng if nonce_rng is not None else rng.fork("agent-nonce"),
        )

    # ------------------------------------------------------------------------- the core

    def receive(self, event: Event) -> list[Output]:
        """Feed one event; returns what the Agent sends or asks for. Never raises on bad
        input: every refusal becomes an Error message."""
        try:
            kind, message = self._classify(event)
        except Exception as exc:  # a fault of ours while reading: refuse, never crash
            self.last_exception = exc
            kind, message = AgentInput.MALFORMED, ProtocolError(Code.AGENT_BAD_STATE)
        row = TRANSITIONS.get((self.state, kind))
        reply_token = self._reply_token(kind, message)
        try:
            if isinstance(message, EdbpError):
                raise message
            if row is None:
                raise ProtocolError(
                    Code.AGENT_UNEXPECTED_MESSAGE, f"{kind.name} in state {self.state.name}"
                )
            handler = getattr(self, row.handler)
            outputs: list[Output] = handler(event, message)
            self.state = row.next_state
            if row.next_state is AgentState.IDLE:
                self._erase_cek()
            return outputs
        except EdbpError as exc:
            return [self._fail(exc.code, reply_token)]
        except OSError:
            return [self._fail(Code.AGENT_INSTALL_FAILED, reply_token)]
        except Exception as exc:  # a fault of ours: still fail closed, never crash the TEE
            self.last_exception = exc
            return [self._fail(Code.AGENT_BAD_STATE, reply_token)]

    def _classify(self, event: Event) -> tuple[AgentInput, Any]:
        if isinstance(event, PayloadFetched):
            return AgentInput.PAYLOAD, None
        if isinstance(event, FetchFailed):
            return AgentInput.FETCH_FAILED, None
        try:
            msg = self._open_teep(event.data)
        except EdbpError as exc:
            return AgentInput.MALFORMED, exc
        if isinstance(msg, teep.QueryRequest):
            return AgentInput.QUERY_REQUEST, msg
        if isinstance(msg, teep.Update):
            if not msg.manifest_list and msg.unneeded_manifest_list:
                return AgentInput.UNINSTALL, msg
            return AgentInput.UPDATE, msg
        return AgentInput.OTHER_MESSAGE, msg

    def _open_teep(self, data: bytes) -> teep.TeepMessage:
        """Steps 1–3 of spec/protocol.md section 9: size, strict COSE_Sign1, a trusted TSK
        (selected by ``kid`` when there is one: a ``kid`` naming no trusted TSK is
        AGENT_UNTRUSTED_SIGNER), the signature (TEEP_BAD_SIGNATURE), the TEEP shape."""
        if len(data) > MAX_TEEP_MESSAGE:
            raise WireError(Code.CBOR_TOO_LARGE, "TEEP message above 64 KiB")
        envelope = Sign1.decode(data)
        allowed = self._teep_algorithms(envelope)
        kid = envelope.headers.kid
        keys = [k for k in self.anchors.tam if kid is None or _eq(k.kid or k.thumbprint(), kid)]
        if not keys and kid is not None:
            raise ProtocolError(Code.AGENT_UNTRUSTED_SIGNER, "kid names no trusted TSK")
        for key in keys:
            try:
                payload = envelope.verify(key, algorithms=allowed)
            except WireError as exc:
                if exc.code == Code.COSE_ALG_KEY_MISMATCH and len(keys) > 1:
                    continue
                raise
            except EdbpError:
                continue
            return teep.decode(payload)
        raise VerificationError(Code.TEEP_BAD_SIGNATURE, "TEEP message signature")

    def _teep_algorithms(self, envelope: Sign1) -> frozenset[Alg]:
        """The signature algorithms a TEEP message may use here. P14: an `edbp-pq` Agent takes
        nothing classical from a TAM, whichever key it names (COSE_SUITE_DOWNGRADE)."""
        if not self.keys.suite.is_pq:
            return TEEP_SIGNATURE_ALGS
        if envelope.headers.raw_alg != int(Alg.ML_DSA_65):
            raise WireError(Code.COSE_SUITE_DOWNGRADE, "TEEP message not signed ML-DSA-65")
        return frozenset({Alg.ML_DSA_65})

    def _reply_token(self, kind: AgentInput, message: Any) -> bytes | None:
        """The token an Error answers with: the open exchange's, when an Update arrives inside
        one (so the TAM records the refusal against that session, even when the Update carried
        another token), the pending install's for payload events, else the message's own."""
        if (
            kind in (AgentInput.UPDATE, AgentInput.UNINSTALL)
            and self._session is not None
            and self._session.token
        ):
            return self._session.token
        if kind in (AgentInput.PAYLOAD, AgentInput.FETCH_FAILED) and self._pending is not None:
            return self._pending.token
        return getattr(message, "token", None) if isinstance(message, teep.TeepMessage) else None

    def _step(self, step: str, detail: str = "") -> None:
        if self._observer is not None:
            self._observer(step, detail)

    # ------------------------------------------------------------------------- handlers

    def _on_query(self, event: Event, request: teep.QueryRequest) -> list[Output]:
        """``deploy.query_response``: fresh evidence bound to the challenge."""
        challenge = request.challenge
        if request.token is None or len(request.token) != TOKEN_BYTES:
            raise WireError(Code.TEEP_MALFORMED, "token: 16 bytes")
        if challenge is None or len(challenge) != CHALLENGE_BYTES:
            raise WireError(Code.TEEP_MALFORMED, "challenge: 32 bytes")
        if request.versions is not None and TEEP_VERSION not in request.versions:
            raise ProtocolError(Code.TEEP_UNSUPPORTED_VERSION, "only TEEP version 0")
        if self.keys.suite.is_pq:
            # the TAM's offer is signed (ML-DSA, checked above): one that omits the suite both
            # ends support is a downgrade, never a reason to fall back (P14)
            if teep.CIPHER_SUITE_MLDSA65 not in request.supported_cipher_suites or (
                teep.SUIT_PROFILE_PQ not in request.supported_suit_cose_profiles
            ):
                raise WireError(Code.COSE_SUITE_DOWNGRADE, "the TAM's offer omits edbp-pq")
        elif not any(s in teep.EDBP_CIPHER_SUITES for s in request.supported_cipher_suites):
            raise ProtocolError(Code.TEEP_UNSUPPORTED_CIPHER_SUITE, "no common cipher suite")
        if request.freshness_mechanisms is not None and (
            teep.Freshness.NONCE not in request.freshness_mechanisms
        ):
            raise ProtocolError(Code.TEEP_UNSUPPORTED_FRESHNESS, "nonce freshness is required")
        self._pending = None
        self._erase_cek()
        record = self.installer.load()
        claims = EatClaims(
            ueid=self.keys.ueid,
            cnf=self.keys.dak_public,
            nonce=challenge,
            oemid=self.identity.vendor_id,
            hwmodel=self.identity.class_id,
            manifests=tuple(_installed_entries(record)),
            profile=EAT_PROFILE,
        )
        evidence = self.keys.sign(claims.encode()).encode()
        # a fresh nonce for every accepted QueryRequest, a replayed one included: it is what
        # tells this exchange's Updates from those the TAM made for an earlier exchange that
        # carried the same QueryRequest (8.3.1); the QueryResponse is DSK-signed
        nonce = self._rng.random_bytes(teep.AGENT_NONCE_BYTES)
        response = teep.QueryResponse(
            token=request.token,
            selected_version=0,
            attestation_payload_format=EAT_FORMAT,
            attestation_payload=evidence,
            agent_nonce=nonce,
        )
        self._session = _Session(
            challenge,
            request.token,
            request.supported_suit_cose_profiles,
            self._clock(),
            nonce,
        )
        self._step("deploy.query_response", "evidence signed by the DSK, nonce = challenge")
        return [self._send(response)]

    def _on_update(self, event: Event, update: teep.Update) -> list[Output]:
        """``deploy.verify_update`` then ``deploy.unwrap_cek``; ends asking for the payload."""
        self.state = AgentState.VERIFYING
        session, self._session = self._session, None
        if update.token is not None and len(update.token) != TOKEN_BYTES:
            raise WireError(Code.TEEP_MALFORMED, "token: 16 bytes")
        if update.unneeded_manifest_list is not None:
            # spec/protocol.md section 7: one kind of Update per message (section 14 item 17)
            raise WireError(Code.TEEP_MALFORMED, "manifest-list and unneeded-manifest-list")
        self._report_to = _reference_of(update, session)  # decoded only if a report is sent
        offered = None if session is None else session.offered
        plan = verify_update(update.manifest_list or (), self.identity, self.anchors, offered)
        check_binding(plan, self.keys.dak_public.kid, self.keys.ueid)
        expected = None if session is None else (session.token or session.challenge)
        if expected is None or update.token is None or not _eq(update.token, expected):
            raise ProtocolError(Code.AGENT_REPLAY, "Update not bound to the open challenge")
        assert session is not None
        self._check_lifetime(session)
        _check_nonce(update, session)
        record = self.installer.load()
        self.installer.check_floor(record, plan.component_id, plan.sequence)
        self._step("deploy.verify_update", f"component {plan.component_id!r} seq {plan.sequence}")
        self._cek = self.keys.unwrap_cek(plan.encryption, content_algs=SUIT_CONTENT_ALGS)
        self._step("deploy.unwrap_cek", "CEK unwrapped with the DAK inside the TEE")
        if plan.ciphertext_size > self.installer.budget.max_payload:
            raise ProtocolError(Code.AGENT_RESOURCE_LIMIT, "payload above the Agent's limit")
        assert session is not None
        self._pending = _Pending(plan, update.token, session.challenge)
        self._step("deploy.fetch", plan.uri)
        return [FetchPayload(plan.uri, plan.ciphertext_size, plan.ciphertext_digest.digest)]

    def _check_lifetime(self, session: _Session) -> None:
        """Section 9 step 7 (8.3.1, P6(a)): an Update consumed more than L_a after the
        exchange's QueryRequest was accepted, on the TEE's monotonic clock, is refused and the
        exchange closes. The TAM keeps the session for L_u ≥ L_a·(1+ρ) after sending the
        Update, so whatever passes here still belongs to the TAM's current session."""
        if self._clock() - session.opened_at > self.exchange_lifetime:
            raise ProtocolError(
                Code.TEEP_EXCHANGE_EXPIRED, "the exchange outlived its lifetime (L_a)"
            )

    def _on_payload(self, event: PayloadFetched, _: Any) -> list[Output]:
        pending, self._pending = self._pending, None
        assert pending is not None and self._cek is not None
        plan = pending.plan
        self.state = AgentState.INSTALLING
        spec = PayloadSpec(
            component_id=plan.component_id,
            sequence=plan.sequence,
            ciphertext_digest=plan.ciphertext_digest.digest,
            ciphertext_size=plan.ciphertext_size,
            content_alg=plan.content_alg,
            iv=plan.iv,
            aad=plan.aad,
            plaintext_digest=plan.plaintext_digest.digest,
            plaintext_size=plan.plaintext_size,
            manifest_digest=plan.tam_digest.digest,
            envelope=plan.author_envelope,
        )
        try:
            self.installer.check_payload(spec, event.source)
            self._step("deploy.check_payload", "ciphertext digest and size match the signed values")
            record = self.installer.decrypt_and_install(
                spec, self._cek, event.source, self.image_check
            )
            self._step("deploy.install", "new version switched in atomically; floor raised")
        finally:
            self._erase_cek()
        self._step("deploy.erase_cek", "CEK buffer wiped")
        comp = record.components[_key(plan.component_id)]
        report = SuitReport(
            reference=SuitReference(plan.tam_digest),
            nonce=pending.challenge,
            records=(
                SuitRecord(
                    (0, 1),
                    ManifestKey.INSTALL,
                    0,
                    0,
                    Parameters.of(
                        image_digest=SuitDigest(plan.plaintext_digest.alg, comp.current.digest),
                        image_size=comp.current.size,
                    ),
                ),
            ),
            result=True,
        )
        signed = self.keys.sign(report.encode()).encode()
        self._report_to = None
        self._step("deploy.success", f"installed sequence {plan.sequence}")
        return [self._send(teep.Success(token=pending.token, suit_reports=(signed,)))]

    def _on_uninstall(self, event: Event, update: teep.Update) -> list[Output]:
        """``uninstall.component``: an Update that lists only unneeded components, bound to the
        open challenge like any Update. Each listed component's manifest (the author envelope
        verified when it was installed) has its ``suit-uninstall`` sequence run first
        (``_run_uninstall``); then every component unlinked goes in one atomic write. The
        floors stay. Each removal must name the install it targets (``_check_uninstall_binding``:
        an old uninstall replayed after a newer install is SUIT_UNINSTALL_STALE)."""
        session, self._session = self._session, None
        expected = None if session is None else (session.token or session.challenge)
        if expected is None or update.token is None or not _eq(update.token, expected):
            raise ProtocolError(Code.AGENT_REPLAY, "Update not bound to the open challenge")
        assert session is not None and update.unneeded_manifest_list is not None
        self._check_lifetime(session)
        _check_nonce(update, session)
        record = self.installer.load()
        _check_uninstall_binding(update, record, self.keys.ueid)
        listed = [tuple(c) for c in update.unneeded_manifest_list]
        unlinked: dict[str, tuple[bytes, ...]] = {}
        records: list[SuitRecord] = []
        for cid in listed:
            unlinked.setdefault(_key(cid), cid)
            comp = record.components.get(_key(cid))
            if comp is not None:  # an absent one is refused by the removal itself (611)
                records.extend(self._run_uninstall(comp, record, unlinked))
        self.installer.uninstall(list(unlinked.values()))
        self._step("uninstall.component", f"{len(unlinked)} component(s) removed, floors kept")
        first = record.components[_key(listed[0])]
        report = SuitReport(
            reference=SuitReference(SuitDigest(-16, first.current.manifest_digest)),
            nonce=session.challenge,
            records=tuple(records)
            or tuple(SuitRecord((0,), ManifestKey.UNINSTALL, 0, 0) for _ in listed),
            result=True,
        )
        signed = self.keys.sign(report.encode()).encode()
        return [self._send(teep.Success(token=update.token, suit_reports=(signed,)))]

    def _run_uninstall(
        self,
        comp: ComponentState,
        record: AgentRecord,
        unlinked: dict[str, tuple[bytes, ...]],
    ) -> list[SuitRecord]:
        """``uninstall.run_sequence`` (spec/protocol.md section 8.4): run the shared sequence
        and ``suit-uninstall`` (member 24) of the manifest that installed ``comp``. Conditions
        are checked against this device as at install (a failure refuses the whole uninstall:
        nothing is removed); each ``directive-unlink`` adds its component to ``unlinked``. A
        component another manifest installed is refused (SUIT_UNINSTALL_FOREIGN): one author's
        manifest never removes another's component. A component not installed is already
        unlinked. A manifest without the member only has the listed component removed."""
        if not comp.current.envelope:
            return []
        envelope = Envelope.decode(comp.current.envelope)
        planned = uninstall_steps(envelope)
        if planned is None:
            return []
        common = envelope.manifest.common
        out: list[SuitRecord] = []
        for offset, step in enumerate(planned):
            if step.code == SuitCommand.CONDITION_VENDOR_IDENTIFIER:
                check_vendor(step.parameters, self.identity.vendor_id)
            elif step.code == SuitCommand.CONDITION_CLASS_IDENTIFIER:
                check_class(step.parameters, self.identity.class_id)
            elif step.code == SuitCommand.DIRECTIVE_UNLINK:
                cid = tuple(component_for(common, step.index))
                other = record.components.get(_key(cid))
                if other is None:
                    continue
                if other.current.envelope != comp.current.envelope:
                    raise VerificationError(
                        Code.SUIT_UNINSTALL_FOREIGN,
                        "suit-uninstall unlinks a component another manifest installed",
                    )
                unlinked.setdefault(_key(cid), cid)
                out.append(SuitRecord((0,), ManifestKey.UNINSTALL, offset, step.index))
            elif step.code not in (SuitCommand.CONDITION_IMAGE_MATCH,):
                raise WireError(
                    Code.SUIT_UNSUPPORTED_COMMAND, f"{step.command.name} in suit-uninstall"
                )
        self._step("uninstall.run_sequence", f"{len(out)} unlink(s) from the manifest")
        return out

    def _on_fetch_failed(self, event: FetchFailed, _: Any) -> list[Output]:
        raise ProtocolError(Code.AGENT_PAYLOAD_FETCH_FAILED, event.reason or "fetch failed")

    # ------------------------------------------------------------------------- outputs

    def _send(self, message: teep.TeepMessage, code: Code | None = None) -> SendMessage:
        return SendMessage(self.keys.sign(message.encode()).encode(), message.TYPE, code)

    def _fail(self, code: Code, token: bytes | None) -> SendMessage:
        """Any refusal: erase the CEK, drop the open exchange, back to IDLE, signed Error."""
        self._erase_cek()
        self._pending = None
        self._session = None
        self.state = AgentState.IDLE
        self.last_error = code
        self._step("deploy.error", f"{code.name} ({int(code)})")
        reports = None
        found = None if self._report_to is None else _decode_reference(*self._report_to)
        if found is not None:
            reference, challenge = found
            report = SuitReport(
                reference=SuitReference(reference),
                nonce=challenge,
                records=(),
                result=SuitResult(
                    int(code), SuitRecord((0,), ManifestKey.INSTALL, 0, 0), _reason(code)
                ),
            )
            reports = (self.keys.sign(report.encode()).encode(),)
        self._report_to = None
        # what the Agent does support, where the refusal is about negotiation (TEEP §4.6)
        error = teep.Error(
            err_code=int(teep_err_code(code)),
            token=token,
            err_msg=f"edbp:{int(code)} {code.name}"[:128],
            suit_reports=reports,
            cipher_suites=(
                teep.EDBP_CIPHER_SUITES if code == Code.TEEP_UNSUPPORTED_CIPHER_SUITE else None
            ),
            freshness_mechanisms=(
                (int(teep.Freshness.NONCE),) if code == Code.TEEP_UNSUPPORTED_FRESHNESS else None
            ),
            versions=(TEEP_VERSION,) if code == Code.TEEP_UNSUPPORTED_VERSION else None,
        )
        return self._send(error, code)

    def _erase_cek(self) -> None:
        if self._cek is not None:
            self._cek[:] = bytes(len(self._cek))
            self.erased_ceks.append(self._cek)
            self._cek = None

    # ------------------------------------------------------------------------- views

    def record(self) -> AgentRecord:
        """The committed state (floors, installed versions)."""
        return self.installer.load()

    def floor(self, component_id: Sequence[bytes]) -> int | None:
        return self.installer.load().floor(tuple(component_id))

    def installed_image(self, component_id: Sequence[bytes], previous: bool = False) -> bytes:
        """The installed plaintext (inside the TEE; tests and the demo's final state only)."""
        return self.installer.read_installed(tuple(component_id), previous)

    @property
    def holds_cek(self) -> bool:
        return self._cek is not None


def _eq(a: bytes, b: bytes) -> bool:
    import hmac

    return hmac.compare_digest(a, b)


def _key(component_id: Sequence[bytes]) -> str:
    from edbp.reference.device.install import component_key

    return component_key(tuple(component_id))


def _check_nonce(update: teep.Update, session: _Session) -> None:
    """Section 9 step 7, last [P-9.7c] (8.3.1, P6(a)): the Update echoes the Agent nonce of the
    open exchange (``edbp-agent-nonce``). Why: the token is the TAM's, and a QueryRequest is
    accepted whenever TSK-signed, so an attacker who replays an old QueryRequest reopens an
    exchange with its token, in which the Update withheld from the first exchange would be
    fresh again; the nonce is drawn anew for every accepted QueryRequest, so that Update
    carries the old exchange's nonce and is refused. Absent: TEEP_MALFORMED (the edbp profile
    requires it); another value, compared in constant time: TEEP_AGENT_NONCE_MISMATCH."""
    if update.agent_nonce is None:
        raise WireError(Code.TEEP_MALFORMED, "an Update echoes the exchange's Agent nonce")
    if not _eq(update.agent_nonce, session.nonce):
        raise ProtocolError(
            Code.TEEP_AGENT_NONCE_MISMATCH, "the Update echoes another exchange's Agent nonce"
        )


def _check_uninstall_binding(update: teep.Update, record: AgentRecord, ueid: bytes) -> None:
    """spec/protocol.md section 9 [P-9.10c]: an uninstall names, for each listed component, the
    SUIT sequence number of the install it removes (``edbp-unneeded-sequence-numbers``, in the
    order of ``unneeded-manifest-list``). Why: the token only binds the Update to an exchange,
    and an attacker can reopen an old exchange by replaying its TSK-signed QueryRequest; the
    sequence number binds the removal to one install (floors never go down, so a component and
    a sequence number name one install), so an old uninstall replayed after a newer version
    was deployed removes nothing (SUIT_UNINSTALL_STALE). Checked for every component before
    anything runs: the uninstall is all or nothing. A component not installed is left to the
    removal (AGENT_NO_SUCH_COMPONENT).

    [P-9.10d] It also names the device (``edbp-unneeded-device``, compared in constant time):
    a QueryRequest names no device, so the attacker can replay device A's QueryRequest to
    device B and then hand B the uninstall Update the TAM made for A; with the same version
    installed on both, only the UEID tells them apart (AGENT_NOT_FOR_THIS_DEVICE, as for an
    install addressed to another device)."""
    if update.unneeded_device is None:
        raise WireError(Code.TEEP_MALFORMED, "an uninstall names the device it is for")
    if not _eq(update.unneeded_device, ueid):
        raise ProtocolError(Code.AGENT_NOT_FOR_THIS_DEVICE, "uninstall addressed to another device")
    listed = update.unneeded_manifest_list or ()
    named = update.unneeded_sequence_numbers
    if named is None or len(named) != len(listed):
        raise WireError(
            Code.TEEP_MALFORMED, "an uninstall names one sequence number per listed component"
        )
    for cid, sequence in zip(listed, named, strict=True):
        comp = record.components.get(_key(tuple(cid)))
        if comp is not None and comp.current.sequence != sequence:
            raise VerificationError(
                Code.SUIT_UNINSTALL_STALE, "the uninstall names another install of the component"
            )


def _installed_entries(record: AgentRecord) -> list[EatManifest]:
    """``manifests`` claim entries (``edbp-installed-entry``): component, SUIT floor, digest of
    the installed device manifest, TA version floor (0 when the payload is not a TA)."""
    out = []
    for comp in record.components.values():
        entry = [
            list(comp.component_id),
            comp.floor,
            SuitDigest(-16, comp.current.manifest_digest).to_cbor(),
            comp.current.ta_version or 0,
        ]
        out.append(EatManifest(CF_CBOR, dumps(entry)))
    return out


def _reference_of(update: teep.Update, session: _Session | None) -> tuple[bytes, bytes] | None:
    """What an Error's SUIT report will name: the device envelope (decoded only when an Error
    is sent, by ``_decode_reference``: a successful install never pays a third decode of it)
    and the challenge."""
    if session is None or not update.manifest_list:
        return None
    return update.manifest_list[0], session.challenge


def _decode_reference(envelope: bytes, challenge: bytes) -> tuple[SuitDigest, bytes] | None:
    """The device manifest's digest (from its envelope) and the challenge; None when the
    envelope does not decode (the Error then carries no report)."""
    try:
        digest = Envelope.decode(envelope).authentication.digest
    except EdbpError:
        return None
    return digest, challenge


def _reason(code: Code) -> ReportReason:
    if code in (Code.SUIT_AUTH_FAILED, Code.SUIT_DIGEST_MISMATCH, Code.AGENT_UNTRUSTED_SIGNER):
        return ReportReason.UNAUTHORISED
    if code in (Code.SUIT_UNSUPPORTED_COMMAND,):
        return ReportReason.COMMAND_UNSUPPORTED
    if code in (Code.SUIT_UNSUPPORTED_PARAMETER,):
        return ReportReason.PARAMETER_UNSUPPORTED
    if 300 <= code < 400 or code in (Code.AGENT_ROLLBACK, Code.AGENT_NOT_FOR_THIS_DEVICE):
        return ReportReason.CONDITION_FAILED
    return ReportReason.OPERATION_FAILED


def error_code_of(message: bytes) -> tuple[TeepErr, int | None]:
    """For tests and the TAM side: the TEEP err-code and the edbp code in an Error's err-msg."""
    msg = teep.decode(Sign1.decode(message).payload or b"")
    if not isinstance(msg, teep.Error):
        raise WireError(Code.TEEP_UNEXPECTED_MESSAGE, "not an Error message")
    edbp_code = None
    if msg.err_msg and msg.err_msg.startswith("edbp:"):
        try:
            edbp_code = int(msg.err_msg[5:].split(" ", 1)[0])
        except ValueError:
            edbp_code = None
    return TeepErr(msg.err_code), edbp_code


__all__ += ["DEVICE_RECIPIENT_ALGS", "error_code_of"]
