"""``deploy.verify_update``: from the SUIT envelopes of a TEEP Update to an install plan.

Why a processor of its own: the Agent must run the two trust domains of the delivery exactly
as SUIT defines them (draft-ietf-suit-manifest, -trust-domains, -firmware-encryption), yet it
must not fetch or decrypt anything while it does (P9: every signature, id and binding is
checked first). So the command sequences are *interpreted*: conditions are evaluated at once,
and the directives that touch data (fetch, copy with decryption) become an ``InstallPlan`` that
the Agent executes afterwards, in order, with its digests.

What the Agent accepts (the edbp profile of the delivery):

- **TAM envelope** (first entry of ``manifest_list``), authenticated by a TAM Signing Key trust
  anchor. Its common section lists the component(s) it parameterises and one dependency index
  for the author manifest. Its sequences (dependency-resolution, payload-fetch, install, in
  that order) typically: select the dependency, set ``image-digest`` (the author envelope's
  manifest digest) and ``uri`` (``"#..."`` for an integrated dependency, or any URI when the
  author envelope is another entry of ``manifest_list``), ``condition-dependency-integrity``;
  select the component and ``override-parameters`` its device-specific values, chiefly
  ``encryption-info`` (the CEK wrapped with ECDH-ES+A128KW to this device's DAK; the recipient's
  ``kid`` is the DAK thumbprint and/or its PartyV identity the device's UEID); then
  ``process-dependency``.
- **Author envelope**, authenticated by an Author Signing Key trust anchor. It carries the
  component identifier, the sequence number the floor is kept on, vendor and class conditions,
  the plaintext image digest and size, and the payload steps: fetch of the ciphertext into a
  second (cache) component with its digest and ``condition-image-match`` (the ciphertext digest
  the Agent checks before decrypting), then ``copy`` from that component into the TC with
  ``encryption-info`` in effect and ``condition-image-match`` on the plaintext. Values the
  author gives with ``set-parameters`` are defaults a dependent (the TAM) may have pre-set
  (``encryption-info``, ``uri``); values given with ``override-parameters`` are the author's and
  win (digests, sizes, ids).

Parameters flow from the dependent into the dependency by component identifier: when the TAM
runs ``process-dependency``, its parameters for a component of the same identifier seed that
component in the author's processing (SUIT's set/override semantics then apply).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

import attrs
from edbp.reference.wire.cose_algs import Alg, HeaderLabel
from edbp.reference.wire.cose_encrypt import Encrypt, enc_structure
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_commands import Parameters
from edbp.reference.wire.suit_core import ComponentId, SuitDigest
from edbp.reference.wire.suit_crypto import SUIT_CONTENT_ALGS, verify_envelope
from edbp.reference.wire.suit_envelope import Envelope
from edbp.reference.wire.suit_labels import ManifestKey, SuitCommand, SuitParam
from edbp.reference.wire.suit_process import (
    ParameterStore,
    check_class,
    check_dependency_integrity,
    check_vendor,
    component_for,
)

from edbp.errors import Code, EdbpError, ProtocolError, VerificationError, WireError

__all__ = ["DeviceIdentity", "InstallPlan", "TrustAnchors", "verify_update"]

_C = SuitCommand
#: The sequences run for an install, in SUIT's order
_MEMBERS = (
    ManifestKey.DEPENDENCY_RESOLUTION,
    ManifestKey.PAYLOAD_FETCH,
    ManifestKey.INSTALL,
    ManifestKey.VALIDATE,
)
#: Parameters a dependent (the TAM) sets for the device that the dependency (the Author, who
#: addresses the class key) cannot replace: the device's own key delivery
_DEPENDENT_WINS = (int(SuitParam.ENCRYPTION_INFO),)
_MAX_DEPTH = 2  # TAM → author; the author has no dependencies of its own


@attrs.frozen
class TrustAnchors:
    """Public keys the Agent trusts, provisioned at manufacture (``adapter: provision``)."""

    tam: tuple[CoseKey, ...] = attrs.field(converter=tuple)
    author: tuple[CoseKey, ...] = attrs.field(converter=tuple)
    ta_signers: tuple[Any, ...] = attrs.field(default=(), converter=tuple)  # RSA public keys


@attrs.frozen
class DeviceIdentity:
    """What the manifests' conditions are checked against."""

    ueid: bytes
    vendor_id: bytes
    class_id: bytes


