"""OP-TEE's TA and subkey version floors (``ta_ver.db`` / ``subkey_ver.db``), sans-I/O.

``core/kernel/ree_fs_ta.c`` ``check_update_version``: a stored version *higher* than the
image's is refused (``TEE_ERROR_ACCESS_CONFLICT``, reported by the loader as a security
error), an *equal* one is accepted (the same TA loads again and again), a *lower* one (or none)
is replaced by the image's. So the floor is "not below", not "strictly above".

This is a different counter from SUIT's ``sequence-number``, which the Agent requires to be
*strictly* above the component's floor: the SUIT number orders manifests (every new delivery
has a new one), the TA version orders TA builds (a re-delivery of the same build keeps it).
Both are enforced, independently; see spec/ta-image.md.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping

import attrs

from edbp.errors import Code, TAImageError

__all__ = ["VersionFloors", "check_floor"]


def check_floor(
    floors: Mapping[uuidlib.UUID, int], ident: uuidlib.UUID, version: int, what: str
) -> None:
    """Refuse ``version`` if ``floors`` holds a higher one for ``ident``."""
    stored = floors.get(ident)
    if stored is not None and stored > version:
        raise TAImageError(
            Code.TA_VERSION_ROLLBACK, f"{what} version {version} below stored {stored}"
        )


@attrs.frozen
class VersionFloors:
    """The stored versions a loader checks against: per TA UUID and per subkey UUID."""

    ta: Mapping[uuidlib.UUID, int] = attrs.field(factory=dict)
    subkeys: Mapping[uuidlib.UUID, int] = attrs.field(factory=dict)

    def raised(
        self,
        ta: tuple[uuidlib.UUID, int] | None,
        subkeys: tuple[tuple[uuidlib.UUID, int], ...] = (),
    ) -> VersionFloors:
        """The floors after a successful load recorded these versions (never lowered)."""
        new_ta = dict(self.ta)
        if ta is not None:
            new_ta[ta[0]] = max(ta[1], new_ta.get(ta[0], 0))
        new_sk = dict(self.subkeys)
        for ident, version in subkeys:
            new_sk[ident] = max(version, new_sk.get(ident, 0))
        return VersionFloors(new_ta, new_sk)
