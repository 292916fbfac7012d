"""Deploy flow: honest install and upgrade, evidence, signed reports, secrets never in the REE."""

from __future__ import annotations

import pytest
from edbp.conformance.harness import TA_UUID, Harness
from edbp.conformance.outcome import CaseFailure
from edbp.reference.build.package import ta_component
from edbp.reference.wire import teep
from edbp.reference.wire.cose_sign import Sign1

case = pytest.mark.edbp_case


@case(
    id="deploy.install",
    clauses=("P-4b", "P-8.5a", "A-4b", "A-3a"),
    properties=("P3", "P5", "P10"),
    flow="deploy",
    suite="esp256-a128gcm",
    tags=("honest",),
)
def test_install(harness: Harness) -> None:
    """Query, Update, fetch, Success: the image is installed at the published sequence."""
    harness.deploy(1)
    if harness.state()["agent_state"] != "IDLE":
        raise CaseFailure("deploy.success (agent_state)", "IDLE", harness.state()["agent_state"])


@case(
    id="deploy.upgrade",
    clauses=("P-8.3a", "P-8.5a", "P-9.8a"),
    properties=("P6", "P7"),
    flow="deploy",
    suite="esp256-a128gcm",
    tags=("honest",),
)
def test_upgrade(harness: Harness) -> None:
    """Two exchanges, two versions: each report is fresh for its own exchange."""
    harness.deploy(1, step="v1")
    harness.deploy(2, step="v2")
    if harness.floor() != 2:
        raise CaseFailure("v2: deploy.raise_floor", 2, harness.floor())
    # the attested installed state (protocol.md §8.5 step 3): one entry per component with its
    # SUIT floor, the digest of the device manifest installed and its TA-version floor
    claims = harness.check_evidence(harness.query(step="status"), "status")
    from edbp.reference.device.update import decode_envelope
    from edbp.reference.wire import cbor

    want = [
        list(ta_component(TA_UUID)),
        2,
        decode_envelope(harness.last_envelope).authentication.digest.to_cbor(),
        harness.state()["floors"][0]["ta_version"],
    ]
    entries = [cbor.loads(m.body) for m in claims.manifests]
    if entries != [want]:
        raise CaseFailure("status (EAT manifests claim)", want, entries)


@case(
    id="deploy.evidence",
    clauses=(
        "P-4b",
        "P-8.3a",
    ),
    properties=("P3", "P4"),
    flow="deploy",
    tags=("evidence",),
)
def test_evidence(harness: Harness) -> None:
    """EAT signed by the DSK, eat_nonce = challenge, ueid, cnf = DAK; twice, fresh each time."""
    first = harness.query(step="query 1")
    second = harness.query(step="query 2")
    c1 = harness.check_evidence(first, "query 1")
    c2 = harness.check_evidence(second, "query 2")
    if c1.nonce == c2.nonce:
        raise CaseFailure("query 2 (eat_nonce)", "a new nonce", "the previous one")


def _signatures(data: bytes) -> list[bytes]:
    """Signatures in a device reply: the TEEP message's, its EAT's and its reports'."""
    sigs = [Sign1.decode(data).signature]
    msg = teep.peek(data)
    payload = getattr(msg, "attestation_payload", None)
    if payload:
        sigs.append(Sign1.decode(payload).signature)
    for report in getattr(msg, "suit_reports", None) or ():
        sigs.append(Sign1.decode(report).signature)
    return sigs


@case(
    id="deploy.signature-nonces",
    clauses=("P-8.1a", "P-8.5a"),
    properties=("P11", "P6"),
    flow="deploy",
    tags=("reports",),
)
def test_signature_nonces_unique(harness: Harness) -> None:
    """Across three exchanges no two device signatures share an ECDSA r (one nonce reused
    under the DSK gives the key away), and no two reports share a nonce."""
    seen: dict[bytes, int] = {}
    report_nonces: set[bytes] = set()
    for seq in (1, 2, 3):
        q, got = harness.deploy(seq, step=f"v{seq}")
        for data in (*q.replies, *got.replies):
            for sig in _signatures(data):
                r = sig[: len(sig) // 2]
                if r in seen:
                    raise CaseFailure(f"v{seq}: signature nonce", "a fresh ECDSA nonce", "r reused")
                seen[r] = seq
        report = harness.expect_success(got, q, harness.publish(seq), step=f"v{seq}: report")
        if report.nonce in report_nonces:
            raise CaseFailure(f"v{seq}: report nonce", "unique", "reused")
        report_nonces.add(report.nonce or b"")


@case(
    id="deploy.secrets-not-in-ree",
    clauses=("P-11a",),
    properties=("P1", "P8"),
    flow="deploy",
    tags=("confidentiality",),
)
def test_secrets_never_cross_the_adapter(harness: Harness) -> None:
    """Nothing the device hands its REE (every adapter frame, including state) carries the CEK
    or the plaintext image, raw, hex or base64 (the same scan runs after every case)."""
    harness.deploy(1)
    harness.state()
    harness.scan_frames("deploy (REE-visible frames)")


@case(
    id="deploy.unexpected-message",
    clauses=("P-9a", "P-10.1a"),
    properties=("P10",),
    flow="deploy",
    tags=("robustness",),
)
def test_unexpected_message(harness: Harness) -> None:
    """A well-signed TEEP message an Agent never receives (Success), inside an open exchange,
    is refused with AGENT_UNEXPECTED_MESSAGE, changes nothing and closes the exchange."""
    from edbp.errors import Code

    before = harness.state()
    published = harness.publish(1)
    q = harness.query(step="deploy.query_request")
    # signed as the TAM signs (kid = its TSK): the case is about the message type, not the
    # kid-less path of protocol.md section 2 (auth.unnamed-signer and auth.unnamed-tam cover it)
    msg = harness.sign(teep.Success(token=q.token), harness.cloud.tsk)
    got = harness.deliver(msg)
    harness.expect_refusal(got, Code.AGENT_UNEXPECTED_MESSAGE, "unexpected message")
    harness.expect_unchanged(before, "unexpected message")
    # the refusal closed the exchange (protocol.md §10.1, A11): its Update is now a replay
    got = harness.deliver(harness.update(published, q), "Update of the closed exchange")
    harness.expect_refusal(got, Code.AGENT_REPLAY, "Update after the exchange was closed")
    harness.expect_unchanged(before, "Update of the closed exchange")
