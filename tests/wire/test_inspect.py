"""`edbp inspect`: every external SUIT example decodes and its parts are named; edbp's own TEEP,
EAT and SUIT report messages are recognised inside their COSE_Sign1; malformed input is one line
and exit status 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, cose, eat, suit, teep
from edbp.reference.wire.inspect import inspect, recognise
from hypothesis import given
from hypothesis import strategies as st

from edbp.cli import main
from edbp.errors import EdbpError

INTEROP = Path(__file__).resolve().parent.parent / "interop"
FW = INTEROP / "suit-firmware-encryption"
MS = INTEROP / "suit-manifest"
KEY = cose.CoseKey.generate(cose.Curve.P256, SeededRandom("test-inspect"))


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["inspect", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def example_hex_files(tmp_path: Path) -> list[Path]:
    files = sorted(FW.glob("*.hex")) + sorted(FW.glob("*.hex.signed"))
    for n in range(6):
        text = (MS / f"example{n}.txt").read_text()
        for j, block in enumerate(re.findall(r"~~~\n([0-9a-f\n]+)~~~", text)):
            path = tmp_path / f"example{n}-{j}.hex"
            path.write_text(block)
            files.append(path)
    return files


def test_every_external_example_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = example_hex_files(tmp_path)
    assert len(files) == 26  # 4 payloads, 4 encryption infos, 5 manifests, 13 example envelopes
    for path in files:
        if path.name.startswith("encrypted-payload"):
            continue  # raw ciphertext, not CBOR: covered by test_malformed_input
        code, out, err = run_cli(["--lenient", str(path)], capsys)
        assert code == 0, (path.name, err)
        if path.name.startswith("suit-encryption-info"):
            assert out.startswith("/ COSE_Encrypt /")
            for name in ("/ alg / 1:", "/ IV / 5:", "/ recipients /", "A128KW"):
                assert name in out, (path.name, name)
        else:
            assert out.startswith("/ SUIT envelope /"), path.name
            for name in (
                "/ authentication-wrapper / 2:",
                "/ manifest / 3:",
                "/ manifest-sequence-number / 2:",
                "/ common / 3:",
                "/ components / 2:",
                "/ algorithm-id / -16 / SHA-256 /",
            ):
                assert name in out, (path.name, name)
            assert re.search(r"/ (directive|condition)-[a-z-]+ / \d+", out), path.name


def test_parameters_and_cose_labels_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["--lenient", str(FW / "suit-manifest-es-ecdh-dependency.hex.signed")], capsys
    )
    assert code == 0
    for name in (
        "/ parameter-encryption-info / 19: << / COSE_Encrypt / 96(",
        "/ ephemeral key / -1:",
        "/ crv / -1: 1 / P-256 /",
        "/ kty / 1: 2 / EC2 /",
        "/ dependencies / 1:",
        "/ dependency-prefix / 1:",
        "/ condition-dependency-integrity / 7, 15",
        "/ directive-process-dependency / 11",
        '"#dependency-manifest": << / SUIT_Envelope_Tagged / 107(',
        "/ COSE_Sign1 / 18(",
        "/ alg / 1: -9 / ESP256 /",
    ):
        assert name in out, name


def test_strict_judges_the_outer_item_only(capsys: pytest.CaptureFixture[str]) -> None:
    # the envelope is deterministic CBOR; its embedded manifest is not, and is still shown
    code, out, err = run_cli([str(FW / "suit-manifest-es-ecdh-content.hex.signed")], capsys)
    assert code == 0, err
    assert "/ manifest / 3: << {" in out


def test_teep_eat_and_report_are_recognised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = eat.EatClaims(ueid=b"\x01" + bytes(16), cnf=KEY, nonce=b"n" * 16, hwmodel=b"ls1028a")
    evidence = eat.sign(claims, KEY)
    qr = teep.QueryResponse(
        token=b"t" * 8,
        attestation_payload_format="application/eat+cwt",
        attestation_payload=evidence,
    )
    report = suit.SuitReport(suit.SuitReference(suit.SuitDigest.of(b"m")), (), True)
    cases = {
        "qr.cbor": (
            teep.sign(qr, KEY),
            "TEEP message: TEEP-TYPE-query-response in COSE_Sign1",
            ["/ attestation-payload / 7:", "/ ueid / 256:", "/ cnf / 8:", "/ token / 20:"],
        ),
        "qreq.hex": (
            teep.sign(teep.QueryRequest(challenge=b"c" * 8), KEY).hex().encode(),
            "TEEP message: TEEP-TYPE-query-request in COSE_Sign1",
            ["/ supported-teep-cipher-suites /", "/ data-item-requested / 3", "/ challenge / 2:"],
        ),
        "err.cbor": (
            teep.Error(17).encode(),
            "TEEP message: TEEP-TYPE-error",
            ["/ err-code / 17 / ERR_MANIFEST_PROCESSING_FAILED /"],
        ),
        "eat.cbor": (
            evidence,
            "EAT claims in COSE_Sign1",
            ["/ eat_nonce / 10:", "/ hwmodel / 259:"],
        ),
        "report.cbor": (
            suit.sign_report(report, KEY),
            "SUIT report in COSE_Sign1",
            ["/ suit-reference / 99:", "/ suit-report-result / 4: true"],
        ),
    }
    for name, (data, kind, names) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        code, out, err = run_cli([str(path)], capsys)
        assert code == 0, err
        assert out.splitlines()[0] == f"/ {kind} /"
        for n in names:
            assert n in out, (name, n)


@pytest.mark.parametrize(
    ("content", "code_name"),
    [
        (b"ff", "CBOR_MALFORMED"),
        (b"abc", "CBOR_MALFORMED"),
        (b"\x82\x01", "CBOR_TRUNCATED"),
        (b"\x01\x02", "CBOR_TRAILING_BYTES"),
        (b"", "CBOR_TRUNCATED"),
        (b"\xa2\x01\x01\x01\x02", "CBOR_DUPLICATE_KEY"),
    ],
)
def test_malformed_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, code_name: str
) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    code, out, err = run_cli([str(path)], capsys)
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert code_name in err


def test_strict_switch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Non-deterministic input is shown with a note by default and refused with --strict."""
    path = tmp_path / "unsorted.hex"
    path.write_text("a2 02 01 01 02")
    code, _, err = run_cli(["--strict", str(path)], capsys)
    assert code == 1 and "CBOR_UNSORTED_KEYS" in err
    for args in ([], ["--lenient"]):
        code, out, _ = run_cli([*args, str(path)], capsys)
        assert code == 0 and "{" in out
        assert "/ note: top level: not deterministic CBOR (CBOR_UNSORTED_KEYS" in out


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([str(tmp_path / "nope")], capsys)
    assert code == 2 and "does not exist" in err


