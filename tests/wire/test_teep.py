"""TEEP messages: numbers checked against the draft's CDDL, round trips, signing with both cipher
suites, option handling (unknown ignored, bad values refused) and fuzz."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, cose, teep
from edbp.reference.wire.suit_commands import Parameters
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_report import SystemProperties
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import Code, EdbpError, TeepErr, VerificationError


def _sibling(name: str) -> Any:
    """A sibling test module of tests/wire, imported by path (any pytest import mode)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(name + ".py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


mutate = _sibling("test_suit_fuzz").mutate  # the shared structure mutator
two_layer = _sibling("test_suit_roundtrip").two_layer  # sample envelope builder


CDDL = (
    Path(__file__).resolve().parent.parent
    / "interop"
    / "teep-protocol"
    / "draft-ietf-teep-protocol.cddl"
)
RNG = SeededRandom("test-teep")
TAM_P256 = cose.CoseKey.generate(cose.Curve.P256, RNG.fork("p256"))
TAM_ED = cose.CoseKey.generate(cose.Curve.ED25519, RNG.fork("ed"))


def cddl_constants() -> dict[str, int]:
    out = {}
    for name, value in re.findall(
        r"^([A-Za-z][\w-]*)\s*=\s*(-?\d+)\s*(?:;.*)?$", CDDL.read_text(), re.M
    ):
        out[name] = int(value)
    return out


def test_numbers_match_the_draft_cddl() -> None:
    c = cddl_constants()
    assert c["TEEP-TYPE-query-request"] == teep.TeepType.QUERY_REQUEST
    assert c["TEEP-TYPE-query-response"] == teep.TeepType.QUERY_RESPONSE
    assert c["TEEP-TYPE-update"] == teep.TeepType.UPDATE
    assert c["TEEP-TYPE-success"] == teep.TeepType.SUCCESS
    assert c["TEEP-TYPE-error"] == teep.TeepType.ERROR
    for option in teep.TeepOption:
        assert c[option.name.lower().replace("_", "-")] == option, option
    for err in TeepErr:
        assert c[err.name] == err
    assert c["FRESHNESS_NONCE"] == teep.Freshness.NONCE
    assert c["cose-sign1"] == teep.COSE_SIGN1
    assert (c["cose-alg-esp256"], c["cose-alg-ed25519"]) == (-9, -19)


# ----------------------------------------------------------------------------- strategies

token = st.none() | st.binary(min_size=8, max_size=64)
challenge = st.none() | st.binary(min_size=8, max_size=40)
cid = st.lists(st.binary(max_size=6), max_size=3).map(tuple)
opt_list = lambda s: st.none() | st.lists(s, min_size=1, max_size=3).map(tuple)  # noqa: E731
text128 = st.none() | st.text(min_size=1, max_size=40)
unknown = st.dictionaries(
    st.integers(24, 200), st.integers(-(2**63), 2**63) | st.binary(max_size=4), max_size=2
)
suites = st.lists(st.sampled_from(teep.EDBP_CIPHER_SUITES), min_size=1, max_size=2).map(tuple)
profiles = st.lists(
    st.sampled_from([(-16, -9, -29, 1), (-16, -19, -29, 24), -2]), min_size=1, max_size=2
).map(tuple)
digest = st.binary(min_size=32, max_size=32).map(lambda d: SuitDigest(-16, d))
props = st.builds(SystemProperties, cid, st.builds(lambda d: Parameters.of(image_digest=d), digest))

query_request = st.builds(
    teep.QueryRequest,
    suites,
    profiles,
    st.integers(0, 15),
    token=token,
    challenge=challenge,
    versions=opt_list(st.integers(0, 2**32 - 1)),
    freshness_mechanisms=opt_list(st.sampled_from([0, 1])),
    attestation_payload_format=st.none() | st.just("application/eat+cwt"),
    attestation_payload=st.none() | st.binary(max_size=20),
    suit_reports=opt_list(st.binary(max_size=9)),
    unknown_options=unknown,
)
query_response = st.builds(
    teep.QueryResponse,
    token=token,
    selected_version=st.none() | st.integers(0, 3),
    attestation_payload_format=st.none() | st.just("application/eat+cwt"),
    attestation_payload=st.none() | st.binary(max_size=20),
    suit_reports=opt_list(st.binary(max_size=9)),
    tc_list=opt_list(props),
    requested_tc_list=opt_list(
        st.builds(teep.RequestedTc, cid, st.none() | st.integers(0, 9), st.none() | st.booleans())
    ),
    unneeded_manifest_list=opt_list(cid),
    ext_list=opt_list(st.integers(0, 9)),
    agent_nonce=st.none() | st.binary(min_size=16, max_size=16),
    unknown_options=unknown,
)
update = st.builds(
    teep.Update,
    token=token,
    manifest_list=opt_list(st.binary(max_size=30)),
    unneeded_manifest_list=opt_list(cid),
    agent_nonce=st.none() | st.binary(min_size=16, max_size=16),
    err_code=st.none() | st.integers(0, 23),
    err_msg=text128,
    err_lang=st.none() | st.just("en"),
    unknown_options=unknown,
)
success = st.builds(
    teep.Success,
    token=token,
    msg=text128,
    suit_reports=opt_list(st.binary(max_size=9)),
    unknown_options=unknown,
)
error = st.builds(
    teep.Error,
    st.sampled_from(list(TeepErr)).map(int),
    token=token,
    err_msg=text128,
    cipher_suites=st.none() | suites,
    suit_cose_profiles=st.none() | profiles,
    challenge=challenge,
    versions=opt_list(st.integers(0, 3)),
    suit_reports=opt_list(st.binary(max_size=9)),
    unknown_options=unknown,
)
message = st.one_of(query_request, query_response, update, success, error)


@given(message)
def test_round_trip(msg: teep.TeepMessage) -> None:
    data = msg.encode()
    assert cbor.is_deterministic(data)
    back = teep.decode(data)
    assert back == msg
    assert back.encode() == data
    assert type(msg).decode(data) == msg


@given(message, st.sampled_from([(TAM_P256, -9), (TAM_ED, -19)]))
def test_sign_verify_both_suites(msg: teep.TeepMessage, signer: tuple[cose.CoseKey, int]) -> None:
    key, alg = signer
    signed = teep.sign(msg, key, alg, kid=b"tam")
    assert teep.verify(signed, key.public()) == msg
    assert teep.peek(signed) == msg
    assert teep.cipher_suite_for(alg) in teep.EDBP_CIPHER_SUITES


def test_wrong_key_and_disallowed_alg() -> None:
    signed = teep.sign(teep.Success(token=b"t" * 8), TAM_P256)
    with pytest.raises(VerificationError) as info:
        teep.verify(signed, cose.CoseKey.generate(cose.Curve.P256, RNG.fork("other")).public())
    assert info.value.code == Code.TEEP_BAD_SIGNATURE
    with pytest.raises(EdbpError) as info2:
        teep.verify(signed, TAM_P256.public(), algorithms={-19})
    assert info2.value.code == Code.COSE_ALG_NOT_ALLOWED
    with pytest.raises(EdbpError) as info3:
        teep.sign(teep.Success(), TAM_P256, -7 - 100)
    assert info3.value.code == Code.TEEP_UNSUPPORTED_CIPHER_SUITE


def test_unknown_options_are_ignored_but_kept() -> None:
    data = cbor.dumps(
        [5, {20: b"12345678", 99: "future", 2: b"c" * 8}]
    )  # challenge is not a Success option
    msg = teep.decode(data)
    assert isinstance(msg, teep.Success)
    assert msg.token == b"12345678"
    assert dict(msg.unknown_options) == {99: "future", 2: b"c" * 8}
    assert msg.encode() == data


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([4, {}], Code.TEEP_UNKNOWN_TYPE),
        ([0, {}], Code.TEEP_UNKNOWN_TYPE),
        ([5], Code.TEEP_MALFORMED),
        ({1: 2}, Code.TEEP_MALFORMED),
        ([5, {20: b"short"}], Code.TEEP_MALFORMED),
        ([5, {20: b"x" * 65}], Code.TEEP_MALFORMED),
        ([5, {11: ""}], Code.TEEP_MALFORMED),
        ([6, {}], Code.TEEP_MALFORMED),
        ([6, {}, 24], Code.TEEP_MALFORMED),
        ([1, {2: b"c" * 7}, [[[18, -9]]], [[-16, -9, -29, 1]], 3], Code.TEEP_MALFORMED),
        ([1, {}, [], [[-16, -9, -29, 1]], 3], Code.TEEP_MALFORMED),
        ([1, {}, [[[18]]], [[-16, -9, -29, 1]], 3], Code.TEEP_MALFORMED),
        ([2, {8: [{1: b""}]}], Code.TEEP_MALFORMED),
        ([3, {10: []}], Code.TEEP_MALFORMED),
        ([5, {-1: 0}], Code.TEEP_MALFORMED),
        # edbp-agent-nonce (258): exactly 16 bytes, in a QueryResponse and an Update
        ([2, {258: b"n" * 15}], Code.TEEP_MALFORMED),
        ([2, {258: b"n" * 17}], Code.TEEP_MALFORMED),
        ([3, {258: b""}], Code.TEEP_MALFORMED),
        ([3, {258: "n" * 16}], Code.TEEP_MALFORMED),
        ([3, {258: [b"n" * 16]}], Code.TEEP_MALFORMED),
    ],
)
def test_refusals(items: object, code: Code) -> None:
    with pytest.raises(EdbpError) as info:
        teep.decode(cbor.dumps(items))
    assert info.value.code == code


