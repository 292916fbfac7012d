"""The Agent's install-time check of a TA image, with the same loader the CLI uses.

``reference/device/install.py`` calls an ``ImageCheck`` on the decrypted payload (the TA file)
before it switches the new version in; this builds one. The TA version floors come from the
Agent's record (``AgentRecord.ta_floors``, keyed by the UUID's 16 RFC 4122 octets) and the
returned ``(ta_version, uuid octets)`` is what the installer raises the floor to, in the same
atomic write that raises the SUIT sequence floor. The two floors stay distinct: see
``edbp.reference.optee.floors`` and spec/ta-image.md.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from edbp.reference.optee.floors import VersionFloors
from edbp.reference.optee.verify import DecryptionKeys, LoaderPolicy, verify_ta

__all__ = ["make_image_check"]


class _Sealed(Protocol):
    def read_stream(self, name: str) -> Iterable[bytes]: ...


class _Record(Protocol):
    ta_floors: Mapping[bytes, int]


def make_image_check(
    root_key: rsa.RSAPublicKey,
    *,
    keys: DecryptionKeys = DecryptionKeys(),
    policy: LoaderPolicy = LoaderPolicy(),
    expected_uuid: uuidlib.UUID | None = None,
) -> Callable[[Any, str, int, Any], tuple[int | None, bytes | None]]:
    """An ``ImageCheck``: verify the staged image with ``verify_ta``; raise on refusal."""

    def check(sealed: _Sealed, name: str, size: int, record: _Record) -> tuple[int | None, bytes | None]:
        image = b"".join(sealed.read_stream(name))
        floors = VersionFloors({uuidlib.UUID(bytes=bytes(k)): v for k, v in record.ta_floors.items()})
        result = verify_ta(image, root_key, keys=keys, floors=floors, policy=policy, expected_uuid=expected_uuid)
        return result.ta_version, (result.uuid.bytes if result.uuid is not None else None)

    return check
