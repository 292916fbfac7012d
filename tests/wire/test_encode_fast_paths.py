"""The encoders' fast paths give the bytes of the general rule they stand in for.

Why: the TAM's hot path assembles some fixed structures from their parts (``cbor.bstr``,
``sig_structure``, ``Sign1.encode``) and reads protocol leaves inline; a signature or a digest
over different bytes would break interoperability silently, so each path is checked against
``cbor.dumps`` / ``cbor.loads`` of the same value, at every length boundary of a head.
"""

from __future__ import annotations

from edbp.reference.wire import cbor
from edbp.reference.wire.cose_headers import Headers, alg_only_protected
from edbp.reference.wire.cose_sign import Sign1, sig_structure
from hypothesis import given
from hypothesis import strategies as st

_LENGTHS = st.sampled_from([0, 1, 23, 24, 25, 255, 256, 257, 65535, 65536])


@given(st.one_of(st.binary(max_size=300), _LENGTHS.map(bytes)))
def test_bstr_is_dumps(data: bytes) -> None:
    assert cbor.bstr(data) == cbor.dumps(data)


@given(
    st.binary(max_size=40),
    st.binary(max_size=40),
    st.one_of(st.binary(max_size=300), _LENGTHS.map(bytes)),
    st.sampled_from(["Signature1", "Signature", "CounterSignature", "other context"]),
)
def test_sig_structure_is_dumps(prot: bytes, aad: bytes, payload: bytes, context: str) -> None:
    expected = cbor.dumps([context, prot, aad, payload])
    assert sig_structure(prot, aad, payload, context=context) == expected


@given(
    st.sampled_from([b"", alg_only_protected(-9), alg_only_protected(-19)]),
    st.sampled_from([{}, {4: b"kid"}, {4: bytes(40), 33: b"x"}]),
    st.one_of(st.none(), st.binary(max_size=300)),
    st.binary(min_size=0, max_size=70),
    st.booleans(),
)
def test_sign1_encode_is_dumps_of_its_object(
    prot: bytes, unprot: dict[int, bytes], payload: bytes | None, sig: bytes, tagged: bool
) -> None:
    msg = Sign1(Headers.parse(prot, unprot), payload, sig, tagged)
    assert msg.encode() == cbor.dumps(msg.to_obj())
    assert Sign1.decode(msg.encode(), tagged=tagged) == msg


def test_alg_only_protected_is_the_map() -> None:
    for alg in (-9, -7, -19, 1, 3, -29, -65534):
        assert alg_only_protected(alg) == cbor.dumps({1: alg})
        made = Headers.make({1: alg})
        assert made.protected_raw == cbor.dumps({1: alg}) and made.protected == {1: alg}


_LEAVES = st.one_of(
    st.integers(min_value=-30, max_value=300),
    st.binary(max_size=260),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.integers(min_value=-30, max_value=30), inner, max_size=6),
    ),
    max_leaves=30,
)


@given(_VALUES)
def test_inline_leaves_round_trip(value: object) -> None:
    """Arrays and maps of leaves (read inline) decode to what was encoded, strictly too."""
    data = cbor.dumps(value)
    assert cbor.loads(data) == value
    assert cbor.loads(data, cbor.STRICT) == value


def test_inline_leaves_count_against_the_work_budget_and_depth() -> None:
    """A leaf read inline costs one unit of work and one level of depth, as ``item`` does."""
    from edbp.errors import Code, WireError

    for value in ([1] * 10, [b"ab"] * 10, {i: -1 for i in range(10)}, {i: b"x" for i in range(10)}):
        data = cbor.dumps(value)
        work = 1 + len(value) * (1 if isinstance(value, list) else 2)
        assert cbor.loads(data, cbor.Limits(max_work=work)) == value
        try:
            cbor.loads(data, cbor.Limits(max_work=work - 1))
        except WireError as e:
            assert e.code is Code.CBOR_TOO_LARGE
        else:
            raise AssertionError("the work budget did not count the inline leaves")
    nested: object = 7
    for _ in range(3):
        nested = [nested]
    data = cbor.dumps(nested)  # the 7 sits at depth 4
    assert cbor.loads(data, cbor.Limits(max_depth=4)) == nested
    try:
        cbor.loads(data, cbor.Limits(max_depth=3))
    except WireError as e:
        assert e.code is Code.CBOR_TOO_DEEP
    else:
        raise AssertionError("an inline leaf escaped the depth limit")


