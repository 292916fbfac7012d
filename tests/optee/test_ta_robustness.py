"""Arbitrary corruption never escapes as anything but a coded edbp error."""

from __future__ import annotations

from edbp.reference.optee.mutations import MutationContext
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import EdbpError

_CACHE: dict[str, bytes] = {}


def _image(ctx: MutationContext) -> bytes:
    if "enc" not in _CACHE:
        _CACHE["enc"] = ctx.encrypted()
    return _CACHE["enc"]


@given(data=st.data())
def test_random_corruption_is_refused_with_a_code(
    ctx: MutationContext, data: st.DataObject
) -> None:
    image = bytearray(_image(ctx))
    edits = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(image) - 1), st.integers(1, 255)), min_size=1, max_size=4
        )
    )
    for offs, mask in edits:
        image[offs] ^= mask
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(image))))
    if cut is not None:
        del image[cut:]
    if bytes(image) == _image(ctx):
        return  # edits that cancel out
    try:
        ctx.case(bytes(image)).run()
    except EdbpError:
        return
    raise AssertionError("a corrupted image was accepted")


@given(blob=st.binary(max_size=600))
def test_garbage_is_refused_with_a_code(ctx: MutationContext, blob: bytes) -> None:
    try:
        ctx.case(blob).run()
    except EdbpError:
        return
    raise AssertionError("garbage accepted")
