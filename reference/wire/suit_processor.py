"""The reference SUIT manifest processor: runs a verified manifest's command sequences against a
component store (draft-ietf-suit-manifest-37, "Abstract Machine Description"; trust domains for
dependencies).

Why it exists beside the Agent's interpreter (``edbp.reference.device.update``): the Agent runs
only the edbp delivery layout (two layers, an encrypted TA, nothing fetched before every
signature is checked), and refuses the rest of SUIT on purpose. This processor runs what the
drafts' own examples use, so that those examples are *processed*, not just decoded: A/B slot
selection with ``directive-try-each`` and ``condition-component-slot``, ``suit-load`` and
``suit-invoke``, copy, swap, write, unlink, fetch (from a URI through an injected fetcher, or
integrated ``#name`` items), image-match, and dependencies (integrity, then processing of the
dependency's same sequence, its signature checked with the caller's keys).

Sans-I/O: the caller passes the store (``ComponentStore``), the fetcher and the device's
identity. The store is never changed in place: the processor works on a copy and returns the new
store only when the whole procedure succeeded, so a failure leaves no partial state.

Semantics (draft-ietf-suit-manifest-37 unless said):

- every command sequence is preceded by the shared sequence, from an empty parameter table
  ("Manifest Processor Setup": the processor clears all parameter storage); a dependency starts
  from its dependent's parameters for the same components (trust domains);
- the component index starts at 0; a command runs once per selected index; try-each and
  run-sequence run their sequences once per selected index, each with that one index selected;
- a failed condition aborts the procedure, unless soft-failure is True in the enclosing sequence
  (the default inside a try-each branch): then the branch stops and the next branch runs. A
  failed directive aborts regardless. The first branch that completes ends try-each; when none
  does, try-each fails (``SUIT_TRY_EACH_FAILED``) unless its argument ends with nil;
- a branch that fails leaves no parameter behind (edbp's reading: the draft says a soft-failed
  run-sequence "halts with no side-effects"; components a failed branch wrote stay written, as
  in the abstract machine);
- suit-parameter-soft-failure set outside try-each / run-sequence is an Abort (``SUIT_ABORT``);
- ``directive-invoke`` records an ``invoke`` action (component, arguments): in a TEE this is the
  Trusted Application's launch request, which the host performs after the procedure (the
  processor never runs code); invoking a component that holds no image is ``SUIT_INVOKE_FAILED``;
- ``suit-load`` is run as any sequence: its copy into the execution component is the load.

Procedures: ``update`` = dependency-resolution, payload-fetch, install, validate ("Update
Command Sequences"); ``invoke`` = validate, load, invoke ("Invocation Command Sequences");
``uninstall`` = suit-uninstall (trust domains).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from edbp.errors import Code, EdbpError, VerificationError, WireError

from .cose_key import CoseKey
from .suit_commands import Command, CommandSequence, Parameters
from .suit_core import ComponentId
from .suit_envelope import Common, Envelope
from .suit_labels import ManifestKey, SuitCommand, SuitParam
from .suit_process import (
    ParameterStore,
    check_class,
    check_dependency_integrity,
    check_image,
    check_vendor,
    component_for,
)
from .suit_process import _select as select_indices

__all__ = [
    "PROCEDURES",
    "PROCESSOR_COMMANDS",
    "Action",
    "ComponentStore",
    "ProcessResult",
    "Processor",
    "decode",
]

_C = SuitCommand
_M = ManifestKey

#: the command sequences each procedure runs, in order
PROCEDURES: Mapping[str, tuple[int, ...]] = {
    "update": (_M.DEPENDENCY_RESOLUTION, _M.PAYLOAD_FETCH, _M.INSTALL, _M.VALIDATE),
    "invoke": (_M.VALIDATE, _M.LOAD, _M.INVOKE),
    "uninstall": (_M.UNINSTALL,),
}

#: conditions: a failure is soft inside a try-each branch (draft: "Conditions MUST NOT have any
#: side-effects"; "The Interpreter does not Abort if the Soft Failure flag is set")
_CONDITIONS = frozenset(
    {
        _C.CONDITION_VENDOR_IDENTIFIER,
        _C.CONDITION_CLASS_IDENTIFIER,
        _C.CONDITION_IMAGE_MATCH,
        _C.CONDITION_COMPONENT_SLOT,
        _C.CONDITION_DEPENDENCY_INTEGRITY,
        _C.CONDITION_IS_DEPENDENCY,
        _C.CONDITION_ABORT,
    }
)
_DIRECTIVES = frozenset(
    {
        _C.DIRECTIVE_PROCESS_DEPENDENCY,
        _C.DIRECTIVE_SET_COMPONENT_INDEX,
        _C.DIRECTIVE_TRY_EACH,
        _C.DIRECTIVE_WRITE,
        _C.DIRECTIVE_SET_PARAMETERS,
        _C.DIRECTIVE_OVERRIDE_PARAMETERS,
        _C.DIRECTIVE_FETCH,
        _C.DIRECTIVE_COPY,
        _C.DIRECTIVE_INVOKE,
        _C.DIRECTIVE_SWAP,
        _C.DIRECTIVE_RUN_SEQUENCE,
        _C.DIRECTIVE_UNLINK,
    }
)
#: every command this processor runs; anything else is SUIT_UNSUPPORTED_COMMAND (draft,
#: Manifest Processor Setup: a manifest with an unsupported command is excluded)
PROCESSOR_COMMANDS = _CONDITIONS | _DIRECTIVES
#: nesting of try-each / run-sequence (each nested sequence is a fresh CBOR item, so the CBOR
#: depth limit does not bound it)
MAX_NESTING = 4
#: dependency chain depth (dependent → dependency → ...)
MAX_DEPENDENCY_DEPTH = 3
#: commands executed in one procedure (try-each multiplies sequences)
MAX_WORK = 4096


def decode(data: bytes) -> Envelope:
    """An envelope for this processor: well-formed under the receive rule (protocol §5:
    duplicates, depth, size), then decoded with every command and member the drafts define
    (the edbp delivery decoder, ``Envelope.decode``, admits the edbp subset only)."""
    from .cbor import loads

    loads(data)
    return Envelope.decode(data, lenient=True)


@attrs.frozen
class Action:
    """One observable thing the processor did: ``kind`` (fetch, write, copy, swap, unlink,
    invoke, try-each, image-match, slot, dependency), the component, and a short detail."""

    kind: str
    component: ComponentId
    detail: str = ""

    def describe(self) -> str:
        name = "/".join(_show(part) for part in self.component)
        return f"{self.kind} [{name}]" + (f" {self.detail}" if self.detail else "")


def _show(part: bytes) -> str:
    try:
        text = part.decode("ascii")
    except UnicodeDecodeError:
        return part.hex()
    return text if text.isprintable() and text else part.hex()


def _images(value: Mapping[Any, bytes]) -> dict[ComponentId, bytes]:
    return {tuple(k): bytes(v) for k, v in value.items()}


def _slots(value: Mapping[Any, int]) -> dict[ComponentId, int]:
    return {tuple(k): int(v) for k, v in value.items()}


@attrs.frozen
class ComponentStore:
    """What a device holds, per component identifier: the image bytes, and the slot each
    component currently targets (the slot an install writes; ``condition-component-slot``
    compares it). Immutable: the processor returns a new store."""

    images: Mapping[ComponentId, bytes] = attrs.field(factory=dict, converter=_images)
    slots: Mapping[ComponentId, int] = attrs.field(factory=dict, converter=_slots)

    def read(self, cid: ComponentId) -> bytes | None:
        return self.images.get(tuple(cid))


@attrs.frozen
class ProcessResult:
    """The store after a successful procedure and what was done, in order."""

    store: ComponentStore
    actions: tuple[Action, ...]

    @property
    def invoked(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind == "invoke")

    def describe(self) -> str:
        return "; ".join(a.describe() for a in self.actions)


class _SoftFailure(Exception):
    """A condition failed where soft-failure is True: the enclosing sequence stops."""

    def __init__(self, error: EdbpError) -> None:
        super().__init__(error.code.name)
        self.error = error


@attrs.define
class _Run:
    """Mutable state of one procedure (never escapes ``Processor.process``)."""

    images: dict[ComponentId, bytes]
    slots: dict[ComponentId, int]
    actions: list[Action]
    work: int = 0
    #: dependency envelopes whose integrity and signature were checked, by component id
    verified: dict[ComponentId, Envelope] = attrs.field(factory=dict)
    #: components holding AES-CTR plaintext that no image-match has checked yet
    unchecked: set[ComponentId] = attrs.field(factory=set)


class Processor:
    """Runs SUIT procedures for one device.

    ``vendor_id`` / ``class_id`` / ``device_id``: what the identity conditions compare with.
    ``fetch``: returns the bytes at a URI, or None when not available (``SUIT_FETCH_FAILED``).
    ``keys``: the trust anchors a dependency's authentication block must verify under
    (None: dependencies are refused, since an unauthenticated dependency is never processed).
    ``decrypt_key``: the key a component's ``encryption-info`` is decrypted with on fetch,
    copy or write (None: an encrypted payload is ``SUIT_ENCRYPTION_INFO``)."""

    def __init__(
        self,
        *,
        vendor_id: Any,
        class_id: bytes,
        device_id: bytes | None = None,
        fetch: Callable[[str], bytes | None] | None = None,
        keys: Iterable[CoseKey] | None = None,
        decrypt_key: CoseKey | None = None,
        lenient: bool = True,
    ) -> None:
        self.vendor_id = vendor_id
        self.class_id = class_id
        self.device_id = device_id
        self.fetcher = fetch
        self.keys = tuple(keys) if keys is not None else None
        self.decrypt_key = decrypt_key
        self.lenient = lenient

    # ------------------------------------------------------------------------ procedures

    def process(
        self,
        envelope: Envelope,
        store: ComponentStore,
        procedures: Iterable[str] = ("update", "invoke"),
        *,
        log: list[Action] | None = None,
    ) -> ProcessResult:
        """Run ``procedures`` in order on an authenticated envelope; the new store and the
        actions, or the first error (the caller's store is unchanged). ``log``, when given,
        receives the actions as they happen (so a caller can show how far a refused manifest
        got)."""
        run = _Run(dict(store.images), dict(store.slots), log if log is not None else [])
        for name in procedures:
            if name not in PROCEDURES:
                raise ValueError(f"unknown procedure {name!r}")
            self._procedure(envelope, PROCEDURES[name], run, 0, None)
            if run.unchecked:
                # RFC 9459: CTR has no integrity; its plaintext is usable only once the signed
                # digest has matched it, and nothing is committed before (the caller's store)
                raise WireError(
                    Code.COSE_ALG_NOT_ALLOWED, "AES-CTR plaintext never checked by image-match"
                )
        return ProcessResult(ComponentStore(run.images, run.slots), tuple(run.actions))

    def _procedure(
        self,
        envelope: Envelope,
        members: Iterable[int],
        run: _Run,
        depth: int,
        inherited: Mapping[ComponentId, Mapping[int, Any]] | None,
    ) -> None:
        for member in members:
            sequence = envelope.sequence(member, self.lenient)
            if sequence is not None:
                self._member(envelope, member, sequence, run, depth, inherited)

    def _member(
        self,
        envelope: Envelope,
        member: int,
        sequence: CommandSequence,
        run: _Run,
        depth: int,
        inherited: Mapping[ComponentId, Mapping[int, Any]] | None,
    ) -> None:
        """One command sequence, preceded by the shared sequence."""
        common = envelope.manifest.common
        store = ParameterStore.inherit(common, inherited) if inherited else ParameterStore()
        ctx = _Context(self, envelope, run, depth, member)
        if common.shared_sequence is not None:
            store = ctx.sequence(common.shared_sequence, store, (0,), soft=None, nesting=0)
        ctx.sequence(sequence, store, (0,), soft=None, nesting=0)


@attrs.define
class _Context:
    proc: Processor
    envelope: Envelope
    run: _Run
    depth: int
    member: int  # the manifest member being run (process-dependency runs the same one)

    @property
    def common(self) -> Common:
        return self.envelope.manifest.common

    def record(self, kind: str, index: int, detail: str = "") -> None:
        self.run.actions.append(Action(kind, self.component(index), detail))

    def component(self, index: int) -> ComponentId:
        return tuple(component_for(self.common, index))

    # ------------------------------------------------------------------------ sequences

    def sequence(
        self,
        sequence: CommandSequence,
        store: ParameterStore,
        selected: tuple[int, ...],
        *,
        soft: bool | None,
        nesting: int,
    ) -> ParameterStore:
        """Run one sequence. ``soft`` is None at the top level (soft-failure may not be set
        there), else the sequence's soft-failure flag. Raises ``_SoftFailure`` when a condition
        fails while the flag is True."""
        for command in sequence:
            self.run.work += 1
            if self.run.work > MAX_WORK:
                raise WireError(Code.CBOR_TOO_LARGE, "SUIT processing: too many commands")
            code = command.code
            if code not in PROCESSOR_COMMANDS:
                raise WireError(
                    Code.SUIT_UNSUPPORTED_COMMAND, f"{command.name} is not run by the processor"
                )
            if code == _C.DIRECTIVE_SET_COMPONENT_INDEX:
                selected = select_indices(command.arg, self.common)
            elif code in (_C.DIRECTIVE_SET_PARAMETERS, _C.DIRECTIVE_OVERRIDE_PARAMETERS):
                params: Parameters = command.arg
                flag = params.get(SuitParam.SOFT_FAILURE)
                if flag is not None:
                    if soft is None:
                        raise VerificationError(
                            Code.SUIT_ABORT, "soft-failure set outside try-each / run-sequence"
                        )
                    soft = bool(flag)
                    rest = {k: v for k, v in params.values.items() if k != SuitParam.SOFT_FAILURE}
                    if not rest:
                        continue
                    command = Command(code, Parameters(rest))
                store = store.apply(command, selected)
            elif code in (_C.DIRECTIVE_TRY_EACH, _C.DIRECTIVE_RUN_SEQUENCE):
                if nesting >= MAX_NESTING:
                    raise WireError(Code.SUIT_MALFORMED, "try-each / run-sequence nested too deep")
                for index in selected:
                    if code == _C.DIRECTIVE_TRY_EACH:
                        store = self.try_each(command, store, index, nesting + 1)
                    else:
                        store = self.run_sequence(command, store, index, nesting + 1)
            else:
                for index in selected:
                    try:
                        self.execute(command, index, store)
                    except EdbpError as exc:
                        if soft and code in _CONDITIONS:
                            raise _SoftFailure(exc) from None
                        raise
        return store

    def _nested(self, data: bytes) -> CommandSequence:
        return CommandSequence.decode(data, lenient=self.proc.lenient)

    def try_each(
        self, command: Command, store: ParameterStore, index: int, nesting: int
    ) -> ParameterStore:
        branches: list[bytes | None] = list(command.arg)
        failures: list[str] = []
        for n, branch in enumerate(branches, 1):
            if branch is None:  # a final nil: every branch failed and that is acceptable
                self.record("try-each", index, f"no branch completed ({', '.join(failures)}); nil")
                return store
            try:
                after = self.sequence(
                    self._nested(branch), store, (index,), soft=True, nesting=nesting
                )
            except _SoftFailure as failed:
                failures.append(f"branch {n}: {failed.error.code.name}")
                continue  # the failed branch's parameters are dropped with ``store`` kept
            self.record("try-each", index, f"branch {n} of {len(branches)} taken")
            return after
        raise VerificationError(
            Code.SUIT_TRY_EACH_FAILED, "no try-each branch completed: " + ", ".join(failures)
        )

    def run_sequence(
        self, command: Command, store: ParameterStore, index: int, nesting: int
    ) -> ParameterStore:
        try:
            return self.sequence(
                self._nested(command.arg), store, (index,), soft=False, nesting=nesting
            )
        except _SoftFailure:
            return store  # draft: "simply halts with no side-effects"

    # ------------------------------------------------------------------------ commands

    def execute(self, command: Command, index: int, store: ParameterStore) -> None:
        code = command.code
        params = store.parameters(index)
        if self.common.is_dependency(index):
            self.dependency(code, command, index, store)
            return
        cid = self.component(index)
        images = self.run.images
        if code == _C.CONDITION_VENDOR_IDENTIFIER:
            check_vendor(params, self.proc.vendor_id)
        elif code == _C.CONDITION_CLASS_IDENTIFIER:
            check_class(params, self.proc.class_id)
        elif code == _C.CONDITION_IMAGE_MATCH:
            image = images.get(cid)
            if image is None:
                raise VerificationError(Code.SUIT_CONDITION_IMAGE_DIGEST, "component is empty")
            check_image(params, image)
            self.run.unchecked.discard(cid)
            self.record("image-match", index, "ok")
        elif code == _C.CONDITION_COMPONENT_SLOT:
            want = params.get(SuitParam.COMPONENT_SLOT)
            have = self.run.slots.get(cid)
            if want is None or have is None or want != have:
                raise VerificationError(
                    Code.SUIT_CONDITION_SLOT, f"component slot {have!r}, parameter {want!r}"
                )
            self.record("slot", index, f"{have} matches")
        elif code == _C.CONDITION_IS_DEPENDENCY:
            raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "component is not a dependency")
        elif code == _C.CONDITION_ABORT:
            raise VerificationError(Code.SUIT_ABORT, "condition-abort")
        elif code == _C.DIRECTIVE_FETCH:
            uri = params.uri
            data = self.fetch(uri)
            images[cid] = self.decrypted(cid, params, data)
            self.record("fetch", index, f"{uri} ({len(data)} bytes)")
        elif code == _C.DIRECTIVE_WRITE:
            if params.content is None:
                raise WireError(Code.SUIT_MALFORMED, "write without parameter-content")
            images[cid] = self.decrypted(cid, params, params.content)
            self.record("write", index, f"{len(params.content)} bytes")
        elif code in (_C.DIRECTIVE_COPY, _C.DIRECTIVE_SWAP):
            if params.source_component is None:
                raise WireError(Code.SUIT_MALFORMED, f"{command.name} without source-component")
            source = self.component(params.source_component)
            held = images.get(source)
            if held is None:
                raise WireError(Code.SUIT_MALFORMED, f"{command.name} from an empty component")
            data = held
            if code == _C.DIRECTIVE_COPY:
                images[cid] = self.decrypted(cid, params, data)
                self.record("copy", index, f"from [{'/'.join(_show(p) for p in source)}]")
            else:
                current = images.get(cid)
                if current is None:
                    raise WireError(Code.SUIT_MALFORMED, "swap with an empty component")
                images[cid], images[source] = data, current
                moved = {cid, source} & self.run.unchecked
                self.run.unchecked ^= moved ^ {({cid, source} - {m}).pop() for m in moved}
                self.record("swap", index, f"with [{'/'.join(_show(p) for p in source)}]")
        elif code == _C.DIRECTIVE_INVOKE:
            if cid not in images:
                raise VerificationError(Code.SUIT_INVOKE_FAILED, "nothing to invoke")
            args = params.get(SuitParam.INVOKE_ARGS)
            self.record("invoke", index, f"arguments {args.hex()}" if args else "")
        elif code == _C.DIRECTIVE_UNLINK:
            images.pop(cid, None)
            self.run.unchecked.discard(cid)
            self.record("unlink", index)
        else:  # dependency-only commands on a component
            raise WireError(Code.SUIT_DEPENDENCY_FAILED, f"{command.name} on a non-dependency")

    def fetch(self, uri: str | None) -> bytes:
        if uri is None:
            raise VerificationError(Code.SUIT_FETCH_FAILED, "fetch without parameter-uri")
        if uri.startswith("#"):
            data = self.envelope.integrated.get(uri)
        else:
            data = self.proc.fetcher(uri) if self.proc.fetcher is not None else None
        if data is None:
            raise VerificationError(Code.SUIT_FETCH_FAILED, f"payload not available: {uri}")
        return data

    def decrypted(self, cid: ComponentId, params: Parameters, data: bytes) -> bytes:
        """``data`` as the component will hold it: decrypted with ``decrypt_key`` when an
        encryption-info is in effect. AES-CTR plaintext (no integrity of its own) is marked
        unchecked until an image-match on the component passes; the procedure fails if it
        never does."""
        self.run.unchecked.discard(cid)
        info = params.encryption_info
        if info is None:
            return data
        if self.proc.decrypt_key is None:
            raise WireError(Code.SUIT_ENCRYPTION_INFO, "encrypted payload and no key")
        from .suit_crypto import decrypt_payload

        plaintext = decrypt_payload(
            info, data, self.proc.decrypt_key, digest_checked=True, lenient=self.proc.lenient
        )
        from .cose_algs import AEAD_ALGS

        if info.cose(self.proc.lenient).headers.raw_alg not in {int(a) for a in AEAD_ALGS}:
            self.run.unchecked.add(cid)
        return plaintext

    # ------------------------------------------------------------------------ dependencies

    def dependency(self, code: int, command: Command, index: int, store: ParameterStore) -> None:
        cid = self.component(index)
        params = store.parameters(index)
        if code == _C.CONDITION_IS_DEPENDENCY:
            return
        if code == _C.DIRECTIVE_FETCH:
            self.run.images[cid] = self.fetch(params.uri)
            self.run.verified.pop(cid, None)
            self.record("fetch", index, f"dependency {params.uri}")
            if params.image_digest is not None:  # fetched with its digest: check it at once
                self.verified(cid, params)
                self.record("dependency-integrity", index, "ok")
        elif code == _C.CONDITION_DEPENDENCY_INTEGRITY:
            self.verified(cid, params)
            self.record("dependency-integrity", index, "ok")
        elif code == _C.DIRECTIVE_PROCESS_DEPENDENCY:
            if self.depth + 1 >= MAX_DEPENDENCY_DEPTH:
                raise WireError(Code.SUIT_DEPENDENCY_FAILED, "dependencies nested too deep")
            dependency = self.verified(cid, params)
            name = ManifestKey(self.member).name.lower().replace("_", "-")
            self.record("process-dependency", index, f"its suit-{name}")
            sequence = dependency.sequence(self.member, self.proc.lenient)
            if sequence is not None:
                inherited = store.by_component(self.common)
                self.proc._member(
                    dependency, self.member, sequence, self.run, self.depth + 1, inherited
                )
        else:
            raise WireError(Code.SUIT_UNSUPPORTED_COMMAND, f"{command.name} on a dependency")

    def verified(self, cid: ComponentId, params: Parameters) -> Envelope:
        """The dependency's envelope (fetched into its component, or integrated): digest and
        size as the parameters say, its manifest digest, and a signature under ``keys``. Without
        an image-digest parameter in effect, the envelope an earlier sequence checked."""
        if params.image_digest is None:
            checked = self.run.verified.get(cid)
            if checked is None:
                raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "dependency not verified")
            return checked
        data = self.run.images.get(cid)
        if data is None and params.uri is not None and params.uri.startswith("#"):
            data = self.envelope.integrated.get(params.uri)
        if data is None:
            raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "dependency not fetched")
        if self.proc.keys is None:
            raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "no keys for dependencies")
        envelope = check_dependency_integrity(params, data, self.proc.lenient, keys=self.proc.keys)
        self.run.verified[cid] = envelope
        return envelope