def _ecdh_es_info(seed: str, traced: bool, **spec_extra: object) -> tuple[bytes, bytes]:
    """An ECDH-ES+A128KW encryption info from a seeded source, with or without a trace (the
    trace takes the general path: ``CoseKey.generate`` and ``ecdh_shared_secret``), and the CEK
    its recipient delivers to the recipient's private key."""
    from edbp.reference.rand import SeededRandom
    from edbp.reference.wire.cose_algs import Alg, Curve, HeaderLabel
    from edbp.reference.wire.cose_encrypt import RecipientSpec, encryption_info
    from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
    from edbp.reference.wire.cose_key import CoseKey
    from edbp.reference.wire.cose_trace import Trace

    dak = CoseKey.generate(Curve.P256, SeededRandom("dak"))
    spec = RecipientSpec(
        alg=Alg.ECDH_ES_A128KW,
        key=dak.public(),
        unprotected={HeaderLabel.KID.value: dak.public().thumbprint()},
        supp_pub_other=SUIT_KDF_OTHER,
        **spec_extra,  # type: ignore[arg-type]
    )
    enc = encryption_info(
        [spec], Alg.A128GCM, cek=bytes(range(16)), iv=bytes(12), rng=SeededRandom(seed),
        trace=Trace() if traced else None,
    )
    cek = enc.unwrap_cek(
        dak, algorithms={Alg.A128GCM}, recipient_algorithms={Alg.ECDH_ES_A128KW},
        supp_pub_other=SUIT_KDF_OTHER,
    )
    return enc.encode(), cek


def test_ecdh_es_p256_fast_recipient_is_the_general_one() -> None:
    """The P-256 ephemeral-key path (key object kept, point read from its encoding, KDF context
    and content headers remembered) writes the bytes the general path writes for the same draw,
    and the recipient's key unwraps the CEK; with party info the context is not remembered."""
    for seed in ("a", "b", "c"):
        fast, cek = _ecdh_es_info(seed, traced=False)
        general, cek_general = _ecdh_es_info(seed, traced=True)
        assert fast == general and cek == cek_general == bytes(range(16))
        again, _ = _ecdh_es_info(seed, traced=False)  # the memos' answer: the same bytes
        assert again == fast
    with_party, cek = _ecdh_es_info("a", traced=False, party_u_identity=b"tam")
    assert with_party != _ecdh_es_info("a", traced=False)[0] and cek == bytes(range(16))
    assert with_party == _ecdh_es_info("a", traced=True, party_u_identity=b"tam")[0]


def _general_sign1(data: bytes, tagged: bool | None, lenient: bool) -> object:
    """``Sign1.decode`` by the general path (``loads`` then ``from_obj``): the message, or the
    refusal's code."""
    from edbp.errors import EdbpError

    try:
        obj = cbor.loads(data, cbor.LENIENT if lenient else cbor.receive_limits())
        return Sign1.from_obj(obj, lenient=lenient, tagged=tagged)
    except EdbpError as e:
        return e.code


def _decoded_sign1(data: bytes, tagged: bool | None, lenient: bool) -> object:
    from edbp.errors import EdbpError

    try:
        return Sign1.decode(data, lenient=lenient, tagged=tagged)
    except EdbpError as e:
        return e.code


@given(
    st.sampled_from([b"", alg_only_protected(-9), alg_only_protected(-7), b"\xa0"]),
    st.sampled_from([{}, {4: b"kid"}, {4: bytes(32)}, {4: bytes(300)}, {33: b"x"}, {4: 5}]),
    st.one_of(st.none(), _LENGTHS.map(bytes), st.binary(max_size=300)),
    st.sampled_from([bytes(64), bytes(23), bytes(24), b""]),
    st.booleans(),
    st.integers(min_value=0, max_value=10**6),
)
def test_sign1_decode_reads_what_the_general_decoder_reads(
    prot: bytes, unprot: dict[int, object], payload: bytes | None, sig: bytes, tagged: bool,
    cut: int,
) -> None:
    """``Sign1.decode``'s direct reading of the usual layout gives the general path's message,
    and every other input (truncated, a byte changed, other tag expectations, strict decoding)
    the general path's answer, refusal code included."""
    data = cbor.dumps(Sign1(Headers(prot, {}, unprot), payload, sig, tagged).to_obj())
    flipped = bytearray(data)
    flipped[cut % len(data)] ^= 1 << (cut % 8)
    for candidate in (data, data[: cut % len(data)], bytes(flipped), data + b"\x00"):
        for expect in (True, False, None):
            for lenient in (False, True):
                general = _general_sign1(candidate, expect, lenient)
                assert _decoded_sign1(candidate, expect, lenient) == general
                with cbor.strict_decoding():
                    general = _general_sign1(candidate, expect, lenient)
                    assert _decoded_sign1(candidate, expect, lenient) == general


