"""Recognise a COSE / SUIT / TEEP / EAT structure and render it as CBOR diagnostic notation with
its labels named (``edbp inspect``).

Why a renderer that knows the structures: a generic diag shows ``20: h'8214...'``; a reviewer
needs ``/ install / 20: << [ / directive-set-component-index / 12, 0, ... ] >>``. The renderer
walks the value with a *context* (envelope, manifest, sequence, COSE headers, TEEP options...),
names keys and enumerated values from ``names``, and opens byte strings that the structure says
hold CBOR (``<< ... >>``). It only shows: it never verifies and never decides anything, so it
accepts any well-formed CBOR (tagged map keys, nesting to 64, any encoding) and notes, instead of
refusing, what is not core deterministic encoding (``Inspection.notes``), at the top level and in
every nested ``bstr .cbor``. ``strict=True`` refuses non-deterministic input instead. It stays
bounded on hostile input: the decoder's chunk and work budgets apply (spec/protocol.md §5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from edbp.reference.wire import names as N
from edbp.reference.wire.cbor import (
    LENIENT,
    STRICT,
    Simple,
    Tag,
    Undefined,
    loads,
    receive_limits,
)
from edbp.reference.wire.teep_labels import TeepType

from edbp.errors import Code, EdbpError, WireError

__all__ = ["Inspection", "inspect", "recognise", "render"]

_INDENT = "  "
#: an array element to render: (value, context, comment shown before it)
_Item = tuple[Any, str | None, str | None]


@attrs.frozen
class Inspection:
    """What was recognised (``kind``) and its diagnostic notation (``text``)."""

    kind: str
    text: str
    #: where the input is not core deterministic encoding (RFC 8949 §4.2.1), one line each
    notes: tuple[str, ...] = ()


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str | bytes)


def _comment(name: str | None) -> str:
    return f" / {name} /" if name else ""


def _try_cbor(data: bytes) -> tuple[bool, Any]:
    try:
        return True, loads(data, LENIENT)
    except EdbpError:
        return False, None


def deterministic_note(data: bytes, where: str) -> str | None:
    """A one-line note when ``data`` (well-formed) is not in core deterministic encoding."""
    try:
        loads(data, STRICT)
    except WireError as exc:
        if exc.code in (
            Code.CBOR_UNSORTED_KEYS,
            Code.CBOR_NON_SHORTEST,
            Code.CBOR_INDEFINITE_LENGTH,
            Code.CBOR_TOO_DEEP,
        ):
            return f"{where}: not deterministic CBOR ({exc.code.name}: {exc.detail})"
    return None


class _Renderer:
    """Context-directed diag writer. ``ctx`` names are the methods ``_ctx_<name>``."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.ctx_funcs: dict[str, Callable[[Any, int], str]] = {
            name[5:]: getattr(self, name) for name in dir(self) if name.startswith("_ctx_")
        }

    # --------------------------------------------------------------------- generic

    def value(self, v: Any, level: int, ctx: str | None = None) -> str:
        if ctx is not None and ctx in self.ctx_funcs:
            return self.ctx_funcs[ctx](v, level)
        return self.generic(v, level)

    def generic(self, v: Any, level: int) -> str:
        if v is True:
            return "true"
        if v is False:
            return "false"
        if v is None:
            return "null"
        if isinstance(v, Undefined):
            return "undefined"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            if math.isnan(v):
                return "NaN"
            if math.isinf(v):
                return "Infinity" if v > 0 else "-Infinity"
            return repr(v)
        if isinstance(v, bytes):
            return self.bstr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list | tuple):
            return self.array([(x, None, None) for x in v], level)
        if isinstance(v, Mapping):
            return self.map({k: (x, None) for k, x in v.items()}, {}, level)
        if isinstance(v, Tag):
            return self.tag(v, level)
        if isinstance(v, Simple):
            return f"simple({v.value})"
        return repr(v)

    def bstr(self, data: bytes) -> str:
        # show text-like byte strings as '...' (as the drafts' examples do), else hex
        if (
            data
            and all(0x20 <= b < 0x7F and b not in (0x27, 0x5C) for b in data)
            and len(data) >= 3
        ):
            return "'" + data.decode("ascii") + "'"
        return "h'" + data.hex() + "'"

    def embedded(self, data: Any, level: int, ctx: str | None) -> str:
        """A bstr that holds CBOR: ``<< item >>`` (or plain hex when it does not decode)."""
        if not isinstance(data, bytes):
            return self.value(data, level)
        if data == b"":
            return "h''"
        ok, item = self.nested(data, ctx)
        if not ok:
            return self.bstr(data)
        return "<< " + self.value(item, level, ctx) + " >>"

    def nested(self, data: bytes, ctx: str | None) -> tuple[bool, Any]:
        """Decode a bstr that holds CBOR, noting a non-deterministic encoding."""
        ok, item = _try_cbor(data)
        if ok:
            note = deterministic_note(data, f"<< {ctx or 'bstr'} >> at bytes {data[:8].hex()}..")
            if note and note not in self.notes:
                self.notes.append(note)
        return ok, item

    def array(self, items: Sequence[tuple[Any, str | None, str | None]], level: int) -> str:
        """items: (value, context, comment-before)."""
        if not items:
            return "[]"
        if all(ctx is None and c is None and _scalar(v) for v, ctx, c in items):
            inline = "[" + ", ".join(self.generic(v, level) for v, _, _ in items) + "]"
            if len(inline) <= 72:
                return inline
        pad = "\n" + _INDENT * (level + 1)
        parts = [
            pad + (f"/ {c} / " if c else "") + self.value(v, level + 1, ctx) for v, ctx, c in items
        ]
        return "[" + ",".join(parts) + "\n" + _INDENT * level + "]"

    def map(
        self,
        entries: Mapping[Any, tuple[Any, str | None]],
        key_names: Mapping[Any, str],
        level: int,
        value_names: Mapping[Any, Mapping[int, str]] | None = None,
    ) -> str:
        if not entries:
            return "{}"
        pad = "\n" + _INDENT * (level + 1)
        parts = []
        for k, (v, ctx) in entries.items():
            name = key_names.get(k) if isinstance(k, int | str) else None
            key_txt = self.generic(k, level + 1)
            val_txt = self.value(v, level + 1, ctx)
            vn = (value_names or {}).get(k)
            if vn and isinstance(v, int) and not isinstance(v, bool) and v in vn:
                val_txt += _comment(vn[v])
            parts.append(pad + (f"/ {name} / " if name else "") + key_txt + ": " + val_txt)
        return "{" + ",".join(parts) + "\n" + _INDENT * level + "}"

    def tag(self, v: Tag, level: int) -> str:
        ctx = {
            18: "cose_sign1",
            17: "cose_mac0",
            97: "cose_mac",
            96: "cose_encrypt",
            16: "cose_encrypt0",
            107: "envelope_body",
            1070: "manifest",
            61: "cwt_body",
        }.get(v.tag)
        prefix = f"/ {N.TAG_NAMES[v.tag]} / " if v.tag in N.TAG_NAMES else ""
        return prefix + f"{v.tag}(" + self.value(v.value, level, ctx) + ")"

    def named_map(
        self,
        v: Any,
        level: int,
        key_names: Mapping[Any, str],
        ctxs: Mapping[Any, str],
        value_names: Mapping[Any, Mapping[int, str]] | None = None,
        default_ctx: str | None = None,
    ) -> str:
        if not isinstance(v, Mapping):
            return self.generic(v, level)
        entries = {k: (x, ctxs.get(k, default_ctx)) for k, x in v.items()}
        return self.map(entries, key_names, level, value_names)

    # --------------------------------------------------------------------- SUIT

    def _ctx_envelope_body(self, v: Any, level: int) -> str:
        if not isinstance(v, Mapping):
            return self.generic(v, level)
        ctxs: dict[Any, str] = {
            2: "bstr_auth",
            3: "bstr_manifest",
            15: "bstr_sequence",
            16: "bstr_sequence",
            18: "bstr_sequence",
            20: "bstr_sequence",
            23: "bstr_text",
        }
        for k in v:
            if isinstance(k, str):
                ctxs[k] = "bstr_integrated"
        return self.named_map(v, level, N.SUIT_ENVELOPE_NAMES, ctxs)

    def _ctx_bstr_integrated(self, v: Any, level: int) -> str:
        if isinstance(v, bytes):
            ok, item = _try_cbor(v)
            if ok and isinstance(item, Tag) and item.tag == 107:
                return self.embedded(v, level, None)
        return self.generic(v, level)

    def _ctx_bstr_auth(self, v: Any, level: int) -> str:
        return self.embedded(v, level, "auth")

    def _ctx_auth(self, v: Any, level: int) -> str:
        if not isinstance(v, list) or not v:
            return self.generic(v, level)
        items = [(v[0], "bstr_digest", "digest")]
        items += [(b, "bstr_cose", "authentication-block") for b in v[1:]]
        return self.array(items, level)

    def _ctx_bstr_digest(self, v: Any, level: int) -> str:
        return self.embedded(v, level, "digest")

    def _ctx_digest(self, v: Any, level: int) -> str:
        if isinstance(v, list) and len(v) >= 2 and isinstance(v[0], int):
            alg = self.generic(v[0], level + 1) + _comment(N.ALG_NAMES.get(v[0]))
            pad = "\n" + _INDENT * (level + 1)
            rest = "".join("," + pad + self.generic(x, level + 1) for x in v[2:])
            return (
                "["
                + pad
                + "/ algorithm-id / "
                + alg
                + ","
                + pad
                + "/ digest-bytes / "
                + self.generic(v[1], level + 1)
                + rest
                + "\n"
                + _INDENT * level
                + "]"
            )
        return self.generic(v, level)

    def _ctx_bstr_cose(self, v: Any, level: int) -> str:
        return self.embedded(v, level, "auto")

    def _ctx_auto(self, v: Any, level: int) -> str:
        """Whatever ``recognise`` names (an untagged SUIT envelope inside a TEEP Update, ...)."""
        kind = recognise(v)
        ctx = _TOP_CTX.get(kind.split(":")[0]) if kind and not isinstance(v, Tag) else None
        return self.value(v, level, ctx)

    def _ctx_bstr_manifest(self, v: Any, level: int) -> str:
        return self.embedded(v, level, "manifest")

    def _ctx_manifest(self, v: Any, level: int) -> str:
        ctxs = {
            3: "bstr_common",
            5: "component_id",
            7: "severable",
            8: "severable",
            9: "severable",
            15: "severable",
            16: "severable",
            20: "severable",
            24: "severable",
            23: "severable_text",
        }
        return self.named_map(v, level, N.SUIT_MANIFEST_NAMES, ctxs)

    def _ctx_severable(self, v: Any, level: int) -> str:
        if isinstance(v, list):
            return self._ctx_digest(v, level)
        return self.embedded(v, level, "sequence")

    def _ctx_severable_text(self, v: Any, level: int) -> str:
        if isinstance(v, list):
            return self._ctx_digest(v, level)
        return self.embedded(v, level, "text")

    def _ctx_bstr_text(self, v: Any, level: int) -> str:
        return self.embedded(v, level, "text")

    def _ctx_text(self, v: Any, level: int) -> str:
        if not isinstance(v, Mapping):
            return self.generic(v, level)
        return self.named_map(v, level, {}, {}, default_ctx="text_lmap")

    def _ctx_text_lmap(self, v: Any, level: int) -> str:
        if not isinstance(v, Mapping):
            return self.generic(v, level)
        ctxs = {k: "text_component" for k in v if isinstance(k, tuple | list)}
        return self.named_map(v, level, N.SUIT_TEXT_NAMES, ctxs)

    def _ctx_text_component(self, v: Any, level: int) -> str:
        return self.named_map(v, level, N.SUIT_TEXT_COMPONENT_NAMES, {})

    def _ctx_bstr_common(self, v: Any, level: int) -> str:
        return self.embedded(v, level, "common")

    def _ctx_common(self, v: Any, level: int) -> str:
        ctxs = {1: "dependencies", 4: "bstr_shared"}
        return self.named_map(v, level, N.SUIT_COMMON_NAMES, ctxs)

    def _ctx_dependencies(self, v: Any, level: int) -> str:
        return self.named_map(v, level, {}, {}, default_ctx="dependency")

    def _ctx_dependency(self, v: Any, level: int) -> str:
        return self.named_map(v, level, N.SUIT_DEPENDENCY_NAMES, {})

    def _ctx_component_id(self, v: Any, level: int) -> str:
        return self.generic(v, level)

    def _ctx_bstr_shared(self, v: Any, level: int) -> str:
        return self.embedded(v, level, "sequence")

    def _ctx_bstr_sequence(self, v: Any, level: int) -> str:
        return self.embedded(v, level, "sequence")

    def _ctx_sequence(self, v: Any, level: int) -> str:
        if not isinstance(v, list) or len(v) % 2:
            return self.generic(v, level)
        pad = "\n" + _INDENT * (level + 1)
        parts = []
        for i in range(0, len(v), 2):
            code, arg = v[i], v[i + 1]
            name = N.SUIT_COMMAND_NAMES.get(code) if isinstance(code, int) else None
            if isinstance(code, int) and code < 0:
                name = "command-custom"
            if code in (19, 20):
                arg_txt = self.value(arg, level + 1, "parameters")
            elif code == 15 and isinstance(arg, list):
                arg_txt = self.array([(x, "bstr_sequence", None) for x in arg], level + 1)
            elif code == 32:
                arg_txt = self.embedded(arg, level + 1, "sequence")
            else:
                arg_txt = self.generic(arg, level + 1)
            parts.append(
                pad
                + (f"/ {name} / " if name else "")
                + self.generic(code, level + 1)
                + ", "
                + arg_txt
            )
        return "[" + ",".join(parts) + "\n" + _INDENT * level + "]"

    def _ctx_parameters(self, v: Any, level: int) -> str:
        ctxs = {3: "bstr_digest", 19: "bstr_cose"}
        return self.named_map(v, level, N.SUIT_PARAMETER_NAMES, ctxs)

    # --------------------------------------------------------------------- SUIT report

    def _ctx_report(self, v: Any, level: int) -> str:
        ctxs = {99: "reference", 3: "records", 4: "result"}
        return self.named_map(v, level, N.SUIT_REPORT_NAMES, ctxs)

    def _ctx_reference(self, v: Any, level: int) -> str:
        if isinstance(v, list) and v:
            items: list[_Item] = [(x, None, "suit-report-manifest-uri") for x in v[:-1]]
            items.append((v[-1], "digest", "suit-report-manifest-digest"))
            return self.array(items, level)
        return self.generic(v, level)

    def _ctx_records(self, v: Any, level: int) -> str:
        if not isinstance(v, list):
            return self.generic(v, level)
        return self.array(
            [(x, "record" if isinstance(x, list) else "system_properties", None) for x in v], level
        )

    def _ctx_record(self, v: Any, level: int) -> str:
        if not isinstance(v, list):
            return self.generic(v, level)
        items = [
            (x, "parameters" if i == 4 else None, N.SUIT_RECORD_NAMES.get(i))
            for i, x in enumerate(v)
        ]
        return self.array(items, level)

    def _ctx_system_properties(self, v: Any, level: int) -> str:
        names = {0: "system-component-id", **N.SUIT_PARAMETER_NAMES}
        return self.named_map(v, level, names, {3: "bstr_digest"})

    def _ctx_result(self, v: Any, level: int) -> str:
        return self.named_map(
            v, level, N.SUIT_REPORT_NAMES, {6: "record"}, {7: N.SUIT_REPORT_REASON_NAMES}
        )

    # --------------------------------------------------------------------- COSE

    def _headers(self, v: Any, level: int) -> str:
        ctxs = {-1: "cose_key", -2: "cose_key"}
        return self.named_map(v, level, N.HEADER_NAMES, ctxs, {1: N.ALG_NAMES})

    def _ctx_headers(self, v: Any, level: int) -> str:
        return self._headers(v, level)

    def _ctx_bstr_headers(self, v: Any, level: int) -> str:
        return self.embedded(v, level, "headers")

    def _cose(
        self, v: Any, level: int, labels: tuple[str, ...], ctx3: str | None, payload_ctx: str | None
    ) -> str:
        if not isinstance(v, list) or len(v) != len(labels):
            return self.generic(v, level)
        items: list[_Item] = [(v[0], "bstr_headers", labels[0]), (v[1], "headers", labels[1])]
        if payload_ctx is not None and isinstance(v[2], bytes):
            items.append((v[2], payload_ctx, labels[2]))
        else:
            items.append((v[2], None, labels[2]))
        for x, label in zip(v[3:], labels[3:], strict=True):
            items.append((x, ctx3, label))
        return self.array(items, level)

    def _ctx_cose_sign1(self, v: Any, level: int) -> str:
        return self._cose(
            v, level, ("protected", "unprotected", "payload", "signature"), None, "bstr_payload"
        )

    def _ctx_cose_mac0(self, v: Any, level: int) -> str:
        return self._cose(
            v, level, ("protected", "unprotected", "payload", "tag"), None, "bstr_payload"
        )

    def _ctx_cose_mac(self, v: Any, level: int) -> str:
        return self._cose_mac(v, level)

    def _cose_mac(self, v: Any, level: int) -> str:
        """COSE_Mac: [protected, unprotected, payload, tag, recipients] (RFC 9052 §6.1)."""
        if not isinstance(v, list) or len(v) != 5:
            return self.generic(v, level)
        items: list[_Item] = [
            (v[0], "bstr_headers", "protected"),
            (v[1], "headers", "unprotected"),
            (v[2], "bstr_payload" if isinstance(v[2], bytes) else None, "payload"),
            (v[3], None, "tag"),
            (v[4], "recipients", "recipients"),
        ]
        return self.array(items, level)

    def _ctx_cose_encrypt0(self, v: Any, level: int) -> str:
        return self._cose(v, level, ("protected", "unprotected", "ciphertext"), None, None)

    def _ctx_cose_encrypt(self, v: Any, level: int) -> str:
        return self._cose(
            v, level, ("protected", "unprotected", "ciphertext", "recipients"), "recipients", None
        )

    def _ctx_recipients(self, v: Any, level: int) -> str:
        if not isinstance(v, list):
            return self.generic(v, level)
        return self.array([(r, "recipient", None) for r in v], level)

    def _ctx_recipient(self, v: Any, level: int) -> str:
        if isinstance(v, list) and len(v) == 4:
            return self._cose(
                v,
                level,
                ("protected", "unprotected", "ciphertext", "recipients"),
                "recipients",
                None,
            )
        return self._cose(v, level, ("protected", "unprotected", "ciphertext"), None, None)

    def _ctx_cose_key(self, v: Any, level: int) -> str:
        if not isinstance(v, Mapping):
            return self.generic(v, level)
        symmetric = v.get(1) == 4
        names = dict(N.KEY_PARAM_NAMES)
        names[-1] = "k" if symmetric else "crv"
        vnames: dict[Any, Mapping[int, str]] = {1: N.KEY_TYPE_NAMES, 3: N.ALG_NAMES}
        if not symmetric:
            vnames[-1] = N.CURVE_NAMES
        return self.named_map(v, level, names, {}, vnames)

    def _ctx_bstr_payload(self, v: Any, level: int) -> str:
        """A COSE payload: open it when it holds a structure edbp knows."""
        ok, item = _try_cbor(v)
        if not ok:
            return self.bstr(v)
        kind = recognise(item)
        ctx = (
            {
                "TEEP message": "teep",
                "EAT claims": "eat",
                "SUIT report": "report",
                "SUIT digest": "digest",
            }.get(kind.split(":")[0])
            if kind
            else None
        )
        return "<< " + self.value(item, level, ctx) + " >>"

    def _ctx_cwt_body(self, v: Any, level: int) -> str:
        return self.generic(v, level)

    # --------------------------------------------------------------------- TEEP

    def _ctx_teep(self, v: Any, level: int) -> str:
        if not isinstance(v, list) or len(v) < 2:
            return self.generic(v, level)
        pad = "\n" + _INDENT * (level + 1)
        t = v[0]
        parts = [
            pad + "/ type / " + self.generic(t, level + 1) + _comment(N.TEEP_TYPE_NAMES.get(t))
        ]
        parts.append(pad + "/ options / " + self.value(v[1], level + 1, "teep_options"))
        labels: tuple[str, ...] = ()
        if t == TeepType.QUERY_REQUEST:
            labels = (
                "supported-teep-cipher-suites",
                "supported-suit-cose-profiles",
                "data-item-requested",
            )
        elif t == TeepType.ERROR:
            labels = ("err-code",)
        for i, x in enumerate(v[2:]):
            label = labels[i] if i < len(labels) else None
            txt = self.generic(x, level + 1)
            if label == "err-code" and x in N.TEEP_ERR_NAMES:
                txt += _comment(N.TEEP_ERR_NAMES[x])
            parts.append(pad + (f"/ {label} / " if label else "") + txt)
        return "[" + ",".join(parts) + "\n" + _INDENT * level + "]"

    def _ctx_teep_options(self, v: Any, level: int) -> str:
        ctxs = {
            7: "bstr_cose",
            10: "manifest_list",
            19: "suit_reports",
            8: "tc_list",
            14: "requested_tc_list",
        }
        vnames = {23: N.TEEP_ERR_NAMES}
        return self.named_map(v, level, N.TEEP_OPTION_NAMES, ctxs, vnames)

    def _ctx_manifest_list(self, v: Any, level: int) -> str:
        if not isinstance(v, list):
            return self.generic(v, level)
        return self.array([(x, "bstr_cose", None) for x in v], level)

    def _ctx_suit_reports(self, v: Any, level: int) -> str:
        if not isinstance(v, list):
            return self.generic(v, level)
        return self.array([(x, "bstr_cose", None) for x in v], level)

    def _ctx_tc_list(self, v: Any, level: int) -> str:
        if not isinstance(v, list):
            return self.generic(v, level)
        return self.array([(x, "system_properties", None) for x in v], level)

    def _ctx_requested_tc_list(self, v: Any, level: int) -> str:
        if not isinstance(v, list):
            return self.generic(v, level)
        return self.array([(x, "teep_options", None) for x in v], level)

    # --------------------------------------------------------------------- EAT

    def _ctx_eat(self, v: Any, level: int) -> str:
        return self.named_map(v, level, N.EAT_CLAIM_NAMES, {8: "cnf", 273: "eat_manifests"})

    def _ctx_cnf(self, v: Any, level: int) -> str:
        return self.named_map(v, level, {1: "COSE_Key"}, {1: "cose_key"})

    def _ctx_eat_manifests(self, v: Any, level: int) -> str:
        if not isinstance(v, list):
            return self.generic(v, level)
        return self.array([(x, "eat_manifest", None) for x in v], level)

    def _ctx_eat_manifest(self, v: Any, level: int) -> str:
        if isinstance(v, list) and len(v) == 2:
            return self.array([(v[0], None, "content-format"), (v[1], "bstr_cose", "body")], level)
        return self.generic(v, level)


