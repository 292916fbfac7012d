"""The interop matrix (docs/interop.md): every published example message edbp has a copy of
(TEEP protocol draft, SUIT manifest draft, SUIT firmware-encryption draft, cose-wg/Examples) ×
what edbp does with it, computed here by running the reference on the bytes: the structure
`edbp inspect` names, decoding under the receive rule and under the strict option,
authentication with the published keys, decryption or processing, and, where edbp refuses,
the code and the clause that justifies it.

The test fails when docs/interop.md differs from what the code does now;
``python tests/interop/test_matrix.py`` rewrites it. The SUIT report draft publishes no example
message (its CDDL only): its row is an honest edbp report validated by zcbor against that CDDL.
The TEEP draft's QueryResponse, Success and Error go through the reference TAM's session logic
(``_tam_answer``, ``_tam_outcome``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import cbor2
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, cose, suit, suit_processor, teep
from edbp.reference.wire.cose_encrypt import Encrypt, Encrypt0
from edbp.reference.wire.cose_mac import Mac, Mac0
from edbp.reference.wire.cose_sign import Sign, Sign1
from edbp.reference.wire.inspect import inspect
from edbp.reference.wire.suit_commands import EncryptionInfo
from edbp.reference.wire.suit_processor import Action, ComponentStore, Processor

from edbp.cli.inspect import read_input
from edbp.errors import EdbpError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "cloud"))  # cloud_world: a TAM and its devices
DOC = ROOT / "docs" / "interop.md"
TEEP_DIR = HERE / "teep-protocol" / "cbor"
MS = HERE / "suit-manifest"
FW = HERE / "suit-firmware-encryption"
COSE_WG = HERE / "cose-wg-examples"
PLAINTEXT = b"This is a real firmware image."

# clauses quoted by the rows (the standards' own words are in spec/protocol.md §5 and §5.1)
RECEIVE = "protocol §5: unsorted keys / non-shortest heads accepted, signatures over received bytes"
UNSUPPORTED = (
    "SUIT manifest draft, Manifest Processor Setup: a manifest with an unsupported command is "
    "excluded (protocol §5.1)"
)
FRESHNESS = (
    "TEEP draft, Freshness Mechanisms: background-check nonce MUST come from the QueryRequest "
    "challenge"
)


EVIDENCE = (
    "TEEP draft, Freshness Mechanisms: with the nonce mechanism the evidence MUST carry the "
    "QueryRequest's challenge; the example's empty attestation-payload (\"empty only for "
    "example purpose\") carries no evidence (protocol §8.3 step 3)"
)


PLAINTEXT = (
    "edbp profile, protocol §9 step 5 [P-9.5b]: the author's manifest-component-id is "
    "['edbp', 'author', U] else 313; §7 and P1: the payload reaches a device only encrypted "
    "to its DAK (the device envelope overrides encryption-info), and the draft's TA is "
    "plaintext (312); §8.2: the TAM reads only the §7 author layout (300); protocol §5.1"
)
NOT_A_STANDARD_MUST = (
    "no standard's MUST makes a Trusted Component confidential: RFC 9397 is Informational and "
    "the TEEP draft's own examples deliver a plaintext TA, so the delivery-path refusal is "
    "edbp's profile clause (P1), stated as such"
)
PERSONALIZATION = (
    "edbp profile, protocol §7: a delivery is two layers, the device manifest and the author "
    "manifest integrated as #author; an author manifest with a dependency of its own (the "
    "draft's personalization manifest depends on the TA's manifest, fetched from a URI) is "
    "313, so nothing is fetched before every signature is verified (P9); §8.2: 300; "
    "protocol §5.1"
)


REPORTED = (
    "edbp profile, protocol §8.5 / messages.cddl edbp-teep-success: a deploy Success carries "
    "the signed SUIT report that binds it to the session (P6); TEEP's suit-reports is optional, "
    "so the report-less example is kept open (T8) in a deploy session and recorded in an "
    "uninstall session"
)


def _try(fn: Callable[[], Any]) -> tuple[bool, str]:
    try:
        out = fn()
    except EdbpError as exc:
        return False, exc.code.name
    return True, out if isinstance(out, str) else "ok"


def _strict(fn: Callable[[], Any]) -> str:
    with cbor.strict_decoding():
        return _try(fn)[1]


def _author_key() -> cose.CoseKey:
    pem = (MS / "private_key.pem").read_bytes()
    return cose.CoseKey.from_cryptography(load_pem_private_key(pem, None)).public()  # type: ignore[arg-type]


def _kek() -> cose.CoseKey:
    keys = json.loads((FW / "keys.json").read_text())
    return cose.CoseKey.symmetric(bytes.fromhex(keys["aes_kw_kek"]["k_hex"]), kid=b"kid-1")


def _receiver() -> cose.CoseKey:
    r = json.loads((FW / "keys.json").read_text())["es_ecdh_receiver"]
    jwk = {"kty": "EC", "crv": "P-256", **{k: r[k] for k in ("x_hex", "y_hex", "d_hex", "kid")}}
    return cose.CoseKey.from_jwk(jwk)


def _auth(envelope: suit.Envelope, lenient: bool = False) -> str:
    """Which published key authenticates the envelope, or the refusal."""
    ok, res = _try(lambda: suit.verify_envelope(envelope, _author_key(), lenient=lenient))
    if ok:
        return "verified (ES256/ESP256, draft key)"
    mac_key = cose.CoseKey.symmetric(b"a" * 32)
    ok, _ = _try(
        lambda: suit.verify_envelope(
            envelope, mac_key, algorithms=suit.SUIT_MAC_ALGS, lenient=lenient
        )
    )
    if ok:
        return "verified (COSE_Mac0 HMAC 256/256, key 32 × 'a')"
    return f"refused: {res}"


Row = tuple[str, str, str, str, str, str, str]


def _envelope_row(source: str, name: str, data: bytes, clause: str = "") -> Row:
    kind = inspect(data).kind
    ok, decoded = _try(lambda: suit.Envelope.decode(data))
    strict = _strict(lambda: suit.Envelope.decode(data))
    envelope = suit.Envelope.decode(data, lenient=True)
    digest = "digest ok" if envelope.digest_matches() else "digest MISMATCH"
    if ok:
        auth = _auth(envelope)
        process = f"{digest}; accepted by the edbp profile decoder"
    else:
        auth = _auth(envelope, lenient=True) + " (read as published)"
        process = f"{digest}; refused: {decoded}"
        clause = clause or UNSUPPORTED
    return (
        source,
        name,
        kind,
        decoded,
        strict,
        f"{auth}",
        f"{process}" + (f" — {clause}" if clause else ""),
    )


# ----------------------------------------------------------------------------- TEEP draft


MEMBER_9 = (
    "SUIT manifest draft -37 (the I-D the TEEP draft references, copied at its commit "
    "3c9b790): suit-invoke = 9, suit-install = 20; suit-install was 9 in "
    "draft-ietf-suit-manifest-01 (2019); from -17 member 9 is suit-run, renamed suit-invoke in "
    "-19: the TEEP example's label is stale numbering and -37 is authoritative; protocol §5.1"
)
TEEP_VENDOR = bytes.fromhex("c0ddd5f15243566087db4f5b0aa26c2f")
TEEP_CLASS = bytes.fromhex("db42f7093d8c55baa8c5265fc5820f4e")
TEEP_TA_URI = "https://example.org/8d82573a-926d-4754-9353-32dc29997f74.ta"
TEEP_SUIT_URI = "https://example.org/8d82573a-926d-4754-9353-32dc29997f74.suit"


def _teep_fetch(uri: str) -> bytes | None:
    """What the TEEP draft's URIs name: the example TA (20 bytes) and the TA's manifest (the
    draft's suit_uri envelope, tagged as a stored SUIT_Envelope_Tagged: 389 bytes, the size
    suit_personalization signs for its dependency)."""
    if uri == TEEP_TA_URI:
        return (TEEP_DIR / "8d82573a-926d-4754-9353-32dc29997f74.ta").read_bytes()
    if uri == TEEP_SUIT_URI:
        return b"\xd8\x6b" + read_input((TEEP_DIR / "suit_uri.hex.txt").read_bytes())
    return None


def teep_processor() -> Processor:
    """The SUIT processor as a TEEP device of the draft's vendor and class, trusting the
    draft's author key for dependencies."""
    return Processor(
        vendor_id=TEEP_VENDOR, class_id=TEEP_CLASS, fetch=_teep_fetch, keys=[_author_key()]
    )


