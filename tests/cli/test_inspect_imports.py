"""``edbp inspect`` only shows: it never verifies or decrypts, so it must not load
``cryptography`` (nor the COSE signing, TEEP and EAT modules that bring it in). That is what
keeps its start near ``edbp --help``'s; the time itself is the ``cli.inspect`` benchmark, this
test checks the structure, so that the gain cannot silently regress."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cose, eat, teep

INTEROP = Path(__file__).resolve().parent.parent / "interop"
KEY = cose.CoseKey.generate(cose.Curve.P256, SeededRandom("test-inspect-imports"))
#: modules that sign, verify or decrypt (the display path needs none of them)
CRYPTO_PATH = {
    "cryptography",
    "edbp.reference.wire.cose_key",
    "edbp.reference.wire.cose_sign",
    "edbp.reference.wire.cose_encrypt",
    "edbp.reference.wire.teep",
    "edbp.reference.wire.eat",
}


def _inputs(tmp_path: Path) -> dict[str, Path]:
    claims = eat.EatClaims(ueid=b"\x01" + bytes(16), cnf=KEY, nonce=b"n" * 16, hwmodel=b"m")
    qr = teep.QueryResponse(
        token=b"t" * 8,
        attestation_payload_format="application/eat+cwt",
        attestation_payload=eat.sign(claims, KEY),
    )
    files = {
        "plain.cbor": bytes.fromhex("a301616102616203820304"),  # {1: "a", 2: "b", 3: [3, 4]}
        "teep-query-response.cbor": teep.sign(qr, KEY),
        "teep-error.cbor": teep.Error(17).encode(),
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / name
        out[name].write_bytes(data)
    # a published SUIT envelope with a COSE_Encrypt encryption info (hex text)
    out["suit-envelope.hex"] = (
        INTEROP / "suit-firmware-encryption" / "suit-manifest-es-ecdh-dependency.hex.signed"
    )
    return out


@pytest.mark.parametrize(
    "name", ["plain.cbor", "teep-query-response.cbor", "teep-error.cbor", "suit-envelope.hex"]
)
def test_inspect_loads_no_cryptography(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = _inputs(tmp_path)[name]
    code = (
        "import sys\nfrom edbp.cli import main\ntry:\n"
        f"    main(['inspect', {str(path)!r}])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(res.stderr.split())
    assert "edbp.reference.wire.inspect" in loaded  # the command did run
    crypto = {m for m in loaded if any(m == p or m.startswith(p + ".") for p in CRYPTO_PATH)}
    assert not crypto, sorted(crypto)
    # and it shows exactly what the same command shows in a process that has them all loaded
    from edbp.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["inspect", str(path)])
    assert not exit_info.value.code
    assert res.stdout == capsys.readouterr().out
