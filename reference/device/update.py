"""``deploy.verify_update``: from the SUIT envelopes of a TEEP Update to an install plan.

Why a processor of its own: the Agent must run the two trust domains of the delivery exactly
as SUIT defines them (draft-ietf-suit-manifest, -trust-domains, -firmware-encryption), yet it
must not fetch or decrypt anything while it does (P9: every signature, id and binding is
checked first). So the command sequences are *interpreted*: conditions are evaluated at once,
and the directives that touch data (fetch, copy with decryption) become an ``InstallPlan`` that
the Agent executes afterwards, in order, with its digests.

What the Agent accepts is the layout of spec/protocol.md section 7, checked in the order of
section 9 (steps 4-6 here; the TEEP signature, shape and session binding are the Agent's):

- **Device envelope** (first entry of ``manifest_list``; TEEP carries it untagged, tagged is
  accepted too), signed by a trusted TSK: components ``[TA, staging]``, the author manifest as
  dependency index 2 integrated under ``"#author"`` (or another entry of ``manifest_list``
  found by its digest), ``manifest-component-id = ['edbp', 'device', ta-uuid, ueid]``, and an
  install sequence that overrides ``encryption-info`` on the TA component (the CEK by
  ECDH-ES+A128KW to this device's DAK, ``kid(DAK)``), then checks the dependency's integrity
  and processes it.
- **Author envelope**, signed by a trusted ASK: vendor and class conditions, the plaintext
  and ciphertext digests and sizes, the fetch of the ciphertext into the staging component
  with ``condition-image-match`` (checked before any decryption, P9), and the ``copy`` that
  decrypts into the TA component with ``condition-image-match`` on the plaintext.

Parameters flow from the dependent into the dependency by component identifier
(draft-ietf-suit-trust-domains): the device manifest's values for a component seed that
component when the author manifest runs, and SUIT's set/override semantics then apply. One
rule is the profile's own: the device's ``encryption-info`` stays in effect even if the
author manifest *overrides* it (the class-key recipient it carries is never usable by a
device), so an author that uses override instead of set still delivers.

Signatures: a signature ``kid`` naming no trusted key of the role is AGENT_UNTRUSTED_SIGNER;
without a ``kid`` every trusted key is tried and a miss is SUIT_AUTH_FAILED.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.wire.cose_algs import Alg, HeaderLabel
from edbp.reference.wire.cose_encrypt import Encrypt, enc_structure
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1
from edbp.reference.wire.suit_commands import Parameters
from edbp.reference.wire.suit_core import ComponentId, SuitDigest
from edbp.reference.wire.suit_crypto import SUIT_CONTENT_ALGS
from edbp.reference.wire.suit_envelope import Envelope
from edbp.reference.wire.suit_labels import ManifestKey, SuitCommand, SuitParam
from edbp.reference.wire.suit_process import (
    ParameterStore,
    check_class,
    check_dependency_integrity,
    check_vendor,
    component_for,
)
from edbp.reference.wire.teep import EDBP_SUIT_COSE_PROFILES, SUIT_PROFILE_PQ, SuitCoseProfile

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


def _cose_keys(keys: Iterable[CoseKey]) -> tuple[CoseKey, ...]:
    """attrs converter: a tuple (typed, unlike ``converter=tuple``)."""
    return tuple(keys)


def _rsa_keys(keys: Iterable[rsa.RSAPublicKey]) -> tuple[rsa.RSAPublicKey, ...]:
    """attrs converter: a tuple (typed, unlike ``converter=tuple``)."""
    return tuple(keys)


@attrs.frozen
class TrustAnchors:
    """Public keys the Agent trusts, provisioned at manufacture (``adapter: provision``)."""

    tam: tuple[CoseKey, ...] = attrs.field(converter=_cose_keys)
    author: tuple[CoseKey, ...] = attrs.field(converter=_cose_keys)
    #: OP-TEE TA signing keys (the loader's check of the installed image)
    ta_signers: tuple[rsa.RSAPublicKey, ...] = attrs.field(default=(), converter=_rsa_keys)


@attrs.frozen
class DeviceIdentity:
    """What the manifests' conditions are checked against."""

    ueid: bytes
    vendor_id: bytes
    class_id: bytes
    #: the device's keys are of the post-quantum suite `edbp-pq` (P14: it accepts nothing weaker)
    pq: bool = False


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
        self.author_alg: int | None = None  # the algorithm of the ASK block that verified
        self.checked: set[tuple[int, int, ComponentId]] = set()  # (command, depth, component)
        self.contents: dict[ComponentId, _Content] = {}
        self.deps: dict[tuple[int, int], Envelope] = {}
        #: the dependent's parameters per component when it processed its dependency
        self.dependent_params: dict[ComponentId, dict[int, Any]] = {}

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
                dep = self._dependency(envelope, params)
                prefix = common.dependencies[index].prefix
                if prefix is not None and tuple(prefix) != tuple(dep.manifest.component_id or ()):
                    raise VerificationError(
                        Code.SUIT_DEPENDENCY_FAILED, "dependency prefix names another manifest"
                    )
                self.deps[(depth, index)] = dep
            elif code == _C.DIRECTIVE_PROCESS_DEPENDENCY:
                processed = self.deps.get((depth, index))
                if processed is None:
                    raise VerificationError(
                        Code.SUIT_DEPENDENCY_FAILED,
                        "process-dependency before dependency-integrity",
                    )
                seed = {
                    tuple(cid): dict(store.by_index.get(i, {}))
                    for i, cid in enumerate(common.components)
                }
                self.dependent_params = seed
                self.run(processed, depth + 1, seed)
            elif code == _C.DIRECTIVE_FETCH:
                # fetching an integrated dependency means taking it from the envelope
                if params.uri is None or not params.uri.startswith("#"):
                    raise WireError(Code.SUIT_DEPENDENCY_FAILED, "dependencies must be integrated")
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
                    candidate = decode_envelope(other)
                except EdbpError:
                    continue
                got = candidate.authentication.digest
                want = params.image_digest
                if got.alg == want.alg and hmac.compare_digest(got.digest, want.digest):
                    data = other
                    break
        if data is None:
            raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "author envelope not supplied")
        if len(data) > MAX_ENVELOPE:
            raise WireError(Code.CBOR_TOO_LARGE, "author envelope above 32 KiB")
        dep = check_dependency_integrity(params, data)
        self.author_alg = verify_signed_envelope(dep, self.anchors.author, pq=self.device.pq)
        _check_limits(dep)
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


