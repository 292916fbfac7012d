"""One case's conversation with one device: the harness as TAM, Registry and Attacker.

Every check raises ``CaseFailure(step, expected, actual, code)`` naming the spec step where the
device first diverged, so a vendor reads *where* its device went wrong, not only that it did.
The harness is its own TAM (rather than driving ``reference.cloud.Tam``) because attack cases
need messages a correct TAM never sends: Updates for stale challenges, for other devices,
signed by the wrong keys, replayed. The honest path uses the same builders the reference TAM
uses (``build_delivery``, ``teep.sign``), and the checks are the TAM's checks.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import attrs
from edbp.conformance.adapter.client import DeviceClient, DeviceError
from edbp.conformance.harness.cloud import TA_UUID, Cloud, TaImage
from edbp.conformance.outcome import CASE, CaseFailure
from edbp.reference.build.author import Published
from edbp.reference.build.package import ta_component
from edbp.reference.cloud.delivery import Delivery, build_delivery
from edbp.reference.rand import RandomSource
from edbp.reference.wire import eat, teep
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_crypto import verify_report
from edbp.reference.wire.suit_report import SuitReport

from edbp.errors import AdapterError, Code, EdbpError

__all__ = [
    "Delivered",
    "Echo",
    "Harness",
    "Query",
    "Target",
    "agent_nonce_of",
    "echo",
    "secret_forms",
]


#: what a device may put in the alg of its signatures (protocol.md §4: ESP256 or Ed25519; a
#: verifier accepts ES256 and EdDSA too, a device never emits them); an `edbp-pq` device signs
#: with ML-DSA-65 (protocol.md §4.1)
EMITTED_ALGS = (int(Alg.ESP256), int(Alg.ED25519), int(Alg.ML_DSA_65))

# The clauses of the checks the harness makes on the way in every case (CaseFailure.clauses):
#: the algorithms a device emits (protocol.md section 4)
EMIT = ("P-4b",)
#: the QueryResponse and its evidence (protocol.md section 8.3 step 2)
EVIDENCE = ("P-8.3a",)
#: the Agent nonce in every QueryResponse (protocol.md section 8.3.1)
AGENT_NONCE = ("P-8.3f",)
#: the SUIT report in every Success and Error (protocol.md section 8.5)
REPORT = ("P-8.5a",)
#: the state a device reports for an installed image (adapter.md section 4)
STATE = ("A-4b",)
#: nothing changes on a refusal (protocol.md section 9), nor in what the case checks
REFUSAL = ("P-9a", CASE)
#: the device's own keys: fresh ECDSA nonces (protocol.md section 8.1)
KEYGEN = ("P-8.1a",)
#: no secret crosses into the REE (protocol.md section 11)
NO_SECRET = ("P-11a",)
#: a refused delivery is an ok reply carrying the Error (adapter.md section 3)
DELIVER_REPLY = ("A-3c", CASE)
#: the code of a refusal in the deliver result (errors.md section 2)
DELIVER_CODE = ("E-2b",)
#: the first failing check's code (errors.md section 3) and err-msg (section 2)
ORDER = ("E-3a",)
ERR_MSG = ("E-2a",)


@functools.cache
def _code_clauses() -> dict[int, tuple[str, ...]]:
    from edbp.conformance.coverage import code_clauses

    return code_clauses()


def check_emitted_alg(
    signed: bytes,
    step: str,
    dsk: CoseKey | None = None,
    malformed: tuple[str, ...] = EMIT,
) -> None:
    """``signed`` carries its alg in the protected header, and the alg is one a device may
    emit; with ``dsk``, exactly the one of the device's declared suite (ESP256 for a P-256
    DSK, Ed25519 for an Ed25519 DSK, ML-DSA-65 for an AKP DSK): ES256, ES384, EdDSA, a
    mislabelled or unknown id all fail, whatever a generic verifier would accept. Bytes that
    are no COSE_Sign1 at all break ``malformed`` (the caller's clauses), not section 4."""
    from edbp.reference.device.keys import KeySuite
    from edbp.reference.wire.cose_sign import Sign1

    try:
        headers = Sign1.decode(signed).headers
    except EdbpError as exc:
        raise CaseFailure(step, "a COSE_Sign1", exc.code.name, clauses=malformed) from None
    alg = headers.raw_alg
    if 1 not in headers.protected:  # RFC 9052 section 3.1: alg is authenticated
        raise CaseFailure(
            step, "alg in the protected header", "alg in the unprotected header", clauses=EMIT
        )
    if alg not in EMITTED_ALGS:
        raise CaseFailure(step, "ESP256 (-9), Ed25519 (-19) or ML-DSA-65 (-49)", alg, clauses=EMIT)
    if dsk is not None and alg != int(KeySuite.of_dsk(dsk).signing_alg):
        want = int(KeySuite.of_dsk(dsk).signing_alg)
        raise CaseFailure(step, f"the DSK's suite alg {want}", alg, clauses=EMIT)


def secret_forms(secret: bytes) -> list[bytes]:
    """The encodings a leak takes: raw, hex (both cases), base64 and base64url (without the
    padding, and cut to whole 4-character groups so that a longer encoded string still
    matches)."""
    import base64

    forms = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(secret).rstrip(b"=")
        forms.append(text[: len(text) // 4 * 4])
    return forms


class Echo(enum.Enum):
    """What ``Session.update`` / ``Session.uninstall`` put in ``edbp-agent-nonce`` when not
    given a value: the exchange's nonce (``ECHO``, what a TAM does) or nothing (``OMIT``)."""

    ECHO = "echo"
    OMIT = "omit"


def echo(query: Query | None, nonce: bytes | Echo) -> bytes | None:
    """The ``edbp-agent-nonce`` of an Update bound to ``query`` (see ``Echo``)."""
    if nonce is Echo.OMIT:
        return None
    if nonce is Echo.ECHO:
        return None if query is None else query.nonce
    return nonce


def agent_nonce_of(replies: tuple[bytes, ...]) -> bytes | None:
    """The Agent nonce of the first reply when it is a QueryResponse carrying one (read
    unverified: ``check_evidence`` verifies the reply; a wrong nonce only makes the device
    refuse the Update)."""
    if not replies:
        return None
    try:
        msg = teep.peek(replies[0])
    except EdbpError:
        return None
    return msg.agent_nonce if isinstance(msg, teep.QueryResponse) else None


@attrs.frozen
class Target:
    """Whom a delivery is built for (what ``build_delivery`` needs of a device record)."""

    ueid: bytes
    dak: CoseKey


@attrs.frozen
class Query:
    """An open exchange: what the harness sent and what the device answered."""

    token: bytes
    challenge: bytes = attrs.field(repr=False)
    request: bytes = attrs.field(repr=False)
    replies: tuple[bytes, ...] = attrs.field(repr=False)
    code: int | None = None
    #: the Agent nonce of the QueryResponse (``edbp-agent-nonce``), which every Update of the
    #: exchange echoes (protocol.md 8.3.1); None when the reply carried none
    nonce: bytes | None = None


@attrs.frozen
class Delivered:
    """The device's answer to one ``deliver``."""

    replies: tuple[bytes, ...] = attrs.field(repr=False)
    code: int | None = None
    power_cut: bool = False


class ClassWrapVault:
    """A vault that wraps the CEK under a *class key* (A256KW) instead of to the device's DAK:
    the delivery a device may only accept if a class key sits on it (P2 broken)."""

    def __init__(self, vault: Any, class_key: bytes) -> None:
        self._vault = vault
        self._kek = CoseKey.symmetric(class_key)

    def rewrap(self, wrapped: Any, seal: Callable[[bytearray], Any]) -> Any:
        from edbp.reference.wire.cose_encrypt import RecipientSpec, encryption_info

        captured: dict[str, Any] = {}

        def grab(cek: bytearray) -> Any:
            enc = seal(cek)
            captured["enc"] = encryption_info(
                [RecipientSpec(alg=Alg.A256KW, key=self._kek)],
                _alg(enc),
                cek=bytes(cek),
                iv=_iv(enc),
            )
            return enc

        self._vault.rewrap(wrapped, grab)
        return captured["enc"]


def _alg(enc: Any) -> Alg:
    return Alg(enc.headers.raw_alg)


def _iv(enc: Any) -> bytes:
    from edbp.reference.wire.cose_algs import HeaderLabel

    iv = enc.headers.get(HeaderLabel.IV)
    assert isinstance(iv, bytes)
    return iv


def _code_name(code: int | None) -> str:
    if code is None:
        return "no code"
    try:
        return f"error {code} {Code(code).name}"
    except ValueError:
        return f"error {code}"


class Harness:
    """The harness's roles around one freshly reset device, for one case."""

    def __init__(self, device: DeviceClient, cloud: Cloud, label: str = "case") -> None:
        self.device = device
        self.cloud = cloud
        self.rng: RandomSource = cloud.rng.fork("session/" + label)
        self._counter = 0
        #: the attacker's hook on the payload: (uri, bytes) -> bytes served to the device
        self.tamper: Callable[[str, bytes], bytes] | None = None
        #: serves fetches instead of the run's registry (vector replay: the vector's payloads)
        self.payloads: dict[str, bytes] | None = None
        self.fetched: list[str] = []
        self.published: list[tuple[Published, bytes]] = []  # (package, plaintext) of the case
        #: whether the device was provisioned with ``ta_keys`` (payloads are signed TA images)
        self.ta_check = False
        device.fetch = self._fetch
        self.read_identity()

    # ------------------------------------------------------------------ identity, provision

    def read_identity(self) -> None:
        ident = self.call("identity", {}, step="identity")
        try:
            self.ueid: bytes = ident["ueid"]
            self.class_id: bytes = ident["class_id"]
            self.vendor_id: bytes = ident["vendor_id"]
            self.dak = CoseKey.decode(ident["dak"])
            self.dsk = CoseKey.decode(ident["dsk"])
        except (KeyError, TypeError, EdbpError):
            raise CaseFailure("identity", "ueid, class_id, vendor_id, dak, dsk", ident) from None
        self.identity = ident

    def provision(
        self,
        tam_keys: list[CoseKey] | None = None,
        author_keys: list[CoseKey] | None = None,
        *,
        ta_check: bool | None = None,
        **extra: Any,
    ) -> None:
        """Trust anchors (default: the run's TSK and ASK); ``extra`` adds members as given.
        ``ta_check`` (default: when the device declares ``ta-check``) adds the run's TA
        Signing Key as ``ta_keys``; the payloads published from then on are signed TA images."""
        tams = tam_keys if tam_keys is not None else [self.cloud.tsk]
        authors = author_keys if author_keys is not None else [self.cloud.ask]
        if ta_check is None:
            info = getattr(self.device, "info", None)
            ta_check = info is not None and info.supports("ta-check")
        args = {
            "tam_keys": [k.public().encode() for k in tams],
            "author_keys": [k.public().encode() for k in authors],
            **extra,
        }
        if ta_check:
            args["ta_keys"] = [self.cloud.ta_key_der()]
        self.call("provision", args, step="provision")
        self.ta_check = bool(ta_check)

    # ------------------------------------------------------------------ adapter calls

    def call(self, req: str, args: dict[str, Any], *, step: str) -> Any:
        try:
            return self.device.call(req, args)
        except DeviceError as exc:
            # a deliver the harness builds is well formed: an error reply to it is a refusal
            # sent the wrong way (adapter.md section 3: a refused delivery is an ok reply);
            # another request the harness builds is well formed too, so its refusal with code
            # C also breaks the clauses saying when C is due
            owed: tuple[str, ...] = (CASE,)
            if req != "deliver" and isinstance(exc.raw_code, int):
                owed = (CASE, *_code_clauses().get(exc.raw_code, ()))
            raise CaseFailure(
                step,
                f"{req} answered",
                _code_name(exc.raw_code),
                exc.raw_code,
                clauses=DELIVER_REPLY if req == "deliver" else owed,
            ) from None

    def _fetch(self, uri: str) -> bytes:
        self.fetched.append(uri)
        # the harness is the Broker: a retrieval never sends the URI's fragment (RFC 3986
        # section 3.5), so a device's fragment changes nothing fetched (and a device that
        # leaks a secret in one is caught by the frame scan, not by a failed fetch)
        where = uri.split("#", 1)[0]
        if self.payloads is not None:
            if where not in self.payloads:
                raise AdapterError(Code.AGENT_PAYLOAD_FETCH_FAILED, "no such payload")
            data = self.payloads[where]
        else:
            data = self.cloud.registry.payload(where)
        return self.tamper(uri, data) if self.tamper is not None else data

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("state", {}, step="state")
        return result

    def installed(self, ta_uuid: bytes = TA_UUID) -> int | None:
        """The sequence number installed for the TA's component, per ``state``."""
        want = list(ta_component(ta_uuid))
        for entry in self.state().get("components", []):
            if entry.get("component") == want:
                return int(entry["sequence"])
        return None

    def floor(self, ta_uuid: bytes = TA_UUID) -> int | None:
        want = list(ta_component(ta_uuid))
        for entry in self.state().get("floors", []):
            if entry.get("component") == want:
                return int(entry["sequence"])
        return None

    def deliver(self, message: bytes, step: str = "deliver") -> Delivered:
        result = self.call("deliver", {"message": message}, step=step)
        if not isinstance(result, dict) or not isinstance(result.get("replies"), list):
            raise CaseFailure(step, "deliver result with replies", result)
        code = result.get("code")
        return Delivered(tuple(result["replies"]), code, bool(result.get("power_cut", False)))

    # ------------------------------------------------------------------ the TAM's messages

    def _fresh(self, label: str, n: int) -> bytes:
        self._counter += 1
        return self.rng.fork(f"{label}/{self._counter}").random_bytes(n)

    def query_request(self, signer: CoseKey | None = None) -> tuple[bytes, bytes, bytes]:
        """(token, challenge, signed QueryRequest) with a fresh token and challenge."""
        token, challenge = self._fresh("token", 16), self._fresh("challenge", 32)
        msg = teep.QueryRequest(
            token=token,
            challenge=challenge,
            freshness_mechanisms=(teep.Freshness.NONCE,),
            versions=(0,),
            # attestation only: installed state travels in the signed EAT (spec/protocol.md §14)
            data_item_requested=int(teep.DataItem.ATTESTATION),
        )
        return token, challenge, self.sign(msg, signer or self.cloud.tsk)

    def query(self, signer: CoseKey | None = None, step: str = "deploy.query_request") -> Query:
        """``deploy.query_request`` → ``deploy.query_response``; checks the evidence."""
        token, challenge, request = self.query_request(signer)
        got = self.deliver(request, step)
        q = Query(token, challenge, request, got.replies, got.code, agent_nonce_of(got.replies))
        if signer is None:
            self.check_evidence(q)
        return q

    def requery(self, q: Query, step: str) -> Query:
        """``q``'s signed QueryRequest delivered again, as an attacker replays it: the exchange
        it reopens (same token, the device's new Agent nonce), its evidence checked as
        ``query`` checks a fresh one."""
        got = self.deliver(q.request, step)
        again = Query(
            q.token, q.challenge, q.request, got.replies, got.code, agent_nonce_of(got.replies)
        )
        self.check_evidence(again, step)
        return again

    def delivery(
        self,
        published: Published,
        *,
        target: Target | None = None,
        tsk: CoseKey | None = None,
        vault: Any = None,
    ) -> Delivery:
        return build_delivery(
            published.package,
            target or Target(self.ueid, self.dak),
            vault or self.cloud.vault,
            tsk or self.cloud.tsk,
            Alg.ESP256,
            self.rng.fork(f"delivery/{self._fresh('d', 8).hex()}"),
        )

    def envelope_with_kid(self, published: Published, kid: bytes) -> bytes:
        """A device envelope for this device whose recipient names ``kid`` (the CEK still
        wrapped to this device's DAK): the near-miss kid of the binding cases."""
        from edbp.reference.cloud.delivery import AUTHOR_KEY, device_manifest
        from edbp.reference.wire.cose_algs import HeaderLabel
        from edbp.reference.wire.cose_encrypt import RecipientSpec, encryption_info
        from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
        from edbp.reference.wire.suit_commands import EncryptionInfo
        from edbp.reference.wire.suit_crypto import sign_envelope

        package = published.package
        dak = self.dak
        spec = RecipientSpec(
            alg=Alg.ECDH_ES_A128KW,
            key=CoseKey(kty=dak.kty, crv=dak.crv, x=dak.x, y=dak.y),
            unprotected={HeaderLabel.KID.value: kid},
            supp_pub_other=SUIT_KDF_OTHER,
        )
        rng = self.rng.fork(f"kid-delivery/{self._fresh('k', 8).hex()}")

        def seal(cek: bytearray) -> Any:
            return encryption_info(
                [spec], package.content_alg, cek=bytes(cek), iv=package.iv, rng=rng
            )

        enc = self.cloud.vault.rewrap(package.wrapped_cek, seal)
        manifest = device_manifest(package, self.ueid, EncryptionInfo.from_cose(enc))
        envelope = sign_envelope(
            manifest, self.cloud.tsk, Alg.ESP256, integrated={AUTHOR_KEY: package.envelope}
        )
        return bytes(envelope.encode())

    @staticmethod
    def envelope_with_alg(envelope: bytes, layer: str, protected: dict[int, Any]) -> bytes:
        """``envelope`` with the signature block of one layer (``"device"``: the TAM's,
        ``"author"``: the integrated author envelope's) carrying ``protected`` as its protected
        header, signature bytes unchanged: a device must refuse the algorithm before it tries
        a key. The manifests and their digests are untouched."""
        from edbp.reference.wire import cbor
        from edbp.reference.wire.suit_envelope import Envelope

        def rewrite(env: Envelope) -> Envelope:
            block = cbor.loads(env.authentication.blocks[0])
            _, unprotected, payload, signature = block.value
            forged = cbor.dumps(
                cbor.Tag(18, [cbor.dumps(protected), unprotected, payload, signature])
            )
            auth = attrs.evolve(env.authentication, blocks=(forged,))
            return attrs.evolve(env, authentication=auth)

        env = Envelope.decode(envelope)
        if layer == "device":
            return rewrite(env).encode()
        author = rewrite(Envelope.decode(env.integrated["#author"])).encode()
        return attrs.evolve(env, integrated={**env.integrated, "#author": author}).encode()

    def update(
        self,
        published: Published,
        query: Query | None,
        *,
        token: bytes | None = None,
        target: Target | None = None,
        manifest_tsk: CoseKey | None = None,
        teep_tsk: CoseKey | None = None,
        envelope: bytes | None = None,
        vault: Any = None,
        nonce: bytes | Echo = Echo.ECHO,
    ) -> bytes:
        """``deploy.update``: the signed Update for ``published``, bound to ``query`` (its
        token and, as ``edbp-agent-nonce``, the nonce of its QueryResponse; ``nonce`` replaces
        the echo, ``OMIT`` leaves the option out)."""
        env = (
            envelope
            or self.delivery(published, target=target, tsk=manifest_tsk, vault=vault).envelope
        )
        tok = token if token is not None else (query.token if query is not None else None)
        self.last_envelope = env
        msg = teep.Update(token=tok, manifest_list=(env,), agent_nonce=echo(query, nonce))
        return self.sign(msg, teep_tsk or self.cloud.tsk)

    def uninstall(
        self,
        query: Query,
        ta_uuid: bytes = TA_UUID,
        sequence: int | None = None,
        ueid: bytes | None = None,
        nonce: bytes | Echo = Echo.ECHO,
    ) -> bytes:
        """``uninstall.component``: the signed Update naming the TA's component, the SUIT
        sequence number of the install it removes (protocol.md 8.4): ``sequence``, else the one
        the device reports installed now (0 when none: the Agent answers 611), and the device
        it is for: ``ueid``, else the device's own."""
        if sequence is None:
            sequence = self.installed(ta_uuid) or 0
        msg = teep.Update(
            token=query.token,
            unneeded_manifest_list=(ta_component(ta_uuid),),
            unneeded_sequence_numbers=(sequence,),
            unneeded_device=self.ueid if ueid is None else ueid,
            agent_nonce=echo(query, nonce),
        )
        return self.sign(msg, self.cloud.tsk)

    def sign(self, msg: teep.TeepMessage, key: CoseKey, kid: bool = True) -> bytes:
        """A TEEP message signed as a TAM signs it: ESP256, ``kid`` = the key's thumbprint
        (protocol.md 2: an Agent selects its TSK by kid; a kid naming no trusted TSK is
        AGENT_UNTRUSTED_SIGNER, an absent kid means every TSK is tried)."""
        return teep.sign(msg, key, Alg.ESP256, kid=key.thumbprint() if kid else None)

    def publish(self, sequence: int, **kw: Any) -> Published:
        """The run's package for ``sequence`` on this device's vendor and class: a signed TA
        image when the device checks TA images, else opaque bytes (``ta=`` overrides)."""
        kw.setdefault("vendor_id", self.vendor_id)
        kw.setdefault("class_id", self.class_id)
        kw.setdefault("ta", TaImage() if self.ta_check else None)
        published = self.cloud.publish(sequence=sequence, **kw)
        plaintext = self.cloud.image(published.package.ta_uuid, sequence, kw["ta"])
        self.published.append((published, plaintext))
        return published

    def image(self, sequence: int, ta_uuid: bytes = TA_UUID) -> bytes:
        """The bytes an honest install of ``sequence`` leaves on this device."""
        return self.cloud.image(ta_uuid, sequence, TaImage() if self.ta_check else None)

    def deploy(self, sequence: int, step: str = "deploy") -> tuple[Query, Delivered]:
        """The whole honest Deploy flow for ``sequence``; fails the case unless installed."""
        published = self.publish(sequence)
        q = self.query(step=f"{step}: deploy.query_request")
        got = self.deliver(self.update(published, q), f"{step}: deploy.update")
        self.expect_success(got, q, published, step=f"{step}: deploy.success")
        return q, got

    # ------------------------------------------------------------------ checks

    def open_reply(
        self, data: bytes, step: str, clauses: tuple[str, ...] = (CASE,)
    ) -> teep.TeepMessage:
        """A device reply, verified under the device's DSK (as the TAM does); every signature
        in it (the message's, its EAT's, its reports') uses an algorithm a device may emit.
        The message's algorithm is checked before its signature, so that a device emitting a
        wrong algorithm is shown to break section 4 (P-4b), not the step that sent it."""
        check_emitted_alg(data, f"{step} (TEEP message alg)", self.dsk, malformed=clauses)
        try:
            msg = teep.verify(data, self.dsk)
        except EdbpError as exc:
            raise CaseFailure(
                step, "a TEEP message signed by the DSK", f"{exc.code.name}", clauses=clauses
            ) from None
        inner = [getattr(msg, "attestation_payload", None) or b""]
        inner += list(getattr(msg, "suit_reports", None) or ())
        for what, signed in (("EAT or report", s) for s in inner):
            if signed:
                check_emitted_alg(signed, f"{step} ({what} alg)", self.dsk)
        return msg

    def _peek(self, data: bytes) -> teep.TeepMessage | None:
        """A reply's TEEP message if it verifies under the DSK, else None (no verdict)."""
        try:
            return teep.verify(data, self.dsk)
        except EdbpError:
            return None

    def check_evidence(self, q: Query, step: str = "deploy.query_response") -> eat.EatClaims:
        """The TAM's ``deploy.verify_evidence``: EAT signed by the DSK, nonce = challenge,
        ueid, cnf = DAK, oemid and hwmodel as identified."""
        if len(q.replies) != 1:
            raise CaseFailure(
                step, "one QueryResponse", f"{len(q.replies)} replies, {_code_name(q.code)}", q.code
            )
        msg = self.open_reply(q.replies[0], step, EVIDENCE)
        if not isinstance(msg, teep.QueryResponse) or msg.attestation_payload is None:
            # an Error is the device refusing what the case expected accepted: the case's
            # clauses; a QueryResponse without evidence breaks section 8.3 step 2
            why = EVIDENCE if isinstance(msg, teep.QueryResponse) else (CASE,)
            raise CaseFailure(step, "QueryResponse with evidence", type(msg).__name__, clauses=why)
        if msg.token is None or not hmac.compare_digest(msg.token, q.token):
            raise CaseFailure(step, "token of the QueryRequest", msg.token, clauses=EVIDENCE)
        if msg.agent_nonce is None:  # its size is the decoder's (16 bytes, else 400)
            raise CaseFailure(
                step, "edbp-agent-nonce (label 258), 16 bytes", "absent", clauses=AGENT_NONCE
            )
        try:
            claims = eat.verify(msg.attestation_payload, self.dsk)
        except EdbpError as exc:
            raise CaseFailure(
                step + " (EAT signed by the DSK)", "verifies", exc.code.name, clauses=EVIDENCE
            ) from None
        if claims.nonce is None or not claims.nonce_matches(q.challenge):
            raise CaseFailure(
                step + " (eat_nonce)", q.challenge.hex(), repr(claims.nonce), clauses=EVIDENCE
            )
        if not hmac.compare_digest(claims.ueid, self.ueid):
            raise CaseFailure(
                step + " (ueid)", self.ueid.hex(), claims.ueid.hex(), clauses=EVIDENCE
            )
        if not hmac.compare_digest(claims.cnf.thumbprint(), self.dak.thumbprint()):
            raise CaseFailure(step + " (cnf)", "the DAK", "another key", clauses=EVIDENCE)
        if claims.hwmodel != self.class_id or claims.oemid != self.vendor_id:
            raise CaseFailure(
                step + " (hwmodel, oemid)",
                "the identified class and vendor",
                "other ids",
                clauses=EVIDENCE,
            )
        return claims

    def expect_success(
        self,
        got: Delivered,
        q: Query,
        published: Published,
        step: str = "deploy.success",
        image: bytes | None = None,
    ) -> SuitReport:
        """One Success, token of the exchange, a SUIT report signed by the DSK, fresh (nonce =
        the challenge or token), naming the manifest sent; then ``state`` shows the image
        (``image``, default the honest image of the package's sequence)."""
        if got.code is not None or len(got.replies) != 1:
            # refused with a code: the clauses saying when that code is due are broken too
            # (the check answering it fired on an Update it must pass), beside the case's own
            refused = _code_clauses().get(int(got.code), ()) if got.code is not None else ()
            raise CaseFailure(
                step,
                "one Success",
                f"{len(got.replies)} replies, {_code_name(got.code)}",
                got.code,
                clauses=(CASE, *refused),
            )
        msg = self.open_reply(got.replies[0], step)
        if not isinstance(msg, teep.Success):
            raise CaseFailure(step, "Success", type(msg).__name__)
        if msg.token is None or not hmac.compare_digest(msg.token, q.token):
            raise CaseFailure(step, "token of the exchange", msg.token)
        if not msg.suit_reports:
            raise CaseFailure(step, "a SUIT report", "none", clauses=REPORT)
        try:
            report = verify_report(msg.suit_reports[0], self.dsk)
        except EdbpError as exc:
            raise CaseFailure(
                step + " (report signed by the DSK)", "verifies", exc.code.name, clauses=REPORT
            ) from None
        nonce = report.nonce or b""
        if not (hmac.compare_digest(nonce, q.challenge) or hmac.compare_digest(nonce, q.token)):
            raise CaseFailure(
                step + " (report nonce)", "this exchange's challenge", nonce.hex(), clauses=REPORT
            )
        if not report.succeeded:
            raise CaseFailure(step + " (report result)", "success", "failure", clauses=REPORT)
        self.check_report_reference(report, step)
        seq = published.package.sequence
        entry = self._component(published.package.ta_uuid)
        if entry is None or entry.get("sequence") != seq:
            raise CaseFailure(step + " (state)", f"sequence {seq} installed", entry)
        if image is None:
            image = self.image(seq, published.package.ta_uuid)
        digest = SuitDigest(-16, hashlib.sha256(image).digest())
        if entry.get("digest") != digest.to_cbor():
            raise CaseFailure(
                step + " (state digest)",
                "digest of the published image",
                entry.get("digest"),
                clauses=STATE,
            )
        self.check_image_digest(entry, image, step)
        return report

    @staticmethod
    def check_image_digest(entry: dict[str, Any], image: bytes, step: str) -> None:
        """``image_digest`` (adapter.md, state), when the device reports it: the SHA-256 of the
        image as installed must be the image's."""
        got = entry.get("image_digest")
        if got is not None and not hmac.compare_digest(
            bytes(got) if isinstance(got, bytes) else b"", hashlib.sha256(image).digest()
        ):
            raise CaseFailure(
                step + " (state image_digest)", "SHA-256 of the image", "another", clauses=STATE
            )

    def check_report_reference(self, report: SuitReport, step: str) -> None:
        """protocol.md §8.5: a report names the device manifest the Agent processed (the
        digest of the last device envelope this case sent), not the author's."""
        envelope = getattr(self, "last_envelope", None)
        if envelope is None:
            return
        from edbp.reference.device.update import decode_envelope

        want = decode_envelope(envelope).authentication.digest
        got = report.reference.digest
        if got.alg != want.alg or not hmac.compare_digest(got.digest, want.digest):
            raise CaseFailure(
                step + " (report reference)",
                "digest of the device manifest",
                got.digest.hex(),
                clauses=REPORT,
            )

    def check_error_report(self, msg: teep.Error, code: Code, q: Query, step: str) -> None:
        """protocol.md §8.5, errors.md: an Error sent while a manifest was processed carries a
        SUIT report signed by the DSK, nonce = the exchange's challenge, reference = the
        device manifest, result code = the refusal's code."""
        if not msg.suit_reports:
            raise CaseFailure(
                step + " (error report)", "a signed SUIT report", "none", clauses=REPORT
            )
        try:
            report = verify_report(msg.suit_reports[0], self.dsk)
        except EdbpError as exc:
            raise CaseFailure(
                step + " (error report signed by the DSK)",
                "verifies",
                exc.code.name,
                clauses=REPORT,
            ) from None
        nonce = report.nonce or b""
        if not hmac.compare_digest(nonce, q.challenge):
            raise CaseFailure(
                step + " (error report nonce)", q.challenge.hex(), nonce.hex(), clauses=REPORT
            )
        self.check_report_reference(report, step + " (error report)")
        result = report.result
        got = None if result is True else getattr(result, "code", None)
        if got != int(code):
            raise CaseFailure(step + " (error report result-code)", int(code), got, clauses=REPORT)

    def _component(self, ta_uuid: bytes) -> dict[str, Any] | None:
        want = list(ta_component(ta_uuid))
        for entry in self.state().get("components", []):
            if entry.get("component") == want:
                return dict(entry)
        return None

    def expect_refusal(self, got: Delivered, code: Code, step: str) -> teep.Error:
        """One TEEP Error, signed by the DSK, carrying ``code`` in the deliver result and in
        its err-msg."""
        if got.power_cut:
            raise CaseFailure(step, _code_name(int(code)), "power cut")
        # the requirement not met is the one whose check answers ``code`` (the spec clauses
        # naming it), beside the case's own
        owed = (*_code_clauses().get(int(code), ()), CASE)
        if got.code is None:
            if len(got.replies) == 1 and isinstance(self._peek(got.replies[0]), teep.Error):
                # refused, but the deliver result does not say so (errors.md section 2)
                raise CaseFailure(
                    step + " (deliver result code)",
                    _code_name(int(code)),
                    "no code beside a TEEP Error",
                    clauses=DELIVER_CODE,
                )
            raise CaseFailure(
                step, f"refusal with {_code_name(int(code))}", "accepted", None, clauses=owed
            )
        if got.code != int(code):
            # refused, but not with the code of the check the case breaks: either that check
            # is missing and a later one fired, or the checks run in another order (E-3a); and
            # the check that answered fired first, on an input it may well pass (the clauses
            # naming the code answered, as ``expect_success`` names them)
            answered = _code_clauses().get(int(got.code), ())
            raise CaseFailure(
                step,
                _code_name(int(code)),
                _code_name(got.code),
                got.code,
                clauses=(*ORDER, *owed, *answered),
            )
        if len(got.replies) != 1:
            raise CaseFailure(step, "one Error", f"{len(got.replies)} replies", got.code)
        msg = self.open_reply(got.replies[0], step)
        if not isinstance(msg, teep.Error):
            raise CaseFailure(step, "TEEP Error", type(msg).__name__, got.code)
        if not (msg.err_msg or "").startswith(f"edbp:{int(code)}"):
            raise CaseFailure(
                step + " (err-msg)", f"edbp:{int(code)}", msg.err_msg, got.code, clauses=ERR_MSG
            )
        return msg

    def expect_unchanged(self, before: dict[str, Any], step: str) -> None:
        """Nothing installed, no floor moved (fail closed)."""
        after = self.state()
        for key in ("components", "floors"):
            if after.get(key) != before.get(key):
                raise CaseFailure(
                    step + f" ({key} unchanged)", before.get(key), after.get(key), clauses=REFUSAL
                )
        if after.get("agent_state") != "IDLE":
            raise CaseFailure(
                step + " (agent_state)", "IDLE", after.get("agent_state"), clauses=REFUSAL
            )

    def advance_clock(self, seconds: int, step: str) -> None:
        """Let ``seconds`` pass on the device's TEE monotonic clock at once (capability
        ``monotonic-clock``, spec/adapter.md ``advance_clock``): the harness never sleeps."""
        self.call("advance_clock", {"seconds": seconds}, step=step)

    def reboot(
        self,
        step: str,
        ta_uuid: bytes = TA_UUID,
        sequence: int = 10_000,
        tsk: CoseKey | None = None,
    ) -> None:
        """Power the device off and on between two steps (capability ``power-cut``): a cut is
        armed at the first persistent write and an install of ``sequence`` started; the
        device must report the cut and come back with its persistent state unchanged. What
        later steps rely on then comes from storage, not RAM."""
        before = self.state()
        self.call("power_cut", {"at": 1}, step=f"{step}: arm")
        published = self.publish(sequence, ta_uuid=ta_uuid)
        q = self.query(signer=tsk, step=f"{step}: deploy.query_request")
        update = self.update(published, q, manifest_tsk=tsk, teep_tsk=tsk)
        got = self.deliver(update, f"{step}: install cut at write 1")
        if not got.power_cut:
            raise CaseFailure(f"{step} (power_cut)", "the cut fired at write 1", "no cut")
        self.expect_unchanged(before, f"{step} (state after reboot)")

    def case_secrets(self) -> list[tuple[str, bytes]]:
        """The secrets of this case: the CEK and the plaintext (its first and last 64 bytes)
        of every package the case published."""
        secrets: list[tuple[str, bytes]] = []
        seen: set[bytes] = set()
        for published, plaintext in self.published:
            for what, secret in (
                ("CEK", self.cloud.cek_of(published)),
                ("plaintext", plaintext[:64]),
                ("plaintext", plaintext[-64:]),
            ):
                if secret not in seen:
                    seen.add(secret)
                    secrets.append((what, secret))
        return secrets

    def scan_frames(self, step: str = "every frame of the case") -> None:
        """protocol.md §11, adapter.md: no frame the device sent in this case (replies, asks,
        state, errors) carries a secret of the case, raw, in hex or in base64."""
        data = self.frames()
        for what, secret in self.case_secrets():
            for form in secret_forms(secret):
                if form in data:
                    raise CaseFailure(
                        step, f"no {what} on the wire", f"{what} found", clauses=NO_SECRET
                    )

    def frames(self) -> bytes:
        """Everything that crossed the adapter in this case (REE-visible), as CBOR bytes."""
        from edbp.reference.wire import cbor

        out = bytearray()
        for _, item in self.device.log:
            try:
                out += cbor.dumps(item)
            except EdbpError:
                out += repr(item).encode()
        return bytes(out)
