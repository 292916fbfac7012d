"""CPK frame and manifest: byte layout, every parser refusal, serde-exact JSON."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
from pathlib import Path

import pytest
from edbp.reference.blueprint.frame import MAGIC, Limits, parse_frame
from edbp.reference.blueprint.manifest import chrono_utc_string, parse_manifest, prototype_manifest
from edbp.reference.blueprint.mutations import assemble, split_streams

from edbp.errors import BlueprintError, Code

HERE = Path(__file__).parent


def test_byte_layout_of_a_built_package(ctx) -> None:
    cpk = ctx.build("as-published")
    assert cpk[:4] == bytes.fromhex("0df0cc0e")
    assert struct.unpack_from("<IHHHHHH", cpk) == (MAGIC, 1, 0, 7, 6, 1, 1)
    origin = 16 + 7 * 16
    cursor = 0
    sizes = []
    for i in range(7):
        off, size = struct.unpack_from("<QQ", cpk, 16 + 16 * i)
        assert off == cursor  # contiguous, relative to the origin
        cursor += size
        sizes.append(size)
    assert origin + cursor == len(cpk)
    assert sizes[0] == len(ctx.payload) and sizes[1:5] == [12, 16, 32, 256]
    streams = split_streams(cpk)
    assert streams[5].startswith(b"-----BEGIN CERTIFICATE-----")
    manifest = json.loads(streams[6])
    assert list(manifest) == ["cp-id", "cp-name", "cp-vendor", "payload", "package"]
    assert list(manifest["payload"]) == ["data", "target", "ver", "enc", "dig", "sig", "cert"]
    assert json.dumps(manifest, separators=(",", ":"), ensure_ascii=False).encode() == streams[6]
    assert (
        streams[6]
        == prototype_manifest(
            manifest["cp-id"], "Demo", "Vendor", manifest["payload"]["ver"]["date"]
        ).to_bytes()
    )


def test_spec_example_manifest_round_trips_to_compact_serde_form() -> None:
    text = (HERE / "interop" / "file_format_example_manifest.json").read_bytes()
    m = parse_manifest(text)
    assert m.cp_id == "5d286b7e-ff68-4b4b-b7b8-05f55dbfd0c7" and m.enc.get("key_name") == m.cp_id
    assert m.to_bytes() == json.dumps(json.loads(text), separators=(",", ":")).encode()
    assert m == prototype_manifest(m.cp_id, m.cp_name, m.cp_vendor, m.date)


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (
            dt.datetime(2021, 10, 5, 12, 52, 37, 489525, tzinfo=dt.UTC),
            "2021-10-05 12:52:37.489525 UTC",
        ),
        (
            dt.datetime(2021, 10, 5, 12, 52, 37, 489000, tzinfo=dt.UTC),
            "2021-10-05 12:52:37.489 UTC",
        ),
        (dt.datetime(2021, 10, 5, 12, 52, 37, tzinfo=dt.UTC), "2021-10-05 12:52:37 UTC"),
    ],
)
def test_date_is_chrono_display(when: dt.datetime, text: str) -> None:
    assert chrono_utc_string(when) == text


HEADER_REFUSALS = [
    (0, "<I", 0x0ECCF00E, Code.CPK_BAD_MAGIC),
    (4, "<H", 2, Code.CPK_BAD_FRAME_VERSION),
    (6, "<H", 1, Code.CPK_BAD_FLAGS),
    (8, "<H", 0, Code.CPK_NO_STREAMS),
    (10, "<H", 7, Code.CPK_BAD_MANIFEST_INDEX),
    (12, "<H", 2, Code.CPK_BAD_MANIFEST_TYPE),
    (14, "<H", 0, Code.CPK_BAD_MANIFEST_VERSION),
]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    ("offset", "fmt", "value", "code"), HEADER_REFUSALS, ids=[c.name for *_, c in HEADER_REFUSALS]
)
def test_each_header_check_has_its_code(
    ctx, strict: bool, offset: int, fmt: str, value: int, code: Code
) -> None:
    b = bytearray(ctx.build("as-published"))
    struct.pack_into(fmt, b, offset, value)
    with pytest.raises(BlueprintError) as err:
        parse_frame(io.BytesIO(bytes(b)), strict=strict)
    assert err.value.code is code


def test_check_order_is_the_prototypes(ctx) -> None:
    b = bytearray(ctx.build("as-published"))
    struct.pack_into("<HH", b, 4, 2, 1)  # version and flags both wrong: version reported
    with pytest.raises(BlueprintError) as err:
        parse_frame(io.BytesIO(bytes(b)))
    assert err.value.code is Code.CPK_BAD_FRAME_VERSION


@pytest.mark.parametrize("cut", [0, 15, 16, 17, 16 + 7 * 16 - 1])
def test_truncation_inside_header_or_table(ctx, cut: int) -> None:
    with pytest.raises(BlueprintError) as err:
        parse_frame(io.BytesIO(ctx.build("as-published")[:cut]))
    assert err.value.code is Code.CPK_TRUNCATED


def _frame(streams: list[tuple[int, int]], body: int, count: int | None = None) -> bytes:
    n = len(streams) if count is None else count
    head = struct.pack("<IHHHHHH", MAGIC, 1, 0, n, 0, 1, 1)
    return head + b"".join(struct.pack("<QQ", o, s) for o, s in streams) + b"\x00" * body


def test_lenient_accepts_what_strict_refuses() -> None:
    cases = {
        Code.CPK_STREAM_OUT_OF_BOUNDS: _frame([(0, 4), (4, 100)], 10),
        Code.CPK_STREAM_OVERLAP: _frame([(0, 8), (4, 4)], 16),
        Code.CPK_STREAM_TOO_LARGE: _frame([(0, 70_000)], 70_000),
    }
    for code, data in cases.items():
        frame = parse_frame(io.BytesIO(data))  # the prototype's parser takes them all
        assert frame.header.stream_count >= 1
        with pytest.raises(BlueprintError) as err:
            parse_frame(io.BytesIO(data), strict=True)
        assert err.value.code is code


def test_overlap_found_past_a_contained_stream() -> None:
    # stream 0 spans everything; 1 sits inside it; 2 starts after 1 but still inside 0
    data = _frame([(0, 100), (10, 5), (50, 5)], 100)
    with pytest.raises(BlueprintError) as err:
        parse_frame(io.BytesIO(data), strict=True)
    assert err.value.code is Code.CPK_STREAM_OVERLAP


def test_strict_stream_count_cap() -> None:
    data = _frame([(0, 0)] * 65, 0)
    with pytest.raises(BlueprintError) as err:
        parse_frame(io.BytesIO(data), strict=True, limits=Limits(max_streams=64))
    assert err.value.code is Code.CPK_STREAM_TOO_LARGE


def test_reading_a_stream_beyond_the_file_never_allocates_it() -> None:
    frame = parse_frame(io.BytesIO(_frame([(0, 1 << 62)], 4)))
    with pytest.raises(BlueprintError) as err:
        frame.locate(0)
    assert err.value.code is Code.CPK_TRUNCATED


def test_padding_between_streams_is_accepted(ctx) -> None:
    frame = parse_frame(io.BytesIO(ctx.build("as-published", align=64)), strict=True)
    assert all(e.offset % 64 == 0 for e in frame.streams)


BAD_MANIFESTS = [
    "not utf-8",
    "trailing bytes",
    "NaN",
    "duplicate field",
    "u16 out of range",
    "bool as integer",
    "float as integer",
    "unknown variant",
    "two variant keys",
    "missing ver.date",
    "root array",
]


def _bad_manifest(name: str, good: bytes) -> bytes:
    text = good.decode()
    return {
        "not utf-8": b"\xff\xfe",
        "trailing bytes": good + b"x",
        "NaN": text.replace('"data":0', '"data":NaN', 1).encode(),
        "duplicate field": text.replace('{"cp-id":', '{"cp-id":"a","cp-id":', 1).encode(),
        "u16 out of range": text.replace('"nonce":1', '"nonce":65536', 1).encode(),
        "bool as integer": text.replace('"data":0', '"data":false', 1).encode(),
        "float as integer": text.replace('"data":0', '"data":0.0', 1).encode(),
        "unknown variant": text.replace('"sha256"', '"sha512"', 1).encode(),
        "two variant keys": text.replace(
            '{"sha256":{"data":3}}', '{"sha256":{"data":3},"x":{}}', 1
        ).encode(),
        "missing ver.date": text.replace(',"date":"d"', "", 1).encode(),
        "root array": b"[]",
    }[name]


@pytest.mark.parametrize("name", BAD_MANIFESTS)
def test_manifest_refusals(name: str) -> None:
    good = prototype_manifest("app-12345", "n", "v", "d").to_bytes()
    parse_manifest(good)
    bad = _bad_manifest(name, good)
    assert bad != good
    with pytest.raises(BlueprintError) as err:
        parse_manifest(bad)
    assert err.value.code is Code.CPK_MANIFEST_INVALID


def test_manifest_tolerances_match_serde() -> None:
    m = prototype_manifest("app-12345", "n", "v", "d")
    doc = json.loads(m.to_bytes())
    doc["unknown"] = {"ignored": True}
    del doc["payload"]["target"]
    doc["package"]["map"] = [0, 0]
    text = json.dumps(doc, indent=2).encode()
    parsed = parse_manifest(text)
    assert parsed.target is None and parsed.package_map == (0, 0)
    with pytest.raises(BlueprintError):
        parse_manifest(text, strict=True)


def test_non_ascii_is_written_unescaped_like_serde() -> None:
    m = prototype_manifest("app-12345", "Fibonacci \u00e9\n", 'v"', "d")
    raw = m.to_bytes()
    assert "\u00e9".encode() in raw and b"\\n" in raw and b'v\\"' in raw
    assert parse_manifest(raw) == m


def test_assemble_split_round_trip(ctx) -> None:
    cpk = ctx.build("as-published")
    assert assemble(split_streams(cpk)) == cpk
