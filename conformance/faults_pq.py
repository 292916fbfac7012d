"""The seeded faulty device of P14 (no suite downgrade, spec/properties.md): an `edbp-pq`
device that still takes classically signed TEEP messages from any key it trusts.

Why a module of its own: the post-quantum suite is optional; its fault joins the catalogue of
``edbp.conformance.faults`` by one line there, and is caught by ``conformance/cases/test_pq.py``
(case ``pq.downgrade-teep-signature``).
"""

from __future__ import annotations

from edbp.conformance.faults import Fault
from edbp.conformance.reference_device import ReferenceDevice
from edbp.reference.device.agent import TEEP_SIGNATURE_ALGS, Agent
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_sign import Sign1

__all__ = ["PQ_FAULTS"]


class _DowngradeAgent(Agent):
    """Verifies every TEEP message against its anchors with any suite's algorithm: the one
    line of P14 left out (the PQ Agent's refusal of a classical ``alg``)."""

    def _teep_algorithms(self, envelope: Sign1) -> frozenset[Alg]:
        return frozenset(TEEP_SIGNATURE_ALGS)


class AcceptsClassicalDowngrade(ReferenceDevice):
    """The reference device with the downgrading Agent."""

    agent_class = _DowngradeAgent


PQ_FAULTS: dict[str, Fault] = {
    "accepts-classical-downgrade": Fault(
        "an edbp-pq device that accepts ESP256-signed TEEP messages from a legacy anchor",
        ("P14",),
        AcceptsClassicalDowngrade,
        clauses=("P-4.1c",),
    ),
}
