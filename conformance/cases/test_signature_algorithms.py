"""Signature algorithms outside the profile, at every layer the Agent verifies (P5, P10):
the TEEP message (TSK), the device SUIT manifest (TSK) and the author SUIT manifest (ASK).

Why per layer and per algorithm: a device may verify each layer with different code, and a
generic COSE library accepts far more than protocol.md §4 allows. Each input is signed with
the trusted key of its layer under an algorithm a library offers (``edbp.conformance.
foreign_algs``): ES384 / ES512 really signed with the P-256 key and SHA-384 / SHA-512 (a
verifier that takes the hash from the ``alg`` header accepts them), HMAC 256/256 keyed with the
public key (alg confusion), EdDSA / Ed25519 and a private-use id over a valid ESP256
signature (a verifier that picks the algorithm from the key accepts them), PS256 / RS256 with
an RSA-shaped signature; the other way round, ESP256 / ES256 over an Ed25519 key provisioned
as a further trust anchor of the layer, with a valid Ed25519 signature. The codes are those
protocol.md §4 [P-4a, P-4c] and §9 give:

- TEEP message (step 2): an id edbp does not know is ``COSE_UNKNOWN_ALG`` (201) however many
  libraries know it; a known id outside the allowed ones (the MAC) ``COSE_ALG_NOT_ALLOWED``
  (202); EdDSA / Ed25519 with the P-256 TSK, ESP256 / ES256 with an Ed25519 TSK,
  ``COSE_ALG_KEY_MISMATCH`` (203);
- SUIT manifests (steps 4 and 5): an algorithm of no SUIT profile is
  ``SUIT_UNSUPPORTED_PROFILE`` (316) before any key is tried; EdDSA / Ed25519 (ESP256 /
  ES256) belong to a profile, but no trusted key of a type that fits verifies them:
  ``SUIT_AUTH_FAILED`` (303).

The algorithms edbp knows but does not allow there (A128GCM, −7 with the wrong key, an
unregistered id) are ``input.teep-algorithms`` and ``auth.manifest-algorithms``.
"""

from __future__ import annotations

import attrs
import pytest
from edbp.conformance.foreign_algs import FOREIGN_ALGS, ON_ED25519_KEY, foreign_sign1
from edbp.conformance.harness import Harness
from edbp.reference.wire import cbor
from edbp.reference.wire.cose_algs import RECEIVE_ONLY_ALGS, Alg, Curve
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_envelope import Envelope

from edbp.errors import Code

case = pytest.mark.edbp_case

#: ids edbp's profile knows; the receive-only ones (ES384, ES512, Ed448, AES-CCM: verified or
#: decrypted for inspect and interop only) count as unknown to a delivery (cose_algs)
KNOWN = {int(a) for a in Alg if a not in RECEIVE_ONLY_ALGS}
EDDSA = {int(Alg.EDDSA), int(Alg.ED25519)}
#: every case parameter: name -> alg id
NAMES = {**FOREIGN_ALGS, **ON_ED25519_KEY}


def teep_code(name: str) -> Code:
    """protocol.md §4 / §9 step 2 for a TEEP message signed by a trusted TSK under ``name``."""
    alg = NAMES[name]
    if name in ON_ED25519_KEY or alg in EDDSA:
        return Code.COSE_ALG_KEY_MISMATCH
    return Code.COSE_ALG_NOT_ALLOWED if alg in KNOWN else Code.COSE_UNKNOWN_ALG


def suit_code(name: str) -> Code:
    """protocol.md §9 steps 4/5 for a manifest signed by the layer's trusted key: an alg of a
    profile that the key does not fit verifies under no trusted key (303)."""
    if name in ON_ED25519_KEY or NAMES[name] in EDDSA:
        return Code.SUIT_AUTH_FAILED
    return Code.SUIT_UNSUPPORTED_PROFILE


def _signer(harness: Harness, name: str, layer: str) -> CoseKey:
    """The trusted key that signs ``layer`` for ``name``: the run's TSK / ASK, or for the
    Ed25519-key parameters an Ed25519 key provisioned as a further trust anchor of the layer
    (protocol.md §4: a verifier accepts Ed25519 keys)."""
    cloud = harness.cloud
    if name not in ON_ED25519_KEY:
        return cloud.ask if layer == "author" else cloud.tsk
    key = CoseKey.generate(Curve.ED25519, cloud.rng.fork(f"ed25519-{layer}"))
    if layer == "author":
        harness.provision(author_keys=[cloud.ask, key])
    else:
        harness.provision(tam_keys=[cloud.tsk, key])
    return key


@pytest.mark.parametrize("name", sorted(NAMES))
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
    alg = NAMES[name]
    key = _signer(harness, name, "teep")
    _, _, signed = harness.query_request()
    message = foreign_sign1(cbor.loads(signed).value[2], key, alg)
    before = harness.state()
    got = harness.deliver(message, f"TEEP {name} ({alg})")
    harness.expect_refusal(got, teep_code(name), f"TEEP signature alg {name} ({alg})")
    harness.expect_unchanged(before, f"TEEP {name}")
    harness.query(step=f"after TEEP {name}: deploy.query_request")


def _resigned(env: Envelope, key: CoseKey, alg: int) -> Envelope:
    """``env`` with its one signature block made by ``key`` under ``alg`` over the same
    authentication payload (manifest digest untouched)."""
    block = foreign_sign1(env.authentication.signed_payload, key, alg, detached=True)
    auth = attrs.evolve(env.authentication, blocks=(block,))
    return attrs.evolve(env, authentication=auth)


def _manifest_layer(harness: Harness, layer: str, name: str) -> None:
    alg = NAMES[name]
    key = _signer(harness, name, layer)
    before = harness.state()
    published = harness.publish(1)
    q = harness.query(step=f"{layer} {name}: deploy.query_request")
    env = Envelope.decode(harness.delivery(published).envelope)
    if layer == "device":
        forged = _resigned(env, key, alg).encode()
    else:
        author = _resigned(Envelope.decode(env.integrated["#author"]), key, alg)
        forged = attrs.evolve(
            env, integrated={**env.integrated, "#author": author.encode()}
        ).encode()
    got = harness.deliver(harness.update(published, q, envelope=forged), f"{layer} {name}")
    harness.expect_refusal(got, suit_code(name), f"{layer} manifest signature alg {name} ({alg})")
    harness.expect_unchanged(before, f"{layer} {name}")


@pytest.mark.parametrize("name", sorted(NAMES))
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


@pytest.mark.parametrize("name", sorted(NAMES))
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