def _run(envelope: suit.Envelope, procedures: tuple[str, ...], decrypt: bool = False) -> str:
    log: list[Action] = []
    proc = teep_processor()
    if decrypt:
        proc.decrypt_key = _receiver()
    try:
        result = proc.process(envelope, ComponentStore(), procedures, log=log)
    except EdbpError as exc:
        done = "".join(f"{a.describe()}; " for a in log)
        return f"{done}refused {exc.code.name} ({exc.detail})"
    return "processed: " + (result.describe() or "nothing to do")


def process_teep_update(inner: bytes) -> str:
    """The Update's envelope: as published (9 = suit-invoke) through the update and the
    invocation procedures, and relabelled 9 → 20 (what the example means) and re-signed."""
    delivery = _try(lambda: suit.Envelope.decode(inner))[1]
    envelope = suit_processor.decode(inner)
    auth = _auth(envelope, lenient=True)
    update = _run(envelope, ("update",))
    invoke = _run(envelope, ("invoke",))
    items = cbor.loads(envelope.manifest.encode(), cbor.LENIENT)
    items[20] = items.pop(9)
    pem = (MS / "private_key.pem").read_bytes()
    key = cose.CoseKey.from_cryptography(load_pem_private_key(pem, None))  # type: ignore[arg-type]
    relabelled = suit.sign_envelope(
        suit.Manifest.decode(cbor.dumps(items), lenient=True), key, cose.Alg.ES256
    )
    installed = _run(relabelled, ("update",))
    return (
        f"edbp delivery decoder: {delivery}; {auth} (as published); SUIT processor, member 9 "
        f"read as published (suit-invoke): update procedure: {update} (no suit-install); "
        f"invocation procedure: {invoke} — the sequence holds no directive-invoke, so nothing "
        f"is launched; relabelled 9 → 20 (the example's intent, install) and re-signed with the "
        f"draft key: update procedure: {installed}"
    )



