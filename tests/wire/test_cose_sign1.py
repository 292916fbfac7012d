"""COSE_Sign1 and the header checks every COSE structure runs."""

from __future__ import annotations

import attrs
import pytest
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, cose
from edbp.reference.wire.cose import Alg, CoseKey, Curve
from edbp.reference.wire.cose_algs import RECEIVE_ONLY_ALGS

from edbp.errors import Code, VerificationError, WireError

P256 = CoseKey.generate(Curve.P256, SeededRandom("p256"), kid=b"p")
ED = CoseKey.generate(Curve.ED25519, SeededRandom("ed"), kid=b"e")
#: every signature algorithm a delivery profile may name (the receive-only ones excluded)
ANY_SIG = cose.SIGNATURE_ALGS - RECEIVE_ONLY_ALGS


def _code(exc: pytest.ExceptionInfo[Exception]) -> Code:
    return exc.value.code  # type: ignore[attr-defined,no-any-return]


def _sign1_bytes(
    protected_raw: bytes, unprotected: dict, payload: bytes | None, sig: bytes
) -> bytes:
    return cbor.dumps(cbor.Tag(18, [protected_raw, unprotected, payload, sig]))


@pytest.mark.parametrize(
    ("key", "alg"),
    [(P256, Alg.ESP256), (P256, Alg.ES256), (ED, Alg.ED25519), (ED, Alg.EDDSA)],
)
def test_round_trip_and_verify(key: CoseKey, alg: Alg) -> None:
    trace = cose.Trace()
    msg = cose.sign1(b"payload", key, alg, unprotected={4: key.kid}, trace=trace)
    data = msg.encode()
    assert cbor.is_deterministic(data)
    assert data[0] == 0xD2  # tag 18
    back = cose.Sign1.decode(data)
    assert back == msg
    assert back.verify(key.public(), algorithms={alg}) == b"payload"
    assert trace.to_be_signed == cose.sig_structure(msg.headers.protected_raw, b"", b"payload")
    assert back.headers.protected == {1: int(alg)}


def test_ecdsa_is_deterministic_and_raw() -> None:
    a = cose.sign1(b"x", P256, Alg.ESP256)
    b = cose.sign1(b"x", P256, Alg.ESP256)
    assert a.signature == b.signature and len(a.signature) == 64


def test_allow_list_is_explicit() -> None:
    msg = cose.Sign1.decode(cose.sign1(b"x", P256, Alg.ES256).encode())
    # -7 and -9 both mean P-256 ECDSA, but only what the caller lists is accepted
    with pytest.raises(WireError) as info:
        msg.verify(P256, algorithms={Alg.ESP256})
    assert _code(info) == Code.COSE_ALG_NOT_ALLOWED
    with pytest.raises(WireError) as info:
        msg.verify(ED, algorithms={Alg.ED25519})
    assert _code(info) == Code.COSE_ALG_NOT_ALLOWED
    # a content algorithm in a signature allow-list does not make it a signature algorithm
    with pytest.raises(WireError) as info:
        msg.verify(P256, algorithms={Alg.A128GCM})
    assert _code(info) == Code.COSE_ALG_NOT_ALLOWED


def test_key_must_fit_alg() -> None:
    msg = cose.Sign1.decode(cose.sign1(b"x", P256, Alg.ESP256).encode())
    with pytest.raises(WireError) as info:
        msg.verify(ED, algorithms=ANY_SIG)
    assert _code(info) == Code.COSE_ALG_KEY_MISMATCH
    restricted = attrs.evolve(P256, alg=int(Alg.ES256))  # same operation: accepted
    assert msg.verify(restricted, algorithms=ANY_SIG) == b"x"
    with pytest.raises(WireError) as info:
        msg.verify(attrs.evolve(P256, alg=int(Alg.A128GCM)), algorithms=ANY_SIG)
    assert _code(info) == Code.COSE_ALG_KEY_MISMATCH
    with pytest.raises(WireError) as info:
        cose.sign1(b"x", CoseKey.symmetric(b"k" * 16), Alg.ESP256)
    assert _code(info) == Code.COSE_ALG_KEY_MISMATCH


def test_bad_signatures() -> None:
    msg = cose.sign1(b"x", P256, Alg.ESP256)
    flipped = bytes([msg.signature[0] ^ 1]) + msg.signature[1:]
    for sig in (flipped, msg.signature[:-1], b"", b"\x00" * 64, b"\xff" * 64):
        bad = cose.Sign1.decode(attrs.evolve(msg, signature=sig).encode())
        with pytest.raises(VerificationError) as info:
            bad.verify(P256, algorithms=ANY_SIG)
        assert _code(info) == Code.COSE_BAD_SIGNATURE
    with pytest.raises(VerificationError):
        cose.Sign1.decode(msg.encode()).verify(P256, algorithms=ANY_SIG, external_aad=b"a")
    other = CoseKey.generate(Curve.P256, SeededRandom("other"))
    with pytest.raises(VerificationError):
        cose.Sign1.decode(msg.encode()).verify(other, algorithms=ANY_SIG)