def test_decode_as_the_wrong_class() -> None:
    with pytest.raises(EdbpError) as info:
        teep.QueryRequest.decode(teep.Success().encode())
    assert info.value.code == Code.TEEP_UNEXPECTED_MESSAGE


@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    for fn in (teep.decode, teep.peek):
        try:
            fn(data)
        except EdbpError:
            pass
    try:
        teep.verify(data, TAM_P256.public())
    except EdbpError:
        pass


@given(message, st.data())
def test_mutated_signed_messages(msg: teep.TeepMessage, data: st.DataObject) -> None:
    signed = bytearray(teep.sign(msg, TAM_P256))
    for _ in range(data.draw(st.integers(1, 3))):
        signed[data.draw(st.integers(0, len(signed) - 1))] = data.draw(st.integers(0, 255))
    try:
        teep.verify(bytes(signed), TAM_P256.public())
    except EdbpError:
        pass


@given(message, st.data())
def test_structural_mutations(msg: teep.TeepMessage, data: st.DataObject) -> None:

    mutated = cbor.dumps(mutate(msg.to_cbor(), data))
    try:
        teep.decode(mutated)
    except EdbpError:
        pass
    try:
        teep.verify(teep.sign(msg, TAM_ED, -19)[:-1] + mutated[-1:], TAM_ED.public())
    except EdbpError:
        pass


