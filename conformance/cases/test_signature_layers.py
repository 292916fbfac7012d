"""Signature headers at every layer the Agent verifies (P5, P10): the TEEP message (TSK), the
device SUIT manifest (TSK) and the author SUIT manifest (ASK).

Why one case per layer: a device may verify each layer with different code (a TEEP library,
a SUIT processor, the same processor again for the dependency), and a check present in one
can be missing in another. Each input here carries a *valid* signature by the trusted key of
its layer, with its headers placed or marked so that RFC 9052 and protocol.md §4 refuse it:

- ``alg-unprotected``: the algorithm only in the unprotected header, where an attacker could
  rewrite it without touching the signature (RFC 9052 §3.1: ``alg`` MUST be authenticated
  where it can be): ``COSE_MALFORMED`` (200);
- ``unknown-critical``: a protected ``crit`` naming a header label the verifier does not
  understand (RFC 9052 §3.1): ``COSE_UNKNOWN_CRITICAL_HEADER`` (204).

A device that skips the check verifies the signature and goes on: the query is answered or
the package installed. ``auth.near-miss-manifest-digest`` gives each SUIT layer an
authentication wrapper whose manifest digest differs from the manifest's only in its last
byte, validly signed by the layer's trusted key (302 on the device layer, 313 on the author
layer, whose digest meets the dependency's first).

Unallowed algorithms per layer are ``input.teep-algorithms`` and ``auth.manifest-algorithms``
(ids edbp knows) and ``sig.*-algorithms`` (test_signature_algorithms.py: ids a generic COSE
library offers, really signed where the key allows it);
the algorithms a device *emits* on its own layers (TEEP replies, EAT, SUIT reports), and their
placement, are checked in every reply (``Harness.open_reply``).
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from edbp.conformance.harness import Harness
from edbp.reference.wire import cbor
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import sign1
from edbp.reference.wire.suit_envelope import Envelope

from edbp.errors import Code

case = pytest.mark.edbp_case

#: a header label no COSE registry assigns (private use range is below -65536; 99 is
#: unassigned): the verifier cannot understand it
UNKNOWN_LABEL = 99


def _headers(kind: str, kid: bytes) -> tuple[dict[int | str, Any], dict[int | str, Any]]:
    """(protected, unprotected) of ``kind``, for a signature by the key ``kid`` names."""
    if kind == "alg-unprotected":
        return {}, {1: int(Alg.ESP256), 4: kid}
    return {1: int(Alg.ESP256), 2: [UNKNOWN_LABEL], UNKNOWN_LABEL: 0}, {4: kid}


KINDS = {
    "alg-unprotected": Code.COSE_MALFORMED,
    "unknown-critical": Code.COSE_UNKNOWN_CRITICAL_HEADER,
}


def _resigned_block(env: Envelope, key: CoseKey, kind: str) -> Envelope:
    """``env`` with its signature block replaced by a valid signature of ``key`` over the
    same manifest digest, headers as ``kind`` places them."""
    protected, unprotected = _headers(kind, key.thumbprint())
    block = sign1(
        env.authentication.signed_payload,
        key,
        Alg.ESP256,
        protected=protected,
        unprotected=unprotected,
        detached=True,
    ).encode()
    auth = attrs.evolve(env.authentication, blocks=(block,))
    return attrs.evolve(env, authentication=auth)


def _manifest_layer(harness: Harness, layer: str, kind: str, sequence: int) -> None:
    before = harness.state()
    published = harness.publish(sequence)
    q = harness.query(step=f"{layer} {kind}: deploy.query_request")
    env = Envelope.decode(harness.delivery(published).envelope)
    if layer == "device":
        forged = _resigned_block(env, harness.cloud.tsk, kind).encode()
    else:
        author = Envelope.decode(env.integrated["#author"])
        author = _resigned_block(author, harness.cloud.ask, kind)
        forged = attrs.evolve(
            env, integrated={**env.integrated, "#author": author.encode()}
        ).encode()
    got = harness.deliver(harness.update(published, q, envelope=forged), f"{layer} {kind}")
    harness.expect_refusal(got, KINDS[kind], f"{layer} manifest signature headers ({kind})")
    harness.expect_unchanged(before, f"{layer} {kind}")


@pytest.mark.parametrize("kind", sorted(KINDS))
@case(
    id="sig.teep-headers",
    clauses=("P-9.1a", "P-4a"),
    properties=("P5", "P10"),
    flow="deploy",
    tags=("signature", "headers"),
)
def test_teep_signature_headers(harness: Harness, kind: str) -> None:
    """A QueryRequest validly signed by the trusted TSK with ``kind``'s headers: refused with
    its code, no evidence given, nothing changed; a plain query works afterwards."""
    _, _, signed = harness.query_request()
    payload = cbor.loads(signed).value[2]
    protected, unprotected = _headers(kind, harness.cloud.tsk.thumbprint())
    message = sign1(
        payload, harness.cloud.tsk, Alg.ESP256, protected=protected, unprotected=unprotected
    ).encode()
    before = harness.state()
    got = harness.deliver(message, f"TEEP {kind}")
    harness.expect_refusal(got, KINDS[kind], f"TEEP signature headers ({kind})")
    harness.expect_unchanged(before, f"TEEP {kind}")
    harness.query(step=f"after TEEP {kind}: deploy.query_request")


@pytest.mark.parametrize("kind", sorted(KINDS))
@case(
    id="sig.device-manifest-headers",
    clauses=("P-9.4a", "P-4a"),
    properties=("P5", "P10"),
    flow="deploy",
    tags=("signature", "headers"),
)
def test_device_manifest_signature_headers(harness: Harness, kind: str) -> None:
    """The device manifest's signature block re-signed by the trusted TSK with ``kind``'s
    headers (the TEEP Update and the author envelope intact): refused, nothing installed."""
    _manifest_layer(harness, "device", kind, 1)


@pytest.mark.parametrize("kind", sorted(KINDS))
@case(
    id="sig.author-manifest-headers",
    clauses=("P-9.5a", "P-4a"),
    properties=("P5", "P10"),
    flow="deploy",
    tags=("signature", "headers"),
)
def test_author_manifest_signature_headers(harness: Harness, kind: str) -> None:
    """The author manifest's signature block re-signed by the trusted ASK with ``kind``'s
    headers (its manifest, hence the device manifest's dependency digest, intact): refused,
    nothing installed."""
    _manifest_layer(harness, "author", kind, 1)


def _near_miss_digest(env: Envelope, key: CoseKey) -> Envelope:
    """``env`` whose wrapper digest differs from the manifest's in the last byte only, and a
    valid signature of ``key`` over that digest."""
    digest = env.authentication.digest
    near = attrs.evolve(digest, digest=digest.digest[:-1] + bytes([digest.digest[-1] ^ 0x01]))
    auth = attrs.evolve(env.authentication, digest=near)
    block = sign1(
        auth.signed_payload,
        key,
        Alg.ESP256,
        unprotected={4: key.thumbprint()},
        detached=True,
    ).encode()
    return attrs.evolve(env, authentication=attrs.evolve(auth, blocks=(block,)))


@pytest.mark.parametrize("layer", ["device", "author"])
@case(
    id="auth.near-miss-manifest-digest",
    clauses=("P-9.4a", "P-9.5a"),
    properties=("P5",),
    flow="deploy",
    tags=("signature", "near-miss"),
)
def test_near_miss_manifest_digest(harness: Harness, layer: str) -> None:
    """A manifest digest one byte off, signed by the layer's trusted key: refused, nothing
    installed. The device layer's wrapper digest is compared with its manifest
    (SUIT_DIGEST_MISMATCH, 302); the author's is first compared with the device manifest's
    dependency digest (SUIT_DEPENDENCY_FAILED, 313; protocol.md §9 step 5)."""
    before = harness.state()
    published = harness.publish(1)
    q = harness.query(step=f"{layer} near miss: deploy.query_request")
    env = Envelope.decode(harness.delivery(published).envelope)
    if layer == "device":
        forged = _near_miss_digest(env, harness.cloud.tsk).encode()
    else:
        author = _near_miss_digest(Envelope.decode(env.integrated["#author"]), harness.cloud.ask)
        forged = attrs.evolve(
            env, integrated={**env.integrated, "#author": author.encode()}
        ).encode()
    got = harness.deliver(harness.update(published, q, envelope=forged), f"{layer} near miss")
    code = Code.SUIT_DIGEST_MISMATCH if layer == "device" else Code.SUIT_DEPENDENCY_FAILED
    harness.expect_refusal(got, code, f"{layer} manifest digest (near miss)")
    harness.expect_unchanged(before, f"{layer} near miss")
