"""Hypothesis properties of the CBOR codec: round trips, canonical form, and fuzzing."""

from __future__ import annotations

from typing import Any

from edbp.reference.wire import cbor
from edbp.reference.wire.cbor import LENIENT, STRICT, Simple, Tag
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import WireError

INTS = st.integers(min_value=-(2**64), max_value=2**64 - 1)
FLOATS = st.floats(allow_nan=False)  # NaN != NaN; its canonical form is tested separately
SCALARS = st.one_of(
    INTS,
    st.binary(max_size=40),
    st.text(max_size=20),
    st.booleans(),
    st.none(),
    FLOATS,
    st.just(cbor.UNDEFINED),
    st.sampled_from([Simple(v) for v in (*range(20), 32, 100, 255)]),
)
KEYS = st.one_of(INTS, st.text(max_size=10))  # int/text keys: never Python-equal to each other


def _tagged(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.builds(Tag, st.integers(min_value=0, max_value=2**64 - 1), inner)


VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(KEYS, inner, max_size=5),
        _tagged(inner),
    ),
    max_leaves=25,
)


def _same(a: Any, b: Any) -> bool:
    """Equality that tells 0.0 from -0.0 (Python's == does not)."""
    return cbor.dumps(a) == cbor.dumps(b) and a == b


@given(VALUES)
def test_round_trip_is_exact_and_canonical(value: Any) -> None:
    data = cbor.dumps(value)
    back = cbor.loads(data)
    assert _same(back, value)
    assert cbor.dumps(back) == data
    assert cbor.is_deterministic(data)
    assert cbor.loads(data, LENIENT) == back


@given(st.binary(max_size=64))
def test_arbitrary_bytes_only_wire_errors(data: bytes) -> None:
    for limits in (STRICT, LENIENT):
        try:
            value = cbor.loads(data, limits)
        except WireError:
            continue
        if limits is STRICT:
            # whatever the strict decoder accepts is the one deterministic encoding of it
            assert cbor.dumps(value) == data


@given(VALUES, st.data())
def test_mutated_encodings_only_wire_errors(value: Any, data: st.DataObject) -> None:
    encoded = bytearray(cbor.dumps(value))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(min_value=0, max_value=max(len(encoded) - 1, 0)))
        if op == "flip" and encoded:
            encoded[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
        elif op == "insert":
            encoded.insert(pos, data.draw(st.integers(min_value=0, max_value=255)))
        elif op == "delete" and encoded:
            del encoded[pos]
        elif op == "truncate":
            del encoded[pos:]
    mutated = bytes(encoded)
    for limits in (STRICT, LENIENT):
        try:
            back = cbor.loads(mutated, limits)
        except WireError:
            continue
        if limits is STRICT:
            assert cbor.dumps(back) == mutated


@given(st.lists(st.tuples(KEYS, SCALARS), max_size=8))
def test_any_insertion_order_encodes_alike(pairs: list[tuple[Any, Any]]) -> None:
    forward = dict(pairs)
    backward = dict(reversed(list(forward.items())))
    assert cbor.dumps(forward) == cbor.dumps(backward)