#: spec/protocol.md section 6 limits the Agent enforces while reading an Update
MAX_ENVELOPE = 32 * 1024
MAX_MANIFESTS = 4
MAX_COMPONENTS = 4
MAX_COMMANDS = 64
#: manifest-component-ids of the two layers: ['edbp', 'author', ta] and ['edbp', 'device', ta, ueid]
AUTHOR_MANIFEST_PREFIX = (b"edbp", b"author")
DEVICE_MANIFEST_PREFIX = (b"edbp", b"device")
#: SUIT COSE profiles the Agent offers: (digest, signature, key delivery, content)
OFFERED_SIGNATURE_ALGS = frozenset({Alg.ESP256, Alg.ES256, Alg.ED25519, Alg.EDDSA})
OFFERED_CONTENT_ALGS = frozenset({Alg.A128GCM, Alg.A128CTR})
#: what an `edbp-pq` Agent offers instead (spec/protocol.md section 4.1): nothing classical
PQ_SIGNATURE_ALGS = frozenset({Alg.ML_DSA_65})
PQ_CONTENT_ALGS = frozenset({Alg.A128GCM})
#: the SUIT COSE profiles the reference Agent supports (spec/protocol.md section 4)
SUPPORTED_PROFILES = frozenset(
    tuple(p) for p in (*EDBP_SUIT_COSE_PROFILES, SUIT_PROFILE_PQ) if not isinstance(p, int)
)


def decode_envelope(data: bytes) -> Envelope:
    """A SUIT envelope from a TEEP Update: TEEP carries it untagged (``bstr .cbor
    SUIT_Envelope``), edbp's other places tagged (107); both are accepted."""
    if len(data) > MAX_ENVELOPE:
        raise WireError(Code.CBOR_TOO_LARGE, "SUIT envelope above 32 KiB")
    if data[:2] != b"\xd8\x6b":  # not tag 107: wrap it so the strict decoder sees one shape
        return Envelope.decode(b"\xd8\x6b" + data)
    return Envelope.decode(data)


