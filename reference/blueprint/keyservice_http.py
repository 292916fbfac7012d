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
400/401/404/412. Bind address is always 127.0.0.1.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from typing import Any

from edbp.reference.blueprint.keyservice import KeyService
from edbp.reference.blueprint.twins import TwinConflict

from edbp.errors import BlueprintError, Code, EdbpError

__all__ = ["LoopbackKeyService", "create_app"]

_STATUS = {
    Code.KEYSERVICE_BAD_REQUEST: 400,
    Code.KEYSERVICE_FORBIDDEN: 401,
    Code.KEYSERVICE_NOT_FOUND: 404,
}


def create_app(service: KeyService, function_key: str | None = None) -> Any:
    """The Flask application for ``service``."""
    from edbp.extras import require

    require("flask")  # the `keyservice` extra; missing: one line with the pip command
    from flask import Flask, jsonify, request

    app = Flask("edbp-blueprint-keyservice")

    def error(exc: EdbpError, status: int | None = None) -> Any:
        body = {"error": int(exc.code), "name": exc.code.name, "message": exc.detail}
        return jsonify(body), status or _STATUS.get(exc.code, 400)

    @app.errorhandler(EdbpError)
    def _edbp(exc: EdbpError) -> Any:
        return error(exc, 412 if isinstance(exc, TwinConflict) else None)

    def authorise() -> None:
        if function_key is None:
            return
        given = request.headers.get("x-functions-key") or request.args.get("code") or ""
        if not hmac.compare_digest(given.encode(), function_key.encode()):
            raise BlueprintError(Code.KEYSERVICE_FORBIDDEN, "function key")

    def body() -> dict[str, Any]:
        doc = request.get_json(silent=True)
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

    def __init__(self, service: KeyService, port: int = 0, function_key: str | None = None) -> None:
        self.service = service
        self._port = port
        self._function_key = function_key
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> LoopbackKeyService:
        from werkzeug.serving import make_server

        self._server = make_server(
            "127.0.0.1", self._port, create_app(self.service, self._function_key), threaded=True
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
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
        from werkzeug.serving import make_server

        self._server = make_server(
            "127.0.0.1", self._port, create_app(self.service, self._function_key), threaded=True
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
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
