"""Strict input (P10): every malformed or over-limit TEEP message (not the well-formed
non-deterministic encodings section 5 accepts: interop.unsorted-query-request) is refused
with the code of the first check it fails (protocol.md §5, §6, §9 steps 1–3; errors.md,
"Precedence"), and changes nothing.

The inputs are a valid, TSK-signed QueryRequest with its *outer* COSE_Sign1 encoding changed
in one place. The signature covers only the protected header and the payload, so a device
that decodes leniently would verify the message and answer it: each kind is caught only by a
device that runs the check the spec names, with the code it names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from edbp.conformance.harness import Harness
from edbp.conformance.outcome import CaseFailure
from edbp.reference.wire import cbor, teep
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_sign import sign1

from edbp.errors import Code

case = pytest.mark.edbp_case


def _parts(harness: Harness) -> tuple[bytes, bytes, bytes, bytes]:
    """(protected bstr, kid, payload, signature) of a fresh, valid QueryRequest."""
    _, _, signed = harness.query_request()
    tag = cbor.loads(signed)
    protected, unprotected, payload, signature = tag.value
    return protected, unprotected[4], payload, signature


def _bstr(data: bytes) -> bytes:
    return cbor.dumps(data)


def _outer(items: list[bytes], head: bytes = b"\x84", tag: bytes = b"\xd2") -> bytes:
    """A COSE_Sign1 from already-encoded items, with a chosen array head and tag."""
    return tag + head + b"".join(items) + (b"\xff" if head == b"\x9f" else b"")


def _with_unprotected(unprotected: bytes) -> Callable[[bytes, bytes, bytes, bytes], bytes]:
    def make(p: bytes, kid: bytes, payload: bytes, sig: bytes) -> bytes:
        return _outer(
            [_bstr(p), unprotected.replace(b"KID", _bstr(kid)), _bstr(payload), _bstr(sig)]
        )

    return make


def _valid(p: bytes, kid: bytes, payload: bytes, sig: bytes) -> bytes:
    return _outer([_bstr(p), cbor.dumps({4: kid}), _bstr(payload), _bstr(sig)])


def _deep(depth: int) -> bytes:
    return b"\x81" * depth + b"\x00"


#: kind -> (how to make it from the valid message's parts, the code). (A float is not here:
#: protocol.md §5 decodes it; where the CDDL has no float, the structure's own check answers.)
KINDS: dict[str, tuple[Callable[[bytes, bytes, bytes, bytes], bytes], Code]] = {
    "trailing-byte": (lambda *a: _valid(*a) + b"\x00", Code.CBOR_TRAILING_BYTES),
    "truncated": (lambda *a: _valid(*a)[:-1], Code.CBOR_TRUNCATED),
    "duplicate-key": (_with_unprotected(b"\xa2\x04KID\x04KID"), Code.CBOR_DUPLICATE_KEY),
    "invalid-utf8": (_with_unprotected(b"\xa2\x04KID\x18\x63\x61\xff"), Code.CBOR_INVALID_UTF8),
    "too-deep": (
        _with_unprotected(b"\xa2\x04KID\x18\x63" + _deep(16)),
        Code.CBOR_TOO_DEEP,
    ),
    "too-large": (
        _with_unprotected(b"\xa2\x04KID\x18\x63" + cbor.dumps(bytes(65536))),
        Code.CBOR_TOO_LARGE,
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@case(
    id="input.strict-cbor",
    clauses=("P-5b", "P-6a", "P-9a"),
    properties=("P10",),
    flow="deploy",
    tags=("robustness", "cbor"),
)
def test_strict_cbor(harness: Harness, kind: str) -> None:
    """One malformed encoding of a valid signed QueryRequest: refused with its code, no
    evidence given, nothing changed; a valid query still works afterwards."""
    make, code = KINDS[kind]
    before = harness.state()
    got = harness.deliver(make(*_parts(harness)), f"malformed ({kind})")
    harness.expect_refusal(got, code, f"strict decoding ({kind})")
    harness.expect_unchanged(before, f"strict decoding ({kind})")
    harness.query(step=f"after {kind}: deploy.query_request")


def _cose_with(harness: Harness, protected: Mapping[int, object], *, resign: bool) -> bytes:
    """A QueryRequest whose protected header is ``protected`` (signed with the run's TSK when
    ``resign``, else carrying a 64-byte dummy signature)."""
    _, _, signed = harness.query_request()
    _, unprotected, payload, signature = cbor.loads(signed).value
    if resign:
        alg = Alg(int(protected[1]))  # type: ignore[call-overload]
        return sign1(payload, harness.cloud.tsk, alg, unprotected=unprotected).encode()
    return _outer(
        [_bstr(cbor.dumps(protected)), cbor.dumps(unprotected), _bstr(payload), _bstr(signature)]
    )


@case(
    id="input.teep-algorithms",
    clauses=("P-4a", "P-9.1a", "P-9.2a"),
    properties=("P5", "P10"),
    flow="deploy",
    tags=("signature", "algorithms"),
)
def test_teep_signature_algorithms(harness: Harness) -> None:
    """A verifier accepts ES256 (−7) with a P-256 key as well as ESP256 (−9); it refuses an
    algorithm edbp knows but TEEP signatures do not allow (A128GCM, 1: 202), an unknown one
    (−65000: 201), one that does not fit the key (EdDSA with a P-256 TSK: 203), and the same
    header in both buckets (205). Each refusal leaves the device as it was."""
    accepted = harness.deliver(_cose_with(harness, {1: -7}, resign=True), "ES256 QueryRequest")
    if accepted.code is not None or len(accepted.replies) != 1:
        raise CaseFailure(
            "ES256 (−7) QueryRequest", "a QueryResponse", accepted.code, accepted.code
        )
    if not isinstance(harness.open_reply(accepted.replies[0], "ES256"), teep.QueryResponse):
        raise CaseFailure("ES256 (−7) QueryRequest", "QueryResponse", "another message")
    for label, protected, code in (
        ("A128GCM as a signature alg", {1: 1}, Code.COSE_ALG_NOT_ALLOWED),
        ("unknown alg", {1: -65000}, Code.COSE_UNKNOWN_ALG),
        ("EdDSA with a P-256 key", {1: -8}, Code.COSE_ALG_KEY_MISMATCH),
    ):
        before = harness.state()
        got = harness.deliver(_cose_with(harness, protected, resign=False), label)
        harness.expect_refusal(got, code, f"TEEP signature ({label})")
        harness.expect_unchanged(before, label)
    before = harness.state()
    _, _, signed = harness.query_request()
    p, unprotected, payload, signature = cbor.loads(signed).value
    twice = dict(unprotected)
    twice[1] = -9
    got = harness.deliver(
        _outer([_bstr(p), cbor.dumps(twice), _bstr(payload), _bstr(signature)]), "alg twice"
    )
    harness.expect_refusal(got, Code.COSE_DUPLICATE_HEADER, "alg in both header buckets")
    harness.expect_unchanged(before, "alg twice")


@case(
    id="input.teep-shape",
    clauses=("P-9.3a", "P-6a"),
    properties=("P10",),
    flow="deploy",
    tags=("robustness",),
)
def test_teep_shape(harness: Harness) -> None:
    """Signed by the trusted TSK but not a TEEP message the Agent knows: an unknown TEEP type
    is TEEP_UNKNOWN_TYPE (401); a token one byte short is TEEP_MALFORMED (400); a challenge one
    byte short likewise; an Update with five manifests is AGENT_RESOURCE_LIMIT (610)."""
    tsk = harness.cloud.tsk
    kid = tsk.thumbprint()
    unknown = sign1(cbor.dumps([99, {}]), tsk, Alg.ESP256, unprotected={4: kid}).encode()
    before = harness.state()
    harness.expect_refusal(harness.deliver(unknown, "type 99"), Code.TEEP_UNKNOWN_TYPE, "type 99")
    harness.expect_unchanged(before, "type 99")
    for label, token, challenge in (
        ("token of 15 bytes", bytes(range(15)), bytes(range(32))),
        ("challenge of 31 bytes", bytes(range(16)), bytes(range(31))),
    ):
        msg = teep.QueryRequest(
            token=token,
            challenge=challenge,
            freshness_mechanisms=(teep.Freshness.NONCE,),
            versions=(0,),
            data_item_requested=int(teep.DataItem.ATTESTATION),
        )
        got = harness.deliver(harness.sign(msg, tsk), label)
        harness.expect_refusal(got, Code.TEEP_MALFORMED, label)
        harness.expect_unchanged(before, label)
    published = harness.publish(1)
    q = harness.query(step="five manifests: deploy.query_request")
    envelope = harness.delivery(published).envelope
    update = teep.Update(token=q.token, manifest_list=(envelope,) * 5, agent_nonce=q.nonce)
    got = harness.deliver(harness.sign(update, tsk), "five manifests")
    harness.expect_refusal(got, Code.AGENT_RESOURCE_LIMIT, "five manifests in one Update")
    harness.expect_unchanged(before, "five manifests")
