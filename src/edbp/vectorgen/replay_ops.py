"""The op runners of ``replay`` (spec/vectors.md, "Operations"): each turns a step's ``input``
into what the reference (or a device target) actually did, in the shape of an ``expect``.

Runners never decide the expectation: they report what happened, and ``replay.compare`` judges.
Checks that a device's replies must pass whatever the step (signed by its DSK, evidence bound
to the challenge, no ECDSA nonce used twice, the CEK and plaintext nowhere in what leaves the
TEE) are reported under ``checks`` (``"ok"`` or the list of problems).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import uuid as uuidlib
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from edbp.errors import AdapterError, Code, EdbpError
from edbp.reference.wire import cbor, teep
from edbp.reference.wire.cose_algs import Alg, Curve
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1
from edbp.vectorgen.replay import ReplayContext, error_result, op

# ------------------------------------------------------------------------------ helpers

#: the algorithms a device's DSK may sign with (the key's own `alg`/curve picks one;
#: ML-DSA-65 for an `edbp-pq` device, spec/protocol.md 4.1)
_DSK_ALGS = frozenset({Alg.ESP256, Alg.ES256, Alg.ED25519, Alg.EDDSA, Alg.ML_DSA_65})


def _hex(inp: dict[str, Any], name: str) -> bytes:
    value = inp[name]
    if isinstance(value, dict):
        value = value["cbor"]
    return bytes.fromhex(value)


def _key(hexdata: str) -> CoseKey:
    return CoseKey.decode(bytes.fromhex(hexdata))


def _type_name(reply: bytes) -> str:
    try:
        return type(teep.peek(reply)).__name__
    except EdbpError:
        return "Malformed"


def _edbp_code(reply: bytes) -> int | None:
    try:
        msg = teep.peek(reply)
    except EdbpError:
        return None
    if not isinstance(msg, teep.Error):
        return None
    text = msg.err_msg or ""
    if text.startswith("edbp:"):
        try:
            return int(text[5:].split(" ", 1)[0])
        except ValueError:
            return int(Code.ADAPTER_DEVICE_ERROR)
    return int(Code.ADAPTER_DEVICE_ERROR)


def _challenge_of(message: bytes) -> bytes | None:
    try:
        msg = teep.peek(message)
    except EdbpError:
        return None
    return msg.challenge if isinstance(msg, teep.QueryRequest) else None


def _check_replies(
    replies: list[bytes], ctx: ReplayContext, sent: bytes, leaked: list[bytes]
) -> list[str]:
    """Duties every reply has, whatever the step (P1, P3, P6, P8, P11)."""
    problems: list[str] = []
    state = ctx.test.get("device") or {}
    keys = state.get("testKeys")
    secrets = [
        bytes.fromhex(v)
        for k, v in ctx.test.get("intermediates", {}).items()
        if k in ("cek", "plaintext")
    ]
    challenge = _challenge_of(sent)
    if challenge is not None:
        ctx.challenge = challenge
    current = ctx.challenge
    for reply in replies:
        if any(_leaks(reply, secret) for secret in secrets):
            problems.append("a reply carries a secret (CEK or plaintext)")
        if keys is None:
            continue
        dsk = _key(keys["dsk"]).public()
        try:
            cose = Sign1.decode(reply, tagged=None)
            cose.verify(dsk, algorithms=_DSK_ALGS)
        except EdbpError:
            problems.append(f"{_type_name(reply)} not signed by the device's DSK")
            continue
        if dsk.crv == Curve.P256:
            r = cose.signature[:32]
            if r in ctx.replies:
                problems.append("ECDSA nonce reused across two signatures (same r)")
            ctx.replies.append(r)
        msg = teep.decode(cose.payload or b"")
        if isinstance(msg, teep.QueryResponse) and msg.attestation_payload is not None:
            problems += _check_evidence(msg.attestation_payload, dsk, keys, state, challenge)
        if isinstance(msg, teep.Success | teep.Error) and msg.suit_reports and current:
            problems += _check_reports(msg.suit_reports, dsk, current)
        if isinstance(msg, teep.Error):
            problems += _check_error(msg, dsk, sent, ctx.token)
        if isinstance(msg, teep.QueryResponse):
            ctx.token = msg.token
        elif isinstance(msg, teep.Success | teep.Error):
            ctx.token = None
    if any(_leaks(blob, secret) for blob in leaked for secret in secrets):
        problems.append("a secret (CEK or plaintext) left the TEE")
    return problems


#: the only list each negotiation refusal carries (spec/protocol.md section 7, Error)
_ERROR_LISTS = {
    "cipher_suites": Code.TEEP_UNSUPPORTED_CIPHER_SUITE,
    "freshness_mechanisms": Code.TEEP_UNSUPPORTED_FRESHNESS,
    "versions": Code.TEEP_UNSUPPORTED_VERSION,
}


def _check_error(
    error: teep.Error, dsk: CoseKey, sent: bytes, open_token: bytes | None
) -> list[str]:
    """An Error's duties (spec/protocol.md section 7): its lists, its token, its report."""
    from edbp.reference.wire.suit_envelope import Envelope
    from edbp.reference.wire.suit_report import SuitReport, SuitResult

    out = []
    code = None
    if error.err_msg and error.err_msg.startswith("edbp:"):
        head = error.err_msg[5:].split(" ", 1)[0]
        code = int(head) if head.isdigit() else None
    for field, allowed in _ERROR_LISTS.items():
        if getattr(error, field) is not None and code != allowed:
            out.append(f"an Error with code {code} carries {field}")
    if error.suit_cose_profiles is not None:
        out.append("an Error carries supported-suit-cose-profiles")
    try:
        refused: teep.TeepMessage | None = teep.peek(sent)
    except EdbpError:
        refused = None
    own = getattr(refused, "token", None)
    if error.token is not None and error.token not in (open_token, own):
        out.append("the Error's token is neither the open exchange's nor the message's")
    if not error.suit_reports:
        return out
    if open_token is not None and error.token != open_token:
        out.append("a refused Update's Error does not carry the open exchange's token")
    manifests = refused.manifest_list if isinstance(refused, teep.Update) else None
    try:
        digest = Envelope.decode(manifests[0]).authentication.digest if manifests else None
    except EdbpError:
        digest = None
    for signed in error.suit_reports:
        try:
            cose = Sign1.decode(signed, tagged=None)
            report = SuitReport.decode(
                cose.verify(dsk, algorithms=_DSK_ALGS)
            )
        except EdbpError:
            continue  # _check_reports names it
        if not isinstance(report.result, SuitResult) or report.result.code != code:
            out.append("the Error's report result is not the Error's code")
        if report.records:
            out.append("the Error's report carries records")
        if digest is None or report.reference.digest != digest:
            out.append("the Error's report does not reference the refused device manifest")
    return out


