"""Vector replay: every test of every file under ``vectors/`` whose ops a device can run,
replayed through the adapter as steps with the expected replies and error codes.

Generic over ``op``: ``OP_RUNNERS`` maps an op name to a runner; a test whose ops all have a
runner becomes a case (id ``vector.<tcId>``); the others exercise a library, not a device
(TAM, KeyVault, COSE, the TA loader) and are left to the implementers' unit tests. New
vector files are picked up from ``vectors/index.json`` with no change here; a new op needs
one runner.

How a device runs ``decode``: the bytes are delivered as if they were a TEEP message. A device
that decodes strictly refuses malformed CBOR with the vector's code (it fails before any
signature is looked at); well-formed CBOR that is not a signed TEEP message is refused with a
code outside the CBOR range. In both cases nothing changes and the device keeps answering.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import attrs
from edbp.conformance.harness.session import (
    DELIVER_CODE,
    EVIDENCE,
    KEYGEN,
    NO_SECRET,
    REFUSAL,
    REPORT,
    STATE,
    Harness,
    _code_clauses,
)
from edbp.conformance.outcome import CASE, CaseFailure, CaseMeta
from edbp.conformance.vector_clauses import vector_clauses

from edbp.errors import Code, EdbpError
from edbp.vectorgen.rederive import (
    BYTE_EXACT,
    RE_DERIVED,
    DeviceIdentity,
    RederiveError,
    needs_own_keys,
)
from edbp.vectorgen.rederive import rederive as _rederive

__all__ = [
    "OP_RUNNERS",
    "VectorCase",
    "device_identity",
    "load_vector_cases",
    "needs_rederive",
    "rederive",
    "run_vector",
    "vector_mode",
]

#: codes of the strict CBOR decoder (spec/errors.md 1xx)
CBOR_CODES = range(100, 200)


@attrs.frozen
class VectorCase:
    """One vector test with what the case needs to run and report it."""

    meta: CaseMeta
    file: str
    test: dict[str, Any] = attrs.field(repr=False, eq=False)
    missing_op: str | None = None


Runner = Callable[[Harness, dict[str, Any], dict[str, Any]], None]


def _message(step: dict[str, Any]) -> bytes:
    try:
        return bytes.fromhex(step["input"]["message"]["cbor"])
    except (KeyError, TypeError, ValueError):
        raise CaseFailure("vector input", "input.message.cbor (hex)", step.get("input")) from None


def run_decode(harness: Harness, test: dict[str, Any], step: dict[str, Any]) -> None:
    """``decode`` through ``deliver``: refusal with the expected code, state unchanged."""
    from edbp.reference.wire import teep

    before = harness.state()
    got = harness.deliver(_message(step), "deliver")
    expect = step.get("expect", {})
    if "error" in expect:
        harness.expect_refusal(got, Code(int(expect["error"])), "decode")
    else:
        if got.code is None:
            if len(got.replies) == 1 and isinstance(harness._peek(got.replies[0]), teep.Error):
                # refused, but the deliver result does not say so (errors.md section 2)
                raise CaseFailure(
                    "decode (deliver result code)",
                    "a refusal's code",
                    "no code beside a TEEP Error",
                    clauses=DELIVER_CODE,
                )
            raise CaseFailure("decode", "a refusal (not a signed TEEP message)", "accepted")
        if got.code in CBOR_CODES:
            raise CaseFailure(
                "decode", "well-formed CBOR decoded", f"CBOR refusal {got.code}", got.code
            )
    harness.expect_unchanged(before, "decode")


def _hex_list(values: Any) -> list[bytes]:
    return [bytes.fromhex(v) for v in values or ()]


def setup_device(harness: Harness, test: dict[str, Any]) -> None:
    """A test's ``device``: reset, then provision trust anchors, test keys and floors. A test
    re-derived for the device's own keys (a UEID, no ``testKeys``) keeps them across the reset
    (``keep_keys``), and the device must still be that UEID."""
    device = test.get("device")
    if not device:
        harness.provision(ta_check=False)  # the vectors' payloads are opaque images
        return
    info = harness.device.info
    own_keys = bool(device.get("ueid")) and not device.get("testKeys")
    if device.get("floors") and info is not None and not info.supports("test-keys"):
        import pytest

        # a capability, not identity: preset floors are a test-keys member of provision
        pytest.skip("presetting SUIT floors needs the test-keys capability")
    if device.get("agentNonces") and info is not None and not info.supports("agent-nonces"):
        import pytest

        # the recorded Updates echo the Agent nonces the vector's device drew (protocol 8.3.1)
        pytest.skip("replaying recorded Updates needs the agent-nonces capability")
    harness.call("reset", {"keep_keys": True} if own_keys else {}, step="device: reset")
    if own_keys:
        ueid = harness.call("identity", {}, step="device: identity")["ueid"]
        if bytes(ueid) != bytes.fromhex(device["ueid"]):
            raise CaseFailure(
                "device: reset with keep_keys", f"ueid {device['ueid']} kept", bytes(ueid).hex()
            )
    anchors = device.get("trustAnchors", {})
    args: dict[str, Any] = {
        "tam_keys": _hex_list(anchors.get("tam")),
        "author_keys": _hex_list(anchors.get("author")),
    }
    keys = device.get("testKeys") or {}
    if keys:
        test_keys = {k: bytes.fromhex(v) for k, v in keys.items()}
        if device.get("ueid"):
            test_keys["ueid"] = bytes.fromhex(device["ueid"])
        args["test_keys"] = test_keys
    if device.get("floors"):
        args["floors"] = [
            {
                "component": _hex_list(f["component"]),
                "sequence": int(f["sequence"]),
                "ta_version": int(f.get("taVersion", f.get("ta_version", 0))),
            }
            for f in device["floors"]
        ]
    if device.get("agentNonces"):
        args["agent_nonces"] = _hex_list(device["agentNonces"])
    harness.call("provision", args, step="device: provision")
    harness.read_identity()


@attrs.define
class _Replay:
    """What a multi-step replay remembers: the open challenge, the signature nonces seen (r ->
    what was signed: RFC 6979 ECDSA signs the same bytes with the same r, which leaks nothing;
    the same r over other bytes reveals the key)."""

    challenge: bytes | None = None
    token: bytes | None = None
    nonces: dict[bytes, bytes] = attrs.field(factory=dict)


def _replay(harness: Harness) -> _Replay:
    state = getattr(harness, "_vector_replay", None)
    if state is None:
        state = _Replay()
        harness._vector_replay = state  # type: ignore[attr-defined]
    return state


def _signed(data: bytes) -> tuple[bytes, bytes]:
    """(signature, the Sig_structure it covers) of a COSE_Sign1."""
    from edbp.reference.wire.cose_sign import Sign1

    cose = Sign1.decode(data)
    return cose.signature, cose.to_be_signed()


def run_agent_deliver(harness: Harness, test: dict[str, Any], step: dict[str, Any]) -> None:
    """``agent.deliver``: the message to the Agent, its fetches answered from ``payloads``;
    reply types, error code, the 'ok' checks and ``stateAfter`` compared."""
    from edbp.reference.wire import eat, teep
    from edbp.reference.wire.suit_crypto import verify_report

    memory = _replay(harness)
    payloads = step.get("input", {}).get("payloads") or {}
    harness.payloads = {uri: bytes.fromhex(h) for uri, h in payloads.items()}
    message = _message(step)
    try:
        sent = teep.peek(message)
    except Exception:
        sent = None
    got = harness.deliver(message, "agent.deliver")
    expect = step.get("expect", {})
    if "error" in expect:
        harness.expect_refusal(got, Code(int(expect["error"])), "agent.deliver")
    elif got.code is not None:
        # refused with a code: the clauses saying when that code is due are broken too, as
        # ``Harness.expect_success`` names them
        refused = _code_clauses().get(int(got.code), ())
        raise CaseFailure(
            "agent.deliver", "accepted", f"error {got.code}", got.code, clauses=(CASE, *refused)
        )
    names = []
    for data in got.replies:
        msg = harness.open_reply(data, "agent.deliver (reply signed by the DSK)")
        names.append(type(msg).__name__)
        sigs = [_signed(data)]
        if isinstance(msg, teep.QueryResponse) and msg.attestation_payload:
            sigs.append(_signed(msg.attestation_payload))
            try:
                claims = eat.verify(msg.attestation_payload, harness.dsk)
            except EdbpError as exc:  # the harness's evidence check, whatever the vector
                raise CaseFailure(
                    "agent.deliver (evidence)",
                    "an EAT signed by the DSK",
                    exc.code.name,
                    clauses=EVIDENCE,
                ) from None
            if isinstance(sent, teep.QueryRequest) and sent.challenge is not None:
                if not claims.nonce_matches(sent.challenge):
                    raise CaseFailure(
                        "agent.deliver (eat_nonce)", "the challenge", "another", clauses=EVIDENCE
                    )
            if claims.ueid != harness.ueid or claims.cnf.thumbprint() != harness.dak.thumbprint():
                raise CaseFailure(
                    "agent.deliver (evidence)",
                    "UEID and DAK of the device",
                    "others",
                    clauses=EVIDENCE,
                )
        for report in getattr(msg, "suit_reports", None) or ():
            sigs.append(_signed(report))
            try:
                nonce = verify_report(report, harness.dsk).nonce
            except EdbpError as exc:  # the harness's report check, whatever the vector
                raise CaseFailure(
                    "agent.deliver (report)",
                    "a SUIT report signed by the DSK",
                    exc.code.name,
                    clauses=REPORT,
                ) from None
            if memory.challenge is not None and nonce not in (memory.challenge, memory.token):
                raise CaseFailure(
                    "agent.deliver (report nonce)", "the open challenge", "another", clauses=REPORT
                )
        for sig, content in sigs:
            r = sig[: len(sig) // 2]
            if len(sig) == 64 and harness.dsk.kty == 2 and memory.nonces.get(r, content) != content:
                raise CaseFailure(
                    "agent.deliver (signature nonce)", "fresh", "reused", clauses=KEYGEN
                )
            memory.nonces[r] = content
    if isinstance(sent, teep.QueryRequest) and names == ["QueryResponse"]:
        memory.challenge, memory.token = sent.challenge, sent.token
    want = expect.get("replies")
    if want is not None and names != list(want):
        raise CaseFailure("agent.deliver (replies)", want, names, got.code)
    _check_secrets(harness, test)
    after = step.get("stateAfter")
    if after is not None:
        _check_state(harness, after, refused="error" in expect)


def _check_secrets(harness: Harness, test: dict[str, Any]) -> None:
    inter = test.get("intermediates") or {}
    frames = harness.frames()
    for name in ("cek", "plaintext"):
        value = inter.get(name)
        if not value:
            continue
        secret = bytes.fromhex(value)[:64]
        if len(secret) >= 16 and (secret in frames or secret.hex().encode() in frames):
            raise CaseFailure(
                "agent.deliver (REE-visible frames)",
                f"no {name}",
                f"{name} found",
                clauses=NO_SECRET,
            )


#: the SUIT floor rule (protocol.md section 13), what a floor reported lower than due breaks
FLOOR_KEPT = ("P-13a",)
#: every transition into IDLE ends the exchange (protocol.md section 10): what an Agent that
#: is not IDLE after a step ending there breaks
EXCHANGE_CLOSED = ("P-10.1a",)


def _check_state(harness: Harness, after: dict[str, Any], refused: bool = False) -> None:
    """``stateAfter`` against the device's state reply. After a refusal (``refused``) a
    changed component or floor is also a change made by a refusal (P-9a)."""
    state = harness.state()
    if "agentState" in after and state.get("agent_state") != after["agentState"]:
        closed: tuple[str, ...] = EXCHANGE_CLOSED if after["agentState"] == "IDLE" else ()
        raise CaseFailure(
            "stateAfter (agent_state)",
            after["agentState"],
            state.get("agent_state"),
            clauses=(CASE, *STATE, *closed),
        )
    for key in ("components", "floors"):
        if key not in after:
            continue
        want = sorted((tuple(e["component"]), int(e["sequence"])) for e in after[key])
        have = sorted(
            (tuple(c.hex() for c in e["component"]), int(e["sequence"])) for e in state.get(key, [])
        )
        if want != have:
            # what the state reply shows broken: the report itself (adapter.md A-4b: installed
            # components, and floors also for uninstalled ones) and, for floors, the floor rule
            # (P-13a: never lowered, not even by uninstall), beside the vector's own clauses
            shown: tuple[str, ...] = (*STATE, *FLOOR_KEPT) if key == "floors" else STATE
            if refused:
                shown = (*shown, *REFUSAL)
            raise CaseFailure(f"stateAfter ({key})", want, have, clauses=(CASE, *shown))


def run_agent_provision(harness: Harness, test: dict[str, Any], step: dict[str, Any]) -> None:
    """``agent.provision``: new trust anchors (they replace the old ones)."""
    anchors = step.get("input", {}).get("trustAnchors", {})
    args = {
        "tam_keys": _hex_list(anchors.get("tam")),
        "author_keys": _hex_list(anchors.get("author")),
    }
    harness.call("provision", args, step="agent.provision")


def setup_for(test: dict[str, Any]) -> bool:
    """Whether the test's ops need a prepared device (every op but ``decode``)."""
    return any(s.get("op") != "decode" for s in test.get("steps", []))


