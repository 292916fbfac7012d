"""`edbp cpk verify | inspect` on hostile files: one coded line, never a traceback (issue 16).

The files are real CPKs built by ``edbp cpk build`` and then edited stream by stream: a
manifest with a lone surrogate escape (serde_json refuses it: 910) and a certificate whose
public key cannot be read (913).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from edbp.reference.blueprint.mutations import assemble, split_streams

from edbp.errors import Code

CLI = [sys.executable, "-c", "import sys; from edbp.cli import main; sys.exit(main())"]
RSA_OID = bytes.fromhex("06092a864886f70d010101")  # rsaEncryption, as in an SPKI


def _edbp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cpk")
    (tmp / "app.ta").write_bytes(bytes(range(256)) * 16)
    (tmp / "class.key").write_bytes(base64.b64encode(b"k" * 32))
    res = _edbp(
        "cpk", "build", str(tmp / "app.ta"), "-o", str(tmp / "app.cpk"),
        "--app-id", "coded-app", "--key-file", str(tmp / "class.key"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return tmp / "app.cpk", tmp / "class.key"


def _one_coded_line(res: subprocess.CompletedProcess[str], code: Code) -> None:
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"error {int(code)} {code.name}" in lines[0], res.stderr


def _lone_surrogate(cpk: Path, tmp_path: Path) -> Path:
    streams = split_streams(cpk.read_bytes())
    manifest = streams[6]
    assert b'"cp-id":"coded-app"' in manifest
    streams[6] = manifest.replace(b'"cp-id":"coded-app"', b'"cp-id":"\\ud800"')
    out = tmp_path / "surrogate.cpk"
    out.write_bytes(assemble(streams))
    return out


def _unreadable_key(cpk: Path, tmp_path: Path) -> Path:
    streams = split_streams(cpk.read_bytes())
    index = next(i for i, s in enumerate(streams) if s.startswith(b"-----BEGIN CERTIFICATE"))
    der = x509.load_pem_x509_certificate(streams[index]).public_bytes(serialization.Encoding.DER)
    assert der.count(RSA_OID) == 1
    bad = der.replace(RSA_OID, RSA_OID[:-1] + b"\x63")  # an algorithm nobody knows
    cert = x509.load_der_x509_certificate(bad)  # the certificate itself still parses
    streams[index] = cert.public_bytes(serialization.Encoding.PEM)
    out = tmp_path / "badkey.cpk"
    out.write_bytes(assemble(streams))
    return out


def test_lone_surrogate_manifest_is_910(built: tuple[Path, Path], tmp_path: Path) -> None:
    bad = _lone_surrogate(built[0], tmp_path)
    _one_coded_line(_edbp("cpk", "verify", str(bad)), Code.CPK_MANIFEST_INVALID)
    _one_coded_line(_edbp("cpk", "inspect", str(bad)), Code.CPK_MANIFEST_INVALID)
    _one_coded_line(_edbp("cpk", "inspect", "--json", str(bad)), Code.CPK_MANIFEST_INVALID)


def test_unreadable_certificate_key_is_913(built: tuple[Path, Path], tmp_path: Path) -> None:
    bad = _unreadable_key(built[0], tmp_path)
    _one_coded_line(_edbp("cpk", "verify", str(bad)), Code.CPK_BAD_SIGNATURE)
    anchor = tmp_path / "anchor.pem"
    cert = next(s for s in split_streams(bad.read_bytes()) if s.startswith(b"-----BEGIN CERT"))
    anchor.write_bytes(cert)
    _one_coded_line(
        _edbp("cpk", "verify", str(built[0]), "--trust-anchor", str(anchor)),
        Code.CPK_BAD_SIGNATURE,
    )
