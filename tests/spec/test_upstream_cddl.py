"""edbp's messages are instances of the upstream rules they profile.

The upstream CDDL (TEEP, SUIT manifest, SUIT firmware encryption; copied with provenance under
tests/interop/) is loaded together with tests/spec/upstream_glue.cddl (RFC 9052's COSE rules,
the SUIT trust-domains additions, the SUIT COSE profile names). Every edbp example of a TEEP
message, SUIT envelope, SUIT encryption info and KDF context must validate against the upstream
rule as well as against its edbp rule: the edbp profile only narrows the standards.
"""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest
from cddl_verifier import Validator, schema_diagnostics

ROOT = Path(__file__).resolve().parents[2]
INTEROP = ROOT / "tests" / "interop"
EXAMPLES = ROOT / "spec" / "examples"
GLUE = (Path(__file__).resolve().parent / "upstream_glue.cddl").read_text(encoding="utf-8")
SUIT = (INTEROP / "suit-manifest" / "draft-ietf-suit-manifest.cddl").read_text(encoding="utf-8")
TEEP = (INTEROP / "teep-protocol" / "draft-ietf-teep-protocol.cddl").read_text(encoding="utf-8")
ENC_DIR = INTEROP / "suit-firmware-encryption"
ENC = (ENC_DIR / "draft-ietf-suit-firmware-encryption.cddl").read_text(encoding="utf-8")
TEEP_SIGNED = [
    "teep-query-request-signed",
    "teep-query-response-signed",
    "teep-update-signed",
    "teep-success-signed",
    "teep-error-signed",
]


def _bytes(name: str) -> bytes:
    return bytes.fromhex((EXAMPLES / f"{name}.cbor.hex").read_text().strip())


@pytest.fixture(scope="module")
def upstream() -> Validator:
    text = "\n".join((SUIT, TEEP, ENC, GLUE))
    assert not schema_diagnostics(text)
    return Validator(text)


def _check(validator: Validator, data: bytes, rule: str) -> None:
    result = validator.validate(data, root_type=rule)
    assert result.valid, [str(d) for d in result.diagnostics]


@pytest.mark.parametrize("name", TEEP_SIGNED)
def test_teep_messages_are_upstream_teep_messages(upstream: Validator, name: str) -> None:
    _check(upstream, _bytes(name), "COSE_Sign1_Tagged")
    payload = cbor2.loads(_bytes(name)).value[2]
    _check(upstream, payload, "teep-message")


@pytest.mark.parametrize("name", ["suit-envelope-author", "suit-envelope-device"])
def test_envelopes_are_upstream_suit_envelopes(upstream: Validator, name: str) -> None:
    _check(upstream, _bytes(name), "SUIT_Envelope_Tagged")


def test_update_carries_untagged_envelopes_as_teep_requires(upstream: Validator) -> None:
    payload = cbor2.loads(_bytes("teep-update-signed")).value[2]
    _check(upstream, payload, "update")
    tagged = cbor2.loads(payload)
    tagged[1][10] = [cbor2.dumps(cbor2.CBORTag(107, cbor2.loads(tagged[1][10][0])))]
    assert not upstream.validate(cbor2.dumps(tagged), root_type="update").valid


@pytest.mark.parametrize(
    ("cddl", "rule", "name"),
    [
        ("aeskw.cddl", "SUIT_Encryption_Info_AESKW", "suit-encryption-info-class"),
        ("esdh_aeskw.cddl", "SUIT_Encryption_Info_ESDH", "suit-encryption-info-device"),
        ("kdf-context.cddl", "COSE_KDF_Context", "cose-kdf-context"),
    ],
)
def test_encryption_structures_match_the_encryption_draft(cddl: str, rule: str, name: str) -> None:
    text = "\n".join((SUIT, (ENC_DIR / cddl).read_text(encoding="utf-8"), GLUE))
    assert not schema_diagnostics(text)
    _check(Validator(text), _bytes(name), rule)


def test_upstream_rules_are_not_vacuous(upstream: Validator) -> None:
    envelope = cbor2.loads(_bytes("suit-envelope-author"))
    envelope.value[3] = cbor2.dumps({1: 2, 2: 1})  # version 2, no common: not a SUIT_Manifest
    assert not upstream.validate(cbor2.dumps(envelope), root_type="SUIT_Envelope_Tagged").valid