@attrs.frozen
class InstallPlan:
    """What the verified manifests direct, for the Agent to execute in order."""

    component_id: ComponentId
    sequence: int  # the author manifest's sequence number (the floor's unit)
    author_envelope: bytes
    author_digest: SuitDigest  # digest of the author manifest (named in reports)
    tam_digest: SuitDigest
    uri: str  # where the Broker fetches the ciphertext
    ciphertext_digest: SuitDigest
    ciphertext_size: int
    encryption: Encrypt = attrs.field(repr=False)  # the device's encryption info
    plaintext_digest: SuitDigest
    plaintext_size: int | None

    @property
    def content_alg(self) -> Alg:
        return self.encryption.headers.alg(SUIT_CONTENT_ALGS)

    @property
    def iv(self) -> bytes:
        iv = self.encryption.headers.get(HeaderLabel.IV)
        if not isinstance(iv, bytes):
            raise WireError(Code.SUIT_ENCRYPTION_INFO, "encryption info has no IV")
        return iv

    @property
    def aad(self) -> bytes:
        return enc_structure("Encrypt", self.encryption.headers.protected_raw, b"")


@attrs.frozen
class _Content:
    """What a component holds once a fetch or copy directive has run (planned, not done)."""

    fetched: bool  # True: fetched from ``uri``; False: copied from ``source``
    uri: str | None = None
    source: ComponentId | None = None
    encryption: Any = None  # EncryptionInfo in effect (decrypt on fetch/copy)
    digest: SuitDigest | None = None  # set by condition-image-match
    size: int | None = None
    depth: int = 0


