"""Building blocks for a SUIT processor: parameter resolution, sequence walking, conditions,
dependency integrity (draft-ietf-suit-manifest §6, draft-ietf-suit-trust-domains).

Why here and not in the device: the Agent (device helper), the conformance suite and the model's
faulty devices all need the same reading of a manifest; the state each needs (installed images,
floors, keys) stays in the caller. These functions are pure: they never fetch, write or decrypt.

Semantics implemented:
- the component index starts at 0 for every sequence; set-component-index selects one index, a
  list of indices, or ``True`` (every index, components and dependencies);
- set-parameters writes only parameters not yet set; override-parameters overwrites;
- the shared sequence runs before each command sequence, with fresh parameters;
- a command outside the edbp profile (kept only by the lenient decoder) is refused here with
  SUIT_UNSUPPORTED_COMMAND: published examples can be shown and verified, never run.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

import attrs
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_commands import Command, CommandSequence, Parameters
from edbp.reference.wire.suit_core import ComponentId, as_dict
from edbp.reference.wire.suit_envelope import Common, Envelope
from edbp.reference.wire.suit_labels import (
    EDBP_COMMANDS,
    EDBP_UNINSTALL_COMMANDS,
    ManifestKey,
    SuitCommand,
)

from edbp.errors import Code, VerificationError, WireError

__all__ = [
    "ParameterStore",
    "Step",
    "check_class",
    "check_dependency_integrity",
    "check_image",
    "check_vendor",
    "component_for",
    "resolve_uri",
    "run",
    "steps",
    "uninstall_steps",
    "walk",
]

_C = SuitCommand
_PARAM_DIRECTIVES = (_C.DIRECTIVE_SET_PARAMETERS, _C.DIRECTIVE_OVERRIDE_PARAMETERS)


@attrs.frozen
class ParameterStore:
    """The parameters in effect, per component index. Immutable: updates return a new store."""

    by_index: Mapping[int, Mapping[int, Any]] = attrs.field(factory=dict, converter=as_dict)

    def parameters(self, index: int) -> Parameters:
        return Parameters(dict(self.by_index.get(index, {})))

    def by_component(self, common: Common) -> dict[ComponentId, dict[int, Any]]:
        """The parameters keyed by component identifier (to hand to a dependency, whose
        component indices differ from the dependent's)."""
        out: dict[ComponentId, dict[int, Any]] = {}
        for index, values in self.by_index.items():
            if index < len(common.components):
                out[common.components[index]] = dict(values)
        return out

    @classmethod
    def inherit(
        cls, common: Common, inherited: Mapping[ComponentId, Mapping[int, Any]]
    ) -> ParameterStore:
        """A dependency's starting store: what its dependent set for the same components
        (draft-ietf-suit-trust-domains: the dependent's parameters reach the dependency, which
        can keep them (set-parameters) or enforce its own (override-parameters))."""
        by_index = {
            i: dict(inherited[cid]) for i, cid in enumerate(common.components) if cid in inherited
        }
        return cls(by_index)

    def apply(self, command: Command, indices: tuple[int, ...]) -> ParameterStore:
        """Apply a set-parameters / override-parameters command to ``indices``."""
        assert isinstance(command.arg, Parameters)
        override = command.code == _C.DIRECTIVE_OVERRIDE_PARAMETERS
        new = dict(self.by_index)
        for i in indices:
            current = dict(new.get(i, {}))
            for label, value in command.arg.values.items():
                if override or label not in current:
                    current[label] = value
            new[i] = current
        return ParameterStore(new)


@attrs.frozen
class Step:
    """One command to perform on one component, with the parameters in effect for it."""

    index: int
    command: Command
    parameters: Parameters
    is_dependency: bool = False

    @property
    def code(self) -> int:
        return self.command.code


def _select(arg: Any, common: Common) -> tuple[int, ...]:
    count = common.index_count
    if arg is True:
        return tuple(range(count))
    indices = arg if isinstance(arg, tuple) else (arg,)
    for i in indices:
        if not 0 <= i < count:
            raise WireError(Code.SUIT_COMPONENT_UNKNOWN, f"component index {i} of {count}")
    return tuple(indices)


def steps(
    sequence: CommandSequence,
    common: Common,
    store: ParameterStore | None = None,
    allowed: Collection[int] = EDBP_COMMANDS,
) -> tuple[list[Step], ParameterStore]:
    """Resolve a command sequence: every non-parameter command once per selected component,
    with the parameters in effect for it, and the parameter store after the whole sequence (so
    a caller can carry the shared sequence's parameters into the next sequence). ``allowed``:
    the commands this sequence may hold (suit-uninstall has its own subset)."""
    store = store if store is not None else ParameterStore()
    selected: tuple[int, ...] = (0,)
    out: list[Step] = []
    for command in sequence:
        if command.code not in allowed:
            raise WireError(
                Code.SUIT_UNSUPPORTED_COMMAND, f"{command.name} is outside the edbp profile"
            )
        if command.code == _C.DIRECTIVE_SET_COMPONENT_INDEX:
            selected = _select(command.arg, common)
            continue
        if command.code in _PARAM_DIRECTIVES:
            store = store.apply(command, selected)
            continue
        for index in selected:
            if index >= common.index_count:
                raise WireError(Code.SUIT_COMPONENT_UNKNOWN, f"component index {index}")
            out.append(Step(index, command, store.parameters(index), common.is_dependency(index)))
    return out, store


def walk(
    sequence: CommandSequence, common: Common, store: ParameterStore | None = None
) -> Iterator[Step]:
    """Iterate the steps of one sequence (see ``steps``)."""
    yield from steps(sequence, common, store)[0]


def run(
    envelope: Envelope,
    member: int,
    lenient: bool = False,
    inherited: Mapping[ComponentId, Mapping[int, Any]] | None = None,
) -> list[Step]:
    """The steps of the shared sequence followed by manifest member ``member`` (e.g.
    ``ManifestKey.INSTALL``), a severed member taken from the envelope (its digest checked).
    The member's commands see the parameters the shared sequence set; ``inherited`` seeds them
    for a dependency with its dependent's parameters (``ParameterStore.by_component``)."""
    common = envelope.manifest.common
    out: list[Step] = []
    store = ParameterStore.inherit(common, inherited) if inherited else ParameterStore()
    if common.shared_sequence is not None:
        shared, store = steps(common.shared_sequence, common, store)
        out.extend(shared)
    sequence = envelope.sequence(member, lenient)
    if sequence is not None:
        out.extend(steps(sequence, common, store)[0])
    return out


def uninstall_steps(envelope: Envelope) -> list[Step] | None:
    """The steps of the shared sequence followed by ``suit-uninstall`` (member 24), or ``None``
    when the manifest has no uninstall sequence. draft-ietf-suit-trust-domains: unlinking a
    manifest that is no longer needed executes its suit-uninstall section, which typically
    unlinks its components; the shared sequence runs first, as before any sequence, so its
    vendor and class conditions hold for the uninstall too."""
    sequence = envelope.sequence(ManifestKey.UNINSTALL)
    if sequence is None:
        return None
    common = envelope.manifest.common
    out: list[Step] = []
    store = ParameterStore()
    if common.shared_sequence is not None:
        shared, store = steps(common.shared_sequence, common, store)
        out.extend(shared)
    out.extend(steps(sequence, common, store, EDBP_UNINSTALL_COMMANDS)[0])
    return out


def component_for(common: Common, index: int) -> ComponentId:
    """The component identifier at ``index``: the entry of ``components``, or, for a
    dependency index beyond the components (the older layout), the dependency's prefix."""
    if 0 <= index < len(common.components):
        return common.components[index]
    if index in common.dependencies:
        prefix = common.dependencies[index].prefix
        if prefix is None:
            raise WireError(Code.SUIT_DEPENDENCY_FAILED, f"dependency {index} has no component id")
        return prefix
    raise WireError(Code.SUIT_COMPONENT_UNKNOWN, f"component index {index}")


# ------------------------------------------------------------------------------ conditions


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bytes) and isinstance(b, bytes):
        return hmac.compare_digest(a, b)
    return bool(a == b)


