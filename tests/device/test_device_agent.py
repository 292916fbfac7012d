"""The Agent end to end through its public API (Broker.deliver / Agent.receive): the Deploy flow,
each refusal with its code, and the invariants after every refusal (IDLE, CEK erased, nothing
installed)."""

from __future__ import annotations

import attrs
import pytest
from device_builders import CLASS_B, COMPONENT, VENDOR
from device_fixtures import V1, V2, Device, World, assert_refused, reply
from edbp.reference.device.agent import (
    EAT_FORMAT,
    TRANSITIONS,
    AgentInput,
    AgentState,
    FetchFailed,
    FetchPayload,
    MessageReceived,
    PayloadFetched,
    SendMessage,
    error_code_of,
)
from edbp.reference.device.broker import BrokerPayload
from edbp.reference.device.install import MemoryBudget, component_key
from edbp.reference.device.storage import MemoryStorage
from edbp.reference.wire import cose, teep
from edbp.reference.wire.cbor import loads
from edbp.reference.wire.eat import EatClaims
from edbp.reference.wire.suit_commands import Command, CommandSequence, Parameters
from edbp.reference.wire.suit_crypto import verify_report
from edbp.reference.wire.suit_envelope import Envelope
from edbp.reference.wire.suit_labels import SuitCommand
from hypothesis import given, settings
from hypothesis import strategies as st

from edbp.errors import Code, EdbpError, TeepErr


def test_query_response_is_fresh_signed_evidence(w: World) -> None:
    dev = w.device()
    request, token = w.tam.query()
    challenge = reply_challenge(request)
    (response,) = dev.broker.deliver(request)
    # the TEEP message and the evidence are both signed by the DSK
    msg = teep.decode(
        cose.Sign1.decode(response).verify(dev.agent.keys.dsk_public, algorithms={cose.Alg.ESP256})
    )
    assert isinstance(msg, teep.QueryResponse) and msg.token == token
    assert msg.attestation_payload_format == EAT_FORMAT
    claims = EatClaims.decode(
        cose.Sign1.decode(msg.attestation_payload).verify(
            dev.agent.keys.dsk_public, algorithms={cose.Alg.ESP256}
        )
    )
    assert claims.nonce_matches(challenge)
    assert claims.ueid == dev.agent.keys.ueid
    assert claims.cnf == dev.agent.keys.dak_public
    assert claims.hwmodel == dev.agent.identity.class_id and claims.oemid == VENDOR
    assert claims.manifests == ()
    assert claims.profile == "tag:edbp.dev,2026:eat-profile:1"
    assert dev.agent.state is AgentState.QUERIED


def reply_challenge(request: bytes) -> bytes:
    msg = teep.decode(cose.Sign1.decode(request).payload or b"")
    assert isinstance(msg, teep.QueryRequest) and msg.challenge
    return msg.challenge


def test_install_v1_then_v2(w: World) -> None:
    dev = w.device()
    v1, v2 = w.publish(V1, 1), w.publish(V2, 2)
    request, token = w.tam.query()
    w.tam.heard(dev.broker.deliver(request)[0])
    update = w.tam.update(v1, dev.agent.keys.dak_public, token)
    (ok,) = dev.broker.deliver(update)
    msg = reply(ok)
    assert isinstance(msg, teep.Success) and msg.suit_reports and msg.token == token
    report = verify_report(msg.suit_reports[0], dev.agent.keys.dsk_public)
    assert report.succeeded and report.nonce == reply_challenge(request)
    device_manifest = teep.decode(cose.Sign1.decode(update).payload).manifest_list[0]
    assert report.reference.digest == Envelope.decode(device_manifest).authentication.digest
    assert dev.agent.installed_image(COMPONENT) == V1
    assert dev.agent.floor(COMPONENT) == 1
    (ok,) = dev.install(w.tam, v2)
    assert isinstance(reply(ok), teep.Success)
    assert dev.agent.installed_image(COMPONENT) == V2
    assert dev.agent.installed_image(COMPONENT, previous=True) == V1  # still runnable
    assert dev.agent.floor(COMPONENT) == 2
    assert dev.agent.state is AgentState.IDLE and not dev.agent.holds_cek
    assert len(dev.agent.erased_ceks) == 2 and all(not any(b) for b in dev.agent.erased_ceks)
    # the evidence now lists the installed author manifest
    request, _ = w.tam.query()
    (response,) = dev.broker.deliver(request)
    msg = reply(response)
    assert isinstance(msg, teep.QueryResponse)
    claims = EatClaims.decode(cose.Sign1.decode(msg.attestation_payload).payload)
    (entry,) = [loads(m.body) for m in claims.manifests]
    assert entry[0] == list(COMPONENT) and entry[1] == 2 and entry[3] == 0


def test_author_envelope_as_separate_manifest(w: World) -> None:
    dev = w.device()
    (ok,) = dev.install(w.tam, w.publish(V1, 1), integrated=False)
    assert isinstance(reply(ok), teep.Success)


def test_state_survives_a_power_cycle(w: World) -> None:
    dev = w.device()
    dev.install(w.tam, w.publish(V1, 4))
    again = w.reopen(dev)
    assert again.keys.ueid == dev.agent.keys.ueid
    assert again.keys.dak_public == dev.agent.keys.dak_public
    assert again.floor(COMPONENT) == 4 and again.installed_image(COMPONENT) == V1


