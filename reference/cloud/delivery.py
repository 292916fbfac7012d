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
import hashlib
from collections.abc import Callable
from typing import Any, Protocol

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
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource, SeededRandom
from edbp.reference.wire.cbor import bstr, dumps, uint
from edbp.reference.wire.cose_algs import Alg, Curve, HeaderLabel, KeyType, alg_info, as_alg
from edbp.reference.wire.cose_encrypt import (
    CONTENT_ALGS,
    EcdhRecipientTemplate,
    Encrypt,
    RecipientSpec,
    encryption_info,
)
from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import sign1
from edbp.reference.wire.suit_commands import CommandSequence, EncryptionInfo, set_raw
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_crypto import sign_envelope
from edbp.reference.wire.suit_envelope import (
    AuthenticationWrapper,
    Common,
    Dependency,
    Envelope,
    Manifest,
)
from edbp.reference.wire.suit_labels import SHA256, SuitCommand

from edbp.errors import Code, EdbpError, WireError

__all__ = [
    "AUTHOR_KEY",
    "DEPENDENCY_INDEX",
    "Delivery",
    "DeliveryTemplate",
    "build_delivery",
    "build_delivery_general",
    "delivery_for",
    "general_delivery_for",
]

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
        """``edbp-delivery-binding``, as recorded in the audit log at ``deploy.update``.

        Assembled from the package's part (members 2, 4 and 5, encoded once per package) and
        this delivery's values where those are the usual types; ``_general_binding``'s bytes
        (a test compares them)."""
        ueid, thumbprint, digest = self.ueid, self.dak_thumbprint, self.manifest_digest
        if (
            type(ueid) is bytes
            and type(thumbprint) is bytes
            and type(challenge) is bytes
            and type(token) is bytes
            and type(self.sequence) is int
            and 0 <= self.sequence < 0x100000000
            and digest.alg == SHA256
            and type(digest.digest) is bytes
            and len(digest.digest) == 32
        ):
            component, images = _binding_part(package)
            return b"".join(
                (
                    b"\xa9\x01", bstr(ueid), component, b"\x03", uint(self.sequence), images,
                    b"\x06", _DIGEST_HEAD, digest.digest,
                    b"\x07", bstr(thumbprint), b"\x08", bstr(challenge), b"\x09", bstr(token),
                )
            )
        return self._general_binding(package, challenge, token)

    def _general_binding(self, package: AuthorPackage, challenge: bytes, token: bytes) -> bytes:
        """``binding`` by the general encoder."""
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


@functools.lru_cache(maxsize=16)
def _binding_part(package: AuthorPackage) -> tuple[bytes, bytes]:
    """The delivery binding's members 2 (component id) and 4, 5 (image and author manifest
    digests) of ``package``, with their keys, as the general encoder writes them."""
    return (
        b"\x02" + dumps(list(package.component_id)),
        b"\x04" + dumps(package.image_digest.to_cbor())
        + b"\x05" + dumps(package.manifest_digest.to_cbor()),
    )


def device_encryption_info(
    package: AuthorPackage, dak: CoseKey, vault: KeyVault, rng: RandomSource = DEFAULT_RANDOM
) -> Encrypt:
    """The CEK re-wrapped from the class key to ``dak`` (ECDH-ES+A128KW, or COSE-HPKE for a PQ
    DAK), content headers kept."""
    return _checked_content(vault.rewrap(package.wrapped_cek, _sealer(package, dak, rng)), package)


def _sealer(
    package: AuthorPackage, dak: CoseKey, rng: RandomSource
) -> Callable[[bytearray], Encrypt]:
    """The general path's ``seal`` for ``KeyVault.rewrap``: the COSE_Encrypt delivering the CEK
    it is given to ``dak``."""
    if dak.kty == KeyType.AKP:
        pq_dak = CoseKey(kty=dak.kty, x=dak.x, alg=dak.alg, kid=dak.thumbprint())
        spec = RecipientSpec(alg=Alg.EDBP_HPKE_XWING_KE, key=pq_dak)
    else:
        spec = _ecdh_spec(*_recipient_key_of(dak))

    def seal(cek: bytearray) -> Encrypt:
        return encryption_info([spec], package.content_alg, cek=bytes(cek), iv=package.iv, rng=rng)

    return seal


def _ecdh_spec(dak_public: CoseKey, kid: bytes) -> RecipientSpec:
    """The ECDH-ES+A128KW recipient of a classical DAK: kid = its RFC 9679 thumbprint, SUIT's
    KDF context."""
    return RecipientSpec(
        alg=Alg.ECDH_ES_A128KW,
        key=dak_public,
        unprotected={HeaderLabel.KID.value: kid},
        supp_pub_other=SUIT_KDF_OTHER,
    )


