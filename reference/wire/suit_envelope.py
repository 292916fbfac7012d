"""SUIT envelope, authentication wrapper, manifest and common section (structure only).

Why structure apart from crypto: decoding untrusted bytes must not depend on keys, and the
vector generator builds envelopes whose signature is wrong on purpose. Signing and verifying
(``suit_crypto``) operate on these classes.

Fidelity: every bstr-wrapped member keeps the bytes it was decoded from (``raw``), so an envelope
that was received re-encodes byte for byte and its manifest digest still verifies. Freshly built
structures encode deterministically (RFC 8949 §4.2.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import attrs
from edbp.reference.wire.cbor import Tag, dumps
from edbp.reference.wire.suit_commands import RAW_FIELD, CommandSequence, component_ids, set_raw
from edbp.reference.wire.suit_core import (
    CborItem,
    ComponentId,
    SuitDigest,
    as_dict,
    as_tuple,
    bad,
    check_component_id,
    expect_bstr,
    expect_uint,
    load_cbor,
    untag,
    wrap,
)
from edbp.reference.wire.suit_labels import (
    SEVERABLE_MEMBERS,
    SUIT_ENVELOPE_TAG,
    SUIT_MANIFEST_TAG,
    CommonKey,
    DependencyKey,
    EnvelopeKey,
    ManifestKey,
)

from edbp.errors import Code, WireError

__all__ = [
    "AuthenticationWrapper",
    "Common",
    "Dependency",
    "Envelope",
    "Manifest",
    "SuitText",
]

COSE_SIGN1_TAG = 18
COSE_MAC0_TAG = 17


# ---------------------------------------------------------------------------------- common


def _components(value: Iterable[Iterable[bytes]]) -> tuple[ComponentId, ...]:
    return tuple(tuple(c) for c in value)


def _optional_id(value: Iterable[bytes] | None) -> ComponentId | None:
    return None if value is None else tuple(value)


@attrs.frozen
class Dependency(CborItem):
    """SUIT_Dependency_Metadata (draft-ietf-suit-trust-domains): where a dependency manifest's
    components live (its prefix)."""

    prefix: ComponentId | None = None

    def to_cbor(self) -> dict[int, Any]:
        return {} if self.prefix is None else {DependencyKey.PREFIX: list(self.prefix)}

    @classmethod
    def from_cbor(cls, value: Any, lenient: bool) -> Dependency:
        if not isinstance(value, dict):
            raise bad("dependency metadata: expected a map")
        unknown = set(value) - {DependencyKey.PREFIX}
        if unknown and not lenient:
            raise bad(f"dependency metadata: unknown keys {sorted(unknown, key=repr)}")
        prefix = value.get(DependencyKey.PREFIX)
        return cls(None if prefix is None else check_component_id(prefix, "dependency prefix"))


@attrs.frozen
class Common:
    """SUIT_Common: the components, the dependencies (trust domains) and the shared sequence."""

    components: tuple[ComponentId, ...] = attrs.field(converter=_components)
    shared_sequence: CommandSequence | None = None
    dependencies: Mapping[int, Dependency] = attrs.field(factory=dict, converter=as_dict)
    raw: bytes | None = RAW_FIELD()

    @property
    def index_count(self) -> int:
        """Size of the component index space. Current trust-domains text: a dependency index
        names an entry of ``components`` (the dependency envelope's component); the published
        suit-firmware-encryption example puts dependencies after the components. Both are
        accepted: the space covers the components and every dependency index."""
        top = max(self.dependencies, default=-1) + 1
        return max(len(self.components), top)

    def is_dependency(self, index: int) -> bool:
        return index in self.dependencies

    def to_cbor(self) -> dict[int, Any]:
        out: dict[int, Any] = {CommonKey.COMPONENTS: [list(c) for c in self.components]}
        if self.dependencies:
            out[CommonKey.DEPENDENCIES] = {i: d.to_cbor() for i, d in self.dependencies.items()}
        if self.shared_sequence is not None:
            out[CommonKey.SHARED_SEQUENCE] = self.shared_sequence.encode()
        return out

    def encode(self) -> bytes:
        return self.raw if self.raw is not None else dumps(self.to_cbor())

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> Common:
        value = load_cbor(data, "SUIT_Common", lenient)
        if not isinstance(value, dict):
            raise bad("SUIT_Common: expected a map")
        unknown = set(value) - set(CommonKey)
        if unknown and not lenient:
            raise bad(f"SUIT_Common: unknown keys {sorted(unknown, key=repr)}")
        if CommonKey.COMPONENTS not in value:
            raise bad("SUIT_Common: components missing")
        components = component_ids(value[CommonKey.COMPONENTS])
        deps: dict[int, Dependency] = {}
        raw_deps = value.get(CommonKey.DEPENDENCIES)
        if raw_deps is not None:
            if not isinstance(raw_deps, dict) or not raw_deps:
                raise bad("SUIT_Dependencies: expected a non-empty map")
            for index, meta in raw_deps.items():
                index = expect_uint(index, "dependency index")
                deps[index] = Dependency.from_cbor(meta, lenient)
        shared = None
        if CommonKey.SHARED_SEQUENCE in value:
            shared = CommandSequence.decode(
                expect_bstr(value[CommonKey.SHARED_SEQUENCE], "shared sequence"),
                shared=True,
                lenient=lenient,
            )
        return set_raw(cls(components, shared, deps), bytes(data))


@attrs.frozen
class SuitText:
    """SUIT_Text_Map, held as decoded CBOR (only shown, never acted upon)."""

    value: Mapping[Any, Any] = attrs.field(converter=as_dict)
    raw: bytes | None = RAW_FIELD()

    def encode(self) -> bytes:
        return self.raw if self.raw is not None else dumps(self.value)

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> SuitText:
        value = load_cbor(data, "SUIT_Text_Map", lenient)
        if not isinstance(value, dict):
            raise bad("SUIT_Text_Map: expected a map")
        return set_raw(cls(value), bytes(data))


# -------------------------------------------------------------------------------- manifest

Severable: TypeAlias = CommandSequence | SuitDigest | None

_SEQUENCE_MEMBERS = {
    ManifestKey.VALIDATE: "validate",
    ManifestKey.LOAD: "load",
    ManifestKey.INVOKE: "invoke",
    ManifestKey.UNINSTALL: "uninstall",
    ManifestKey.DEPENDENCY_RESOLUTION: "dependency_resolution",
    ManifestKey.PAYLOAD_FETCH: "payload_fetch",
    ManifestKey.INSTALL: "install",
}
#: manifest members outside the edbp profile (load/invoke: the TEEP Agent does not boot; the
#: SUIT manifest draft lets a processor exclude a manifest with an unsupported command)
_LENIENT_ONLY = {ManifestKey.LOAD, ManifestKey.INVOKE}


@attrs.frozen
class Manifest:
    """SUIT_Manifest (version 1). Severable members (dependency-resolution, payload-fetch,
    install, text) are either present or replaced by their ``SuitDigest``."""

    sequence_number: int
    common: Common
    validate: CommandSequence | None = None
    install: Severable = None
    payload_fetch: Severable = None
    dependency_resolution: Severable = None
    text: SuitText | SuitDigest | None = None
    component_id: ComponentId | None = attrs.field(default=None, converter=_optional_id)
    reference_uri: str | None = None
    load: CommandSequence | None = None
    invoke: CommandSequence | None = None
    uninstall: CommandSequence | None = None
    version: int = 1
    raw: bytes | None = RAW_FIELD()

    def to_cbor(self) -> dict[int, Any]:
        out: dict[int, Any] = {
            ManifestKey.MANIFEST_VERSION: self.version,
            ManifestKey.SEQUENCE_NUMBER: self.sequence_number,
            ManifestKey.COMMON: self.common.encode(),
        }
        if self.reference_uri is not None:
            out[ManifestKey.REFERENCE_URI] = self.reference_uri
        if self.component_id is not None:
            out[ManifestKey.MANIFEST_COMPONENT_ID] = list(self.component_id)
        for key, attr in _SEQUENCE_MEMBERS.items():
            member = getattr(self, attr)
            if isinstance(member, CommandSequence):
                out[key] = member.encode()
            elif isinstance(member, SuitDigest):
                out[key] = member.to_cbor()
        if isinstance(self.text, SuitText):
            out[ManifestKey.TEXT] = self.text.encode()
        elif isinstance(self.text, SuitDigest):
            out[ManifestKey.TEXT] = self.text.to_cbor()
        return out

    def encode(self) -> bytes:
        """The manifest's bytes (content of the envelope's bstr); received bytes verbatim."""
        return self.raw if self.raw is not None else dumps(self.to_cbor())

    def digest(self, alg: int = -16) -> SuitDigest:
        """The digest the authentication wrapper carries: over the bstr-wrapped manifest."""
        return SuitDigest.of(wrap(self.encode()), alg)

    def sequence(self, key: int) -> CommandSequence | None:
        """A command sequence by manifest key; a severed member must be resolved by the envelope."""
        attr = _SEQUENCE_MEMBERS.get(ManifestKey(key))
        member = getattr(self, attr) if attr else None
        if isinstance(member, SuitDigest):
            raise WireError(
                Code.SUIT_SEVERABLE_MISMATCH, f"member {key} is severed; use the envelope"
            )
        return member

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> Manifest:
        value = load_cbor(data, "SUIT_Manifest", lenient)
        value = untag(value, SUIT_MANIFEST_TAG, "SUIT_Manifest", required=False)
        if not isinstance(value, dict):
            raise bad("SUIT_Manifest: expected a map")
        known = set(ManifestKey)
        for key in value:
            if key not in known or (key in _LENIENT_ONLY and not lenient):
                if lenient and key not in known:
                    continue
                raise bad(
                    f"SUIT_Manifest: member {key!r} not supported", Code.SUIT_UNSUPPORTED_COMMAND
                )
        version = value.get(ManifestKey.MANIFEST_VERSION)
        if version != 1 or isinstance(version, bool):
            raise WireError(Code.SUIT_UNSUPPORTED_VERSION, f"manifest version {version!r}")
        if ManifestKey.SEQUENCE_NUMBER not in value or ManifestKey.COMMON not in value:
            raise bad("SUIT_Manifest: sequence number or common missing")
        seq = expect_uint(value[ManifestKey.SEQUENCE_NUMBER], "sequence number")
        common = Common.decode(expect_bstr(value[ManifestKey.COMMON], "common"), lenient)
        kwargs: dict[str, Any] = {}
        for key, attr in _SEQUENCE_MEMBERS.items():
            if key not in value:
                continue
            member = value[key]
            if isinstance(member, list) and key in SEVERABLE_MEMBERS:
                kwargs[attr] = SuitDigest.from_cbor(member, lenient)
            else:
                kwargs[attr] = CommandSequence.decode(
                    expect_bstr(member, attr),
                    lenient=lenient,
                    uninstall=key == ManifestKey.UNINSTALL,
                )
        if ManifestKey.TEXT in value:
            member = value[ManifestKey.TEXT]
            if isinstance(member, list):
                kwargs["text"] = SuitDigest.from_cbor(member, lenient)
            else:
                kwargs["text"] = SuitText.decode(expect_bstr(member, "text"), lenient)
        if ManifestKey.MANIFEST_COMPONENT_ID in value:
            kwargs["component_id"] = check_component_id(
                value[ManifestKey.MANIFEST_COMPONENT_ID], "manifest component id"
            )
        if ManifestKey.REFERENCE_URI in value:
            uri = value[ManifestKey.REFERENCE_URI]
            if not isinstance(uri, str):
                raise bad("reference-uri: expected a text string")
            kwargs["reference_uri"] = uri
        return set_raw(cls(sequence_number=seq, common=common, **kwargs), bytes(data))


# ----------------------------------------------------------------- authentication wrapper


@attrs.frozen
class AuthenticationWrapper:
    """SUIT_Authentication = [bstr .cbor SUIT_Digest, * bstr .cbor SUIT_Authentication_Block].

    Blocks are held as their exact bytes (a tagged COSE_Sign1 with nil payload in the edbp
    profile; a tagged COSE_Mac0 is kept too and counts only where the verifier allows a MAC
    algorithm): the COSE layer decodes and verifies them."""

    digest: SuitDigest
    blocks: tuple[bytes, ...] = attrs.field(converter=as_tuple, default=())
    raw: bytes | None = RAW_FIELD()
    digest_raw: bytes | None = RAW_FIELD()

    def to_cbor(self) -> list[Any]:
        digest_bytes = self.digest_raw if self.digest_raw is not None else self.digest.encode()
        return [digest_bytes, *self.blocks]

    def encode(self) -> bytes:
        return self.raw if self.raw is not None else dumps(self.to_cbor())

    @property
    def signed_payload(self) -> bytes:
        """The detached COSE payload every block authenticates: the encoded SUIT_Digest."""
        return self.digest_raw if self.digest_raw is not None else self.digest.encode()

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> AuthenticationWrapper:
        value = load_cbor(data, "SUIT_Authentication", lenient)
        if not isinstance(value, list) or not value:
            raise bad("SUIT_Authentication: expected [digest, * blocks]")
        digest_raw = expect_bstr(value[0], "authentication digest")
        digest = SuitDigest.decode(digest_raw, lenient)
        blocks = []
        for block in value[1:]:
            block = expect_bstr(block, "authentication block")
            item = load_cbor(block, "authentication block", lenient)
            # COSE_Sign1 and COSE_Mac0 (draft-ietf-suit-manifest, SUIT_Authentication_Block);
            # COSE_Sign and COSE_Mac (several signers) are outside the profile
            if not isinstance(item, Tag) or item.tag not in (COSE_SIGN1_TAG, COSE_MAC0_TAG):
                raise bad(
                    "authentication block: expected a tagged COSE_Sign1 or COSE_Mac0",
                    Code.SUIT_AUTH_FAILED,
                )
            body = item.value
            if not isinstance(body, list) or len(body) != 4 or body[2] is not None:
                raise bad("authentication block: expected a COSE structure with detached payload")
            blocks.append(block)
        obj = set_raw(cls(digest, blocks), bytes(data))
        object.__setattr__(obj, "digest_raw", digest_raw)
        return obj


# -------------------------------------------------------------------------------- envelope


@attrs.frozen
class Envelope:
    """SUIT_Envelope_Tagged (107): authentication wrapper, manifest, severed members and
    integrated payloads / dependencies (text keys, e.g. ``"#dependency-manifest"``)."""

    authentication: AuthenticationWrapper
    manifest: Manifest
    severed: Mapping[int, bytes] = attrs.field(factory=dict, converter=as_dict)
    integrated: Mapping[str, bytes] = attrs.field(factory=dict, converter=as_dict)
    raw: bytes | None = RAW_FIELD()

    def to_cbor(self) -> Tag:
        body: dict[Any, Any] = {
            EnvelopeKey.AUTHENTICATION_WRAPPER: self.authentication.encode(),
            EnvelopeKey.MANIFEST: self.manifest.encode(),
        }
        body.update(self.severed)
        body.update(self.integrated)
        return Tag(SUIT_ENVELOPE_TAG, body)

    def encode(self) -> bytes:
        return self.raw if self.raw is not None else dumps(self.to_cbor())

    def digest_matches(self) -> bool:
        """True when the wrapper's digest covers this manifest (constant-time comparison)."""
        return self.authentication.digest.matches(wrap(self.manifest.encode()))

    def sequence(self, key: int, lenient: bool = False) -> CommandSequence | None:
        """A command sequence, taken from the envelope when the manifest holds only its digest."""
        attr = _SEQUENCE_MEMBERS[ManifestKey(key)]
        member: Severable = getattr(self.manifest, attr)
        if isinstance(member, SuitDigest):
            data = self.severed.get(int(key))
            if data is None:
                return None
            if not member.matches(wrap(data)):
                raise WireError(
                    Code.SUIT_SEVERABLE_MISMATCH, f"severed member {key} digest mismatch"
                )
            return CommandSequence.decode(
                data, lenient=lenient, uninstall=key == ManifestKey.UNINSTALL
            )
        return member

    def integrated_envelope(self, key: str, lenient: bool = False) -> Envelope:
        """An integrated dependency (trust domains): a whole envelope under a text key."""
        if key not in self.integrated:
            raise WireError(Code.SUIT_DEPENDENCY_FAILED, f"no integrated item {key!r}")
        return Envelope.decode(self.integrated[key], lenient)

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> Envelope:
        """Tagged (SUIT_Envelope_Tagged, as stored in a registry) or untagged (as TEEP's
        ``manifest-list`` carries it: ``bstr .cbor SUIT_Envelope``); any other tag is refused."""
        value = load_cbor(data, "SUIT_Envelope", lenient)
        body = untag(value, SUIT_ENVELOPE_TAG, "SUIT_Envelope", required=False)
        if not isinstance(body, dict):
            raise bad("SUIT_Envelope: expected a map")
        if EnvelopeKey.AUTHENTICATION_WRAPPER not in body or EnvelopeKey.MANIFEST not in body:
            raise bad("SUIT_Envelope: authentication wrapper or manifest missing")
        auth = AuthenticationWrapper.decode(
            expect_bstr(body[EnvelopeKey.AUTHENTICATION_WRAPPER], "authentication wrapper"), lenient
        )
        manifest = Manifest.decode(expect_bstr(body[EnvelopeKey.MANIFEST], "manifest"), lenient)
        severed: dict[int, bytes] = {}
        integrated: dict[str, bytes] = {}
        for key, member in body.items():
            if key in (EnvelopeKey.AUTHENTICATION_WRAPPER, EnvelopeKey.MANIFEST):
                continue
            if isinstance(key, str):
                integrated[key] = expect_bstr(member, f"integrated item {key!r}")
                continue
            if key not in SEVERABLE_MEMBERS:
                if lenient:
                    continue
                raise bad(
                    f"SUIT_Envelope: member {key!r} not supported", Code.SUIT_UNSUPPORTED_COMMAND
                )
            member = expect_bstr(member, f"severed member {key}")
            attr = "text" if key == ManifestKey.TEXT else _SEQUENCE_MEMBERS[ManifestKey(key)]
            expected = getattr(manifest, attr)
            if not isinstance(expected, SuitDigest):
                raise WireError(
                    Code.SUIT_SEVERABLE_MISMATCH, f"member {key} is not severed in the manifest"
                )
            if not expected.matches(wrap(member)):
                raise WireError(
                    Code.SUIT_SEVERABLE_MISMATCH, f"severed member {key} digest mismatch"
                )
            if key == ManifestKey.TEXT:
                SuitText.decode(member, lenient)
            else:
                CommandSequence.decode(member, lenient=lenient)
            severed[int(key)] = member
        return set_raw(cls(auth, manifest, severed, integrated), bytes(data))


def untagged_envelope(data: bytes) -> bytes:
    """The envelope as TEEP's ``manifest-list`` carries it: without tag 107 (``d8 6b``)."""
    return data[2:] if data[:2] == b"\xd8\x6b" else data
