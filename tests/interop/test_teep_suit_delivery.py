"""The TEEP draft's SUIT envelope examples delivered to a reference Agent (draft_delivery.py):
what the Agent and the TAM answer, pinned, with the seeded flaws that show the refusal comes
after the draft's signature and conditions were really checked."""

from __future__ import annotations

import pytest
from draft_delivery import (
    EXAMPLES,
    component_zero_parameters,
    deliver_to_agent,
    device_envelope,
    draft_author_key,
    draft_envelope,
    served_payloads,
    tam_publish,
)
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cose
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_envelope import Envelope
from edbp.reference.wire.suit_labels import SuitParam

from edbp.errors import Code

AS_PUBLISHED = {
    # spec/protocol.md section 9 step 5: the author's manifest-component-id
    "suit_uri": (Code.SUIT_DEPENDENCY_FAILED, "author manifest-component-id"),
    "suit_integrated": (Code.SUIT_DEPENDENCY_FAILED, "author manifest-component-id"),
    # section 7: the author manifest has no dependency of its own (a third layer, fetched)
    "suit_personalization": (Code.SUIT_DEPENDENCY_FAILED, "dependencies must be integrated"),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_agent_answer_as_published(name: str) -> None:
    out = deliver_to_agent(name)
    assert not out.installed
    assert (out.code, out.detail) == AS_PUBLISHED[name]
    assert out.fetched == ()  # refused before any fetch (P9)
    assert out.anchors_author_key


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_author_envelope_rides_byte_for_byte(name: str) -> None:
    tsk = cose.CoseKey.generate(cose.Curve.P256, SeededRandom("rides"))
    env = Envelope.decode(device_envelope(draft_envelope(name), tsk, b"\x01" * 33))
    assert env.integrated["#author"] == draft_envelope(name)


@pytest.mark.parametrize("name", ["suit_uri", "suit_integrated"])
def test_served_payload_is_the_signed_image(name: str) -> None:
    """The fetcher serves, at the manifest's URI, bytes whose digest and size are the
    manifest's signed image-digest/image-size: the refusal is not a payload mismatch."""
    author = Envelope.decode(draft_envelope(name), lenient=True)
    params = component_zero_parameters(author)
    (payload,) = served_payloads(author).values()
    assert params[int(SuitParam.IMAGE_DIGEST)] == SuitDigest.of(payload)
    assert params[int(SuitParam.IMAGE_SIZE)] == len(payload) == 20


@pytest.mark.parametrize("name", ["suit_uri", "suit_integrated"])
def test_renamed_plaintext_payload_is_refused_312(name: str) -> None:
    """Past the naming rule, the draft's payload is not encrypted: nothing for the device."""
    out = deliver_to_agent(name, renamed=True)
    assert (out.code, out.detail) == (Code.SUIT_ENCRYPTION_INFO, "expected one encrypted component")
    assert out.fetched == ()


def test_renamed_personalization_still_refused_for_its_dependency() -> None:
    out = deliver_to_agent("suit_personalization", renamed=True)
    assert (out.code, out.detail) == AS_PUBLISHED["suit_personalization"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_seeded_flaw_other_author_key(name: str) -> None:
    """The Agent verifies the draft's ES256 signature before anything else of the author layer:
    provisioned with another author key, the same bytes are SUIT_AUTH_FAILED."""
    other = cose.CoseKey.generate(cose.Curve.P256, SeededRandom("not-the-draft-key")).public()
    assert other != draft_author_key()
    out = deliver_to_agent(name, author_key=other)
    assert out.code == Code.SUIT_AUTH_FAILED


@pytest.mark.parametrize("name", EXAMPLES)
def test_seeded_flaw_other_vendor_and_class(name: str) -> None:
    """The conditions are run against the provisioned identity before the refusal."""
    assert deliver_to_agent(name, vendor_id=b"\x00" * 16).code == Code.SUIT_CONDITION_VENDOR
    assert deliver_to_agent(name, class_id=b"\x00" * 16).code == Code.SUIT_CONDITION_CLASS


@pytest.mark.parametrize("name", EXAMPLES)
def test_tam_publish_refuses_the_foreign_layout(name: str) -> None:
    assert tam_publish(name) == (
        "refused 300 SUIT_MALFORMED (author manifest: expected two components and an id)"
    )