def _kid_of(key: CoseKey) -> bytes:
    return key.kid if key.kid is not None else key.thumbprint()


def verify_signed_envelope(
    envelope: Envelope, keys: Sequence[CoseKey], *, pq: bool = False
) -> int:
    """Step 4 of the Agent's processing, for one layer: the wrapper digest covers the manifest
    (302); a block whose ``kid`` names a trusted key of this role must verify (303); a ``kid``
    naming no trusted key is an untrusted signer (604); without a ``kid`` every trusted key is
    tried (303 when none verifies). ``pq``: an `edbp-pq` device refuses any classical block
    (COSE_SUITE_DOWNGRADE, P14) before trying a key. Returns the algorithm of the block that
    verified, for the profile check of step 5."""
    offered = PQ_SIGNATURE_ALGS if pq else OFFERED_SIGNATURE_ALGS
    if not envelope.digest_matches():
        raise VerificationError(Code.SUIT_DIGEST_MISMATCH, "manifest digest does not match")
    payload = envelope.authentication.signed_payload
    untrusted = False
    tried = False
    for block in envelope.authentication.blocks:
        cose = Sign1.decode(block)
        alg = cose.headers.raw_alg
        if pq and alg in {int(a) for a in OFFERED_SIGNATURE_ALGS}:
            raise WireError(Code.COSE_SUITE_DOWNGRADE, f"classical manifest signature {alg!r}")
        if alg not in {int(a) for a in offered}:
            raise WireError(Code.SUIT_UNSUPPORTED_PROFILE, f"signature algorithm {alg!r}")
        kid = cose.headers.kid
        candidates = [k for k in keys if kid is None or hmac.compare_digest(_kid_of(k), kid)]
        if not candidates:
            # only a kid can say "another key" (protocol.md section 2); without one this is 303
            untrusted = untrusted or kid is not None
            continue
        for key in candidates:
            tried = True
            try:
                cose.verify(key, algorithms=offered, detached_payload=payload)
            except WireError as exc:
                if exc.code == Code.COSE_ALG_KEY_MISMATCH:
                    continue
                raise
            except VerificationError:
                continue
            return int(alg)
    if untrusted and not tried:
        raise ProtocolError(Code.AGENT_UNTRUSTED_SIGNER, "signed by a key the Agent does not trust")
    raise VerificationError(Code.SUIT_AUTH_FAILED, "no authentication block verifies")


def _check_limits(envelope: Envelope) -> None:
    manifest = envelope.manifest
    if len(manifest.common.components) > MAX_COMPONENTS:
        raise ProtocolError(Code.AGENT_RESOURCE_LIMIT, "too many components")
    sequences = [manifest.common.shared_sequence]
    sequences += [envelope.sequence(m) for m in (*_MEMBERS, ManifestKey.UNINSTALL)]
    for seq in sequences:
        if seq is not None and len(seq) > MAX_COMMANDS:
            raise ProtocolError(Code.AGENT_RESOURCE_LIMIT, "command sequence too long")


def verify_update(
    manifest_list: Sequence[bytes],
    device: DeviceIdentity,
    anchors: TrustAnchors,
    offered: Collection[SuitCoseProfile] | None = None,
) -> InstallPlan:
    """Steps 4–6 of the Agent's processing (spec/protocol.md section 9): authenticate the
    device envelope (TSK) and the author envelope it depends on (ASK), run both manifests'
    conditions against ``device``, check the binding to this device, and return what to fetch,
    check, decrypt and install. Nothing is fetched or decrypted here.

    ``offered`` is the ``supported-suit-cose-profiles`` of the QueryRequest that opened the
    exchange: the delivery's profile must be one of them (316). ``None`` (no exchange, the
    Update is refused later as a replay) checks only that the profile is one the Agent
    supports."""
    if not manifest_list:
        raise WireError(Code.TEEP_MALFORMED, "Update without manifests")
    if len(manifest_list) > MAX_MANIFESTS:
        raise ProtocolError(Code.AGENT_RESOURCE_LIMIT, "too many manifests in one Update")
    tam_bytes, *others = manifest_list
    tam = decode_envelope(tam_bytes)
    # step 4: the device envelope
    tam_alg = verify_signed_envelope(tam, anchors.tam, pq=device.pq)
    _check_limits(tam)
    if not tam.manifest.common.dependencies:
        raise VerificationError(
            Code.SUIT_DEPENDENCY_FAILED, "TAM manifest names no author manifest"
        )
    # step 5: the dependency (author envelope), processed as the device manifest directs
    run = _Interpreter(device, anchors, others)
    run.run(tam, 0, {})
    author = run.author
    if author is None:
        raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "author manifest not processed")
    plan = _plan(run, tam, author)
    assert run.author_alg is not None  # set when the author envelope verified
    check_profile(tam_alg, run.author_alg, plan.encryption, offered)
    # step 6: the delivery is for this device
    check_device_manifest(tam, plan.component_id, device.ueid)
    return plan