class _Interpreter:
    """One interpretation of a TAM envelope and the author envelope it depends on."""

    def __init__(
        self, device: DeviceIdentity, anchors: TrustAnchors, others: Sequence[bytes]
    ) -> None:
        self.device = device
        self.anchors = anchors
        self.others = others
        self.author: Envelope | None = None
        self.author_bytes = b""
        self.checked: set[tuple[int, int, ComponentId]] = set()  # (command, depth, component)
        self.contents: dict[ComponentId, _Content] = {}
        self.deps: dict[tuple[int, int], Envelope] = {}

    def run(self, envelope: Envelope, depth: int, seed: dict[ComponentId, dict[int, Any]]) -> None:
        common = envelope.manifest.common
        store = ParameterStore(
            {i: dict(seed.get(tuple(cid), {})) for i, cid in enumerate(common.components)}
        )
        # what the dependent (TAM) delivers for this device outranks the dependency's values
        sticky = {
            i: {
                label: seed[tuple(cid)][label]
                for label in _DEPENDENT_WINS
                if label in seed.get(tuple(cid), {})
            }
            for i, cid in enumerate(common.components)
        }
        sticky = {i: v for i, v in sticky.items() if v}
        if common.shared_sequence is not None:
            store = self._walk(common.shared_sequence, envelope, depth, store, sticky)
        for member in _MEMBERS:
            seq = envelope.sequence(member)
            if seq is not None:
                # each sequence starts from what the shared sequence left
                self._walk(seq, envelope, depth, store, sticky)

    def _walk(
        self,
        seq: Any,
        envelope: Envelope,
        depth: int,
        store: ParameterStore,
        sticky: dict[int, dict[int, Any]],
    ) -> ParameterStore:
        common = envelope.manifest.common
        selected: tuple[int, ...] = (0,)
        for command in seq:
            code = command.code
            if code == _C.DIRECTIVE_SET_COMPONENT_INDEX:
                selected = _select(command.arg, common.index_count)
            elif code in (_C.DIRECTIVE_SET_PARAMETERS, _C.DIRECTIVE_OVERRIDE_PARAMETERS):
                store = store.apply(command, selected)
                if any(i in sticky for i in selected):
                    by_index = {i: dict(v) for i, v in store.by_index.items()}
                    for i in selected:
                        by_index.setdefault(i, {}).update(sticky.get(i, {}))
                    store = ParameterStore(by_index)
            else:
                for index in selected:
                    self._exec(code, command, index, envelope, depth, store)
        return store

    def _exec(
        self,
        code: int,
        command: Any,
        index: int,
        envelope: Envelope,
        depth: int,
        store: ParameterStore,
    ) -> None:
        common = envelope.manifest.common
        params = store.parameters(index)
        if common.is_dependency(index):
            if code == _C.CONDITION_DEPENDENCY_INTEGRITY:
                if depth >= _MAX_DEPTH - 1:
                    raise WireError(
                        Code.SUIT_DEPENDENCY_FAILED, "the author manifest has dependencies"
                    )
                self.deps[(depth, index)] = self._dependency(envelope, params)
            elif code == _C.DIRECTIVE_PROCESS_DEPENDENCY:
                dep = self.deps.get((depth, index))
                if dep is None:
                    raise VerificationError(
                        Code.SUIT_DEPENDENCY_FAILED,
                        "process-dependency before dependency-integrity",
                    )
                seed = {
                    tuple(cid): dict(store.by_index.get(i, {}))
                    for i, cid in enumerate(common.components)
                }
                self.run(dep, depth + 1, seed)
            elif code != _C.CONDITION_IS_DEPENDENCY:
                raise WireError(Code.SUIT_UNSUPPORTED_COMMAND, f"{command.name} on a dependency")
            return
        cid = component_for(common, index)
        if code == _C.CONDITION_VENDOR_IDENTIFIER:
            check_vendor(params, self.device.vendor_id)
        elif code == _C.CONDITION_CLASS_IDENTIFIER:
            check_class(params, self.device.class_id)
        elif code == _C.DIRECTIVE_FETCH:
            if params.uri is None:
                raise WireError(Code.SUIT_MALFORMED, "fetch without a uri")
            self.contents[cid] = _Content(
                True, uri=params.uri, encryption=params.encryption_info, depth=depth
            )
        elif code == _C.DIRECTIVE_COPY:
            if params.source_component is None:
                raise WireError(Code.SUIT_MALFORMED, "copy without source-component")
            source = component_for(common, params.source_component)
            if source not in self.contents:
                raise WireError(Code.SUIT_MALFORMED, "copy from a component with no content")
            self.contents[cid] = _Content(
                False, source=source, encryption=params.encryption_info, depth=depth
            )
        elif code == _C.CONDITION_IMAGE_MATCH:
            content = self.contents.get(cid)
            if content is None or params.image_digest is None:
                raise VerificationError(
                    Code.SUIT_CONDITION_IMAGE_DIGEST, "image-match with no content or no digest"
                )
            self.contents[cid] = attrs.evolve(
                content, digest=params.image_digest, size=params.image_size
            )
        else:
            raise WireError(
                Code.SUIT_UNSUPPORTED_COMMAND, f"{command.name} is not run by the Agent"
            )
        self.checked.add((code, depth, cid))

    def _dependency(self, envelope: Envelope, params: Parameters) -> Envelope:
        """condition-dependency-integrity: find the author envelope (integrated, or another
        entry of the Update), check its digest, then its author signature."""
        uri = params.uri
        data: bytes | None = None
        if uri is not None and uri.startswith("#"):
            data = envelope.integrated.get(uri)
        elif params.image_digest is not None:
            for other in self.others:
                try:
                    candidate = Envelope.decode(other)
                except EdbpError:
                    continue
                got = candidate.authentication.digest
                want = params.image_digest
                if got.alg == want.alg and hmac.compare_digest(got.digest, want.digest):
                    data = other
                    break
        if data is None:
            raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "author envelope not supplied")
        dep = check_dependency_integrity(params, data)
        verify_envelope(dep, self.anchors.author)
        if self.author is not None and self.author_bytes != data:
            raise WireError(Code.SUIT_DEPENDENCY_FAILED, "more than one author manifest")
        self.author, self.author_bytes = dep, data
        return dep


def _select(arg: Any, count: int) -> tuple[int, ...]:
    if arg is True:
        return tuple(range(count))
    indices = arg if isinstance(arg, tuple) else (arg,)
    for i in indices:
        if not 0 <= i < count:
            raise WireError(Code.SUIT_COMPONENT_UNKNOWN, f"component index {i} of {count}")
    return tuple(indices)