def _leaks(blob: bytes, secret: bytes) -> bool:
    """``secret`` (or its first 16 bytes) in ``blob``, raw or as hex/base64 text."""
    if not secret:
        return False
    probe = secret[:16]
    return any(
        form in blob
        for form in (
            probe,
            probe.hex().encode(),
            probe.hex().upper().encode(),
            base64.b64encode(secret)[:20],
        )
    )


def _check_evidence(
    evidence: bytes,
    dsk: CoseKey,
    keys: dict[str, Any],
    state: dict[str, Any],
    challenge: bytes | None,
) -> list[str]:
    from edbp.reference.wire import eat

    try:
        claims = eat.verify(evidence, dsk)
    except EdbpError as exc:
        return [f"evidence refused: {exc.code.name}"]
    out = []
    if challenge is not None and not claims.nonce_matches(challenge):
        out.append("evidence nonce is not the challenge")
    if claims.ueid != bytes.fromhex(state.get("ueid", "")):
        out.append("evidence ueid is not the device's")
    if claims.cnf.thumbprint() != _key(keys["dak"]).public().thumbprint():
        out.append("evidence cnf is not the DAK")
    return out


def _check_reports(reports: tuple[bytes, ...], dsk: CoseKey, challenge: bytes) -> list[str]:
    from edbp.reference.wire.suit_report import SuitReport

    out = []
    for signed in reports:
        try:
            cose = Sign1.decode(signed, tagged=None)
            report = SuitReport.decode(
                cose.verify(dsk, algorithms=_DSK_ALGS)
            )
        except EdbpError as exc:
            out.append(f"report refused: {exc.code.name}")
            continue
        if report.nonce != challenge:
            out.append("report nonce is not the open challenge")
    return out


# ------------------------------------------------------------------------------ agent (device)


