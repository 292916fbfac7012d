"""The Agent's image check uses the same loader, with the record's TA floors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import attrs
import pytest

from edbp.errors import Code, TAImageError
from edbp.reference.optee.agent import make_image_check
from edbp.reference.optee.mutations import MutationContext
from edbp.reference.optee.verify import DecryptionKeys


@attrs.frozen
class _Sealed:
    files: dict[str, bytes]

    def read_stream(self, name: str) -> Iterator[bytes]:
        data = self.files[name]
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]


@attrs.frozen
class _Record:
    ta_floors: dict[bytes, int]


def test_image_check_returns_version_and_uuid(ctx: MutationContext) -> None:
    check = make_image_check(ctx.root.public_key(), keys=DecryptionKeys(huk=ctx.huk), expected_uuid=ctx.uuid)
    sealed = _Sealed({"staged": ctx.encrypted()})
    assert check(sealed, "staged", 0, _Record({})) == (ctx.ta_version, ctx.uuid.bytes)
    assert check(sealed, "staged", 0, _Record({ctx.uuid.bytes: ctx.ta_version})) == (ctx.ta_version, ctx.uuid.bytes)
    with pytest.raises(TAImageError) as info:
        check(sealed, "staged", 0, _Record({ctx.uuid.bytes: ctx.ta_version + 1}))
    assert info.value.code is Code.TA_VERSION_ROLLBACK
    # another TA's floor does not apply
    assert check(sealed, "staged", 0, _Record({uuid.uuid4().bytes: 99}))[0] == ctx.ta_version