def verify_update(
    manifest_list: Sequence[bytes], device: DeviceIdentity, anchors: TrustAnchors
) -> InstallPlan:
    """Authenticate the TAM envelope (first entry) and the author envelope it depends on, run
    both manifests' conditions against ``device``, and return what to fetch, check, decrypt
    and install. Nothing is fetched or decrypted here."""
    if not manifest_list:
        raise WireError(Code.TEEP_MALFORMED, "Update without manifests")
    tam_bytes, *others = manifest_list
    tam = Envelope.decode(tam_bytes)
    verify_envelope(tam, anchors.tam)  # SUIT_DIGEST_MISMATCH / SUIT_AUTH_FAILED
    _check_manifest_binding(tam, device.ueid)
    if not tam.manifest.common.dependencies:
        raise VerificationError(
            Code.SUIT_DEPENDENCY_FAILED, "TAM manifest names no author manifest"
        )
    run = _Interpreter(device, anchors, others)
    run.run(tam, 0, {})
    author = run.author
    if author is None:
        raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "author manifest not processed")
    targets = [(cid, c) for cid, c in run.contents.items() if c.encryption is not None]
    if len(targets) != 1:
        raise WireError(Code.SUIT_ENCRYPTION_INFO, "expected one encrypted component")
    cid, target = targets[0]
    if cid not in {tuple(c) for c in author.manifest.common.components}:
        raise WireError(
            Code.SUIT_COMPONENT_UNKNOWN, "installed component not in the author manifest"
        )
    # the author's own manifest must condition vendor and class on the installed component
    if (_C.CONDITION_VENDOR_IDENTIFIER, 1, cid) not in run.checked:
        raise VerificationError(Code.SUIT_CONDITION_VENDOR, "author manifest checks no vendor id")
    if (_C.CONDITION_CLASS_IDENTIFIER, 1, cid) not in run.checked:
        raise VerificationError(Code.SUIT_CONDITION_CLASS, "author manifest checks no class id")
    if target.digest is None:
        raise VerificationError(Code.SUIT_CONDITION_IMAGE_DIGEST, "no image-match on the image")
    if target.fetched:
        raise WireError(
            Code.SUIT_ENCRYPTION_INFO, "decrypt-on-fetch: the ciphertext digest is not signed"
        )
    source = run.contents[target.source]  # type: ignore[index]
    if not source.fetched or source.uri is None or source.encryption is not None:
        raise WireError(Code.SUIT_MALFORMED, "the decrypted copy's source is not a fetched payload")
    if source.digest is None or source.size is None:
        # verify before decrypt (P9): the ciphertext's digest and size must be signed
        raise VerificationError(
            Code.SUIT_CONDITION_IMAGE_DIGEST, "no image-match on the ciphertext"
        )
    encryption = target.encryption.cose()
    return InstallPlan(
        component_id=cid,
        sequence=author.manifest.sequence_number,
        author_envelope=run.author_bytes,
        author_digest=author.authentication.digest,
        tam_digest=tam.authentication.digest,
        uri=source.uri,
        ciphertext_digest=source.digest,
        ciphertext_size=source.size,
        encryption=encryption,
        plaintext_digest=target.digest,
        plaintext_size=target.size,
    )


#: manifest-component-id prefix of a per-device (TAM) manifest: ['edbp', 'device', ta, ueid]
DEVICE_MANIFEST_PREFIX = (b"edbp", b"device")


def _check_manifest_binding(tam: Envelope, ueid: bytes) -> None:
    """P4: a TAM manifest that names its device (manifest-component-id ending in a UEID)
    must name this one."""
    mid = tam.manifest.component_id
    if mid is not None and len(mid) == 4 and tuple(mid[:2]) == DEVICE_MANIFEST_PREFIX:
        if not hmac.compare_digest(mid[3], ueid):
            raise ProtocolError(Code.AGENT_NOT_FOR_THIS_DEVICE, "manifest names another device")


def check_binding(plan: InstallPlan, dak_kid: bytes | None, ueid: bytes) -> None:
    """P4: the TAM-signed encryption info must be addressed to this device — a recipient whose
    kid is this device's DAK thumbprint or whose PartyV identity is its UEID. A recipient list
    that names other devices only is refused before any key agreement."""
    named = False
    for recipient in plan.encryption.recipients:
        kid = recipient.headers.kid
        identity = recipient.headers.get(HeaderLabel.PARTY_V_IDENTITY)
        if kid is None and identity is None:
            continue
        named = True
        if (kid is not None and dak_kid is not None and hmac.compare_digest(kid, dak_kid)) or (
            isinstance(identity, bytes) and hmac.compare_digest(identity, ueid)
        ):
            return
    if named:
        raise ProtocolError(Code.AGENT_NOT_FOR_THIS_DEVICE, "delivery addressed to another device")
    # no recipient names a device: the ECDH unwrap itself decides (a miss is DecryptionFailed)


__all__ += ["check_binding"]
