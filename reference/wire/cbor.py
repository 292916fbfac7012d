"""Deterministic CBOR encoding and a receive-liberal, bounded decoder for untrusted bytes.

Why our own codec instead of cbor2's: what edbp signs must be byte-identical across
implementations (RFC 8949 §4.2.1 core deterministic encoding: shortest arguments, definite
lengths, map keys sorted by their encoded bytes), and what edbp accepts from an untrusted party
must be refused, each with its own stable code and never with a lower library's exception, when
it is unsafe: duplicate keys (two parsers could pick different values), a tag inside a map key,
trailing bytes, deep nesting, oversize input or runaway work (chunk and item budgets).

Emit strictly, receive liberally (spec/protocol.md §5): ``dumps`` always writes deterministic
CBOR, while ``loads`` by default (``RECEIVE``) accepts any well-formed encoding the standards
allow: map keys in any order, non-shortest heads, indefinite lengths. That is safe because COSE
and SUIT check signatures and digests over the bytes as received, never over a re-encoding.
``STRICT`` (the deterministic check) stays an explicit option: pass it, or run the receiver
inside ``strict_decoding()``.

The vector generator also needs byte-level control (``Raw`` splices pre-encoded bytes), so the
encoder is explicit too.

Decoded values: int, bytes, str, list, dict, bool, None, float, ``Tag``, ``Simple``,
``Undefined``. Map keys that are arrays decode to tuples (hashable).
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
import operator
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from edbp.errors import Code, WireError

__all__ = [
    "LENIENT",
    "RECEIVE",
    "STRICT",
    "UNDEFINED",
    "Limits",
    "Raw",
    "Simple",
    "Tag",
    "Undefined",
    "bstr",
    "diag",
    "dumps",
    "is_deterministic",
    "loads",
    "loads_prefix",
    "receive_limits",
    "strict_decoding",
    "text",
    "uint",
]


@attrs.frozen
class Tag:
    """A CBOR tag (major type 6) around a value."""

    tag: int
    value: Any


@attrs.frozen
class Simple:
    """A simple value other than false/true/null/undefined."""

    value: int


@attrs.frozen
class Raw:
    """Pre-encoded CBOR bytes spliced into the output verbatim (one data item, trusted).

    Used to embed an item exactly as received (a signed structure re-emitted unchanged) and by
    the vector generator to build deliberately malformed messages.
    """

    data: bytes


class Undefined:
    """The CBOR ``undefined`` simple value (23); a singleton."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = Undefined()


@attrs.frozen(cache_hash=True)  # a memo key of the COSE header checks: hashed per message
class Limits:
    """Bounds for decoding untrusted input (spec/protocol.md §5 and §6).

    The defaults are the receive rule: any well-formed encoding is accepted
    (``deterministic=False``, ``allow_indefinite=True``); ``STRICT`` turns the deterministic
    checks on. ``max_chunks`` bounds the chunks of one indefinite-length string and
    ``max_work`` the items, chunks and entries of one decode call, so that hostile input (16 MiB
    of empty chunks) costs bounded time and memory whatever the other limits are.
    """

    max_size: int = 16 * 1024 * 1024
    max_depth: int = 16
    max_items: int = 65536  # per array or map
    deterministic: bool = False  # True: refuse non-shortest forms and unsorted map keys
    allow_indefinite: bool = True
    allow_floats: bool = True
    allow_tagged_keys: bool = False  # a tag inside a map key (spec/errors.md row 108)
    max_chunks: int = 4096  # per indefinite-length string
    max_work: int = 1 << 20  # items + chunks + map entries per decode call


#: The receive rule (spec/protocol.md §5): what every protocol party uses by default.
RECEIVE = Limits()
#: Core deterministic encoding required (the explicit strict option; ``is_deterministic``).
STRICT = Limits(deterministic=True, allow_indefinite=False)
#: For showing arbitrary well-formed data (``edbp inspect``, published examples): deeper
#: nesting and tagged map keys are shown; duplicates and trailing bytes are still refused.
LENIENT = Limits(max_depth=64, allow_tagged_keys=True)

_RECEIVE_LIMITS: contextvars.ContextVar[Limits] = contextvars.ContextVar(
    "edbp_receive_limits", default=RECEIVE
)


def receive_limits() -> Limits:
    """The limits ``loads`` uses when none are given: ``RECEIVE``, or ``STRICT`` inside
    ``strict_decoding()``."""
    return _RECEIVE_LIMITS.get()


@contextlib.contextmanager
def strict_decoding(limits: Limits = STRICT) -> Iterator[None]:
    """Make every decoder called in this context (and not given explicit limits) require core
    deterministic encoding: the documented opt-in for a profile that needs strict receivers."""
    token = _RECEIVE_LIMITS.set(limits)
    try:
        yield
    finally:
        _RECEIVE_LIMITS.reset(token)


# ----------------------------------------------------------------------------------- encoding


