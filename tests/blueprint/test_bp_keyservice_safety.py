"""The key service's safe default (issue 16): authentication on every route, bounded bodies,
coded JSON for every answer, and the as-published behaviour only behind a loud opt-in.

The as-published server is kept because the attack demonstrations need it; the test
``test_as_published_twins_leak_the_class_key`` is the seeded flaw that the safe default's
check catches (the same steps against the safe server are refused).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.client import KeyServiceClient
from edbp.reference.blueprint.keyservice import KeyService
from edbp.reference.blueprint.keyservice_http import MAX_BODY, LoopbackKeyService, create_app

from edbp.errors import BlueprintError, Code, ConfigError

APP = "cpk-demo-app"
CLI = [sys.executable, "-c", "import sys; from edbp.cli import main; sys.exit(main())"]


def _spki(key: rsa.RSAPrivateKey) -> str:
    return base64.b64encode(crypto.rsa_public_to_spki_der(key.public_key())).decode()


def _raw(url: str, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def _coded(answer: Any, status: int, code: Code) -> None:
    got_status, ctype, data = answer
    assert got_status == status, answer
    assert ctype.startswith("application/json"), answer
    doc = json.loads(data)
    assert doc["error"] == int(code) and doc["name"] == code.name, doc


@pytest.fixture
def published(keyservice: KeyService) -> Iterator[LoopbackKeyService]:
    srv = LoopbackKeyService(
        keyservice, port=0, function_key="fk-test", insecure_as_published=True
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_no_key_refuses_to_start(keyservice: KeyService) -> None:
    for key in (None, ""):
        with pytest.raises(ConfigError) as exc:
            create_app(keyservice, key)
        assert exc.value.code is Code.KEYSERVICE_INSECURE_CONFIG
    create_app(keyservice, None, insecure_as_published=True)  # the explicit opt-in


ROUTES = [
    ("GET", "/api/ProvisionKey/x"),
    ("POST", "/api/ProvisionKey/x"),
    ("POST", "/api/WrapKey"),
    ("POST", "/api/DistributeKey"),
    ("PUT", "/twins/dev"),
    ("GET", "/twins/dev"),
    ("PATCH", "/twins/dev/reported"),
    ("PATCH", "/twins/dev/desired"),
    ("POST", "/twins/dev/status"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_the_function_key(server: Any, method: str, path: str) -> None:
    body = b"{}" if method in ("POST", "PATCH") else None
    _coded(_raw(server.url, method, path, body), 401, Code.KEYSERVICE_FORBIDDEN)
    _coded(
        _raw(server.url, method, path, body, **{"x-functions-key": "wrong"}),
        401,
        Code.KEYSERVICE_FORBIDDEN,
    )


def _twin_attack(url: str, rsa_keys: dict[str, rsa.RSAPrivateKey]) -> bytes:
    """An unauthenticated client registers a twin with its own key, waits for the operator's
    DistributeKey, reads the wrapped class key back and unwraps it."""
    anon = KeyServiceClient(url)
    operator = KeyServiceClient(url, "fk-test")
    operator.provision_key(APP)
    operator.register_twin("evil")
    anon.report("evil", {"device_public_key": _spki(rsa_keys["attacker"])})
    operator.distribute()
    wrapped = anon.get_twin("evil")["properties"]["desired"]["confidential_package_keys"][APP]
    r = crypto.pkcs1v15_decode(rsa_keys["attacker"], base64.b64decode(wrapped), 64)
    assert r.ret == 0
    return bytes(r.message)


def test_as_published_twins_leak_the_class_key(published: Any, rsa_keys: Any) -> None:
    assert len(_twin_attack(published.url, rsa_keys)) == 32


def test_safe_default_stops_the_twin_attack(server: Any, rsa_keys: Any) -> None:
    with pytest.raises(BlueprintError) as exc:
        _twin_attack(server.url, rsa_keys)
    assert exc.value.code is Code.KEYSERVICE_FORBIDDEN


KEY = {"x-functions-key": "fk-test"}


def test_unknown_route_and_method_are_coded_json(server: Any) -> None:
    _coded(_raw(server.url, "GET", "/api/Nothing", **KEY), 404, Code.KEYSERVICE_NO_SUCH_ROUTE)
    _coded(_raw(server.url, "GET", "/", **KEY), 404, Code.KEYSERVICE_NO_SUCH_ROUTE)
    _coded(
        _raw(server.url, "DELETE", "/api/WrapKey", **KEY), 405, Code.KEYSERVICE_METHOD_NOT_ALLOWED
    )


def test_large_body_is_413_coded_json(server: Any) -> None:
    big = json.dumps({"key_name": "x" * (MAX_BODY + 1)}).encode()
    _coded(
        _raw(
            server.url, "POST", "/api/WrapKey", big, **KEY, **{"Content-Type": "application/json"}
        ),
        413,
        Code.KEYSERVICE_BODY_TOO_LARGE,
    )


def test_deeply_nested_json_is_a_bad_request(server: Any) -> None:
    deep = b"[" * 30_000 + b"]" * 30_000
    assert len(deep) <= MAX_BODY
    _coded(
        _raw(
            server.url, "POST", "/api/WrapKey", deep, **KEY, **{"Content-Type": "application/json"}
        ),
        400,
        Code.KEYSERVICE_BAD_REQUEST,
    )
    assert KeyServiceClient(server.url, "fk-test").provision_key(APP)  # still serving


def test_internal_failure_is_500_coded_json_without_detail(server: Any) -> None:
    def broken() -> Any:
        raise RuntimeError("secret-looking detail")

    server.service.distribute_keys = broken
    status, ctype, data = _raw(server.url, "POST", "/api/DistributeKey", **KEY)
    _coded((status, ctype, data), 500, Code.KEYSERVICE_INTERNAL)
    assert b"secret-looking" not in data


def test_malformed_http_is_coded_json(server: Any) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"GET /a b HTTP/1.1\r\n\r\n")  # four words: bad request syntax
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b" 400 " in head.split(b"\r\n")[0], head
    assert b"<html" not in body.lower() and b"<!doctype" not in body.lower(), body
    assert json.loads(body)["error"] == int(Code.KEYSERVICE_BAD_REQUEST)


def _serve(tmp_path: Any, *extra: str) -> list[str]:
    """``edbp cpk keyservice serve`` on a fresh store, as a user types it."""
    store = ["--store", str(tmp_path / "s"), "--master-key-file", str(tmp_path / "mk")]
    return [*CLI, "cpk", "keyservice", "serve", *store, *extra]


def _one_config_line(res: subprocess.CompletedProcess[str], code: Code) -> None:
    """A configuration error: exit status 3 and one coded line (README, "Exit status")."""
    assert res.returncode == 3, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and str(int(code)) in lines[0], res.stderr


def test_cli_serve_without_key_is_one_coded_line(tmp_path: Any) -> None:
    res = subprocess.run(
        _serve(tmp_path), capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"}
    )
    _one_config_line(res, Code.KEYSERVICE_INSECURE_CONFIG)


def test_cli_insecure_opt_in_is_loud(tmp_path: Any) -> None:
    proc = subprocess.Popen(
        _serve(tmp_path, "--insecure-as-published"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        ready = proc.stdout.readline()
        assert "key service on http://127.0.0.1:" in ready, ready
        warning = proc.stderr.readline()
        assert "INSECURE" in warning and "no authentication" in warning, warning
    finally:
        proc.kill()
        proc.communicate(timeout=60)


def test_cli_port_in_use_is_one_coded_line(tmp_path: Any) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        res = subprocess.run(
            _serve(tmp_path, "--function-key", "k", "--port", str(port)),
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin"},
        )
    _one_config_line(res, Code.KEYSERVICE_CANNOT_LISTEN)
