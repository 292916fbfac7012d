"""TEEP messages (draft-ietf-teep-protocol): QueryRequest, QueryResponse, Update, Success, Error.

Why typed classes: the TAM and the Agent are state machines that act on individual options
(challenge, token, manifests, err-code); each option is checked against its CDDL type and size
when decoded, so a state machine never sees a malformed value. Options the draft does not define
for a message type are ignored, as the draft requires, but kept in ``unknown_options`` so that a
received message re-encodes as it came. An unknown message type is refused (TEEP_UNKNOWN_TYPE).

Every message travels inside a COSE_Sign1 (``sign`` / ``verify``), cipher suites
``[[18, -9]]`` (ESP256) and ``[[18, -19]]`` (Ed25519).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, cast

import attrs
from edbp.reference.wire.cbor import LENIENT, Raw, dumps, loads, receive_limits
from edbp.reference.wire.cose_algs import Alg, HeaderLabel, as_alg
from edbp.reference.wire.cose_headers import Label
from edbp.reference.wire.cose_sign import Sign1, sign1
from edbp.reference.wire.suit_core import ComponentId, as_tuple
from edbp.reference.wire.suit_report import SystemProperties
from edbp.reference.wire.teep_labels import (
    EDBP_AGENT_NONCE,
    EDBP_UNNEEDED_DEVICE,
    EDBP_UNNEEDED_SEQUENCE_NUMBERS,
    DataItem,
    Freshness,
    TeepOption,
    TeepType,
)

from edbp.errors import Code, VerificationError, WireError

__all__ = [
    "AGENT_NONCE_BYTES",
    "CIPHER_SUITE_ED25519",
    "CIPHER_SUITE_ESP256",
    "CIPHER_SUITE_MLDSA65",
    "EDBP_AGENT_NONCE",
    "EDBP_CIPHER_SUITES",
    "EDBP_SUIT_COSE_PROFILES",
    "EDBP_UNNEEDED_DEVICE",
    "EDBP_UNNEEDED_SEQUENCE_NUMBERS",
    "SUIT_PROFILE_PQ",
    "TEEP_SIGNATURE_ALGS",
    "CipherSuite",
    "DataItem",
    "Error",
    "Freshness",
    "Opened",
    "QueryRequest",
    "QueryResponse",
    "RequestedTc",
    "Success",
    "TeepMessage",
    "TeepOption",
    "TeepType",
    "Update",
    "check_freshness",
    "cipher_suite_for",
    "decode",
    "open_signed",
    "peek",
    "select_cipher_suite",
    "select_version",
    "sign",
    "verify",
]


#: A cipher suite: a sequence of (COSE structure type, algorithm) operations.
CipherSuite = tuple[tuple[int, int], ...]
COSE_SIGN1 = 18
CIPHER_SUITE_ESP256: CipherSuite = ((COSE_SIGN1, -9),)
CIPHER_SUITE_ED25519: CipherSuite = ((COSE_SIGN1, -19),)
EDBP_CIPHER_SUITES = (CIPHER_SUITE_ESP256, CIPHER_SUITE_ED25519)

#: spec/protocol.md 8.3.1 (P6(a)): L_a, seconds an Agent's exchange may wait for its Update,
#: measured on the TEE's own monotonic clock from when it accepted the QueryRequest
EXCHANGE_LIFETIME = 120.0
#: size of the Agent nonce (``edbp-agent-nonce``, protocol.md section 6 and 8.3.1)
AGENT_NONCE_BYTES = 16
#: ρ: the clock-rate drift allowed between a TEE's clock and the TAM's (a fraction)
CLOCK_DRIFT = 0.05
#: L_u: seconds the TAM keeps a session open after it *sent* the Update; L_u ≥ L_a·(1+ρ)
UPDATE_HOLD = 300.0
assert UPDATE_HOLD >= EXCHANGE_LIFETIME * (1 + CLOCK_DRIFT)
#: the post-quantum suite `edbp-pq` (spec/protocol.md section 4.1): COSE_Sign1 with ML-DSA-65
CIPHER_SUITE_MLDSA65: CipherSuite = ((COSE_SIGN1, -49),)
#: its SUIT COSE profile [digest, signature, key delivery, content]: SHA-256, ML-DSA-65,
#: COSE-HPKE MLKEM768-X25519 key encryption (private-use alg id), A128GCM
SUIT_PROFILE_PQ: SuitCoseProfile = (-16, -49, -70768, 1)
#: A SUIT COSE profile: an array of algorithm ids ([-16, -9, -29, 1]) or a single registered id.
SuitCoseProfile = tuple[int, ...] | int
#: The profiles a TAM built from this kit can deliver (spec/protocol.md section 4), offered in
#: every QueryRequest: an Agent accepts an Update only in a profile the QueryRequest offered.
#: ChaCha20-Poly1305 is left out: the reference Author cannot emit it.
EDBP_SUIT_COSE_PROFILES: tuple[SuitCoseProfile, ...] = (
    (-16, -9, -29, 1),
    (-16, -9, -29, -65534),
    (-16, -19, -29, 1),
    (-16, -19, -29, -65534),
)
#: id -> (the constant, its encoding), for ``_enc_positional`` (a tuple encodes as the array
#: ``_enc``'s list does)
_CONSTANT_ENCODINGS: dict[int, tuple[Any, Raw]] = {
    id(c): (c, Raw(dumps(c))) for c in (EDBP_CIPHER_SUITES, EDBP_SUIT_COSE_PROFILES)
}


def _bad(detail: str) -> WireError:
    return WireError(Code.TEEP_MALFORMED, detail)


# ------------------------------------------------------------------------- option codecs


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bstr(lo: int, hi: int) -> Callable[[Any, str], bytes]:
    def check(v: Any, what: str) -> bytes:
        if not isinstance(v, bytes) or not lo <= len(v) <= hi:
            raise _bad(f"{what}: expected a byte string of {lo}..{hi} bytes")
        return v

    return check


def _any_bstr(v: Any, what: str) -> bytes:
    if not isinstance(v, bytes):
        raise _bad(f"{what}: expected a byte string")
    return v


def _text(lo: int, hi: int | None) -> Callable[[Any, str], str]:
    def check(v: Any, what: str) -> str:
        if not isinstance(v, str):
            raise _bad(f"{what}: expected text")
        n = len(v.encode())
        if n < lo or (hi is not None and n > hi):
            raise _bad(f"{what}: text of {n} bytes out of range")
        return v

    return check


def _uint(bits: int) -> Callable[[Any, str], int]:
    limit = 1 << bits

    def check(v: Any, what: str) -> int:
        if (type(v) is not int and not _is_int(v)) or not 0 <= v < limit:
            raise _bad(f"{what}: expected an unsigned integer of {bits} bits")
        return int(v)

    return check


def _err_code(v: Any, what: str) -> int:
    if not _is_int(v) or not 0 <= v <= 23:
        raise _bad(f"{what}: err-code out of 0..23")
    return int(v)


def _nonempty(item: Callable[[Any, str], Any]) -> Callable[[Any, str], tuple[Any, ...]]:
    def check(v: Any, what: str) -> tuple[Any, ...]:
        if not isinstance(v, list) or not v:
            raise _bad(f"{what}: expected a non-empty array")
        return tuple(item(x, what) for x in v)

    return check


def _cipher_suite(v: Any, what: str) -> CipherSuite:
    if not isinstance(v, list) or not v:
        raise _bad(f"{what}: a cipher suite is a non-empty array of operations")
    ops = []
    for op in v:
        if not isinstance(op, list) or len(op) != 2 or not _is_int(op[0]) or not _is_int(op[1]):
            raise _bad(f"{what}: an operation is [cose type, algorithm]")
        ops.append((int(op[0]), int(op[1])))
    return tuple(ops)


def _profile(v: Any, what: str) -> SuitCoseProfile:
    if _is_int(v):
        return int(v)
    if isinstance(v, list) and v and all(_is_int(x) for x in v):
        return tuple(int(x) for x in v)
    raise _bad(f"{what}: a SUIT COSE profile is an int or an array of algorithm ids")


def _component_id(v: Any, what: str) -> ComponentId:
    if not isinstance(v, list) or not all(isinstance(p, bytes) for p in v):
        raise _bad(f"{what}: a component id is an array of byte strings")
    return tuple(v)


def _bool(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise _bad(f"{what}: expected a boolean")
    return v


@attrs.frozen
class RequestedTc:
    """requested-tc-info: a Trusted Component the Agent asks the TAM to install."""

    component_id: ComponentId = attrs.field(converter=as_tuple)
    sequence_number: int | None = None
    have_binary: bool | None = None

    def to_cbor(self) -> dict[int, Any]:
        out: dict[int, Any] = {TeepOption.COMPONENT_ID: list(self.component_id)}
        if self.sequence_number is not None:
            out[TeepOption.TC_MANIFEST_SEQUENCE_NUMBER] = self.sequence_number
        if self.have_binary is not None:
            out[TeepOption.HAVE_BINARY] = self.have_binary
        return out

    def encode(self) -> bytes:
        return dumps(self.to_cbor())

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> RequestedTc:
        limits = LENIENT if lenient else receive_limits()
        return cls.from_cbor(loads(data, limits), "requested-tc-info")

    @classmethod
    def from_cbor(cls, v: Any, what: str) -> RequestedTc:
        if not isinstance(v, dict) or TeepOption.COMPONENT_ID not in v:
            raise _bad(f"{what}: requested-tc-info needs a component-id")
        seq = v.get(TeepOption.TC_MANIFEST_SEQUENCE_NUMBER)
        have = v.get(TeepOption.HAVE_BINARY)
        return cls(
            _component_id(v[TeepOption.COMPONENT_ID], what),
            None if seq is None else _uint(64)(seq, what),
            None if have is None else _bool(have, what),
        )


def _system_properties(v: Any, what: str) -> SystemProperties:
    try:
        return SystemProperties.from_cbor(v, lenient=True)
    except WireError as exc:
        raise _bad(f"{what}: {exc.detail}") from None


def _enc(v: Any) -> Any:
    """Option value → CBOR value."""
    if isinstance(v, RequestedTc | SystemProperties):
        return v.to_cbor()
    if isinstance(v, tuple):
        return [_enc(x) for x in v]
    return v


def _enc_positional(v: Any) -> Any:
    """``_enc``, except that the module's constant offers (the very objects
    ``EDBP_CIPHER_SUITES`` and ``EDBP_SUIT_COSE_PROFILES``, defaults of every QueryRequest the
    TAM sends: about 40 of its 50 CBOR items) are spliced as their encoding, made once. Same
    bytes (``Raw`` is emitted verbatim); chosen by identity, so an equal tuple built elsewhere
    is encoded the ordinary way."""
    found = _CONSTANT_ENCODINGS.get(id(v))
    if found is not None and found[0] is v:
        return found[1]
    return _enc(v)


#: label -> (attribute, checker)
_CODECS: dict[int, tuple[str, Callable[[Any, str], Any]]] = {
    TeepOption.TOKEN: ("token", _bstr(8, 64)),
    TeepOption.CHALLENGE: ("challenge", _bstr(8, 512)),
    TeepOption.VERSIONS: ("versions", _nonempty(_uint(32))),
    TeepOption.SUPPORTED_FRESHNESS_MECHANISMS: ("freshness_mechanisms", _nonempty(_uint(64))),
    TeepOption.ATTESTATION_PAYLOAD_FORMAT: ("attestation_payload_format", _text(0, None)),
    TeepOption.ATTESTATION_PAYLOAD: ("attestation_payload", _any_bstr),
    TeepOption.SUIT_REPORTS: ("suit_reports", _nonempty(_any_bstr)),
    TeepOption.SELECTED_VERSION: ("selected_version", _uint(32)),
    TeepOption.TC_LIST: ("tc_list", _nonempty(_system_properties)),
    TeepOption.REQUESTED_TC_LIST: ("requested_tc_list", _nonempty(RequestedTc.from_cbor)),
    TeepOption.UNNEEDED_MANIFEST_LIST: ("unneeded_manifest_list", _nonempty(_component_id)),
    EDBP_UNNEEDED_SEQUENCE_NUMBERS: ("unneeded_sequence_numbers", _nonempty(_uint(64))),
    EDBP_UNNEEDED_DEVICE: ("unneeded_device", _bstr(7, 33)),
    EDBP_AGENT_NONCE: ("agent_nonce", _bstr(AGENT_NONCE_BYTES, AGENT_NONCE_BYTES)),
    TeepOption.EXT_LIST: ("ext_list", _nonempty(_uint(32))),
    TeepOption.MANIFEST_LIST: ("manifest_list", _nonempty(_any_bstr)),
    TeepOption.ERR_CODE: ("err_code", _err_code),
    TeepOption.ERR_MSG: ("err_msg", _text(1, 128)),
    TeepOption.ERR_LANG: ("err_lang", _text(1, 35)),
    TeepOption.MSG: ("msg", _text(1, 128)),
    TeepOption.SUPPORTED_TEEP_CIPHER_SUITES: ("cipher_suites", _nonempty(_cipher_suite)),
    TeepOption.SUPPORTED_SUIT_COSE_PROFILES: ("suit_cose_profiles", _nonempty(_profile)),
}

#: each message class's options as (label, attribute), in ``OPTIONS``' order (made once)
_OPTION_ATTRS: dict[type, tuple[tuple[int, str], ...]] = {}
#: ``_CODECS`` with each attribute's name as errors spell it (made once, not per option read)
_OPTION_CODECS: dict[int, tuple[str, Callable[[Any, str], Any], str]] = {
    label: (attr, check, attr.replace("_", "-")) for label, (attr, check) in _CODECS.items()
}


def _opt(default: Any = None) -> Any:
    return attrs.field(default=default, kw_only=True)


def _tuple_or_none(v: Any) -> Any:
    return None if v is None else tuple(v)


def _opt_tuple() -> Any:
    return attrs.field(default=None, kw_only=True, converter=_tuple_or_none)


def _unknown() -> Any:
    return attrs.field(factory=dict, converter=dict, kw_only=True)


class TeepMessage:
    """Behaviour shared by the five messages: option map encode/decode, type dispatch."""

    TYPE: ClassVar[TeepType]
    OPTIONS: ClassVar[frozenset[int]]
    POSITIONAL: ClassVar[tuple[tuple[str, Callable[[Any, str], Any]], ...]] = ()

    unknown_options: Mapping[int, Any]

    def options_cbor(self) -> dict[int, Any]:
        out: dict[int, Any] = dict(self.unknown_options)
        attrs_of = _OPTION_ATTRS.get(type(self))
        if attrs_of is None:
            attrs_of = _OPTION_ATTRS[type(self)] = tuple(
                (int(label), _CODECS[label][0]) for label in self.OPTIONS
            )
        for label, attr in attrs_of:
            value = getattr(self, attr)
            if value is not None:
                t = type(value)
                # leaves are their own CBOR value (``_enc``'s answer, without its checks)
                out[label] = value if t is bytes or t is int or t is str else _enc(value)
        return out

    def to_cbor(self) -> list[Any]:
        positional = [_enc(getattr(self, attr)) for attr, _ in self.POSITIONAL]
        return [int(self.TYPE), self.options_cbor(), *positional]

    def encode(self) -> bytes:
        """Deterministic CBOR of the message (the COSE_Sign1 payload)."""
        positional = [_enc_positional(getattr(self, attr)) for attr, _ in self.POSITIONAL]
        return dumps([int(self.TYPE), self.options_cbor(), *positional])

    @classmethod
    def _from_list(cls, items: list[Any]) -> Self:
        expected = 2 + len(cls.POSITIONAL)
        if len(items) != expected:
            raise _bad(f"{cls.__name__}: expected {expected} elements, got {len(items)}")
        options = items[1]
        if not isinstance(options, dict):
            raise _bad(f"{cls.__name__}: options must be a map")
        kwargs: dict[str, Any] = {}
        unknown: dict[int, Any] = {}
        known = cls.OPTIONS
        for label, value in options.items():
            # (an exact int needs no further type check: ``_is_int``'s answer for it is True)
            if (type(label) is not int and not _is_int(label)) or label < 0:
                raise _bad(f"{cls.__name__}: option labels are unsigned integers")
            if label in known:
                attr, check, wire_name = _OPTION_CODECS[label]
                kwargs[attr] = check(value, wire_name)
            else:
                unknown[label] = value  # ignored, as the draft requires; kept for re-encoding
        if cls.POSITIONAL:
            for (attr, check), value in zip(cls.POSITIONAL, items[2:], strict=True):
                kwargs[attr] = check(value, attr.replace("_", "-"))
        # the attrs subclasses' __init__ takes the option/positional attributes as keywords
        message: Self = cast(Any, cls)(unknown_options=unknown, **kwargs)
        return message

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> Any:
        """Decode untrusted bytes; refuses a message of another type than ``cls``."""
        msg = decode(data, lenient)
        if cls is not TeepMessage and not isinstance(msg, cls):
            raise WireError(
                Code.TEEP_UNEXPECTED_MESSAGE, f"expected {cls.__name__}, got {type(msg).__name__}"
            )
        return msg


@attrs.frozen
class QueryRequest(TeepMessage):
    """TAM → Agent: what the TAM supports and wants to know, with a fresh challenge."""

    TYPE = TeepType.QUERY_REQUEST
    OPTIONS = frozenset(
        {
            TeepOption.TOKEN,
            TeepOption.SUPPORTED_FRESHNESS_MECHANISMS,
            TeepOption.CHALLENGE,
            TeepOption.VERSIONS,
            TeepOption.ATTESTATION_PAYLOAD_FORMAT,
            TeepOption.ATTESTATION_PAYLOAD,
            TeepOption.SUIT_REPORTS,
        }
    )
    POSITIONAL = (
        ("supported_cipher_suites", _nonempty(_cipher_suite)),
        ("supported_suit_cose_profiles", _nonempty(_profile)),
        ("data_item_requested", _uint(64)),
    )

    supported_cipher_suites: tuple[CipherSuite, ...] = attrs.field(
        default=EDBP_CIPHER_SUITES, converter=tuple
    )
    supported_suit_cose_profiles: tuple[SuitCoseProfile, ...] = attrs.field(
        default=EDBP_SUIT_COSE_PROFILES, converter=tuple
    )
    data_item_requested: int = int(DataItem.ATTESTATION | DataItem.TRUSTED_COMPONENTS)
    token: bytes | None = _opt()
    challenge: bytes | None = _opt()
    versions: tuple[int, ...] | None = _opt_tuple()
    freshness_mechanisms: tuple[int, ...] | None = _opt_tuple()
    attestation_payload_format: str | None = _opt()
    attestation_payload: bytes | None = _opt()
    suit_reports: tuple[bytes, ...] | None = _opt_tuple()
    unknown_options: Mapping[int, Any] = _unknown()


@attrs.frozen
class QueryResponse(TeepMessage):
    """Agent → TAM: evidence (attestation payload), installed and requested components."""

    TYPE = TeepType.QUERY_RESPONSE
    OPTIONS = frozenset(
        {
            TeepOption.TOKEN,
            TeepOption.SELECTED_VERSION,
            TeepOption.ATTESTATION_PAYLOAD_FORMAT,
            TeepOption.ATTESTATION_PAYLOAD,
            TeepOption.SUIT_REPORTS,
            TeepOption.TC_LIST,
            TeepOption.REQUESTED_TC_LIST,
            TeepOption.UNNEEDED_MANIFEST_LIST,
            TeepOption.EXT_LIST,
            EDBP_AGENT_NONCE,
        }
    )

    token: bytes | None = _opt()
    selected_version: int | None = _opt()
    attestation_payload_format: str | None = _opt()
    attestation_payload: bytes | None = _opt()
    suit_reports: tuple[bytes, ...] | None = _opt_tuple()
    tc_list: tuple[SystemProperties, ...] | None = _opt_tuple()
    requested_tc_list: tuple[RequestedTc, ...] | None = _opt_tuple()
    unneeded_manifest_list: tuple[ComponentId, ...] | None = _opt_tuple()
    ext_list: tuple[int, ...] | None = _opt_tuple()
    #: edbp extension: the Agent's fresh nonce for this exchange, which every Update of the
    #: session must echo (protocol.md 8.3.1, P-9.7c)
    agent_nonce: bytes | None = _opt()
    unknown_options: Mapping[int, Any] = _unknown()


@attrs.frozen
class Update(TeepMessage):
    """TAM → Agent: SUIT envelopes to process (``manifest_list`` holds their exact bytes)."""

    TYPE = TeepType.UPDATE
    OPTIONS = frozenset(
        {
            TeepOption.TOKEN,
            TeepOption.UNNEEDED_MANIFEST_LIST,
            EDBP_UNNEEDED_SEQUENCE_NUMBERS,
            EDBP_UNNEEDED_DEVICE,
            EDBP_AGENT_NONCE,
            TeepOption.MANIFEST_LIST,
            TeepOption.ATTESTATION_PAYLOAD_FORMAT,
            TeepOption.ATTESTATION_PAYLOAD,
            TeepOption.ERR_CODE,
            TeepOption.ERR_MSG,
            TeepOption.ERR_LANG,
        }
    )

    token: bytes | None = _opt()
    manifest_list: tuple[bytes, ...] | None = _opt_tuple()
    unneeded_manifest_list: tuple[ComponentId, ...] | None = _opt_tuple()
    #: edbp extension: the SUIT sequence number of the install each unneeded component's
    #: removal is bound to, in the order of ``unneeded_manifest_list`` (protocol.md 8.4)
    unneeded_sequence_numbers: tuple[int, ...] | None = _opt_tuple()
    #: edbp extension: the UEID of the device the uninstall is for (protocol.md 9, P-9.10d)
    unneeded_device: bytes | None = _opt()
    #: edbp extension: the Agent nonce of the QueryResponse this session verified, echoed
    #: (protocol.md 8.3.1, section 9 P-9.7c)
    agent_nonce: bytes | None = _opt()
    attestation_payload_format: str | None = _opt()
    attestation_payload: bytes | None = _opt()
    err_code: int | None = _opt()
    err_msg: str | None = _opt()
    err_lang: str | None = _opt()
    unknown_options: Mapping[int, Any] = _unknown()

    def envelopes(self, lenient: bool = False) -> list[Any]:
        """The SUIT envelopes of ``manifest_list``, decoded (not yet verified)."""
        from edbp.reference.wire.suit_envelope import Envelope

        return [Envelope.decode(data, lenient) for data in self.manifest_list or ()]


@attrs.frozen
class Success(TeepMessage):
    """Agent → TAM: the update was installed; ``suit_reports`` holds signed SUIT reports."""

    TYPE = TeepType.SUCCESS
    OPTIONS = frozenset({TeepOption.TOKEN, TeepOption.MSG, TeepOption.SUIT_REPORTS})

    token: bytes | None = _opt()
    msg: str | None = _opt()
    suit_reports: tuple[bytes, ...] | None = _opt_tuple()
    unknown_options: Mapping[int, Any] = _unknown()


@attrs.frozen
class Error(TeepMessage):
    """Agent → TAM: processing failed with ``err_code`` (TeepErr); nothing was installed."""

    TYPE = TeepType.ERROR
    OPTIONS = frozenset(
        {
            TeepOption.TOKEN,
            TeepOption.ERR_MSG,
            TeepOption.ERR_LANG,
            TeepOption.SUPPORTED_TEEP_CIPHER_SUITES,
            TeepOption.SUPPORTED_FRESHNESS_MECHANISMS,
            TeepOption.SUPPORTED_SUIT_COSE_PROFILES,
            TeepOption.CHALLENGE,
            TeepOption.VERSIONS,
            TeepOption.SUIT_REPORTS,
        }
    )
    POSITIONAL = (("err_code", _err_code),)

    err_code: int
    token: bytes | None = _opt()
    err_msg: str | None = _opt()
    err_lang: str | None = _opt()
    cipher_suites: tuple[CipherSuite, ...] | None = _opt_tuple()
    freshness_mechanisms: tuple[int, ...] | None = _opt_tuple()
    suit_cose_profiles: tuple[SuitCoseProfile, ...] | None = _opt_tuple()
    challenge: bytes | None = _opt()
    versions: tuple[int, ...] | None = _opt_tuple()
    suit_reports: tuple[bytes, ...] | None = _opt_tuple()
    unknown_options: Mapping[int, Any] = _unknown()


# ------------------------------------------------------------------- negotiation helpers


def select_cipher_suite(
    offered: tuple[CipherSuite, ...], supported: tuple[CipherSuite, ...] = EDBP_CIPHER_SUITES
) -> CipherSuite:
    """The first offered cipher suite this side supports (TEEP_UNSUPPORTED_CIPHER_SUITE)."""
    for suite in offered:
        if suite in supported:
            return suite
    raise WireError(Code.TEEP_UNSUPPORTED_CIPHER_SUITE, "no common TEEP cipher suite")


def select_version(offered: tuple[int, ...] | None, supported: tuple[int, ...] = (0,)) -> int:
    """The protocol version to use: absent ``versions`` means 0 (TEEP_UNSUPPORTED_VERSION)."""
    for version in offered if offered is not None else (0,):
        if version in supported:
            return version
    raise WireError(Code.TEEP_UNSUPPORTED_VERSION, "no common TEEP version")


def check_freshness(offered: tuple[int, ...] | None) -> None:
    """edbp uses nonce freshness only; absent ``supported-freshness-mechanisms`` means nonce
    (TEEP_UNSUPPORTED_FRESHNESS)."""
    if offered is not None and Freshness.NONCE not in offered:
        raise WireError(Code.TEEP_UNSUPPORTED_FRESHNESS, "nonce freshness not offered")


MESSAGE_CLASSES: dict[int, type[TeepMessage]] = {
    cls.TYPE: cls for cls in (QueryRequest, QueryResponse, Update, Success, Error)
}


def decode(data: bytes, lenient: bool = False) -> TeepMessage:
    """Decode one TEEP message (the COSE_Sign1 payload) from untrusted bytes."""
    items = loads(data, LENIENT if lenient else receive_limits())
    return from_cbor(items)


def from_cbor(items: Any) -> TeepMessage:
    if not isinstance(items, list) or len(items) < 2:
        raise _bad("a TEEP message is [type, options, ...]")
    msg_type = items[0]
    if (type(msg_type) is not int and not _is_int(msg_type)) or not 0 <= msg_type <= 255:
        raise _bad("TEEP message type must be a small unsigned integer")
    cls = MESSAGE_CLASSES.get(msg_type)
    if cls is None:
        raise WireError(Code.TEEP_UNKNOWN_TYPE, f"message type {msg_type}")
    return cls._from_list(items)


# --------------------------------------------------------------------------- COSE_Sign1

#: Signature algorithms of the two cipher suites (emit -9/-19; the older ids accepted on verify)
TEEP_SIGNATURE_ALGS = frozenset({-9, -7, -19, -8, -49})
_TEEP_ALGS = frozenset(Alg(a) for a in TEEP_SIGNATURE_ALGS)
_SUITE_FOR_ALG = {
    -49: CIPHER_SUITE_MLDSA65,
    -9: CIPHER_SUITE_ESP256,
    -7: CIPHER_SUITE_ESP256,
    -19: CIPHER_SUITE_ED25519,
    -8: CIPHER_SUITE_ED25519,
}


def cipher_suite_for(alg: int) -> CipherSuite:
    """The TEEP cipher suite a signing algorithm belongs to (TEEP_UNSUPPORTED_CIPHER_SUITE)."""
    suite = _SUITE_FOR_ALG.get(int(alg))
    if suite is None:
        raise WireError(
            Code.TEEP_UNSUPPORTED_CIPHER_SUITE, f"algorithm {alg} is in no TEEP cipher suite"
        )
    return suite


def sign(msg: TeepMessage, key: Any, alg: int = -9, *, kid: bytes | None = None) -> bytes:
    """The message as a tagged COSE_Sign1 (attached payload), signed with ``key``."""

    cipher_suite_for(alg)
    unprotected: dict[Label, Any] | None = None
    if kid is not None:
        unprotected = {HeaderLabel.KID.value: kid}
    return sign1(msg.encode(), key, as_alg(alg), unprotected=unprotected).encode()


def verify(
    data: bytes,
    key: Any,
    *,
    algorithms: Any = TEEP_SIGNATURE_ALGS,
    lenient: bool = False,
) -> TeepMessage:
    """Verify a signed TEEP message with ``key`` under ``algorithms`` and decode it. edbp emits
    COSE_Sign1_Tagged; an untagged COSE_Sign1 is accepted too (same structure, no ambiguity).

    A bad signature is VerificationError(TEEP_BAD_SIGNATURE); header, key and algorithm
    refusals keep the COSE layer's codes."""

    cose = _sign1_of(data, lenient)
    return decode(_verified_payload(cose, key, algorithms), lenient)


