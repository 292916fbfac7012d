"""Every honest message of the vectors is an instance of its messages.cddl rule *and* of the
published rule it profiles (issue 13): a TEEP message of draft-ietf-teep-protocol's
``teep-message`` inside RFC 9052's ``COSE_Sign1_Tagged``, an author envelope of
draft-ietf-suit-manifest's ``SUIT_Envelope_Tagged``, a device endorsement of
``COSE_Sign1_Tagged``. The upstream CDDL and its glue (the drafts' own gaps, restated with
provenance in upstream_glue.cddl) are those of test_upstream_cddl.py.

A second validator: zcbor (PyPI) cannot load the upstream files as published (no ``.within``
or ``.and``, no generics, no parenthesised choice inside ``bstr .cbor``); it validates the same
honest TEEP messages against CDDL mechanically derived from them in
tests/interop/test_zcbor_teep.py (tests/interop/cddl/PROVENANCE.md says what is rewritten).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cddl_verifier import Validator

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "vectors"
INTEROP = ROOT / "tests" / "interop"
GLUE = (Path(__file__).resolve().parent / "upstream_glue.cddl").read_text(encoding="utf-8")
SUIT = (INTEROP / "suit-manifest" / "draft-ietf-suit-manifest.cddl").read_text(encoding="utf-8")
TEEP = (INTEROP / "teep-protocol" / "draft-ietf-teep-protocol.cddl").read_text(encoding="utf-8")
ENC = (INTEROP / "suit-firmware-encryption" / "draft-ietf-suit-firmware-encryption.cddl").read_text(
    encoding="utf-8"
)

#: messages.cddl rule -> (upstream rule of the whole message, upstream rule of its payload)
UPSTREAM = {
    "messages.cddl#edbp-teep-message-signed": ("COSE_Sign1_Tagged", "teep-message"),
    "messages.cddl#edbp-suit-envelope-author": ("SUIT_Envelope_Tagged", None),
    "messages.cddl#edbp-device-endorsement": ("COSE_Sign1_Tagged", None),
}


def _messages(node: Any) -> Iterator[tuple[str, bytes]]:
    if isinstance(node, dict):
        if "cddl" in node and isinstance(node.get("cbor"), str) and node["cddl"]:
            yield node["cddl"], bytes.fromhex(node["cbor"])
        for value in node.values():
            yield from _messages(value)
    elif isinstance(node, list):
        for value in node:
            yield from _messages(value)


def _all() -> dict[bytes, str]:
    index = json.loads((VECTORS / "index.json").read_text(encoding="utf-8"))
    found: dict[bytes, str] = {}
    for entry in index["files"]:
        doc = json.loads((VECTORS / entry["path"]).read_text(encoding="utf-8"))
        for rule, data in _messages(doc):
            found[data] = rule
    return found


MESSAGES = _all()


@pytest.fixture(scope="module")
def upstream() -> Validator:
    return Validator("\n".join((SUIT, TEEP, ENC, GLUE)))


@pytest.fixture(scope="module")
def edbp() -> Validator:
    return Validator((ROOT / "spec" / "messages.cddl").read_text(encoding="utf-8"))


def test_vectors_name_only_rules_this_check_knows() -> None:
    assert MESSAGES, "no honest message in the vectors"
    assert set(MESSAGES.values()) <= set(UPSTREAM)


@pytest.mark.parametrize("rule", sorted(UPSTREAM))
def test_honest_vector_messages_are_upstream_instances(
    upstream: Validator, edbp: Validator, rule: str
) -> None:
    whole, inner = UPSTREAM[rule]
    bad = []
    for data, named in MESSAGES.items():
        if named != rule:
            continue
        if not upstream.validate(data, root_type=whole).valid:
            bad.append((whole, data.hex()[:40]))
        if inner is not None:
            payload = cbor2.loads(data).value[2]
            if not upstream.validate(payload, root_type=inner).valid:
                bad.append((inner, data.hex()[:40]))
        if not edbp.validate(data, root_type=rule.split("#", 1)[1]).valid:
            bad.append((rule, data.hex()[:40]))
    assert bad == []


def test_a_freshness_mechanism_teep_does_not_define_is_not_upstream(upstream: Validator) -> None:
    """The bug of issue 13 item 8: mechanism 2 makes a QueryRequest that is not TEEP."""
    request = next(
        d
        for d, r in MESSAGES.items()
        if r.endswith("edbp-teep-message-signed") and cbor2.loads(cbor2.loads(d).value[2])[0] == 1
    )
    payload = cbor2.loads(cbor2.loads(request).value[2])
    assert upstream.validate(cbor2.dumps(payload), root_type="teep-message").valid
    payload[1][21] = [2]
    assert not upstream.validate(cbor2.dumps(payload), root_type="teep-message").valid
    payload[1][21] = [1]
    assert upstream.validate(cbor2.dumps(payload), root_type="teep-message").valid
