"""The Agent's check of an OP-TEE TA payload before it is switched in (``deploy.install``).

Why here, between decryption and the switch: the SUIT layer proves the Author shipped these
bytes; OP-TEE's loader would still refuse a TA whose own signature (TA Signing Key, RSA), UUID
or version does not check, and an Agent that installed such an image would report a success
the device cannot run. So the decrypted image is verified exactly as OP-TEE's loader verifies
it (``edbp.reference.optee.verify``), with two floors kept apart:

- the SUIT sequence number (strictly above the component's floor; ``install``), and
- the TA version (OP-TEE's ``ta_ver.db`` semantics: not below the stored version; equal is
  accepted), recorded per TA UUID in the Agent's state, raised in the same atomic commit.

A payload whose component is an OP-TEE TA (``['TEEP-Device', 'SecureFS', uuid]``) must be a TA
image signed by one of the Agent's TA trust anchors, with that UUID. Other components are not
checked here (opaque data for a TA).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.device.install import AgentRecord, ImageCheck, PayloadSpec
from edbp.reference.device.sealed_storage import SealedStorage
from edbp.reference.optee.floors import VersionFloors
from edbp.reference.optee.stream import verify_ta_file
from edbp.reference.optee.verify import DecryptionKeys, LoaderPolicy

from edbp.errors import Code, EdbpError, ProtocolError, TAImageError

__all__ = ["TA_COMPONENT_PREFIX", "optee_image_check"]

TA_COMPONENT_PREFIX = (b"TEEP-Device", b"SecureFS")
#: refusals that mean "not this trust anchor": the next anchor is tried
_NEXT_ANCHOR = frozenset({Code.TA_BAD_SIGNATURE, Code.TA_KEY_TOO_SMALL, Code.TA_SIG_SIZE})


def optee_image_check(
    ta_signers: Sequence[rsa.RSAPublicKey],
    *,
    huk: bytes | None = None,
    policy: LoaderPolicy = LoaderPolicy(),
    max_image: int = 64 * 1024 * 1024,
) -> ImageCheck:
    """An ``ImageCheck`` for the Agent: OP-TEE's loader checks against ``ta_signers``.
    ``huk`` decrypts device-specific encrypted TAs (img_type 2)."""
    anchors = tuple(ta_signers)

    def check(
        sealed: SealedStorage, staging: str, spec: PayloadSpec, record: AgentRecord
    ) -> tuple[int | None, bytes | None]:
        cid = spec.component_id
        if len(cid) != 3 or tuple(cid[:2]) != TA_COMPONENT_PREFIX:
            return None, None
        if len(cid[2]) != 16:
            raise ProtocolError(Code.SUIT_COMPONENT_UNKNOWN, "TA component id without a UUID")
        if not anchors:
            raise ProtocolError(Code.AGENT_UNTRUSTED_SIGNER, "no TA signing key provisioned")
        size = sealed.storage.size(staging)
        if size > max_image + size // 8 + 4096:  # sealed overhead is small; refuse huge TAs
            raise ProtocolError(Code.AGENT_RESOURCE_LIMIT, "TA image larger than the loader takes")
        # streamed from the sealed file (memory bounded by a chunk, whatever the TA's size):
        # this read is the install's one pass over the plaintext after it is sealed, and it
        # is needed: the loader's digest covers the headers, which precede the payload
        expected = uuidlib.UUID(bytes=bytes(cid[2]))
        floors = VersionFloors(ta={uuidlib.UUID(bytes=k): v for k, v in record.ta_floors.items()})
        last: EdbpError = TAImageError(Code.TA_BAD_SIGNATURE, "no TA trust anchor")
        for key in anchors:
            try:
                with sealed.open(staging) as image:
                    verified = verify_ta_file(
                        image,  # type: ignore[arg-type]  # a RawIOBase is a binary file
                        key,
                        keys=DecryptionKeys(huk=huk),
                        expected_uuid=expected,
                        floors=floors,
                        policy=policy,
                        chunk_size=sealed.chunk_size,
                    )
            except TAImageError as exc:
                last = exc
                if exc.code in _NEXT_ANCHOR:
                    continue
                raise
            assert verified.ta_floor is not None  # legacy images are refused by the policy
            uuid, version = verified.ta_floor
            return version, uuid.bytes
        raise last

    return check
