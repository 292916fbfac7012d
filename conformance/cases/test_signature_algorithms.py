"""Signature algorithms outside the profile, at every layer the Agent verifies (P5, P10):
the TEEP message (TSK), the device SUIT manifest (TSK) and the author SUIT manifest (ASK).

Why per layer and per algorithm: a device may verify each layer with different code, and a
generic COSE library accepts far more than protocol.md §4 allows. Each input is signed with
the trusted key of its layer under an algorithm a library offers (``edbp.conformance.
foreign_algs``): ES384 / ES512 really signed with the P-256 key and SHA-384 / SHA-512 (a
verifier that takes the hash from the ``alg`` header accepts them), HMAC 256/256 keyed with the
public key (alg confusion), EdDSA / Ed25519 and a private-use id over a valid ESP256
signature (a verifier that picks the algorithm from the key accepts them), PS256 / RS256 with
an RSA-shaped signature. The codes are those protocol.md §4 [P-4a, P-4c] and §9 give:

- TEEP message (step 2): an id edbp does not know is ``COSE_UNKNOWN_ALG`` (201) however many
  libraries know it; a known id outside the allowed ones (the MAC) ``COSE_ALG_NOT_ALLOWED``
  (202); EdDSA / Ed25519 with the P-256 TSK ``COSE_ALG_KEY_MISMATCH`` (203);
- SUIT manifests (steps 4 and 5): an algorithm of no SUIT profile is
  ``SUIT_UNSUPPORTED_PROFILE`` (316) before any key is tried; EdDSA / Ed25519 belong to a
  profile, but no trusted P-256 key verifies them: ``SUIT_AUTH_FAILED`` (303).

The algorithms edbp knows but does not allow there (A128GCM, −7 with the wrong key, an
unregistered id) are ``input.teep-algorithms`` and ``auth.manifest-algorithms``.
"""

from __future__ import annotations

import attrs
import pytest
from edbp.conformance.foreign_algs import FOREIGN_ALGS, foreign_sign1
from edbp.conformance.harness import Harness
from edbp.reference.wire import cbor
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_envelope import Envelope

from edbp.errors import Code

case = pytest.mark.edbp_case

KNOWN = {int(a) for a in Alg}
EDDSA = {int(Alg.EDDSA), int(Alg.ED25519)}


def teep_code(alg: int) -> Code:
    """protocol.md §4 / §9 step 2 for a TEEP message signed with the P-256 TSK."""
    if alg in EDDSA:
        return Code.COSE_ALG_KEY_MISMATCH
    return Code.COSE_ALG_NOT_ALLOWED if alg in KNOWN else Code.COSE_UNKNOWN_ALG


def suit_code(alg: int) -> Code:
    """protocol.md §9 steps 4/5 for a manifest signed with the layer's P-256 key."""
    return Code.SUIT_AUTH_FAILED if alg in EDDSA else Code.SUIT_UNSUPPORTED_PROFILE


@pytest.mark.parametrize("name", sorted(FOREIGN_ALGS))
@case(
    id="sig.teep-algorithms",
    clauses=("P-4a", "P-4c", "P-9.2a"),
    properties=("P5", "P10"),
    flow="deploy",
    tags=("signature", "algorithms"),
)
def test_teep_foreign_algorithm(harness: Harness, name: str) -> None:
    """A QueryRequest signed by the trusted TSK under ``name``: refused with the code of
    §9 step 2, no evidence given, nothing changed; a plain query works afterwards."""
    alg = FOREIGN_ALGS[name]
    _, _, signed = harness.query_request()
    message = foreign_sign1(cbor.loads(signed).value[2], harness.cloud.tsk, alg)
    before = harness.state()
    got = harness.deliver(message, f"TEEP {name} ({alg})")
    harness.expect_refusal(got, teep_code(alg), f"TEEP signature alg {name} ({alg})")
    harness.expect_unchanged(before, f"TEEP {name}")
    harness.query(step=f"after TEEP {name}: deploy.query_request")


def _resigned(env: Envelope, key: CoseKey, alg: int) -> Envelope:
    """``env`` with its one signature block made by ``key`` under ``alg`` over the same
    authentication payload (manifest digest untouched)."""
    block = foreign_sign1(env.authentication.signed_payload, key, alg, detached=True)
    auth = attrs.evolve(env.authentication, blocks=(block,))
    return attrs.evolve(env, authentication=auth)


def _manifest_layer(harness: Harness, layer: str, name: str) -> None:
    alg = FOREIGN_ALGS[name]
    before = harness.state()
    published = harness.publish(1)
    q = harness.query(step=f"{layer} {name}: deploy.query_request")
    env = Envelope.decode(harness.delivery(published).envelope)
    if layer == "device":
        forged = _resigned(env, harness.cloud.tsk, alg).encode()
    else:
        author = _resigned(Envelope.decode(env.integrated["#author"]), harness.cloud.ask, alg)
        forged = attrs.evolve(
            env, integrated={**env.integrated, "#author": author.encode()}
        ).encode()
    got = harness.deliver(harness.update(published, q, envelope=forged), f"{layer} {name}")
    harness.expect_refusal(got, suit_code(alg), f"{layer} manifest signature alg {name} ({alg})")
    harness.expect_unchanged(before, f"{layer} {name}")


@pytest.mark.parametrize("name", sorted(FOREIGN_ALGS))
@case(
    id="sig.device-manifest-algorithms",
    clauses=("P-4a", "P-4c", "P-9.4a"),
    properties=("P5", "P10"),
    flow="deploy",
    tags=("signature", "algorithms"),
)
def test_device_manifest_foreign_algorithm(harness: Harness, name: str) -> None:
    """The device manifest's block re-signed by the trusted TSK under ``name`` (the TEEP
    Update and the author envelope intact): refused, nothing installed."""
    _manifest_layer(harness, "device", name)


@pytest.mark.parametrize("name", sorted(FOREIGN_ALGS))
@case(
    id="sig.author-manifest-algorithms",
    clauses=("P-4a", "P-4c", "P-9.5a"),
    properties=("P5", "P10"),
    flow="deploy",
    tags=("signature", "algorithms"),
)
def test_author_manifest_foreign_algorithm(harness: Harness, name: str) -> None:
    """The author manifest's block re-signed by the trusted ASK under ``name`` (its manifest,
    hence the device manifest's dependency digest, intact): refused, nothing installed."""
    _manifest_layer(harness, "author", name)