def test_negotiation_helpers() -> None:
    assert (
        teep.select_cipher_suite((((18, -7),), teep.CIPHER_SUITE_ED25519))
        == teep.CIPHER_SUITE_ED25519
    )
    with pytest.raises(EdbpError) as info:
        teep.select_cipher_suite((((18, -7),),))
    assert info.value.code == Code.TEEP_UNSUPPORTED_CIPHER_SUITE
    assert teep.select_version(None) == 0
    assert teep.select_version((3, 0)) == 0
    with pytest.raises(EdbpError) as info:
        teep.select_version((1, 2))
    assert info.value.code == Code.TEEP_UNSUPPORTED_VERSION
    teep.check_freshness(None)
    teep.check_freshness((1, 0))
    with pytest.raises(EdbpError) as info:
        teep.check_freshness((1,))
    assert info.value.code == Code.TEEP_UNSUPPORTED_FRESHNESS


def test_update_carries_envelopes_verbatim() -> None:

    envelope, _ = two_layer()
    update = teep.Update(token=b"t" * 8, manifest_list=(envelope.encode(),))
    back = teep.verify(teep.sign(update, TAM_P256), TAM_P256.public())
    assert isinstance(back, teep.Update)
    assert back.envelopes() == [envelope]
    assert back.envelopes()[0].encode() == envelope.encode()
    bad = teep.Update(manifest_list=(b"\xd8\x6b\xa0",))
    with pytest.raises(EdbpError):
        bad.envelopes()


def test_untagged_sign1_is_accepted() -> None:
    msg = teep.Success(token=b"t" * 8)
    untagged = cbor.dumps(cbor.loads(teep.sign(msg, TAM_ED, -19)).value)
    assert teep.verify(untagged, TAM_ED.public()) == msg


def test_encode_is_the_encoding_of_to_cbor_with_the_constant_offers() -> None:
    # encode() splices the default cipher suites and profiles pre-encoded: same bytes as the
    # data model, for the constants and for equal or different tuples built elsewhere
    from edbp.reference.wire import cbor

    for msg in (
        teep.QueryRequest(token=b"t" * 16, challenge=b"c" * 32, versions=(0,)),
        teep.QueryRequest(
            challenge=b"c" * 8,
            supported_cipher_suites=tuple(tuple(s) for s in teep.EDBP_CIPHER_SUITES),
            supported_suit_cose_profiles=((-16, -9, -29, 1),),
        ),
        teep.QueryRequest(challenge=b"c" * 8, supported_suit_cose_profiles=(True, 1)),
    ):
        assert msg.encode() == cbor.dumps(msg.to_cbor())


def test_agent_nonce_is_option_258_of_the_query_response_and_the_update() -> None:
    """spec/messages.cddl: edbp-agent-nonce = 258, a 16-byte bstr in TEEP's
    $$query-response-extensions and $$update-extensions sockets; other messages ignore it
    (kept as an unknown option, as TEEP requires)."""
    from edbp.reference.wire.names import TEEP_OPTION_NAMES

    nonce = bytes(range(16))
    assert teep.EDBP_AGENT_NONCE == 258 and TEEP_OPTION_NAMES[258] == "edbp-agent-nonce"
    for msg in (
        teep.QueryResponse(token=b"t" * 16, agent_nonce=nonce),
        teep.Update(token=b"t" * 16, manifest_list=(b"\xa0",), agent_nonce=nonce),
    ):
        items = cbor.loads(msg.encode())
        assert items[1][258] == nonce
        assert teep.decode(msg.encode()) == msg
    success = teep.decode(cbor.dumps([5, {20: b"t" * 16, 258: nonce}]))
    assert isinstance(success, teep.Success) and success.unknown_options == {258: nonce}