def test_replay_of_an_old_update_is_refused(w: World) -> None:
    dev = w.device()
    v1, v2 = w.publish(V1, 1), w.publish(V2, 2)
    token = dev.query(w.tam)
    old_update = w.tam.update(v1, dev.agent.keys.dak_public, token)
    dev.broker.deliver(old_update)
    dev.install(w.tam, v2)
    # the attacker replays the recorded v1 Update: in IDLE, and inside a fresh exchange
    assert_refused(dev, dev.broker.deliver(old_update), Code.AGENT_REPLAY)
    dev.query(w.tam)
    assert_refused(dev, dev.broker.deliver(old_update), Code.AGENT_REPLAY)
    assert dev.agent.installed_image(COMPONENT) == V2 and dev.agent.floor(COMPONENT) == 2


def test_rollback_and_equal_sequence_are_refused(w: World) -> None:
    dev = w.device()
    dev.install(w.tam, w.publish(V2, 5))
    for seq in (4, 5):
        assert_refused(dev, dev.install(w.tam, w.publish(V1, seq)), Code.AGENT_ROLLBACK)
    assert dev.agent.installed_image(COMPONENT) == V2 and dev.agent.floor(COMPONENT) == 5
    err, _ = error_code_of(dev.install(w.tam, w.publish(V1, 3))[0])
    assert err is TeepErr.ERR_MANIFEST_PROCESSING_FAILED


@pytest.mark.parametrize("case", ["a-delivery-to-b", "b-manifest-a-key", "b-manifest-no-kid"])
def test_delivery_for_another_device_is_refused(w: World, case: str) -> None:
    """P4: B refuses what was made for A, before any key agreement, whatever the token."""
    a, b = w.device(), w.device()
    pkg = w.publish(V1, 1)
    token_a = a.query(w.tam)
    token_b = b.query(w.tam)
    for_a = w.tam.update(pkg, a.agent.keys.dak_public, token_a)
    if case == "a-delivery-to-b":  # the attacker hands A's Update to B
        attack = for_a
    elif case == "b-manifest-a-key":  # names B, but the CEK goes to A's DAK
        info = w.tam.delivery_info(pkg, a.agent.keys.dak_public)
        attack = w.tam.update(
            pkg, a.agent.keys.dak_public, token_b, ueid=b.agent.keys.ueid, info=info
        )
    else:  # names B, recipient without a kid
        info = w.tam.delivery_info(pkg, b.agent.keys.dak_public, kid=b"")
        attack = w.tam.update(pkg, b.agent.keys.dak_public, token_b, info=info)
    assert_refused(b, b.broker.deliver(attack), Code.AGENT_NOT_FOR_THIS_DEVICE)
    with pytest.raises(EdbpError) as exc:
        b.agent.installed_image(COMPONENT)
    assert exc.value.code == Code.AGENT_NO_SUCH_COMPONENT
    assert isinstance(reply(a.broker.deliver(for_a)[0]), teep.Success)


def test_wrong_class_and_wrong_vendor(w: World) -> None:
    dev = w.device()
    assert_refused(
        dev, dev.install(w.tam, w.publish(V1, 1, class_id=CLASS_B)), Code.SUIT_CONDITION_CLASS
    )
    assert_refused(
        dev,
        dev.install(w.tam, w.publish(V1, 1, vendor_id=b"\x01" * 16)),
        Code.SUIT_CONDITION_VENDOR,
    )


def test_untrusted_signers(w: World) -> None:
    dev = w.device()
    pkg = w.publish(V1, 1)
    rogue = cose.CoseKey.generate(cose.Curve.P256)
    request, _ = w.tam.query()
    # TEEP message whose kid names a key the Agent does not trust
    named = cose.sign1(
        reply_from(request).encode(), rogue, cose.Alg.ESP256, protected={4: rogue.thumbprint()}
    ).encode()
    assert_refused(dev, dev.broker.deliver(named), Code.AGENT_UNTRUSTED_SIGNER)
    # without a kid every TSK is tried: the signature does not verify
    assert_refused(
        dev, dev.broker.deliver(w.tam.signed(reply_from(request), rogue)), Code.TEEP_BAD_SIGNATURE
    )
    # a trusted TSK's kid over a forged signature
    forged = cose.sign1(
        reply_from(request).encode(), rogue, cose.Alg.ESP256, protected={4: w.tam.tsk.thumbprint()}
    ).encode()
    assert_refused(dev, dev.broker.deliver(forged), Code.TEEP_BAD_SIGNATURE)
    # author manifest signed by a key that is not an Author trust anchor
    bad_pkg = w.publish(V1, 1, key=rogue)
    assert_refused(dev, dev.install(w.tam, bad_pkg), Code.SUIT_AUTH_FAILED)
    # TAM manifest signed by another key, inside a TEEP message the TAM signed
    token = dev.query(w.tam)
    env = w.tam.tam_envelope(
        pkg,
        w.tam.delivery_info(pkg, dev.agent.keys.dak_public),
        key=rogue,
        ueid=dev.agent.keys.ueid,
    )
    upd = w.tam.signed(
        teep.Update(token=token, agent_nonce=w.tam.nonce(token), manifest_list=(env,))
    )
    assert_refused(dev, dev.broker.deliver(upd), Code.SUIT_AUTH_FAILED)
    assert dev.agent.record().components == {}


def reply_from(signed: bytes) -> teep.TeepMessage:
    return teep.decode(cose.Sign1.decode(signed).payload or b"")