def _checked_content(enc: Encrypt, package: AuthorPackage) -> Encrypt:
    if enc.headers.protected_raw != package.content_protected:
        # the AEAD authenticates the protected bytes: they must be the author's exactly
        raise WireError(Code.SUIT_ENCRYPTION_INFO, "content headers differ from the author's")
    return enc


def _recipient_key_of(dak: CoseKey) -> tuple[CoseKey, bytes]:
    """``_recipient_key``, memoized where ``dak`` is hashable."""
    try:
        return _recipient_key(dak)
    except TypeError:  # an unhashable field (a list where a tuple belongs): no memo
        return _recipient_key.__wrapped__(dak)


@functools.lru_cache(maxsize=4096)
def _recipient_key(dak: CoseKey) -> tuple[CoseKey, bytes]:
    """The DAK as the ECDH recipient key (kty, crv, x, y only) and its thumbprint (the kid):
    made once per device key rather than per delivery (one object per DAK, so that its
    ``public_key`` memo is found by identity)."""
    return CoseKey(kty=dak.kty, crv=dak.crv, x=dak.x, y=dak.y), dak.thumbprint()


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


#: placeholders the per-package template is cut at: 32 bytes no real field holds (each must
#: occur exactly once in the probe encoding, or the package keeps the general path)
_MARK_UEID = hashlib.sha256(b"edbp delivery template: ueid").digest()
_MARK_INFO = hashlib.sha256(b"edbp delivery template: encryption info").digest()
_MARK_AUTH = hashlib.sha256(b"edbp delivery template: authentication").digest()


@attrs.frozen
class DeliveryTemplate:
    """What the device envelope of ``package`` holds whatever the device, already encoded.

    Why: every device of a package gets the same manifest but for its UEID (in the manifest
    component id), its encryption info (one fresh recipient) and so its digest and signature.
    The template is cut out of the general path's own encoding (``device_manifest``,
    ``Envelope.encode``, ``encryption_info``) of a probe delivery, at placeholders, so its
    pieces are exactly the bytes that path writes; per device only the varying items are made
    and spliced in. A delivery the template does not fit (a COSE_Encrypt not of the
    one-recipient, author-header shape; a DAK other than P-256) takes the general path."""

    #: the tagged COSE_Encrypt up to its one recipient (author's content headers, nil
    #: ciphertext), and those headers; empty when the probe's could not be cut
    encrypt_head: bytes
    content_protected: bytes
    content_unprotected: dict[int | str, Any] = attrs.field(repr=False)
    #: the device's ECDH-ES+A128KW recipient, pre-encoded (None: the general path makes it)
    recipient: EcdhRecipientTemplate | None
    #: the install sequence around the encryption-info bstr
    install_head: bytes
    install_tail: bytes
    #: the manifest around the UEID bstr and the install member's bstr
    manifest_head: bytes
    manifest_mid: bytes
    #: the envelope around the authentication wrapper's bstr and the manifest's bstr
    envelope_head: bytes
    envelope_mid: bytes
    envelope_tail: bytes

    @classmethod
    def of(cls, package: AuthorPackage) -> DeliveryTemplate | None:
        """The template, or None when the probe encoding cannot be cut (general path)."""
        install = device_manifest(package, b"", EncryptionInfo(_MARK_INFO)).install
        if not isinstance(install, CommandSequence):
            return None
        seq = install.encode()
        manifest = device_manifest(package, _MARK_UEID, EncryptionInfo(_MARK_INFO)).encode()
        envelope = Envelope(
            set_raw(AuthenticationWrapper(SuitDigest.of(b""), []), _MARK_AUTH),
            set_raw(device_manifest(package, _MARK_UEID, EncryptionInfo(_MARK_INFO)), manifest),
            integrated={AUTHOR_KEY: package.envelope},
        ).encode()
        seq_cut = _cut(seq, bstr(_MARK_INFO))
        manifest_cut = _cut(manifest, bstr(_MARK_UEID), bstr(seq))
        envelope_cut = _cut(envelope, bstr(_MARK_AUTH), bstr(manifest))
        if seq_cut is None or manifest_cut is None or envelope_cut is None:
            return None
        manifest_head, manifest_mid, manifest_end = manifest_cut
        if manifest_end:
            return None  # the install member is the manifest's last (largest key)
        template = cls(
            encrypt_head=b"",
            content_protected=b"",
            content_unprotected={},
            recipient=None,
            install_head=seq_cut[0],
            install_tail=seq_cut[1],
            manifest_head=manifest_head,
            manifest_mid=manifest_mid,
            envelope_head=envelope_cut[0],
            envelope_mid=envelope_cut[1],
            envelope_tail=envelope_cut[2],
        )
        return _with_encryption(template, package)

    def encryption_info(self, enc: Encrypt) -> bytes | None:
        """``enc``'s tagged encoding from the template, or None when its shape differs."""
        if (
            not self.encrypt_head
            or not enc.tagged
            or enc.ciphertext is not None
            or len(enc.recipients) != 1
            or enc.headers.protected_raw != self.content_protected
            or enc.headers.unprotected != self.content_unprotected
        ):
            return None
        return self.encrypt_head + dumps(enc.recipients[0].to_obj())

    def manifest(self, ueid: bytes, info: bytes) -> bytes:
        install = self.install_head + bstr(info) + self.install_tail
        return self.manifest_head + bstr(ueid) + self.manifest_mid + bstr(install)

    def envelope(self, authentication: bytes, manifest: bytes) -> bytes:
        return (
            self.envelope_head
            + bstr(authentication)
            + self.envelope_mid
            + bstr(manifest)
            + self.envelope_tail
        )


