"""The key service as a real HTTP server (Flask app, Werkzeug's threaded server) on loopback.

Routes follow the Azure Functions app (``/api`` prefix, function-key auth by the
``x-functions-key`` header or the ``code`` query parameter when a key is configured):

* ``GET|POST /api/ProvisionKey/<key_name>`` -> ``{"message": ...}``
* ``POST /api/WrapKey`` ``{"key_name", "client_public_key"}`` -> ``{"wrapped_key": base64}``
* ``POST /api/DistributeKey``: one run of the timer (Azure runs it every 5 minutes; tests and
  the demo trigger it) -> the run's report

and, standing in for IoT Hub's twin API (which devices and operators use, not the function
app): ``PUT /twins/<id>`` (register), ``GET /twins/<id>`` (ETag header),
``PATCH /twins/<id>/reported`` and ``PATCH /twins/<id>/desired`` (``If-Match`` honoured),
``POST /twins/<id>/status``. Errors are ``{"error": code, "name": ..., "message": ...}`` with
400/401/404/405/412/413/500, never an HTML page. Bind address is always 127.0.0.1.

Safe by default (issue 16): the published app has no authentication without a function key,
and none on the twin routes even with one, so that after DistributeKey anyone who can reach
the service registers a key and reads the class key back. ``create_app`` therefore refuses to
start without a function key and, by default, checks it before every route, unknown routes
included. ``insecure_as_published=True`` restores the published behaviour for the attack
demonstrations (the CLI says so loudly). Bodies are bounded (``MAX_BODY``), JSON nesting too,
and a slow client cannot hold a thread forever (``REQUEST_TIMEOUT``).
"""

from __future__ import annotations

import hmac
import json
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from edbp.reference.blueprint.keyservice import KeyService
from edbp.reference.blueprint.twins import TwinConflict

from edbp.errors import BlueprintError, Code, ConfigError, EdbpError

__all__ = ["MAX_BODY", "REQUEST_TIMEOUT", "LoopbackKeyService", "check_auth_config", "create_app"]

#: the largest request body: a WrapKey request (an RSA-4096 SPKI in base64 is under 1 KiB) or a
#: twin patch, with ample room; anything above gets 413 before it is read
MAX_BODY = 64 * 1024
#: seconds a connection may stay silent while the server reads a request
REQUEST_TIMEOUT = 30.0

_STATUS = {
    Code.KEYSERVICE_BAD_REQUEST: 400,
    Code.KEYSERVICE_FORBIDDEN: 401,
    Code.KEYSERVICE_NOT_FOUND: 404,
    Code.KEYSERVICE_NO_SUCH_ROUTE: 404,
    Code.KEYSERVICE_METHOD_NOT_ALLOWED: 405,
    Code.KEYSERVICE_BODY_TOO_LARGE: 413,
    Code.KEYSERVICE_INTERNAL: 500,
}
_HTTP_CODES = {
    404: Code.KEYSERVICE_NO_SUCH_ROUTE,
    405: Code.KEYSERVICE_METHOD_NOT_ALLOWED,
    413: Code.KEYSERVICE_BODY_TOO_LARGE,
}


def check_auth_config(function_key: str | None, insecure_as_published: bool) -> None:
    """Refuse to serve without authentication unless explicitly asked for (957)."""
    if not function_key and not insecure_as_published:
        raise ConfigError(
            Code.KEYSERVICE_INSECURE_CONFIG,
            "a function key is required (--insecure-as-published serves without one)",
        )


