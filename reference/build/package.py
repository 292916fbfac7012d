"""The edbp package layout: component ids, vendor/class ids, and reading an author envelope back.

Why one module for both sides: the Author writes the author manifest and the TAM (and the
conformance suite) read it; the layout below is stated once, and ``read_author_envelope``
refuses an envelope that does not follow it (SUIT_MALFORMED) instead of guessing.

Author manifest (layer 1, signed by the ASK; spec/messages.cddl ``edbp-suit-envelope-author``)::

    manifest-component-id  ['edbp', 'author', ta-uuid]
    components             [0: ['TEEP-Device', 'SecureFS', ta-uuid]    the TA (plaintext image)
                            1: ['edbp', 'ciphertext', ta-uuid]]        REE staging (ciphertext)
    shared-sequence        index 0: override {vendor-id, class-id, image-digest, image-size}
                                    condition-vendor-identifier, condition-class-identifier
                           index 1: override {image-digest, image-size} of the ciphertext
    payload-fetch          index 1: override {uri}, directive-fetch, condition-image-match
    install                index 0: set {encryption-info} (a default: the TAM's device
                                    manifest supplies the device's own), override
                                    {source-component: 1}, directive-copy (decrypt),
                                    condition-image-match
    validate               index 0: condition-image-match

The encryption info is a COSE_Encrypt (detached, nil ciphertext) with one recipient: the CEK
wrapped A256KW under the class key, kid = UTF-8 ``"<class-key-id>#<version>"``. No device can
use it; the TAM re-wraps the CEK per device (``edbp.reference.cloud.delivery``).

The ciphertext digest is signed as well as the plaintext digest, so an Agent checks the
ciphertext before it decrypts a byte (P9), whatever the content algorithm.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import attrs
from edbp.reference.cloud.keyvault import WrappedCek
from edbp.reference.wire.cose_algs import Alg, HeaderLabel
from edbp.reference.wire.cose_encrypt import Encrypt
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_commands import Command, CommandSequence, Parameters
from edbp.reference.wire.suit_core import ComponentId, SuitDigest
from edbp.reference.wire.suit_crypto import verify_envelope
from edbp.reference.wire.suit_envelope import Envelope, Manifest
from edbp.reference.wire.suit_labels import SuitCommand, SuitParam

from edbp.errors import Code, EdbpError, WireError

__all__ = [
    "CONTENT_ALGS",
    "AuthorPackage",
    "author_manifest_id",
    "class_id_for",
    "device_manifest_id",
    "parameters_by_index",
    "read_author_envelope",
    "staging_component",
    "ta_component",
    "vendor_id_for",
]

#: Content algorithms the Author emits: A128GCM (profile [-16,-9,-29,1], mandatory) and
#: A128CTR (profile [-16,-9,-29,-65534], integrity from the signed digests)
CONTENT_ALGS = frozenset({Alg.A128GCM, Alg.A128CTR})
TA_INDEX = 0
STAGING_INDEX = 1


def ta_component(ta_uuid: bytes) -> ComponentId:
    """The installed TA: TEEP's component id for a TA in OP-TEE's secure storage."""
    return (b"TEEP-Device", b"SecureFS", bytes(ta_uuid))


def staging_component(ta_uuid: bytes) -> ComponentId:
    """Where the Broker keeps the fetched ciphertext (REE, untrusted)."""
    return (b"edbp", b"ciphertext", bytes(ta_uuid))


def author_manifest_id(ta_uuid: bytes) -> ComponentId:
    return (b"edbp", b"author", bytes(ta_uuid))


def device_manifest_id(ta_uuid: bytes, ueid: bytes) -> ComponentId:
    return (b"edbp", b"device", bytes(ta_uuid), bytes(ueid))


def vendor_id_for(domain: str) -> bytes:
    """SUIT vendor id: UUID5(DNS namespace, vendor domain) (draft-ietf-suit-manifest §8.4.8.3)."""
    return uuid.uuid5(uuid.NAMESPACE_DNS, domain).bytes


def class_id_for(vendor_id: bytes, model: str) -> bytes:
    """SUIT class id: UUID5(vendor id, model name)."""
    return uuid.uuid5(uuid.UUID(bytes=vendor_id), model).bytes


def parameters_by_index(sequences: Iterable[CommandSequence | None]) -> dict[int, dict[int, Any]]:
    """Apply set-component-index / override-parameters of ``sequences`` in order; the parameter
    values in effect per component index (for reading manifests edbp itself wrote)."""
    params: dict[int, dict[int, Any]] = {}
    current: tuple[int, ...] = ()
    for seq in sequences:
        if seq is None:
            continue
        for cmd in seq:
            if cmd.code == SuitCommand.DIRECTIVE_SET_COMPONENT_INDEX:
                if isinstance(cmd.arg, bool):
                    raise WireError(Code.SUIT_MALFORMED, "edbp manifests name component indices")
                current = cmd.arg if isinstance(cmd.arg, tuple) else (cmd.arg,)
            elif cmd.code == SuitCommand.DIRECTIVE_OVERRIDE_PARAMETERS:
                for i in current:
                    params.setdefault(i, {}).update(cmd.arg.values)
            elif cmd.code == SuitCommand.DIRECTIVE_SET_PARAMETERS:  # defaults: never replace
                for i in current:
                    target = params.setdefault(i, {})
                    for label, value in cmd.arg.values.items():
                        target.setdefault(label, value)
    return params


def class_recipient_kid(wrapped: WrappedCek) -> bytes:
    return f"{wrapped.key_id}#{wrapped.version}".encode()


def parse_class_recipient_kid(kid: bytes) -> tuple[str, int]:
    try:
        key_id, _, version = kid.decode().rpartition("#")
        if not key_id or not version.isdigit():
            raise ValueError
        return key_id, int(version)
    except (UnicodeDecodeError, ValueError):
        raise WireError(
            Code.SUIT_ENCRYPTION_INFO, "class-key recipient kid is not '<id>#<version>'"
        ) from None


@attrs.frozen
class AuthorPackage:
    """What a verified author envelope says, in the names the TAM and the tests use."""

    envelope: bytes = attrs.field(repr=False)
    manifest_digest: SuitDigest
    sequence: int
    ta_uuid: bytes
    vendor_id: bytes
    class_id: bytes
    image_digest: SuitDigest
    image_size: int
    ciphertext_digest: SuitDigest
    ciphertext_size: int
    uri: str
    content_alg: Alg
    iv: bytes
    content_protected: bytes  # the content layer's protected bytes (the AEAD's Enc_structure)
    wrapped_cek: WrappedCek

    @property
    def component_id(self) -> ComponentId:
        return ta_component(self.ta_uuid)


def _need(params: dict[int, Any], label: SuitParam, what: str) -> Any:
    if int(label) not in params:
        raise WireError(Code.SUIT_MALFORMED, f"author manifest: {what} missing")
    return params[int(label)]


def read_author_envelope(data: bytes, ask_keys: CoseKey | Iterable[CoseKey]) -> AuthorPackage:
    """Verify an author envelope under the trusted Author signing key(s) and read it.

    Refusals: SUIT_AUTH_FAILED / SUIT_DIGEST_MISMATCH (signature), SUIT_MALFORMED (not the
    edbp author layout), SUIT_ENCRYPTION_INFO (no class-key recipient)."""
    envelope = Envelope.decode(data)
    manifest: Manifest = verify_envelope(envelope, ask_keys)
    try:
        return _read(data, envelope, manifest)
    except EdbpError:
        raise
    except (AttributeError, TypeError, ValueError, IndexError, KeyError):
        raise WireError(
            Code.SUIT_MALFORMED, "author manifest does not follow the edbp layout"
        ) from None


def _read(data: bytes, envelope: Envelope, manifest: Manifest) -> AuthorPackage:
    comps = manifest.common.components
    if len(comps) != 2 or manifest.component_id is None or len(manifest.component_id) != 3:
        raise WireError(Code.SUIT_MALFORMED, "author manifest: expected two components and an id")
    ta_uuid = manifest.component_id[2]
    if (
        comps[TA_INDEX] != ta_component(ta_uuid)
        or comps[STAGING_INDEX] != staging_component(ta_uuid)
        or manifest.component_id != author_manifest_id(ta_uuid)
    ):
        raise WireError(Code.SUIT_MALFORMED, "author manifest: component ids")
    params = parameters_by_index(
        [
            manifest.common.shared_sequence,
            envelope.sequence(16),
            envelope.sequence(20),
        ]
    )
    ta, staging = params.get(TA_INDEX, {}), params.get(STAGING_INDEX, {})
    info = _need(ta, SuitParam.ENCRYPTION_INFO, "encryption info")
    enc: Encrypt = info.cose()
    alg = enc.headers.alg(CONTENT_ALGS)
    iv = enc.headers.get(HeaderLabel.IV)
    if len(enc.recipients) != 1:
        raise WireError(Code.SUIT_ENCRYPTION_INFO, "author encryption info: one recipient expected")
    recipient = enc.recipients[0]
    if recipient.headers.get(HeaderLabel.ALG) != Alg.A256KW or recipient.headers.protected_raw:
        raise WireError(
            Code.SUIT_ENCRYPTION_INFO, "author encryption info: A256KW class-key recipient expected"
        )
    kid = recipient.headers.kid
    if kid is None:
        raise WireError(Code.SUIT_ENCRYPTION_INFO, "class-key recipient without kid")
    key_id, version = parse_class_recipient_kid(kid)
    try:
        wrapped = WrappedCek(key_id, version, recipient.ciphertext)
    except EdbpError:
        raise WireError(Code.SUIT_ENCRYPTION_INFO, "class-key recipient: bad wrapped CEK") from None
    return AuthorPackage(
        envelope=data,
        manifest_digest=manifest.digest(),
        sequence=manifest.sequence_number,
        ta_uuid=ta_uuid,
        vendor_id=_need(ta, SuitParam.VENDOR_IDENTIFIER, "vendor id"),
        class_id=_need(ta, SuitParam.CLASS_IDENTIFIER, "class id"),
        image_digest=_need(ta, SuitParam.IMAGE_DIGEST, "image digest"),
        image_size=_need(ta, SuitParam.IMAGE_SIZE, "image size"),
        ciphertext_digest=_need(staging, SuitParam.IMAGE_DIGEST, "ciphertext digest"),
        ciphertext_size=_need(staging, SuitParam.IMAGE_SIZE, "ciphertext size"),
        uri=_need(staging, SuitParam.URI, "payload uri"),
        content_alg=alg,
        iv=iv,
        content_protected=enc.headers.protected_raw,
        wrapped_cek=wrapped,
    )


def command(code: SuitCommand, arg: Any = 15) -> Command:
    """A command with the reporting policy edbp uses (15: records and sysinfo, both outcomes)."""
    return Command(int(code), arg)


def override(**kwargs: Any) -> Command:
    return Command(int(SuitCommand.DIRECTIVE_OVERRIDE_PARAMETERS), Parameters.of(**kwargs))


def set_defaults(**kwargs: Any) -> Command:
    """set-parameters: values a dependent (the TAM's device manifest) may already have set."""
    return Command(int(SuitCommand.DIRECTIVE_SET_PARAMETERS), Parameters.of(**kwargs))


def select(index: int) -> Command:
    return Command(int(SuitCommand.DIRECTIVE_SET_COMPONENT_INDEX), index)
