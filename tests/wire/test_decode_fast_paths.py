"""The receive side's fast paths give the general path's answer: the same value, or the same
refusal code.

Why: the TAM decodes and checks every message a device sends; the hot path reads the usual
encodings with fewer calls (``cbor._usual_prefix``, the kid-only unprotected bucket of
``Headers.parse``, ...). A fast path that accepted what the general path refuses, or decoded a
value of another type (``True`` for ``1``), would be a parser differential, so each one is fed
the inputs the general path is fed (valid, truncated, bit-flipped, with trailing bytes, of the
wrong types, under every set of limits) and must answer alike.
"""

from __future__ import annotations

from typing import Any

from edbp.reference.wire import cbor
from edbp.reference.wire.cose_headers import Headers, alg_only_protected
from edbp.reference.wire.cose_key import CoseKey
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import EdbpError

# ------------------------------------------------------------------------------- CBOR items


def _typed(value: Any) -> Any:
    """``value`` with every type made explicit (``==`` alone takes True for 1 and 1.0 for 1)."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_typed(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((_typed(k), _typed(v)) for k, v in value.items()))
    if isinstance(value, cbor.Tag):
        return ("Tag", value.tag, _typed(value.value))
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    return (type(value).__name__, value)


def _answer(read: Any, data: bytes, limits: cbor.Limits) -> Any:
    try:
        value, used = read(data, limits)
    except EdbpError as e:
        return ("refused", e.code)
    return ("value", _typed(value), used)


def _general(data: bytes, limits: cbor.Limits) -> Any:
    """``loads_prefix`` by the general decoder alone (its own checks before decoding kept)."""
    if len(data) > limits.max_size:
        return ("refused", cbor.Code.CBOR_TOO_LARGE)
    if not data:
        return ("refused", cbor.Code.CBOR_TRUNCATED)
    return _answer(cbor._general_prefix, data, limits)


_LIMITS = (
    cbor.RECEIVE,
    cbor.STRICT,
    cbor.LENIENT,
    cbor.Limits(max_depth=1),
    cbor.Limits(max_depth=2),
    cbor.Limits(max_depth=3, deterministic=True),
    cbor.Limits(max_items=2),
    cbor.Limits(max_work=4),
    cbor.Limits(max_work=9),
    cbor.Limits(max_depth=0),
)

_KEYS = st.one_of(
    st.integers(min_value=-300, max_value=70000),
    st.binary(max_size=30),
    st.text(max_size=4),
    st.booleans(),
    st.none(),
)
_LEAVES = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.sampled_from([0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1, -1, -24, -25,
                     -256, -257, -(2**64)]),
    st.binary(max_size=300),
    st.sampled_from([bytes(n) for n in (23, 24, 255, 256, 65535)]),
    st.text(max_size=30),
    st.sampled_from(["", "é", "a" * 24, "\U0001f600" * 70]),
    st.booleans(),
    st.none(),
    st.just(cbor.UNDEFINED),
    st.floats(allow_nan=True),
    st.builds(cbor.Simple, st.sampled_from([0, 19, 32, 255])),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(_KEYS, inner, max_size=5),
        st.builds(cbor.Tag, st.sampled_from([0, 18, 23, 24, 61, 112, 300]), inner),
    ),
    max_leaves=25,
)

#: non-shortest, indefinite and odd encodings: the general decoder's business alone
_ODD = [
    b"\x18\x05",  # 5 in two bytes
    b"\x19\x00\x05",
    b"\x1a\x00\x00\x01\x00",
    b"\x1b\x00\x00\x00\x00\x00\x00\x01\x00",
    b"\x38\x05",
    b"\x58\x03abc",  # a short byte string with a long head
    b"\x59\x00\x03abc",
    b"\x78\x01a",
    b"\x98\x01\x01",  # an array of one with a long head
    b"\xb8\x01\x01\x02",
    b"\x5f\x41a\x41b\xff",  # indefinite byte string
    b"\x9f\x01\x02\xff",
    b"\xbf\x01\x02\xff",
    b"\xa2\x01\x01\x01\x02",  # duplicate key
    b"\xa2\x02\x01\x01\x02",  # keys out of order
    b"\xa2\x01\x01\xf5\x02",  # 1 and true: equal in Python
    b"\xa2\x01\x01\xf9\x3c\x00\x02",  # 1 and 1.0
    b"\xa1\x81\x01\x02",  # an array as a key (a tuple)
    b"\xa1\xa0\x01",  # a map as a key
    b"\xa1\xc1\x01\x02",  # a tagged key
    b"\x62\xc3\x28",  # invalid UTF-8
    b"\xa1\x62\xc3\x28\x01",  # invalid UTF-8 in a key
    b"\xf8\x10",  # two-byte simple value below 32
    b"\xf8\x20",
    b"\xff",
    b"\x1c",  # reserved additional information
    b"\x3f",  # indefinite integer
    b"\xa1\x19\x00\x05\x01",  # a key of 5 in three bytes
    b"\x83\x58\x03abc\x01\x02",
    b"\xa1\x01\x58\x05abcde",
    b"\xa1\x01\x58\x20" + bytes(31),  # truncated
    b"\x9a\xff\xff\xff\xff",  # a huge count
    b"\xba\xff\xff\xff\xff",
    b"\x81" * 70 + b"\x01",  # deeper than any limit
]


def _candidates(data: bytes, cut: int) -> list[bytes]:
    flipped = bytearray(data)
    flipped[cut % len(data)] ^= 1 << (cut % 8)
    return [data, data[: cut % len(data)], bytes(flipped), data + b"\x00", data + b"\xff"]


def _same(data: bytes) -> None:
    for limits in _LIMITS:
        assert _answer(cbor.loads_prefix, data, limits) == _general(data, limits), (data, limits)


@given(_VALUES, st.integers(min_value=0, max_value=10**6))
def test_usual_subset_reads_what_the_general_decoder_reads(value: Any, cut: int) -> None:
    """Every well-formed item, and every damaged copy of it, decodes to the general decoder's
    value (types included) or is refused with its code, under every set of limits."""
    for candidate in _candidates(cbor.dumps(value), cut):
        _same(candidate)


@given(st.binary(min_size=1, max_size=60))
def test_arbitrary_bytes_read_alike(data: bytes) -> None:
    _same(data)


def test_odd_encodings_read_alike() -> None:
    for data in _ODD:
        for cut in range(len(data) + 1):
            for candidate in _candidates(data, cut):
                _same(candidate)


def test_usual_subset_is_taken_for_protocol_values() -> None:
    """The messages the TAM receives are in the subset (else the fast path would be dead code)
    and the subset refuses to decide anything outside it."""
    usual = [
        [2, {6: 0, 7: bytes(444), 13: "application/eat+cwt", 20: bytes(16), 258: bytes(16)}],
        {8: {1: {1: 2, 2: bytes(32), -1: 1, -2: bytes(32), -3: bytes(32)}}, 256: bytes(17),
         265: "tag:x", 272: [[60, bytes(78)]]},
        {2: bytes(32), 3: [[[0, 1], 20, 0, 0, {3: bytes(36), 14: 16712}]], 4: True,
         99: ["", [-16, bytes(32)]]},
        [None, False, cbor.UNDEFINED, -(2**64), 2**64 - 1, "é", bytes(24), bytes(255)],
    ]
    for value in usual:
        data = cbor.dumps(value)
        found = cbor._usual_prefix(data, cbor.RECEIVE)
        assert found is not None and _typed(found[0]) == _typed(value) and found[1] == len(data)
    for data in _ODD:  # each is refused, or accepted only in a form the subset leaves out
        assert cbor._usual_prefix(data, cbor.STRICT) is None


# --------------------------------------------------------------------------- COSE headers


def _parsed(read: Any, protected_raw: Any, unprotected: Any, lenient: bool) -> Any:
    try:
        h = read(protected_raw, unprotected, lenient)
    except EdbpError as e:
        return ("refused", e.code)
    return (
        h.protected_raw,
        _typed(dict(h.protected)),
        _typed(dict(h.unprotected)),
        type(h.protected),
        type(h.unprotected),
    )


def _parse(protected_raw: Any, unprotected: Any, lenient: bool) -> Headers:
    return Headers.parse(protected_raw, unprotected, lenient=lenient)


def _parse_full(protected_raw: Any, unprotected: Any, lenient: bool) -> Headers:
    if not isinstance(protected_raw, bytes):
        return Headers.parse(protected_raw, unprotected, lenient=lenient)  # refused alike
    limits = cbor.LENIENT if lenient else cbor.receive_limits()
    return Headers._parse_full(protected_raw, unprotected, limits)


_PROTECTED = [
    b"",
    b"\xa0",
    alg_only_protected(-9),
    alg_only_protected(-7),
    cbor.dumps({1: -9, 4: b"k"}),  # a kid in the protected bucket
    cbor.dumps({1: -9, 5: bytes(12), 6: b"p"}),  # IV and Partial IV
    cbor.dumps({1: -9, 5: bytes(12)}),
    cbor.dumps({1: -9, 2: [4], 4: b"k"}),
    cbor.dumps({1: True}),
    cbor.dumps({1: -9, 2: [99]}),
    b"\x01",
    b"\xa1\x01",
]
_UNPROTECTED: list[Any] = [
    {},
    {4: b"kid"},
    {4: b""},
    {4: bytes(32)},
    {4: "kid"},
    {4: 5},
    {4: bytearray(b"kid")},
    {4.0: b"kid"},
    {True: b"kid"},
    {"4": b"kid"},
    {6: b"p"},
    {5: bytes(12)},
    {2: [4]},
    {1: -9},
    {4: b"kid", 33: b"x"},
    [],
    None,
    b"\xa0",
]


@given(
    st.sampled_from(_PROTECTED),
    st.sampled_from(_UNPROTECTED),
    st.booleans(),
)
def test_headers_parse_is_the_full_path(prot: bytes, unprot: Any, lenient: bool) -> None:
    """``Headers.parse`` (remembered protected bucket, the empty and kid-only unprotected
    buckets read directly) gives ``_parse_full``'s headers or refusal, for every bucket pair,
    twice (the second time from the memo)."""
    for _ in range(2):
        fast = _parsed(_parse, prot, unprot, lenient)
        assert fast == _parsed(_parse_full, prot, unprot, lenient), (prot, unprot)
        with cbor.strict_decoding():
            fast = _parsed(_parse, prot, unprot, lenient)
            assert fast == _parsed(_parse_full, prot, unprot, lenient), (prot, unprot)


def test_headers_kid_bucket_is_a_copy() -> None:
    """The kid-only bucket read directly is the caller's own dict copied, as the full path's."""
    unprot = {4: b"kid"}
    h = Headers.parse(alg_only_protected(-9), unprot)
    assert h.unprotected == unprot and h.unprotected is not unprot


# ------------------------------------------------------------------------------- COSE_Key


def _key_answer(read: Any, m: Any) -> Any:
    try:
        return ("key", read(m))
    except EdbpError as e:
        return ("refused", e.code)


def _cose_key_maps() -> list[Any]:
    from edbp.reference.rand import SeededRandom
    from edbp.reference.wire.cose_algs import Curve

    maps: list[Any] = []
    for crv in (Curve.P256, Curve.X25519, Curve.ED25519):
        key = CoseKey.generate(crv, SeededRandom(f"memo/{crv.name}"), kid=b"k", alg=-9)
        public, private = key.public().to_map(), key.to_map()
        maps += [public, private, {k: v for k, v in public.items() if k != 2}]
        maps.append({**public, 1: True})  # kty true: refused, never the key of kty 1
        maps.append({**public, -1: True} if crv != Curve.P256 else {**public, -1: 1.0})
        maps.append({**public, 4: [1, 2]})  # key_ops: a list, left to the general path
        maps.append({**public, 3: "ES256"})
        maps.append({**public, -2: public[-2][:-1]})  # a coordinate too short
        maps.append({k: v for k, v in public.items() if k != -2})
        flipped = bytearray(public[-2])
        flipped[5] ^= 1
        maps.append({**public, -2: bytes(flipped)})  # off the curve (EC2) or another key (OKP)
        maps.append(dict(reversed(list(public.items()))))
        maps.append({float(k) if k == 1 else k: v for k, v in public.items()})
    maps += [{1: 4, -1: bytes(16)}, {1: 2}, {}, [], None, {1: 2, -1: 1, -2: 7, -3: 7}]
    return maps


def test_cose_key_from_map_memo_is_the_parse() -> None:
    """``CoseKey.from_map`` (public keys remembered by their entries) gives the unremembered
    parse's key or refusal for every map, the first time and from the memo, and never keeps a
    private key."""
    from edbp.reference.wire import cose_key

    for m in _cose_key_maps():
        general = _key_answer(lambda m: CoseKey._from_map(m, check_point=True), m)
        for _ in range(2):
            assert _key_answer(CoseKey.from_map, m) == general, m
        assert _key_answer(
            lambda m: CoseKey.from_map(m, check_point=False), m
        ) == _key_answer(lambda m: CoseKey._from_map(m, check_point=False), m)
    for key in cose_key._FROM_MAP_MEMO.values():
        assert not key.has_private


def test_cose_key_memo_answers_equal_maps_only() -> None:
    """A map equal to a remembered one only by Python's ``==`` (``True`` for ``1``) is parsed
    afresh: the remembered key of the first is never the answer for the second."""
    from edbp.reference.rand import SeededRandom
    from edbp.reference.wire.cose_algs import Curve

    public = CoseKey.generate(Curve.P256, SeededRandom("memo/eq")).public().to_map()
    assert isinstance(CoseKey.from_map(public), CoseKey)
    for odd in ({**public, 1: 2.0}, {**public, -1: True}):
        assert _key_answer(CoseKey.from_map, odd)[0] == "refused"


# ------------------------------------------------------------------------------ SUIT_Digest


def _digest_answer(read: Any, data: Any, lenient: bool) -> Any:
    try:
        return ("digest", read(data, lenient))
    except EdbpError as e:
        return ("refused", e.code)


def _digest_general(data: Any, lenient: bool) -> Any:
    from edbp.reference.wire.suit_core import SuitDigest, load_cbor

    return SuitDigest.from_cbor(load_cbor(data, "SUIT_Digest", lenient), lenient)


@given(
    st.sampled_from([-16, -43, -44, -17, 1, True]),
    st.sampled_from([32, 48, 64, 31, 0]),
    st.sampled_from([b"", b"\x00", b"\xff"]),
    st.integers(min_value=0, max_value=200),
    st.booleans(),
)
def test_suit_digest_memo_is_the_decode(
    alg: int, size: int, extra: bytes, cut: int, lenient: bool
) -> None:
    """``SuitDigest.decode`` (remembered by bytes, lenient and limits) gives the general
    decode's digest or refusal: valid, truncated, bit-flipped, with trailing bytes, a third
    element, non-shortest heads (refused only under strict decoding), twice over."""
    from edbp.reference.wire.suit_core import SuitDigest

    data = cbor.dumps([alg, bytes(range(size))])
    third = cbor.dumps([alg, bytes(range(size)), 0])
    long_head = b"\x82" + cbor.dumps(alg) + b"\x59\x00" + bytes([size]) + bytes(range(size))
    for candidate in [*_candidates(data, cut), data + extra, third, long_head, bytearray(data)]:
        for _ in range(2):
            general = _digest_answer(_digest_general, candidate, lenient)
            assert _digest_answer(SuitDigest.decode, candidate, lenient) == general
            with cbor.strict_decoding():
                general = _digest_answer(_digest_general, candidate, lenient)
                assert _digest_answer(SuitDigest.decode, candidate, lenient) == general


# ------------------------------------------------------------------------------- SUIT_Record


def _record_general(value: Any, lenient: bool) -> Any:
    """``SuitRecord.from_cbor`` by ``expect_uint`` / ``expect_int`` for every field (the
    checks' order: shape, manifest id, section, offset, component index, properties)."""
    from edbp.reference.wire.suit_commands import Parameters
    from edbp.reference.wire.suit_core import bad, expect_int, expect_uint
    from edbp.reference.wire.suit_report import SuitRecord

    if not isinstance(value, list) or len(value) < 5 or (len(value) > 5 and not lenient):
        raise bad("SUIT_Record: expected five elements")
    ids = value[0]
    if not isinstance(ids, list):
        raise bad("SUIT_Record: manifest id is an array")
    props = value[4]
    if not isinstance(props, dict):
        raise bad("SUIT_Record: properties is a map")
    return SuitRecord(
        tuple(expect_uint(i, "record manifest id") for i in ids),
        expect_int(value[1], "record section"),
        expect_uint(value[2], "record offset"),
        expect_uint(value[3], "record component index"),
        Parameters.from_cbor(props, lenient) if props else Parameters(),
    )


_RECORD_INTS = st.sampled_from(
    [0, 1, 20, 2**64 - 1, 2**64, -1, True, False, 1.0, "1", None, cbor.Code.CBOR_MALFORMED]
)


@given(
    st.lists(_RECORD_INTS, max_size=3),
    _RECORD_INTS,
    _RECORD_INTS,
    _RECORD_INTS,
    st.sampled_from([{}, {14: 16712}, {14: -1}, {3: b"\x00"}, {"x": 1}, [], None]),
    st.sampled_from([0, 1, -1]),
    st.booleans(),
)
def test_suit_record_checks_are_the_expect_helpers(
    ids: list[Any], section: Any, offset: Any, index: Any, props: Any, more: int, lenient: bool
) -> None:
    """``SuitRecord.from_cbor`` (exact ints in range read directly) gives what the
    ``expect_*`` helpers give for every field, value and type (ints, an IntEnum member, the
    same refusal for bools, floats, negative or oversized numbers), in the same order."""
    from edbp.reference.wire.suit_report import SuitRecord

    value: Any = [ids, section, offset, index, props]
    value = value[:4] if more < 0 else value + [0] * more
    for shape in (value, ids, None):
        try:
            general: Any = ("record", _typed(_record_general(shape, lenient).to_cbor()))
        except EdbpError as e:
            general = ("refused", e.code, e.detail)
        try:
            fast: Any = ("record", _typed(SuitRecord.from_cbor(shape, lenient).to_cbor()))
        except EdbpError as e:
            fast = ("refused", e.code, e.detail)
        assert fast == general


# ----------------------------------------------------------------------- header value types


_TYPED = [1, 3, 4, 5, 6, -1, -2, -3, -22, -24, -25, -26, -27, -20, -21, 10, 33]
_HEADER_VALUES: list[Any] = [
    b"x", b"", bytearray(b"x"), "t", "", 0, 7, -1, -7, True, False, None, [1], {1: 2},
    __import__("types").MappingProxyType({1: 2}), cbor.Code.CBOR_MALFORMED, 1.5,
]


def _types_answer(check: Any, bucket: dict[Any, Any]) -> Any:
    from edbp.reference.wire import cose_headers

    try:
        getattr(cose_headers, check)(bucket)
    except EdbpError as e:
        return ("refused", e.code, e.detail)
    return "passes"


@given(
    st.dictionaries(
        st.sampled_from([*_TYPED, "4"]), st.sampled_from(_HEADER_VALUES), max_size=5
    )
)
def test_header_type_rules_quick_pass_is_the_ordered_rules(bucket: dict[Any, Any]) -> None:
    """``_check_types`` (each present label's exact type read once) passes what the rules in
    their order pass and otherwise raises the same first refusal, detail included."""
    assert _types_answer("_check_types", bucket) == _types_answer(
        "_check_types_in_order", bucket
    )


def test_remembered_protected_bucket_with_iv_and_partial_iv_is_refused() -> None:
    """A protected bucket holding both IV and Partial IV is refused (COSE_BAD_IV) however the
    unprotected bucket looks, the second time (from the memo) as the first: the empty-bucket
    shortcut once skipped that check."""
    from edbp.errors import Code

    prot = cbor.dumps({1: 1, 5: bytes(12), 6: b"p"})
    for unprot in ({}, {}, {4: b"kid"}, {4: b"kid"}):
        try:
            Headers.parse(prot, unprot)
        except EdbpError as e:
            assert e.code is Code.COSE_BAD_IV
        else:
            raise AssertionError("IV and Partial IV accepted together")


# ------------------------------------------------------------------------------------ TEEP


def _teep_answer(items: Any) -> Any:
    from edbp.reference.wire import teep

    try:
        msg = teep.from_cbor(items)
    except EdbpError as e:
        return ("refused", e.code)
    return ("message", type(msg).__name__, msg)


_TEEP_INTS: list[Any] = [
    0, 1, 2, 5, 23, 255, 256, 2**32 - 1, 2**32, 2**64, -1, True, False, 1.0, 5.0, "5", None,
    b"\x05",
]


def test_teep_exact_int_shortcuts_keep_the_int_rule() -> None:
    """A message type, an option label and a uint option value that are exact ints skip the
    ``_is_int`` call; every value is still judged by the rule ``_is_int`` states (an int and not
    a bool, an IntEnum member included) and its range."""
    from edbp.reference.wire import teep
    from edbp.reference.wire.teep_labels import TeepOption, TeepType

    from edbp.errors import Code

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    for v in [*_TEEP_INTS, TeepType.SUCCESS, TeepOption.TOKEN]:
        got = _teep_answer([v, {}])
        if not is_int(v) or not 0 <= v <= 255:
            assert got == ("refused", Code.TEEP_MALFORMED), v
        elif v in teep.MESSAGE_CLASSES:
            assert got[0] == "message" or got == ("refused", Code.TEEP_MALFORMED), v
        else:
            assert got == ("refused", Code.TEEP_UNKNOWN_TYPE), v
        got = _teep_answer([5, {v: 0}])
        if not is_int(v) or v < 0:
            assert got == ("refused", Code.TEEP_MALFORMED), v
        else:
            assert got[0] == "message" or got == ("refused", Code.TEEP_MALFORMED), v
            if v not in teep.Success.OPTIONS:
                assert got[2].unknown_options == {v: 0}
        got = _teep_answer([2, {int(TeepOption.SELECTED_VERSION): v}])
        if is_int(v) and 0 <= v < 2**32:
            assert got[0] == "message" and got[2].selected_version == v, v
            assert type(got[2].selected_version) is int
        else:
            assert got == ("refused", Code.TEEP_MALFORMED), v


def test_deferring_to_the_general_decoder_keeps_nothing() -> None:
    """An input the usual subset leaves to the general decoder (a tag) leaves no memory
    behind: each deferral is its own exception, not a shared one that chains every traceback
    (and the frames holding the input) onto itself."""
    import gc
    import tracemalloc

    data = cbor.dumps([cbor.Tag(24, bytes(300)), {1: bytes(500)}])
    for _ in range(10):
        cbor.loads(data)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            cbor.loads(data)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 200_000, grown  # a leak keeps about 3 KB per call: 6 MB here
