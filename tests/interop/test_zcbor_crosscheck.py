"""zcbor as an independent CDDL validator: every honest SUIT envelope edbp emits (the author
envelopes of the publish vectors, the device envelopes inside the deploy vectors' Updates and the
author envelope each integrates as ``#author``) is an instance of the published SUIT CDDL
(draft-ietf-suit-manifest with the firmware-encryption draft's encryption-info parameter and the
trust-domains draft's extensions: manifest-component-id, dependencies, uninstall).

What zcbor 0.9 cannot read is adapted, and only that: the `.regexp` control of one text rule and
`.bits` on the reporting policy are dropped (plain `text` / `uint`), one optional comma between
group entries is written out (trust-domains draft), two map rules list their extension socket
first (zcbor matches map entries in rule order; CDDL maps are unordered), the undefined `start` of
`SUIT_start` is given a value, and COSE's structures come from tests/interop/cddl (edbp's own
statement of RFC 9052's shapes). TEEP messages and the SUIT reports they carry are validated by
zcbor against CDDL derived from the published TEEP and SUIT report files in
test_zcbor_teep.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from edbp.reference.wire import cbor, cose, teep
from vector_docs import load_all

zcbor_mod = pytest.importorskip("zcbor.zcbor.zcbor")

HERE = Path(__file__).resolve().parent


def _adapted(text: str) -> str:
    text = re.sub(r' \.regexp "[^"]*"', "", text)
    text = re.sub(r"uint \.bits [A-Za-z-]+", "uint", text)
    # zcbor needs the comma CDDL lets a group omit between two entries on separate lines
    return re.sub(r"(=> SUIT_Component_Identifier)\s*\n(\s*\* \$\$)", r"\1,\n\2", text)


#: zcbor 0.9 matches a map's entries in the order the rule lists them, while CDDL maps are
#: unordered: two rules list an extension socket after entries with higher keys; written here
#: with the socket moved up (same set of instances), so deterministic maps can match. The
#: unseverable members' extension socket (uninstall, 24) moves from SUIT_Unseverable_Members
#: (7-9) to after the severable members (16-23) of SUIT_Manifest: the same map entries.
_REORDER = (
    (
        "    SUIT_Unseverable_Members,\n    SUIT_Severable_Members_Choice,\n"
        "    * $$SUIT_Manifest_Extensions,\n",
        "    * $$SUIT_Manifest_Extensions,\n    SUIT_Unseverable_Members,\n"
        "    SUIT_Severable_Members_Choice,\n    * $$unseverable-manifest-member-extensions,\n",
    ),
    (
        "  ? suit-invoke => bstr .cbor SUIT_Command_Sequence,\n"
        "  * $$unseverable-manifest-member-extensions,\n",
        "  ? suit-invoke => bstr .cbor SUIT_Command_Sequence,\n",
    ),
    (
        "SUIT_Common = {\n    ? suit-components             => SUIT_Components,\n"
        "    ? suit-shared-sequence        => bstr .cbor SUIT_Shared_Sequence,\n"
        "    * $$SUIT_Common-extensions,\n",
        "SUIT_Common = {\n    * $$SUIT_Common-extensions,\n"
        "    ? suit-components             => SUIT_Components,\n"
        "    ? suit-shared-sequence        => bstr .cbor SUIT_Shared_Sequence,\n",
    ),
)


def _manifest_cddl() -> str:
    text = _adapted((HERE / "suit-manifest" / "draft-ietf-suit-manifest.cddl").read_text())
    for old, new in _REORDER:
        assert old in text, old  # the published rule changed: revisit the adaptation
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def suit_types() -> Any:
    prelude = (Path(zcbor_mod.__file__).parent / "prelude.cddl").read_text()
    parts = [
        prelude,
        _manifest_cddl(),
        (
            HERE / "suit-firmware-encryption" / "draft-ietf-suit-firmware-encryption.cddl"
        ).read_text(),
        _adapted((HERE / "suit-trust-domains" / "draft-ietf-suit-trust-domains.cddl").read_text()),
        (HERE / "cddl" / "cose-for-zcbor.cddl").read_text(),
        "start = nil\n",
    ]
    return zcbor_mod.DataTranslator.from_cddl("\n".join(parts), 100).my_types


def _honest_envelopes() -> list[tuple[str, str, bytes]]:
    """(id, CDDL rule, bytes) of every envelope in the valid publish and deploy vectors."""
    out: dict[bytes, tuple[str, str, bytes]] = {}
    for doc in load_all().values():
        for group in doc["testGroups"]:
            for test in group["tests"]:
                if test["result"] != "valid":
                    continue
                for step in test["steps"]:
                    inp = step["input"]
                    if step["op"] == "publish.read_author_envelope":
                        data = bytes.fromhex(inp["envelope"]["cbor"])
                        out[data] = (test["tcId"], "SUIT_Envelope_Tagged", data)
                    elif step["op"] == "agent.deliver":
                        msg = teep.decode(
                            cose.Sign1.decode(bytes.fromhex(inp["message"]["cbor"])).payload or b""
                        )
                        for i, env in enumerate(getattr(msg, "manifest_list", None) or ()):
                            out[env] = (f"{test['tcId']}#{i}", "SUIT_Envelope", env)
                            body = cbor.loads(env)
                            for name, value in body.items():
                                if isinstance(name, str):
                                    out[value] = (
                                        f"{test['tcId']}#{i}{name}",
                                        "SUIT_Envelope_Tagged",
                                        value,
                                    )
    return sorted(out.values())


ENVELOPES = _honest_envelopes()


def test_many_envelopes_of_every_kind() -> None:
    rules = [rule for _, rule, _ in ENVELOPES]
    assert rules.count("SUIT_Envelope") >= 6 and rules.count("SUIT_Envelope_Tagged") >= 6
    assert any("#author" in i for i, _, _ in ENVELOPES)


@pytest.mark.parametrize(("tc_id", "rule", "data"), ENVELOPES, ids=[e[0] for e in ENVELOPES])
def test_zcbor_validates_edbp_envelopes(
    suit_types: Any, tc_id: str, rule: str, data: bytes
) -> None:
    suit_types[rule].validate_str(data)


def test_zcbor_refuses_a_broken_envelope(suit_types: Any) -> None:
    """Not vacuous: the same validator refuses an envelope whose manifest is not a bstr, and
    one with an unknown integer member."""
    rule_data = next(e for e in ENVELOPES if e[1] == "SUIT_Envelope_Tagged")[2]
    obj = cbor.loads(rule_data)
    wrong = cbor.Tag(107, {**obj.value, 3: 5})
    extra = cbor.Tag(107, {**obj.value, 99: b"x"})
    for bad in (wrong, extra):
        with pytest.raises(Exception):  # noqa: B017 - zcbor's CddlValidationError
            suit_types["SUIT_Envelope_Tagged"].validate_str(cbor.dumps(bad))


def test_zcbor_validates_the_drafts_example(suit_types: Any) -> None:
    text = (HERE / "suit-manifest" / "example1.txt").read_text()
    signed = re.findall(r"~~~\n([0-9a-f\n]+)~~~", text)[1]
    suit_types["SUIT_Envelope_Tagged"].validate_str(bytes.fromhex("".join(signed.split())))