def test_tampered_ciphertext_is_refused_before_decryption(w: World) -> None:
    pkg = w.publish(V1, 1)
    tampered = bytearray(pkg.ciphertext)
    tampered[100] ^= 1
    dev = w.device(fetcher=lambda uri: [bytes(tampered)])
    before = dev.storage.list()
    assert_refused(dev, dev.install(w.tam, pkg), Code.AGENT_PAYLOAD_MISMATCH)
    assert dev.storage.list() == before  # not a byte decrypted or written


def test_ciphertext_swapped_between_check_and_decrypt(w: World) -> None:
    """The REE changes the stored ciphertext after the Agent checked it: the second hash catches
    it and the decrypted file never becomes current."""
    pkg = w.publish(V1, 1)
    dev = w.device()
    token = dev.query(w.tam)
    outputs = dev.agent.receive(
        MessageReceived(w.tam.update(pkg, dev.agent.keys.dak_public, token))
    )
    (fetch,) = outputs
    assert isinstance(fetch, FetchPayload) and fetch.size == len(pkg.ciphertext)
    ree = MemoryStorage()
    ree.write("p", [pkg.ciphertext])

    class Swapping(BrokerPayload):
        reads = 0

        def read_chunks(self, chunk_size: int):  # type: ignore[no-untyped-def]
            Swapping.reads += 1
            if Swapping.reads == 2:
                data = bytearray(pkg.ciphertext)
                data[-1] ^= 1
                self.storage.write(self.name, [bytes(data)])
            return super().read_chunks(chunk_size)

    (out,) = dev.agent.receive(PayloadFetched(Swapping(ree, "p")))
    assert isinstance(out, SendMessage)
    assert_refused(dev, [out.data], Code.AGENT_PAYLOAD_MISMATCH)
    assert dev.agent.record().components == {}
    assert [n for n in dev.storage.list() if n.startswith("c/")] == []


def test_wrong_cek_is_a_decryption_failure(w: World) -> None:
    dev = w.device()
    pkg = w.publish(V1, 1)
    token = dev.query(w.tam)
    info = w.tam.delivery_info(pkg, dev.agent.keys.dak_public, cek=b"\x00" * 16)
    upd = w.tam.update(pkg, dev.agent.keys.dak_public, token, info=info)
    assert_refused(dev, dev.broker.deliver(upd), Code.AGENT_DECRYPT_FAILED)
    assert dev.agent.record().components == {}


def test_ctr_payload_is_checked_against_the_signed_digests(w: World) -> None:
    dev = w.device()
    pkg = w.publish(V1, 1, alg=cose.Alg.A128CTR)
    (ok,) = dev.install(w.tam, pkg)
    assert isinstance(reply(ok), teep.Success)
    assert dev.agent.installed_image(COMPONENT) == V1


def test_fetch_failure(w: World) -> None:
    def broken(uri: str):  # type: ignore[no-untyped-def]
        raise OSError("registry unreachable")

    dev = w.device(fetcher=broken)
    replies = dev.install(w.tam, w.publish(V1, 1))
    assert_refused(dev, replies, Code.AGENT_PAYLOAD_FETCH_FAILED)
    assert error_code_of(replies[0])[0] is TeepErr.ERR_TEMPORARY_ERROR


def test_payload_larger_than_signed_is_not_stored(w: World) -> None:
    pkg = w.publish(V1, 1)
    dev = w.device(fetcher=lambda uri: [pkg.ciphertext, b"x" * 10])
    assert_refused(dev, dev.install(w.tam, pkg), Code.AGENT_PAYLOAD_FETCH_FAILED)
    assert dev.ree.list() == []


def test_inputs_outside_the_table(w: World) -> None:
    dev = w.device()
    # an Agent never receives Success; a payload nobody asked for; a fetch failure in IDLE
    success = w.tam.signed(teep.Success(token=b"t" * 8))
    assert_refused(dev, dev.broker.deliver(success), Code.AGENT_UNEXPECTED_MESSAGE)
    (out,) = dev.agent.receive(PayloadFetched(BrokerPayload(MemoryStorage(), "x")))
    assert_refused(dev, [out.data], Code.AGENT_UNEXPECTED_MESSAGE)
    (out,) = dev.agent.receive(FetchFailed())
    assert_refused(dev, [out.data], Code.AGENT_UNEXPECTED_MESSAGE)
    # a QueryRequest while a payload is awaited: refused, and the open exchange is dropped
    pkg = w.publish(V1, 1)
    token = dev.query(w.tam)
    dev.agent.receive(MessageReceived(w.tam.update(pkg, dev.agent.keys.dak_public, token)))
    assert dev.agent.state is AgentState.FETCHING and dev.agent.holds_cek
    request, _ = w.tam.query()
    assert_refused(dev, dev.broker.deliver(request), Code.AGENT_UNEXPECTED_MESSAGE)
    assert dev.agent.record().components == {}


def test_transition_table_shape() -> None:
    states = {s for s, _ in TRANSITIONS} | {t.next_state for t in TRANSITIONS.values()}
    assert states <= set(AgentState)
    assert {t.next_state for t in TRANSITIONS.values()} <= {
        AgentState.QUERIED,
        AgentState.FETCHING,
        AgentState.IDLE,
    }
    assert (AgentState.IDLE, AgentInput.PAYLOAD) not in TRANSITIONS
    assert all(i is not AgentInput.MALFORMED for _, i in TRANSITIONS)


