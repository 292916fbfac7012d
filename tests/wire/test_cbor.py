"""Deterministic CBOR encoder and strict decoder: RFC 8949 examples and every refusal code."""

from __future__ import annotations

import math

import pytest
from edbp.reference.wire import cbor
from edbp.reference.wire.cbor import LENIENT, STRICT, Limits, Raw, Simple, Tag
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import Code, WireError

# RFC 8949 Appendix A: values whose listed encoding is also the deterministic one
APPENDIX_A = [
    (0, "00"),
    (1, "01"),
    (10, "0a"),
    (23, "17"),
    (24, "1818"),
    (25, "1819"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (0.0, "f90000"),
    (-0.0, "f98000"),
    (1.0, "f93c00"),
    (1.1, "fb3ff199999999999a"),
    (1.5, "f93e00"),
    (65504.0, "f97bff"),
    (100000.0, "fa47c35000"),
    (3.4028234663852886e38, "fa7f7fffff"),
    (1.0e300, "fb7e37e43c8800759c"),
    (5.960464477539063e-8, "f90001"),
    (0.00006103515625, "f90400"),
    (-4.0, "f9c400"),
    (-4.1, "fbc010666666666666"),
    (math.inf, "f97c00"),
    (-math.inf, "f9fc00"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (cbor.UNDEFINED, "f7"),
    (Simple(16), "f0"),
    (Simple(255), "f8ff"),
    (Tag(0, "2013-03-21T20:04:00Z"), "c074323031332d30332d32315432303a30343a30305a"),
    (Tag(1, 1363896240), "c11a514b67b0"),
    (Tag(23, b"\x01\x02\x03\x04"), "d74401020304"),
    (Tag(32, "http://www.example.com"), "d82076687474703a2f2f7777772e6578616d706c652e636f6d"),
    (b"", "40"),
    (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ("\"\\", "62225c"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ("\U00010151", "64f0908591"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    (
        {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
        "a56161614161626142616361436164614461656145",
    ),
]


@pytest.mark.parametrize(("value", "hexed"), APPENDIX_A, ids=[h for _, h in APPENDIX_A])
def test_appendix_a(value: object, hexed: str) -> None:
    data = bytes.fromhex(hexed)
    assert cbor.dumps(value) == data
    back = cbor.loads(data)
    if isinstance(value, float):
        assert isinstance(back, float) and cbor.dumps(back) == data
    else:
        assert back == value
    assert cbor.is_deterministic(data)


def test_nan_is_canonical() -> None:
    assert cbor.dumps(math.nan) == bytes.fromhex("f97e00")
    assert math.isnan(cbor.loads(bytes.fromhex("f97e00")))
    for other in ("fa7fc00000", "fb7ff8000000000000", "f97e01"):
        with pytest.raises(WireError) as info:
            cbor.loads(bytes.fromhex(other), STRICT)
        assert info.value.code == Code.CBOR_NON_SHORTEST
        assert math.isnan(cbor.loads(bytes.fromhex(other), LENIENT))
        assert math.isnan(cbor.loads(bytes.fromhex(other)))  # the receive rule


def test_map_keys_sorted_bytewise() -> None:
    """RFC 8949 §4.2.1: keys sorted by their encodings (10, 100, -1, "z", "aa", [100], [-1],
    false)."""
    m = {False: 8, (-1,): 7, (100,): 6, "aa": 5, "z": 4, -1: 3, 100: 2, 10: 1}
    data = cbor.dumps(m)
    assert data.hex() == (
        "a8" "0a01" "186402" "2003" "617a04" "62616105" "8118640" "6" "812007" "f408"
    )
    assert cbor.loads(data) == m


@pytest.mark.parametrize(
    ("hexed", "code"),
    [
        ("", Code.CBOR_TRUNCATED),
        ("18", Code.CBOR_TRUNCATED),
        ("1900", Code.CBOR_TRUNCATED),
        ("4200", Code.CBOR_TRUNCATED),
        ("83 01 02", Code.CBOR_TRUNCATED),
        ("a2 01 02 03", Code.CBOR_TRUNCATED),
        ("7a ffffffff 00", Code.CBOR_TRUNCATED),
        ("9b ffffffffffffffff", Code.CBOR_TOO_LARGE),
        ("0000", Code.CBOR_TRAILING_BYTES),
        ("a2 01 00 01 00", Code.CBOR_DUPLICATE_KEY),
        ("a2 6161 00 6161 00", Code.CBOR_DUPLICATE_KEY),
        ("a2 02 00 01 00", Code.CBOR_UNSORTED_KEYS),
        ("a2 20 00 01 00", Code.CBOR_UNSORTED_KEYS),  # -1 (0x20) sorts after 1 (0x01)
        ("9f ff", Code.CBOR_INDEFINITE_LENGTH),
        ("5f 41 00 ff", Code.CBOR_INDEFINITE_LENGTH),
        ("bf ff", Code.CBOR_INDEFINITE_LENGTH),
        ("1805", Code.CBOR_NON_SHORTEST),
        ("1900ff", Code.CBOR_NON_SHORTEST),
        ("1a0000012c", Code.CBOR_NON_SHORTEST),  # 300 in four bytes
        ("1a0000ffff", Code.CBOR_NON_SHORTEST),
        ("1b00000000ffffffff", Code.CBOR_NON_SHORTEST),
        ("3800", Code.CBOR_NON_SHORTEST),
        ("5801 00", Code.CBOR_NON_SHORTEST),
        ("d80500", Code.CBOR_NON_SHORTEST),  # tag 5 in a one-byte argument
        ("fa3f800000", Code.CBOR_NON_SHORTEST),  # 1.0 as single
        ("fb3ff8000000000000", Code.CBOR_NON_SHORTEST),  # 1.5 as double
        ("61ff", Code.CBOR_INVALID_UTF8),
        ("62c328", Code.CBOR_INVALID_UTF8),
        ("1c", Code.CBOR_MALFORMED),
        ("ff", Code.CBOR_MALFORMED),
        ("1f", Code.CBOR_MALFORMED),
        ("3f", Code.CBOR_MALFORMED),
        ("df00", Code.CBOR_MALFORMED),
        ("f800", Code.CBOR_MALFORMED),
        ("f81f", Code.CBOR_MALFORMED),
        ("fc", Code.CBOR_MALFORMED),
        ("a1 a0 00", Code.CBOR_UNSUPPORTED_TYPE),  # map as a map key
        ("a1 81a0 00", Code.CBOR_UNSUPPORTED_TYPE),
        ("a1 01 ff", Code.CBOR_MALFORMED),
    ],
)
def test_strict_refusals(hexed: str, code: Code) -> None:
    data = bytes.fromhex(hexed.replace(" ", ""))
    with pytest.raises(WireError) as info:
        cbor.loads(data, STRICT)
    assert info.value.code == code
    with cbor.strict_decoding(), pytest.raises(WireError) as info:
        cbor.loads(data)  # the documented opt-in gives the same refusal
    assert info.value.code == code
    if code in _RECEIVE_ACCEPTS:
        cbor.loads(data)  # protocol §5: well-formed, only not deterministic: accepted
    else:
        with pytest.raises(WireError) as info:
            cbor.loads(data)
        assert info.value.code == code


#: the codes the receive rule (spec/protocol.md §5) does not raise: encoding choices only
_RECEIVE_ACCEPTS = {Code.CBOR_UNSORTED_KEYS, Code.CBOR_NON_SHORTEST, Code.CBOR_INDEFINITE_LENGTH}


@pytest.mark.parametrize(
    ("hexed", "code"),
    [
        ("5f 41 00 61 00 ff", Code.CBOR_MALFORMED),  # text chunk in a byte string
        ("5f 5f ff ff", Code.CBOR_MALFORMED),  # nested indefinite chunk
        ("9f 01", Code.CBOR_TRUNCATED),  # missing break
        ("bf 01 ff", Code.CBOR_MALFORMED),  # break where a value belongs
        ("bf 01 00 01 00 ff", Code.CBOR_DUPLICATE_KEY),
        ("01 02", Code.CBOR_TRAILING_BYTES),
    ],
)
def test_lenient_still_refuses(hexed: str, code: Code) -> None:
    with pytest.raises(WireError) as info:
        cbor.loads(bytes.fromhex(hexed.replace(" ", "")), LENIENT)
    assert info.value.code == code


def test_lenient_accepts_published_forms() -> None:
    assert cbor.loads(bytes.fromhex("9f0102ff"), LENIENT) == [1, 2]
    assert cbor.loads(bytes.fromhex("5f4101420203ff"), LENIENT) == b"\x01\x02\x03"
    assert cbor.loads(bytes.fromhex("bf6161016162820203ff"), LENIENT) == {"a": 1, "b": [2, 3]}
    assert cbor.loads(bytes.fromhex("a2020001 00"), LENIENT) == {2: 0, 1: 0}
    assert cbor.loads(bytes.fromhex("1a0000012c"), LENIENT) == 300
    assert not cbor.is_deterministic(bytes.fromhex("a202000100"))


def test_limits() -> None:
    # max_depth counts every level, the leaf included: 15 arrays around an int is 16 levels
    value: object = 0
    for _ in range(15):
        value = [value]
    assert cbor.loads(bytes.fromhex("81" * 15 + "00")) == value
    with pytest.raises(WireError) as info:
        cbor.loads(bytes.fromhex("81" * 16 + "00"))
    assert info.value.code == Code.CBOR_TOO_DEEP
    with pytest.raises(WireError) as info:
        cbor.loads(bytes.fromhex("d818" * 20 + "00"), Limits(max_depth=8, deterministic=False))
    assert info.value.code == Code.CBOR_TOO_DEEP
    with pytest.raises(WireError) as info:
        cbor.loads(b"\x45hello", Limits(max_size=4))
    assert info.value.code == Code.CBOR_TOO_LARGE
    with pytest.raises(WireError) as info:
        cbor.loads(bytes.fromhex("83010203"), Limits(max_items=2))
    assert info.value.code == Code.CBOR_TOO_LARGE
    with pytest.raises(WireError) as info:
        cbor.loads(bytes.fromhex("a3010002000300"), Limits(max_items=2))
    assert info.value.code == Code.CBOR_TOO_LARGE
    with pytest.raises(WireError) as info:
        cbor.loads(bytes.fromhex("9f010203ff"), Limits(max_items=2, allow_indefinite=True))
    assert info.value.code == Code.CBOR_TOO_LARGE
    with pytest.raises(WireError) as info:
        cbor.loads(bytes.fromhex("f93c00"), Limits(allow_floats=False))
    assert info.value.code == Code.CBOR_UNSUPPORTED_TYPE
    # a very deep input from an attacker never reaches Python's recursion limit
    with pytest.raises(WireError) as info:
        cbor.loads(b"\x81" * 100000 + b"\x00", Limits(max_depth=10**6))
    assert info.value.code == Code.CBOR_TOO_DEEP


@pytest.mark.parametrize(
    "value",
    [object(), 2**64, -(2**64) - 1, Tag(-1, 0), Simple(20), Simple(23), Simple(24), Simple(256)],
    ids=["object", "2**64", "-2**64-1", "tag-1", "simple20", "simple23", "simple24", "simple256"],
)
def test_encoder_refusals(value: object) -> None:
    with pytest.raises(WireError) as info:
        cbor.dumps(value)
    assert info.value.code == Code.CBOR_UNSUPPORTED_TYPE


def test_encoder_refuses_bad_tag_simple_and_depth() -> None:
    for value in (Tag("1", 0), Tag(True, 0), Simple("x")):  # type: ignore[arg-type]
        with pytest.raises(WireError) as info:
            cbor.dumps(value)
        assert info.value.code == Code.CBOR_UNSUPPORTED_TYPE
    deep: list[object] = []
    for _ in range(100000):
        deep = [deep]
    with pytest.raises(WireError) as info:
        cbor.dumps(deep)
    assert info.value.code == Code.CBOR_TOO_DEEP


def test_encoder_duplicate_after_encoding() -> None:
    with pytest.raises(WireError) as info:
        cbor.dumps({(1,): 0, Raw(b"\x81\x01"): 2})
    assert info.value.code == Code.CBOR_DUPLICATE_KEY


def test_non_bytes_input() -> None:
    with pytest.raises(WireError) as info:
        cbor.loads("text")  # type: ignore[arg-type]
    assert info.value.code == Code.CBOR_MALFORMED
    assert cbor.loads(bytearray(b"\x01")) == 1
    assert cbor.loads(memoryview(b"\x01")) == 1


def test_raw_and_prefix() -> None:
    inner = bytes.fromhex("a202000100")  # deliberately unsorted, spliced verbatim
    data = cbor.dumps([Raw(inner), 1])
    assert data == b"\x82" + inner + b"\x01"
    value, used = cbor.loads_prefix(b"\x01\x02\x03")
    assert (value, used) == (1, 1)


def test_array_keys_decode_to_tuples() -> None:
    assert cbor.loads(bytes.fromhex("a1820102f5")) == {(1, 2): True}
    assert cbor.loads(bytes.fromhex("a1c1820102f5"), LENIENT) == {Tag(1, (1, 2)): True}


@pytest.mark.parametrize("hexed", ["a1c10100", "a1820bc10100", "a101a1c20000", "bfc101f5ff"])
def test_tag_inside_a_map_key_is_refused(hexed: str) -> None:
    """spec/errors.md row 108: any tag inside a map key, at any depth of the key, in a definite
    or indefinite map; only ``LENIENT`` (inspect) shows it."""
    data = bytes.fromhex(hexed)
    for limits in (None, cbor.RECEIVE) if hexed.startswith("bf") else (None, STRICT, cbor.RECEIVE):
        with pytest.raises(WireError) as info:
            cbor.loads(data, limits)
        assert info.value.code == Code.CBOR_UNEXPECTED_TAG
    cbor.loads(data, LENIENT)


def test_empty_chunks_are_bounded() -> None:
    """16 MiB of empty indefinite-length chunks: refused after ``max_chunks`` chunks, before
    the input is walked (once a minute and 1.5 GB through inspect)."""
    data = b"\x5f" + b"\x40" * (16 * 1024 * 1024 - 2) + b"\xff"
    for limits in (None, LENIENT):
        decoder_limits = limits or cbor.RECEIVE
        with pytest.raises(WireError) as info:
            cbor.loads(data, limits)
        assert info.value.code == Code.CBOR_TOO_LARGE
        assert str(decoder_limits.max_chunks) in info.value.detail
    # a few chunks are fine (the receive rule allows indefinite strings)
    assert cbor.loads(b"\x5f" + b"\x41\x01" * 100 + b"\xff") == b"\x01" * 100


def test_total_work_is_bounded() -> None:
    """Many small containers (each under ``max_items``): the per-call work budget stops them."""
    limits = Limits(max_work=1000)
    data = b"\x9f" + b"\x80" * 2000 + b"\xff"
    with pytest.raises(WireError) as info:
        cbor.loads(data, limits)
    assert info.value.code == Code.CBOR_TOO_LARGE
    chunks = b"\x5f" + b"\x40" * 2000 + b"\xff"
    with pytest.raises(WireError) as info:
        cbor.loads(chunks, Limits(max_work=1000, max_chunks=10**6))
    assert info.value.code == Code.CBOR_TOO_LARGE
    assert len(cbor.loads(data[:-1][:900] + b"\xff", limits)) == 899


def test_python_equal_keys_are_duplicates() -> None:
    """1 and true (or 1 and 1.0) are distinct CBOR keys but one Python dict key: refused
    rather than silently merged."""
    for hexed in ("a2 01 00 f5 00", "a2 01 00 f93c00 00"):
        with pytest.raises(WireError) as info:
            cbor.loads(bytes.fromhex(hexed.replace(" ", "")), LENIENT)
        assert info.value.code == Code.CBOR_DUPLICATE_KEY


def test_diag() -> None:
    value = {1: -7, 4: b"11", "t": [True, None, 1.5, Tag(18, [])]}
    assert cbor.diag(value, names={1: "alg", 4: "kid"}) == (
        "{1 / alg /: -7, 4 / kid /: h'3131', \"t\": [true, null, 1.5, 18([])]}"
    )
    assert cbor.diag(Raw(b"\x81\x01")) == "<<[1]>>"
    assert cbor.diag([], indent=2) == "[]"
    assert "\n" in cbor.diag([1, 2], indent=2)


def test_receive_is_default() -> None:
    """Protocol §5: receive liberally by default; strict is the explicit option."""
    assert cbor.RECEIVE == Limits() == cbor.receive_limits()
    assert not cbor.RECEIVE.deterministic and cbor.RECEIVE.allow_indefinite
    assert cbor.RECEIVE.max_depth == 16 and not cbor.RECEIVE.allow_tagged_keys
    assert STRICT.deterministic and not STRICT.allow_indefinite
    with cbor.strict_decoding():
        assert cbor.receive_limits() is STRICT
    assert cbor.receive_limits() is cbor.RECEIVE


@given(
    st.lists(
        st.sampled_from(
            [b"\x5f", b"\x9f", b"\xbf", b"\x40", b"\x41\x00", b"\x80", b"\x01", b"\xff"]
        ),
        max_size=200,
    )
)
def test_work_is_linear_in_the_input(parts: list[bytes]) -> None:
    """Every unit of decoding work (an item, a chunk) consumes at least one input byte, so the
    work budget can only be reached by inputs at least that long: hostile input costs time
    linear in its size (protocol §5, bounds on work)."""
    data = b"".join(parts)
    decoder = cbor._Decoder(data, cbor.LENIENT)
    try:
        decoder.item(1)
    except WireError:
        pass
    assert decoder.work <= len(data) + 1  # + the attempt that finds the input ended