def recognise(item: Any) -> str | None:
    """Name the structure ``item`` (a decoded CBOR value) is, or None."""
    if isinstance(item, Tag):
        if item.tag == 107:
            return "SUIT envelope"
        if item.tag == 1070:
            return "SUIT manifest"
        if item.tag == 61:
            return "CWT"
        if item.tag in N.COSE_TAG_NAMES:
            return N.COSE_TAG_NAMES[item.tag]
        return None
    if isinstance(item, list) and len(item) >= 2 and isinstance(item[1], Mapping):
        t = item[0]
        if isinstance(t, int) and not isinstance(t, bool) and t in N.TEEP_TYPE_NAMES:
            return "TEEP message: " + N.TEEP_TYPE_NAMES[t]
    if (
        isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], int)
        and not isinstance(item[0], bool)
        and item[0] in N.ALG_NAMES
        and isinstance(item[1], bytes)
    ):
        return "SUIT digest"
    if isinstance(item, Mapping):
        if (
            isinstance(item.get(2), bytes)
            and isinstance(item.get(3), bytes)
            and 1 not in item
            and all(isinstance(k, int | str) for k in item)
        ):
            return "SUIT envelope (untagged)"
        if 99 in item and 3 in item:
            return "SUIT report"
        if 256 in item or (10 in item and 8 in item):
            return "EAT claims"
        if item.get(1) == 1 and isinstance(item.get(3), bytes) and 2 in item:
            return "SUIT manifest"
        if item.get(1) in (1, 2, 4) and (-1 in item or -2 in item):
            return "COSE_Key"
    return None