def test_challenge_out_of_range(w: World) -> None:
    dev = w.device()
    for token, challenge in ((b"t" * 8, b"c" * 32), (b"t" * 16, b"c" * 100), (None, b"c" * 32)):
        bad = w.tam.signed(teep.QueryRequest(token=token, challenge=challenge))
        assert_refused(dev, dev.broker.deliver(bad), Code.TEEP_MALFORMED)


@settings(max_examples=40)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_one_error_and_idle(data: bytes) -> None:
    from device_builders import world as make_world
    from device_fixtures import World as W

    author, tam = make_world("fuzz")
    dev = W(author, tam).device()
    (out,) = dev.agent.receive(MessageReceived(data))
    assert out.kind is teep.TeepType.ERROR and out.code is not None
    assert dev.agent.state is AgentState.IDLE


@settings(max_examples=25)
@given(st.integers(0, 400), st.integers(0, 7))
def test_flipped_update_bits_never_install(pos: int, bit: int) -> None:
    from device_builders import world as make_world
    from device_fixtures import World as W

    w = W(*make_world("flip"))
    dev = w.device()
    pkg = w.publish(V1, 1)
    token = dev.query(w.tam)
    upd = bytearray(w.tam.update(pkg, dev.agent.keys.dak_public, token))
    upd[pos % len(upd)] ^= 1 << bit
    (out,) = dev.broker.deliver(bytes(upd))
    assert out is not None
    assert dev.agent.record().components == {}
    assert dev.agent.state is AgentState.IDLE


def test_uninstall_keeps_the_floor(w: World) -> None:
    dev = w.device()
    dev.install(w.tam, w.publish(V2, 3))
    token = dev.query(w.tam)
    uninstall = w.tam.signed(
        teep.Update(
            token=token,
            agent_nonce=w.tam.nonce(token),
            unneeded_manifest_list=(COMPONENT,),
            unneeded_device=dev.agent.keys.ueid,
            unneeded_sequence_numbers=(3,),
        )
    )
    (ok,) = dev.broker.deliver(uninstall)
    assert isinstance(reply(ok), teep.Success)
    assert dev.agent.record().components == {}
    assert dev.agent.floor(COMPONENT) == 3  # an uninstall never lowers the floor
    # replayed uninstall, and an older version after the uninstall, are both refused
    assert_refused(dev, dev.broker.deliver(uninstall), Code.AGENT_REPLAY)
    assert_refused(dev, dev.install(w.tam, w.publish(V1, 2)), Code.AGENT_ROLLBACK)
    assert isinstance(reply(dev.install(w.tam, w.publish(V1, 4))[0]), teep.Success)
    token = dev.query(w.tam)
    other = w.tam.signed(
        teep.Update(
            token=token,
            agent_nonce=w.tam.nonce(token),
            unneeded_manifest_list=((b"nope",),),
            unneeded_device=dev.agent.keys.ueid,
            unneeded_sequence_numbers=(4,),
        )
    )
    assert_refused(dev, dev.broker.deliver(other), Code.AGENT_NO_SUCH_COMPONENT)


def test_every_pair_outside_the_table_is_refused(w: World) -> None:
    """Drive the Agent into each state it can rest in and feed every input kind; pairs not in
    TRANSITIONS give one Error, IDLE, no CEK, nothing installed."""
    pkg = w.publish(V1, 1)

    def at(state: AgentState) -> tuple[Device, bytes | None]:
        dev = w.device()
        if state is AgentState.IDLE:
            return dev, None
        token = dev.query(w.tam)
        if state is AgentState.FETCHING:
            dev.agent.receive(MessageReceived(w.tam.update(pkg, dev.agent.keys.dak_public, token)))
        assert dev.agent.state is state
        return dev, token

    def event(kind: AgentInput, dev: Device, token: bytes | None):  # type: ignore[no-untyped-def]
        if kind is AgentInput.QUERY_REQUEST:
            return MessageReceived(w.tam.query()[0])
        if kind is AgentInput.UPDATE:
            return MessageReceived(w.tam.update(pkg, dev.agent.keys.dak_public, token or b"t" * 16))
        if kind is AgentInput.UNINSTALL:
            upd = teep.Update(
                token=token or b"t" * 16,
                agent_nonce=w.tam.nonce(token),
                unneeded_manifest_list=(COMPONENT,),
                unneeded_device=dev.agent.keys.ueid,
                unneeded_sequence_numbers=(1,),
            )
            return MessageReceived(w.tam.signed(upd))
        if kind is AgentInput.OTHER_MESSAGE:
            return MessageReceived(w.tam.signed(teep.Success(token=b"t" * 16)))
        if kind is AgentInput.MALFORMED:
            return MessageReceived(b"\xa0")
        if kind is AgentInput.PAYLOAD:
            ree = MemoryStorage()
            ree.write("p", [pkg.ciphertext])
            return PayloadFetched(BrokerPayload(ree, "p"))
        return FetchFailed()

    checked = 0
    for state in (AgentState.IDLE, AgentState.QUERIED, AgentState.FETCHING):
        for kind in AgentInput:
            if (state, kind) in TRANSITIONS:
                continue
            dev, token = at(state)
            outputs = dev.agent.receive(event(kind, dev, token))
            assert len(outputs) == 1 and isinstance(outputs[0], SendMessage)
            assert outputs[0].kind is teep.TeepType.ERROR, (state, kind)
            assert dev.agent.state is AgentState.IDLE and not dev.agent.holds_cek
            assert dev.agent.record().components == {}
            checked += 1
    assert checked >= 12


