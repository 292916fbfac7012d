"""The post-quantum suite `edbp-pq` (spec/protocol.md 4.1) and P14, no suite downgrade.

Run only against a device that declares both PQ suite names in ``hello`` (and ``test-keys``,
through which the harness gives it PQ keys); skipped with the reason otherwise.
"""

from __future__ import annotations

import pytest
from edbp.conformance.harness import Harness
from edbp.conformance.harness.pq import PQ_SUITE_NAMES, PqKit
from edbp.conformance.outcome import CaseFailure
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import pq, teep
from edbp.reference.wire.cose_algs import Alg, Curve, KeyType
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1

from edbp.errors import Code

case = pytest.mark.edbp_case


@pytest.fixture
def kit(bare: Harness) -> PqKit:
    info = getattr(bare.device, "info", None)
    declared = () if info is None else info.suites
    missing = [n for n in PQ_SUITE_NAMES if n not in declared]
    if missing:
        pytest.skip(f"device does not declare suite {', '.join(missing)}")
    if not pq.available():
        pytest.skip(f"the harness cannot run edbp-pq: {pq.unavailable_reason()}")
    return PqKit(bare)


def _alg(data: bytes) -> object:
    return Sign1.decode(data).headers.raw_alg


def pq_case(
    case_id: str, properties: tuple[str, ...], honest: bool = False
) -> pytest.MarkDecorator:
    """The metadata every `edbp-pq` case shares: clause P-4.1c, the deploy flow, the suite,
    and the device's test keys (through which the harness gives it PQ keys)."""
    return case(
        id=case_id,
        clauses=("P-4.1c",),
        properties=properties,
        flow="deploy",
        suite="edbp-pq",
        tags=("honest" if honest else "downgrade", "pq"),
        needs=("test-keys",),
    )


def _downgrade_refused(kit: PqKit, message: bytes, step: str) -> None:
    """``message`` is refused with COSE_SUITE_DOWNGRADE and nothing is installed or moved."""
    before = kit.h.state()
    got = kit.h.deliver(message, step)
    kit.h.expect_refusal(got, Code.COSE_SUITE_DOWNGRADE, step)
    kit.h.expect_unchanged(before, step)


@pq_case("pq.install", ("P14", "P3", "P5"), honest=True)
def test_pq_install(kit: PqKit) -> None:
    """A PQ deploy: ML-DSA-65 everywhere, the CEK by COSE-HPKE MLKEM768-X25519, installed."""
    kit.provision()
    h = kit.h
    if h.dak.kty != KeyType.AKP or h.dsk.kty != KeyType.AKP:
        raise CaseFailure("identity (PQ keys)", "AKP DAK and DSK", (h.dak.kty, h.dsk.kty))
    published = kit.publish(1)
    q = kit.query()
    if q.code is not None or len(q.replies) != 1:
        raise CaseFailure("pq: deploy.query_response", "one QueryResponse", q.code, q.code)
    if _alg(q.replies[0]) != -49:
        raise CaseFailure("pq: QueryResponse signature", "ML-DSA-65 (-49)", _alg(q.replies[0]))
    claims = h.check_evidence(q, "pq: deploy.query_response")
    if claims.cnf.thumbprint() != h.dak.thumbprint():
        raise CaseFailure("pq: evidence cnf", "the PQ DAK", "another key")
    msg = teep.peek(q.replies[0])
    evidence = getattr(msg, "attestation_payload", None) or b""
    if _alg(evidence) != -49:
        raise CaseFailure("pq: evidence signature", "ML-DSA-65 (-49)", _alg(evidence))
    got = h.deliver(kit.update(published, q), "pq: deploy.update")
    h.expect_success(got, q, published, step="pq: deploy.success")


@pq_case("pq.downgrade-teep-signature", ("P14",))
def test_classical_teep_signature_refused(kit: PqKit) -> None:
    """A QueryRequest signed ESP256 by a TSK the PQ device still trusts (a legacy anchor) is a
    downgrade: COSE_SUITE_DOWNGRADE, no evidence given."""
    kit.provision(legacy_tam=True)
    # the offer itself names edbp-pq: only the signature is classical
    _, _, request = kit.query_request(key=kit.h.cloud.tsk, alg=-9)
    _downgrade_refused(kit, request, "pq: classical QueryRequest")


@pq_case("pq.downgrade-offer", ("P14",))
def test_offer_without_pq_refused(kit: PqKit) -> None:
    """An ML-DSA-signed QueryRequest whose offer lists only classical suites: the device
    refuses (COSE_SUITE_DOWNGRADE) rather than fall back."""
    kit.provision()
    _, _, request = kit.query_request(offer_pq=False)
    _downgrade_refused(kit, request, "pq: offer without edbp-pq")


@pq_case("pq.downgrade-manifest-signature", ("P14", "P5"))
def test_classical_manifest_signature_refused(kit: PqKit) -> None:
    """An Update signed ML-DSA-65 whose device manifest is signed ESP256 by a legacy TSK the
    device still trusts: COSE_SUITE_DOWNGRADE, nothing installed."""
    kit.provision(legacy_tam=True)
    published = kit.publish(1)
    q = kit.query()
    env = kit.delivery(published, key=kit.h.cloud.tsk, alg=Alg.ESP256).envelope
    _downgrade_refused(kit, kit.update(published, q, env), "pq: classical device manifest")


@pq_case("pq.downgrade-recipient", ("P14", "P1"))
def test_ecdh_recipient_refused(kit: PqKit) -> None:
    """An all-ML-DSA delivery whose CEK travels by ECDH-ES+A128KW (to a P-256 key, as a
    harvest-now attacker would like): COSE_SUITE_DOWNGRADE before any key agreement."""
    kit.provision()
    published = kit.publish(1)
    q = kit.query()
    p256 = CoseKey.generate(Curve.P256, SeededRandom("pq-downgrade-recipient")).public()
    env = kit.delivery(published, dak=p256).envelope
    _downgrade_refused(kit, kit.update(published, q, env), "pq: ECDH-ES recipient")