_TOP_CTX = {
    "SUIT envelope": None,  # tagged: the tag selects the context
    "SUIT envelope (untagged)": "envelope_body",
    "SUIT manifest": "manifest",
    "TEEP message": "teep",
    "EAT claims": "eat",
    "SUIT report": "report",
    "SUIT digest": "digest",
    "COSE_Key": "cose_key",
}


def _renderer_value(renderer: _Renderer, item: Any) -> str:
    kind = recognise(item)
    ctx = _TOP_CTX.get(kind.split(":")[0]) if kind else None
    if isinstance(item, Tag):
        ctx = None
    return renderer.value(item, 0, ctx)


def render(item: Any) -> str:
    """Diagnostic notation of a decoded item, with the labels of what it is named."""
    return _renderer_value(_Renderer(), item)


def inspect(data: bytes, lenient: bool = True, *, strict: bool = False) -> Inspection:
    """Decode ``data`` and render it. Any well-formed CBOR is shown (``lenient``, the default;
    ``lenient=False`` applies the protocol's receive limits, ``strict=True`` also requires
    deterministic encoding); what is not deterministic is listed in ``notes``. Raises WireError
    on bytes that are not one well-formed CBOR item, or beyond the bounds."""
    if not isinstance(data, bytes):
        raise WireError(Code.CBOR_MALFORMED, "input is not bytes")
    item = loads(data, STRICT if strict else LENIENT if lenient else receive_limits())
    kind = recognise(item)
    if isinstance(item, Tag) and item.tag == 18:
        inner = item.value[2] if isinstance(item.value, list) and len(item.value) == 4 else None
        if isinstance(inner, bytes):
            ok, payload = _try_cbor(inner)
            sub = recognise(payload) if ok else None
            if sub:
                kind = f"{sub} in COSE_Sign1"
    renderer = _Renderer()
    text = _renderer_value(renderer, item)
    top = deterministic_note(data, "top level")
    notes = ([top] if top else []) + renderer.notes
    return Inspection(kind or "CBOR item", text, tuple(notes))