@pytest.mark.parametrize(
    ("request_kw", "code", "option"),
    [
        (
            {"supported_cipher_suites": (((18, -7),),)},
            Code.TEEP_UNSUPPORTED_CIPHER_SUITE,
            "cipher_suites",
        ),
        ({"freshness_mechanisms": (1,)}, Code.TEEP_UNSUPPORTED_FRESHNESS, "freshness_mechanisms"),
        ({"versions": (1,)}, Code.TEEP_UNSUPPORTED_VERSION, "versions"),
    ],
)
def test_negotiation_refusals_say_what_is_supported(
    w: World, request_kw: dict, code: Code, option: str
) -> None:
    dev = w.device()
    bad = w.tam.signed(teep.QueryRequest(token=b"t" * 16, challenge=b"c" * 32, **request_kw))
    replies = dev.broker.deliver(bad)
    assert_refused(dev, replies, code)
    msg = reply(replies[0])
    assert getattr(msg, option)


def test_untagged_envelope_in_update_is_accepted(w: World) -> None:
    """TEEP's CDDL carries manifest-list entries untagged (spec/protocol.md section 14.11)."""
    dev = w.device()
    pkg = w.publish(V1, 1)
    token = dev.query(w.tam)
    tagged = w.tam.tam_envelope(
        pkg, w.tam.delivery_info(pkg, dev.agent.keys.dak_public), ueid=dev.agent.keys.ueid
    )
    assert tagged[:2] == b"\xd8\x6b"
    upd = w.tam.signed(
        teep.Update(token=token, agent_nonce=w.tam.nonce(token), manifest_list=(tagged[2:],))
    )
    assert isinstance(reply(dev.broker.deliver(upd)[0]), teep.Success)


def test_limits(w: World) -> None:
    dev = w.device()
    pkg = w.publish(V1, 1)
    token = dev.query(w.tam)
    env = w.tam.tam_envelope(
        pkg, w.tam.delivery_info(pkg, dev.agent.keys.dak_public), ueid=dev.agent.keys.ueid
    )
    five = w.tam.signed(
        teep.Update(token=token, agent_nonce=w.tam.nonce(token), manifest_list=(env,) * 5)
    )
    assert_refused(dev, dev.broker.deliver(five), Code.AGENT_RESOURCE_LIMIT)
    huge = w.tam.signed(teep.Update(token=b"t" * 16, manifest_list=(b"\x00" * 70_000,)))
    assert_refused(dev, dev.broker.deliver(huge), Code.CBOR_TOO_LARGE)
    big = w.publish(b"x" * 2000, 2)
    small = w.device(budget=MemoryBudget(chunk=1024, max_payload=1000))
    assert_refused(small, small.install(w.tam, big), Code.AGENT_RESOURCE_LIMIT)


def test_layers_must_agree(w: World) -> None:
    dev = w.device()
    pkg = w.publish(V1, 3)
    info = w.tam.delivery_info(pkg, dev.agent.keys.dak_public)
    token = dev.query(w.tam)
    env = w.tam.tam_envelope(pkg, info, ueid=dev.agent.keys.ueid, sequence=4)
    upd = w.tam.signed(
        teep.Update(token=token, agent_nonce=w.tam.nonce(token), manifest_list=(env,))
    )
    assert_refused(dev, dev.broker.deliver(upd), Code.SUIT_DEPENDENCY_FAILED)
    other = attrs.evolve(pkg, plaintext=V2)  # the device manifest names another image
    token = dev.query(w.tam)
    env = w.tam.tam_envelope(other, info, ueid=dev.agent.keys.ueid)
    upd = w.tam.signed(
        teep.Update(token=token, agent_nonce=w.tam.nonce(token), manifest_list=(env,))
    )
    assert_refused(dev, dev.broker.deliver(upd), Code.SUIT_DEPENDENCY_FAILED)


def test_content_algorithm_outside_the_offered_profiles(w: World) -> None:
    dev = w.device()
    assert_refused(
        dev,
        dev.install(w.tam, w.publish(V1, 1, alg=cose.Alg.A256GCM)),
        Code.SUIT_UNSUPPORTED_PROFILE,
    )


def test_replayed_old_uninstall_never_removes_a_later_install(w: World) -> None:
    """Issue 19: the TAM's QueryRequest and uninstall Update for sequence 2 are captured and
    replayed after sequence 3 was deployed. The replayed QueryRequest reopens the exchange with
    the old token, so the token matches; but the Agent drew a fresh nonce for it and the old
    Update echoes the first exchange's (TEEP_AGENT_NONCE_MISMATCH, P-9.7c). Defence in depth
    (P-9.10c): the same removal echoing the new exchange's nonce names sequence 2, not the
    installed 3: SUIT_UNINSTALL_STALE. Nothing is removed either way."""
    dev = w.device()
    dev.install(w.tam, w.publish(V1, 2))
    request, token = w.tam.query()
    first = w.tam.heard(dev.broker.deliver(request)[0])

    def uninstall(nonce: bytes) -> bytes:
        return w.tam.signed(
            teep.Update(
                token=token,
                agent_nonce=nonce,
                unneeded_manifest_list=(COMPONENT,),
                unneeded_device=dev.agent.keys.ueid,
                unneeded_sequence_numbers=(2,),
            )
        )

    old = uninstall(first)
    assert isinstance(reply(dev.broker.deliver(old)[0]), teep.Success)
    assert isinstance(reply(dev.install(w.tam, w.publish(V2, 3))[0]), teep.Success)
    reopened = dev.broker.deliver(request)  # the replayed QueryRequest: a fresh nonce
    assert isinstance(reply(reopened[0]), teep.QueryResponse)
    again = w.tam.heard(reopened[0])
    assert again != first
    assert_refused(dev, dev.broker.deliver(old), Code.TEEP_AGENT_NONCE_MISMATCH)
    assert dev.agent.installed_image(COMPONENT) == V2 and dev.agent.floor(COMPONENT) == 3
    again = w.tam.heard(dev.broker.deliver(request)[0])
    assert_refused(dev, dev.broker.deliver(uninstall(again)), Code.SUIT_UNINSTALL_STALE)
    assert dev.agent.installed_image(COMPONENT) == V2 and dev.agent.floor(COMPONENT) == 3