def _cut(data: bytes, *marks: bytes) -> list[bytes] | None:
    """``data`` split at each of ``marks`` in turn, each occurring exactly once; else None."""
    pieces: list[bytes] = []
    rest = data
    for mark in marks:
        if data.count(mark) != 1 or rest.count(mark) != 1:
            return None
        head, rest = rest.split(mark)
        pieces.append(head)
    return [*pieces, rest]


#: the probe delivery's randomness and DAK (public, fixed values: the probe's output is only
#: cut into pieces, never sent)
_PROBE_SEED = "edbp delivery template: probe"


def _with_encryption(template: DeliveryTemplate, package: AuthorPackage) -> DeliveryTemplate:
    """The template with the COSE_Encrypt head and the recipient template cut from the general
    path's encryption info (``encryption_info`` with ``_ecdh_spec``, as ``device_encryption_info``
    calls it) for a probe DAK and a probe CEK: the author's content headers, which every
    device's encryption info repeats, and the recipient every P-256 device gets. Where that
    probe fails or does not cut, the template keeps the general path for that part (which
    refuses what it refuses)."""
    rng = SeededRandom(_PROBE_SEED)
    try:
        alg = as_alg(package.content_alg)
        if alg not in CONTENT_ALGS:
            return template
        probe_cek = rng.fork("cek").random_bytes(alg_info(alg).key_bytes)
        probe_dak = CoseKey.generate(Curve.P256, rng.fork("dak")).public()
        spec = _ecdh_spec(*_recipient_key.__wrapped__(probe_dak))
        enc = encryption_info(
            [spec], package.content_alg, cek=probe_cek, iv=package.iv, rng=rng.fork("ephemeral")
        )
    except EdbpError:
        return template
    if (
        enc.headers.protected_raw != package.content_protected
        or not enc.tagged
        or enc.ciphertext is not None
        or len(enc.recipients) != 1
    ):
        return template
    full = enc.encode()
    recipient = dumps(enc.recipients[0].to_obj())
    if not full.endswith(recipient):
        return template
    return attrs.evolve(
        template,
        encrypt_head=full[: -len(recipient)],
        content_protected=enc.headers.protected_raw,
        content_unprotected=dict(enc.headers.unprotected),
        recipient=EcdhRecipientTemplate.of(spec, alg, probe_cek),
    )


class DeliveryTarget(Protocol):
    """What a delivery needs of the device it is for: its UEID (the device binding) and its
    DAK (the recipient). The TAM's ``DeviceRecord`` has both; so does a conformance harness
    playing the TAM for a device it never enrolled."""

    @property
    def ueid(self) -> bytes: ...

    @property
    def dak(self) -> CoseKey: ...


def build_delivery(
    package: AuthorPackage,
    device: DeliveryTarget,
    vault: KeyVault,
    tsk: CoseKey,
    tsk_alg: Alg = Alg.ESP256,
    rng: RandomSource = DEFAULT_RANDOM,
) -> Delivery:
    """``deploy.update`` (manifest part): the TSK-signed device envelope for ``device``.

    The per-package template (``DeliveryTemplate``) gives the same bytes as the general path
    (``build_delivery_general``), from the same draws of ``rng``, at a fraction of the
    encoding work: for a P-256 DAK the encryption info too is spliced (its recipient made by
    ``EcdhRecipientTemplate.seal``); a delivery it does not fit takes the general path."""
    template = _template_for(package)
    dak = device.dak
    if (
        template is None
        or (recipient := template.recipient) is None
        or dak.kty != KeyType.EC2
        # a vault whose ``rewrap`` is not the KeyVault one (a wrapper, an HSM that builds the
        # recipient itself) is handed the general path's ``seal``, as it always was
        or getattr(type(vault), "rewrap", None) is not KeyVault.rewrap
        or not recipient.fits(*(recipient_key := _recipient_key_of(dak)))
    ):
        enc = device_encryption_info(package, dak, vault, rng)
        return delivery_for(package, device, enc, tsk, tsk_alg)
    dak_public, kid = recipient_key
    head = template.encrypt_head

    def seal(cek: bytearray) -> bytes | Encrypt:
        if len(cek) != recipient.cek_len:  # the general path refuses it (the CEK's length)
            return _sealer(package, dak, rng)(cek)
        return head + recipient.seal(dak_public, kid, bytes(cek), rng)

    info = vault.rewrap(package.wrapped_cek, seal)
    if not isinstance(info, bytes):
        return delivery_for(package, device, _checked_content(info, package), tsk, tsk_alg)
    return _spliced(template, package, device.ueid, kid, info, tsk, tsk_alg)