@op("agent.deliver")
def agent_deliver(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    """``deliver`` one TEEP message; fetches are answered from ``payloads`` (uri -> hex)."""
    device = ctx.device()
    payloads = {uri: bytes.fromhex(h) for uri, h in inp.get("payloads", {}).items()}
    asked: list[bytes] = []

    def fetch(uri: str) -> bytes:
        asked.append(uri.encode())
        if uri not in payloads:
            raise AdapterError(Code.AGENT_PAYLOAD_FETCH_FAILED, "the registry has nothing there")
        return payloads[uri]

    message = _hex(inp, "message")
    try:
        result = device.call("deliver", {"message": message}, fetch)
    except AdapterError as exc:
        if exc.code in (Code.ADAPTER_TIMEOUT, Code.ADAPTER_DEVICE_EXITED):
            raise
        return {**error_result(exc.code), "replies": [], "checks": "ok"}
    replies = list(result.get("replies", []))
    problems = _check_replies(replies, ctx, message, asked)
    out: dict[str, Any] = {
        "replies": [_type_name(r) for r in replies],
        "checks": problems or "ok",
    }
    code = result.get("code")
    if code is None:
        codes = [c for c in (_edbp_code(r) for r in replies) if c is not None]
        code = codes[-1] if codes else None
    if code is not None:
        return {**error_result(code), **out}
    return {"result": "ok", **out}


@op("agent.provision")
def agent_provision(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    """Re-provision trust anchors mid-test (a TAM or Author key rotated or revoked); the
    device keeps its keys, floors and installed components."""
    device = ctx.device()
    anchors = inp.get("trustAnchors", {})
    device.call(
        "provision",
        {
            "tam_keys": [bytes.fromhex(k) for k in anchors.get("tam", [])],
            "author_keys": [bytes.fromhex(k) for k in anchors.get("author", [])],
        },
    )
    return {"result": "ok"}


# ------------------------------------------------------------------------------ CBOR


@op("decode")
def decode(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    data = _hex(inp, "message")
    value = cbor.loads(data)
    return {"result": "ok", "reencodes": cbor.dumps(value) == data}


# ------------------------------------------------------------------------------ SUIT


@op("suit.process")
def suit_process(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    """The reference SUIT processor on the step's envelope, store and payloads."""
    from edbp.vectorgen.sources_suit import process

    return {"result": "ok", **process(inp)}


# ------------------------------------------------------------------------------ COSE


_SIG_ALGS = {Alg.ESP256, Alg.ES256, Alg.ED25519, Alg.EDDSA}


def _algs(inp: dict[str, Any], name: str, default: set[Alg]) -> set[Alg]:
    return {Alg(a) for a in inp[name]} if name in inp else default


@op("cose.sign1.verify")
def cose_sign1_verify(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    msg = Sign1.decode(_hex(inp, "message"))
    payload = msg.verify(
        _key(inp["key"]),
        algorithms=_algs(inp, "algorithms", _SIG_ALGS),
        external_aad=bytes.fromhex(inp.get("externalAad", "")),
    )
    return {"result": "ok", "payload": payload.hex()}


@op("cose.encrypt.decrypt")
def cose_encrypt_decrypt(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    from edbp.reference.wire.cose_encrypt import Encrypt
    from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER

    msg = Encrypt.decode(_hex(inp, "message"))
    detached = bytes.fromhex(inp["ciphertext"]) if "ciphertext" in inp else None
    plaintext = msg.decrypt(
        _key(inp["key"]),
        algorithms=_algs(inp, "contentAlgorithms", {Alg.A128GCM, Alg.CHACHA20_POLY1305}),
        recipient_algorithms=_algs(inp, "recipientAlgorithms", {Alg.ECDH_ES_A128KW}),
        detached_ciphertext=detached,
        allow_unauthenticated=bool(inp.get("allowUnauthenticated", False)),
        supp_pub_other=SUIT_KDF_OTHER if inp.get("suitKdfContext", True) else None,
    )
    return {"result": "ok", "plaintext": plaintext.hex()}


# ------------------------------------------------------------------------------ publish, enrol


@op("publish.read_author_envelope")
def publish_read(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    from edbp.reference.build.package import read_author_envelope

    package = read_author_envelope(_hex(inp, "envelope"), [_key(k) for k in inp["authorKeys"]])
    return {
        "result": "ok",
        "sequence": package.sequence,
        "component": [c.hex() for c in package.component_id],
        "classId": package.class_id.hex(),
        "vendorId": package.vendor_id.hex(),
        "ciphertextSha256": package.ciphertext_digest.digest.hex(),
        "plaintextSha256": package.image_digest.digest.hex(),
    }


@op("keyvault.unwrap_cek")
def keyvault_unwrap(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    """A256KW unwrap of the class-key-wrapped CEK (the vault's operation, RFC 3394)."""
    from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

    try:
        cek = aes_key_unwrap(bytes.fromhex(inp["classKey"]), bytes.fromhex(inp["wrappedCek"]))
    except (InvalidUnwrap, ValueError):
        return error_result(Code.KEYVAULT_UNWRAP_FAILED)
    return {"result": "ok", "cek": cek.hex()}


@op("enrol.verify_endorsement")
def enrol_verify(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    from edbp.reference.cloud.endorsement import verify_endorsement

    body = verify_endorsement(_hex(inp, "endorsement"), _key(inp["mrk"]))
    return {
        "result": "ok",
        "ueid": body.ueid.hex(),
        "classId": body.class_id.hex(),
        "vendorId": body.vendor_id.hex(),
        "dakThumbprint": body.dak.thumbprint().hex(),
        "dskThumbprint": body.dsk.thumbprint().hex(),
    }


# ------------------------------------------------------------------------------ OP-TEE images


def _rsa_public(hexdata: str) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(bytes.fromhex(hexdata))
    assert isinstance(key, rsa.RSAPublicKey)
    return key


@op("ta.verify")
def ta_verify(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    from edbp.reference.optee.floors import VersionFloors
    from edbp.reference.optee.verify import DecryptionKeys, LoaderPolicy, verify_ta

    floors = inp.get("floors", {})
    policy = inp.get("policy", {})
    defaults = LoaderPolicy()
    verified = verify_ta(
        bytes.fromhex(inp["image"]),
        _rsa_public(inp["rootKey"]),
        keys=DecryptionKeys(
            enc_key=bytes.fromhex(inp["encKey"]) if "encKey" in inp else None,
            huk=bytes.fromhex(inp["huk"]) if "huk" in inp else None,
        ),
        expected_uuid=uuidlib.UUID(inp["expectedUuid"]) if "expectedUuid" in inp else None,
        floors=VersionFloors(
            {uuidlib.UUID(k): v for k, v in floors.get("ta", {}).items()},
            {uuidlib.UUID(k): v for k, v in floors.get("subkeys", {}).items()},
        ),
        policy=LoaderPolicy(
            allow_legacy=policy.get("allowLegacy", defaults.allow_legacy),
            min_rsa_bits=policy.get("minRsaBits", defaults.min_rsa_bits),
            algos=frozenset(policy.get("algos", sorted(defaults.algos))),
            iv_size=policy.get("ivSize", defaults.iv_size),
            tag_size=policy.get("tagSize", defaults.tag_size),
        ),
    )
    uuid, version = verified.ta_floor if verified.ta_floor is not None else (None, None)
    return {
        "result": "ok",
        "uuid": None if uuid is None else str(uuid),
        "taVersion": version,
        "plaintextSha256": hashlib.sha256(verified.plaintext).hexdigest(),
    }


# ------------------------------------------------------------------------------ blueprint


@functools.lru_cache(maxsize=16)
def _rsa_private(hexdata: str) -> rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(bytes.fromhex(hexdata), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _cpm(inp: dict[str, Any]) -> Any:
    from edbp.reference.blueprint import cpm as C

    device_key = _rsa_private(inp["deviceKey"])
    anchors = tuple(_rsa_public(k) for k in inp.get("trustAnchors", []))
    return C.Cpm(inp["behaviour"], trust_anchors=anchors, keygen=lambda: device_key)


def _outcome_result(outcome: str) -> dict[str, Any]:
    """A CPM outcome string (``installed``, ``parse:CODE``, ``host:CODE``,
    ``cpm:Call:rc``) as an ``expect`` object."""
    if outcome == "installed":
        return {"result": "ok", "outcome": outcome}
    kind, _, rest = outcome.partition(":")
    code = Code.CPM_ERROR if kind == "cpm" else Code[rest]
    return {**error_result(code), "outcome": outcome}


@op("cpk.install")
def cpk_install(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    """Install a CPK on a fresh CPM of ``behaviour`` holding the class key (wrapped to the
    CPM's device key and synced as the twin would)."""
    from edbp.errors import BlueprintError
    from edbp.reference.blueprint import cpm as C
    from edbp.reference.blueprint.installer import install_package, sync_keys
    from edbp.reference.blueprint.package import CpkReader

    cpm = _cpm(inp)
    cpm.handle(C.Ping())
    wrapped = bytes.fromhex(inp["wrappedKey"])
    sync_keys(cpm, {inp["applicationId"]: base64.b64encode(wrapped).decode()})
    behaviour = inp["behaviour"]
    try:
        reader = CpkReader(io.BytesIO(bytes.fromhex(inp["cpk"])), strict=behaviour == "fixed")
    except EdbpError as exc:
        return _outcome_result(f"parse:{exc.code.name}")
    try:
        install_package(cpm, reader)
    except BlueprintError as exc:
        if exc.code is Code.CPM_ERROR:
            call, _, rc = exc.detail.partition(" returned ")
            return _outcome_result(f"cpm:{call}:{rc}")
        return _outcome_result(f"host:{exc.code.name}")
    except EdbpError as exc:
        return _outcome_result(f"host:{exc.code.name}")
    return _outcome_result("installed")


@op("cpm.install_application_key")
def cpm_install_key(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    from edbp.reference.blueprint import cpm as C

    cpm = _cpm(inp)
    cpm.handle(C.Ping())
    before = len(cpm.log_lines)
    rc = cpm.handle(C.InstallApplicationKey(inp["applicationId"], bytes.fromhex(inp["wrapped"]))).rc
    lines = list(cpm.log_lines[before:])
    base = {"rc": rc, "reeLog": lines}
    if rc == 0:
        return {"result": "ok", **base}
    return {**error_result(Code.CPM_ERROR), **base}


# ------------------------------------------------------------------------------ TAM


class _ScriptedRandom:
    """The TAM's randomness with the session's token and challenge fixed by the vector; every
    other draw (delivery ephemerals) from a fixed stream (not compared)."""

    def __init__(self, token: bytes, challenge: bytes, path: tuple[str, ...] = ()) -> None:
        self._token = token
        self._challenge = challenge
        self._path = path

    def fork(self, label: str) -> _ScriptedRandom:
        return _ScriptedRandom(self._token, self._challenge, (*self._path, label))

    def random_bytes(self, n: int) -> bytes:
        from edbp.reference.rand import SeededRandom

        last = self._path[-1] if self._path else ""
        if last == "token" and n == len(self._token):
            return self._token
        if last == "challenge" and n == len(self._challenge):
            return self._challenge
        stream = SeededRandom("edbp-tam-replay")
        for part in self._path:
            stream = stream.fork(part)
        return stream.random_bytes(n)


@op("tam.verify_evidence")
def tam_verify_evidence(inp: dict[str, Any], ctx: ReplayContext) -> dict[str, Any]:
    from edbp.reference.build.package import read_author_envelope
    from edbp.reference.cloud.device_registry import DeviceRegistry
    from edbp.reference.cloud.tam import Intent, Tam
    from edbp.vectorgen.flowkit import MemoryVault

    tsk = _key(inp["tsk"])
    sig_alg = Alg.ESP256 if tsk.crv == Curve.P256 else Alg.ED25519
    rng = _ScriptedRandom(bytes.fromhex(inp["token"]), bytes.fromhex(inp["challenge"]))
    from edbp.reference.rand import SeededRandom

    vault = MemoryVault(SeededRandom("edbp-tam-replay-vault"))
    key_id, _, version = inp["classKeyId"].rpartition("#")
    vault._keys[(key_id, int(version))] = bytes.fromhex(inp["classKey"])  # test class key
    tam = Tam(
        DeviceRegistry(":memory:", clock=lambda: 0),
        vault,
        tsk,
        _key(inp["mrk"]),
        [_key(k) for k in inp["authorKeys"]],
        sig_alg,
        rng,
        clock=lambda: 0.0,
    )
    record = tam.enrol(_hex(inp, "endorsement"))
    envelope = _hex(inp, "package")
    package = read_author_envelope(envelope, [_key(k) for k in inp["authorKeys"]])
    tam.add_package(envelope)
    if inp.get("revoked"):
        tam.revoke(record.ueid)
    tam.begin(record.ueid, Intent(package=(package.ta_uuid, inp["componentSequence"])))
    out = tam.receive(_hex(inp, "queryResponse"))
    sends = _type_name(out.send) if out.send is not None else None
    return {"result": "ok", "sends": sends}
