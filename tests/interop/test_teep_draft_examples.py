"""The TEEP protocol draft's own example messages (tests/interop/teep-protocol/cbor, annotated hex
as published) are received under the receive rule of spec/protocol.md §5: they decode, the Agent
processes a signed one, signatures are checked over the bytes as received, and the strict
option still refuses them. A tag inside a map key of a TEEP message is refused (errors.md 108)."""

from __future__ import annotations

from pathlib import Path

import pytest
from device_builders import world
from device_fixtures import World, reply
from edbp.reference.device.agent import error_code_of
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, cose, suit, teep
from edbp.reference.wire.suit_labels import SuitCommand

from edbp.cli.inspect import read_input
from edbp.errors import Code, EdbpError, VerificationError, WireError

CBOR_DIR = Path(__file__).resolve().parent / "teep-protocol" / "cbor"
TEEP_EXAMPLES = {
    "query_request": teep.QueryRequest,
    "query_response": teep.QueryResponse,
    "update": teep.Update,
    "teep_success": teep.Success,
    "teep_error": teep.Error,
}


def example(name: str) -> bytes:
    return read_input((CBOR_DIR / f"{name}.hex.txt").read_bytes())


@pytest.mark.parametrize("name", sorted(TEEP_EXAMPLES))
def test_draft_example_decodes_under_the_receive_rule(name: str) -> None:
    data = example(name)
    msg = teep.decode(data)
    assert isinstance(msg, TEEP_EXAMPLES[name])
    assert msg.token == bytes(range(0xA0, 0xB0))
    # the same bytes under the strict option: refused exactly when they are not deterministic
    deterministic = cbor.is_deterministic(data)
    assert deterministic == (name == "teep_success")
    if not deterministic:
        with cbor.strict_decoding(), pytest.raises(WireError) as info:
            teep.decode(data)
        assert info.value.code == Code.CBOR_UNSORTED_KEYS


def test_annotated_hex_matches_the_diagnostic_notation() -> None:
    """The `#` comments are dropped, nothing else: the Update carries the 334-byte envelope
    (head 59 014e)."""
    update = teep.decode(example("update"))
    assert isinstance(update, teep.Update)
    assert [len(m) for m in update.manifest_list or ()] == [334]
    error = teep.decode(example("teep_error"))
    assert isinstance(error, teep.Error)
    assert (error.err_code, error.err_msg) == (17, "disk-full")


def _with_challenge(query_request: bytes, challenge: bytes) -> bytes:
    """The draft's QueryRequest with a challenge (label 2) appended to its options map: keys
    stay out of order (20, 3, 2), as another implementation could send them."""
    assert query_request[:3] == b"\x85\x01\xa2" and query_request[21:24] == b"\x03\x81\x00"
    return b"\x85\x01\xa3" + query_request[3:24] + b"\x02\x58\x20" + challenge + query_request[24:]


def test_agent_answers_the_drafts_query_request() -> None:
    author, tam = world("teep-draft-examples")
    dev = World(author, tam).device()
    challenge = bytes(range(32))
    payload = _with_challenge(example("query_request"), challenge)
    assert not cbor.is_deterministic(payload)
    signed = cose.sign1(payload, tam.tsk, cose.Alg.ESP256).encode()
    replies = dev.broker.deliver(signed)
    assert len(replies) == 1
    response = reply(replies[0])
    assert isinstance(response, teep.QueryResponse), error_code_of(replies[0])
    assert response.token == bytes(range(0xA0, 0xB0))
    # the strict option (protocol §5) is explicit and refuses the same bytes
    with cbor.strict_decoding():
        refused = dev.broker.deliver(signed)
    assert error_code_of(refused[0])[1] == int(Code.CBOR_UNSORTED_KEYS)


def test_agent_refuses_the_unmodified_query_request_for_lack_of_a_challenge() -> None:
    """As published the QueryRequest has no challenge; edbp attests in the background-check
    model, where the nonce MUST come from the challenge (TEEP draft, Freshness Mechanisms)."""
    author, tam = world("teep-draft-examples")
    dev = World(author, tam).device()
    signed = cose.sign1(example("query_request"), tam.tsk, cose.Alg.ESP256).encode()
    replies = dev.broker.deliver(signed)
    assert error_code_of(replies[0])[1] == int(Code.TEEP_MALFORMED)
    assert isinstance(reply(replies[0]), teep.Error)


