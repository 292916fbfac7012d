"""Device twins as IoT Hub keeps them: ``properties.reported`` (written by the device),
``properties.desired`` (written by the cloud), a ``status`` and an ETag per twin.

The blueprint's key distribution lives entirely in twins: the device reports
``device_public_key`` (base64 SPKI), DistributeKey writes
``desired.confidential_package_keys = {name: base64 wrapped}``. Every write of either section
changes the ETag and bumps that section's ``$version``; a write conditioned on an old ETag is
refused (``TwinConflict``), which is how DistributeKey's ``UpdateTwinAsync(id, twin, etag)``
behaves. ``status`` ("enabled" / "disabled") is kept because the published selection query
ignores it: a disabled device still matches ``is_defined(properties.reported.device_public_key)``.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from edbp.errors import BlueprintError, Code

__all__ = ["TwinConflict", "TwinStore"]


class TwinConflict(BlueprintError):
    """An ETag-conditioned write lost a race (HTTP 412 in IoT Hub)."""

    def __init__(self, device_id: str) -> None:
        super().__init__(Code.KEYSERVICE_BAD_REQUEST, f"twin {device_id!r}: etag does not match")


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """JSON merge patch as twins apply it: a null value removes the property."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)


class TwinStore:
    """In-memory twin documents, thread-safe (the HTTP server runs handlers on threads)."""

    def __init__(self) -> None:
        self._twins: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def __repr__(self) -> str:
        return f"TwinStore(devices={len(self._twins)})"

    def _etag(self) -> str:
        self._counter += 1
        return f'"{self._counter:08x}"'

    def register(self, device_id: str) -> dict[str, Any]:
        with self._lock:
            if device_id in self._twins:
                raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, f"device {device_id!r} exists")
            self._twins[device_id] = {
                "deviceId": device_id,
                "status": "enabled",
                "etag": self._etag(),
                "properties": {"desired": {"$version": 1}, "reported": {"$version": 1}},
            }
            return copy.deepcopy(self._twins[device_id])

    def _twin(self, device_id: str) -> dict[str, Any]:
        twin = self._twins.get(device_id)
        if twin is None:
            raise BlueprintError(Code.KEYSERVICE_NOT_FOUND, f"no twin {device_id!r}")
        return twin

    def get(self, device_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._twin(device_id))

    def set_status(self, device_id: str, status: str) -> None:
        """Enable or disable a device (IoT Hub's registry status); distribution ignores it."""
        with self._lock:
            twin = self._twin(device_id)
            twin["status"] = status
            twin["etag"] = self._etag()

    def delete(self, device_id: str) -> None:
        with self._lock:
            self._twin(device_id)
            del self._twins[device_id]

    def _update(
        self, device_id: str, section: str, patch: dict[str, Any], etag: str | None
    ) -> dict[str, Any]:
        if not isinstance(patch, dict):
            raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "twin patch must be an object")
        with self._lock:
            twin = self._twin(device_id)
            if etag is not None and etag != "*" and etag != twin["etag"]:
                raise TwinConflict(device_id)
            props = twin["properties"][section]
            _merge(props, {k: v for k, v in patch.items() if not k.startswith("$")})
            props["$version"] += 1
            twin["etag"] = self._etag()
            return copy.deepcopy(twin)

    def update_reported(
        self, device_id: str, patch: dict[str, Any], etag: str | None = None
    ) -> dict[str, Any]:
        return self._update(device_id, "reported", patch, etag)

    def update_desired(
        self, device_id: str, patch: dict[str, Any], etag: str | None = None
    ) -> dict[str, Any]:
        return self._update(device_id, "desired", patch, etag)

    def query_reported_defined(self, prop: str) -> list[dict[str, Any]]:
        """``SELECT * FROM devices WHERE is_defined(properties.reported.<prop>)``."""
        with self._lock:
            return [
                copy.deepcopy(t)
                for _, t in sorted(self._twins.items())
                if prop in t["properties"]["reported"]
            ]