def check_vendor(params: Parameters, vendor_id: Any) -> None:
    """condition-vendor-identifier: the manifest's vendor id must be the device's."""
    if params.vendor_id is None or not _equal(params.vendor_id, vendor_id):
        raise VerificationError(Code.SUIT_CONDITION_VENDOR, "vendor identifier does not match")


def check_class(params: Parameters, class_id: bytes) -> None:
    """condition-class-identifier: the manifest's class id must be the device's."""
    if params.class_id is None or not _equal(params.class_id, class_id):
        raise VerificationError(Code.SUIT_CONDITION_CLASS, "class identifier does not match")


def check_image(params: Parameters, image: bytes) -> None:
    """condition-image-match: digest (and size, when given) of ``image``."""
    digest = params.image_digest
    if digest is None:
        raise VerificationError(Code.SUIT_CONDITION_IMAGE_DIGEST, "no image digest parameter")
    if params.image_size is not None and params.image_size != len(image):
        raise VerificationError(Code.SUIT_IMAGE_SIZE, "image size does not match")
    if not digest.matches(image):
        raise VerificationError(Code.SUIT_CONDITION_IMAGE_DIGEST, "image digest does not match")


def check_dependency_integrity(
    params: Parameters,
    data: bytes,
    lenient: bool = False,
    *,
    keys: CoseKey | Iterable[CoseKey] | None = None,
    algorithms: Collection[Alg] | None = None,
) -> Envelope:
    """condition-dependency-integrity (draft-ietf-suit-trust-domains): ``data`` is the
    dependency's envelope; its wrapper's digest must equal the image-digest parameter and must
    cover its manifest, and (with ``keys``) one of its authentication blocks must verify. The
    image-size parameter, when set, is the envelope's size (as the published example uses it)."""
    if params.image_size is not None and params.image_size != len(data):
        raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "dependency envelope size mismatch")
    envelope = Envelope.decode(data, lenient)
    expected = params.image_digest
    if expected is None:
        raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "no image digest for the dependency")
    got = envelope.authentication.digest
    if got.alg != expected.alg or not hmac.compare_digest(got.digest, expected.digest):
        raise VerificationError(Code.SUIT_DEPENDENCY_FAILED, "dependency digest mismatch")
    if not envelope.digest_matches():
        raise VerificationError(Code.SUIT_DIGEST_MISMATCH, "dependency manifest digest mismatch")
    if keys is not None:
        from edbp.reference.wire.suit_crypto import SUIT_SIGNATURE_ALGS, verify_envelope

        verify_envelope(
            envelope, keys, algorithms=algorithms or SUIT_SIGNATURE_ALGS, lenient=lenient
        )
    return envelope


def resolve_uri(envelope: Envelope, uri: str) -> bytes | None:
    """An integrated payload or dependency named by a ``#fragment`` URI, else None (fetch)."""
    if uri.startswith("#"):
        data = envelope.integrated.get(uri)
        if data is None:
            raise WireError(Code.SUIT_DEPENDENCY_FAILED, f"integrated item {uri!r} missing")
        return data
    return None
