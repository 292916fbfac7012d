"""The catalogue of seeded flaws: model variants that each break one property on purpose.

A flaw is a named deviation from the spec switched on in a ``Config``; the transition functions
consult it at exactly the place the spec puts the check. ``edbp model check`` runs the full
exploration (and, where the flaw maps onto the z3 encoding, the inductive proof) once per flaw
and demands that the target property be violated: a check that no flaw can trip is vacuous.
"""

from __future__ import annotations

import attrs
from edbp.model.instance import Instance


@attrs.frozen
class Flaw:
    """One seeded flaw: its name, the property it targets, what it changes, the spec clause."""

    name: str
    target: str  # "P1".."P13"
    summary: str
    z3: bool  # whether the z3 encoding models this flaw (the proof must then fail)
    needs: tuple[tuple[str, int], ...] = ()  # instance parameters raised to at least this

    def instance_for(self, base: Instance) -> Instance:
        """``base`` with the parameters this flaw needs raised (e.g. an uninstall step)."""
        changes = {k: max(getattr(base, k), v) for k, v in self.needs}
        return attrs.evolve(base, **changes) if changes else base


FLAWS: tuple[Flaw, ...] = (
    Flaw("tam_trusts_evidence_key", "P1",
         "TAM wraps the CEK to whatever key the evidence names, without checking the signature "
         "or the endorsement (the blueprint's WrapKey)", True),
    Flaw("cek_sent_under_class_key", "P2",
         "TAM forwards the Author's CK-wrapped CEK, so every device must hold the class key", True),
    Flaw("class_key_exported", "P2",
         "KeyVault exports the class key to the Author, which wraps CEKs in software", True),
    Flaw("tam_wraps_without_fresh_evidence", "P3",
         "TAM accepts evidence carrying any challenge it ever issued (stale evidence replays)",
         True),
    Flaw("agent_ignores_recipient_binding", "P4",
         "Agent does not check that the Update names its own device", True),
    Flaw("agent_skips_payload_digest", "P5",
         "Agent installs whatever decrypts under the CEK, without the manifest's digest check",
         True),
    Flaw("agent_skips_token_check", "P6",
         "Agent accepts an Update whose token is not the one of its open exchange", True),
    Flaw("agent_reuses_report_nonce", "P6",
         "Agent signs install reports without the session's challenge, so old reports replay",
         True),
    Flaw("receipt_unsigned", "P6",
         "TAM records install reports that carry no device signature", True),
    Flaw("agent_skips_rollback_check", "P7",
         "Agent installs an Update whatever its sequence number", True),
    Flaw("agent_accepts_equal_sequence", "P7",
         "Agent accepts a sequence number equal to its floor (re-install of the same version)",
         True),
    Flaw("uninstall_resets_floor", "P7",
         "Agent forgets a component's floor when it is uninstalled (old versions reinstallable)",
         True, needs=(("uninstalls", 1),)),
    Flaw("cek_left_in_ree", "P8",
         "Agent hands the CEK to the Broker so that the REE decrypts the payload", True),
    Flaw("agent_decrypts_before_verify", "P9",
         "Agent unwraps and decrypts before it checks the Update's signatures", True),
    Flaw("partial_install_on_failure", "P10",
         "Agent writes the component before the payload check and leaves it on failure", True),
    Flaw("cek_not_erased_on_error", "P10",
         "Agent keeps the CEK after a failed delivery", True),
    Flaw("author_reuses_iv", "P11",
         "Author encrypts every version of a component under one CEK with a fixed IV", True),
    Flaw("shared_device_key", "P12",
         "Devices of a class share one agreement key (compromise of one opens the others)", True),
    Flaw("tam_ignores_revocation", "P13",
         "TAM does not consult the revocation status before a delivery", True),
)

FLAW_NAMES = frozenset(f.name for f in FLAWS)


def flaw(name: str) -> Flaw:
    """The catalogue entry named ``name``."""
    for f in FLAWS:
        if f.name == name:
            return f
    raise KeyError(name)
