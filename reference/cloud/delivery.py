"""The per-device SUIT manifest (layer 2): the TAM re-wraps a package's CEK to one device.

Why a second, TAM-signed manifest rather than editing the author's: the author envelope is the
same for every device of the class and stays byte-for-byte as the Author signed it (P5); the
device manifest binds one delivery to one device (P4) and one evidence session (P3, P6):

    manifest-component-id  ['edbp', 'device', ta-uuid, ueid]         binds the UEID
    manifest-sequence      the author manifest's sequence number     binds the version
    components             the author's two (TA, staging)             binds the component id
    dependencies           {2: {}}: the author envelope, integrated under "#author"
    shared-sequence        index 0: override {vendor-id, class-id, image-digest, image-size}
                                    condition-vendor-identifier, condition-class-identifier
    install                index 0: override {encryption-info: CEK → this device's DAK}
                           index 2: override {image-digest: author manifest digest, uri: "#author"}
                                    condition-dependency-integrity, directive-process-dependency

The device encryption info is a COSE_Encrypt with the author's content headers (same alg, same
IV, same protected bytes, so the one ciphertext in the registry decrypts under it) and one
ECDH-ES+A128KW recipient (HKDF-SHA256, COSE KDF context with SuppPubInfo.other = "SUIT Payload
Encryption"), kid = RFC 9679 thumbprint of the DAK, a fresh ephemeral key (the Transport Key,
discarded after use). The Agent takes the CEK from this recipient; the author manifest's
class-key recipient is never usable by a device. A device of the post-quantum suite (an AKP DAK,
spec/protocol.md section 4.1) gets a COSE-HPKE recipient instead (MLKEM768-X25519, kid
protected, ``ek`` unprotected): the suite is the one its endorsement pins, never a fallback.

Plaintext CEK: only inside ``KeyVault.rewrap`` for the duration of building the recipient
(see ``keyvault``).
"""

from __future__ import annotations

import functools

import attrs
from edbp.reference.build.package import (
    STAGING_INDEX,
    TA_INDEX,
    AuthorPackage,
    command,
    device_manifest_id,
    override,
    select,
    staging_component,
    ta_component,
)
from edbp.reference.cloud.device_registry import DeviceRecord
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource
from edbp.reference.wire.cbor import dumps
from edbp.reference.wire.cose_algs import Alg, HeaderLabel, KeyType
from edbp.reference.wire.cose_encrypt import Encrypt, RecipientSpec, encryption_info
from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_commands import CommandSequence, EncryptionInfo, set_raw
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_crypto import sign_envelope
from edbp.reference.wire.suit_envelope import Common, Dependency, Manifest
from edbp.reference.wire.suit_labels import SuitCommand

from edbp.errors import Code, WireError

__all__ = ["AUTHOR_KEY", "DEPENDENCY_INDEX", "Delivery", "build_delivery"]

#: envelope text key of the integrated author envelope (spec/messages.cddl)
AUTHOR_KEY = "#author"
DEPENDENCY_INDEX = 2


@attrs.frozen
class Delivery:
    """A device envelope and the facts it binds (``edbp-delivery-binding``)."""

    envelope: bytes = attrs.field(repr=False)
    manifest_digest: SuitDigest
    ueid: bytes
    sequence: int
    dak_thumbprint: bytes

    def binding(self, package: AuthorPackage, challenge: bytes, token: bytes) -> bytes:
        """``edbp-delivery-binding``, as recorded in the audit log at ``deploy.update``."""
        return dumps(
            {
                1: self.ueid,
                2: list(package.component_id),
                3: self.sequence,
                4: package.image_digest.to_cbor(),
                5: package.manifest_digest.to_cbor(),
                6: self.manifest_digest.to_cbor(),
                7: self.dak_thumbprint,
                8: challenge,
                9: token,
            }
        )


