"""Adapter duties every device has, whatever the profile: hello, identity, state, robustness."""

from __future__ import annotations

from typing import Any

import pytest
from edbp.conformance.adapter.client import DeviceError
from edbp.conformance.adapter.messages import PROTOCOL_VERSION
from edbp.conformance.outcome import CaseFailure

from edbp.errors import Code


def _expect_refusal(device: Any, req: str, args: dict[str, Any], step: str) -> DeviceError:
    try:
        device.call(req, args)
    except DeviceError as exc:
        return exc
    raise CaseFailure(step, "a refusal with an error code", "success")


@pytest.mark.edbp_case(
    id="adapter.hello", clauses=("A-3a", "A-4a"), flow="adapter", tags=("adapter",)
)
def test_hello_declares_profiles_and_capabilities(edbp_device: Any) -> None:
    info = edbp_device.hello()
    if info.version != PROTOCOL_VERSION:
        raise CaseFailure("hello", PROTOCOL_VERSION, info.version)
    if not info.profiles:
        raise CaseFailure("hello", "at least one profile", "none")
    if "edbp" in info.profiles:
        # protocol.md §6: a device takes messages up to 64 KiB and payloads up to 16 MiB
        raw = edbp_device.call("hello", {"version": PROTOCOL_VERSION, "harness": "edbp"})
        limits = raw.get("limits") or {} if isinstance(raw, dict) else {}
        for name, floor in (("max_message", 65536), ("max_payload", 16 << 20)):
            if name in limits and int(limits[name]) < floor:
                raise CaseFailure(f"hello (limits.{name})", f">= {floor}", limits[name])


@pytest.mark.edbp_case(
    id="adapter.unknown-request", clauses=("A-3b",), flow="adapter", tags=("adapter", "robustness")
)
def test_unknown_request_refused_with_code(edbp_device: Any) -> None:
    exc = _expect_refusal(edbp_device, "no-such-request", {}, "unknown-request")
    if exc.code is not Code.ADAPTER_UNKNOWN_REQUEST:
        raise CaseFailure("unknown-request", Code.ADAPTER_UNKNOWN_REQUEST, exc.code, exc.code)
    edbp_device.call("state")  # still answering
