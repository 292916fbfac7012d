"""Verify before decrypt (P9) and fail closed (P10): the ciphertext the REE hands over is
checked against the signed digest and size before any decryption; a bad payload installs
nothing and moves no floor, and the same version installs afterwards."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from edbp.conformance.harness import Harness

from edbp.errors import AdapterError, Code

case = pytest.mark.edbp_case


def _flip(i: int) -> Callable[[str, bytes], bytes]:
    def tamper(uri: str, data: bytes) -> bytes:
        j = i % len(data)
        return data[:j] + bytes([data[j] ^ 0x01]) + data[j + 1 :]

    return tamper


def _swap(harness: Harness) -> Callable[[str, bytes], bytes]:
    other = harness.publish(7)
    return lambda uri, data: harness.cloud.registry.payload(other.package.uri)


TAMPERS: dict[str, Callable[[Harness], Callable[[str, bytes], bytes]]] = {
    "ciphertext-byte": lambda h: _flip(100),
    "gcm-tag": lambda h: _flip(-1),
    "first-byte": lambda h: _flip(0),
    "truncated": lambda h: lambda uri, data: data[:-16],
    "extended": lambda h: lambda uri, data: data + b"\x00" * 16,
    # near misses of the signed size: one byte short, one byte over
    "truncated-1": lambda h: lambda uri, data: data[:-1],
    "extended-1": lambda h: lambda uri, data: data + b"\x00",
    "other-package": _swap,
}


@pytest.mark.parametrize("kind", sorted(TAMPERS))
@case(
    id="payload.tampered",
    clauses=("P-8.5a", "P-8.3c", "P-9a", "P-9.9a", "E-2a", "E-2b", "A-3c"),
    properties=("P9", "P10"),
    flow="deploy",
    tags=("payload",),
)
def test_tampered_payload(harness: Harness, kind: str) -> None:
    before = harness.state()
    published = harness.publish(1)
    harness.tamper = TAMPERS[kind](harness)
    q = harness.query(step="deploy.query_request")
    got = harness.deliver(harness.update(published, q), "deploy.update")
    error = harness.expect_refusal(
        got, Code.AGENT_PAYLOAD_MISMATCH, f"deploy.check_payload ({kind})"
    )
    harness.check_error_report(error, Code.AGENT_PAYLOAD_MISMATCH, q, f"report ({kind})")
    harness.expect_unchanged(before, f"deploy.check_payload ({kind})")
    harness.tamper = None
    harness.deploy(1, step="retry")


@case(
    id="payload.fetch-failed",
    clauses=("P-9a", "P-9.9a"),
    properties=("P10",),
    flow="deploy",
    tags=("payload",),
)
def test_fetch_failed(harness: Harness) -> None:
    """The Registry is unreachable: Error AGENT_PAYLOAD_FETCH_FAILED, nothing changed, and the
    same version installs on the next exchange."""

    def unreachable(uri: str, data: bytes) -> bytes:
        raise AdapterError(Code.REGISTRY_UNAVAILABLE, "registry unreachable")

    before = harness.state()
    published = harness.publish(1)
    harness.tamper = unreachable
    q = harness.query(step="deploy.query_request")
    got = harness.deliver(harness.update(published, q), "deploy.update")
    harness.expect_refusal(got, Code.AGENT_PAYLOAD_FETCH_FAILED, "deploy.fetch")
    harness.expect_unchanged(before, "deploy.fetch")
    harness.tamper = None
    harness.deploy(1, step="retry")
