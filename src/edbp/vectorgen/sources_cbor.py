"""Vectors for the CBOR layer: deterministic encodings that must decode and re-encode
identically; well-formed but non-deterministic encodings a receiver must accept (``acceptable``:
spec/protocol.md §5, receive liberally) without re-encoding them identically; and malformed or
unsafe encodings every receiver must refuse with the code spec/errors.md assigns."""

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
        "a value not in its shortest form: never emitted; accepted on receive because signatures "
        "and digests cover the bytes as received (protocol §5)",
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
        "Malleability",
        "indefinite-length item: never emitted by edbp, accepted on receive (protocol §5)",
        ("P10",),
    ),
    "TaggedMapKey": Note(
        "Ambiguity",
        "a tag inside a map key: no edbp, COSE, SUIT or TEEP map has one, and parsers that "
        "keep or drop the tag disagree on which keys are equal",
        ("P5", "P10"),
    ),
    "ChunkBomb": Note(
        "ResourceExhaustion",
        "an indefinite-length string of more chunks than the bound (4096): bounded work",
        ("P10",),
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
    ("uint-2pow32-1", 2**32 - 1),
    ("uint-2pow32", 2**32),
    ("uint-2pow64-1", 2**64 - 1),
    ("nint-1", -1),
    ("nint-24", -24),
    ("nint-25", -25),
    ("nint-2pow64", -(2**64)),
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

# (name, hex, flag): well-formed, not deterministic; every receiver accepts them (protocol §5).
# Issue 15 moved them here from INVALID (their cbor.invalid.* tcIds are withdrawn).
RECEIVED: list[tuple[str, str, str]] = [
    ("uint-non-shortest-1", "1817", "NonCanonicalCBOR"),
    ("uint-non-shortest-2", "190017", "NonCanonicalCBOR"),
    ("uint-non-shortest-4", "1a0000ffff", "NonCanonicalCBOR"),
    ("uint-non-shortest-8", "1b00000000ffffffff", "NonCanonicalCBOR"),
    ("bstr-length-non-shortest", "580141", "NonCanonicalCBOR"),
    ("float-non-shortest", "fa3fc00000", "NonCanonicalCBOR"),
    ("map-unsorted", "a2616101200a", "UnsortedMapKeys"),
    ("map-length-first-order", "a2190100010a02", "UnsortedMapKeys"),
    # {-1: 1, 256: 2} in RFC 7049 length-first order: unsorted under RFC 8949 4.2.1
    ("map-length-first-sorted", "a2200119010002", "UnsortedMapKeys"),
    ("bstr-indefinite", "5f4101ff", "IndefiniteLength"),
    ("array-indefinite", "9f01ff", "IndefiniteLength"),
    ("map-indefinite", "bf0101ff", "IndefiniteLength"),
]

# (name, hex, code, flag)
INVALID: list[tuple[str, str, Code, str]] = [
    ("map-duplicate-int", "a201010102", Code.CBOR_DUPLICATE_KEY, "DuplicateMapKey"),
    ("map-duplicate-text", "a2616101616102", Code.CBOR_DUPLICATE_KEY, "DuplicateMapKey"),
    ("map-indefinite-duplicate", "bf01010102ff", Code.CBOR_DUPLICATE_KEY, "DuplicateMapKey"),
    ("map-key-tagged", "a1c10100", Code.CBOR_UNEXPECTED_TAG, "TaggedMapKey"),
    ("map-key-array-with-tag", "a1820bc10100", Code.CBOR_UNEXPECTED_TAG, "TaggedMapKey"),
    ("bstr-indefinite-4097-chunks", "5f" + "40" * 4097 + "ff", Code.CBOR_TOO_LARGE, "ChunkBomb"),
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
    received = tuple(
        TestCase(
            tc_id=f"cbor.acceptable.{name}",
            comment=f"receive rule accepts (not deterministic, never emitted): {name}",
            result="acceptable",
            flags=(flag,),
            properties=NOTES[flag].properties,
            steps=(
                Step(
                    "decode",
                    {"message": message(bytes.fromhex(hexdata))},
                    {"result": "ok", "reencodes": False},
                ),
            ),
        )
        for name, hexdata, flag in RECEIVED
    )
    invalid = tuple(
        TestCase(
            tc_id=f"cbor.invalid.{name}",
            comment=f"every receiver refuses: {name}",
            result="invalid",
            flags=(flag,),
            properties=NOTES[flag].properties,
            steps=(Step("decode", {"message": message(bytes.fromhex(hexdata))}, error(code)),),
        )
        for name, hexdata, code, flag in INVALID
    )
    return VectorFile(
        path="wire/cbor-deterministic",
        title="CBOR: core deterministic encoding and the receive rule",
        header=(
            "edbp emits core deterministic encoding; receivers follow spec/protocol.md section 5:",
            "any well-formed encoding (acceptable), no duplicate keys, no tag in a map key,",
            "depth <= 16, bounded chunks and work, no trailing bytes.",
            "op 'decode': decode the message; a valid one must re-encode to the same bytes,",
            "an acceptable one decodes but does not.",
        ),
        notes=NOTES,
        groups=(
            TestGroup(type="CborDecode", flow="wire", suite="-", tests=valid),
            TestGroup(type="CborDecode", flow="wire", suite="-", tests=received),
            TestGroup(type="CborDecode", flow="wire", suite="-", tests=invalid),
        ),
    )