@pytest.mark.parametrize("named", [None, (), (3, 3), (4,), (2,)])
def test_uninstall_must_name_the_installed_sequence(
    w: World, named: tuple[int, ...] | None
) -> None:
    """One sequence number per listed component (else 400), equal to the installed one (else
    340); either way nothing is removed and the exchange is closed."""
    dev = w.device()
    dev.install(w.tam, w.publish(V2, 3))
    token = dev.query(w.tam)
    update = teep.Update(
        token=token,
        agent_nonce=w.tam.nonce(token),
        unneeded_manifest_list=(COMPONENT,),
        unneeded_device=dev.agent.keys.ueid,
        unneeded_sequence_numbers=named,
    )
    code = Code.TEEP_MALFORMED if named is None or len(named) != 1 else Code.SUIT_UNINSTALL_STALE
    if named == ():  # an empty list is refused when decoded: [+ uint]
        with pytest.raises(EdbpError):
            teep.Update.decode(update.encode())
    assert_refused(dev, dev.broker.deliver(w.tam.signed(update)), code)
    assert dev.agent.installed_image(COMPONENT) == V2


def test_uninstall_for_another_device_removes_nothing(w: World) -> None:
    """Issue 19 (found by the model, P4): device A's QueryRequest replayed to device B, then
    the uninstall the TAM made for A handed to B. It echoes A's nonce, not B's: 409 (P-9.7c).
    Defence in depth (P-9.10d): with B's nonce, same component, same sequence number, only the
    UEID the uninstall names tells them apart (602); naming none is 400."""
    a, b = w.device(), w.device()
    a.install(w.tam, w.publish(V1, 2))
    b.install(w.tam, w.publish(V1, 2))
    request, token = w.tam.query()
    nonce_a = w.tam.heard(a.broker.deliver(request)[0])
    replayed = b.broker.deliver(request)
    assert isinstance(reply(replayed[0]), teep.QueryResponse)
    nonce_b = w.tam.heard(replayed[0])

    def uninstall(nonce: bytes, ueid: bytes | None) -> bytes:
        return w.tam.signed(
            teep.Update(
                token=token,
                agent_nonce=nonce,
                unneeded_manifest_list=(COMPONENT,),
                unneeded_sequence_numbers=(2,),
                unneeded_device=ueid,
            )
        )

    for_a = uninstall(nonce_a, a.agent.keys.ueid)
    assert_refused(b, b.broker.deliver(for_a), Code.TEEP_AGENT_NONCE_MISMATCH)
    assert b.agent.installed_image(COMPONENT) == V1
    nonce_b = w.tam.heard(b.broker.deliver(request)[0])
    assert_refused(
        b, b.broker.deliver(uninstall(nonce_b, a.agent.keys.ueid)), Code.AGENT_NOT_FOR_THIS_DEVICE
    )
    assert b.agent.installed_image(COMPONENT) == V1
    nonce_b = w.tam.heard(b.broker.deliver(request)[0])
    assert_refused(b, b.broker.deliver(uninstall(nonce_b, None)), Code.TEEP_MALFORMED)
    assert b.agent.installed_image(COMPONENT) == V1
    assert isinstance(reply(a.broker.deliver(for_a)[0]), teep.Success)
    assert a.agent.record().components == {}


def test_uninstall_checks_every_component_before_removing_any(w: World) -> None:
    """Two listed components, the second named at a stale sequence: neither is removed."""
    dev = w.device()
    dev.install(w.tam, w.publish(V1, 2, component=OTHER))
    dev.install(w.tam, w.publish(V2, 3))
    token = dev.query(w.tam)
    update = teep.Update(
        token=token,
        agent_nonce=w.tam.nonce(token),
        unneeded_manifest_list=(OTHER, COMPONENT),
        unneeded_device=dev.agent.keys.ueid,
        unneeded_sequence_numbers=(2, 2),
    )
    assert_refused(dev, dev.broker.deliver(w.tam.signed(update)), Code.SUIT_UNINSTALL_STALE)
    assert len(dev.agent.record().components) == 2


# ------------------------------------------------ suit-uninstall (member 24), issue 15


def _unlink(*before: Command) -> CommandSequence:
    return CommandSequence(
        [
            *before,
            Command(int(SuitCommand.DIRECTIVE_SET_COMPONENT_INDEX), 0),
            Command(int(SuitCommand.DIRECTIVE_UNLINK), 15),
        ]
    )


