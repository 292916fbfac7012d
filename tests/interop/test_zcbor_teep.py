"""zcbor as an independent CDDL validator of edbp's TEEP messages (issue 15): every honest TEEP
message (each vector message whose rule is ``edbp-teep-message-signed``, the spec's signed TEEP
examples, and the reference Agent's own QueryResponse, Success and Error replies with their
reports) is an instance of the published
``teep-message`` of draft-ietf-teep-protocol, and every SUIT report those messages carry is an
instance of draft-ietf-suit-report's ``SUIT_Report_Protected`` / ``SUIT_Report``.

zcbor cannot load either CDDL file as published; it loads files derived from them by
tests/interop/cddl/derive_for_zcbor.py (each rewrite keeps the same instances; see
tests/interop/cddl/PROVENANCE.md). The two constructs that cannot be written for zcbor are
checked here another way: ``.within teep-message-framework`` by validating each message against
the framework rule too, and the report's ``.and SUIT_COSE_Profiles`` by checking its COSE
algorithm against the authentication algorithms of draft-ietf-suit-mti's profiles.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import cbor2
import pytest
from edbp.reference.wire import teep

zcbor_mod = pytest.importorskip("zcbor.zcbor.zcbor")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE / "cddl"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "vectors"))

import derive_for_zcbor as derive  # noqa: E402
import test_zcbor_crosscheck as suit_cddl  # noqa: E402

TEEP_RULE = "messages.cddl#edbp-teep-message-signed"
RULE_OF_TYPE = {1: "query-request", 2: "query-response", 3: "update", 5: "success", 6: "error"}
SPEC_EXAMPLES = ("query-request", "query-response", "update", "success", "error")


def _cddl_messages(node: Any, rule: str) -> list[bytes]:
    out: list[bytes] = []
    if isinstance(node, dict):
        if node.get("cddl") == rule and isinstance(node.get("cbor"), str):
            out.append(bytes.fromhex(node["cbor"]))
        for value in node.values():
            out.extend(_cddl_messages(value, rule))
    elif isinstance(node, list):
        for value in node:
            out.extend(_cddl_messages(value, rule))
    return out


def _honest_teep() -> list[tuple[str, bytes]]:
    """(id, COSE_Sign1_Tagged bytes) of every honest TEEP message, deduplicated."""
    found: dict[bytes, str] = {}
    index = json.loads((ROOT / "vectors" / "index.json").read_text(encoding="utf-8"))
    for entry in index["files"]:
        doc = json.loads((ROOT / "vectors" / entry["path"]).read_text(encoding="utf-8"))
        for group in doc.get("testGroups", ()):
            for test in group["tests"]:
                if test["result"] != "valid":
                    continue
                for data in _cddl_messages(test["steps"], TEEP_RULE):
                    found.setdefault(data, test["tcId"])
    for tc, data in _agent_replies():
        found.setdefault(data, tc)
    for name in SPEC_EXAMPLES:
        path = ROOT / "spec" / "examples" / f"teep-{name}-signed.cbor.hex"
        found.setdefault(bytes.fromhex(path.read_text().strip()), f"spec-example-{name}")
    return sorted((tc, data) for data, tc in found.items())


def _agent_replies() -> list[tuple[str, bytes]]:
    """The reference Agent's own messages (the vectors name its replies, not their bytes): a
    QueryResponse, the Success of an install, the Error of a refused rollback and the Success
    of an uninstall, each with its signed SUIT report."""
    sys.path.insert(0, str(ROOT / "tests" / "device"))
    from device_builders import COMPONENT, world
    from device_fixtures import V1, V2, World

    author, tam = world("zcbor-teep")
    w = World(author, tam)
    dev = w.device()
    request, _ = tam.query()
    (query_response,) = dev.broker.deliver(request)
    (installed,) = dev.install(tam, w.publish(V2, 3))
    (refused,) = dev.install(tam, w.publish(V1, 2))
    token = dev.query(tam)
    (uninstalled,) = dev.broker.deliver(
        tam.signed(
            teep.Update(
                token=token,
                agent_nonce=tam.nonce(token),
                unneeded_manifest_list=(COMPONENT,),
                unneeded_device=dev.agent.keys.ueid,
                unneeded_sequence_numbers=(3,),
            )
        )
    )
    return [
        ("agent-query-response", query_response),
        ("agent-success-install", installed),
        ("agent-error-rollback", refused),
        ("agent-success-uninstall", uninstalled),
    ]


MESSAGES = _honest_teep()


@functools.cache
def zcbor_types() -> Any:
    """The zcbor types of the published SUIT manifest, encryption and trust-domains CDDL, edbp's
    COSE shapes, and the derived TEEP and SUIT report files (built once per process)."""
    prelude = (Path(zcbor_mod.__file__).parent / "prelude.cddl").read_text()
    enc = HERE / "suit-firmware-encryption" / "draft-ietf-suit-firmware-encryption.cddl"
    trust = HERE / "suit-trust-domains" / "draft-ietf-suit-trust-domains.cddl"
    parts = [
        prelude,
        suit_cddl._manifest_cddl(),
        enc.read_text(),
        suit_cddl._adapted(trust.read_text()),
        (HERE / "cddl" / "cose-for-zcbor.cddl").read_text(),
        "start = nil\n",
        derive.TEEP_OUT.read_text(encoding="utf-8"),
        derive.REPORT_OUT.read_text(encoding="utf-8"),
        # edbp's own SUIT COSE profile (spec/protocol.md section 4): TEEP's $suit-cose-profile
        # is a socket, and draft-ietf-suit-mti names no Ed25519 + A128GCM profile
        "$suit-cose-profile /= [-16, -19, -29, 1]\n",
        # edbp-pq (spec/protocol.md section 4.1) extends the same sockets: ML-DSA-65 (RFC 9964,
        # -49) signs TEEP messages, COSE-HPKE MLKEM768-X25519 (private-use -70768) delivers the CEK
        "$teep-cipher-suite /= [ [ 18, -49 ] ]\n",
        "$suit-cose-profile /= [-16, -49, -70768, 1]\n",
        # edbp's Update extension (spec/protocol.md section 14 item 19) in TEEP's own socket
        "$$update-extensions //= (256 => [+ uint .size 8])\n",
        "$$update-extensions //= (257 => bstr .size (7..33))\n",
        # the Agent nonce (protocol.md section 8.3.1, section 14 item 20): in the QueryResponse,
        # echoed in every Update
        "$$query-response-extensions //= (258 => bstr .size 16)\n",
        "$$update-extensions //= (258 => bstr .size 16)\n",
    ]
    return zcbor_mod.DataTranslator.from_cddl("\n".join(parts), 100).my_types


@pytest.fixture(scope="module")
def types() -> Any:
    return zcbor_types()


def _payload(signed: bytes) -> bytes:
    payload = cbor2.loads(signed).value[2]
    assert isinstance(payload, bytes)
    return payload


def _reports(payload: bytes) -> list[bytes]:
    return list(cbor2.loads(payload)[1].get(19, ()))


def test_derived_files_are_current() -> None:
    """The committed derived CDDL is what the transformer makes of the published files."""
    for path, text in derive.outputs().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run python tests/interop/cddl/derive_for_zcbor.py"
        )


def test_every_message_type_and_a_report_are_covered() -> None:
    kinds = {cbor2.loads(_payload(d))[0] for _, d in MESSAGES}
    assert kinds == set(RULE_OF_TYPE)
    assert sum(len(_reports(_payload(d))) for _, d in MESSAGES) >= 5
    assert len(MESSAGES) >= 20


@pytest.mark.parametrize(("tc_id", "data"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_zcbor_validates_honest_teep_messages(types: Any, tc_id: str, data: bytes) -> None:
    types["COSE_Sign1_Tagged"].validate_str(data)
    payload = _payload(data)
    types["teep-message"].validate_str(payload)
    types[RULE_OF_TYPE[cbor2.loads(payload)[0]]].validate_str(payload)
    # .within teep-message-framework, which zcbor cannot state: checked as a second rule
    types["teep-message-framework"].validate_str(payload)
    for report in _reports(payload):
        types["SUIT_Report_Protected"].validate_str(report)
        types["SUIT_Report"].validate_str(cbor2.loads(report).value[2])
        # .and SUIT_COSE_Profiles: the report's algorithm is a profile's authentication alg
        alg = cbor2.loads(cbor2.loads(report).value[0])[1]
        assert alg in _mti_auth_algs()


def _mti_auth_algs() -> set[int]:
    text = derive.mti_profile_names(derive.MTI_SRC.read_text(encoding="utf-8"))
    algs = {int(m) for m in __import__("re").findall(r"\[-16, (-?\d+),", text)}
    assert {-9, -19} <= algs
    return algs


def _mutate(payload: bytes, fn: Any) -> bytes:
    value = cbor2.loads(payload)
    fn(value)
    return cbor2.dumps(value, canonical=True)


def test_zcbor_refuses_what_teep_does_not_allow(types: Any) -> None:
    """Not vacuous: the same types refuse messages that break the published rules."""
    by_type = {cbor2.loads(_payload(d))[0]: _payload(d) for _, d in MESSAGES}
    bad = [
        _mutate(by_type[1], lambda v: v[1].__setitem__(21, [2])),  # freshness 2: undefined
        _mutate(by_type[1], lambda v: v.__setitem__(4, 16)),  # data-item bit 4: undefined
        _mutate(by_type[1], lambda v: v[1].__setitem__(20, b"short")),  # token < 8 bytes
        _mutate(by_type[6], lambda v: v.__setitem__(2, 11)),  # err-code 11: not a TEEP code
        _mutate(by_type[5], lambda v: v[1].__setitem__(11, b"ok")),  # msg is text
        _mutate(by_type[3], lambda v: v.__setitem__(0, 4)),  # type 4: reserved
    ]
    for payload in bad:
        with pytest.raises(zcbor_mod.CddlValidationError):
            types["teep-message"].validate_str(payload)


def test_zcbor_refuses_a_report_without_the_uri(types: Any) -> None:
    """The published SUIT_Reference requires the manifest URI; edbp's emitter always writes it
    (the empty text when the manifest has none) since issue 15."""
    report = next(r for _, d in MESSAGES for r in _reports(_payload(d)))
    body = cbor2.loads(cbor2.loads(report).value[2])
    types["SUIT_Report"].validate_str(cbor2.dumps(body, canonical=True))
    body[99] = body[99][1:]
    with pytest.raises(zcbor_mod.CddlValidationError):
        types["SUIT_Report"].validate_str(cbor2.dumps(body, canonical=True))


# ------------------------------------------------------------------ the transformer itself


def test_each_rewrite_keeps_what_it_must() -> None:
    assert derive.drop_within("a = $b .within c\n") == "a = $b\n"
    with pytest.raises(AssertionError):
        derive.drop_within("a = b\n")
    text = "err-code = 23\nerror = [\n  type: 6,\n  err-code: uint\n]\nm = { err-code => 1 }\n"
    out = derive.rename_colliding_array_labels(text)
    assert "err-code-member: uint" in out and "type: 6" in out and "{ err-code => 1 }" in out
    assert derive.name_cbor_choices("x = bstr .cbor (A / B)\n").startswith("x = bstr .cbor A-or-B")
    m = "token = 20\nmsg = 11\nsuccess = {\n  ? token => bstr,\n  * $$ext,\n  ? msg => text\n}\n"
    sorted_ = derive.sort_map_entries(m)
    assert sorted_.index("? msg") < sorted_.index("? token") < sorted_.index("* $$ext")
    assert derive.optional_bare_socket("{\n  $$X\n}") == "{\n  * $$X\n}"


def test_teep_rules_are_all_kept() -> None:
    """The rewrites neither drop nor add rules, other than the named .cbor choice."""
    published = derive.TEEP_SRC.read_text(encoding="utf-8")
    derived = derive.derive_teep(published)
    added = derive.rule_names(derived) - derive.rule_names(published)
    assert added == {"SUIT_Report_Protected-or-SUIT_Report_Unprotected"}
    assert derive.rule_names(published) <= derive.rule_names(derived)
    assert derive.int_constants(published) == derive.int_constants(derived)
    assert set(derive.NOT_EXPRESSED)  # each is checked in test_zcbor_validates_honest_...


DRAFT_EXAMPLES = sorted((HERE / "teep-protocol" / "cbor").glob("*.hex.txt"))


@pytest.mark.parametrize(
    "path",
    [p for p in DRAFT_EXAMPLES if not p.name.startswith("suit_")],
    ids=lambda p: p.name,
)
def test_zcbor_validates_the_drafts_teep_examples(types: Any, path: Path) -> None:
    """The draft's own example messages, re-encoded with their map keys in deterministic order
    (the only change: CDDL maps are unordered, zcbor 0.9 matches entries in rule order), are
    instances of the derived teep-message and of teep-message-framework."""
    from edbp.cli.inspect import read_input

    payload = cbor2.dumps(cbor2.loads(read_input(path.read_bytes())), canonical=True)
    types["teep-message"].validate_str(payload)
    types["teep-message-framework"].validate_str(payload)
