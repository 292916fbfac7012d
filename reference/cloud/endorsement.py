"""The Manufacturer's device endorsement (``enrol.endorse``): UEID, class, vendor, DAK and
DSK, signed by the MRK.

Why the TAM trusts a device key only through this: the device's public keys arrive from an
untrusted path (the REE, the network); the Manufacturer Root Key's signature over the UEID,
the SUIT class and vendor ids and both public keys is what ties a key to a genuine device of a
class. Shape: ``edbp-device-endorsement`` of spec/messages.cddl, a tagged COSE_Sign1 whose
payload is the deterministic CBOR map ``{1: ueid, 2: class-id, 3: vendor-id, 4: DAK, 5: DSK,
6: issued-at}`` (COSE_Keys, public only).
"""

from __future__ import annotations

from typing import Any

import attrs
from edbp.reference.wire.cbor import dumps, loads
from edbp.reference.wire.cose_algs import Alg, Curve, KeyType
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1, sign1

from edbp.errors import Code, EdbpError, VerificationError

__all__ = [
    "ENDORSEMENT_ALGS",
    "Endorsement",
    "sign_endorsement",
    "signature_alg",
    "verify_endorsement",
]

#: MRK signature algorithms (emit ESP256 / Ed25519; accept ES256 / EdDSA)
ENDORSEMENT_ALGS = frozenset({Alg.ESP256, Alg.ES256, Alg.ED25519, Alg.EDDSA, Alg.ML_DSA_65})
_DAK_CURVES = frozenset({Curve.P256, Curve.X25519})
_DSK_CURVES = frozenset({Curve.P256, Curve.ED25519})


def _invalid(detail: str) -> VerificationError:
    return VerificationError(Code.EAT_ENDORSEMENT_INVALID, detail)


@attrs.frozen
class Endorsement:
    """What the Manufacturer vouches for. Keys are public ``CoseKey``s."""

    ueid: bytes
    class_id: bytes
    vendor_id: bytes
    dak: CoseKey
    dsk: CoseKey
    issued_at: int = 0

    def to_cbor(self) -> dict[int, Any]:
        return {
            1: self.ueid,
            2: self.class_id,
            3: self.vendor_id,
            4: _bare(self.dak).to_map(),
            5: _bare(self.dsk).to_map(),
            6: self.issued_at,
        }

    def encode(self) -> bytes:
        return dumps(self.to_cbor())

    @classmethod
    def from_cbor(cls, value: Any) -> Endorsement:
        if not isinstance(value, dict) or set(value) != {1, 2, 3, 4, 5, 6}:
            raise _invalid("endorsement body: expected keys 1..6")
        ueid, class_id, vendor_id, issued = value[1], value[2], value[3], value[6]
        if not isinstance(ueid, bytes) or len(ueid) not in (17, 33) or ueid[0] != 0x01:
            raise _invalid("endorsement: ueid must be a RAND-type UEID of 17 or 33 bytes")
        for what, uuid in (("class", class_id), ("vendor", vendor_id)):
            if not isinstance(uuid, bytes) or len(uuid) != 16:
                raise _invalid(f"endorsement: {what} id must be a 16-byte UUID")
        if isinstance(issued, bool) or not isinstance(issued, int) or issued < 0:
            raise _invalid("endorsement: issued-at must be an unsigned integer")
        try:
            dak, dsk = CoseKey.from_map(value[4]), CoseKey.from_map(value[5])
        except EdbpError:
            raise _invalid("endorsement: a key is not a valid COSE_Key") from None
        if dak.has_private or dsk.has_private:
            raise _invalid("endorsement: keys must be public")
        if (dak.kty == KeyType.AKP) != (dsk.kty == KeyType.AKP):
            raise _invalid("endorsement: DAK and DSK must belong to one suite")
        if dak.kty == KeyType.AKP:  # edbp-pq (spec/protocol.md section 4.1)
            if dak.alg != int(Alg.EDBP_HPKE_XWING_KE) or dsk.alg != int(Alg.ML_DSA_65):
                raise _invalid("endorsement: PQ DAK must be MLKEM768-X25519, DSK ML-DSA-65")
            return cls(ueid, class_id, vendor_id, dak, dsk, issued)
        if dak.kty == KeyType.SYMMETRIC or dak.crv not in _DAK_CURVES:
            raise _invalid("endorsement: DAK must be P-256 or X25519")
        if dsk.kty == KeyType.SYMMETRIC or dsk.crv not in _DSK_CURVES:
            raise _invalid("endorsement: DSK must be P-256 or Ed25519")
        return cls(ueid, class_id, vendor_id, dak, dsk, issued)

    @property
    def is_pq(self) -> bool:
        """True for a device of the post-quantum suite (its keys are AKP keys)."""
        return self.dsk.kty == KeyType.AKP


def _bare(key: CoseKey) -> CoseKey:
    """The public key without kid/alg: what is endorsed is the key itself (an AKP key keeps
    its alg, which RFC 9964 makes part of the key)."""
    if key.kty == KeyType.AKP:
        return CoseKey(kty=key.kty, x=key.x, alg=key.alg)
    return CoseKey(kty=key.kty, crv=key.crv, x=key.x, y=key.y)


def sign_endorsement(endorsement: Endorsement, mrk: CoseKey, alg: Alg = Alg.ESP256) -> bytes:
    """``enrol.endorse``: the Manufacturer signs the body with its root key."""
    return sign1(endorsement.encode(), mrk, alg).encode()


def signature_alg(data: bytes) -> int | None:
    """The ``alg`` a COSE_Sign1 claims, read before any key is chosen (None when the bytes are
    not a COSE_Sign1 or carry no alg). Used to pick the suite's key and to refuse a downgrade
    before verifying; the signature itself is still verified afterwards."""
    try:
        alg = Sign1.decode(data).headers.raw_alg
    except EdbpError:
        return None
    return alg if isinstance(alg, int) and not isinstance(alg, bool) else None


def verify_endorsement(data: bytes, mrk_public: CoseKey) -> Endorsement:
    """Verify an endorsement under the MRK; every refusal is EAT_ENDORSEMENT_INVALID."""
    try:
        cose = Sign1.decode(data)
        if cose.payload is None:
            raise _invalid("endorsement: payload must be attached")
        payload = cose.verify(mrk_public, algorithms=ENDORSEMENT_ALGS)
        body = Endorsement.from_cbor(loads(payload))
        if body.is_pq and cose.headers.raw_alg != int(Alg.ML_DSA_65):
            # P14: PQ keys bound by a classical signature are only as strong as that signature
            raise VerificationError(
                Code.COSE_SUITE_DOWNGRADE, "PQ device keys endorsed by a classical MRK signature"
            )
        return body
    except VerificationError as e:
        if e.code in (Code.EAT_ENDORSEMENT_INVALID, Code.COSE_SUITE_DOWNGRADE):
            raise
        raise _invalid("endorsement signature does not verify") from None
    except EdbpError as e:
        raise _invalid(f"endorsement is malformed ({e.code.name})") from None
