"""SUIT command sequences: conditions, directives and their parameters (the edbp subset).

Why typed: a device acts on these values (vendor/class ids, digests, sizes, the encryption info
that carries the wrapped CEK), so each parameter is checked for its CDDL type when decoded, and
every command or parameter outside the edbp profile is refused with SUIT_UNSUPPORTED_COMMAND /
SUIT_UNSUPPORTED_PARAMETER by the strict decoder. The lenient decoder (published drafts'
examples) keeps the other commands of the drafts verbatim so that they re-encode unchanged, but
the processing helpers (``suit_process``) still refuse to run them.

Every bstr-wrapped structure keeps the exact bytes it was decoded from (``raw``, not part of
equality and dropped by ``attrs.evolve``), so re-encoding a received manifest reproduces the bytes
that were digested and signed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, cast

import attrs
from edbp.reference.wire.cbor import Tag, dumps
from edbp.reference.wire.suit_core import (
    CborItem,
    ComponentId,
    SuitDigest,
    as_dict,
    as_tuple,
    bad,
    expect_bstr,
    expect_uint,
    load_cbor,
)
from edbp.reference.wire.suit_labels import (
    DRAFT_COMMANDS,
    DRAFT_PARAMETERS,
    EDBP_COMMANDS,
    EDBP_PARAMETERS,
    EDBP_SHARED_COMMANDS,
    EDBP_UNINSTALL_COMMANDS,
    SuitCommand,
    SuitParam,
)

from edbp.errors import Code, WireError

__all__ = [
    "RAW_FIELD",
    "Command",
    "CommandSequence",
    "EncryptionInfo",
    "IndexArg",
    "Parameters",
    "set_raw",
]

#: set-component-index argument: one index, ``True`` (all components) or a list of indices
IndexArg = int | bool | tuple[int, ...]
CBOR_PEN_TAG = 112


def RAW_FIELD() -> Any:
    """The exact bytes a structure was decoded from: not compared, not shown, not evolved."""
    return attrs.field(default=None, init=False, eq=False, repr=False)


_T = TypeVar("_T")


def set_raw(obj: _T, raw: bytes) -> _T:
    """Attach the received bytes to a frozen structure (decoders only)."""
    object.__setattr__(obj, "raw", raw)
    return obj


# ------------------------------------------------------------------------- encryption info


@attrs.frozen
class EncryptionInfo:
    """suit-parameter-encryption-info: bstr .cbor SUIT_Encryption_Info (a tagged COSE_Encrypt
    with detached, nil ciphertext). Held as its exact bytes, because the recipient structure is
    the COSE layer's business (``cose()`` decodes it there) and the bytes are part of what the
    manifest digest covers."""

    data: bytes

    @classmethod
    def from_cose(cls, encrypt: Any) -> EncryptionInfo:
        """Wrap a COSE_Encrypt object of ``edbp.reference.wire.cose`` (its tagged encoding)."""
        return cls(encrypt.encode())

    def cose(self, lenient: bool = False) -> Any:
        """The COSE_Encrypt, decoded by the COSE layer."""
        from edbp.reference.wire.cose_encrypt import Encrypt

        return Encrypt.decode(self.data, lenient=lenient, tagged=True)

    @classmethod
    def from_cbor(cls, value: Any, lenient: bool) -> EncryptionInfo:
        """Check the bytes decode as a tagged COSE_Encrypt (by the COSE layer) whose
        ciphertext is detached (nil; ``h''`` tolerated by the lenient decoder)."""
        from edbp.reference.wire.cose_encrypt import Encrypt

        data = expect_bstr(value, "encryption-info")
        enc = Encrypt.decode(data, lenient=lenient, tagged=True)
        if enc.ciphertext is not None and not (lenient and enc.ciphertext == b""):
            raise bad(
                "encryption-info: ciphertext must be detached (nil)", Code.SUIT_ENCRYPTION_INFO
            )
        return cls(data)


# ------------------------------------------------------------------------------ parameters


def _uuid(value: Any, what: str, lenient: bool) -> bytes:
    data = expect_bstr(value, what)
    if len(data) != 16 and not lenient:
        raise bad(f"{what}: expected a 16-byte UUID")
    return data


#: each parameter's name as its refusals spell it (made once, not per value read)
_PARAM_NAMES = {int(p): p.name.lower() for p in SuitParam}


#: the parameter labels ``_param_from_cbor`` compares with, as module names (the same members,
#: without the enum's attribute lookup per comparison)
_P_CLASS_IDENTIFIER = SuitParam.CLASS_IDENTIFIER
_P_COMPONENT_SLOT = SuitParam.COMPONENT_SLOT
_P_CONTENT = SuitParam.CONTENT
_P_DEVICE_IDENTIFIER = SuitParam.DEVICE_IDENTIFIER
_P_ENCRYPTION_INFO = SuitParam.ENCRYPTION_INFO
_P_FETCH_ARGUMENTS = SuitParam.FETCH_ARGUMENTS
_P_IMAGE_DIGEST = SuitParam.IMAGE_DIGEST
_P_IMAGE_SIZE = SuitParam.IMAGE_SIZE
_P_INVOKE_ARGS = SuitParam.INVOKE_ARGS
_P_SOFT_FAILURE = SuitParam.SOFT_FAILURE
_P_SOURCE_COMPONENT = SuitParam.SOURCE_COMPONENT
_P_STRICT_ORDER = SuitParam.STRICT_ORDER
_P_URI = SuitParam.URI
_P_VENDOR_IDENTIFIER = SuitParam.VENDOR_IDENTIFIER


def _param_from_cbor(label: int, value: Any, lenient: bool) -> Any:
    """Check one parameter value against its CDDL type; returns the typed value."""
    if label == _P_VENDOR_IDENTIFIER:
        if isinstance(value, Tag):
            if value.tag != CBOR_PEN_TAG:
                raise WireError(Code.CBOR_UNEXPECTED_TAG, "vendor-id: only tag 112 (PEN) allowed")
            return Tag(CBOR_PEN_TAG, expect_bstr(value.value, "vendor-id PEN"))
        return _uuid(value, "vendor-id", lenient)
    if label in (_P_CLASS_IDENTIFIER, _P_DEVICE_IDENTIFIER):
        return _uuid(value, "class-id" if label == _P_CLASS_IDENTIFIER else "device-id", lenient)
    if label == _P_IMAGE_DIGEST:
        data = expect_bstr(value, "image-digest")
        return SuitDigest.decode(data, lenient)
    if label in (_P_IMAGE_SIZE, _P_COMPONENT_SLOT, _P_SOURCE_COMPONENT):
        return expect_uint(value, _PARAM_NAMES[label])
    if label == _P_URI:
        if not isinstance(value, str):
            raise bad("uri: expected a text string")
        return value
    if label in (_P_CONTENT, _P_INVOKE_ARGS, _P_FETCH_ARGUMENTS):
        return expect_bstr(value, _PARAM_NAMES[label])
    if label == _P_ENCRYPTION_INFO:
        return EncryptionInfo.from_cbor(value, lenient)
    if label in (_P_STRICT_ORDER, _P_SOFT_FAILURE):
        if not isinstance(value, bool):
            raise bad(f"{_PARAM_NAMES[label]}: expected a boolean")
        return value
    # custom parameter (nint): int / bool / tstr / bstr
    if isinstance(value, bool | int | str | bytes):
        return value
    raise bad(f"parameter {label}: unexpected value type")


def _param_to_cbor(label: int, value: Any) -> Any:
    if isinstance(value, SuitDigest):
        return value.encode()
    if isinstance(value, EncryptionInfo):
        return value.data
    return value


@attrs.frozen
class Parameters(CborItem):
    """The argument of set-parameters / override-parameters: parameter label → typed value.

    Build with ``Parameters.of(vendor_id=..., image_digest=SuitDigest(...), ...)``."""

    values: Mapping[int, Any] = attrs.field(factory=dict, converter=as_dict)

    _NAMES = {
        "vendor_id": SuitParam.VENDOR_IDENTIFIER,
        "class_id": SuitParam.CLASS_IDENTIFIER,
        "image_digest": SuitParam.IMAGE_DIGEST,
        "image_size": SuitParam.IMAGE_SIZE,
        "content": SuitParam.CONTENT,
        "encryption_info": SuitParam.ENCRYPTION_INFO,
        "uri": SuitParam.URI,
        "source_component": SuitParam.SOURCE_COMPONENT,
    }

    @classmethod
    def of(cls, **kwargs: Any) -> Parameters:
        values: dict[int, Any] = {}
        for name, value in kwargs.items():
            if value is not None:
                values[int(cls._NAMES[name])] = value
        return cls(values)

    def get(self, label: int) -> Any:
        return self.values.get(int(label))

    @property
    def vendor_id(self) -> bytes | Tag | None:
        return cast("bytes | Tag | None", self.get(SuitParam.VENDOR_IDENTIFIER))

    @property
    def class_id(self) -> bytes | None:
        return cast("bytes | None", self.get(SuitParam.CLASS_IDENTIFIER))

    @property
    def image_digest(self) -> SuitDigest | None:
        return cast("SuitDigest | None", self.get(SuitParam.IMAGE_DIGEST))

    @property
    def image_size(self) -> int | None:
        return cast("int | None", self.get(SuitParam.IMAGE_SIZE))

    @property
    def uri(self) -> str | None:
        return cast("str | None", self.get(SuitParam.URI))

    @property
    def content(self) -> bytes | None:
        return cast("bytes | None", self.get(SuitParam.CONTENT))

    @property
    def encryption_info(self) -> EncryptionInfo | None:
        return cast("EncryptionInfo | None", self.get(SuitParam.ENCRYPTION_INFO))

    @property
    def source_component(self) -> int | None:
        return cast("int | None", self.get(SuitParam.SOURCE_COMPONENT))

    def to_cbor(self) -> dict[int, Any]:
        return {label: _param_to_cbor(label, v) for label, v in self.values.items()}

    @classmethod
    def from_cbor(cls, value: Any, lenient: bool) -> Parameters:
        if not isinstance(value, dict) or not value:
            raise bad("parameters: expected a non-empty map")
        out: dict[int, Any] = {}
        for label, v in value.items():
            if isinstance(label, bool) or not isinstance(label, int):
                raise bad("parameters: labels are integers")
            allowed = (
                (label in DRAFT_PARAMETERS or label < 0) if lenient else label in EDBP_PARAMETERS
            )
            if not allowed:
                raise bad(f"parameter {label} not supported", Code.SUIT_UNSUPPORTED_PARAMETER)
            out[label] = _param_from_cbor(label, v, lenient)
        return cls(out)


# -------------------------------------------------------------------------------- commands

_REP_POLICY_COMMANDS = frozenset(DRAFT_COMMANDS) - {
    SuitCommand.DIRECTIVE_SET_COMPONENT_INDEX,
    SuitCommand.DIRECTIVE_SET_PARAMETERS,
    SuitCommand.DIRECTIVE_OVERRIDE_PARAMETERS,
    SuitCommand.DIRECTIVE_TRY_EACH,
    SuitCommand.DIRECTIVE_RUN_SEQUENCE,
}


@attrs.frozen
class Command:
    """One condition or directive: its code and its (typed) argument.

    Arguments: a reporting policy (uint) for conditions and most directives; an ``IndexArg`` for
    set-component-index; ``Parameters`` for set/override-parameters. Commands kept only by the
    lenient decoder (try-each, run-sequence, custom) carry their CBOR argument as decoded."""

    code: int
    arg: Any = 15  # report on success and failure, sysinfo both: the drafts' examples use 15

    def to_cbor(self) -> list[Any]:
        arg = self.arg
        if isinstance(arg, Parameters):
            arg = arg.to_cbor()
        elif isinstance(arg, tuple):
            arg = list(arg)
        return [self.code, arg]

    @property
    def name(self) -> str:
        try:
            return str(SuitCommand(self.code).name.lower().replace("_", "-"))
        except ValueError:
            return f"custom({self.code})"

    @classmethod
    def from_cbor(
        cls, code: Any, arg: Any, *, shared: bool, lenient: bool, uninstall: bool = False
    ) -> Command:
        if isinstance(code, bool) or not isinstance(code, int):
            raise bad("command sequence: command codes are integers")
        if lenient:
            allowed = code in DRAFT_COMMANDS or code < 0
        elif uninstall:
            allowed = code in EDBP_UNINSTALL_COMMANDS
        else:
            allowed = code in (EDBP_SHARED_COMMANDS if shared else EDBP_COMMANDS)
        if not allowed:
            raise bad(f"command {code} not supported here", Code.SUIT_UNSUPPORTED_COMMAND)
        c = SuitCommand
        if code == c.DIRECTIVE_SET_COMPONENT_INDEX:
            if arg is True:
                return cls(code, True)
            if isinstance(arg, list):
                if not arg:
                    raise bad("set-component-index: empty list")
                return cls(code, tuple(expect_uint(i, "component index") for i in arg))
            return cls(code, expect_uint(arg, "component index"))
        if code in (c.DIRECTIVE_SET_PARAMETERS, c.DIRECTIVE_OVERRIDE_PARAMETERS):
            return cls(code, Parameters.from_cbor(arg, lenient))
        if code in _REP_POLICY_COMMANDS:
            return cls(code, expect_uint(arg, f"{SuitCommand(code).name.lower()} reporting policy"))
        if code == c.DIRECTIVE_TRY_EACH:
            if not isinstance(arg, list) or len(arg) < 2:
                raise bad("try-each: expected two or more sequences")
            for i, item in enumerate(arg):
                if not isinstance(item, bytes) and not (item is None and i == len(arg) - 1):
                    raise bad("try-each: sequences are byte strings")
            return cls(code, arg)
        if code == c.DIRECTIVE_RUN_SEQUENCE:
            return cls(code, expect_bstr(arg, "run-sequence"))
        # custom command (nint), lenient only
        if arg is not None and not isinstance(arg, bytes | str | int):
            raise bad("custom command: unexpected argument")
        return cls(code, arg)


@attrs.frozen
class CommandSequence:
    """SUIT_Command_Sequence (or SUIT_Shared_Sequence): a flat [code, arg, code, arg, ...]."""

    commands: tuple[Command, ...] = attrs.field(converter=as_tuple)
    raw: bytes | None = RAW_FIELD()

    def __iter__(self) -> Iterator[Command]:
        return iter(self.commands)

    def __len__(self) -> int:
        return len(self.commands)

    def to_cbor(self) -> list[Any]:
        out: list[Any] = []
        for command in self.commands:
            out.extend(command.to_cbor())
        return out

    def encode(self) -> bytes:
        """The sequence's bytes (the content of its bstr wrapper); received bytes verbatim."""
        return self.raw if self.raw is not None else dumps(self.to_cbor())

    @classmethod
    def decode(
        cls, data: bytes, *, shared: bool = False, lenient: bool = False, uninstall: bool = False
    ) -> CommandSequence:
        """``uninstall``: the suit-uninstall member (24), whose own command subset applies."""
        items = load_cbor(data, "command sequence", lenient)
        if not isinstance(items, list) or not items or len(items) % 2:
            raise bad("command sequence: expected a non-empty array of code/argument pairs")
        commands = [
            Command.from_cbor(
                items[i], items[i + 1], shared=shared, lenient=lenient, uninstall=uninstall
            )
            for i in range(0, len(items), 2)
        ]
        return set_raw(cls(commands), bytes(data))


def component_ids(components: Any) -> tuple[ComponentId, ...]:
    """Validated SUIT_Components ([+ SUIT_Component_Identifier])."""
    from edbp.reference.wire.suit_core import check_component_id

    if not isinstance(components, list) or not components:
        raise bad("components: expected a non-empty array")
    return tuple(check_component_id(c) for c in components)