def _sign1_of(data: bytes, lenient: bool) -> Sign1:
    cose = Sign1.decode(data, lenient=lenient, tagged=None)
    if cose.payload is None:
        raise _bad("a TEEP message is signed with an attached payload")
    return cose


def _verified_payload(cose: Sign1, key: Any, algorithms: Any) -> bytes:
    if algorithms is TEEP_SIGNATURE_ALGS:
        allowed = _TEEP_ALGS
    else:
        allowed = frozenset(Alg(a) for a in algorithms if a in TEEP_SIGNATURE_ALGS)
    try:
        return cose.verify(key, algorithms=allowed)
    except VerificationError:
        raise VerificationError(Code.TEEP_BAD_SIGNATURE) from None


@attrs.frozen
class Opened:
    """A signed TEEP message decoded but *not verified* (``open_signed``): ``message`` may be
    read for routing only (which session, which device); ``verify`` checks the signature and
    hands it out for acting on. Why: a receiver that routes by the token and then verifies
    would otherwise decode the same bytes twice; the message is the same either way (decoding
    is a function of the bytes, and the signature covers exactly the payload bytes decoded)."""

    cose: Sign1 = attrs.field(repr=False)
    message: TeepMessage

    def verify(self, key: Any, *, algorithms: Any = TEEP_SIGNATURE_ALGS) -> TeepMessage:
        """``verify(data, key)``'s result and refusals, without decoding again."""
        _verified_payload(self.cose, key, algorithms)
        return self.message


def open_signed(data: bytes, lenient: bool = False) -> Opened:
    """``peek``, keeping the COSE_Sign1 so that the message can be verified afterwards."""
    cose = _sign1_of(data, lenient)
    assert cose.payload is not None
    return Opened(cose, decode(cose.payload, lenient))


def peek(data: bytes, lenient: bool = False) -> TeepMessage:
    """The message inside a COSE_Sign1 *without* verifying it: for routing and diagnostics
    only, never for acting on the message."""

    return open_signed(data, lenient).message