def test_detached_payload() -> None:
    msg = cose.sign1(b"digest", ED, Alg.ED25519, detached=True, external_aad=b"ctx")
    assert msg.payload is None
    back = cose.Sign1.decode(msg.encode())
    assert back.verify(ED, algorithms=ANY_SIG, detached_payload=b"digest", external_aad=b"ctx")
    with pytest.raises(WireError) as info:
        back.verify(ED, algorithms=ANY_SIG)
    assert _code(info) == Code.COSE_DETACHED_PAYLOAD_MISSING
    with pytest.raises(VerificationError):
        back.verify(ED, algorithms=ANY_SIG, detached_payload=b"other", external_aad=b"ctx")
    attached = cose.Sign1.decode(cose.sign1(b"p", ED, Alg.ED25519).encode())
    with pytest.raises(WireError) as info:
        attached.verify(ED, algorithms=ANY_SIG, detached_payload=b"p")
    assert _code(info) == Code.COSE_MALFORMED


def test_tags() -> None:
    msg = cose.sign1(b"x", ED, Alg.ED25519)
    untagged = attrs.evolve(msg, tagged=False).encode()
    with pytest.raises(WireError) as info:
        cose.Sign1.decode(untagged)
    assert _code(info) == Code.COSE_WRONG_TAG
    assert cose.Sign1.decode(untagged, tagged=None).tagged is False
    assert cose.Sign1.decode(untagged, tagged=False).verify(ED, algorithms=ANY_SIG) == b"x"
    with pytest.raises(WireError) as info:
        cose.Sign1.decode(msg.encode(), tagged=False)
    assert _code(info) == Code.COSE_WRONG_TAG
    for tag in (16, 96, 98, 17):
        wrong = cbor.dumps(cbor.Tag(tag, msg.to_obj().value))
        with pytest.raises(WireError) as info:
            cose.Sign1.decode(wrong, tagged=None)
        assert _code(info) == Code.COSE_WRONG_TAG


@pytest.mark.parametrize(
    "body",
    [
        [],
        [b"", {}, b"x"],
        [b"", {}, b"x", b"s", b"extra"],
        ["", {}, b"x", b"s"],
        [b"", [], b"x", b"s"],
        [b"", {}, "text", b"s"],
        [b"", {}, b"x", None],
        [b"\x80", {}, b"x", b"s"],  # protected is an array, not a map
    ],
)
def test_malformed_shapes(body: list) -> None:
    with pytest.raises(WireError) as info:
        cose.Sign1.decode(cbor.dumps(cbor.Tag(18, body)))
    assert _code(info) == Code.COSE_MALFORMED


def test_same_label_in_both_buckets() -> None:
    data = _sign1_bytes(cbor.dumps({1: -9}), {1: -9}, b"x", b"s" * 64)
    with pytest.raises(WireError) as info:
        cose.Sign1.decode(data)
    assert _code(info) == Code.COSE_DUPLICATE_HEADER
    data = _sign1_bytes(cbor.dumps({4: b"a"}), {4: b"b", 1: -9}, b"x", b"s" * 64)
    with pytest.raises(WireError) as info:
        cose.Sign1.decode(data)
    assert _code(info) == Code.COSE_DUPLICATE_HEADER


def test_critical_headers() -> None:
    # a critical label nobody understands: refused at verification, before any crypto
    msg = cose.sign1(b"x", ED, Alg.ED25519, protected={2: [99], 99: b"v"})
    back = cose.Sign1.decode(msg.encode())
    with pytest.raises(WireError) as info:
        back.verify(ED, algorithms=ANY_SIG)
    assert _code(info) == Code.COSE_UNKNOWN_CRITICAL_HEADER
    assert back.verify(ED, algorithms=ANY_SIG, understood={99}) == b"x"
    # alg marked critical is understood by the COSE layer itself
    ok = cose.sign1(b"x", ED, Alg.ED25519, protected={2: [1]})
    assert cose.Sign1.decode(ok.encode()).verify(ED, algorithms=ANY_SIG) == b"x"
    for protected, unprotected in (
        ({1: -19}, {2: [1]}),  # crit outside the protected bucket
        ({1: -19, 2: []}, {}),  # empty crit
        ({1: -19, 2: [4]}, {4: b"k"}),  # critical label not in the protected bucket
        ({1: -19, 2: 1}, {}),  # not an array
    ):
        data = _sign1_bytes(cbor.dumps(protected), unprotected, b"x", b"s" * 64)
        with pytest.raises(WireError) as info:
            cose.Sign1.decode(data)
        assert _code(info) == Code.COSE_MALFORMED