def test_sign1_decode_non_shortest_heads_take_the_general_path() -> None:
    """A byte string head longer than needed is read by the general decoder (accepted under the
    receive rule, refused under strict decoding), never by the direct reading."""
    data = b"\xd2\x84" + b"\x58\x03" + alg_only_protected(-9) + b"\xa0" + b"\x41x" + b"\x40"
    assert _decoded_sign1(data, True, False) == _general_sign1(data, True, False)
    assert isinstance(_decoded_sign1(data, True, False), Sign1)
    with cbor.strict_decoding():
        assert _decoded_sign1(data, True, False) == _general_sign1(data, True, False)
        assert not isinstance(_decoded_sign1(data, True, False), Sign1)


def test_ecdh_recipient_template_seals_the_general_recipient() -> None:
    """``EcdhRecipientTemplate.seal`` writes the recipient the general path (``encryption_info``)
    writes for the same key, kid, CEK and draw of the rng, for each ECDH-ES + key wrap and
    content size; it draws what the general path draws (the rngs agree afterwards), and the
    recipient's private key unwraps the CEK."""
    from edbp.reference.rand import SeededRandom
    from edbp.reference.wire.cose_algs import Alg, Curve, HeaderLabel
    from edbp.reference.wire.cose_encrypt import (
        EcdhRecipientTemplate,
        RecipientSpec,
        encryption_info,
    )
    from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
    from edbp.reference.wire.cose_key import CoseKey

    def spec(alg: Alg, key: CoseKey, other: bytes | None) -> RecipientSpec:
        kid = key.thumbprint()
        kid_header = {HeaderLabel.KID.value: kid}
        return RecipientSpec(alg, key, unprotected=kid_header, supp_pub_other=other)

    probe = CoseKey.generate(Curve.P256, SeededRandom("probe")).public()
    for alg, content, other in (
        (Alg.ECDH_ES_A128KW, Alg.A128GCM, SUIT_KDF_OTHER),
        (Alg.ECDH_ES_A256KW, Alg.A256GCM, None),
        (Alg.ECDH_ES_A192KW, Alg.A128GCM, b"other"),
    ):
        cek_len = {Alg.A128GCM: 16, Alg.A256GCM: 32}[content]
        template = EcdhRecipientTemplate.of(spec(alg, probe, other), content, bytes(cek_len))
        assert template is not None and template.cek_len == cek_len
        for n in range(4):
            dak = CoseKey.generate(Curve.P256, SeededRandom(f"dak{n}"))
            public = CoseKey(kty=dak.kty, crv=dak.crv, x=dak.x, y=dak.y)
            cek = SeededRandom(f"cek{n}").random_bytes(cek_len)
            rng_a, rng_b = SeededRandom(f"r{n}"), SeededRandom(f"r{n}")
            general = encryption_info(
                [spec(alg, public, other)], content, cek=cek, iv=bytes(12), rng=rng_a
            )
            assert template.fits(public, public.thumbprint())
            sealed = template.seal(public, public.thumbprint(), cek, rng_b)
            assert sealed == cbor.dumps(general.recipients[0].to_obj())
            assert rng_a.random_bytes(16) == rng_b.random_bytes(16)
            assert (
                general.unwrap_cek(
                    dak, algorithms={content}, recipient_algorithms={alg}, supp_pub_other=other
                )
                == cek
            )