def _uninstall(w: World, dev: Device, *components: tuple[bytes, ...]) -> list[bytes]:
    """An uninstall of ``components`` naming, for each, the sequence number installed now."""
    token = dev.query(w.tam)
    listed = components or (COMPONENT,)
    record = dev.agent.record()
    named = tuple(
        comp.current.sequence if (comp := record.components.get(component_key(c))) else 0
        for c in listed
    )
    update = teep.Update(
        token=token,
        agent_nonce=w.tam.nonce(token),
        unneeded_manifest_list=listed,
        unneeded_device=dev.agent.keys.ueid,
        unneeded_sequence_numbers=named,
    )
    return dev.broker.deliver(w.tam.signed(update))


OTHER = (COMPONENT[0], COMPONENT[1], bytes.fromhex("11111111222233334444555555555555"))


def test_uninstall_runs_the_manifests_uninstall_sequence(w: World) -> None:
    """The installed manifest's suit-uninstall runs: its unlink is what the report records
    (section 24, the offset of the unlink among the steps), the component goes, floor kept."""
    dev = w.device()
    dev.install(w.tam, w.publish(V2, 3, uninstall=_unlink()))
    (ok,) = _uninstall(w, dev)
    success = reply(ok)
    assert isinstance(success, teep.Success) and success.suit_reports
    report = verify_report(success.suit_reports[0], dev.agent.keys.dsk_public)
    assert [(r.section, r.component_index) for r in report.records] == [(24, 0)]
    assert report.records[0].offset > 0  # after the shared sequence's steps
    assert dev.agent.record().components == {}
    assert dev.agent.floor(COMPONENT) == 3


def test_uninstall_sequence_conditions_refuse_and_keep_the_component(w: World) -> None:
    """A condition of the uninstall sequence that fails on this device refuses the uninstall
    with its SUIT code; nothing is removed."""
    wrong_class = Command(
        int(SuitCommand.DIRECTIVE_OVERRIDE_PARAMETERS), Parameters.of(class_id=CLASS_B)
    )
    check = Command(int(SuitCommand.CONDITION_CLASS_IDENTIFIER), 15)
    seq = CommandSequence(
        [
            Command(int(SuitCommand.DIRECTIVE_SET_COMPONENT_INDEX), 0),
            wrong_class,
            check,
            Command(int(SuitCommand.DIRECTIVE_UNLINK), 15),
        ]
    )
    dev = w.device()
    dev.install(w.tam, w.publish(V2, 3, uninstall=seq))
    assert_refused(dev, _uninstall(w, dev), Code.SUIT_CONDITION_CLASS)
    assert set(dev.agent.record().components) != set()


def test_uninstall_sequence_never_unlinks_another_manifests_component(w: World) -> None:
    """Seeded flaw: a manifest that lists another installed TA's component and unlinks it.
    Refused with SUIT_UNINSTALL_FOREIGN; both components stay."""
    dev = w.device()
    dev.install(w.tam, w.publish(V1, 2, component=OTHER))
    hostile = CommandSequence(
        [
            Command(int(SuitCommand.DIRECTIVE_SET_COMPONENT_INDEX), 2),
            Command(int(SuitCommand.DIRECTIVE_UNLINK), 15),
        ]
    )
    dev.install(w.tam, w.publish(V2, 3, uninstall=hostile, extra_components=(OTHER,)))
    assert len(dev.agent.record().components) == 2
    assert_refused(dev, _uninstall(w, dev), Code.SUIT_UNINSTALL_FOREIGN)
    assert len(dev.agent.record().components) == 2


def test_uninstall_without_the_member_removes_only_the_listed_component(w: World) -> None:
    dev = w.device()
    dev.install(w.tam, w.publish(V1, 2, component=OTHER))
    dev.install(w.tam, w.publish(V2, 3))
    (ok,) = _uninstall(w, dev)
    assert isinstance(reply(ok), teep.Success)
    assert dev.agent.floor(COMPONENT) == 3 and dev.agent.record().components != {}


def test_update_after_the_exchange_lifetime_is_refused(w: World) -> None:
    """P6(a), protocol.md 8.3.1: an Update the attacker held back for longer than L_a (on the
    TEE's monotonic clock) is refused with TEEP_EXCHANGE_EXPIRED and the exchange closes; the
    same Update within L_a installs. The clock is injected: no test sleeps."""
    now = [50.0]
    dev = w.device(clock=lambda: now[0])
    v1 = w.publish(V1, 1)
    token = dev.query(w.tam)
    held = w.tam.update(v1, dev.agent.keys.dak_public, token)
    now[0] += teep.EXCHANGE_LIFETIME + 0.001
    assert_refused(dev, dev.broker.deliver(held), Code.TEEP_EXCHANGE_EXPIRED)
    assert dev.agent.state is AgentState.IDLE and dev.agent.floor(COMPONENT) is None
    # the exchange closed: the same Update is now a replay
    assert_refused(dev, dev.broker.deliver(held), Code.AGENT_REPLAY)
    token = dev.query(w.tam)
    now[0] += teep.EXCHANGE_LIFETIME  # exactly L_a is still within the lifetime
    replies = dev.broker.deliver(w.tam.update(v1, dev.agent.keys.dak_public, token))
    assert isinstance(reply(replies[-1]), teep.Success)
    assert dev.agent.installed_image(COMPONENT) == V1