def test_signature_is_checked_over_the_received_bytes() -> None:
    """A QueryResponse signed as the draft encodes it verifies; one signed over the
    deterministic re-encoding does not verify on the draft's bytes (and vice versa)."""
    key = cose.CoseKey.generate(cose.Curve.P256, SeededRandom("teep-draft-qr"))
    received = example("query_response")
    reencoded = cbor.dumps(cbor.loads(received))
    assert reencoded != received
    signed = cose.sign1(received, key, cose.Alg.ESP256).encode()
    assert isinstance(teep.verify(signed, key.public()), teep.QueryResponse)
    sig_over_reencoding = cose.sign1(reencoded, key, cose.Alg.ESP256)
    forged = cose.Sign1(sig_over_reencoding.headers, received, sig_over_reencoding.signature)
    with pytest.raises(VerificationError) as info:
        teep.verify(forged.encode(), key.public())
    assert info.value.code == Code.TEEP_BAD_SIGNATURE


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("teep_success", b"\xa1\x14\x50", b"\xa1\xc1\x14\x50"),  # token key as 1(20)
        ("teep_error", b"\x0c\x69", b"\xd8\x20\x0c\x69"),  # err-msg key as 32(12)
    ],
)
def test_tag_inside_a_map_key_of_a_teep_message_is_refused(
    name: str, old: bytes, new: bytes
) -> None:
    data = example(name)
    assert data.count(old) == 1
    tagged = data.replace(old, new)
    with pytest.raises(EdbpError) as info:
        teep.decode(tagged)
    assert info.value.code == Code.CBOR_UNEXPECTED_TAG
    # and through the Agent: a coded TEEP Error, nothing processed
    author, tam = world("teep-draft-examples")
    dev = World(author, tam).device()
    replies = dev.broker.deliver(cose.sign1(tagged, tam.tsk, cose.Alg.ESP256).encode())
    assert error_code_of(replies[0])[1] == int(Code.CBOR_UNEXPECTED_TAG)


# ------------------------------------------------------------------ SUIT examples of the draft

SUIT_EXAMPLES = ("suit_uri", "suit_integrated", "suit_personalization")


def suit_author_key() -> cose.CoseKey:
    """The SUIT manifest draft's example key signs the TEEP draft's SUIT examples too."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    pem = (CBOR_DIR.parent.parent / "suit-manifest" / "private_key.pem").read_bytes()
    return cose.CoseKey.from_cryptography(load_pem_private_key(pem, None)).public()  # type: ignore[arg-type]


@pytest.mark.parametrize("name", SUIT_EXAMPLES)
def test_teep_suit_examples_with_uninstall_decode_and_verify(name: str) -> None:
    """Untagged envelopes with a suit-uninstall member (24) decode under the profile decoder;
    the digest covers the received manifest bytes and the ESP256 signature verifies."""
    data = example(name)
    envelope = suit.Envelope.decode(data)
    assert envelope.encode() == data  # kept as received
    uninstall = envelope.manifest.uninstall
    assert uninstall is not None and [c.code for c in uninstall][-1] == SuitCommand.DIRECTIVE_UNLINK
    assert suit.verify_envelope(envelope, suit_author_key()) == envelope.manifest


def _manifest_with(member: int, sequence: list[object]) -> bytes:
    common = cbor.dumps({2: [[b"c"]]})
    return cbor.dumps({1: 1, 2: 1, 3: common, member: cbor.dumps(sequence)})


def test_uninstall_sequence_has_its_own_command_subset() -> None:
    ok = suit.Manifest.decode(_manifest_with(24, [12, 0, 33, 15]))
    assert ok.uninstall is not None
    for member, sequence in ((20, [12, 0, 33, 15]), (24, [12, 0, 21, 15]), (24, [23, 15])):
        with pytest.raises(EdbpError) as info:
            suit.Manifest.decode(_manifest_with(member, sequence))
        assert info.value.code == Code.SUIT_UNSUPPORTED_COMMAND


def test_update_example_uses_member_9_which_is_invoke() -> None:
    """The TEEP draft's Update labels member 9 "install"; in the SUIT manifest draft (-37) 9 is
    suit-invoke (install is 20). The edbp delivery decoder refuses invoke
    (SUIT_UNSUPPORTED_COMMAND: the manifest draft lets a processor exclude a manifest with an
    unsupported command); read as published the envelope's digest and signature verify, and
    the SUIT processor runs member 9 in the invocation procedure, never in an update."""
    update = teep.decode(example("update"))
    assert isinstance(update, teep.Update)
    data = (update.manifest_list or [b""])[0]
    with pytest.raises(EdbpError) as info:
        suit.Envelope.decode(data)
    assert info.value.code == Code.SUIT_UNSUPPORTED_COMMAND
    envelope = suit.Envelope.decode(data, lenient=True)
    assert suit.verify_envelope(envelope, suit_author_key(), lenient=True) == envelope.manifest


def test_update_member_9_runs_as_suit_invoke_in_the_processor() -> None:
    from edbp.reference.wire.suit_processor import ComponentStore, Processor
    from edbp.reference.wire.suit_processor import decode as processor_decode

    update = teep.decode(example("update"))
    assert isinstance(update, teep.Update)
    envelope = processor_decode((update.manifest_list or [b""])[0])
    ta = (CBOR_DIR / "8d82573a-926d-4754-9353-32dc29997f74.ta").read_bytes()
    served = {"https://example.org/8d82573a-926d-4754-9353-32dc29997f74.ta": ta}
    proc = Processor(
        vendor_id=bytes.fromhex("c0ddd5f15243566087db4f5b0aa26c2f"),
        class_id=bytes.fromhex("db42f7093d8c55baa8c5265fc5820f4e"),
        fetch=served.get,
    )
    assert proc.process(envelope, ComponentStore(), ("update",)).actions == ()
    invoked = proc.process(envelope, ComponentStore(), ("invoke",))
    assert [a.kind for a in invoked.actions] == ["fetch", "image-match"]
    assert list(invoked.store.images.values()) == [ta]