def _plan(run: _Interpreter, tam: Envelope, author: Envelope) -> InstallPlan:
    author_components = [tuple(c) for c in author.manifest.common.components]
    ta = author_components[0]
    mid = author.manifest.component_id
    if mid is None or tuple(mid) != (*AUTHOR_MANIFEST_PREFIX, ta[-1]):
        raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "author manifest-component-id")
    if tuple(tam.manifest.common.components[0]) != ta:
        raise VerificationError(Code.SUIT_CONDITION_COMPONENT, "TA component differs")
    if tam.manifest.sequence_number != author.manifest.sequence_number:
        raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "sequence numbers differ")
    targets = [(cid, c) for cid, c in run.contents.items() if c.encryption is not None]
    if len(targets) != 1:
        raise WireError(Code.SUIT_ENCRYPTION_INFO, "expected one encrypted component")
    cid, target = targets[0]
    if cid != ta:
        raise VerificationError(Code.SUIT_CONDITION_COMPONENT, "decrypted into another component")
    # the author's own manifest must condition vendor and class on the installed component
    if (_C.CONDITION_VENDOR_IDENTIFIER, 1, cid) not in run.checked:
        raise VerificationError(Code.SUIT_CONDITION_VENDOR, "author manifest checks no vendor id")
    if (_C.CONDITION_CLASS_IDENTIFIER, 1, cid) not in run.checked:
        raise VerificationError(Code.SUIT_CONDITION_CLASS, "author manifest checks no class id")
    if target.digest is None:
        raise VerificationError(Code.SUIT_CONDITION_IMAGE_DIGEST, "no image-match on the image")
    # the device manifest names the same image as the author's (digest and size)
    seeded = run.dependent_params.get(cid, {})
    tam_digest = seeded.get(int(SuitParam.IMAGE_DIGEST))
    tam_size = seeded.get(int(SuitParam.IMAGE_SIZE))
    if tam_digest != target.digest or tam_size != target.size:
        raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "image differs between the layers")
    if target.fetched:
        raise WireError(
            Code.SUIT_ENCRYPTION_INFO, "decrypt-on-fetch: the ciphertext digest is not signed"
        )
    assert target.source is not None  # a copied (not fetched) component names its source
    source = run.contents[target.source]
    if not source.fetched or source.uri is None or source.encryption is not None:
        raise WireError(Code.SUIT_MALFORMED, "the decrypted copy's source is not a fetched payload")
    if source.digest is None or source.size is None:
        # verify before decrypt (P9): the ciphertext's digest and size must be signed
        raise VerificationError(
            Code.SUIT_CONDITION_IMAGE_DIGEST, "no image-match on the ciphertext"
        )
    cose = target.encryption.cose()
    encryption = _check_pq_encryption(cose) if run.device.pq else _check_encryption(cose)
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


def _check_pq_encryption(enc: Encrypt) -> Encrypt:
    """``_check_encryption`` of an `edbp-pq` device: it takes the CEK only by COSE-HPKE
    MLKEM768-X25519 (P14), and A128GCM content only."""
    return _check_encryption_of(enc, pq=True)


#: RFC 9864: the polymorphic ids name the same signature as the fully specified ones
_FULLY_SPECIFIED = {int(Alg.ES256): int(Alg.ESP256), int(Alg.EDDSA): int(Alg.ED25519)}