def create_app(
    service: KeyService,
    function_key: str | None = None,
    *,
    insecure_as_published: bool = False,
    max_body: int = MAX_BODY,
) -> Any:
    """The Flask application for ``service``. Without ``insecure_as_published`` a non-empty
    ``function_key`` is required (KEYSERVICE_INSECURE_CONFIG) and checked on every request."""
    from edbp.extras import require

    require("flask")  # the `keyservice` extra; missing: one line with the pip command
    from flask import Flask, jsonify, request
    from werkzeug.exceptions import HTTPException

    check_auth_config(function_key, insecure_as_published)
    key = function_key or None
    app = Flask("edbp-blueprint-keyservice")
    app.config["MAX_CONTENT_LENGTH"] = max_body

    def error(exc: EdbpError, status: int | None = None) -> Any:
        body = {"error": int(exc.code), "name": exc.code.name, "message": exc.detail}
        return jsonify(body), status or _STATUS.get(exc.code, 400)

    @app.errorhandler(EdbpError)
    def _edbp(exc: EdbpError) -> Any:
        return error(exc, 412 if isinstance(exc, TwinConflict) else None)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        code = _HTTP_CODES.get(status, Code.KEYSERVICE_BAD_REQUEST)
        if status >= 500:
            code = Code.KEYSERVICE_INTERNAL
        return error(BlueprintError(code, f"HTTP {status}"), status)

    @app.errorhandler(Exception)
    def _internal(exc: Exception) -> Any:
        # nothing of the cause reaches the client (it may hold key material); the operator
        # sees the exception's type on the service log
        print(f"key service: internal error ({type(exc).__name__})", file=sys.stderr)
        return error(BlueprintError(Code.KEYSERVICE_INTERNAL), 500)

    def authorise() -> None:
        if key is None:
            return
        given = request.headers.get("x-functions-key") or request.args.get("code") or ""
        if not hmac.compare_digest(given.encode(), key.encode()):
            raise BlueprintError(Code.KEYSERVICE_FORBIDDEN, "function key")

    if not insecure_as_published:
        # every route, the twin routes and unknown paths included
        app.before_request(authorise)

    def body() -> dict[str, Any]:
        data = request.get_data(cache=True)  # 413 above MAX_CONTENT_LENGTH
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser
            doc = None
        if not isinstance(doc, dict):
            raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "expected a JSON object")
        return doc

    @app.route("/api/ProvisionKey/<key_name>", methods=["GET", "POST"])
    def provision(key_name: str) -> Any:
        authorise()
        return jsonify({"message": service.provision_key(key_name)})

    @app.post("/api/WrapKey")
    def wrap() -> Any:
        authorise()
        doc = body()
        return jsonify(
            {"wrapped_key": service.wrap_key(doc.get("key_name"), doc.get("client_public_key"))}
        )

    @app.post("/api/DistributeKey")
    def distribute() -> Any:
        authorise()
        r = service.distribute_keys()
        return jsonify(
            {
                "updated": list(r.updated),
                "skipped": [list(s) for s in r.skipped],
                "conflict": r.conflict,
                "keys": list(r.key_names),
            }
        )

    def twin_response(twin: dict[str, Any]) -> Any:
        resp = jsonify(twin)
        resp.headers["ETag"] = twin["etag"]
        return resp

    @app.put("/twins/<device_id>")
    def register(device_id: str) -> Any:
        authorise()
        return twin_response(service.twins.register(device_id))

    @app.get("/twins/<device_id>")
    def get_twin(device_id: str) -> Any:
        return twin_response(service.twins.get(device_id))

    @app.patch("/twins/<device_id>/<section>")
    def patch(device_id: str, section: str) -> Any:
        etag = request.headers.get("If-Match")
        if section == "reported":
            return twin_response(service.twins.update_reported(device_id, body(), etag))
        if section == "desired":
            authorise()
            return twin_response(service.twins.update_desired(device_id, body(), etag))
        raise BlueprintError(Code.KEYSERVICE_NOT_FOUND, "no such twin section")

    @app.post("/twins/<device_id>/status")
    def status(device_id: str) -> Any:
        authorise()
        value = body().get("status")
        if value not in ("enabled", "disabled"):
            raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "status: enabled | disabled")
        service.twins.set_status(device_id, value)
        return twin_response(service.twins.get(device_id))

    return app


class LoopbackKeyService:
    """Serve ``service`` on ``http://127.0.0.1:<port>`` (port 0: an ephemeral one) in a thread."""

    def __init__(
        self,
        service: KeyService,
        port: int = 0,
        function_key: str | None = None,
        *,
        insecure_as_published: bool = False,
    ) -> None:
        self.service = service
        self._port = port
        self._function_key = function_key
        self._insecure = insecure_as_published
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def _make_server(self) -> Any:
        """The threaded Werkzeug server on a socket bound here first, so that a port in use
        is KEYSERVICE_CANNOT_LISTEN (Werkzeug itself prints a message and exits)."""
        from werkzeug.serving import make_server

        app = create_app(self.service, self._function_key, insecure_as_published=self._insecure)
        try:
            sock = socket.create_server(("127.0.0.1", self._port))
        except OSError as exc:
            raise ConfigError(
                Code.KEYSERVICE_CANNOT_LISTEN, f"port {self._port}: {exc.strerror or exc}"
            ) from None
        with sock:
            return make_server(
                "127.0.0.1",
                sock.getsockname()[1],
                app,
                threaded=True,
                request_handler=_handler_class(),
                fd=sock.fileno(),
            )

    def start(self) -> LoopbackKeyService:
        self._server = self._make_server()
        self.url = f"http://127.0.0.1:{self._server.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="edbp-keyservice", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Foreground serving (the CLI); ``on_ready`` gets the URL once the socket is bound."""
        self._server = self._make_server()
        self.url = f"http://127.0.0.1:{self._server.port}"
        if on_ready is not None:
            on_ready(self.url)
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackKeyService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: ``http.server``'s error page, as JSON (it fills in ``%(code)d``; nothing the client sent)
_ERROR_BODY = (
    f'{{"error": {int(Code.KEYSERVICE_BAD_REQUEST)}, "name": "{Code.KEYSERVICE_BAD_REQUEST.name}",'
    ' "message": "HTTP %(code)d"}'
)


def _handler_class() -> Any:
    """Werkzeug's request handler with a read timeout, and JSON instead of the HTML page that
    ``http.server`` writes for a request it cannot parse (bad request line, header too long)."""
    from werkzeug.serving import WSGIRequestHandler

    class Handler(WSGIRequestHandler):
        timeout = REQUEST_TIMEOUT
        error_message_format = _ERROR_BODY
        error_content_type = "application/json"

    return Handler
