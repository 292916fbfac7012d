"""`edbp cpk build | inspect | verify` round trips (key file and key service)."""

from __future__ import annotations

import base64
import json

from click.testing import CliRunner

from edbp.cli import cli


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_build_inspect_verify_round_trip(tmp_path) -> None:
    payload = tmp_path / "app.ta"
    payload.write_bytes(bytes(range(256)) * 4000)
    key = tmp_path / "class.key"
    key.write_bytes(base64.b64encode(b"k" * 32))
    out = tmp_path / "app.cpk"
    _run(
        "cpk",
        "build",
        str(payload),
        "-o",
        str(out),
        "--app-id",
        "cli-test-app",
        "--key-file",
        str(key),
    )
    doc = json.loads(_run("cpk", "inspect", str(out), "--json", "--strict"))
    assert doc["frame"]["stream_count"] == 7 and doc["manifest"]["cp-id"] == "cli-test-app"
    assert doc["streams"][0]["size"] == payload.stat().st_size
    text = _run("cpk", "inspect", str(out))
    assert "manifest" in text and "stream 6" in text
    plain = tmp_path / "plain.bin"
    cert = tmp_path / "app.cert.pem"
    got = _run(
        "cpk",
        "verify",
        str(out),
        "--key-file",
        str(key),
        "--trust-anchor",
        str(cert),
        "--output",
        str(plain),
    )
    assert "trust anchor: OK" in got and "digest OK" in got
    assert plain.read_bytes() == payload.read_bytes()


def test_verify_refuses_wrong_key_and_foreign_anchor(tmp_path) -> None:
    payload = tmp_path / "p"
    payload.write_bytes(b"payload")
    key = tmp_path / "k"
    key.write_bytes(b"k" * 32)
    wrong = tmp_path / "w"
    wrong.write_bytes(b"w" * 32)
    for name in ("a", "b"):
        _run(
            "cpk",
            "build",
            str(payload),
            "-o",
            str(tmp_path / f"{name}.cpk"),
            "--app-id",
            "cli-test-app",
            "--key-file",
            str(key),
        )
    runner = CliRunner()
    r = runner.invoke(
        cli,
        [
            "cpk",
            "verify",
            str(tmp_path / "a.cpk"),
            "--key-file",
            str(wrong),
            "--output",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code != 0 and not (tmp_path / "o").exists()
    r = runner.invoke(
        cli,
        ["cpk", "verify", str(tmp_path / "a.cpk"), "--trust-anchor", str(tmp_path / "b.cert.pem")],
    )
    assert r.exit_code != 0


def test_build_with_class_key_from_key_service(tmp_path, server) -> None:
    from edbp.reference.blueprint.client import KeyServiceClient

    KeyServiceClient(server.url, "fk-test").provision_key("cli-test-app")
    class_key = server.service.secrets.use("cli-test-app", bytes)
    key = tmp_path / "k"
    key.write_bytes(class_key)
    payload = tmp_path / "p"
    payload.write_bytes(b"from the key service")
    out = tmp_path / "s.cpk"
    _run(
        "cpk",
        "build",
        str(payload),
        "-o",
        str(out),
        "--app-id",
        "cli-test-app",
        "--key-service",
        server.url,
        "--function-key",
        "fk-test",
        "--binding",
        "fixed",
        "--version",
        "2.1.3",
    )
    got = _run("cpk", "verify", str(out), "--key-file", str(key), "--binding", "fixed")
    assert "digest OK" in got


def test_keyservice_provision_and_distribute_commands(server) -> None:
    out = _run(
        "cpk",
        "keyservice",
        "provision",
        "cli-app-22",
        "--url",
        server.url,
        "--function-key",
        "fk-test",
    )
    assert "cli-app-22" in out
    report = json.loads(
        _run("cpk", "keyservice", "distribute", "--url", server.url, "--function-key", "fk-test")
    )
    assert report["keys"] == ["cli-app-22"] and report["updated"] == []