@pytest.mark.parametrize(
    ("protected", "code"),
    [
        ({}, Code.COSE_MALFORMED),  # no alg
        ({1: "ES256"}, Code.COSE_UNKNOWN_ALG),
        ({1: -999}, Code.COSE_UNKNOWN_ALG),
        ({1: -35}, Code.COSE_UNKNOWN_ALG),  # ES384: receive-only, unknown to a profile list
        ({1: -5}, Code.COSE_ALG_NOT_ALLOWED),  # known, but a key wrap
    ],
)
def test_alg_header(protected: dict, code: Code) -> None:
    data = _sign1_bytes(cbor.dumps(protected) if protected else b"", {}, b"x", b"s" * 64)
    with pytest.raises(WireError) as info:
        cose.Sign1.decode(data).verify(P256, algorithms=ANY_SIG)
    assert _code(info) == code


@pytest.mark.parametrize(
    "unprotected",
    [{1: True}, {1: 1.5}, {4: "kid"}, {5: 1}, {3: -1}, {3: True}, {-1: b"k"}, {(1, 2): 1}],
)
def test_header_value_types(unprotected: dict) -> None:
    data = _sign1_bytes(b"", unprotected, b"x", b"s" * 64)
    with pytest.raises(WireError) as info:
        cose.Sign1.decode(data, lenient=True)
    assert _code(info) == Code.COSE_MALFORMED


def test_iv_and_partial_iv() -> None:
    data = _sign1_bytes(cbor.dumps({1: -19, 5: b"i"}), {6: b"p"}, b"x", b"s" * 64)
    with pytest.raises(WireError) as info:
        cose.Sign1.decode(data)
    assert _code(info) == Code.COSE_BAD_IV


def test_protected_bytes_verified_as_received() -> None:
    # a non-deterministic protected map (keys out of order): the strict option refuses it, the
    # receive rule (protocol §5) keeps the bytes, verifies over them and re-emits them unchanged
    raw = bytes.fromhex("a204416b0132")  # {4: 'k', 1: -19}
    msg = cose.sign1(b"x", ED, Alg.ED25519, protected_raw=raw)
    data = msg.encode()
    with cbor.strict_decoding(), pytest.raises(WireError) as info:
        cose.Sign1.decode(data)
    assert _code(info) == Code.CBOR_UNSORTED_KEYS
    for lenient in (False, True):
        assert cose.Sign1.decode(data, lenient=lenient).headers.protected_raw == raw
    back = cose.Sign1.decode(data)
    assert back.headers.protected_raw == raw
    assert back.encode() == data
    assert back.verify(ED, algorithms=ANY_SIG) == b"x"
    # re-encoding the protected map deterministically would be a different message
    canonical = attrs.evolve(
        back, headers=cose.Headers.make({1: -19, 4: b"k"})
    )
    with pytest.raises(VerificationError):
        canonical.verify(ED, algorithms=ANY_SIG)


def test_empty_protected_map_as_a0() -> None:
    """RFC 9052 §3: h'a0' must be accepted for an empty bucket; the structures use h''. (With
    an empty protected header the alg can only sit unprotected, which verification refuses:
    RFC 9052 §3.1, protocol.md §4.)"""
    msg = cose.sign1(b"x", ED, Alg.ED25519, protected_raw=b"\xa0", unprotected={1: -19})
    assert msg.encode()[2:4] == b"\x41\xa0"
    decoded = cose.Sign1.decode(msg.encode())
    assert decoded.headers.protected == {}
    assert msg.to_be_signed() == cose.sig_structure(b"", b"", b"x")
    with pytest.raises(WireError) as info:
        decoded.verify(ED, algorithms=ANY_SIG)
    assert _code(info) == Code.COSE_MALFORMED


def test_alg_only_in_unprotected_header_refused() -> None:
    """A valid signature whose alg an attacker could rewrite (unprotected) is refused before
    any key is used; the same signature with alg protected verifies."""
    bad = cose.sign1(b"x", ED, Alg.ED25519, protected={4: b"k"}, unprotected={1: -19})
    with pytest.raises(WireError) as info:
        cose.Sign1.decode(bad.encode()).verify(ED, algorithms=ANY_SIG)
    assert _code(info) == Code.COSE_MALFORMED
    good = cose.sign1(b"x", ED, Alg.ED25519, protected={4: b"k"})
    assert cose.Sign1.decode(good.encode()).verify(ED, algorithms=ANY_SIG) == b"x"


def test_sign1_refuses_non_signature_alg_and_conflicting_alg() -> None:
    with pytest.raises(WireError) as info:
        cose.sign1(b"x", ED, Alg.A128GCM)
    assert _code(info) == Code.COSE_ALG_NOT_ALLOWED
    with pytest.raises(WireError) as info:
        cose.sign1(b"x", ED, Alg.ED25519, protected={1: -8})
    assert _code(info) == Code.COSE_MALFORMED


def test_label_maps_for_inspect() -> None:
    assert cose.HEADER_NAMES[1] == "alg" and cose.HEADER_NAMES[-1] == "ephemeral key"
    assert cose.ALG_NAMES[-9] == "ESP256" and cose.ALG_NAMES[-65534] == "A128CTR"
    for alg in Alg:
        assert int(alg) in cose.ALG_NAMES
    for label in cose.HeaderLabel:
        assert int(label) in cose.HEADER_NAMES
    assert cose.COSE_TAG_NAMES[18] == "COSE_Sign1"