OP_RUNNERS: dict[str, Runner] = {
    "decode": run_decode,
    "agent.deliver": run_agent_deliver,
    "agent.provision": run_agent_provision,
}


def _index() -> tuple[Any, dict[str, Any]]:
    root = resources.files("edbp.vectors")
    return root, json.loads((root / "index.json").read_text())


def load_vector_cases(include_unrunnable: bool = False) -> Iterator[VectorCase]:
    """Every test of every indexed vector file whose ops a device can run (all of them with
    ``include_unrunnable``, marked with the op that has no runner), in index order."""
    try:
        root, index = _index()
    except (OSError, ValueError, ModuleNotFoundError):
        return
    for entry in index.get("files", []):
        doc = json.loads((root / entry["path"]).read_text())
        for group in doc.get("testGroups", []):
            for test in group.get("tests", []):
                ops = [s.get("op") for s in test.get("steps", [])]
                missing = next((op for op in ops if op not in OP_RUNNERS), None)
                if missing is not None and not include_unrunnable:
                    continue  # a library-level vector (TAM, KeyVault, COSE, TA loader)
                profile = group.get("profile", "edbp")
                yield VectorCase(
                    CaseMeta(
                        id="vector." + test["tcId"],
                        properties=tuple(test.get("properties", ())),
                        flow=group.get("flow", "-"),
                        suite=group.get("suite", "-"),
                        tags=("vector", *test.get("flags", ())),
                        profile=profile,
                        # what its failure shows broken: its flags' clauses and those naming
                        # a code it expects (spec/README.md "What a failure shows broken")
                        clauses=vector_clauses(test, profile, group.get("flow", "-")),
                    ),
                    entry["path"],
                    test,
                    missing,
                )