def test_expired_code_travels_as_a_temporary_teep_error() -> None:
    from edbp.errors import teep_err_code

    assert teep_err_code(Code.TEEP_EXCHANGE_EXPIRED) is TeepErr.ERR_TEMPORARY_ERROR
    assert teep.UPDATE_HOLD >= teep.EXCHANGE_LIFETIME * (1 + teep.CLOCK_DRIFT)


# ------------------------------------------------ the Agent nonce (issue 19, P-9.7c)


def test_every_accepted_query_request_draws_a_fresh_agent_nonce(w: World) -> None:
    """protocol.md 8.3.1: each accepted QueryRequest, a replayed one included, gets a nonce of
    its own (16 bytes from the TEE's RNG) in the DSK-signed QueryResponse."""
    dev = w.device()
    request, token = w.tam.query()
    seen = []
    for _ in range(3):  # the same signed QueryRequest, delivered three times
        (response,) = dev.broker.deliver(request)
        msg = teep.verify(response, dev.agent.keys.dsk_public)
        assert isinstance(msg, teep.QueryResponse) and msg.token == token
        assert msg.agent_nonce is not None and len(msg.agent_nonce) == teep.AGENT_NONCE_BYTES
        seen.append(msg.agent_nonce)
    assert len(set(seen)) == 3


def test_update_echoing_another_exchanges_nonce_is_refused(w: World) -> None:
    """The Update withheld from an earlier exchange of the same token carries that exchange's
    nonce: TEEP_AGENT_NONCE_MISMATCH (a permanent TEEP error), the exchange closes (a retry
    of the right Update is then a replay), nothing installed; an Update echoing the open
    exchange's nonce installs."""
    dev = w.device()
    v1 = w.publish(V1, 1)
    request, token = w.tam.query()
    first = w.tam.heard(dev.broker.deliver(request)[0])
    held = w.tam.update(v1, dev.agent.keys.dak_public, token, nonce=first)
    second = w.tam.heard(dev.broker.deliver(request)[0])  # the replayed QueryRequest
    replies = dev.broker.deliver(held)
    assert_refused(dev, replies, Code.TEEP_AGENT_NONCE_MISMATCH)
    error = reply(replies[0])
    assert isinstance(error, teep.Error) and error.token == token
    assert error.err_code == int(TeepErr.ERR_PERMANENT_ERROR)
    assert dev.agent.record().components == {}
    fresh = w.tam.update(v1, dev.agent.keys.dak_public, token, nonce=second)
    assert_refused(dev, dev.broker.deliver(fresh), Code.AGENT_REPLAY)  # the exchange closed
    dev.broker.deliver(request)
    (ok,) = dev.install(w.tam, v1)
    assert isinstance(reply(ok), teep.Success) and dev.agent.installed_image(COMPONENT) == V1


@pytest.mark.parametrize("kind", ["install", "uninstall"])
def test_update_without_the_agent_nonce_is_malformed(w: World, kind: str) -> None:
    """The edbp profile requires edbp-agent-nonce in every Update: absent is TEEP_MALFORMED;
    a value of another size does not decode (400 as well); nothing changes."""
    dev = w.device()
    dev.install(w.tam, w.publish(V1, 1))
    pkg = w.publish(V2, 2)
    for nonce in (None, b"n" * 15):
        token = dev.query(w.tam)
        if kind == "install":
            env = w.tam.tam_envelope(
                pkg, w.tam.delivery_info(pkg, dev.agent.keys.dak_public), ueid=dev.agent.keys.ueid
            )
            msg = teep.Update(token=token, manifest_list=(env,), agent_nonce=nonce)
        else:
            msg = teep.Update(
                token=token,
                agent_nonce=nonce,
                unneeded_manifest_list=(COMPONENT,),
                unneeded_device=dev.agent.keys.ueid,
                unneeded_sequence_numbers=(1,),
            )
        assert_refused(dev, dev.broker.deliver(w.tam.signed(msg)), Code.TEEP_MALFORMED)
        assert dev.agent.installed_image(COMPONENT) == V1 and dev.agent.floor(COMPONENT) == 1


def test_uninstall_echoing_another_exchanges_nonce_is_refused(w: World) -> None:
    dev = w.device()
    dev.install(w.tam, w.publish(V1, 1))
    request, token = w.tam.query()
    first = w.tam.heard(dev.broker.deliver(request)[0])
    dev.broker.deliver(request)
    uninstall = teep.Update(
        token=token,
        agent_nonce=first,
        unneeded_manifest_list=(COMPONENT,),
        unneeded_device=dev.agent.keys.ueid,
        unneeded_sequence_numbers=(1,),
    )
    assert_refused(dev, dev.broker.deliver(w.tam.signed(uninstall)), Code.TEEP_AGENT_NONCE_MISMATCH)
    assert dev.agent.installed_image(COMPONENT) == V1


def test_agent_nonces_replay_from_the_seed_and_differ_between_devices(w: World) -> None:
    """The nonce comes from the Agent's RandomSource (a fork of its own), so vectors replay
    byte for byte, and two devices never share one."""
    from edbp.reference.rand import SeededRandom

    a, b = w.device(), w.device()
    request, _ = w.tam.query()
    nonce_a = w.tam.heard(a.broker.deliver(request)[0])
    assert nonce_a == SeededRandom(a.name).fork("agent-nonce").random_bytes(16)
    assert nonce_a != w.tam.heard(b.broker.deliver(request)[0])