def delivery_profile(tam_alg: int, author_alg: int, enc: Encrypt) -> tuple[int, ...] | None:
    """The SUIT COSE profile ``[digest, signature, key-wrap, content]`` a delivery uses, or
    None when its two signatures are of different algorithms (no single profile)."""
    sig = _FULLY_SPECIFIED.get(tam_alg, tam_alg)
    if _FULLY_SPECIFIED.get(author_alg, author_alg) != sig:
        return None
    wrap = enc.recipients[0].headers.raw_alg
    content = enc.headers.raw_alg
    if not isinstance(wrap, int) or not isinstance(content, int):
        return None
    return (int(Alg.SHA256), sig, wrap, content)


def check_profile(
    tam_alg: int, author_alg: int, enc: Encrypt, offered: Collection[SuitCoseProfile] | None
) -> None:
    """Step 5, last check (spec/protocol.md section 4): one profile, offered by the TAM in the
    open exchange's QueryRequest and supported by the Agent, else SUIT_UNSUPPORTED_PROFILE."""
    profile = delivery_profile(tam_alg, author_alg, enc)
    if profile is None or profile not in SUPPORTED_PROFILES:
        raise WireError(Code.SUIT_UNSUPPORTED_PROFILE, "the delivery's algorithms form no profile")
    if offered is not None and profile not in {
        tuple(p) if not isinstance(p, int) else (p,) for p in offered
    }:
        raise WireError(
            Code.SUIT_UNSUPPORTED_PROFILE, "the delivery's profile was not offered in the query"
        )


def _check_encryption(enc: Encrypt) -> Encrypt:
    """The device's encryption info: one recipient, an offered profile, a well-sized IV."""
    return _check_encryption_of(enc, pq=False)


def _check_encryption_of(enc: Encrypt, *, pq: bool) -> Encrypt:
    if len(enc.recipients) != 1:
        raise WireError(Code.SUIT_ENCRYPTION_INFO, "encryption info: one recipient expected")
    content = enc.headers.raw_alg
    if content not in {int(a) for a in (PQ_CONTENT_ALGS if pq else OFFERED_CONTENT_ALGS)}:
        raise WireError(Code.SUIT_UNSUPPORTED_PROFILE, f"content algorithm {content!r}")
    recipient_alg = enc.recipients[0].headers.raw_alg
    if pq and recipient_alg != int(Alg.EDBP_HPKE_XWING_KE):
        raise WireError(Code.COSE_SUITE_DOWNGRADE, "the CEK must come by COSE-HPKE (edbp-pq)")
    if not pq and recipient_alg != int(Alg.ECDH_ES_A128KW):
        raise WireError(Code.SUIT_UNSUPPORTED_PROFILE, "the CEK must come by ECDH-ES+A128KW")
    iv = enc.headers.get(HeaderLabel.IV)
    want = 12 if content == int(Alg.A128GCM) else 16
    if not isinstance(iv, bytes) or len(iv) != want:
        raise WireError(Code.COSE_BAD_IV, "IV size does not fit the content algorithm")
    return enc


def check_device_manifest(tam: Envelope, component_id: ComponentId, ueid: bytes) -> None:
    """Step 6 (P4), manifest part: the device manifest's manifest-component-id must be
    ['edbp', 'device', <TA UUID>, <this device's UEID>]."""
    mid = tam.manifest.component_id
    if (
        mid is None
        or len(mid) != 4
        or tuple(mid[:2]) != DEVICE_MANIFEST_PREFIX
        or mid[2] != component_id[-1]
        or not hmac.compare_digest(mid[3], ueid)
    ):
        raise ProtocolError(
            Code.AGENT_NOT_FOR_THIS_DEVICE, "the device manifest names another device"
        )


def check_binding(plan: InstallPlan, dak_kid: bytes | None, ueid: bytes) -> None:
    """Step 6 (P4), key part: the one recipient of the device's encryption info carries
    ``kid(DAK)`` of this device; anything else is a delivery for another device, refused
    before any key agreement."""
    del ueid  # the UEID is bound by the manifest-component-id (check_device_manifest)
    (recipient,) = plan.encryption.recipients
    kid = recipient.headers.kid
    if kid is None or dak_kid is None or not hmac.compare_digest(kid, dak_kid):
        raise ProtocolError(Code.AGENT_NOT_FOR_THIS_DEVICE, "delivery addressed to another key")


__all__ += [
    "check_binding",
    "check_device_manifest",
    "check_profile",
    "decode_envelope",
    "delivery_profile",
    "verify_signed_envelope",
]