def device_identity(harness: Harness) -> DeviceIdentity:
    """What the device reported (``hello`` at the start of the run, ``identity`` per case)."""
    info = harness.device.info
    return DeviceIdentity(
        vendor_id=bytes(harness.vendor_id),
        class_id=bytes(harness.class_id),
        ueid=bytes(harness.ueid),
        dak=bytes(harness.identity["dak"]),
        dsk=bytes(harness.identity["dsk"]),
        test_keys=info is None or info.supports("test-keys"),
    )


def needs_rederive(
    test: dict[str, Any], vendor_id: bytes, class_id: bytes, *, test_keys: bool = True
) -> bool:
    """Whether a vector's messages do not fit the device: addressed to another vendor/class
    (its manifests name ids the device rightly refuses), or made for test keys the device
    cannot take (no ``test-keys``: the flow is run again with its own keys)."""
    device = test.get("device") or {}
    if device.get("testKeys") and not test_keys:
        return True
    return any(
        key in device and bytes.fromhex(device[key]) != own
        for key, own in (("vendorId", vendor_id), ("classId", class_id))
    )


def vector_mode(harness: Harness, case: VectorCase) -> tuple[str, str | None]:
    """How ``case`` runs on this device: (``byte-exact``, None) or (``re-derived``, the
    identity it is re-derived for, as the report records it)."""
    device = device_identity(harness)
    if not needs_rederive(case.test, device.vendor_id, device.class_id, test_keys=device.test_keys):
        return BYTE_EXACT, None
    return RE_DERIVED, device.describe(needs_own_keys(case.test, device))


