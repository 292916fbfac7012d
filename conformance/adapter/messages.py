"""Adapter protocol version, request names and the reply envelope (spec/adapter.md).

Frames (CBOR maps with text keys):
- request   ``{"id": uint, "req": tstr, "args": {...}}``   harness -> device
- reply     ``{"id": uint, "ok": true, "result": any}`` or
            ``{"id": uint, "ok": false, "code": int, "msg": tstr}``   device -> harness
- ask       ``{"id": uint, "ask": "fetch", "args": {"uri": tstr}}``   device -> harness, only
            while a ``deliver`` is open; the harness replies with a reply frame carrying
            ``{"payload": bstr}``.
"""

from __future__ import annotations

from typing import Any

import attrs

from edbp.errors import AdapterError, Code

PROTOCOL_VERSION = 1

#: every request a device may be sent, and the capability it needs (None: mandatory)
REQUESTS: dict[str, str | None] = {
    "hello": None,
    "reset": None,
    "identity": None,
    "provision": None,
    "deliver": None,
    "state": None,
    "power_cut": "power-cut",
    "set_clock": "clock",
    "advance_clock": "monotonic-clock",
    "cpm": "cpm",
}

CAPABILITIES = (
    "power-cut",
    "clock",
    "monotonic-clock",
    "test-keys",
    "cpm",
    "ta-check",
    "agent-nonces",
)


@attrs.frozen
class Reply:
    ok: bool
    result: Any = None
    code: int = 0
    msg: str = ""


def check_reply(item: Any, expected_id: int) -> Reply:
    """Validate a reply frame's envelope; anything else is a malformed frame."""
    if (
        not isinstance(item, dict)
        or item.get("id") != expected_id
        or not isinstance(item.get("ok"), bool)
    ):
        raise AdapterError(Code.ADAPTER_MALFORMED_FRAME, f"not a reply to request {expected_id}")
    if item["ok"]:
        return Reply(ok=True, result=item.get("result"))
    code = item.get("code")
    msg = item.get("msg", "")
    if not isinstance(code, int) or not isinstance(msg, str):
        raise AdapterError(Code.ADAPTER_MALFORMED_FRAME, "error reply without an integer code")
    return Reply(ok=False, code=code, msg=msg)


def error_reply(rid: Any, code: int, msg: str = "") -> dict[str, Any]:
    return {"id": rid, "ok": False, "code": int(code), "msg": msg[:200]}


def ok_reply(rid: Any, result: Any) -> dict[str, Any]:
    return {"id": rid, "ok": True, "result": result}


def bad_args(detail: str) -> AdapterError:
    """A request whose arguments do not have the shape spec/adapter.cddl gives them."""
    return AdapterError(Code.ADAPTER_MALFORMED_FRAME, detail)


def reset_keep_keys(args: dict[str, Any], profiles: tuple[str, ...]) -> bool:
    """Check a ``reset`` request's arguments against the profiles a device speaks; returns
    ``keep_keys``. Shared by every backend so that all refuse the same arguments alike."""
    profile = args.get("profile", profiles[0])
    if profile not in profiles:
        raise AdapterError(Code.ADAPTER_CAPABILITY_MISSING, f"profile {profile!r}")
    keep = args.get("keep_keys", False)
    if not isinstance(keep, bool):
        raise bad_args("keep_keys must be a boolean")
    return keep