def delivery_for(
    package: AuthorPackage, device: DeliveryTarget, enc: Encrypt, tsk: CoseKey, tsk_alg: Alg
) -> Delivery:
    """The signed device envelope around ``enc`` (the device's encryption info): spliced from
    the package's template when ``enc`` fits it, else built by the general path."""
    template = _template_for(package)
    info = template.encryption_info(enc) if template is not None else None
    if template is None or info is None:
        return general_delivery_for(package, device, enc, tsk, tsk_alg)
    return _spliced(template, package, device.ueid, device.dak.thumbprint(), info, tsk, tsk_alg)


def _spliced(
    template: DeliveryTemplate,
    package: AuthorPackage,
    ueid: bytes,
    dak_thumbprint: bytes,
    info: bytes,
    tsk: CoseKey,
    tsk_alg: Alg,
) -> Delivery:
    """The signed delivery of the template filled with ``ueid`` and ``info`` (the encoded
    encryption info)."""
    manifest = template.manifest(ueid, info)
    # SuitDigest.of(wrap(manifest)), its encoding, and AuthenticationWrapper(digest, [block])'s
    # encoding, from their parts (cut from the general encodings at import, below)
    digest = SuitDigest(SHA256, hashlib.sha256(bstr(manifest)).digest())
    digest_bytes = _DIGEST_HEAD + digest.digest
    block = sign1(digest_bytes, tsk, tsk_alg, detached=True).encode()
    authentication = b"".join((_AUTH_HEAD, digest_bytes, _AUTH_MID, bstr(block)))
    return Delivery(
        envelope=template.envelope(authentication, manifest),
        manifest_digest=digest,
        ueid=ueid,
        sequence=package.sequence,
        dak_thumbprint=dak_thumbprint,
    )


def _split_once(data: bytes, mark: bytes) -> tuple[bytes, bytes]:
    pieces = _cut(data, mark)
    if pieces is None:
        raise AssertionError("a placeholder occurs once in its probe encoding")
    return pieces[0], pieces[1]


#: a SHA-256 SUIT_Digest's encoding before its 32 bytes; the authentication wrapper of one
#: block around the digest's encoding (the block's bstr follows)
_DIGEST_HEAD = _split_once(SuitDigest(SHA256, _MARK_AUTH).encode(), _MARK_AUTH)[0]
_AUTH_HEAD, _AUTH_MID = _split_once(
    AuthenticationWrapper(SuitDigest(SHA256, _MARK_AUTH), [_MARK_INFO]).encode(),
    _DIGEST_HEAD + _MARK_AUTH,
)
if not _AUTH_MID.endswith(bstr(_MARK_INFO)):
    raise AssertionError("SUIT_Authentication is [digest, * blocks]")
_AUTH_MID = _AUTH_MID[: -len(bstr(_MARK_INFO))]


#: each package's template (None: the package keeps the general path). Keyed on the frozen
#: package record, so a template never goes stale against it; bounded like ``_common``.
_TEMPLATES: dict[AuthorPackage, DeliveryTemplate | None] = {}
_TEMPLATES_MAX = 16


def _template_for(package: AuthorPackage) -> DeliveryTemplate | None:
    """The package's template, made at its first delivery."""
    try:
        return _TEMPLATES[package]
    except KeyError:
        pass
    template = DeliveryTemplate.of(package)
    if len(_TEMPLATES) >= _TEMPLATES_MAX:
        _TEMPLATES.clear()
    _TEMPLATES[package] = template
    return template


def build_delivery_general(
    package: AuthorPackage,
    device: DeliveryTarget,
    vault: KeyVault,
    tsk: CoseKey,
    tsk_alg: Alg = Alg.ESP256,
    rng: RandomSource = DEFAULT_RANDOM,
) -> Delivery:
    """The general path: every structure built and encoded (the template's reference)."""
    enc = device_encryption_info(package, device.dak, vault, rng)
    return general_delivery_for(package, device, enc, tsk, tsk_alg)


def general_delivery_for(
    package: AuthorPackage, device: DeliveryTarget, enc: Encrypt, tsk: CoseKey, tsk_alg: Alg
) -> Delivery:
    """``delivery_for`` by the general path: every structure built and encoded."""
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