def _head(major: int, arg: int) -> bytes:
    if type(arg) is not int or arg < 0:  # (a plain int >= 0 needs no further check)
        if not isinstance(arg, int) or isinstance(arg, bool) or arg < 0:
            raise WireError(Code.CBOR_UNSUPPORTED_TYPE, "negative head argument (tag number?)")
    if arg < 24:
        return bytes(((major << 5) | arg,))
    if arg < 0x100:
        return bytes(((major << 5) | 24, arg))
    if arg < 0x10000:  # the length of most messages and of the envelopes in them
        return bytes(((major << 5) | 25, arg >> 8, arg & 0xFF))
    if arg < 0x100000000:
        return bytes([(major << 5) | 26]) + arg.to_bytes(4, "big")
    if arg < 0x10000000000000000:
        return bytes([(major << 5) | 27]) + arg.to_bytes(8, "big")
    raise WireError(Code.CBOR_UNSUPPORTED_TYPE, "integer out of CBOR range")


def _float(value: float) -> bytes:
    """Shortest of half/single/double that round-trips exactly (preferred serialization)."""
    if math.isnan(value):
        return b"\xf9\x7e\x00"
    for fmt, prefix in (("e", b"\xf9"), ("f", b"\xfa")):
        try:
            packed = struct.pack(">" + fmt, value)
        except OverflowError:
            continue
        if struct.unpack(">" + fmt, packed)[0] == value:
            return prefix + packed
    return b"\xfb" + struct.pack(">d", value)


def _encode_other(obj: Any, out: list[bytes]) -> None:
    """Everything ``_encode``'s exact-type fast paths do not cover (subclasses, tags, ...)."""
    if isinstance(obj, Raw):
        out.append(obj.data)
    elif obj is False:
        out.append(b"\xf4")
    elif obj is True:
        out.append(b"\xf5")
    elif obj is None:
        out.append(b"\xf6")
    elif obj is UNDEFINED:
        out.append(b"\xf7")
    elif isinstance(obj, int):
        out.append(_head(0, obj) if obj >= 0 else _head(1, -1 - obj))
    elif isinstance(obj, bytes | bytearray | memoryview):
        data = bytes(obj)
        out.append(_head(2, len(data)))
        out.append(data)
    elif isinstance(obj, str):
        data = obj.encode("utf-8")
        out.append(_head(3, len(data)))
        out.append(data)
    elif isinstance(obj, list | tuple):
        out.append(_head(4, len(obj)))
        for item in obj:
            _encode(item, out)
    elif isinstance(obj, Mapping):
        _encode_map(obj, out)
    elif isinstance(obj, Tag):
        out.append(_head(6, obj.tag))
        _encode(obj.value, out)
    elif isinstance(obj, Simple):
        # 20-23 are false/true/null/undefined: encoding them as Simple would not round-trip
        if not isinstance(obj.value, int) or 20 <= obj.value < 32 or not 0 <= obj.value < 256:
            raise WireError(Code.CBOR_UNSUPPORTED_TYPE, "reserved simple value")
        out.append(bytes([0xE0 | obj.value]) if obj.value < 24 else bytes([0xF8, obj.value]))
    elif isinstance(obj, float):
        out.append(_float(obj))
    else:
        raise WireError(Code.CBOR_UNSUPPORTED_TYPE, f"cannot encode {type(obj).__name__}")


def _encode_map(obj: Mapping[Any, Any], out: list[bytes]) -> None:
    """Entries sorted by their keys' encoded bytes (RFC 8949 §4.2.1); two keys that encode
    identically are refused (the map could not be decoded back)."""
    pairs = []
    only_ints = True
    for k, v in obj.items():
        if type(k) is int and 0 <= k < 24:  # the labels of COSE, SUIT, TEEP and EAT maps
            pairs.append((_SMALL_UINT[k], v))
        else:
            only_ints = only_ints and type(k) is int
            pairs.append((_key_bytes(k), v))
    pairs.sort(key=_first)
    if not only_ints:  # distinct int keys never encode alike; other keys may (1 and Raw(01))
        for (k1, _), (k2, _) in itertools.pairwise(pairs):
            if k1 == k2:
                raise WireError(Code.CBOR_DUPLICATE_KEY, "two map keys encode identically")
    n = len(pairs)
    out.append(_SMALL[5][n] if n < 24 else _head(5, n))
    append = out.append
    for k, v in pairs:
        append(k)
        # the leaves protocol maps hold most (``_encode``'s byte string and small int rules)
        t = type(v)
        if t is bytes:
            n = len(v)
            append(_SMALL_BSTR[n] if n < 24 else _ONE_BYTE_BSTR[n] if n < 0x100 else _head(2, n))
            append(v)
        elif t is int and -24 <= v < 24:
            append(_SMALL_UINT[v] if v >= 0 else _SMALL_NINT[-1 - v])
        else:
            _encode(v, out)


#: the sort key of ``_encode_map``'s (key bytes, value) pairs (C-level, not a Python call)
_first = operator.itemgetter(0)


