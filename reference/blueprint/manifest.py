"""The CPK manifest v1: compact JSON exactly as the cpk crate's serde derive writes it.

Why exact bytes matter: the manifest is a stream of the package and a blueprint device parses
it with serde, so the reference must write what serde writes (field order = Rust declaration
order, kebab-case struct field names, externally tagged enums with unit variants as the string
``"none"``, snake_case field names inside variants, no whitespace) and must refuse what serde
refuses (missing fields, wrong types, integers out of range, duplicate fields, trailing bytes,
NaN). Unknown fields are ignored, as serde does without ``deny_unknown_fields``.

``payload.target`` is written (the prototype writes aarch64 / OP-TEE) but optional when
parsing, because one published version of the manifest struct has no such field.
``strict`` parsing additionally refuses duplicate stream indexes in ``package.map`` (the
specification forbids them; the prototype does not check).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import Any

import attrs

from edbp.errors import BlueprintError, Code

__all__ = [
    "NONE",
    "Manifest",
    "Variant",
    "chrono_utc_string",
    "parse_manifest",
    "prototype_manifest",
]

U16 = (0, 0xFFFF)
U32 = (0, 0xFFFFFFFF)

#: scheme slot -> variant name -> ordered (field, type) list; type is str or an integer range
VARIANTS: dict[str, dict[str, tuple[tuple[str, Any], ...]]] = {
    "enc": {
        "none": (),
        "aes-gcm": (("key_name", str), ("key_strength", U16), ("nonce", U16), ("tag", U16)),
    },
    "dig": {"none": (), "sha256": (("data", U16),)},
    "sig": {"none": (), "rsa-pkcs1v15": (("key_strength", U16), ("data", U16))},
    "cert": {
        "none": (),
        "target": (("domain", str),),
        "url": (("url", str),),
        "embedded-x509-pem": (("data", U16),),
        "embedded-x509-der": (("data", U16),),
        "embedded-public-key-pem": (("data", U16),),
        "embedded-public-key-der": (("data", U16),),
    },
}


def _bad(what: str) -> BlueprintError:
    return BlueprintError(Code.CPK_MANIFEST_INVALID, what)


def _check(value: Any, kind: Any, where: str) -> Any:
    if kind is str:
        if not isinstance(value, str):
            raise _bad(f"{where}: expected a string")
        return value
    lo, hi = kind
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise _bad(f"{where}: expected an integer in {lo}..{hi}")
    return value


@attrs.frozen
class Variant:
    """One externally tagged enum value: ``name`` and its fields in declaration order."""

    name: str
    fields: tuple[tuple[str, Any], ...] = ()

    def get(self, field: str) -> Any:
        for k, v in self.fields:
            if k == field:
                return v
        raise KeyError(field)

    def to_json(self) -> Any:
        return "none" if self.name == "none" else {self.name: dict(self.fields)}

    @classmethod
    def make(cls, slot: str, name: str, **fields: Any) -> Variant:
        spec = VARIANTS[slot][name]
        return cls(name, tuple((k, fields[k]) for k, _ in spec))

    @classmethod
    def parse(cls, slot: str, value: Any, where: str) -> Variant:
        table = VARIANTS[slot]
        if isinstance(value, str):
            if value in table and not table[value]:
                return cls(value)
            raise _bad(f"{where}: unknown unit variant {value!r}")
        if not isinstance(value, dict) or len(value) != 1:
            raise _bad(f"{where}: expected one externally tagged variant")
        ((name, body),) = value.items()
        if name not in table or not table[name]:
            raise _bad(f"{where}: unknown variant {name!r}")
        if not isinstance(body, dict):
            raise _bad(f"{where}.{name}: expected an object")
        out = []
        for field, kind in table[name]:
            if field not in body:
                raise _bad(f"{where}.{name}: missing field {field}")
            out.append((field, _check(body[field], kind, f"{where}.{name}.{field}")))
        return cls(name, tuple(out))


NONE = Variant("none")


@attrs.frozen
class Manifest:
    """Manifest v1 root. Stream indexes are plain ints; schemes are ``Variant``s."""

    cp_id: str
    cp_name: str
    cp_vendor: str
    payload_data: int
    ver: tuple[int, int, int]
    date: str
    enc: Variant
    dig: Variant
    sig: Variant
    cert: Variant
    package_map: tuple[int, ...]
    package_dig: Variant = NONE
    package_sig: Variant = NONE
    package_cert: Variant = NONE
    target: tuple[str, str] | None = ("aarch64", "OP-TEE")

    def to_obj(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"data": self.payload_data}
        if self.target is not None:
            payload["target"] = {"arch": self.target[0], "os": self.target[1]}
        payload["ver"] = {
            "maj": self.ver[0],
            "min": self.ver[1],
            "rev": self.ver[2],
            "date": self.date,
        }
        payload.update(
            enc=self.enc.to_json(),
            dig=self.dig.to_json(),
            sig=self.sig.to_json(),
            cert=self.cert.to_json(),
        )
        return {
            "cp-id": self.cp_id,
            "cp-name": self.cp_name,
            "cp-vendor": self.cp_vendor,
            "payload": payload,
            "package": {
                "map": list(self.package_map),
                "dig": self.package_dig.to_json(),
                "sig": self.package_sig.to_json(),
                "cert": self.package_cert.to_json(),
            },
        }

    def to_bytes(self) -> bytes:
        """serde_json::to_string: compact, UTF-8, non-ASCII unescaped, same escapes as serde."""
        return json.dumps(self.to_obj(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def stream_indexes(self) -> dict[str, int]:
        """Role -> stream index for every stream the payload section names."""
        out = {"payload": self.payload_data}
        for slot, v in (
            ("enc", self.enc),
            ("dig", self.dig),
            ("sig", self.sig),
            ("cert", self.cert),
        ):
            for field, value in v.fields:
                if field in ("nonce", "tag", "data"):
                    out[f"{slot}.{field}"] = value
        return out


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _bad(f"duplicate field {k!r}")
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise _bad(f"{name} is not JSON")


def _obj(parent: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    if key not in parent:
        raise _bad(f"{where}: missing field {key}")
    value = parent[key]
    if not isinstance(value, dict):
        raise _bad(f"{where}.{key}: expected an object")
    return value


def _field(parent: Mapping[str, Any], key: str, kind: Any, where: str) -> Any:
    if key not in parent:
        raise _bad(f"{where}: missing field {key}")
    return _check(parent[key], kind, f"{where}.{key}")


def parse_manifest(data: bytes, *, strict: bool = False) -> Manifest:
    """Parse manifest bytes as serde_json + the v1 structs would, or raise CPK_MANIFEST_INVALID."""
    try:
        text = data.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_no_dupes, parse_constant=_no_constants)
        # serde_json refuses a lone surrogate escape ("\ud800"); Python's json decodes it to a
        # str that no UTF-8 encoder takes, so it would fail later, uncoded
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except BlueprintError:
        raise
    except (UnicodeError, ValueError, RecursionError):
        raise _bad("not a JSON document") from None
    if not isinstance(doc, dict):
        raise _bad("root: expected an object")
    payload = _obj(doc, "payload", "root")
    package = _obj(doc, "package", "root")
    ver = _obj(payload, "ver", "payload")
    target = None
    if "target" in payload:
        t = _obj(payload, "target", "payload")
        target = (_field(t, "arch", str, "payload.target"), _field(t, "os", str, "payload.target"))
    pmap = package.get("map")
    if "map" not in package or not isinstance(pmap, list):
        raise _bad("package.map: expected an array")
    indexes = tuple(_check(i, U16, "package.map[]") for i in pmap)
    if strict and len(set(indexes)) != len(indexes):
        raise _bad("package.map: duplicate stream index")
    for slot in ("enc", "dig", "sig", "cert"):
        if slot not in payload:
            raise _bad(f"payload: missing field {slot}")
        if slot != "enc" and slot not in package:
            raise _bad(f"package: missing field {slot}")
    return Manifest(
        cp_id=_field(doc, "cp-id", str, "root"),
        cp_name=_field(doc, "cp-name", str, "root"),
        cp_vendor=_field(doc, "cp-vendor", str, "root"),
        payload_data=_field(payload, "data", U16, "payload"),
        ver=(
            _field(ver, "maj", U32, "ver"),
            _field(ver, "min", U32, "ver"),
            _field(ver, "rev", U32, "ver"),
        ),
        date=_field(ver, "date", str, "ver"),
        enc=Variant.parse("enc", payload["enc"], "payload.enc"),
        dig=Variant.parse("dig", payload["dig"], "payload.dig"),
        sig=Variant.parse("sig", payload["sig"], "payload.sig"),
        cert=Variant.parse("cert", payload["cert"], "payload.cert"),
        package_map=indexes,
        package_dig=Variant.parse("dig", package["dig"], "package.dig"),
        package_sig=Variant.parse("sig", package["sig"], "package.sig"),
        package_cert=Variant.parse("cert", package["cert"], "package.cert"),
        target=target,
    )


def chrono_utc_string(when: _dt.datetime) -> str:
    """``chrono::Utc::now().to_string()``: ``2021-10-05 12:52:37.489525 UTC``.

    chrono prints the fraction with 0, 3, 6 or 9 digits, the fewest that show it exactly;
    Python has microseconds, so 0, 3 or 6 here.
    """
    when = when.astimezone(_dt.UTC)
    base = when.strftime("%Y-%m-%d %H:%M:%S")
    us = when.microsecond
    if us == 0:
        frac = ""
    elif us % 1000 == 0:
        frac = f".{us // 1000:03d}"
    else:
        frac = f".{us:06d}"
    return f"{base}{frac} UTC"


def prototype_manifest(
    cp_id: str,
    cp_name: str,
    cp_vendor: str,
    date: str,
    ver: tuple[int, int, int] = (1, 0, 0),
    key_strength: int = 2048,
) -> Manifest:
    """The manifest cpk-tool's prototype builder writes: 7 streams, its order, key name = cp-id."""
    return Manifest(
        cp_id=cp_id,
        cp_name=cp_name,
        cp_vendor=cp_vendor,
        payload_data=0,
        ver=ver,
        date=date,
        enc=Variant.make("enc", "aes-gcm", key_name=cp_id, key_strength=256, nonce=1, tag=2),
        dig=Variant.make("dig", "sha256", data=3),
        sig=Variant.make("sig", "rsa-pkcs1v15", key_strength=key_strength, data=4),
        cert=Variant.make("cert", "embedded-x509-pem", data=5),
        package_map=(0, 1, 2, 3, 4, 5, 6),
    )
