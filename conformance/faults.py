"""Seeded faulty devices: the reference device with one duty broken each.

Why: a conformance suite is only worth what it catches. Every fault here is a real change of
behaviour (never a flag the harness reads), made by subclassing the reference Agent or the
reference device, and each names the properties (P1–P13) it breaks. ``tests/conformance``
runs the suite against every fault and requires each to fail at least one case guarding one of
its properties (the mutation score, printed, must be 100 %).

``edbp device serve --list-faults`` prints this catalogue; ``--fault NAME`` serves one.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric import ec
from edbp.conformance.adapter.server import DeviceBackend
from edbp.conformance.foreign_algs import GENERIC_ECDSA_HASHES, foreign_sign1, generic_ecdsa_verify
from edbp.conformance.reference_device import PowerLoss, ReferenceDevice, ScriptedNonces
from edbp.reference.device.agent import (
    MAX_TEEP_MESSAGE,
    TEEP_SIGNATURE_ALGS,
    TOKEN_BYTES,
    Agent,
    AgentState,
    FetchPayload,
    Output,
    SendMessage,
    _eq,
    _Pending,
    _reference_of,
)
from edbp.reference.device.install import AgentRecord, component_key
from edbp.reference.device.keys import DeviceKeys
from edbp.reference.device.update import (
    TrustAnchors,
    check_binding,
    verify_update,
)
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, teep
from edbp.reference.wire.cose_algs import Alg, Curve, KeyType
from edbp.reference.wire.cose_headers import Headers
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1, sig_structure
from edbp.reference.wire.eat import EatClaims
from edbp.reference.wire.suit_crypto import SUIT_CONTENT_ALGS
from edbp.reference.wire.suit_envelope import Envelope

from edbp.errors import (
    AdapterError,
    Code,
    ConfigError,
    EdbpError,
    ProtocolError,
    VerificationError,
    WireError,
)

__all__ = ["FAULTS", "Fault", "check_fault"]


# ------------------------------------------------------------------------------ the faulty Agent


class _ConstantNonce:
    """An Agent nonce source that draws the same bytes every time (fault
    ``constant-agent-nonce``): a replayed QueryRequest then reopens an exchange whose nonce the
    withheld Update of the first one still echoes."""

    def random_bytes(self, n: int) -> bytes:
        return bytes(n)

    def fork(self, label: str) -> _ConstantNonce:
        return self


class FaultyAgent(Agent):
    """The reference Agent with switchable deviations (``flags``), each one line of the
    reference logic left out or changed. The flags are set by the fault's device only."""

    flags: frozenset[str] = frozenset()
    _skipping = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._history: list[tuple[bytes, bytes | None]] = []  # every (challenge, token) issued
        self._first_challenge: bytes | None = None
        self._throwaway = CoseKey.generate(Curve.P256, SeededRandom("throwaway"))
        if "constant-agent-nonce" in self.flags:
            # the defect is the generator: nonces a vector scripts (provision ``agent_nonces``)
            # still come first, so recorded Updates replay and only the live flows meet it
            rng = self._rng
            self._rng = (
                rng.with_fallback(_ConstantNonce())
                if isinstance(rng, ScriptedNonces)
                else _ConstantNonce()
            )
        # the ECDSA-only faults touch a device whose DSK is an EC2 key: an Ed25519 DSK (the
        # ed25519 vectors' test keys) has no k and cannot sign ES256/ES384, an ML-DSA one neither
        ecdsa = self.keys.dsk_public.kty == KeyType.EC2
        if "ecdsa-fixed-k" in self.flags and ecdsa:
            self.keys = FixedNonceKeys(
                suite=self.keys.suite,
                ueid=self.keys.ueid,
                dak=self.keys._dak,
                dsk=self.keys._dsk,
            )
        layered = sorted(f for f in self.flags if f in _EMIT_FAULTS)
        unprotected = bool(layered) and _EMIT_FAULTS[layered[0]][1] == "alg-unprotected"
        if layered and (ecdsa or (unprotected and not self.keys.suite.is_pq)):
            layer, mode = _EMIT_FAULTS[layered[0]]
            keys_class = type("Keys", (LayerKeys,), {"layer": layer, "mode": mode})
            self.keys = keys_class(
                suite=self.keys.suite, ueid=self.keys.ueid, dak=self.keys._dak, dsk=self.keys._dsk
            )
        if "emits-es256" in self.flags and ecdsa:
            self.keys = Es256Keys(
                suite=self.keys.suite, ueid=self.keys.ueid, dak=self.keys._dak, dsk=self.keys._dsk
            )
        if "skip-rollback" in self.flags:

            def no_floor(record: AgentRecord, cid: tuple[bytes, ...], seq: int) -> None:
                return None  # any sequence number installs

            self.installer.check_floor = no_floor  # type: ignore[method-assign,assignment]
        elif "equal-sequence" in self.flags:

            def below_only(record: AgentRecord, cid: tuple[bytes, ...], seq: int) -> None:
                floor = record.floor(cid)
                if floor is not None and seq < floor:
                    raise ProtocolError(Code.AGENT_ROLLBACK, f"sequence {seq} < floor {floor}")

            self.installer.check_floor = below_only  # type: ignore[method-assign,assignment]
        if "device-wide-floor" in self.flags:

            def device_wide(record: AgentRecord, cid: tuple[bytes, ...], seq: int) -> None:
                floors = [c.floor for c in record.components.values()]
                floors += list(record.retired.values())
                floor = max(floors, default=None)  # one counter for the whole device
                if floor is not None and seq <= floor:
                    raise ProtocolError(Code.AGENT_ROLLBACK, f"sequence {seq} <= floor {floor}")

            self.installer.check_floor = device_wide  # type: ignore[method-assign,assignment]
        if "sequence-vs-ta-floor" in self.flags:
            suit_floor = self.installer.check_floor

            def both_floors(record: AgentRecord, cid: tuple[bytes, ...], seq: int) -> None:
                suit_floor(record, cid, seq)
                ta_floor = record.ta_floors.get(cid[2]) if len(cid) == 3 else None
                if ta_floor is not None and seq <= ta_floor:  # the other counter's floor
                    raise ProtocolError(Code.AGENT_ROLLBACK, f"sequence {seq} <= {ta_floor}")

            self.installer.check_floor = both_floors  # type: ignore[method-assign,assignment]
        if "skip-ta-check" in self.flags:
            self.image_check = None  # installs TA payloads without OP-TEE's loader checks
        if "decrypt-first" in self.flags:
            self.installer.check_payload = self._decrypt_then_check  # type: ignore[method-assign]
        if "uninstall-drops-floor" in self.flags:
            original = self.installer.uninstall

            def forgetful(component_ids: Any) -> AgentRecord:
                record = original(component_ids)
                dropped = AgentRecord(dict(record.components), {}, record.installs, {})
                self.installer._commit(dropped)
                return dropped

            self.installer.uninstall = forgetful  # type: ignore[method-assign]

        if "uninstall-partial" in self.flags:
            self.installer.uninstall = self._uninstall_present  # type: ignore[method-assign]
        if "uninstall-sequence-ignored" in self.flags:
            # removes the listed component without running its manifest's suit-uninstall
            self._run_uninstall = lambda comp, record, unlinked: []  # type: ignore[method-assign]
        if self.image_check is not None and (
            {"ta-uuid-unchecked", "ta-floor-strict", "ta-version-vs-suit-floor", "ta-floor-ignored"}
            & self.flags
        ):
            self.image_check = _faulty_image_check(self.image_check, self.flags)

    def receive(self, event: Any) -> list[Output]:
        """The reference ``receive``, with the module-level values of this fault's flags
        swapped in for the duration of the call (``_MODULE_PATCHES``)."""
        if not _MODULE_PATCHES:
            _MODULE_PATCHES.update(_module_patches())
        patches = [p for flag in sorted(self.flags) for p in _MODULE_PATCHES.get(flag, ())]
        if not patches:
            return super().receive(event)
        with _patched(patches):
            current_anchors.tam = self.anchors.tam
            return super().receive(event)

    def _on_uninstall(self, event: Any, update: teep.Update) -> list[Output]:
        if "uninstall-uuid-prefix" in self.flags and update.unneeded_manifest_list:
            # each id resolved against the installed ones on all but the last byte of the
            # last element (a 15-byte compare of the UUID)
            installed = [c.component_id for c in self.installer.load().components.values()]
            resolved = []
            for cid in update.unneeded_manifest_list:
                near = [
                    i
                    for i in installed
                    if len(i) == len(cid)
                    and i[:-1] == tuple(cid[:-1])
                    and i[-1][:-1] == cid[-1][:-1]
                ]
                resolved.append(near[0] if near else cid)
            update = attrs.evolve(update, unneeded_manifest_list=tuple(resolved))
        return super()._on_uninstall(event, update)

    def _uninstall_present(self, component_ids: Any) -> AgentRecord:
        """Removes the listed components that are installed and skips the others (611 lost,
        and a partial uninstall)."""
        record = self.installer.load()
        present = [c for c in component_ids if component_key(tuple(c)) in record.components]
        if not present:
            raise ProtocolError(Code.AGENT_NO_SUCH_COMPONENT, "component not installed")
        return type(self.installer).uninstall(self.installer, present)

    # -- evidence --------------------------------------------------------------------------

    def _on_query(self, event: Any, request: teep.QueryRequest) -> list[Output]:
        if "token-length-unchecked" in self.flags and request.token is not None:
            if len(request.token) != TOKEN_BYTES:
                request = attrs.evolve(request, token=request.token.ljust(TOKEN_BYTES, b"\0")[:16])
        challenge = request.challenge
        if self._first_challenge is None and challenge is not None:
            self._first_challenge = challenge
        outputs = super()._on_query(event, request)
        assert self._session is not None
        self._history.append((self._session.challenge, self._session.token))
        evidence_flags = {
            "evidence-nonce-off-by-one",
            "evidence-nonce-reuse",
            "evidence-cnf",
            "evidence-signer",
            "evidence-without-manifests",
        }
        if not (evidence_flags & self.flags):
            return outputs
        from edbp.reference.device.agent import EAT_PROFILE, _installed_entries

        installed = (
            ()
            if "evidence-without-manifests" in self.flags
            else tuple(_installed_entries(self.installer.load()))
        )
        claims = EatClaims(
            ueid=self.keys.ueid,
            cnf=self._throwaway.public() if "evidence-cnf" in self.flags else self.keys.dak_public,
            nonce=(
                self._first_challenge
                if "evidence-nonce-reuse" in self.flags and self._first_challenge
                else _off_by_one(challenge)
                if "evidence-nonce-off-by-one" in self.flags and challenge
                else challenge
            ),
            oemid=self.identity.vendor_id,
            hwmodel=self.identity.class_id,
            manifests=installed,
            profile=EAT_PROFILE,
        )
        if "evidence-signer" in self.flags:
            from edbp.reference.wire.cose_sign import sign1

            suite = self.keys.suite  # a key of the DSK's own kind, just not the DSK
            other = (
                CoseKey.generate_akp(Alg.ML_DSA_65, SeededRandom("throwaway"))
                if suite.is_pq
                else CoseKey.generate(suite.signing_curve, SeededRandom("throwaway"))
            )
            evidence = sign1(claims.encode(), other, self.keys.signing_alg).encode()
        else:
            evidence = self.keys.sign(claims.encode()).encode()
        response = teep.QueryResponse(
            token=request.token,
            selected_version=0,
            attestation_payload_format="application/eat+cwt",
            attestation_payload=evidence,
            agent_nonce=self._session.nonce,
        )
        return [self._send(response)]

    # -- the TEEP signature ------------------------------------------------------------------

    def _open_teep(self, data: bytes) -> teep.TeepMessage:
        flags = self.flags
        skips = [(Headers, m, _skip_check) for f, m in _TEEP_HEADER_SKIPS if f in flags]
        if skips and not self._skipping:  # the TEEP layer's verifier only
            self._skipping = True
            try:
                with _patched(skips):
                    return self._open_teep(data)
            finally:
                self._skipping = False
        if "teep-alg-from-key" in flags:
            # only the alg check is replaced (P-4c); the size limit, the strict COSE_Sign1 and
            # the edbp-pq downgrade rule (P-4.1c) stay as the reference has them
            if len(data) > MAX_TEEP_MESSAGE:
                raise WireError(Code.CBOR_TOO_LARGE, "TEEP message above 64 KiB")
            envelope = Sign1.decode(data)
            self._teep_algorithms(envelope)
            return teep.decode(_open_by_key_type(envelope, self.anchors.tam))
        if "teep-ecdsa-hash-from-alg" in flags:
            envelope = Sign1.decode(data)
            if envelope.headers.raw_alg in _GENERIC_ONLY:
                if _generic_ecdsa_open(envelope, self.anchors.tam, envelope.payload) is None:
                    raise VerificationError(Code.TEEP_BAD_SIGNATURE, "TEEP message signature")
                return teep.decode(envelope.payload or b"")
        if "ignore-tam-signature" in flags:
            # every check of steps 1-2 but the signature itself (and so the key it names):
            # size, strict COSE_Sign1, the downgrade rule, the headers, the alg allow-list
            if len(data) > MAX_TEEP_MESSAGE:
                raise WireError(Code.CBOR_TOO_LARGE, "TEEP message above 64 KiB")
            envelope = Sign1.decode(data)
            allowed = self._teep_algorithms(envelope)
            envelope.headers.check_critical(())
            envelope.headers.check_alg_protected()
            envelope.headers.alg(allowed)
            return teep.decode(envelope.payload or b"")
        if "merge-header-buckets" in flags:
            data = _merge_duplicate_headers(data)
        if {"unknown-kid-tries-all", "no-kid-refused", "refuses-es256"} & flags:
            envelope = Sign1.decode(data)
            if "refuses-es256" in flags and envelope.headers.raw_alg == int(Alg.ES256):
                raise WireError(Code.COSE_ALG_NOT_ALLOWED, "ES256 not accepted")
            if "no-kid-refused" in flags and envelope.headers.kid is None:
                raise ProtocolError(Code.AGENT_UNTRUSTED_SIGNER, "no kid")
            kid = envelope.headers.kid
            named = kid is not None and any(
                _eq(k.kid or k.thumbprint(), kid) for k in self.anchors.tam
            )
            if "unknown-kid-tries-all" in flags and kid is not None and not named:
                # only a kid naming no trusted TSK takes the wrong path (P-2b: 604 is decided
                # by the kid alone); a named key is verified as the reference does
                for key in self.anchors.tam:
                    with contextlib.suppress(EdbpError):
                        return teep.decode(envelope.verify(key, algorithms=TEEP_SIGNATURE_ALGS))
                raise ProtocolError(Code.TEEP_BAD_SIGNATURE, "no TSK verifies")
        try:
            return super()._open_teep(data)
        except EdbpError as exc:
            if "unknown-type-unexpected" in flags and exc.code is Code.TEEP_UNKNOWN_TYPE:
                raise ProtocolError(Code.AGENT_UNEXPECTED_MESSAGE, "unknown type") from None
            raise

    # -- the Update --------------------------------------------------------------------------

    def _on_update(self, event: Any, update: teep.Update) -> list[Output]:
        """The reference ``_on_update`` with each check behind a flag."""
        flags = self.flags
        self.state = AgentState.VERIFYING
        session, self._session = self._session, None
        if update.token is not None and len(update.token) != TOKEN_BYTES:
            raise WireError(Code.TEEP_MALFORMED, "token: 16 bytes")
        if update.unneeded_manifest_list is not None:
            raise WireError(Code.TEEP_MALFORMED, "manifest-list and unneeded-manifest-list")
        self._report_to = _reference_of(update, session)
        manifests = update.manifest_list or ()
        offered = None if session is None else session.offered
        identity, anchors = self.identity, self.anchors
        if "tam-key-as-author" in flags:
            anchors = TrustAnchors(anchors.tam, anchors.author + anchors.tam, anchors.ta_signers)
        if manifests and "accept-other-device" in flags:
            tam = Envelope.decode(manifests[0])
            mid = tam.manifest.component_id
            if mid is not None and len(mid) == 4:
                identity = attrs.evolve(identity, ueid=mid[3])
        early_challenge = None
        if "replay-check-first" in flags:
            early_challenge = self._bound_challenge(session, update)
        if "ueid-prefix-compare" in flags and manifests:
            mid = Envelope.decode(manifests[0]).manifest.component_id
            if mid is not None and len(mid) == 4 and mid[3][:-1] == identity.ueid[:-1]:
                identity = attrs.evolve(identity, ueid=mid[3])  # compares all but the last byte
        if "class-key-profile" in flags:
            with _class_wraps_allowed():
                plan = verify_update(manifests, identity, anchors, offered)
        else:
            plan = verify_update(manifests, identity, anchors, offered)
        class_wrap = "class-key-profile" in flags and any(
            r.headers.raw_alg == int(Alg.A256KW) for r in plan.encryption.recipients
        )
        if "kid-prefix-compare" in flags:
            (recipient,) = plan.encryption.recipients
            kid, own = recipient.headers.kid or b"", self.keys.dak_public.kid or b""
            if not _eq(kid[:16], own[:16]):
                raise ProtocolError(Code.AGENT_NOT_FOR_THIS_DEVICE, "another key")
            flags = flags | {"skip-recipient-kid"}
        if not ({"accept-other-device", "skip-recipient-kid"} & flags) and not class_wrap:
            check_binding(plan, self.keys.dak_public.kid, self.keys.ueid)
        challenge = early_challenge or self._bound_challenge(session, update)
        record = self.installer.load()
        self.installer.check_floor(record, plan.component_id, plan.sequence)
        self._step("deploy.verify_update", f"component {plan.component_id!r} seq {plan.sequence}")
        self._cek = self.keys.unwrap_cek(plan.encryption, content_algs=SUIT_CONTENT_ALGS)
        self._step("deploy.unwrap_cek", "CEK unwrapped with the DAK inside the TEE")
        if plan.ciphertext_size > self.installer.budget.max_payload:
            raise ProtocolError(Code.AGENT_RESOURCE_LIMIT, "payload above the Agent's limit")
        self._pending = _Pending(plan, update.token, challenge)
        self._step("deploy.fetch", plan.uri)
        return [FetchPayload(plan.uri, plan.ciphertext_size, plan.ciphertext_digest.digest)]

    def _bound_challenge(self, session: Any, update: teep.Update) -> bytes:
        expected = None if session is None else (session.token or session.challenge)
        current = expected is not None and update.token is not None and _eq(update.token, expected)
        if "accept-stale-challenge" in self.flags and update.token is not None and not current:
            # an earlier exchange's token is taken; the open exchange's is checked in full
            for challenge, token in reversed(self._history):
                if _eq(update.token, token or challenge):
                    return challenge
        near_miss = (
            "token-prefix-compare" in self.flags
            and expected is not None
            and update.token is not None
            and _eq(update.token[:8], expected[:8])  # a near-miss compare: 8 of 16 bytes
        )
        if not (current or near_miss):
            raise ProtocolError(Code.AGENT_REPLAY, "Update not bound to the open challenge")
        self._check_lifetime(session)
        from edbp.reference.device import agent as agent_module

        agent_module._check_nonce(update, session)  # looked up: the nonce faults patch it
        return bytes(session.challenge)

    def _check_lifetime(self, session: Any) -> None:
        if "exchange-never-expires" not in self.flags:
            super()._check_lifetime(session)

    # -- the payload -------------------------------------------------------------------------

    def _decrypt_then_check(self, spec: Any, source: Any) -> None:
        """Trial-decrypts the ciphertext before checking its signed digest (P9 broken), with
        the delivery's own content algorithm: an AEAD's tag, or for CTR (no integrity of its
        own) the signed plaintext digest, decides, so a payload the digest check would pass
        decrypts here too and only the order of the checks differs from the reference."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from edbp.reference.wire.cose_algs import Alg

        data = b"".join(source.read_chunks(1 << 16))
        assert self._cek is not None
        try:
            if spec.content_alg in (Alg.A128CTR, Alg.A256CTR):
                plain = Cipher(algorithms.AES(bytes(self._cek)), modes.CTR(spec.iv)).decryptor()
                digest = hashlib.sha256(plain.update(data) + plain.finalize()).digest()
                if spec.plaintext_digest is None or not hmac.compare_digest(
                    digest, spec.plaintext_digest
                ):
                    raise InvalidTag()
            else:
                AESGCM(bytes(self._cek)).decrypt(spec.iv, data, spec.aad)
        except (InvalidTag, ValueError):
            raise ProtocolError(Code.AGENT_DECRYPT_FAILED, "decryption failed") from None
        type(self.installer).check_payload(self.installer, spec, source)

    def _on_payload(self, event: Any, _: Any) -> list[Output]:
        cek = bytes(self._cek) if self._cek is not None else b""
        if "report-nonce-reuse" in self.flags and self._pending is not None:
            first = self._history[0][0] if self._history else self._pending.challenge
            self._pending = attrs.evolve(self._pending, challenge=first)
        if "report-nonce-off-by-one" in self.flags and self._pending is not None:
            near = _off_by_one(self._pending.challenge)
            self._pending = attrs.evolve(self._pending, challenge=near)
        if "report-reference-author" in self.flags and self._pending is not None:
            plan = self._pending.plan  # names the author manifest instead of the device's
            self._pending = attrs.evolve(
                self._pending, plan=attrs.evolve(plan, tam_digest=plan.author_digest)
            )
        outputs = super()._on_payload(event, _)
        if "cek-in-success" in self.flags:
            reply = outputs[0]
            assert isinstance(reply, SendMessage)
            success = teep.peek(reply.data)
            assert isinstance(success, teep.Success)
            leaky = attrs.evolve(success, msg="installed; key " + cek.hex())
            return [self._send(leaky)]
        return outputs

    # -- error codes -------------------------------------------------------------------------

    def _on_fetch_failed(self, event: Any, _: Any) -> list[Output]:
        if "fetch-failure-as-install-failed" in self.flags:
            raise ProtocolError(Code.AGENT_INSTALL_FAILED, "no payload")
        return super()._on_fetch_failed(event, _)

    def _fail(self, code: Code, token: bytes | None) -> SendMessage:
        if "unexpected-keeps-exchange" in self.flags and code is Code.AGENT_UNEXPECTED_MESSAGE:
            session, state = self._session, self.state
            sent = self._fail_reference(code, token)
            self._session, self.state = session, state  # the open exchange survives
            return sent
        sent = self._fail_reference(code, token)
        if "err-msg-without-code" in self.flags:
            error = teep.peek(sent.data)
            assert isinstance(error, teep.Error)
            return self._send(attrs.evolve(error, err_msg=code.name), sent.code)
        return sent

    def _fail_reference(self, code: Code, token: bytes | None) -> SendMessage:
        if "error-without-report" in self.flags:
            self._report_to = None  # Errors never carry the signed SUIT report
        if "early-floor" in self.flags and self._pending is not None:
            # the floor goes up although nothing was installed: a partial state
            record = self.installer.load()
            retired = dict(record.retired)
            retired[component_key(self._pending.plan.component_id)] = self._pending.plan.sequence
            self.installer._commit(
                AgentRecord(
                    dict(record.components), dict(record.ta_floors), record.installs, retired
                )
            )
        if "wrong-error-code" in self.flags and code is not Code.AGENT_INSTALL_FAILED:
            code = Code.AGENT_INSTALL_FAILED  # every refusal reported as a storage failure
        return super()._fail(code, token)


class FixedNonceKeys(DeviceKeys):
    """Device keys whose ECDSA signatures use one fixed nonce k (P11 broken: two signatures
    under the DSK give away the private key)."""

    _K = 0x1D0C_0FFE_E15B_AD5E_ED00_DEAD_BEEF

    def sign(self, payload: bytes, *, protected: Any = None, unprotected: Any = None) -> Sign1:
        honest = super().sign(payload, protected=protected, unprotected=unprotected)
        tbs = sig_structure(honest.headers.protected_for_crypto, b"", payload)
        priv = self._dsk.private_key()
        assert isinstance(priv, ec.EllipticCurvePrivateKey)
        n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        d = priv.private_numbers().private_value
        z = int.from_bytes(hashlib.sha256(tbs).digest(), "big")
        kg = ec.derive_private_key(self._K, ec.SECP256R1()).public_key().public_numbers()
        r = kg.x % n
        s = pow(self._K, -1, n) * (z + r * d) % n
        return attrs.evolve(honest, signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Es256Keys(DeviceKeys):
    """Device keys that label their P-256 signatures ES256 (-7), the generic COSE name a
    library offers first, where a device must emit ESP256 (-9)."""

    def sign(self, payload: bytes, *, protected: Any = None, unprotected: Any = None) -> Sign1:
        from edbp.reference.wire.cose_sign import sign1

        unprot = {4: self._dsk.kid, **(unprotected or {})}
        return sign1(payload, self._dsk, Alg.ES256, protected=protected, unprotected=unprot)


#: algorithms a generic ECDSA verifier takes that the reference refuses (ES384, ES512)
_GENERIC_ONLY = frozenset(GENERIC_ECDSA_HASHES) - {int(Alg.ES256), int(Alg.ESP256)}


def _generic_ecdsa_open(cose: Sign1, keys: Any, payload: bytes | None) -> bytes | None:
    """A vendor port's signature check: the header checks of the reference, then the trusted
    key the ``kid`` names verified by a generic ECDSA routine with the hash the ``alg``
    header names (ES384 over a P-256 key passes). The payload, or None if no key verifies."""
    cose.headers.check_critical(())
    cose.headers.check_alg_protected()
    kid = cose.headers.kid
    tbs = sig_structure(cose.headers.protected_for_crypto, b"", payload or b"")
    for key in keys:
        if kid is not None and not _eq(key.kid or key.thumbprint(), kid):
            continue
        if generic_ecdsa_verify(key, int(cose.headers.raw_alg), tbs, cose.signature):
            return payload
    return None


def _open_by_key_type(cose: Sign1, keys: Any) -> bytes:
    """A TEEP verifier that never reads ``alg``: the header checks, then the trusted key the
    ``kid`` names verifies with its own algorithm (ESP256 for P-256, ML-DSA-65 for an AKP key,
    Ed25519 otherwise), so any label passes over a valid signature (EdDSA or a private-use id
    on a P-256 key)."""
    from edbp.reference.wire.cose_sign import _verify_raw

    cose.headers.check_critical(())
    cose.headers.check_alg_protected()
    kid = cose.headers.kid
    named = [k for k in keys if kid is None or _eq(k.kid or k.thumbprint(), kid)]
    if not named:
        raise ProtocolError(Code.AGENT_UNTRUSTED_SIGNER, "kid names no trusted TSK")
    for key in named:
        alg = (
            Alg(key.alg)  # an AKP key carries its one algorithm (ML-DSA-65)
            if key.kty == KeyType.AKP and key.alg is not None
            else Alg.ESP256
            if key.crv == Curve.P256
            else Alg.ED25519
        )
        try:
            _verify_raw(key, alg, cose.to_be_signed(), cose.signature)
        except EdbpError:
            continue
        return cose.payload or b""
    raise VerificationError(Code.TEEP_BAD_SIGNATURE, "TEEP message signature")


def _off_by_one(value: bytes) -> bytes:
    """``value`` copied into a buffer one byte short: its last byte left zero (a C off-by-one
    in a memcpy length); kept different from ``value`` when its last byte is already zero."""
    return value[:-1] + (b"\x00" if value[-1:] != b"\x00" else b"\x01")


def _skip_check(*args: Any, **kwargs: Any) -> None:
    """A header check left out."""


#: flag -> the COSE header check (a ``Headers`` method) the TEEP layer's verifier skips
_TEEP_HEADER_SKIPS = (
    ("teep-crit-ignored", "check_critical"),
    ("teep-alg-unprotected", "check_alg_protected"),
)

#: flag -> (layer the device signs differently, how): one signing path of the device's own
#: layers (its TEEP replies, its EAT, its SUIT reports) written apart from the others
_EMIT_FAULTS = {
    "reply-es256": ("teep", "es256"),
    "eat-es256": ("eat", "es256"),
    "report-es256": ("report", "es256"),
    "reply-alg-unprotected": ("teep", "alg-unprotected"),
    "eat-alg-unprotected": ("eat", "alg-unprotected"),
    "report-alg-unprotected": ("report", "alg-unprotected"),
    "reply-es384": ("teep", "es384"),
    "eat-es384": ("eat", "es384"),
    "report-es384": ("report", "es384"),
}


def _signed_layer(payload: bytes) -> str:
    """Which of the device's layers ``payload`` is: a TEEP message is an array, an EAT a
    claims map with a UEID (256), anything else the Agent signs a SUIT report."""
    try:
        item = cbor.loads(payload)
    except EdbpError:
        return "report"
    if isinstance(item, list):
        return "teep"
    return "eat" if isinstance(item, dict) and 256 in item else "report"


class LayerKeys(DeviceKeys):
    """Device keys whose signatures on one layer (``layer``) are made by another code path:
    labelled ES256 (``es256``), signed ES384 (``es384``: SHA-384 over the P-256 DSK) or with
    the alg in the unprotected header (``alg-unprotected``)."""

    layer = ""
    mode = ""

    def sign(self, payload: bytes, *, protected: Any = None, unprotected: Any = None) -> Sign1:
        from edbp.reference.wire.cose_sign import sign1

        if _signed_layer(payload) != self.layer:
            return super().sign(payload, protected=protected, unprotected=unprotected)
        unprot = {4: self._dsk.kid, **(unprotected or {})}
        if self.mode == "es256":
            return sign1(payload, self._dsk, Alg.ES256, protected=protected, unprotected=unprot)
        if self.mode == "es384":  # a generic library's ECDSA with SHA-384 on the P-256 DSK
            return Sign1.decode(foreign_sign1(payload, self._dsk, -35, kid=self._dsk.kid))
        alg = self.signing_alg
        return sign1(
            payload, self._dsk, alg, protected=protected, unprotected={1: int(alg), **unprot}
        )


# ------------------------------------------------------------------------------ faulty devices


class FaultyDevice(ReferenceDevice):
    """The reference device running a ``FaultyAgent`` with ``flags``; subclasses change the
    REE side or an adapter request."""

    flags: frozenset[str] = frozenset()

    def make_agent(self) -> Agent:
        flags = self.flags
        agent_class = type("Agent", (FaultyAgent,), {"flags": flags})
        self.agent_class = agent_class
        return super().make_agent()


def _agent_fault(*flags: str) -> Callable[[], ReferenceDevice]:
    cls = type("FaultyDevice", (FaultyDevice,), {"flags": frozenset(flags)})
    return cls


class ClassKeyKeys(DeviceKeys):
    """Device keys that also unwrap CEKs wrapped under class keys stored on the device."""

    class_keys: tuple[bytes, ...] = ()

    def unwrap_cek(self, encryption: Any, *, content_algs: Any) -> bytearray:
        try:
            return super().unwrap_cek(encryption, content_algs=content_algs)
        except EdbpError:
            for k in self.class_keys:
                try:
                    cek = encryption.unwrap_cek(
                        CoseKey.symmetric(k),
                        algorithms=content_algs,
                        recipient_algorithms={Alg.A256KW},
                        allow_unauthenticated=True,
                    )
                except EdbpError:
                    continue
                return bytearray(cek)
            raise


_PATCH_LOCK = threading.RLock()


@contextlib.contextmanager
def _class_wraps_allowed() -> Iterator[None]:
    """The SUIT processor with its recipient-algorithm check relaxed to admit A256KW (class
    key) wraps. The check is a module function of ``edbp.reference.device.update``, so it is
    swapped for the duration of one verification, under a lock (faulty devices only)."""
    from edbp.reference.device import update as update_module

    original = update_module._check_encryption
    original_profile = update_module.check_profile

    def relaxed(enc: Any) -> Any:
        try:
            return original(enc)
        except EdbpError as exc:
            if exc.code is Code.SUIT_UNSUPPORTED_PROFILE and enc.recipients[
                0
            ].headers.raw_alg == int(Alg.A256KW):
                return enc
            raise

    def relaxed_profile(tam_alg: int, author_alg: int, enc: Any, offered: Any) -> None:
        if enc.recipients[0].headers.raw_alg != int(Alg.A256KW):
            original_profile(tam_alg, author_alg, enc, offered)

    with _PATCH_LOCK:
        update_module._check_encryption = relaxed
        update_module.check_profile = relaxed_profile
        try:
            yield
        finally:
            update_module._check_encryption = original
            update_module.check_profile = original_profile


def _module_patches() -> dict[str, tuple[tuple[Any, str, Any], ...]]:
    """flag -> (module, attribute, faulty value): one constant or check of the reference
    changed, as a vendor's port might (a generic CBOR library's defaults, a missing limit, a
    check left out)."""
    from edbp.reference.device import agent as agent_module
    from edbp.reference.device import update as update_module
    from edbp.reference.wire import cbor as cbor_module
    from edbp.reference.wire import cose_sign as cose_sign_module

    def shape_only(update: Any, record: Any, ueid: bytes) -> None:
        """One sequence number per listed component is required, but none is compared with
        the installed one: a replayed old uninstall removes a later install."""
        if len(update.unneeded_sequence_numbers or ()) != len(update.unneeded_manifest_list):
            raise ProtocolError(Code.TEEP_MALFORMED, "one sequence number per component")
        if update.unneeded_device is None:  # the device binding kept: only P-9.10c is broken
            raise ProtocolError(Code.TEEP_MALFORMED, "no device named")
        if update.unneeded_device != ueid:
            raise ProtocolError(Code.AGENT_NOT_FOR_THIS_DEVICE, "another device's uninstall")

    checked = agent_module._check_uninstall_binding
    check_nonce = agent_module._check_nonce

    def nonce_if_present(update: Any, session: Any) -> None:
        """An echoed nonce is compared; an Update echoing none is taken (the edbp profile
        requires the option: P-9.7c's TEEP_MALFORMED lost)."""
        if update.agent_nonce is not None:
            check_nonce(update, session)

    def any_device(update: Any, record: Any, ueid: bytes) -> None:
        """The sequence numbers are compared, the device the uninstall names is not: another
        device's uninstall, relayed after its QueryRequest, removes this device's component."""
        checked(update, record, update.unneeded_device or ueid)

    def signature_unchecked(layer: str) -> Any:
        """The layer's verifier with the signature arithmetic left out, every other check of
        step 4 kept: the wrapper digest, the edbp-pq downgrade rule (P-4.1c), the algorithm
        allow-list, the headers, the key the ``kid`` names (604 for a key it does not trust,
        P-2b). The first trusted key of the role that fits the block's alg "verifies"."""

        def verify(envelope: Any, keys: Any, **kw: Any) -> Any:
            if (keys is current_anchors.tam) != (layer == "device"):
                return original_verify(envelope, keys, **kw)
            with _patched([(cose_sign_module, "_verify_raw", lambda *a: None)]):
                return original_verify(envelope, keys, **kw)

        return verify

    def alg_late(layer: str) -> Any:
        """The layer's verifier admits any algorithm id it knows up front and leaves the
        check to the COSE library, after a key was picked (another code than 316)."""

        def verify(envelope: Any, keys: Any, **kw: Any) -> Any:
            if (keys is current_anchors.tam) != (layer == "device") or kw.get("pq"):
                # an edbp-pq device's allow-list is its own (ML-DSA-65 only, the downgrade
                # rule of P-4.1c): the fault is the classical profile's allow-list
                return original_verify(envelope, keys, **kw)
            saved = update_module.OFFERED_SIGNATURE_ALGS
            update_module.OFFERED_SIGNATURE_ALGS = frozenset(Alg)
            try:
                return original_verify(envelope, keys, **kw)
            finally:
                update_module.OFFERED_SIGNATURE_ALGS = saved

        return verify

    def ecdsa_hash_from_alg(layer: str) -> Any:
        """The layer's SUIT verifier hands an ES384/ES512 block to a generic ECDSA routine
        (hash from ``alg``) and records the key's algorithm (ESP256) for the profile check."""

        def verify(envelope: Any, keys: Any, **kw: Any) -> Any:
            if (keys is current_anchors.tam) != (layer == "device"):
                return original_verify(envelope, keys, **kw)
            cose = Sign1.decode(envelope.authentication.blocks[0])
            if cose.headers.raw_alg not in _GENERIC_ONLY:
                return original_verify(envelope, keys, **kw)
            if not envelope.digest_matches():
                raise VerificationError(Code.SUIT_DIGEST_MISMATCH, "manifest digest")
            payload = envelope.authentication.signed_payload
            if _generic_ecdsa_open(cose, keys, payload) is None:
                raise VerificationError(Code.SUIT_AUTH_FAILED, "no authentication block verifies")
            return int(Alg.ESP256)

        return verify

    def header_check_skipped(layer: str, method: str) -> Any:
        """The layer's SUIT verifier without one COSE header check (``Headers.method``)."""

        def verify(envelope: Any, keys: Any, **kw: Any) -> Any:
            if (keys is current_anchors.tam) != (layer == "device"):
                return original_verify(envelope, keys, **kw)
            with _patched([(Headers, method, _skip_check)]):
                return original_verify(envelope, keys, **kw)

        return verify

    def digest_all_but_last(envelope: Any) -> bool:
        """The wrapper's manifest digest compared over all but its last byte."""
        from edbp.reference.wire.suit_core import SuitDigest, wrap

        own = envelope.authentication.digest
        actual = SuitDigest.of(wrap(envelope.manifest.encode()), own.alg).digest
        return bool(own.digest) and _eq(own.digest[:-1], actual[:-1])

    original_verify = update_module.verify_signed_envelope

    def receive(limits: Any) -> Any:
        return contextvars.ContextVar("edbp_receive_limits", default=limits)

    return {
        "cbor-strict-receive": ((cbor_module, "_RECEIVE_LIMITS", receive(cbor_module.STRICT)),),
        "cbor-depth-64": (
            (
                cbor_module,
                "_RECEIVE_LIMITS",
                receive(attrs.evolve(cbor_module.RECEIVE, max_depth=64)),
            ),
        ),
        "no-message-limit": ((agent_module, "MAX_TEEP_MESSAGE", 1 << 24),),
        "uninstall-any-install": ((agent_module, "_check_uninstall_binding", shape_only),),
        "agent-ignores-agent-nonce": ((agent_module, "_check_nonce", lambda u, s: None),),
        "agent-nonce-optional": ((agent_module, "_check_nonce", nonce_if_present),),
        "uninstall-any-device": ((agent_module, "_check_uninstall_binding", any_device),),
        "manifest-limit-8": ((update_module, "MAX_MANIFESTS", 8),),
        "ignore-vendor-id": ((update_module, "check_vendor", lambda params, vendor: None),),
        # the class condition never compared (both manifests' conditions); nothing else of
        # steps 4-5 moves (the author envelope is verified where the reference verifies it)
        "ignore-class-id": ((update_module, "check_class", lambda params, class_id: None),),
        "skip-author-signature": (
            (update_module, "verify_signed_envelope", signature_unchecked("author")),
        ),
        "device-alg-late": ((update_module, "verify_signed_envelope", alg_late("device")),),
        "author-alg-late": ((update_module, "verify_signed_envelope", alg_late("author")),),
        "device-manifest-ecdsa-hash-from-alg": (
            (update_module, "verify_signed_envelope", ecdsa_hash_from_alg("device")),
        ),
        "author-manifest-ecdsa-hash-from-alg": (
            (update_module, "verify_signed_envelope", ecdsa_hash_from_alg("author")),
        ),
        "skip-device-manifest-signature": (
            (update_module, "verify_signed_envelope", signature_unchecked("device")),
        ),
        "manifest-digest-off-by-one": ((Envelope, "digest_matches", digest_all_but_last),),
        **{
            f"{layer}-manifest-{what}": (
                (update_module, "verify_signed_envelope", header_check_skipped(layer, method)),
            )
            for layer in ("device", "author")
            for what, method in (
                ("crit-ignored", "check_critical"),
                ("alg-unprotected", "check_alg_protected"),
            )
        },
    }


class _Anchors:
    """The trust anchors of the Agent being patched (``_patched`` runs under one lock)."""

    tam: Any = None


current_anchors = _Anchors()
_MODULE_PATCHES: dict[str, tuple[tuple[Any, str, Any], ...]] = {}


@contextlib.contextmanager
def _patched(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    with _PATCH_LOCK:
        saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
        for module, name, value in patches:
            setattr(module, name, value)
        try:
            yield
        finally:
            for module, name, value in reversed(saved):
                setattr(module, name, value)


def _merge_duplicate_headers(data: bytes) -> bytes:
    """Drops unprotected headers that repeat a protected one ("protected wins"), where the
    spec refuses the message (COSE_DUPLICATE_HEADER)."""
    try:
        tag = cbor.loads(data)
        protected, unprotected, payload, signature = tag.value
        inner = cbor.loads(protected) if protected else {}
    except (EdbpError, ValueError, TypeError, AttributeError):
        return data
    if not isinstance(unprotected, dict) or not isinstance(inner, dict):
        return data
    kept = {k: v for k, v in unprotected.items() if k not in inner}
    if len(kept) == len(unprotected):
        return data
    return cbor.dumps(cbor.Tag(18, [protected, kept, payload, signature]))


def _faulty_image_check(check: Any, flags: frozenset[str]) -> Any:
    """The OP-TEE image check with one of its rules changed."""

    def faulty(sealed: Any, staging: str, spec: Any, record: AgentRecord) -> Any:
        cid = spec.component_id
        if "ta-floor-ignored" in flags:
            record = attrs.evolve(record, ta_floors={})  # the stored TA versions never read
        if "ta-version-vs-suit-floor" in flags and len(cid) == 3:
            floors = dict(record.ta_floors)
            floors[cid[2]] = max(floors.get(cid[2], 0), record.floor(tuple(cid)) or 0)
            record = attrs.evolve(record, ta_floors=floors)  # the TA version vs the SUIT floor
        try:
            result = check(sealed, staging, spec, record)
        except EdbpError as exc:
            if "ta-uuid-unchecked" in flags and exc.code is Code.TA_UUID_MISMATCH:
                return None, None  # "not one of our TAs": installed without the loader's floor
            raise
        version = result[0]
        if "ta-floor-strict" in flags and len(cid) == 3 and version is not None:
            if version <= record.ta_floors.get(cid[2], -1):
                raise ProtocolError(Code.TA_VERSION_ROLLBACK, "TA version not above the floor")
        return result

    return faulty


class HoldsClassKeys(FaultyDevice):
    """Takes class keys offered at provisioning (``class_keys``) and unwraps class-key CEK
    wraps with them: the class key has left the HSM (P2 broken)."""

    class_keys: tuple[bytes, ...] = ()
    flags = frozenset({"class-key-profile"})

    def factory_reset(self, keep_keys: bool) -> None:
        self.class_keys = ()
        super().factory_reset(keep_keys)

    def req_provision(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        offered = args.get("class_keys", [])
        self.class_keys = tuple(k for k in offered if isinstance(k, bytes))
        return super().req_provision(args, host)

    def make_agent(self) -> Agent:
        agent = super().make_agent()
        keys = agent.keys
        swapped = type("Keys", (ClassKeyKeys,), {"class_keys": self.class_keys})(
            suite=keys.suite, ueid=keys.ueid, dak=keys._dak, dsk=keys._dsk
        )
        agent.keys = swapped
        return agent


class ClockNotAdvanced(ReferenceDevice):
    """Declares ``monotonic-clock`` but ``advance_clock`` leaves the TEE's clock as it was: the
    harness believes time passed that the Agent never saw (spec/adapter.md A-4f)."""

    def req_advance_clock(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        self._need("monotonic-clock")
        return {}


class CrashOnMalformed(ReferenceDevice):
    """Hands the message to a parser that dies on malformed CBOR instead of refusing it."""

    def req_deliver(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        message = args.get("message")
        if isinstance(message, bytes):
            try:
                cbor.loads(message, cbor.LENIENT)
            except EdbpError:
                raise RuntimeError("segmentation fault in the TEEP parser") from None
        return super().req_deliver(args, host)


class CekToRee(FaultyDevice):
    """The Agent tells the REE the CEK (a debug hint in the fetch request)."""

    def fetch(self, request: FetchPayload, host: Any) -> Any:
        cek = self.agent._cek
        if cek is not None:
            request = attrs.evolve(request, uri=f"{request.uri}#cek={bytes(cek).hex()}")
        return super().fetch(request, host)


class CekBase64ToRee(FaultyDevice):
    """The Agent's debug hint carries the CEK in base64 (a scan for raw and hex misses it)."""

    def fetch(self, request: FetchPayload, host: Any) -> Any:
        import base64

        cek = self.agent._cek
        if cek is not None:
            hint = base64.b64encode(bytes(cek)).decode()
            request = attrs.evolve(request, uri=f"{request.uri}#k={hint}")
        return super().fetch(request, host)


class SuccessBeforeCommit(ReferenceDevice):
    """Sends the Success as soon as the payload checked out, before the install is committed:
    a power cut in between leaves the old version behind a signed Success for the new one."""

    _pending: Any = None

    def fetch(self, request: FetchPayload, host: Any) -> Any:
        self._pending = self.agent._pending
        return super().fetch(request, host)

    def relay(self, message: bytes, host: Any, replies: list[SendMessage]) -> None:
        self._pending = None
        try:
            super().relay(message, host, replies)
        except PowerLoss:
            if self._pending is not None:
                replies.append(self.agent._send(teep.Success(token=self._pending.token)))
            raise


class RetiredFloorsInRam(FaultyDevice):
    """Keeps the floors of uninstalled components in RAM only: every restart loses them."""

    def boot(self) -> None:
        super().boot()
        record = self.agent.record()
        if record.retired:
            self.agent.installer._commit(attrs.evolve(record, retired={}))


class AnchorsInRam(ReferenceDevice):
    """Applies a provision to the running Agent only; a restart brings back the trust anchors
    of the first provision (stored at manufacture)."""

    _stored: Any = None

    def factory_reset(self, keep_keys: bool) -> None:
        self._stored = None
        super().factory_reset(keep_keys)

    def req_provision(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        result = super().req_provision(args, host)
        if self._stored is None:
            self._stored = self.anchors
        return result

    def boot(self) -> None:
        if self._stored is not None and getattr(self, "_provisioned_boot", False):
            self.anchors = self._stored
        super().boot()

    def req_deliver(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        self._provisioned_boot = True  # later boots are restarts, not provisions
        try:
            return super().req_deliver(args, host)
        finally:
            self._provisioned_boot = False


class PlaintextInState(ReferenceDevice):
    """The ``state`` reply (REE-visible) carries the installed plaintext image."""

    def req_state(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        result = super().req_state(args, host)
        for entry in result["components"]:
            entry["image"] = self.agent.installed_image(tuple(entry["component"]))
        return result


class KeepsRevokedAnchors(ReferenceDevice):
    """``provision`` adds trust anchors to the old ones instead of replacing them."""

    def req_provision(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        old = self.anchors
        result = super().req_provision(args, host)
        self.anchors = TrustAnchors(
            old.tam + self.anchors.tam,
            old.author + self.anchors.author,
            old.ta_signers + self.anchors.ta_signers,
        )
        self.boot()
        return result


class ExportsPrivateKeys(ReferenceDevice):
    """``identity`` returns the DAK with its private part (the device key leaves the TEE)."""

    def req_identity(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        result = super().req_identity(args, host)
        result["dak"] = self.agent.keys.agreement_key().encode()
        return result


class SharedDeviceKeys(ReferenceDevice):
    """Every unit of the model holds the same DAK, DSK and UEID (one compromise opens all)."""

    def factory_reset(self, keep_keys: bool) -> None:
        self.rng = SeededRandom("one key for the whole fleet")
        self._resets = 0
        super().factory_reset(keep_keys)


class RefusalAsErrorReply(ReferenceDevice):
    """Turns the Agent's refusal into an adapter error reply (the signed Error is lost)."""

    def req_deliver(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        result = super().req_deliver(args, host)
        if "code" in result and not result.get("power_cut"):
            raise AdapterError(Code.ADAPTER_DEVICE_ERROR, f"agent refused: {result['code']}")
        return result


class DeliverOmitsCode(ReferenceDevice):
    """Returns the Agent's Error in ``replies`` but no ``code`` member."""

    def req_deliver(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        result = super().req_deliver(args, host)
        result.pop("code", None)
        return result


class SmallLimits(ReferenceDevice):
    """Declares limits below protocol.md §6 (32 KiB messages)."""

    def req_hello(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        result = super().req_hello(args, host)
        result["limits"] = {"max_message": 32768, "max_payload": result["limits"]["max_payload"]}
        return result


class StateWithoutRetiredFloors(ReferenceDevice):
    """``state`` lists floors only of installed components (an uninstalled one's floor is
    kept by the Agent but not reported)."""

    def req_state(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        result = super().req_state(args, host)
        installed = [c["component"] for c in result["components"]]
        result["floors"] = [f for f in result["floors"] if f["component"] in installed]
        return result


class PowerCutNotReported(ReferenceDevice):
    """Reboots after a power cut but answers the ``deliver`` as if nothing happened."""

    def _deliver_result(self, replies: Any, power_cut: bool = False) -> dict[str, Any]:
        return super()._deliver_result(replies, power_cut=False)


class RefusesUnknownMembers(ReferenceDevice):
    """Refuses a ``provision`` carrying a member it does not know (800)."""

    def req_provision(self, args: dict[str, Any], host: Any) -> dict[str, Any]:
        known = {"tam_keys", "author_keys", "ta_keys", "test_keys", "floors"}
        if set(args) - known:
            raise AdapterError(Code.ADAPTER_MALFORMED_FRAME, "unknown provision member")
        return super().req_provision(args, host)


class ShimFrames(ReferenceDevice):
    """A shim whose frame loop rewrites what it sends (``rewrite``): the adapter server's
    loop with one line of the shim's own framing code changed."""

    def rewrite(self, item: Any) -> Any:
        return item

    def serve_socket(self, sock: Any) -> None:
        from edbp.conformance.adapter.framing import FrameReader, encode_frame
        from edbp.conformance.adapter.server import serve_stream

        def write(data: bytes) -> None:
            for item in FrameReader().feed(data):  # one frame per write
                sock.sendall(encode_frame(self.rewrite(item)))

        serve_stream(sock.recv, write, self)


class ReplyIdAfterAsk(ShimFrames):
    """Keeps one "current id" for requests and asks: the reply to a ``deliver`` that asked a
    fetch carries the ask's id instead of the request's."""

    _current: Any = None

    def rewrite(self, item: Any) -> Any:
        if isinstance(item, dict) and "ask" in item:
            self._current = item.get("id")
        elif isinstance(item, dict) and "ok" in item and self._current is not None:
            item = {**item, "id": self._current}
            self._current = None
        return item


class UnknownRequestMalformed(ShimFrames):
    """Its dispatcher treats an unknown ``req`` as a malformed frame (800, not 802)."""

    def rewrite(self, item: Any) -> Any:
        if isinstance(item, dict) and item.get("code") == int(Code.ADAPTER_UNKNOWN_REQUEST):
            item = {**item, "code": int(Code.ADAPTER_MALFORMED_FRAME)}
        return item


# ------------------------------------------------------------------------------ the catalogue


@attrs.frozen
class Fault:
    """One faulty variant: what it breaks and how to make it."""

    description: str
    properties: tuple[str, ...]
    make: Callable[[], DeviceBackend] = attrs.field(repr=False)
    duty: str = ""  # the error-handling duty it breaks, when it is one of the list
    #: the spec clauses (spec/coverage.md) it breaks; the cases naming them must catch it
    clauses: tuple[str, ...] = ()
    #: the profile of the device (``blueprint`` faults run the blueprint cases)
    profile: str = "edbp"


FAULTS: dict[str, Fault] = {
    "cek-in-success": Fault(
        "reports the CEK in the msg of its Success",
        ("P1",),
        _agent_fault("cek-in-success"),
        clauses=("P-11a",),
    ),
    "holds-class-key": Fault(
        "accepts class keys at provisioning and unwraps class-key CEK wraps with them",
        ("P2",),
        HoldsClassKeys,
        # to unwrap a class-key wrap it must accept A256KW as a device recipient, an algorithm
        # of no device profile (``class-key-profile``): the profile rule P-9.5b, by construction
        clauses=("P-9.4b", "P-9.5b"),
    ),
    "cek-to-ree": Fault(
        "leaks the CEK to the REE (appended to the payload fetch request)",
        ("P1", "P8"),
        type("CekToReeDevice", (CekToRee,), {"flags": frozenset()}),
        "leaks CEK to REE",
        clauses=("P-11a",),
    ),
    "plaintext-in-state": Fault(
        "returns the installed plaintext image in the REE-visible state reply",
        ("P8",),
        PlaintextInState,
        clauses=("P-11a",),
    ),
    "exchange-never-expires": Fault(
        "keeps its exchange open without a lifetime: an Update the REE withheld for longer "
        "than L_a still installs",
        ("P6",),
        _agent_fault("exchange-never-expires"),
        clauses=("P-8.3d",),
    ),
    "clock-not-advanced": Fault(
        "declares monotonic-clock but advance_clock does not move the TEE's clock",
        ("P6",),
        ClockNotAdvanced,
        clauses=("A-4f",),
    ),
    "tam-key-as-author": Fault(
        "one trust store: accepts an author manifest signed by a TAM key",
        ("P5", "P12"),
        _agent_fault("tam-key-as-author"),
        clauses=("P-9.5a",),
    ),
    "evidence-nonce-reuse": Fault(
        "puts the first challenge it ever saw in every EAT instead of the current one",
        ("P3", "P6"),
        _agent_fault("evidence-nonce-reuse"),
        clauses=("P-8.3a",),
    ),
    "evidence-cnf": Fault(
        "names a key other than its DAK in the EAT cnf claim",
        ("P3", "P4"),
        _agent_fault("evidence-cnf"),
        clauses=("P-8.3a",),
    ),
    "evidence-signer": Fault(
        "signs its EAT with a key that is not its DSK",
        ("P3",),
        _agent_fault("evidence-signer"),
        clauses=("P-8.3a",),
    ),
    "accept-other-device": Fault(
        "accepts a delivery meant for another device (no UEID/DAK binding check)",
        ("P4",),
        _agent_fault("accept-other-device"),
        "accepts a delivery meant for another device",
        clauses=("P-9.6a",),
    ),
    "ignore-class-id": Fault(
        "ignores the class id condition (installs packages of another device class)",
        ("P4", "P5"),
        _agent_fault("ignore-class-id"),
        "ignores class id",
        clauses=("P-9.5b",),
    ),
    "ignore-tam-signature": Fault(
        "decodes TEEP messages without verifying the TAM signature",
        ("P5", "P6"),
        _agent_fault("ignore-tam-signature"),
        "ignores TAM signature",
        clauses=("P-9.2a",),
    ),
    "accept-stale-challenge": Fault(
        "accepts an Update bound to any challenge it issued before (not only the open one)",
        ("P6", "P3"),
        _agent_fault("accept-stale-challenge"),
        "accepts stale challenge",
        clauses=("P-9.7a",),
    ),
    "report-nonce-reuse": Fault(
        "puts its first challenge in every install report (reports replayable)",
        ("P6",),
        _agent_fault("report-nonce-reuse"),
        "reuses nonces in reports",
        clauses=("P-8.5a",),
    ),
    "skip-ta-check": Fault(
        "installs TA payloads without OP-TEE's checks (TA signing key, UUID, TA version)",
        ("P5", "P7"),
        _agent_fault("skip-ta-check"),
        # the whole loader: the signature, the UUID and the TA-version floor (one fault per
        # rule besides: ta-uuid-unchecked, ta-floor-ignored)
        clauses=("T-6a", "T-6b", "T-7a"),
    ),
    "skip-rollback": Fault(
        "skips the rollback check (installs any sequence number)",
        ("P7",),
        _agent_fault("skip-rollback"),
        "skips rollback check",
        clauses=("P-9.8a",),
    ),
    "equal-sequence": Fault(
        "accepts a sequence number equal to the floor",
        ("P7",),
        _agent_fault("equal-sequence"),
        "accepts equal sequence number",
        clauses=("P-9.8a",),
    ),
    "uninstall-drops-floor": Fault(
        "forgets the floors when a component is uninstalled (old versions reinstallable)",
        ("P7",),
        _agent_fault("uninstall-drops-floor"),
        clauses=("P-13a",),
    ),
    "decrypt-first": Fault(
        "decrypts the payload before checking its signed digest and size",
        ("P9",),
        _agent_fault("decrypt-first"),
        "decrypts before verifying",
        # decryption moved ahead of the digest and size checks answers its own code for a
        # payload those checks refuse: E-3a broken by construction, as for replay-check-first
        clauses=("P-8.3c", "E-3a"),
    ),
    "early-floor": Fault(
        "raises the floor although the install failed (a partial state is left behind)",
        ("P10",),
        _agent_fault("early-floor"),
        "leaves a partial install on failure",
        clauses=("P-9a",),
    ),
    "crash-on-malformed": Fault(
        "crashes on malformed CBOR instead of refusing it",
        ("P10",),
        CrashOnMalformed,
        "crashes on malformed CBOR",
        clauses=("P-5b",),
    ),
    "wrong-error-code": Fault(
        "refuses correctly but reports every refusal as AGENT_INSTALL_FAILED",
        ("P10",),
        _agent_fault("wrong-error-code"),
        "answers with the wrong error code",
        clauses=("E-3a",),
    ),
    "ecdsa-fixed-k": Fault(
        "signs every message with one fixed ECDSA nonce (nonce reuse under one key)",
        ("P11",),
        _agent_fault("ecdsa-fixed-k"),
        clauses=("P-8.1a",),
    ),
    "exports-private-keys": Fault(
        "returns its DAK private key in the identity reply",
        ("P12", "P1"),
        ExportsPrivateKeys,
        clauses=("P-8.1a",),
    ),
    "shared-device-keys": Fault(
        "every unit holds the same keys and UEID (no per-device keys)",
        ("P12",),
        SharedDeviceKeys,
        clauses=("P-8.1b",),
    ),
    "keeps-revoked-anchors": Fault(
        "keeps trust anchors that a later provision removed (revoked TAM keys stay trusted)",
        ("P13",),
        KeepsRevokedAnchors,
        clauses=("A-4d",),
    ),
    "unknown-kid-tries-all": Fault(
        "a kid naming no trusted TSK: tries every TSK (406) instead of refusing the signer (604)",
        ("P5",),
        _agent_fault("unknown-kid-tries-all"),
        clauses=("P-2b",),
    ),
    "no-kid-refused": Fault(
        "refuses a TEEP message without kid (604) instead of trying its TSKs",
        ("P5",),
        _agent_fault("no-kid-refused"),
        clauses=("P-2c",),
    ),
    "refuses-es256": Fault(
        "refuses TEEP signatures with alg ES256 (-7) from a P-256 TSK",
        ("P10",),
        _agent_fault("refuses-es256"),
        clauses=("P-4a",),
    ),
    "cbor-strict-receive": Fault(
        "decodes TEEP messages strictly: a well-formed map with unsorted keys is refused",
        ("P10",),
        _agent_fault("cbor-strict-receive"),
        clauses=("P-5c",),
    ),
    "cbor-depth-64": Fault(
        "accepts nesting up to 64 levels (limit 16)",
        ("P10",),
        _agent_fault("cbor-depth-64"),
        clauses=("P-5b",),
    ),
    "no-message-limit": Fault(
        "no 64 KiB limit on a TEEP message (only the decoder's 16 MiB)",
        ("P10",),
        _agent_fault("no-message-limit"),
        clauses=("P-6a",),
    ),
    "manifest-limit-8": Fault(
        "allows 8 manifests in one Update (limit 4)",
        ("P10",),
        _agent_fault("manifest-limit-8"),
        clauses=("P-9.3a",),
    ),
    "token-length-unchecked": Fault(
        "pads or cuts a QueryRequest token of the wrong length instead of refusing it",
        ("P10",),
        _agent_fault("token-length-unchecked"),
        clauses=("P-9.3a",),
    ),
    "unknown-type-unexpected": Fault(
        "reports an unknown TEEP type as AGENT_UNEXPECTED_MESSAGE (600) instead of 401",
        ("P10",),
        _agent_fault("unknown-type-unexpected"),
        clauses=("P-9.3a",),
    ),
    "merge-header-buckets": Fault(
        "drops an unprotected header repeating a protected one instead of refusing the message",
        ("P5",),
        _agent_fault("merge-header-buckets"),
        clauses=("P-9.1a",),
    ),
    "skip-device-manifest-signature": Fault(
        "checks the device manifest's digest, alg, headers and kid but not its TSK signature",
        ("P5",),
        _agent_fault("skip-device-manifest-signature"),
        clauses=("P-9.4a",),
    ),
    "skip-author-signature": Fault(
        "checks the author manifest's digest, alg, headers and kid but not its ASK signature",
        ("P5",),
        _agent_fault("skip-author-signature"),
        clauses=("P-9.5a",),
    ),
    "ignore-vendor-id": Fault(
        "ignores the vendor id condition",
        ("P5",),
        _agent_fault("ignore-vendor-id"),
        clauses=("P-9.5b",),
    ),
    "skip-recipient-kid": Fault(
        "does not check that the recipient kid is its own kid(DAK)",
        ("P4",),
        _agent_fault("skip-recipient-kid"),
        clauses=("P-9.6a",),
    ),
    "ueid-prefix-compare": Fault(
        "compares the manifest's UEID with its own except the last byte",
        ("P4",),
        _agent_fault("ueid-prefix-compare"),
        clauses=("P-9.6a",),
    ),
    "replay-check-first": Fault(
        "checks the session binding before the device binding (612 where 602 is due)",
        ("P4",),
        _agent_fault("replay-check-first"),
        # a check moved ahead of its rank answers for inputs an earlier row refuses: the
        # precedence rule (E-3a) is broken by construction, beside the check's own clause
        clauses=("P-9.7b", "E-3a"),
    ),
    "token-prefix-compare": Fault(
        "compares only the first 8 bytes of the Update's token with the open exchange's",
        ("P6",),
        _agent_fault("token-prefix-compare"),
        clauses=("P-9.7a",),
    ),
    "fetch-failure-as-install-failed": Fault(
        "reports a failed payload fetch as AGENT_INSTALL_FAILED (608) instead of 605",
        ("P10",),
        _agent_fault("fetch-failure-as-install-failed"),
        clauses=("P-9.9a",),
    ),
    "uninstall-partial": Fault(
        "uninstalls the listed components that are installed and ignores absent ones (no 611)",
        ("P10",),
        _agent_fault("uninstall-partial"),
        clauses=("P-9.10a",),
    ),
    "agent-ignores-agent-nonce": Fault(
        "never compares the Update's edbp-agent-nonce with its exchange's: an Update withheld "
        "from an earlier exchange installs once a replayed QueryRequest reopened its token",
        ("P6",),
        _agent_fault("agent-ignores-agent-nonce"),
        clauses=("P-9.7c",),
    ),
    "agent-nonce-optional": Fault(
        "compares an echoed edbp-agent-nonce but takes an Update that echoes none",
        ("P6",),
        _agent_fault("agent-nonce-optional"),
        clauses=("P-9.7c",),
    ),
    "constant-agent-nonce": Fault(
        "draws the same Agent nonce for every QueryRequest (no fresh randomness): a replayed "
        "QueryRequest reopens an exchange the withheld Update still matches",
        ("P6",),
        _agent_fault("constant-agent-nonce"),
        # P-8.3f is the defect (no fresh nonce per QueryRequest); P-9.7c is its necessary
        # consequence, not a second defect to narrow away: with one nonce for every exchange
        # the reopened exchange's nonce equals the withheld Update's, so the Update made for an
        # earlier exchange installs where P-9.7c requires TEEP_AGENT_NONCE_MISMATCH (409). The
        # comparison itself is intact; the outcome P-9.7c states is what is lost.
        clauses=("P-8.3f", "P-9.7c"),
    ),
    "uninstall-any-install": Fault(
        "removes a listed component whatever install the uninstall's sequence number names",
        ("P6",),
        _agent_fault("uninstall-any-install"),
        clauses=("P-9.10c",),
    ),
    "uninstall-any-device": Fault(
        "removes a listed component whatever device the uninstall names (another device's "
        "uninstall, relayed, removes this device's component)",
        ("P4",),
        _agent_fault("uninstall-any-device"),
        clauses=("P-9.10d",),
    ),
    "uninstall-sequence-ignored": Fault(
        "removes an unneeded component without running its manifest's suit-uninstall sequence",
        ("P7",),
        _agent_fault("uninstall-sequence-ignored"),
        clauses=("P-9.10b",),
    ),
    "unexpected-keeps-exchange": Fault(
        "keeps the open exchange after refusing an unexpected message",
        ("P6",),
        _agent_fault("unexpected-keeps-exchange"),
        clauses=("P-10.1a",),
    ),
    "ta-uuid-unchecked": Fault(
        "installs a TA image whose bootstrap UUID is not the component's (as an opaque payload)",
        ("P5",),
        _agent_fault("ta-uuid-unchecked"),
        clauses=("T-6b",),
    ),
    "ta-floor-strict": Fault(
        "refuses a TA version equal to the TA-version floor (OP-TEE accepts equal)",
        ("P7",),
        _agent_fault("ta-floor-strict"),
        clauses=("P-13b",),
    ),
    "ta-version-vs-suit-floor": Fault(
        "checks the TA version against the SUIT sequence floor",
        ("P7",),
        _agent_fault("ta-version-vs-suit-floor"),
        clauses=("P-13c", "T-7b"),
    ),
    "ta-floor-ignored": Fault(
        "never reads the stored TA versions: a lower TA version installs under a new sequence",
        ("P7",),
        _agent_fault("ta-floor-ignored"),
        clauses=("T-7a",),
    ),
    "kid-prefix-compare": Fault(
        "compares only the first 16 bytes of the recipient kid with its kid(DAK)",
        ("P4",),
        _agent_fault("kid-prefix-compare"),
        clauses=("P-9.6a",),
    ),
    "report-reference-author": Fault(
        "names the author manifest's digest as the reference of its success report",
        ("P6",),
        _agent_fault("report-reference-author"),
        clauses=("P-8.5a",),
    ),
    "error-without-report": Fault(
        "sends Errors without the signed SUIT report after a manifest was processed",
        ("P6",),
        _agent_fault("error-without-report"),
        clauses=("P-8.5a",),
    ),
    "cek-base64-to-ree": Fault(
        "leaks the CEK to the REE in base64 (appended to the payload fetch request)",
        ("P1", "P8"),
        type("CekBase64Device", (CekBase64ToRee,), {"flags": frozenset()}),
        clauses=("P-11a",),
    ),
    "device-wide-floor": Fault(
        "keeps one rollback floor for the whole device instead of one per component",
        ("P7",),
        _agent_fault("device-wide-floor"),
        clauses=("P-13a",),
    ),
    "success-before-commit": Fault(
        "sends the Success before the install is committed (a cut leaves a false Success)",
        ("P10",),
        SuccessBeforeCommit,
        clauses=("A-4c",),
    ),
    "retired-floors-in-ram": Fault(
        "keeps the floors of uninstalled components in RAM only (lost at every restart)",
        ("P7",),
        type("RetiredFloorsDevice", (RetiredFloorsInRam,), {"flags": frozenset()}),
        clauses=("P-13a",),
    ),
    "anchors-in-ram": Fault(
        "applies a re-provision to the running Agent only; a restart restores the old anchors",
        ("P13",),
        AnchorsInRam,
        clauses=("A-4d",),
    ),
    "emits-es256": Fault(
        "signs its messages, EAT and reports with alg ES256 (-7) instead of ESP256 (-9)",
        ("P11",),
        _agent_fault("emits-es256"),
        clauses=("P-4b",),
    ),
    "device-alg-late": Fault(
        "device-manifest layer: admits any known alg id and lets the COSE library refuse it",
        ("P5",),
        _agent_fault("device-alg-late"),
        clauses=("P-9.4a",),
    ),
    "author-alg-late": Fault(
        "author-manifest layer: admits any known alg id and lets the COSE library refuse it",
        ("P5",),
        _agent_fault("author-alg-late"),
        clauses=("P-9.5a",),
    ),
    "evidence-without-manifests": Fault(
        "leaves the installed state (the manifests claim) out of its EAT",
        ("P3",),
        _agent_fault("evidence-without-manifests"),
        clauses=("P-8.3a",),
    ),
    "err-msg-without-code": Fault(
        "puts only the code's name in err-msg (no edbp:<code>)",
        ("P10",),
        _agent_fault("err-msg-without-code"),
        clauses=("E-2a",),
    ),
    "refusal-as-error-reply": Fault(
        "answers a deliver the Agent refused with an adapter error reply",
        ("P10",),
        RefusalAsErrorReply,
        clauses=("A-3c",),
    ),
    "deliver-omits-code": Fault(
        "omits code from the result of a deliver the Agent refused",
        ("P10",),
        DeliverOmitsCode,
        clauses=("E-2b",),
    ),
    "small-limits": Fault(
        "declares max_message 32 KiB in hello (below protocol.md §6)",
        ("P10",),
        SmallLimits,
        clauses=("A-4a",),
    ),
    "state-without-retired-floors": Fault(
        "reports floors only of installed components in state",
        ("P7",),
        StateWithoutRetiredFloors,
        clauses=("A-4b",),
    ),
    "power-cut-not-reported": Fault(
        "does not set power_cut on the deliver during which a cut fired",
        ("P10",),
        PowerCutNotReported,
        clauses=("A-4c",),
    ),
    "teep-crit-ignored": Fault(
        "TEEP message verifier: ignores crit (an unknown critical header is not refused)",
        ("P5",),
        _agent_fault("teep-crit-ignored"),
        clauses=("P-9.1a",),
    ),
    "teep-alg-unprotected": Fault(
        "TEEP message verifier: takes the alg from the unprotected header",
        ("P5",),
        _agent_fault("teep-alg-unprotected"),
        clauses=("P-9.1a",),
    ),
    "device-manifest-crit-ignored": Fault(
        "device manifest verifier: ignores crit (an unknown critical header is not refused)",
        ("P5",),
        _agent_fault("device-manifest-crit-ignored"),
        clauses=("P-9.4a",),
    ),
    "device-manifest-alg-unprotected": Fault(
        "device manifest verifier: takes the alg from the unprotected header",
        ("P5",),
        _agent_fault("device-manifest-alg-unprotected"),
        clauses=("P-9.4a",),
    ),
    "author-manifest-crit-ignored": Fault(
        "author manifest verifier: ignores crit (an unknown critical header is not refused)",
        ("P5",),
        _agent_fault("author-manifest-crit-ignored"),
        clauses=("P-9.5a",),
    ),
    "author-manifest-alg-unprotected": Fault(
        "author manifest verifier: takes the alg from the unprotected header",
        ("P5",),
        _agent_fault("author-manifest-alg-unprotected"),
        clauses=("P-9.5a",),
    ),
    "reply-es256": Fault(
        "signs its TEEP replies (only) with alg ES256 (-7) instead of ESP256 (-9)",
        ("P11",),
        _agent_fault("reply-es256"),
        clauses=("P-4b",),
    ),
    "reply-alg-unprotected": Fault(
        "puts the alg of its TEEP replies (only) in the unprotected header",
        ("P11",),
        _agent_fault("reply-alg-unprotected"),
        clauses=("P-4b",),
    ),
    "eat-es256": Fault(
        "signs its EAT (only) with alg ES256 (-7) instead of ESP256 (-9)",
        ("P11",),
        _agent_fault("eat-es256"),
        clauses=("P-4b",),
    ),
    "eat-alg-unprotected": Fault(
        "puts the alg of its EAT (only) in the unprotected header",
        ("P11",),
        _agent_fault("eat-alg-unprotected"),
        clauses=("P-4b",),
    ),
    "report-es256": Fault(
        "signs its SUIT reports (only) with alg ES256 (-7) instead of ESP256 (-9)",
        ("P11",),
        _agent_fault("report-es256"),
        clauses=("P-4b",),
    ),
    "report-alg-unprotected": Fault(
        "puts the alg of its SUIT reports (only) in the unprotected header",
        ("P11",),
        _agent_fault("report-alg-unprotected"),
        clauses=("P-4b",),
    ),
    "teep-ecdsa-hash-from-alg": Fault(
        "TEEP message verifier: generic ECDSA with the hash alg names (ES384 over P-256 passes)",
        ("P5",),
        _agent_fault("teep-ecdsa-hash-from-alg"),
        clauses=("P-4c",),
    ),
    "teep-alg-from-key": Fault(
        "TEEP message verifier: never reads alg, verifies with the key's own algorithm",
        ("P5",),
        _agent_fault("teep-alg-from-key"),
        clauses=("P-4c",),
    ),
    "device-manifest-ecdsa-hash-from-alg": Fault(
        "device manifest verifier: generic ECDSA with the hash alg names (ES384 over P-256)",
        ("P5",),
        _agent_fault("device-manifest-ecdsa-hash-from-alg"),
        clauses=("P-4c",),
    ),
    "author-manifest-ecdsa-hash-from-alg": Fault(
        "author manifest verifier: generic ECDSA with the hash alg names (ES384 over P-256)",
        ("P5",),
        _agent_fault("author-manifest-ecdsa-hash-from-alg"),
        clauses=("P-4c",),
    ),
    "reply-es384": Fault(
        "signs its TEEP replies (only) ES384 (-35: SHA-384 over its P-256 DSK)",
        ("P11",),
        _agent_fault("reply-es384"),
        clauses=("P-4b",),
    ),
    "eat-es384": Fault(
        "signs its EAT (only) ES384 (-35: SHA-384 over its P-256 DSK)",
        ("P11",),
        _agent_fault("eat-es384"),
        clauses=("P-4b",),
    ),
    "report-es384": Fault(
        "signs its SUIT reports (only) ES384 (-35: SHA-384 over its P-256 DSK)",
        ("P11",),
        _agent_fault("report-es384"),
        clauses=("P-4b",),
    ),
    "manifest-digest-off-by-one": Fault(
        "compares a SUIT envelope's manifest digest over all but its last byte",
        ("P5",),
        _agent_fault("manifest-digest-off-by-one"),
        clauses=("P-9.4a",),
    ),
    "uninstall-uuid-prefix": Fault(
        "matches an uninstall's component ids on all but the last byte of the UUID",
        ("P10",),
        _agent_fault("uninstall-uuid-prefix"),
        clauses=("P-9.10a",),
    ),
    "sequence-vs-ta-floor": Fault(
        "also checks the SUIT sequence number against the TA-version floor",
        ("P7",),
        _agent_fault("sequence-vs-ta-floor"),
        clauses=("P-13c",),
    ),
    "evidence-nonce-off-by-one": Fault(
        "copies the challenge into its EAT nonce one byte short (last byte zero)",
        ("P3", "P6"),
        _agent_fault("evidence-nonce-off-by-one"),
        clauses=("P-8.3a",),
    ),
    "report-nonce-off-by-one": Fault(
        "copies the challenge into its report nonce one byte short (last byte zero)",
        ("P6",),
        _agent_fault("report-nonce-off-by-one"),
        clauses=("P-8.5a",),
    ),
    "reply-id-after-ask": Fault(
        "answers a deliver that asked a fetch with the ask's id (one id variable for both)",
        ("P10",),
        ReplyIdAfterAsk,
        clauses=("A-3a",),
    ),
    "unknown-request-malformed": Fault(
        "answers an unknown req with ADAPTER_MALFORMED_FRAME (800) instead of 802",
        ("P10",),
        UnknownRequestMalformed,
        clauses=("A-3b",),
    ),
    "refuses-unknown-members": Fault(
        "refuses a provision carrying a member it does not know",
        ("P10",),
        RefusesUnknownMembers,
        clauses=("A-4e",),
    ),
}


def check_fault(name: str | None) -> Fault | None:
    """The fault called ``name`` (None for the honest device); an unknown name is a clear
    configuration error listing the known ones."""
    if name is None:
        return None
    fault = FAULTS.get(name)
    if fault is None:
        raise ConfigError(
            Code.CONFORMANCE_CONFIG,
            f"unknown fault {name!r}; known faults: {', '.join(sorted(FAULTS))}",
        )
    return fault


# the post-quantum suite's fault (P14) and the blueprint profile's faults live in their own
# modules
from edbp.conformance.faults_blueprint import BP_FAULTS  # noqa: E402
from edbp.conformance.faults_pq import PQ_FAULTS  # noqa: E402

FAULTS.update(PQ_FAULTS)
FAULTS.update(BP_FAULTS)