def _key_bytes(key: Any) -> bytes:
    t = type(key)
    if t is int or (t is not bool and isinstance(key, int)):  # int, IntEnum labels
        if -24 <= key < 24:  # the labels of COSE, SUIT, TEEP and EAT maps
            small: bytes = _SMALL[0][key] if key >= 0 else _SMALL[1][-1 - key]
            return small
    return dumps(key)


#: one-byte heads (argument < 24) by major type, and the one-byte encodings of 0..23, -1..-24
_SMALL = tuple(tuple(bytes([(major << 5) | i]) for i in range(24)) for major in range(8))
_SMALL_UINT = _SMALL[0]
_SMALL_NINT = _SMALL[1]
_SMALL_BSTR = _SMALL[2]
#: two-byte heads (argument 24..255) of uints and byte strings, made once
_ONE_BYTE_UINT = tuple(bytes((0x18, i)) for i in range(256))
_ONE_BYTE_BSTR = tuple(bytes((0x58, i)) for i in range(256))


def _encode(obj: Any, out: list[bytes]) -> None:
    # Fast paths on the exact type (what protocol code builds: int, bytes, str, list, tuple,
    # dict); bool is not int here (its type is bool), subclasses and the rest go the long way.
    # The bytes are those of ``_encode_other``'s general rules.
    t = type(obj)
    if t is int:
        if 0 <= obj < 24:
            out.append(_SMALL[0][obj])
        elif -24 <= obj < 0:
            out.append(_SMALL[1][-1 - obj])
        elif 0 <= obj < 0x100:
            out.append(_ONE_BYTE_UINT[obj])
        else:
            out.append(_head(0, obj) if obj >= 0 else _head(1, -1 - obj))
    elif t is bytes:
        n = len(obj)
        if n < 24:
            out.append(_SMALL[2][n])
        elif n < 0x100:
            out.append(_ONE_BYTE_BSTR[n])  # major 2, one-byte length (_head's bytes)
        else:
            out.append(_head(2, n))
        out.append(obj)
    elif t is str:
        data = obj.encode("utf-8")
        n = len(data)
        out.append(_SMALL[3][n] if n < 24 else _head(3, n))
        out.append(data)
    elif t is list or t is tuple:
        n = len(obj)
        append = out.append
        append(_SMALL[4][n] if n < 24 else _head(4, n))
        for item in obj:
            # the leaves of protocol arrays (short byte strings, small uints), inline: the
            # same bytes as the rules above, without a call per item
            ti = type(item)
            if ti is bytes:
                m = len(item)
                append(
                    _SMALL_BSTR[m] if m < 24 else _ONE_BYTE_BSTR[m] if m < 0x100 else _head(2, m)
                )
                append(item)
            elif ti is int and -24 <= item < 24:
                append(_SMALL_UINT[item] if item >= 0 else _SMALL_NINT[-1 - item])
            else:
                _encode(item, out)
    elif t is dict:
        _encode_map(obj, out)
    elif t is Raw:  # pre-encoded parts (a signed structure kept, a constant made once)
        out.append(obj.data)
    else:
        _encode_other(obj, out)


def bstr(data: bytes) -> bytes:
    """The encoding of one byte string (``dumps(data)`` for ``bytes``), for encoders that
    assemble a fixed structure from its parts."""
    n = len(data)
    if n < 24:
        return _SMALL_BSTR[n] + data
    if n < 0x100:
        return _ONE_BYTE_BSTR[n] + data
    return _head(2, n) + data


def uint(value: int) -> bytes:
    """The encoding of one unsigned integer (``dumps(value)`` for an ``int`` >= 0)."""
    if value < 24:
        return _SMALL_UINT[value]
    if value < 0x100:
        return _ONE_BYTE_UINT[value]
    return _head(0, value)