def test_ecdh_recipient_template_refuses_other_shapes() -> None:
    """Only the one shape gets a template: party info, a salt, a static key, another curve, an
    extra header, direct ECDH or a key wrap without ECDH keep the general path; and a template
    fits only a key and kid of its shape."""
    from edbp.reference.rand import SeededRandom
    from edbp.reference.wire.cose_algs import Alg, Curve
    from edbp.reference.wire.cose_encrypt import EcdhRecipientTemplate, RecipientSpec
    from edbp.reference.wire.cose_key import CoseKey

    p256 = CoseKey.generate(Curve.P256, SeededRandom("p")).public()
    x25519 = CoseKey.generate(Curve.X25519, SeededRandom("x")).public()
    sender = CoseKey.generate(Curve.P256, SeededRandom("s"))
    kid = {4: p256.thumbprint()}
    a = Alg.ECDH_ES_A128KW
    refused = [
        RecipientSpec(a, p256, unprotected=kid, party_u_identity=b"tam"),
        RecipientSpec(a, p256, unprotected=kid, party_u_nonce=8),
        RecipientSpec(a, p256, unprotected=kid, salt=b"salt"),
        RecipientSpec(a, p256, unprotected=kid, supp_priv_info=b"priv"),
        RecipientSpec(a, p256, unprotected=kid, alg_protected=False),
        RecipientSpec(a, p256, unprotected={**kid, 33: b"x"}),
        RecipientSpec(a, p256, protected={33: b"x"}, unprotected=kid),
        RecipientSpec(a, p256),
        RecipientSpec(a, x25519, unprotected=kid),
        RecipientSpec(Alg.ECDH_SS_A128KW, p256, unprotected=kid, sender_key=sender),
        RecipientSpec(Alg.ECDH_ES_HKDF_256, p256, unprotected=kid),
        RecipientSpec(Alg.A128KW, CoseKey.symmetric(bytes(16)), unprotected=kid),
        RecipientSpec(a, p256, unprotected=kid, ephemeral_key=sender),
    ]
    for spec in refused:
        assert EcdhRecipientTemplate.of(spec, Alg.A128GCM, bytes(16)) is None, spec
    fitting = RecipientSpec(a, p256, unprotected=kid)
    template = EcdhRecipientTemplate.of(fitting, Alg.A128GCM, bytes(16))
    assert template is not None
    assert template.fits(p256, bytes(32))
    assert not template.fits(p256, bytes(31))
    assert not template.fits(x25519, bytes(32))
    with_alg = CoseKey(kty=p256.kty, crv=p256.crv, x=p256.x, y=p256.y, alg=-29)
    assert not template.fits(with_alg, bytes(32))


@given(
    st.one_of(st.binary(max_size=300), _LENGTHS.map(bytes)),
    st.binary(max_size=30),
    st.booleans(),
    st.booleans(),
)
def test_sign1_without_headers_is_the_general_sign1(
    payload: bytes, aad: bytes, detached: bool, tagged: bool
) -> None:
    """``sign1`` with no header arguments (the TAM's and the Agent's messages) makes the message
    the general path makes with the protected bucket ``{1: alg}`` spelled out: the same headers,
    the same signature (deterministic ECDSA and EdDSA), the same bytes."""
    from edbp.reference.rand import SeededRandom
    from edbp.reference.wire.cose_algs import Alg, Curve
    from edbp.reference.wire.cose_key import CoseKey
    from edbp.reference.wire.cose_sign import sign1

    suites = ((Curve.P256, Alg.ESP256), (Curve.P256, Alg.ES256), (Curve.ED25519, Alg.EDDSA))
    for curve, alg in suites:
        key = CoseKey.generate(curve, SeededRandom(f"signer {curve}"))
        fast = sign1(payload, key, alg, external_aad=aad, detached=detached, tagged=tagged)
        general = sign1(
            payload, key, alg, protected={1: int(alg)}, external_aad=aad, detached=detached,
            tagged=tagged,
        )
        assert fast == general and fast.encode() == general.encode()
        assert fast.headers == Headers.make({1: int(alg)})
        assert fast.verify(
            key.public(), algorithms={alg}, external_aad=aad,
            detached_payload=payload if detached else None,
        ) == payload


@given(
    st.integers(min_value=0, max_value=7),
    st.one_of(
        st.sampled_from([0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1]),
        st.integers(min_value=0, max_value=2**64 - 1),
    ),
)
def test_head_is_the_rfc_8949_rule(major: int, arg: int) -> None:
    """A head's bytes (RFC 8949 section 3): the argument in the initial byte below 24, else in
    the shortest of 1, 2, 4 or 8 following bytes; an int subclass (IntEnum) alike; a bool or a
    negative argument refused."""
    import enum

    from edbp.errors import Code, WireError

    if arg < 24:
        expected = bytes([major << 5 | arg])
    else:
        size = next(n for n in (1, 2, 4, 8) if arg < 1 << (8 * n))
        expected = bytes([major << 5 | {1: 24, 2: 25, 4: 26, 8: 27}[size]]) + arg.to_bytes(
            size, "big"
        )
    assert cbor._head(major, arg) == expected
    assert cbor._head(major, enum.IntEnum("E", {"V": arg}).V) == expected
    for bad in (True, False, -1, -arg - 1):
        try:
            cbor._head(major, bad)
        except WireError as e:
            assert e.code is Code.CBOR_UNSUPPORTED_TYPE
        else:
            raise AssertionError(f"head of {bad!r}")