def device_encryption_info(
    package: AuthorPackage, dak: CoseKey, vault: KeyVault, rng: RandomSource = DEFAULT_RANDOM
) -> Encrypt:
    """The CEK re-wrapped from the class key to ``dak`` (ECDH-ES+A128KW, or COSE-HPKE for a PQ
    DAK), content headers kept."""
    if dak.kty == KeyType.AKP:
        pq_dak = CoseKey(kty=dak.kty, x=dak.x, alg=dak.alg, kid=dak.thumbprint())
        spec = RecipientSpec(alg=Alg.EDBP_HPKE_XWING_KE, key=pq_dak)
    else:
        dak_public = CoseKey(kty=dak.kty, crv=dak.crv, x=dak.x, y=dak.y)
        spec = RecipientSpec(
            alg=Alg.ECDH_ES_A128KW,
            key=dak_public,
            unprotected={HeaderLabel.KID.value: dak.thumbprint()},
            supp_pub_other=SUIT_KDF_OTHER,
        )

    def seal(cek: bytearray) -> Encrypt:
        return encryption_info([spec], package.content_alg, cek=bytes(cek), iv=package.iv, rng=rng)

    enc: Encrypt = vault.rewrap(package.wrapped_cek, seal)
    if enc.headers.protected_raw != package.content_protected:
        # the AEAD authenticates the protected bytes: they must be the author's exactly
        raise WireError(Code.SUIT_ENCRYPTION_INFO, "content headers differ from the author's")
    return enc


def device_manifest(
    package: AuthorPackage, ueid: bytes, encryption_info: EncryptionInfo
) -> Manifest:
    """The device manifest (layer 2) for ``ueid`` carrying ``encryption_info``, unsigned.

    Shared by ``build_delivery`` and the vector generator's faulty-TAM forms, so that a broken
    delivery differs from an honest one only where the vector says it does."""
    c = SuitCommand
    install = CommandSequence(
        [
            select(TA_INDEX),
            override(encryption_info=encryption_info),
            select(DEPENDENCY_INDEX),
            override(image_digest=package.manifest_digest, uri=AUTHOR_KEY),
            command(c.CONDITION_DEPENDENCY_INTEGRITY),
            command(c.DIRECTIVE_PROCESS_DEPENDENCY),
        ]
    )
    assert STAGING_INDEX < DEPENDENCY_INDEX  # the dependency index follows the components
    return Manifest(
        sequence_number=package.sequence,
        common=_common(package),
        install=install,
        component_id=device_manifest_id(package.ta_uuid, ueid),
    )


@functools.lru_cache(maxsize=16)
def _common(package: AuthorPackage) -> Common:
    """The device manifest's SUIT_Common: the same for every device a package goes to, so it
    is built and encoded once per package (its bytes kept, as a decoded one keeps them) and
    only the per-device members are encoded per delivery."""
    c = SuitCommand
    shared = CommandSequence(
        [
            select(TA_INDEX),
            override(
                vendor_id=package.vendor_id,
                class_id=package.class_id,
                image_digest=package.image_digest,
                image_size=package.image_size,
            ),
            command(c.CONDITION_VENDOR_IDENTIFIER),
            command(c.CONDITION_CLASS_IDENTIFIER),
        ]
    )
    common = Common(
        components=[ta_component(package.ta_uuid), staging_component(package.ta_uuid)],
        shared_sequence=shared,
        dependencies={DEPENDENCY_INDEX: Dependency()},
    )
    return set_raw(common, common.encode())


def build_delivery(
    package: AuthorPackage,
    device: DeviceRecord,
    vault: KeyVault,
    tsk: CoseKey,
    tsk_alg: Alg = Alg.ESP256,
    rng: RandomSource = DEFAULT_RANDOM,
) -> Delivery:
    """``deploy.update`` (manifest part): the TSK-signed device envelope for ``device``."""
    enc = device_encryption_info(package, device.dak, vault, rng)
    manifest = device_manifest(package, device.ueid, EncryptionInfo.from_cose(enc))
    manifest = set_raw(manifest, manifest.encode())  # encoded once: digest, signature, envelope
    envelope = sign_envelope(manifest, tsk, tsk_alg, integrated={AUTHOR_KEY: package.envelope})
    return Delivery(
        envelope=envelope.encode(),
        manifest_digest=envelope.authentication.digest,
        ueid=device.ueid,
        sequence=package.sequence,
        dak_thumbprint=device.dak.thumbprint(),
    )
