"""A small HTTP client for the key service (build agents, devices, tests): standard library
``urllib`` only, JSON in and out, HTTP errors turned back into the service's ``EdbpError``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from edbp.errors import BlueprintError, Code

__all__ = ["KeyServiceClient"]


class KeyServiceClient:
    def __init__(self, url: str, function_key: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._key = function_key
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"KeyServiceClient({self.url!r})"

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        if not self.url.startswith(("http://", "https://")):
            raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "key service URL must be http(s)")
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self._key is not None:
            req.add_header("x-functions-key", self._key)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:  # noqa: S310 - loopback URL given by the caller
                return json.loads(resp.read() or b"null"), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            try:
                doc = json.loads(exc.read())
                code = Code(doc["error"])
                detail = str(doc.get("message", ""))
            except (ValueError, KeyError, TypeError):
                code, detail = Code.KEYSERVICE_BAD_REQUEST, f"HTTP {exc.code}"
            raise BlueprintError(code, detail) from None
        except (urllib.error.URLError, OSError) as exc:
            raise BlueprintError(
                Code.KEYSERVICE_BAD_REQUEST, f"key service unreachable: {exc}"
            ) from None

    def provision_key(self, key_name: str) -> str:
        return str(self.request("POST", f"/api/ProvisionKey/{key_name}")[0]["message"])

    def wrap_key(self, key_name: str, client_public_key_b64: str) -> str:
        doc, _ = self.request(
            "POST",
            "/api/WrapKey",
            {"key_name": key_name, "client_public_key": client_public_key_b64},
        )
        return str(doc["wrapped_key"])

    def distribute(self) -> dict[str, Any]:
        return dict(self.request("POST", "/api/DistributeKey")[0])

    def register_twin(self, device_id: str) -> dict[str, Any]:
        return dict(self.request("PUT", f"/twins/{device_id}")[0])

    def get_twin(self, device_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/twins/{device_id}")[0])

    def report(
        self, device_id: str, patch: dict[str, Any], etag: str | None = None
    ) -> dict[str, Any]:
        headers = {"If-Match": etag} if etag else None
        return dict(self.request("PATCH", f"/twins/{device_id}/reported", patch, headers)[0])