@given(st.binary(max_size=200))
def test_inspect_arbitrary_bytes(data: bytes) -> None:
    for lenient in (False, True):
        try:
            result = inspect(data, lenient)
        except EdbpError:
            continue
        assert result.text


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**64), 2**64 - 1)
        | st.binary(max_size=8)
        | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.integers(-30, 300) | st.text(max_size=3), inner, max_size=4)
            | st.builds(
                cbor.Tag, st.sampled_from([16, 17, 18, 61, 96, 107, 1070, 112, 5000]), inner
            )
        ),
        max_leaves=20,
    )
)
def test_render_any_structure(item: object) -> None:
    data = cbor.dumps(item)
    result = inspect(data)
    assert result.text
    recognise(cbor.loads(data))


COSE_WG = INTEROP / "cose-wg-examples"
COSE_NAMES = {
    16: "COSE_Encrypt0",
    17: "COSE_Mac0",
    18: "COSE_Sign1",
    96: "COSE_Encrypt",
    97: "COSE_Mac",
    98: "COSE_Sign",
}


def _cose_wg_outputs() -> list[Path]:
    return sorted(p for p in COSE_WG.rglob("*.json") if p.name != "MANIFEST.json")


@pytest.mark.parametrize("path", _cose_wg_outputs(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_cose_wg_example_round_trips_through_inspect(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every cose-wg output (valid or fail case) decodes, its structure is named, and its
    deterministic re-encoding decodes to the same item (the round trip inspect relies on)."""
    import json

    data = bytes.fromhex(json.loads(path.read_text())["output"]["cbor"])
    item = cbor.loads(data, cbor.LENIENT)
    assert cbor.loads(cbor.dumps(item)) == item
    source = tmp_path / "example.hex"
    source.write_text(data.hex())
    code, out, err = run_cli(["--lenient", str(source)], capsys)
    assert code == 0, err
    tag = item.tag if isinstance(item, cbor.Tag) else None
    if tag in COSE_NAMES:
        assert COSE_NAMES[tag] in out.splitlines()[0], out.splitlines()[0]
    if tag in (16, 18, 96):  # the structures edbp profiles get every part labelled
        assert "/ protected /" in out


TEEP_CBOR = INTEROP / "teep-protocol" / "cbor"


@pytest.mark.parametrize("path", sorted(TEEP_CBOR.glob("*.hex.txt")), ids=lambda p: p.name)
def test_teep_draft_examples_are_shown_with_labels(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The TEEP draft's annotated hex (``#`` comments) as published: TEEP messages and untagged
    SUIT envelopes named, nested bstr-CBOR opened, non-deterministic encodings noted."""
    code, out, err = run_cli([str(path)], capsys)
    assert code == 0, err
    first = out.splitlines()[0]
    if path.name.startswith("suit_"):
        assert first == "/ SUIT envelope (untagged) /"
        for label in ("/ authentication-wrapper / 2: <<", "/ manifest / 3: <<", "/ common / 3:"):
            assert label in out
    else:
        assert first.startswith("/ TEEP message: ")
        assert "/ token / 20: h'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf'" in out
        noted = "/ note: top level: not deterministic CBOR (CBOR_UNSORTED_KEYS" in out
        assert noted == (path.name != "teep_success.hex.txt")
    if path.name == "update.hex.txt":  # the untagged envelope inside manifest-list is labelled
        assert "/ manifest-list / 10: [" in out and "/ authentication-wrapper / 2: <<" in out
        assert "/ directive-fetch / 21" in out


def test_nested_non_deterministic_bstr_is_noted() -> None:
    inner = bytes.fromhex("a2020001 00".replace(" ", ""))  # {2: 0, 1: 0}, keys unsorted
    data = cbor.dumps(cbor.Tag(107, {3: inner}))
    result = inspect(data)
    assert any("<< manifest >>" in n and "CBOR_UNSORTED_KEYS" in n for n in result.notes)
    assert not any(n.startswith("top level") for n in result.notes)


def test_annotated_hex_reader() -> None:
    from edbp.cli.inspect import read_input

    assert read_input(b"82   # array(2)\n  01 # one\n  02\n") == b"\x82\x01\x02"
    assert read_input(b"0x8201 02") == b"\x82\x01\x02"
    assert read_input(b"\x82\x01\x02") == b"\x82\x01\x02"


def test_sixteen_mib_of_empty_chunks_is_refused_quickly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16: a 16 MiB file of empty indefinite-length chunks once took a minute and 1.5 GB
    through inspect; the chunk bound stops it after 4096 chunks with a coded one-line error."""
    path = tmp_path / "chunks.bin"
    path.write_bytes(b"\x5f" + b"\x40" * (16 * 1024 * 1024 - 2) + b"\xff")
    code, out, err = run_cli([str(path)], capsys)
    assert code == 1 and out == ""
    assert "CBOR_TOO_LARGE" in err and "4096" in err
    assert len(err.strip().splitlines()) == 1


def test_cose_mac_is_labelled() -> None:
    """A cose-wg COSE_Mac (tag 97): protected header decoded, alg named, tag and recipients
    labelled, recipient headers named."""
    import json

    rel = INTEROP / "cose-wg-examples" / "aes-wrap-examples" / "aes-wrap-128-01.json"
    data = bytes.fromhex(json.loads(rel.read_text())["output"]["cbor"])
    shown = inspect(data)
    assert shown.kind == "COSE_Mac"
    for label in ("/ alg / 1: 14 / AES-MAC 128/64 /", "/ tag / h'36f5afaf0bab5d43'",
                  "/ recipients / [", "/ alg / 1: -3 / A128KW /"):
        assert label in shown.text, label
