"""SUIT report (draft-ietf-suit-report): what a device says it did with a manifest.

Why: the Agent's Success message carries a signed SUIT report naming the manifest (by digest) it
installed, and the TAM records it in its audit log (deploy.success / deploy.record). Only the
report map and records are modelled; capability reports are kept verbatim (lenient only).

SUIT_Report = { 99: [uri, SUIT_Digest], ? 2: nonce, 3: [* SUIT_Record / system-property-claims],
4: true / {5: code, 6: SUIT_Record, 7: reason} }
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs
from edbp.reference.wire.cbor import dumps
from edbp.reference.wire.suit_commands import RAW_FIELD, Parameters, set_raw
from edbp.reference.wire.suit_core import (
    CborItem,
    ComponentId,
    SuitDigest,
    as_dict,
    as_tuple,
    bad,
    check_component_id,
    expect_bstr,
    expect_int,
    expect_uint,
    load_cbor,
)
from edbp.reference.wire.suit_labels import ReportKey, ReportReason

__all__ = ["SuitRecord", "SuitReference", "SuitReport", "SuitResult", "SystemProperties"]


def _no_empty(uri: str | None) -> str | None:
    return uri or None


@attrs.frozen
class SuitReference(CborItem):
    """SUIT_Reference = [manifest uri, manifest digest].

    draft-ietf-suit-report's CDDL makes the URI a required ``tstr``; a manifest without
    ``suit-reference-uri`` is reported with the empty text (``uri=None``), so that every
    emitted report is an instance of the published rule (tests/interop/test_zcbor_teep.py).
    Receiving stays liberal: ``[digest]`` alone, as earlier edbp versions sent it, is read."""

    digest: SuitDigest
    #: ``None`` and ``""`` are the same reference (both written as the empty text)
    uri: str | None = attrs.field(default=None, converter=_no_empty)

    def to_cbor(self) -> list[Any]:
        return [self.uri or "", self.digest.to_cbor()]

    @classmethod
    def from_cbor(cls, value: Any, lenient: bool) -> SuitReference:
        if not isinstance(value, list) or len(value) not in (1, 2):
            raise bad("SUIT_Reference: expected [? uri, digest]")
        uri = None
        if len(value) == 2:
            if not isinstance(value[0], str):
                raise bad("SUIT_Reference: uri is text")
            uri = value[0] or None
        return cls(SuitDigest.from_cbor(value[-1], lenient), uri)


_U64 = 1 << 64


@attrs.frozen
class SuitRecord(CborItem):
    """SUIT_Record: where in which manifest a command ran, and the parameters it saw."""

    manifest_id: tuple[int, ...] = attrs.field(converter=as_tuple)
    section: int
    offset: int
    component_index: int
    properties: Parameters = attrs.field(factory=Parameters)

    def to_cbor(self) -> list[Any]:
        return [
            list(self.manifest_id),
            self.section,
            self.offset,
            self.component_index,
            self.properties.to_cbor(),
        ]

    @classmethod
    def from_cbor(cls, value: Any, lenient: bool) -> SuitRecord:
        if not isinstance(value, list) or len(value) < 5 or (len(value) > 5 and not lenient):
            raise bad("SUIT_Record: expected five elements")
        ids = value[0]
        if not isinstance(ids, list):
            raise bad("SUIT_Record: manifest id is an array")
        props = value[4]
        if not isinstance(props, dict):
            raise bad("SUIT_Record: properties is a map")
        # ``expect_uint`` / ``expect_int`` in this order, called only for a value that is not
        # an exact int in range (the one that refuses, or converts an int subclass)
        manifest_id = tuple(
            [i if type(i) is int and 0 <= i < _U64 else expect_uint(i, "record manifest id")
             for i in ids]
        )
        section, offset, index = value[1], value[2], value[3]
        if type(section) is not int:
            section = expect_int(section, "record section")
        if type(offset) is not int or not 0 <= offset < _U64:
            offset = expect_uint(offset, "record offset")
        if type(index) is not int or not 0 <= index < _U64:
            index = expect_uint(index, "record component index")
        return cls(
            manifest_id,
            section,
            offset,
            index,
            Parameters.from_cbor(props, lenient) if props else Parameters(),
        )


@attrs.frozen
class SystemProperties(CborItem):
    """system-property-claims: {0: component id, + parameters} (also TEEP's tc-list entries)."""

    component_id: ComponentId = attrs.field(converter=as_tuple)
    parameters: Parameters = attrs.field(factory=Parameters)

    def to_cbor(self) -> dict[int, Any]:
        out: dict[int, Any] = {0: list(self.component_id)}
        out.update(self.parameters.to_cbor())
        return out

    @classmethod
    def from_cbor(cls, value: Any, lenient: bool) -> SystemProperties:
        if not isinstance(value, dict) or 0 not in value:
            raise bad("system-property-claims: expected a map with component id (0)")
        rest = {k: v for k, v in value.items() if k != 0}
        params = Parameters.from_cbor(rest, lenient) if rest else Parameters()
        return cls(check_component_id(value[0], "system component id"), params)


@attrs.frozen
class SuitResult(CborItem):
    """A failed result: edbp/SUIT result code, the record where it failed, the reason."""

    code: int
    record: SuitRecord
    reason: ReportReason

    def to_cbor(self) -> dict[int, Any]:
        return {
            ReportKey.RESULT_CODE: self.code,
            ReportKey.RESULT_RECORD: self.record.to_cbor(),
            ReportKey.RESULT_REASON: int(self.reason),
        }

    @classmethod
    def from_cbor(cls, value: Any, lenient: bool) -> SuitResult:
        keys = {ReportKey.RESULT_CODE, ReportKey.RESULT_RECORD, ReportKey.RESULT_REASON}
        if not isinstance(value, dict) or set(value) != keys:
            raise bad("suit-report-result: expected {code, record, reason}")
        reason = expect_int(value[ReportKey.RESULT_REASON], "result reason")
        if reason not in set(ReportReason):
            raise bad(f"suit-report-result: unknown reason {reason}")
        return cls(
            expect_int(value[ReportKey.RESULT_CODE], "result code"),
            SuitRecord.from_cbor(value[ReportKey.RESULT_RECORD], lenient),
            ReportReason(reason),
        )


Record = SuitRecord | SystemProperties


#: the members a SUIT_Report must have, and every member edbp reads
_REPORT_REQUIRED = (ReportKey.REFERENCE, ReportKey.RECORDS, ReportKey.RESULT)
_REPORT_KNOWN = frozenset({*_REPORT_REQUIRED, ReportKey.NONCE})
#: the report keys ``SuitReport.decode`` reads, as module names (the same members)
_RK_NONCE = ReportKey.NONCE
_RK_RECORDS = ReportKey.RECORDS
_RK_REFERENCE = ReportKey.REFERENCE
_RK_RESULT = ReportKey.RESULT


@attrs.frozen
class SuitReport:
    """SUIT_Report. ``result`` is ``True`` for success or a ``SuitResult`` for failure."""

    reference: SuitReference
    records: tuple[Record, ...] = attrs.field(converter=as_tuple, default=())
    result: Literal[True] | SuitResult = True
    nonce: bytes | None = None
    extensions: Mapping[int, Any] = attrs.field(factory=dict, converter=as_dict)
    raw: bytes | None = RAW_FIELD()

    @property
    def succeeded(self) -> bool:
        return self.result is True

    def to_cbor(self) -> dict[int, Any]:
        out: dict[int, Any] = dict(self.extensions)
        out[ReportKey.REFERENCE] = self.reference.to_cbor()
        if self.nonce is not None:
            out[ReportKey.NONCE] = self.nonce
        out[ReportKey.RECORDS] = [r.to_cbor() for r in self.records]
        out[ReportKey.RESULT] = True if self.result is True else self.result.to_cbor()
        return out

    def encode(self) -> bytes:
        return self.raw if self.raw is not None else dumps(self.to_cbor())

    @classmethod
    def for_manifest(
        cls,
        manifest_digest: SuitDigest,
        *,
        uri: str | None = None,
        nonce: bytes | None = None,
        records: tuple[Record, ...] = (),
        result: Literal[True] | SuitResult = True,
    ) -> SuitReport:
        """The report a device sends about one manifest (a Success carries ``result=True``):
        the manifest is named by the digest from its authentication wrapper."""
        return cls(SuitReference(manifest_digest, uri), records, result, nonce)

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> SuitReport:
        value = load_cbor(data, "SUIT_Report", lenient)
        if not isinstance(value, dict):
            raise bad("SUIT_Report: expected a map")
        for key in _REPORT_REQUIRED:
            if key not in value:
                raise bad(f"SUIT_Report: {key.name.lower()} missing")
        extensions = {k: v for k, v in value.items() if k not in _REPORT_KNOWN}
        if extensions and not lenient:
            raise bad(f"SUIT_Report: unsupported members {sorted(extensions, key=repr)}")
        records_value = value[_RK_RECORDS]
        if not isinstance(records_value, list):
            raise bad("SUIT_Report: records is an array")
        records: list[Record] = []
        for r in records_value:
            records.append(
                SystemProperties.from_cbor(r, lenient)
                if isinstance(r, dict)
                else SuitRecord.from_cbor(r, lenient)
            )
        result_value = value[_RK_RESULT]
        if result_value is True:
            result: Literal[True] | SuitResult = True
        else:
            result = SuitResult.from_cbor(result_value, lenient)
        nonce = value.get(_RK_NONCE)
        if nonce is not None:
            expect_bstr(nonce, "report nonce")
        report = cls(
            SuitReference.from_cbor(value[_RK_REFERENCE], lenient),
            records,
            result,
            nonce,
            extensions,
        )
        return set_raw(report, bytes(data))
