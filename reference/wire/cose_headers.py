"""COSE header buckets (RFC 9052 §3): protected bytes kept verbatim, checks every message runs.

Why keep the protected bucket's bytes: signatures and AEAD tags cover the *serialized* protected
header, and a published message need not be deterministic CBOR. Re-encoding the decoded map could
change the bytes and break verification (or, worse, make two encodings verify alike), so the
bytes received are the bytes verified and the bytes re-emitted.

Checks made here, for every COSE structure: labels are int or text; no label in both buckets
(COSE_DUPLICATE_HEADER); known labels have the right type; IV and Partial IV not both; ``crit``
only in the protected bucket, non-empty, naming labels present there, each understood by the
caller (COSE_UNKNOWN_CRITICAL_HEADER); ``alg`` is a known id inside the caller's allow-list.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs

from edbp.errors import Code, WireError

from . import cbor
from .cose_algs import RECEIVE_ONLY_ALGS, Alg, HeaderLabel

__all__ = [
    "PARTY_INFO_LABELS",
    "UNDERSTOOD_LABELS",
    "Headers",
    "Label",
    "alg_only_protected",
    "require_bytes",
]

Label = int | str

#: The KDF party-info labels (RFC 9053 section 5.2), read by the ECDH-ES recipient's KDF context.
PARTY_INFO_LABELS: frozenset[Label] = frozenset(
    {
        HeaderLabel.PARTY_U_IDENTITY,
        HeaderLabel.PARTY_U_NONCE,
        HeaderLabel.PARTY_U_OTHER,
        HeaderLabel.PARTY_V_IDENTITY,
        HeaderLabel.PARTY_V_NONCE,
        HeaderLabel.PARTY_V_OTHER,
    }
)

#: Labels the COSE layer itself processes, so they may be marked critical without the caller
#: adding them to ``understood``.
UNDERSTOOD_LABELS: frozenset[Label] = (
    frozenset(
        {
            HeaderLabel.ALG,
            HeaderLabel.CRIT,
            HeaderLabel.CONTENT_TYPE,
            HeaderLabel.KID,
            HeaderLabel.IV,
            HeaderLabel.EPHEMERAL_KEY,
            HeaderLabel.STATIC_KEY,
            HeaderLabel.STATIC_KEY_ID,
            HeaderLabel.SALT,
        }
    )
    | PARTY_INFO_LABELS
)

_BSTR_LABELS = (
    HeaderLabel.KID,
    HeaderLabel.IV,
    HeaderLabel.PARTIAL_IV,
    HeaderLabel.KID_CONTEXT,
    HeaderLabel.STATIC_KEY_ID,
    HeaderLabel.SALT,
    HeaderLabel.PARTY_U_IDENTITY,
    HeaderLabel.PARTY_U_OTHER,
    HeaderLabel.PARTY_V_IDENTITY,
    HeaderLabel.PARTY_V_OTHER,
)


#: the labels the checks below read, as plain ints: reading ``HeaderLabel.X`` goes through the
#: enum's attribute machinery (about 0.15 us a time, a dozen times per header bucket); the
#: values and the order of the checks are the same
_ALG = HeaderLabel.ALG.value
_CRIT = HeaderLabel.CRIT.value
_KID = HeaderLabel.KID.value
_CONTENT_TYPE = HeaderLabel.CONTENT_TYPE.value
_PARTY_U_NONCE = HeaderLabel.PARTY_U_NONCE.value
_PARTY_V_NONCE = HeaderLabel.PARTY_V_NONCE.value
_ABSENT = object()
_BSTR_LABEL_NAMES = tuple((lbl.value, lbl.name) for lbl in _BSTR_LABELS)
_KEY_LABEL_NAMES = tuple(
    (lbl.value, lbl.name) for lbl in (HeaderLabel.EPHEMERAL_KEY, HeaderLabel.STATIC_KEY)
)

#: every registered alg value (built once: ``set(Alg)`` per message was measurable), and the
#: member for each (a dict lookup: ``Alg(raw)`` goes through the enum machinery)
_ALG_VALUES = frozenset(Alg)
_ALG_BY_VALUE: dict[int, Alg] = {int(a): a for a in Alg}

#: the deterministic encoding of {1: alg} per alg: the usual protected bucket of what edbp
#: signs and encrypts (one alg, nothing else), made once per alg
_ALG_ONLY_PROTECTED: dict[int, bytes] = {}


def alg_only_protected(alg: int) -> bytes:
    """The protected bucket ``{1: alg}`` as deterministic CBOR (the bytes ``cbor.dumps`` gives
    for that map), made once per alg."""
    found = _ALG_ONLY_PROTECTED.get(alg)
    if found is None:
        if len(_ALG_ONLY_PROTECTED) >= 64:  # bounded: only registered algs recur
            _ALG_ONLY_PROTECTED.clear()
        found = _ALG_ONLY_PROTECTED[int(alg)] = cbor.dumps({HeaderLabel.ALG.value: int(alg)})
    return found


def require_bytes(**values: Any) -> None:
    """Refuse (COSE_MALFORMED) a caller argument that should be bytes (or None) and is not, so
    a wrong type never surfaces as a TypeError from ``cryptography``."""
    for name, value in values.items():
        if value is not None and not isinstance(value, bytes):
            raise WireError(Code.COSE_MALFORMED, f"{name} must be bytes")


def _malformed(detail: str) -> WireError:
    return WireError(Code.COSE_MALFORMED, detail)


def _is_label(k: Any) -> bool:
    return (isinstance(k, int) and not isinstance(k, bool)) or isinstance(k, str)


def _check_bucket(m: Any, which: str) -> dict[Label, Any]:
    if type(m) is not dict and not isinstance(m, Mapping):  # (a dict: no ABC check)
        raise _malformed(f"{which} header is not a map")
    for k in m:
        if not (type(k) is int or _is_label(k)):
            raise _malformed(f"{which} header label {k!r} is neither int nor text")
    return dict(m)


@attrs.frozen
class Headers:
    """The two header buckets of one COSE layer.

    ``protected_raw`` is the exact content of the protected bstr (``b""`` when empty);
    ``protected`` is its decoded map. Build with ``make`` (encodes deterministically) or
    ``parse`` (untrusted, keeps the bytes). The plain constructor checks nothing: the vector
    generator uses it to build deliberately malformed headers (a label in both buckets, an
    unknown critical label) that ``make`` and ``parse`` refuse.
    """

    protected_raw: bytes
    protected: Mapping[Label, Any]
    unprotected: Mapping[Label, Any]

    @classmethod
    def make(
        cls,
        protected: Mapping[Label, Any] | None = None,
        unprotected: Mapping[Label, Any] | None = None,
        *,
        protected_raw: bytes | None = None,
    ) -> Headers:
        """Headers for a message edbp emits. The protected map is encoded deterministically and
        an empty one as ``h''`` (RFC 9052 §3); ``protected_raw`` overrides the encoding (vector
        generation: ``h'A0'``, non-deterministic orderings)."""
        if protected_raw is None:
            p = _check_bucket(protected or {}, "protected")
            alg = p.get(_ALG) if len(p) == 1 else None
            if isinstance(alg, int) and not isinstance(alg, bool):
                protected_raw = alg_only_protected(alg)  # {1: alg}, the usual bucket
            else:
                protected_raw = cbor.dumps(p) if p else b""
        elif protected:
            raise _malformed("give the protected map or protected_raw, not both")
        return cls.parse(protected_raw, dict(unprotected or {}), lenient=True)

    @classmethod
    def parse(cls, protected_raw: Any, unprotected: Any, *, lenient: bool = False) -> Headers:
        """Validate both buckets as received (untrusted).

        The protected bucket's own checks (it decodes to a map of labels, its values have the
        right types, its ``crit`` is well-formed) depend on its bytes and the limits only, so a
        bucket that passed them is remembered (``_checked_protected``) and only the checks
        involving the unprotected bucket run again. A bucket that fails them takes the full
        path below, so every refusal, and which one comes first, is as before."""
        if not isinstance(protected_raw, bytes):
            raise _malformed("protected header is not a byte string")
        limits = cbor.LENIENT if lenient else cbor.receive_limits()
        checked = _checked_protected(protected_raw, limits)
        if checked is None:
            return cls._parse_full(protected_raw, unprotected, limits)
        protected, protected_ivs = checked
        if type(unprotected) is dict and protected_ivs <= 1:
            # (IV and Partial IV both in the protected bucket: the full order below refuses it)
            if not unprotected:  # the common case: nothing to check
                return cls(protected_raw=protected_raw, protected=dict(protected), unprotected={})
            if len(unprotected) == 1 and _KID not in protected:
                # the other usual case, a kid alone (what edbp's parties put in a Sign1): an
                # int label, a byte string, not in the protected bucket, so every check below
                # passes (no duplicate, its type right, no crit, no IV)
                ((label, kid),) = unprotected.items()
                if type(label) is int and label == _KID and type(kid) is bytes:
                    kid_only: dict[Label, Any] = {_KID: kid}
                    return cls(protected_raw, dict(protected), kid_only)
        # the full path's order, minus what the protected bucket alone already passed
        unprot = _check_bucket(unprotected, "unprotected")
        both = protected.keys() & unprot.keys()
        if both:
            raise WireError(Code.COSE_DUPLICATE_HEADER, f"labels {sorted(map(str, both))} twice")
        _check_types(unprot)
        if _CRIT in unprot:
            raise _malformed("crit in the unprotected bucket")
        if protected_ivs + (_IV_LABELS[0] in unprot) + (_IV_LABELS[1] in unprot) > 1:
            raise WireError(Code.COSE_BAD_IV, "IV and Partial IV both present")
        return cls(protected_raw=protected_raw, protected=dict(protected), unprotected=unprot)

    @classmethod
    def _parse_full(cls, protected_raw: bytes, unprotected: Any, limits: cbor.Limits) -> Headers:
        """Every check of ``parse``, in its order, with nothing remembered."""
        protected: dict[Label, Any] = {}
        if protected_raw:
            protected = _check_bucket(cbor.loads(protected_raw, limits), "protected")
        unprot = _check_bucket(unprotected, "unprotected")
        both = set(protected) & set(unprot)
        if both:
            raise WireError(Code.COSE_DUPLICATE_HEADER, f"labels {sorted(map(str, both))} twice")
        for bucket in (protected, unprot):
            _check_types(bucket)
        if _CRIT in unprot:
            raise _malformed("crit in the unprotected bucket")
        _check_crit(protected)
        iv_count = sum(1 for b in (protected, unprot) for lbl in _IV_LABELS if lbl in b)
        if iv_count > 1:
            raise WireError(Code.COSE_BAD_IV, "IV and Partial IV both present")
        return cls(protected_raw=protected_raw, protected=protected, unprotected=unprot)

    # ------------------------------------------------------------------ access

    @property
    def protected_for_crypto(self) -> bytes:
        """The protected bytes as Sig_structure, Enc_structure and the KDF context use them:
        the bytes received, except that an empty map is always ``h''`` (RFC 9052 §3: recipients
        accept ``h'a0'`` for an empty bucket; the zero-length form is the one the cryptographic
        structures use)."""
        return self.protected_raw if self.protected else b""

    def get(self, label: Label, default: Any = None) -> Any:
        """The value of ``label`` from whichever bucket holds it."""
        if label in self.protected:
            return self.protected[label]
        return self.unprotected.get(label, default)

    def __contains__(self, label: Label) -> bool:
        return label in self.protected or label in self.unprotected

    @property
    def kid(self) -> bytes | None:
        """The kid header, if any."""
        kid = self.get(_KID)
        return kid if isinstance(kid, bytes) else None

    @property
    def raw_alg(self) -> Any:
        """The alg header as received (int, text or None)."""
        return self.get(_ALG)

    def alg(self, allowed: Collection[Alg]) -> Alg:
        """The alg, checked: present, known (COSE_UNKNOWN_ALG), and in ``allowed``
        (COSE_ALG_NOT_ALLOWED). No negotiation, no fallback."""
        raw = self.raw_alg
        if raw is None:
            raise _malformed("no alg header")
        if isinstance(raw, str) or raw not in _ALG_VALUES:
            raise WireError(Code.COSE_UNKNOWN_ALG, f"alg {raw!r}")
        alg = _ALG_BY_VALUE[raw]
        if alg in RECEIVE_ONLY_ALGS and alg not in allowed:
            # outside every delivery profile: refused as before edbp knew it (cose_algs)
            raise WireError(Code.COSE_UNKNOWN_ALG, f"alg {raw!r}")
        if alg not in allowed:
            raise WireError(Code.COSE_ALG_NOT_ALLOWED, f"alg {alg.name} not allowed here")
        return alg

    def check_alg_protected(self) -> None:
        """A signature's ``alg`` sits in the protected header (RFC 9052 section 3.1: it MUST be
        authenticated where it can be; protocol.md section 4): one carried only in the
        unprotected header is COSE_MALFORMED, whatever its value, since an attacker could
        change it without touching the signature."""
        if _ALG in self.unprotected and _ALG not in self.protected:
            raise _malformed("alg in the unprotected header")

    def check_critical(self, understood: Collection[Label] = ()) -> None:
        """Refuse a ``crit`` label neither this layer nor the caller understands."""
        for c in self.protected.get(_CRIT) or ():
            if c not in UNDERSTOOD_LABELS and c not in understood:
                raise WireError(Code.COSE_UNKNOWN_CRITICAL_HEADER, f"critical label {c!r}")

    def to_items(self) -> list[Any]:
        """``[protected bstr, unprotected map]``, the first two items of every COSE array."""
        return [self.protected_raw, dict(self.unprotected)]


#: protected buckets that passed their own checks, by (bytes, limits): a signer's protected
#: header is the same few bytes in every message it sends, and those checks are a pure function
#: of the bytes and the limits. Only buckets that passed are kept (a refusal is decided afresh,
#: on the full path, every time), only small ones, and the memo is bounded. The value is the
#: decoded map (copied out, never handed out itself) and how many IV labels it holds.
_PROTECTED_MEMO: dict[tuple[bytes, cbor.Limits], tuple[dict[Label, Any], int]] = {}
_PROTECTED_MEMO_ENTRIES = 1024
_PROTECTED_MEMO_BYTES = 256
_IV_LABELS = (HeaderLabel.IV.value, HeaderLabel.PARTIAL_IV.value)


def _checked_protected(raw: bytes, limits: cbor.Limits) -> tuple[dict[Label, Any], int] | None:
    """The protected bucket ``raw`` decoded under ``limits`` with its own checks passed (a map
    of labels, value types, ``crit``), and its count of IV labels; None when any of that
    fails (the caller then runs the full path, which raises the refusal in its order)."""
    key = (raw, limits)
    found = _PROTECTED_MEMO.get(key)
    if found is not None:
        return found
    try:
        protected = _check_bucket(cbor.loads(raw, limits), "protected") if raw else {}
        _check_types(protected)
        _check_crit(protected)
    except WireError:
        return None
    found = (protected, sum(1 for lbl in _IV_LABELS if lbl in protected))
    if len(raw) <= _PROTECTED_MEMO_BYTES:
        if len(_PROTECTED_MEMO) >= _PROTECTED_MEMO_ENTRIES:
            _PROTECTED_MEMO.clear()
        _PROTECTED_MEMO[key] = found
    return found


def _check_crit(protected: Mapping[Label, Any]) -> None:
    """``crit``, when present: a non-empty array of labels, each present in the protected
    bucket (RFC 9052 section 3.1)."""
    crit = protected.get(_CRIT)
    if crit is not None:
        if not isinstance(crit, list) or not crit or not all(_is_label(c) for c in crit):
            raise _malformed("crit is not a non-empty array of labels")
        for c in crit:
            if c not in protected:
                raise _malformed(f"critical label {c!r} not in the protected bucket")


#: every label ``_check_types`` has a rule for
_TYPED_LABELS = frozenset(
    {
        HeaderLabel.ALG,
        *_BSTR_LABELS,
        HeaderLabel.CONTENT_TYPE,
        HeaderLabel.EPHEMERAL_KEY,
        HeaderLabel.STATIC_KEY,
        HeaderLabel.PARTY_U_NONCE,
        HeaderLabel.PARTY_V_NONCE,
    }
)


#: the exact value types that pass each typed label's rule (``_check_types_in_order``): a
#: byte string; alg an int or text; content type an int (>= 0, checked) or text; a COSE_Key
#: map; a PartyU / PartyV nonce a byte string or an int
_EXACT_OK: dict[int, tuple[type, ...]] = {
    **{lbl.value: (bytes,) for lbl in _BSTR_LABELS},
    _ALG: (int, str),
    _CONTENT_TYPE: (int, str),
    HeaderLabel.EPHEMERAL_KEY.value: (dict,),
    HeaderLabel.STATIC_KEY.value: (dict,),
    _PARTY_U_NONCE: (bytes, int),
    _PARTY_V_NONCE: (bytes, int),
}


def _check_types(bucket: Mapping[Label, Any]) -> None:
    """Each label with a type rule holds a value of its type (COSE_MALFORMED otherwise).

    The labels present are looked at once each: a value of one of its rule's exact types
    passes (a negative content type does not); anything else (a subclass, a wrong type) is
    left to ``_check_types_in_order``, the rules in their order, which decides it and raises
    the first refusal, as it always has."""
    if not bucket:
        return
    typed = _TYPED_LABELS & bucket.keys()
    if not typed:  # no label with a type rule
        return
    for lbl in typed:
        value = bucket[lbl]
        if type(value) not in _EXACT_OK[lbl] or (
            lbl == _CONTENT_TYPE and type(value) is int and value < 0
        ):
            break
    else:
        return
    _check_types_in_order(bucket)


def _check_types_in_order(bucket: Mapping[Label, Any]) -> None:
    alg = bucket.get(_ALG)
    if _ALG in bucket and (isinstance(alg, bool) or not isinstance(alg, int | str)):
        raise _malformed("alg is neither int nor text")
    for lbl, name in _BSTR_LABEL_NAMES:
        if lbl in bucket and not isinstance(bucket[lbl], bytes):
            raise _malformed(f"header {name} is not a byte string")
    if _CONTENT_TYPE in bucket:
        ct = bucket[_CONTENT_TYPE]
        if isinstance(ct, bool) or not (isinstance(ct, str) or (isinstance(ct, int) and ct >= 0)):
            raise _malformed("content type is neither uint nor text")
    for lbl, name in _KEY_LABEL_NAMES:
        value = bucket.get(lbl, _ABSENT)
        if value is not _ABSENT and type(value) is not dict and not isinstance(value, Mapping):
            raise _malformed(f"header {name} is not a COSE_Key map")
    nonce = bucket.get(_PARTY_U_NONCE, b"")
    nonce_v = bucket.get(_PARTY_V_NONCE, b"")
    for n in (nonce, nonce_v):
        if isinstance(n, bool) or not isinstance(n, bytes | int):
            raise _malformed("PartyU/PartyV nonce is neither bstr nor int")
