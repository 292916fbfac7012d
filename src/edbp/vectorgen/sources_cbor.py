"""Vectors for the CBOR layer: deterministic encodings that must decode and re-encode
identically, and malformed or non-deterministic encodings a strict decoder must refuse with the
code spec/errors.md assigns."""

from __future__ import annotations

import functools
from typing import Any

from edbp.errors import Code
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor
from edbp.vectorgen.format import Note, Step, TestCase, TestGroup, VectorFile, error, message
from edbp.vectorgen.registry import source

NOTES = {
    "Deterministic": Note(
        "Functionality",
        "core deterministic encoding (RFC 8949 §4.2.1) that must decode and re-encode "
        "byte for byte",
        ("P5",),
    ),
    "NonCanonicalCBOR": Note(
        "Malleability",
        "a value not in its shortest form: accepting it lets two byte strings carry one "
        "signed meaning",
        ("P5", "P10"),
    ),
    "UnsortedMapKeys": Note(
        "Malleability",
        "map keys not in bytewise lexicographic order of their encodings",
        ("P5", "P10"),
    ),
    "DuplicateMapKey": Note(
        "Ambiguity",
        "a map with a repeated key: parsers that keep the first and the last disagree on "
        "what was signed",
        ("P5", "P10"),
    ),
    "IndefiniteLength": Note(
        "Malleability", "indefinite-length item, forbidden in edbp messages", ("P10",)
    ),
    "TrailingBytes": Note("Ambiguity", "bytes after the single data item", ("P10",)),
    "Truncated": Note(
        "MemorySafety", "an argument or length that runs past the end of the input", ("P10",)
    ),
    "TooDeep": Note("ResourceExhaustion", "nesting deeper than the limit of 16", ("P10",)),
    "InvalidUtf8": Note("ModifiedInput", "a text string that is not UTF-8", ("P10",)),
    "ReservedEncoding": Note(
        "ModifiedInput", "reserved additional information or a misplaced break", ("P10",)
    ),
}

VALID: list[tuple[str, Any]] = [
    ("uint-0", 0),
    ("uint-23", 23),
    ("uint-24", 24),
    ("uint-255", 255),
    ("uint-256", 256),
    ("uint-65535", 65535),
    ("uint-65536", 65536),
    ("uint-2^32-1", 2**32 - 1),
    ("uint-2^32", 2**32),
    ("uint-2^64-1", 2**64 - 1),
    ("nint-1", -1),
    ("nint-24", -24),
    ("nint-25", -25),
    ("nint-2^64", -(2**64)),
    ("bstr-empty", b""),
    ("bstr-24", bytes(range(24))),
    ("tstr-unicode", "edbp \u00fc\u6c34"),
    ("array-nested", [1, [2, [3, []]]]),
    ("map-key-order", {10: 1, -1: 2, "a": 3, b"": 4, 100: 5, "aa": 6}),
    ("tag-suit-envelope", cbor.Tag(107, {2: b"\x00", 3: b"\x01"})),
    ("simple-values", [False, True, None]),
    # spec/protocol.md section 5: the integer inside 15 arrays is at depth 16, the limit
    ("nesting-16", functools.reduce(lambda inner, _: [inner], range(15), 0)),
]