class _LiveTarget:
    """The harness's device as a generator's ``DeviceTarget`` while a flow is re-derived with
    it: its payload fetches answered by the generator, a refused request raised as the
    device's ``AdapterError`` (the generator's honest exchange then fails the re-derivation)."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    def call(self, req: str, args: dict[str, Any], fetch: Any = None) -> Any:
        client = self.harness.device
        saved = client.fetch
        client.fetch = fetch
        try:
            return client.call(req, args)
        finally:
            client.fetch = saved


def rederive(case: VectorCase, harness: Harness) -> dict[str, Any]:
    """The test of ``case`` re-derived for the device (``edbp.vectorgen.rederive``): its
    vendor/class ids, and, without ``test-keys``, its own UEID, DAK and DSK."""
    try:
        return _rederive(
            case.file.removesuffix(".json"),
            case.test,
            device_identity(harness),
            lambda: _LiveTarget(harness),
        )
    except RederiveError as exc:
        raise CaseFailure(
            "vector re-derivation", f"{case.test['tcId']} under the device's identity", str(exc)
        ) from None


def run_vector(harness: Harness, case: VectorCase) -> str:
    """Replay ``case``; returns how: ``byte-exact`` (the committed bytes) or ``re-derived``
    (the same flow regenerated for the device's own vendor/class ids and keys)."""
    mode, _ = vector_mode(harness, case)
    if mode == RE_DERIVED:
        case = attrs.evolve(case, test=rederive(case, harness))
    if setup_for(case.test) or case.test.get("device"):
        setup_device(harness, case.test)
    else:
        harness.provision()
    for i, step in enumerate(case.test.get("steps", [])):
        try:
            OP_RUNNERS[step["op"]](harness, case.test, step)
        except CaseFailure as exc:
            exc.step = f"step {i} ({step['op']}): {exc.step}"
            exc.args = (f"{case.meta.id} {exc.step}: expected {exc.expected}, got {exc.actual}",)
            raise
    harness.state()  # still answering
    return mode