def _signed(payload: bytes) -> bytes:
    key = cose.CoseKey.generate(cose.Curve.P256, SeededRandom("interop-matrix"))
    return cose.sign1(payload, key, cose.Alg.ESP256).encode(), key  # type: ignore[return-value]


def _agent_answer(payload: bytes) -> str:
    sys.path.insert(0, str(ROOT / "tests" / "device"))
    from device_builders import world
    from device_fixtures import World, reply
    from edbp.reference.device.agent import error_code_of

    author, tam = world("interop-matrix")
    dev = World(author, tam).device()
    replies = dev.broker.deliver(cose.sign1(payload, tam.tsk, cose.Alg.ESP256).encode())
    msg = reply(replies[0])
    if isinstance(msg, teep.Error):
        code = error_code_of(replies[0])[1]
        from edbp.errors import Code

        return f"Agent: Error {Code(code).name if code else msg.err_code}"
    return f"Agent: {type(msg).__name__}"


#: the token of the TEEP draft's example messages
DRAFT_TOKEN = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")


class _DraftTokenRandom:
    """The TAM's randomness with one change: a session's token is the draft examples' token
    (the draft's TAM chose ``h'A0A1…AF'``), so that the draft's QueryResponse can be matched
    to a real session. Challenges and keys stay seeded randomness."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def random_bytes(self, n: int) -> bytes:
        out: bytes = self._inner.random_bytes(n)
        return out

    def fork(self, label: str) -> Any:
        if label == "token":
            return _Fixed(DRAFT_TOKEN)
        return _DraftTokenRandom(self._inner.fork(label))


@attrs.frozen
class _Fixed:
    value: bytes

    def random_bytes(self, n: int) -> bytes:
        assert n == len(self.value)
        return self.value

    def fork(self, label: str) -> _Fixed:
        return self


@contextlib.contextmanager
def _tam_world() -> Iterator[tuple[Any, Any, Any]]:
    """A real reference TAM (sessions tokened as the draft's), its device registry with one
    enrolled reference device, and one published package (sequence 1)."""
    import tempfile

    from cloud_world import World, ta_image
    from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
    from edbp.reference.cloud.tam import Tam

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        vault = SoftwareKeyVault(
            root / "classkeys.sealed", b"M" * 32, rng=SeededRandom("interop-tam-kv")
        )
        world = World(root, vault, seed="interop-tam")
        tam = Tam(
            world.devices_db,
            vault,
            world.tsk,
            world.mrk.public(),
            [world.ask.public()],
            rng=_DraftTokenRandom(SeededRandom("interop-tam-sessions")),
        )
        device = world.device()  # enrolled in the shared device registry
        tam.add_package(world.publish(ta_image(1), 1).envelope)
        yield tam, device, world


def _tam_answer(payload: bytes) -> str:
    """The draft's QueryResponse through the reference TAM's session logic (``Tam.receive``):
    a deploy session whose token is the draft's; the example, signed as published by the
    device's DSK, is matched to the session by its token, verified under the DSK, then
    appraised (protocol 8.3 step 3). Also what the TAM says when no session has that token, and
    what it does with the same example carrying the device's real evidence."""
    from cloud_world import TA_UUID
    from edbp.reference.cloud.tam import Intent

    with _tam_world() as (tam, device, world):
        signed = device.agent.keys.sign(payload).encode()
        no_session = _try(lambda: tam.receive(signed))[1]
        opened = tam.begin(device.ueid, Intent(package=(TA_UUID, 1)))
        assert getattr(teep.peek(opened.send or b""), "token", None) == DRAFT_TOKEN
        matched = _try(lambda: tam.receive(signed))[1]
        state = tam.state(device.ueid).value
        last = list(world.devices_db.entries())[-1]
        # the same example with the device's real evidence for a new session spliced into
        # attestation-payload, every other option (and the unsorted key order) as published:
        # still no edbp-agent-nonce (the edbp profile requires it, protocol.md 8.3.1)
        reopened = tam.begin(device.ueid, Intent(package=(TA_UUID, 1)))
        (answer,) = device.broker.deliver(reopened.send or b"")
        heard = teep.verify(answer, device.agent.keys.dsk_public)
        items = cbor2.loads(payload)
        items[1][7] = heard.attestation_payload
        spliced = device.agent.keys.sign(cbor2.dumps(items)).encode()
        without_nonce = _try(lambda: tam.receive(spliced))[1]
        # and with the device's Agent nonce (option 258) added as well
        reopened = tam.begin(device.ueid, Intent(package=(TA_UUID, 1)))
        (answer,) = device.broker.deliver(reopened.send or b"")
        heard = teep.verify(answer, device.agent.keys.dsk_public)
        items[1][7] = heard.attestation_payload
        items[1][teep.EDBP_AGENT_NONCE] = heard.agent_nonce
        out = tam.receive(device.agent.keys.sign(cbor2.dumps(items)).encode())
        update = type(teep.peek(out.send)).__name__ if out.send else "nothing"
    return (
        f"TAM, no open session: {no_session}; TAM, in a deploy session opened with the "
        f"draft's token: matched by token, DSK signature verifies, evidence appraised: "
        f"{matched}, session {state}, audit `{last.event}` code {last.error}; with the "
        f"device's evidence in attestation-payload (keys still unsorted): {without_nonce} "
        f"(the edbp profile requires edbp-agent-nonce, option 258, which the draft's example "
        f"does not carry: protocol.md 8.3.1, 14 item 20); with the device's evidence and its "
        f"Agent nonce added (keys still unsorted): {update}, session {out.state.value}"
    )


def _tam_outcome(payload: bytes) -> str:
    """The draft's Success or Error through the TAM's session logic: in a deploy session and
    in an uninstall session that have sent their Update (state UPDATE_SENT, token the
    draft's), the example signed by the device's DSK."""
    from cloud_world import TA_UUID
    from edbp.reference.build.package import ta_component
    from edbp.reference.cloud.tam import Intent

    out = []
    for what, intent in (
        ("deploy", Intent(package=(TA_UUID, 1))),
        ("uninstall", Intent(uninstall=ta_component(TA_UUID))),
    ):
        with _tam_world() as (tam, device, world):
            if intent.uninstall is not None:  # an uninstall names an attested install (T12)
                step = tam.begin(device.ueid, Intent(package=(TA_UUID, 1)))
                while step.send is not None:
                    (reply,) = device.broker.deliver(step.send)
                    step = tam.receive(reply)
            opened = tam.begin(device.ueid, intent)
            (answer,) = device.broker.deliver(opened.send or b"")
            sent = tam.receive(answer)
            assert sent.state.value == "UPDATE_SENT", sent
            signed = device.agent.keys.sign(payload).encode()
            try:
                result = tam.receive(signed)
                told = f"{result.detail}, session {result.state.value}"
            except EdbpError as exc:
                told = f"{exc.code.name}, session {tam.state(device.ueid).value}"
            last = list(world.devices_db.entries())[-1]
            out.append(f"{what} session: {told}, audit `{last.event}` code {last.error}")
    return "TAM, " + "; ".join(out)


def _draft_suit_row(name: str, data: bytes) -> Row:
    """A TEEP draft SUIT example on the device path (draft_delivery.py): published to a
    reference TAM, and delivered to a reference Agent inside a TSK-signed device envelope."""
    sys.path.insert(0, str(HERE))
    from draft_delivery import deliver_to_agent, tam_publish

    row = _envelope_row("TEEP draft", name, data)
    stem = name.removesuffix(".hex.txt")
    out = deliver_to_agent(stem)
    renamed = deliver_to_agent(stem, renamed=True)
    fetched = ", fetched " + ", ".join(out.fetched) if out.fetched else ", nothing fetched"
    digest = row[6].split(";")[0]
    envelope = suit_processor.decode(data)
    processed = _run(envelope, ("update", "invoke"), decrypt=True)
    uninstalled = _run(envelope, ("update", "uninstall"), decrypt=True)
    process = (
        f"{digest}; SUIT processor (outside the confidential-delivery profile: the draft's "
        f"vendor/class ids, the fetcher serves the draft's URIs"
        + (
            ", the device key that decrypts config.json is the SUIT encryption draft's "
            "es_ecdh_receiver key"
            if "personalization" in name
            else ""
        )
        + f"): update, then invocation: {processed}; update, then uninstall: {uninstalled}. "
        f"On the edbp delivery path, in a TSK-signed device envelope (the bytes as "
        f"published under #author; "
        f"Agent anchored on the draft key, identity = the manifest's vendor/class ids; "
        f"Update bound to a QueryRequest): {out.describe()}{fetched}; with only the "
        f"manifest-component-id renamed ['edbp','author',…] and re-signed with the draft key: "
        f"{renamed.describe()}; TAM publish.push: {tam_publish(stem)}"
    )
    clause = PERSONALIZATION if "personalization" in name else PLAINTEXT
    return (*row[:6], f"{process} — {clause}; {NOT_A_STANDARD_MUST}")


def teep_rows() -> list[Row]:
    rows: list[Row] = []
    for path in sorted(TEEP_DIR.glob("*.hex.txt")):
        name = path.name
        data = read_input(path.read_bytes())
        if name.startswith("suit_"):
            rows.append(_draft_suit_row(name, data))
            continue
        kind = inspect(data).kind
        decoded = _try(lambda d=data: type(teep.decode(d)).__name__)[1]
        strict = _strict(lambda d=data: teep.decode(d))
        signed, key = _signed(data)  # type: ignore[misc]
        verify = _try(lambda s=signed, k=key: type(teep.verify(s, k.public())).__name__)
        auth = (
            "signature over the bytes as published verifies (test key)"
            if verify[0]
            else f"refused: {verify[1]}"
        )
        process, clause = "—", RECEIVE
        if name == "query_request.hex.txt":
            challenged = b"\x85\x01\xa3" + data[3:24] + b"\x02\x58\x20" + bytes(32) + data[24:]
            process = (
                f"{_agent_answer(data)} (no challenge); with a challenge added, keys "
                f"still unsorted: {_agent_answer(challenged)}"
            )
            clause = FRESHNESS
        elif name == "update.hex.txt":
            inner = teep.decode(data).manifest_list[0]  # type: ignore[union-attr]
            process = f"manifest-list[0]: {process_teep_update(inner)}"
            clause = MEMBER_9
        elif name == "query_response.hex.txt":
            process = _tam_answer(data)
            clause = EVIDENCE
        elif name == "teep_success.hex.txt":
            process = _tam_outcome(data)
            clause = REPORTED
        elif name == "teep_error.hex.txt":
            process = _tam_outcome(data)
            clause = RECEIVE
        rows.append(("TEEP draft", name, kind, decoded, strict, auth, f"{process} — {clause}"))
    return rows


# ------------------------------------------------------------------------------ SUIT report

REPORT_CDDL = (
    "SUIT report draft: no example message at the copied commit, so the row is built from its "
    "CDDL: an honest edbp report (spec/examples/suit-report-signed) validated by zcbor against "
    "the draft's SUIT_Report_Protected / SUIT_Report (tests/interop/cddl, derived mechanically)"
)


def suit_report_rows() -> list[Row]:
    """One row: the draft has CDDL only; edbp's own signed report against that CDDL."""
    from edbp.reference.wire.suit_report import SuitReport

    sys.path.insert(0, str(HERE))
    from test_zcbor_teep import zcbor_types

    name = "suit-report-signed"
    data = bytes.fromhex((ROOT / "spec" / "examples" / f"{name}.cbor.hex").read_text().strip())
    kind = inspect(data).kind
    body = Sign1.decode(data).payload or b""
    decoded = _try(lambda: type(SuitReport.decode(body, lenient=True)).__name__)[1]
    strict = _strict(lambda: SuitReport.decode(body))
    from zcbor.zcbor.zcbor import CddlValidationError

    types = zcbor_types()
    try:
        types["SUIT_Report_Protected"].validate_str(data)
        types["SUIT_Report"].validate_str(body)
        result = "zcbor: an instance of the draft's SUIT_Report_Protected and SUIT_Report"
    except CddlValidationError:
        result = "zcbor refuses it: the draft's CDDL does not describe this report"
    return [
        (
            "SUIT report draft",
            f"draft-ietf-suit-report.cddl × spec/examples/{name}",
            kind,
            decoded,
            strict,
            "DSK signature (edbp's example key; checked in tests/spec)",
            f"{result} — {REPORT_CDDL}",
        )
    ]


# ------------------------------------------------------------------------------ SUIT drafts


#: the two sample image digests of the SUIT manifest draft's examples ("The digest is a sample
#: pattern, not a real one") and the image sizes the examples pair them with
SAMPLE_A = bytes.fromhex("00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210")
SAMPLE_B = bytes.fromhex("0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff")
SAMPLE_SIZES = {SAMPLE_A: 34768, SAMPLE_B: 76834}
#: which sample image each URI of the examples stands for: file2.bin is the second image (slot 1
#: in example 3, component 1 in example 5); every other URI names the first
SECOND_IMAGE_URIS = frozenset({"http://example.com/file2.bin"})
DRAFT_VENDOR = bytes.fromhex("fa6b4a53d5ad5fdfbe9de663e4d41ffe")
DRAFT_CLASS = bytes.fromhex("1492af1425695e48bf429b2d51f2ab45")
REQUIRED_CHECKS = (
    "SUIT manifest draft, Required Checks: the manifest processor MUST verify the signature of "
    "the manifest prior to parsing/executing any section"
)
VERIFY_IMAGE = (
    "SUIT manifest draft, Abstract Machine: Verify Image asserts the digest, and a failed "
    "condition aborts (soft failure only inside try-each)"
)


NOTES = {
    0: "; invoke: in a TEE, the Trusted Application's launch request, recorded for the host "
    "(protocol §5.1)",
    3: "; the A/B example: try-each takes the branch whose condition-component-slot holds "
    "(slot 1), in the shared sequence and in suit-install",
    4: "; example 4's suit-load copies [00] (34768 bytes) into [01] and then expects 76834 "
    "bytes of another digest: Copy moves bytes unchanged (store(current, "
    "params[src-component])), so the load the example means (decompressing, say) is not "
    "expressed by its commands, and image-match refuses it (SUIT_IMAGE_SIZE)",
}


def sample_image(sample: bytes) -> bytes:
    """Deterministic stand-in bytes for a sample image, of the size the examples sign."""
    return hashlib.shake_256(b"edbp interop sample image" + sample).digest(SAMPLE_SIZES[sample])


def _draft_fetch(uri: str) -> bytes | None:
    if not uri.startswith("http://example.com/"):
        return None
    return sample_image(SAMPLE_B if uri in SECOND_IMAGE_URIS else SAMPLE_A)


def _draft_store() -> ComponentStore:
    """The simulated device: component [00] holds the first image (a secure-boot example
    validates and invokes what is installed), every component writes to slot 1 (the A/B
    example's try-each must pick its second branch)."""
    return ComponentStore({(b"\x00",): sample_image(SAMPLE_A)}, {(b"\x00",): 1, (b"\x01",): 1})


def process_draft_example(envelope: suit.Envelope) -> str:
    """Run the SUIT processor (update then invocation procedure) and describe it."""
    proc = Processor(vendor_id=DRAFT_VENDOR, class_id=DRAFT_CLASS, fetch=_draft_fetch)
    log: list[Action] = []
    try:
        result = proc.process(envelope, _draft_store(), log=log)
    except EdbpError as exc:
        done = "".join(f"{a.describe()}; " for a in log)
        return f"{done}refused {exc.code.name} ({exc.detail})"
    return "processed: " + result.describe()


def resign_with_real_digests(envelope: suit.Envelope) -> suit.Envelope:
    """The example with each sample digest replaced by the digest of the stand-in image (same
    length, so nothing else moves) and re-signed with the draft's key."""
    raw = envelope.manifest.encode()
    for sample in (SAMPLE_A, SAMPLE_B):
        raw = raw.replace(sample, hashlib.sha256(sample_image(sample)).digest())
    manifest = suit.Manifest.decode(raw, lenient=True)
    pem = (MS / "private_key.pem").read_bytes()
    key = cose.CoseKey.from_cryptography(load_pem_private_key(pem, None))  # type: ignore[arg-type]
    return suit.sign_envelope(
        manifest,
        key,
        cose.Alg.ES256,
        severed=envelope.severed,
        integrated=envelope.integrated,
    )


def suit_manifest_rows() -> list[Row]:
    rows: list[Row] = []
    for n in range(6):
        text = (MS / f"example{n}.txt").read_text()
        blocks = re.findall(r"~~~\n([0-9a-f\n]+)~~~", text)
        labels = ("unsigned", "signed", "severable-members")
        for j, block in enumerate(blocks):
            data = bytes.fromhex("".join(block.split()))
            name = f"example{n}.txt#{labels[j]}"
            kind = inspect(data).kind
            ok, delivery = _try(lambda d=data: suit.Envelope.decode(d))
            decoded = _try(lambda d=data: suit_processor.decode(d))[1]
            if not ok:
                decoded += f" (SUIT processor); edbp delivery decoder: {delivery}"
            strict = _strict(lambda d=data: suit.Envelope.decode(d))
            envelope = suit_processor.decode(data)
            digest = "digest ok" if envelope.digest_matches() else "digest MISMATCH"
            auth = _auth(envelope, lenient=True)
            if j == 0:
                auth += (
                    " (no authentication block: the Manifest Processor requires a "
                    "SUIT_Authentication_Block, manifest draft)"
                )
                process = f"{digest}; not processed — {REQUIRED_CHECKS}"
            else:
                resigned = resign_with_real_digests(envelope)
                suit.verify_envelope(resigned, _author_key())
                process = (
                    f"{digest}; SUIT processor (update, then invocation; the example's vendor "
                    f"and class ids; component [00] holds a {SAMPLE_SIZES[SAMPLE_A]}-byte image, "
                    f"writable slot 1; the fetcher serves the example's URIs): as published: "
                    f"{process_draft_example(envelope)}; with each sample digest replaced by "
                    f"the served image's and re-signed with the draft key: "
                    f"{process_draft_example(resigned)} — {VERIFY_IMAGE}; the draft's text: "
                    f"\"The digest is a sample pattern, not a real one\""
                )
                process += NOTES.get(n, "")
            rows.append(("SUIT manifest draft", name, kind, decoded, strict, auth, process))
    return rows


def suit_encryption_rows() -> list[Row]:
    rows: list[Row] = []
    for path in sorted(FW.glob("suit-encryption-info-*.hex")):
        data = bytes.fromhex("".join(path.read_text().split()))
        delivery, mode = re.match(r"suit-encryption-info-(.+?)-(aes-\w+)\.hex", path.name).groups()  # type: ignore[union-attr]
        ciphertext = bytes.fromhex(
            "".join((FW / f"encrypted-payload-{delivery}-{mode}.hex").read_text().split())
        )
        key = _kek() if delivery == "aes-kw" else _receiver()
        decoded = _try(lambda d=data: Encrypt.decode(d))[1]
        strict = _strict(lambda d=data: Encrypt.decode(d))
        info = EncryptionInfo.from_cbor(data, False)
        ok, res = _try(
            lambda i=info, c=ciphertext, k=key, m=mode: (
                "decrypts to the published plaintext"
                if suit.decrypt_payload(i, c, k, digest_checked=m == "aes-ctr") == PLAINTEXT
                else "decrypts to OTHER bytes"
            )
        )
        process = res if ok else f"refused: {res}"
        if mode == "aes-ctr":
            unchecked = _try(lambda i=info, c=ciphertext, k=key: suit.decrypt_payload(i, c, k))[1]
            process += (
                f"; without a checked digest refused: {unchecked} (RFC 9459: CTR has no "
                "integrity, the signed image digest provides it)"
            )
        rows.append(
            (
                "SUIT encryption draft",
                path.name,
                inspect(data).kind,
                decoded,
                strict,
                "— (integrity from the manifest)",
                process,
            )
        )
    for path in sorted(FW.glob("suit-manifest-*.hex.signed")):
        data = bytes.fromhex("".join(path.read_text().split()))
        clause = ""
        if "dependency" in path.name:
            clause = (
                "dependent manifest's upstream signature is stale; the dependency verifies "
                "(tests/wire/test_suit_interop.py)"
            )
        rows.append(_envelope_row("SUIT encryption draft", path.name, data, clause))
    return rows


# -------------------------------------------------------------------------------- cose-wg


_COSE_CLASSES: dict[int, Any] = {
    18: Sign1, 96: Encrypt, 16: Encrypt0, 17: Mac0, 97: Mac, 98: Sign
}

NOT_IMPLEMENTED = (
    "not implemented: RFC 9053 (Informational) makes no algorithm mandatory and RFC 9052 leaves "
    "the set to the application, so no standard's MUST asks for the refusal; edbp's choice, "
    "protocol §4"
)


def _cose_clause(reason: str) -> str:
    """The clause behind a cose-wg refusal."""
    if reason.startswith("alg only in the unprotected"):
        return (
            "RFC 9052 §3.1: the alg parameter MUST be authenticated where the ability to do "
            "so exists, and a COSE_Sign1 can protect it"
        )
    if reason.startswith("Partial IV"):
        return (
            "RFC 9052 §3.1: a Partial IV is combined with a Base IV that the application "
            "context supplies; the example carries none, so no IV can be formed"
        )
    if "on its own curve only" in reason:
        return (
            "RFC 9053 §2.1 only suggests pairing SHA-256/384/512 with P-256/384/521 (no MUST); "
            "edbp verifies each ECDSA hash on its own curve, the pairing that rules out a "
            "generic verifier's hash-from-header confusion; edbp's choice, protocol §4"
        )
    return NOT_IMPLEMENTED


def cose_wg_rows() -> list[Row]:
    manifest = json.loads((COSE_WG / "MANIFEST.json").read_text())["files"]
    rows: list[Row] = []
    for rel, entry in sorted(manifest.items()):
        data = bytes.fromhex(json.loads((COSE_WG / rel).read_text())["output"]["cbor"])
        kind = _try(lambda d=data: inspect(d).kind)[1]
        item = cbor.loads(data, cbor.LENIENT)
        tag = item.tag if isinstance(item, cbor.Tag) else None
        cls = _COSE_CLASSES.get(tag) if tag is not None else None
        if cls is None:
            decoded = f"{kind}: no edbp decoder for tag {tag}"
            strict = "—"
        else:
            decoded = _try(lambda c=cls, d=data: c.decode(d, tagged=None))[1]
            strict = _strict(lambda c=cls, d=data: c.decode(d, tagged=None))
        if entry["status"] == "pass" and "refused_with" in entry:
            result = f"fail example refused: {entry['refused_with']}"
            clause = "RFC 9052: the example is marked fail"
        elif entry["status"] == "pass" and "byte_identical" not in entry:
            # verified / decrypted with the published intermediates (COSE_Mac; P-521 senders)
            what = "verified" if entry["check"].startswith("verified") else "decrypted"
            result = f"{what}: " + entry["check"].split("; ", 1)[1]
            clause = ""
        elif entry["status"] == "pass":
            result = "verifies/decrypts; rebuilt" + (
                " byte for byte" if entry.get("byte_identical") else " (equal after re-encoding)"
            )
            clause = ""
        else:
            result = f"refused: {entry['refused_with']} ({entry['reason']})"
            clause = _cose_clause(entry["reason"])
        rows.append(
            (
                "cose-wg/Examples",
                rel,
                kind,
                decoded,
                strict,
                "(in the result)",
                result + (f" — {clause}" if clause else ""),
            )
        )
    return rows


# ----------------------------------------------------------------------------------- doc


def render() -> str:
    head = [
        "# Interop matrix",
        "",
        "Generated by `tests/interop/test_matrix.py` (`python tests/interop/test_matrix.py`",
        "rewrites it); the test fails when the code and this page disagree. Every row is computed",
        "by running the reference on the published bytes (copies under `tests/interop/`, see each",
        "folder's PROVENANCE.md). Columns: what `edbp inspect` names; the structure's decoder",
        "under the receive rule (spec/protocol.md §5) and under the strict option; authentication",
        "with the published keys; decryption or processing, with the code and the clause that",
        "justifies a refusal. The SUIT report draft publishes no example message (CDDL only):",
        "its row is an edbp report validated against that CDDL. The TEEP draft's three SUIT",
        "envelopes (author manifests) are also run on the device path: published to a reference",
        "TAM, and delivered inside a TSK-signed device envelope to a reference Agent anchored on",
        "the draft's key (tests/interop/draft_delivery.py). SUIT envelopes are also run by the",
        "reference SUIT processor (reference/wire/suit_processor.py; protocol §5.1) against a",
        "simulated component store, outside edbp's delivery profile: \"decode\" then names what",
        "the processor's decoder says and, when it differs, the edbp delivery decoder's refusal.",
        "",
        "| source | example | structure | decode (receive) | strict option | authenticate | "
        "decrypt / process — clause |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = (
        teep_rows()
        + suit_manifest_rows()
        + suit_encryption_rows()
        + suit_report_rows()
        + cose_wg_rows()
    )
    body = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(head + body) + "\n"


def test_interop_matrix_is_current() -> None:
    text = render()
    assert DOC.exists(), "run python tests/interop/test_matrix.py"
    assert DOC.read_text() == text, (
        "docs/interop.md is stale: run python tests/interop/test_matrix.py"
    )


def test_known_gaps_are_processed() -> None:
    """The gaps issue 15 named now read as processed rows."""
    text = render()
    for needle in (
        "| TEEP draft | query_request.hex.txt | TEEP message: TEEP-TYPE-query-request | "
        "QueryRequest | CBOR_UNSORTED_KEYS |",
        "suit-manifest-aes-kw.hex.signed | SUIT envelope | ok | ok | verified (COSE_Mac0",
        "suit-manifest-es-ecdh-content.hex.signed | SUIT envelope | ok | CBOR_UNSORTED_KEYS | "
        "verified (ES256/ESP256, draft key) | digest ok; accepted by the edbp profile decoder",
        "| TEEP draft | suit_uri.hex.txt | SUIT envelope (untagged) | ok | ok | verified",
        "Agent: refused 313 SUIT_DEPENDENCY_FAILED (author manifest-component-id), nothing "
        "fetched; with only the manifest-component-id renamed ['edbp','author',…] and re-signed "
        "with the draft key: Agent: refused 312 SUIT_ENCRYPTION_INFO (expected one encrypted "
        "component); TAM publish.push: refused 300 SUIT_MALFORMED",
        "Agent: refused 313 SUIT_DEPENDENCY_FAILED (dependencies must be integrated)",
        "TAM, no open session: TAM_UNEXPECTED_MESSAGE; TAM, in a deploy session opened with "
        "the draft's token: matched by token, DSK signature verifies, evidence appraised: "
        "EAT_MALFORMED, session NO_SESSION",
        "(keys still unsorted): Update, session UPDATE_SENT",
        "zcbor: an instance of the draft's SUIT_Report_Protected and SUIT_Report",
        "uninstall session: uninstalled, session NO_SESSION",
        "TAM, deploy session: device refused: ERR_MANIFEST_PROCESSING_FAILED, session "
        "NO_SESSION, audit `deploy.record` code 17",
        # issue 15's SUIT gaps: try-each, load, invoke, member 9, the TEEP SUIT envelopes
        "try-each [00] branch 2 of 2 taken; fetch [00] http://example.com/file2.bin",
        "copy [01] from [00]; refused SUIT_IMAGE_SIZE",
        "image-match [00] ok; image-match [01] ok; invoke [00]",
        "invocation procedure: processed: fetch [TEEP-Device/SecureFS/",
        "write [TEEP-Device/SecureFS/config.json] 61 bytes; image-match "
        "[TEEP-Device/SecureFS/config.json] ok",
        "update, then uninstall: processed: fetch [TEEP-Device/SecureFS/"
        "8d82573a926d4754935332dc29997f74/ta] #tc (20 bytes); image-match",
    ):
        assert needle in text, needle


if __name__ == "__main__":
    DOC.write_text(render())
    print(f"wrote {DOC.relative_to(ROOT)}")