# (name, hex, code, flag)
INVALID: list[tuple[str, str, Code, str]] = [
    ("uint-non-shortest-1", "1817", Code.CBOR_NON_SHORTEST, "NonCanonicalCBOR"),
    ("uint-non-shortest-2", "190017", Code.CBOR_NON_SHORTEST, "NonCanonicalCBOR"),
    ("uint-non-shortest-4", "1a0000ffff", Code.CBOR_NON_SHORTEST, "NonCanonicalCBOR"),
    ("uint-non-shortest-8", "1b00000000ffffffff", Code.CBOR_NON_SHORTEST, "NonCanonicalCBOR"),
    ("bstr-length-non-shortest", "580141", Code.CBOR_NON_SHORTEST, "NonCanonicalCBOR"),
    ("float-non-shortest", "fa3fc00000", Code.CBOR_NON_SHORTEST, "NonCanonicalCBOR"),
    ("map-unsorted", "a2616101200a", Code.CBOR_UNSORTED_KEYS, "UnsortedMapKeys"),
    # {-1: 1, 256: 2} in RFC 7049 length-first order (-1 is shorter): bytewise, 256 (0x19...)
    # sorts before -1 (0x20), so the map is sorted length-first but not as RFC 8949 4.2.1 says
    ("map-length-first-sorted", "a2200119010002", Code.CBOR_UNSORTED_KEYS, "UnsortedMapKeys"),
    ("map-duplicate-int", "a201010102", Code.CBOR_DUPLICATE_KEY, "DuplicateMapKey"),
    ("map-duplicate-text", "a2616101616102", Code.CBOR_DUPLICATE_KEY, "DuplicateMapKey"),
    ("bstr-indefinite", "5f4101ff", Code.CBOR_INDEFINITE_LENGTH, "IndefiniteLength"),
    ("array-indefinite", "9f01ff", Code.CBOR_INDEFINITE_LENGTH, "IndefiniteLength"),
    ("map-indefinite", "bf0101ff", Code.CBOR_INDEFINITE_LENGTH, "IndefiniteLength"),
    ("trailing-byte", "0000", Code.CBOR_TRAILING_BYTES, "TrailingBytes"),
    ("truncated-argument", "19ff", Code.CBOR_TRUNCATED, "Truncated"),
    ("truncated-bstr", "4501", Code.CBOR_TRUNCATED, "Truncated"),
    ("truncated-array", "830102", Code.CBOR_TRUNCATED, "Truncated"),
    ("huge-length", "5bffffffffffffffff00", Code.CBOR_TRUNCATED, "Truncated"),
    ("empty-input", "", Code.CBOR_TRUNCATED, "Truncated"),
    ("nesting-17", "81" * 16 + "00", Code.CBOR_TOO_DEEP, "TooDeep"),
    ("tstr-invalid-utf8", "62c328", Code.CBOR_INVALID_UTF8, "InvalidUtf8"),
    ("reserved-ai-28", "1c", Code.CBOR_MALFORMED, "ReservedEncoding"),
    ("lone-break", "ff", Code.CBOR_MALFORMED, "ReservedEncoding"),
    ("simple-two-byte-below-32", "f810", Code.CBOR_MALFORMED, "ReservedEncoding"),
]


@source("wire/cbor-deterministic")
def cbor_vectors(rng: SeededRandom) -> VectorFile:
    valid = tuple(
        TestCase(
            tc_id=f"cbor.valid.{name}",
            comment=f"deterministic encoding of {name}",
            result="valid",
            flags=("Deterministic",),
            properties=("P5",),
            steps=(
                Step(
                    "decode",
                    {"message": message(cbor.dumps(value))},
                    {"result": "ok", "reencodes": True},
                ),
            ),
        )
        for name, value in VALID
    )
    invalid = tuple(
        TestCase(
            tc_id=f"cbor.invalid.{name}",
            comment=f"strict decoder refuses: {name}",
            result="invalid",
            flags=(flag,),
            properties=NOTES[flag].properties,
            steps=(Step("decode", {"message": message(bytes.fromhex(hexdata))}, error(code)),),
        )
        for name, hexdata, code, flag in INVALID
    )
    return VectorFile(
        path="wire/cbor-deterministic",
        title="CBOR: core deterministic encoding and strict decoding",
        header=(
            "Every edbp message is decoded with the strict rules of spec/protocol.md:",
            "deterministic encoding, no duplicate keys, no indefinite lengths, depth <= 16.",
            "op 'decode': decode the message; a valid one must re-encode to the same bytes.",
        ),
        notes=NOTES,
        groups=(
            TestGroup(type="CborDecode", flow="wire", suite="-", tests=valid),
            TestGroup(type="CborDecode", flow="wire", suite="-", tests=invalid),
        ),
    )