def text(value: str) -> bytes:
    """The encoding of one text string (``dumps(value)`` for a ``str``)."""
    data = value.encode("utf-8")
    n = len(data)
    return (_SMALL[3][n] if n < 24 else _head(3, n)) + data


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` in RFC 8949 §4.2.1 core deterministic encoding."""
    out: list[bytes] = []
    try:
        _encode(obj, out)
    except RecursionError:
        raise WireError(Code.CBOR_TOO_DEEP, "structure nested too deeply to encode") from None
    return b"".join(out)


# ----------------------------------------------------------------------------------- decoding


_ONE_BYTE = tuple(bytes([i]) for i in range(256))
#: ``_Decoder._leaf``'s "not a leaf it reads" (no decoded value is this object)
_NOT_LEAF = object()


def _minimal_info(value: int) -> int:
    """The additional-information value of the shortest head for ``value``."""
    if value < 24:
        return value
    if value < 0x100:
        return 24
    if value < 0x10000:
        return 25
    return 26 if value < 0x100000000 else 27


class _Decoder:
    __slots__ = ("data", "limits", "pos", "size", "work")

    def __init__(self, data: bytes, limits: Limits) -> None:
        self.data = data
        self.size = len(data)  # (the input never changes: its length, read once)
        self.limits = limits
        self.pos = 0
        self.work = 0

    def _spend(self) -> None:
        """One unit of work (an item, a chunk); the budget bounds hostile input's cost."""
        self.work += 1
        if self.work > self.limits.max_work:
            raise WireError(Code.CBOR_TOO_LARGE, f"more than {self.limits.max_work} items")

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > self.size:
            raise WireError(Code.CBOR_TRUNCATED, f"needs {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def _argument(self, info: int) -> int | None:
        """The head's argument; None for indefinite length (info 31)."""
        if info < 24:
            return info
        if info == 31:
            return None
        if info > 27:
            raise WireError(Code.CBOR_MALFORMED, f"reserved additional info {info}")
        size = 1 << (info - 24)
        value = int.from_bytes(self._take(size), "big")
        if self.limits.deterministic and info != _minimal_info(value):
            raise WireError(Code.CBOR_NON_SHORTEST, f"non-shortest argument at {self.pos}")
        return value

    def _length(self, n: int) -> int:
        if n > self.size - self.pos:
            raise WireError(Code.CBOR_TRUNCATED, f"length {n} exceeds remaining input")
        return n

    def _indefinite_ok(self) -> None:
        if not self.limits.allow_indefinite:
            raise WireError(Code.CBOR_INDEFINITE_LENGTH, f"indefinite length at {self.pos - 1}")

    def _count(self, n: int) -> int:
        if n > self.limits.max_items:
            raise WireError(Code.CBOR_TOO_LARGE, f"container of {n} items")
        if n > self.size - self.pos:  # every item takes at least one byte
            raise WireError(Code.CBOR_TRUNCATED, f"container of {n} items exceeds input")
        return n

    def _is_break(self) -> bool:
        if self.pos >= self.size:
            raise WireError(Code.CBOR_TRUNCATED, "missing break")
        if self.data[self.pos] == 0xFF:
            self.pos += 1
            return True
        return False

    def _chunks(self, major: int) -> bytes:
        parts: list[bytes] = []
        while not self._is_break():
            if len(parts) >= self.limits.max_chunks:
                raise WireError(
                    Code.CBOR_TOO_LARGE, f"more than {self.limits.max_chunks} string chunks"
                )
            self._spend()
            ib = self._take(1)[0]
            if ib >> 5 != major or (ib & 0x1F) == 31:
                raise WireError(Code.CBOR_MALFORMED, "bad chunk in indefinite string")
            n = self._argument(ib & 0x1F)
            assert n is not None
            parts.append(self._take(self._length(n)))
        return b"".join(parts)

    def item(self, depth: int, as_key: bool = False) -> Any:
        limits = self.limits
        if depth > limits.max_depth:
            raise WireError(Code.CBOR_TOO_DEEP, f"nesting deeper than {limits.max_depth}")
        # _spend() and _take(1), inlined: this runs once per data item
        self.work += 1
        if self.work > limits.max_work:
            raise WireError(Code.CBOR_TOO_LARGE, f"more than {limits.max_work} items")
        pos = self.pos
        data = self.data
        if pos >= self.size:
            raise WireError(Code.CBOR_TRUNCATED, f"needs 1 bytes at offset {pos}")
        ib = data[pos]
        self.pos = pos + 1
        major, info = ib >> 5, ib & 0x1F
        if info < 24:
            # the short forms (an argument in the head itself) of the common types
            if major == 0:
                return info
            if major == 1:
                return -1 - info
            if major == 2:
                return self._take(self._length(info))
            if major == 3:
                end = pos + 1 + info
                if end <= self.size:
                    self.pos = end
                    try:
                        return data[pos + 1 : end].decode("utf-8")
                    except UnicodeDecodeError:
                        raise WireError(
                            Code.CBOR_INVALID_UTF8, "text string is not UTF-8"
                        ) from None
            if major == 4:
                return self._array(self._count(info), depth, as_key)
            if major == 5 and not as_key:
                return self._map(info, depth)
        elif info == 24 and major == 2 and pos + 2 <= self.size:
            # a byte string of 24..255 bytes (keys, nonces, digests, signatures): the general
            # path's checks and result, without its calls
            n = data[pos + 1]
            end = pos + 2 + n
            if end <= self.size and (n >= 24 or not limits.deterministic):
                self.pos = end
                return data[pos + 2 : end]
        if major == 7:
            return self._simple(info)
        arg = self._argument(info)
        if major == 0:
            if arg is None:
                raise WireError(Code.CBOR_MALFORMED, "indefinite integer")
            return arg
        if major == 1:
            if arg is None:
                raise WireError(Code.CBOR_MALFORMED, "indefinite integer")
            return -1 - arg
        if major in (2, 3):
            if arg is None:
                self._indefinite_ok()
                raw = self._chunks(major)
            else:
                raw = self._take(self._length(arg))
            if major == 2:
                return raw
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise WireError(Code.CBOR_INVALID_UTF8, "text string is not UTF-8") from None
        if major == 4:
            items: list[Any] = []
            if arg is None:
                self._indefinite_ok()
                while not self._is_break():
                    items.append(self.item(depth + 1, as_key))
                    if len(items) > self.limits.max_items:
                        raise WireError(Code.CBOR_TOO_LARGE, "array too long")
            else:
                return self._array(self._count(arg), depth, as_key)
            return tuple(items) if as_key else items
        if major == 5:
            if as_key:
                raise WireError(Code.CBOR_UNSUPPORTED_TYPE, "map used as a map key")
            return self._map(arg, depth)
        # major 6: tag
        if arg is None:
            raise WireError(Code.CBOR_MALFORMED, "indefinite tag")
        if as_key and not self.limits.allow_tagged_keys:
            # no COSE, SUIT, TEEP or EAT map has a tagged key; two parsers may compare tagged
            # keys differently (tag kept or dropped), a duplicate-key differential
            raise WireError(Code.CBOR_UNEXPECTED_TAG, f"tag {arg} inside a map key")
        return Tag(arg, self.item(depth + 1, as_key))

    def _leaf(self, depth: int) -> Any:
        """The item at ``self.pos`` when it is a leaf protocol structures are made of (an int
        of one byte, a byte string of fewer than 256 bytes), read inline by the array and map
        loops with ``item``'s checks and accounting; ``_NOT_LEAF`` (nothing consumed) for
        anything else, or when a check would fail (``item`` then raises its own refusal)."""
        pos = self.pos
        data = self.data
        if pos >= self.size or depth > self.limits.max_depth:
            return _NOT_LEAF
        ib = data[pos]
        if ib < 0x38 and (ib & 0x1F) < 24:  # 0..23, -1..-24
            end = pos + 1
            value: Any = ib if ib < 0x20 else 0x1F - ib
        elif 0x40 <= ib < 0x58:  # a byte string of 0..23 bytes
            end = pos + 1 + (ib - 0x40)
            if end > self.size:
                return _NOT_LEAF
            value = data[pos + 1 : end]
        elif ib == 0x58 and pos + 2 <= self.size:  # 24..255 bytes (shortest when n >= 24)
            n = data[pos + 1]
            end = pos + 2 + n
            if end > self.size or (n < 24 and self.limits.deterministic):
                return _NOT_LEAF
            value = data[pos + 2 : end]
        else:
            return _NOT_LEAF
        self.work += 1
        if self.work > self.limits.max_work:
            raise WireError(Code.CBOR_TOO_LARGE, f"more than {self.limits.max_work} items")
        self.pos = end
        return value

    def _array(self, n: int, depth: int, as_key: bool) -> list[Any] | tuple[Any, ...]:
        """``n`` items at ``depth + 1`` (a tuple for a map key), leaves read by ``_leaf``."""
        items: list[Any] = []
        append = items.append
        data = self.data
        size = self.size
        limits = self.limits
        inline = depth + 1 <= limits.max_depth
        for _ in range(n):
            pos = self.pos
            if pos < size:
                ib = data[pos]
                if inline and ib < 0x38 and (ib & 0x1F) < 24:
                    # 0..23, -1..-24: ``_leaf``'s reading (and accounting), without its call
                    self.work += 1
                    if self.work > limits.max_work:
                        raise WireError(Code.CBOR_TOO_LARGE, f"more than {limits.max_work} items")
                    self.pos = pos + 1
                    append(ib if ib < 0x20 else 0x1F - ib)
                    continue
                if 0x40 <= ib <= 0x58:  # a short byte string: ``_leaf``
                    value = self._leaf(depth + 1)
                    if value is not _NOT_LEAF:
                        append(value)
                        continue
            append(self.item(depth + 1, as_key))
        return tuple(items) if as_key else items

    def _map(self, arg: int | None, depth: int) -> dict[Any, Any]:
        limits = self.limits
        data = self.data
        max_depth = limits.max_depth
        result: dict[Any, Any] = {}
        seen: set[bytes] = set()
        last_key: bytes | None = None
        if arg is None:
            self._indefinite_ok()
        else:
            if arg > self.limits.max_items:
                raise WireError(Code.CBOR_TOO_LARGE, f"map of {arg} entries")
            if arg * 2 > self.size - self.pos:  # every key and value takes a byte
                raise WireError(Code.CBOR_TRUNCATED, f"map of {arg} entries exceeds input")
        while True:
            if arg is None:
                if self._is_break():
                    break
                if len(result) >= self.limits.max_items:
                    raise WireError(Code.CBOR_TOO_LARGE, "map too long")
            elif len(result) == arg:
                break
            start = self.pos
            ib = data[start] if start < self.size else 0xFF
            if ib < 0x38 and (ib & 0x1F) < 24 and depth < max_depth:
                # a one-byte integer key (the labels of COSE, SUIT, TEEP and EAT maps): what
                # item() would do for it, inlined, with the same accounting
                self.work += 1
                if self.work > limits.max_work:
                    raise WireError(Code.CBOR_TOO_LARGE, f"more than {limits.max_work} items")
                self.pos = start + 1
                key = ib if ib < 0x20 else 0x1F - ib
                key_bytes = _ONE_BYTE[ib]
            else:
                key = self.item(depth + 1, as_key=True)
                key_bytes = data[start : self.pos]
            try:
                duplicate = key in result
            except TypeError:
                raise WireError(Code.CBOR_UNSUPPORTED_TYPE, "unhashable map key") from None
            # equal encodings (NaN keys) or equal Python values (1 and 1.0, 1 and true) are both
            # refused: the decoded dict could not hold the two entries apart
            if duplicate or key_bytes in seen:
                raise WireError(Code.CBOR_DUPLICATE_KEY, f"duplicate map key at offset {start}")
            seen.add(key_bytes)
            if self.limits.deterministic and last_key is not None and key_bytes <= last_key:
                raise WireError(Code.CBOR_UNSORTED_KEYS, f"map keys out of order at {start}")
            last_key = key_bytes
            pos = self.pos
            if pos < self.size:
                ib = data[pos]
                if ib < 0x38 and (ib & 0x1F) < 24 and depth < max_depth:
                    # 0..23, -1..-24: ``_leaf``'s reading (and accounting), without its call
                    self.work += 1
                    if self.work > limits.max_work:
                        raise WireError(Code.CBOR_TOO_LARGE, f"more than {limits.max_work} items")
                    self.pos = pos + 1
                    result[key] = ib if ib < 0x20 else 0x1F - ib
                    continue
                if 0x40 <= ib <= 0x58:  # a short byte string: ``_leaf``
                    value = self._leaf(depth + 1)
                    if value is not _NOT_LEAF:
                        result[key] = value
                        continue
            result[key] = self.item(depth + 1)
        return result

    def _simple(self, info: int) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if info == 23:
            return UNDEFINED
        if info < 20:
            return Simple(info)
        if info == 24:
            value = self._take(1)[0]
            if value < 32:
                raise WireError(Code.CBOR_MALFORMED, "simple value in two bytes below 32")
            return Simple(value)
        if info in (25, 26, 27):
            if not self.limits.allow_floats:
                raise WireError(Code.CBOR_UNSUPPORTED_TYPE, "floating point not allowed")
            fmt = {25: ">e", 26: ">f", 27: ">d"}[info]
            raw = self._take(struct.calcsize(fmt))
            number = float(struct.unpack(fmt, raw)[0])
            if self.limits.deterministic and _float(number)[1:] != raw:
                raise WireError(Code.CBOR_NON_SHORTEST, "float not in its shortest form")
            return number
        if info == 31:
            raise WireError(Code.CBOR_MALFORMED, f"unexpected break at {self.pos - 1}")
        raise WireError(Code.CBOR_MALFORMED, f"reserved simple encoding {info}")


# ------------------------------------------------------------------- the usual-subset reader


class _Defer(Exception):
    """``_usual_prefix`` meets something outside its subset: the general decoder decides.
    Raised as the class, a fresh instance each time: re-raising one shared instance would
    chain every traceback (and the frames, with their input bytes) onto it for good."""

#: the simple values ``_usual_prefix`` reads (``_Decoder._simple``'s answers for them)
_USUAL_SIMPLE: dict[int, Any] = {0xF4: False, 0xF5: True, 0xF6: None, 0xF7: UNDEFINED}


def _usual_argument(data: bytes, pos: int, info: int) -> tuple[int, int]:
    """The argument of a head with additional information 24..27 that starts before ``pos``,
    and the offset after it, when the head is in its shortest form; ``_Defer`` otherwise."""
    if info == 24:
        value = data[pos]
        if value < 24:
            raise _Defer
        return value, pos + 1
    if info == 25:
        value = (data[pos] << 8) | data[pos + 1]
        if value < 0x100:
            raise _Defer
        return value, pos + 2
    if info == 26 or info == 27:
        end = pos + (4 if info == 26 else 8)
        if end > len(data):
            raise _Defer
        value = int.from_bytes(data[pos:end], "big")
        if value < (0x10000 if info == 26 else 0x100000000):
            raise _Defer
        return value, end
    raise _Defer


def _usual_item(data: bytes, pos: int, depth: int, state: list[Any]) -> tuple[Any, int]:
    """The item at ``pos`` (at ``depth``, already within the depth limit) and the offset after
    it; ``_Defer`` for anything outside the subset."""
    ib = data[pos]
    pos += 1
    major = ib >> 5
    info = ib & 0x1F
    if info < 24:
        arg = info
    elif major == 7:  # floats, two-byte simple values, break
        raise _Defer
    else:
        arg, pos = _usual_argument(data, pos, info)
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major == 2 or major == 3:
        end = pos + arg
        if end > len(data):
            raise _Defer
        if major == 2:
            return data[pos:end], end
        try:
            return data[pos:end].decode("utf-8"), end
        except UnicodeDecodeError:
            raise _Defer from None
    if major == 4:
        return _usual_array(data, pos, arg, depth, state)
    if major == 5:
        return _usual_map(data, pos, arg, depth, state)
    if major == 7 and ib in _USUAL_SIMPLE:
        return _USUAL_SIMPLE[ib], pos
    raise _Defer  # tags, Simple(n)


def _usual_array(
    data: bytes, pos: int, n: int, depth: int, state: list[Any]
) -> tuple[list[Any], int]:
    """An array of ``n`` items from ``pos``; the leaves protocol arrays are made of (one-byte
    ints, byte strings of fewer than 24 bytes) read inline."""
    if n:
        # the general decoder's refusals (too many items, more items than bytes, too deep)
        if n > state[1] or n > len(data) - pos or depth >= state[0]:
            raise _Defer
        state[2] += n
    size = len(data)
    items: list[Any] = []
    append = items.append
    value: Any
    child = depth + 1
    for _ in range(n):
        ib = data[pos]
        if ib < 0x18:
            append(ib)
            pos += 1
        elif 0x20 <= ib < 0x38:
            append(0x1F - ib)
            pos += 1
        elif 0x40 <= ib < 0x58:
            end = pos + ib - 0x3F
            if end > size:
                raise _Defer
            append(data[pos + 1 : end])
            pos = end
        elif ib == 0x58 and data[pos + 1] >= 24:  # 24..255 bytes (keys, digests, signatures)
            end = pos + 2 + data[pos + 1]
            if end > size:
                raise _Defer
            append(data[pos + 2 : end])
            pos = end
        elif ib == 0x18 and data[pos + 1] >= 24:  # 24..255
            append(data[pos + 1])
            pos += 2
        elif 0x80 <= ib < 0x98:  # an array of fewer than 24 items: ``_usual_item``'s call
            value, pos = _usual_array(data, pos + 1, ib - 0x80, child, state)
            append(value)
        elif 0xA0 <= ib < 0xB8:  # a map of fewer than 24 entries
            value, pos = _usual_map(data, pos + 1, ib - 0xA0, child, state)
            append(value)
        else:
            value, pos = _usual_item(data, pos, child, state)
            append(value)
    return items, pos


def _usual_map(
    data: bytes, pos: int, n: int, depth: int, state: list[Any]
) -> tuple[dict[Any, Any], int]:
    """A map of ``n`` entries from ``pos``: keys are ints, byte strings or text strings (every
    other key, a duplicate, or under ``deterministic`` keys out of order: ``_Defer``)."""
    if n:
        if n > state[1] or 2 * n > len(data) - pos or depth >= state[0]:
            raise _Defer
        state[2] += 2 * n
    size = len(data)
    result: dict[Any, Any] = {}
    child = depth + 1
    deterministic = state[3]
    last: bytes | None = None
    for _ in range(n):
        start = pos
        ib = data[pos]
        if ib < 0x18:
            key: Any = ib
            pos += 1
        elif 0x20 <= ib < 0x38:
            key = 0x1F - ib
            pos += 1
        elif ib == 0x18 and data[pos + 1] >= 24:  # the labels 24..255 (SUIT_Report's 99)
            key = data[pos + 1]
            pos += 2
        elif ib == 0x19:  # the labels 256..65535 (EAT claims)
            key = (data[pos + 1] << 8) | data[pos + 2]
            if key < 0x100:
                raise _Defer
            pos += 3
        elif ib < 0x80 and ib & 0x1F != 31:  # another int, a byte or a text string
            key, pos = _usual_item(data, pos, child, state)
        else:
            raise _Defer
        if key in result:
            raise _Defer
        if deterministic:
            key_bytes = data[start:pos]
            if last is not None and key_bytes <= last:
                raise _Defer
            last = key_bytes
        ib = data[pos]
        if ib < 0x18:
            result[key] = ib
            pos += 1
        elif 0x20 <= ib < 0x38:
            result[key] = 0x1F - ib
            pos += 1
        elif 0x40 <= ib < 0x58:
            end = pos + ib - 0x3F
            if end > size:
                raise _Defer
            result[key] = data[pos + 1 : end]
            pos = end
        elif ib == 0x58 and data[pos + 1] >= 24:
            end = pos + 2 + data[pos + 1]
            if end > size:
                raise _Defer
            result[key] = data[pos + 2 : end]
            pos = end
        elif ib == 0x18 and data[pos + 1] >= 24:
            result[key] = data[pos + 1]
            pos += 2
        elif 0x80 <= ib < 0x98:
            result[key], pos = _usual_array(data, pos + 1, ib - 0x80, child, state)
        elif 0xA0 <= ib < 0xB8:
            result[key], pos = _usual_map(data, pos + 1, ib - 0xA0, child, state)
        else:
            result[key], pos = _usual_item(data, pos, child, state)
    return result, pos


def _usual_prefix(data: bytes, limits: Limits) -> tuple[Any, int] | None:
    """``_Decoder``'s answer for ``data`` when every item of it lies in the usual subset, read
    with fewer calls: definite lengths, every head in its shortest form, ints, byte and text
    strings, arrays, maps keyed by ints or strings, false, true, null and undefined, no tag,
    no float. None for anything else (an item outside the subset, a limit reached, a duplicate
    key, bytes missing, invalid UTF-8, keys out of order under ``deterministic``): then the
    general decoder reads ``data`` from the start and gives its value or its refusal, so the
    subset never decides a refusal, and what it accepts is what ``_Decoder`` gives (the same
    values, the same depth and work accounting: one unit per item)."""
    if limits.max_depth < 1:
        return None
    # [max_depth, max_items, work so far (the root item counts one), deterministic]
    state: list[Any] = [limits.max_depth, limits.max_items, 1, limits.deterministic]
    try:
        value, pos = _usual_item(data, 0, 1, state)
    except (_Defer, IndexError, RecursionError):
        return None
    if state[2] > limits.max_work:
        return None
    return value, pos


def loads_prefix(data: bytes, limits: Limits | None = None) -> tuple[Any, int]:
    """Decode one item from the front of ``data``; returns it and the bytes consumed.
    ``limits`` defaults to ``receive_limits()`` (the receive rule)."""
    if limits is None:
        limits = receive_limits()
    if not isinstance(data, bytes | bytearray | memoryview):
        raise WireError(Code.CBOR_MALFORMED, "input is not bytes")
    data = bytes(data)
    if len(data) > limits.max_size:
        raise WireError(Code.CBOR_TOO_LARGE, f"input of {len(data)} bytes")
    if not data:
        raise WireError(Code.CBOR_TRUNCATED, "empty input")
    found = _usual_prefix(data, limits)
    if found is not None:
        return found
    return _general_prefix(data, limits)


def _general_prefix(data: bytes, limits: Limits) -> tuple[Any, int]:
    """``loads_prefix`` by ``_Decoder`` alone (non-empty bytes within ``max_size``)."""
    decoder = _Decoder(data, limits)
    try:
        value = decoder.item(1)
    except RecursionError:
        raise WireError(Code.CBOR_TOO_DEEP, "nesting too deep") from None
    return value, decoder.pos


def loads(data: bytes, limits: Limits | None = None) -> Any:
    """Decode exactly one CBOR data item; anything after it is an error. ``limits`` defaults
    to ``receive_limits()``: any well-formed encoding, bounded (spec/protocol.md §5)."""
    value, used = loads_prefix(data, limits)
    if used != len(data):
        raise WireError(Code.CBOR_TRAILING_BYTES, f"{len(data) - used} bytes after the item")
    return value


def is_deterministic(data: bytes) -> bool:
    """True when ``data`` is one item in core deterministic encoding."""
    try:
        loads(data, STRICT)
    except WireError:
        return False
    return True


# ---------------------------------------------------------------------- diagnostic notation


def diag(obj: Any, names: Mapping[int, str] | None = None, indent: int | None = None) -> str:
    """RFC 8949 §8 diagnostic notation. ``names`` adds ``/ name /`` comments to int map keys."""

    def fmt(o: Any, level: int) -> str:
        sep = ", " if indent is None else ","
        pad = "" if indent is None else "\n" + " " * (indent * (level + 1))
        end = "" if indent is None else "\n" + " " * (indent * level)
        if o is True:
            return "true"
        if o is False:
            return "false"
        if o is None:
            return "null"
        if o is UNDEFINED:
            return "undefined"
        if isinstance(o, int):
            return str(o)
        if isinstance(o, float):
            if math.isnan(o):
                return "NaN"
            if math.isinf(o):
                return "Infinity" if o > 0 else "-Infinity"
            return repr(o)
        if isinstance(o, bytes | bytearray):
            return "h'" + bytes(o).hex() + "'"
        if isinstance(o, str):
            return '"' + o.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(o, list | tuple):
            if not o:
                return "[]"
            return "[" + sep.join(pad + fmt(i, level + 1) for i in o) + end + "]"
        if isinstance(o, Mapping):
            if not o:
                return "{}"
            parts = []
            for k, v in o.items():
                label = ""
                if names and isinstance(k, int) and k in names:
                    label = f" / {names[k]} /"
                parts.append(pad + fmt(k, level + 1) + label + ": " + fmt(v, level + 1))
            return "{" + sep.join(parts) + end + "}"
        if isinstance(o, Tag):
            return f"{o.tag}(" + fmt(o.value, level) + ")"
        if isinstance(o, Simple):
            return f"simple({o.value})"
        if isinstance(o, Raw):
            return "<<" + fmt(loads(o.data, LENIENT), level) + ">>"
        return repr(o)

    return fmt(obj, 0)
