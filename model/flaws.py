"""The catalogue of seeded flaws: model variants that each break one property on purpose.

A flaw is a ``Rules`` variant (``rules.py``): one check replaced by another function, or one
behaviour switched, at exactly the place the spec puts it. The name is a label for reports and
for the vectors that realise the flaw; no code path of the model looks at it, so an unnamed
copy of a flaw (a held-out mutation, ``tests/model/test_mutations.py``) is caught the same
way. ``edbp model check`` runs the full exploration (and, where the flaw maps onto the z3
encoding, the inductive proof) once per flaw and demands that the target property be
violated: a check that no flaw can trip is vacuous.
"""

from __future__ import annotations

import attrs
from edbp.model.instance import Instance
from edbp.model.rules import AND, HONEST, NO_NONCE, TRUE, Rules

_ = HONEST  # every flaw below is the honest variant with one field replaced


@attrs.frozen
class Flaw:
    """One seeded flaw: its name, the property it targets, what it changes, the spec clause."""

    name: str
    target: str  # "P1".."P14"
    summary: str
    z3: bool  # whether the z3 encoding models this flaw (the proof must then fail)
    rules: Rules = HONEST  # the variant itself
    needs: tuple[tuple[str, int], ...] = ()  # instance parameters raised to at least this
    caps: tuple[tuple[str, int], ...] = ()  # instance parameters lowered to at most this

    def instance_for(self, base: Instance) -> Instance:
        """``base`` with the parameters this flaw needs raised (e.g. an uninstall step) and
        those it caps lowered (a long attack on one device, found before the breadth-first
        search of two devices' interleavings reaches its depth)."""
        changes = {k: max(getattr(base, k), v) for k, v in self.needs}
        changes.update({k: min(getattr(base, k), v) for k, v in self.caps})
        return attrs.evolve(base, **changes) if changes else base


FLAWS: tuple[Flaw, ...] = (
    Flaw("tam-trusts-evidence-key", "P1",
         "TAM wraps the CEK to whatever key the evidence names, without checking the signature "
         "or the endorsement (the blueprint's WrapKey)", True,
         rules=attrs.evolve(_, evidence_ok=lambda g, n, sn, i: n == sn)),
    Flaw("cek-sent-under-class-key", "P2",
         "TAM forwards the Author's CK-wrapped CEK, so every device must hold the class key", True,
         rules=attrs.evolve(_, wrap_to_device_key=False)),
    Flaw("class-key-exported", "P2",
         "KeyVault exports the class key to the Author, which wraps CEKs in software", True,
         rules=attrs.evolve(_, class_key_in_hsm=False)),
    Flaw("tam-wraps-without-fresh-evidence", "P3",
         "TAM accepts evidence carrying any challenge it ever issued (stale evidence replays)",
         True, rules=attrs.evolve(_, evidence_ok=lambda g, n, sn, i: AND(g, n >= 0, n < i))),
    Flaw("tam-accepts-stale-evidence", "P3",
         "TAM accepts evidence for a challenge it issued more than the session lifetime ago "
         "(no EAT_STALE: evidence the attacker held back past 300 s is still answered)", True,
         rules=attrs.evolve(_, challenge_live=TRUE)),
    Flaw("publish-wraps-under-retired-class-key", "P2",
         "after rotate.class_key the Author's pipeline keeps wrapping new CEKs under the retired "
         "class-key generation, so whoever learns that generation reads every newer package",
         True, rules=attrs.evolve(_, publish_under_current_ck=False),
         needs=(("ck_rotations", 1),)),
    Flaw("agent-ignores-recipient-binding", "P4",
         "Agent does not check that the Update names its own device", True,
         rules=attrs.evolve(_, binding_ok=TRUE)),
    Flaw("agent-skips-payload-digest", "P5",
         "Agent installs whatever decrypts under the CEK, without the manifest's digest check",
         True, rules=attrs.evolve(_, payload_ok=TRUE)),
    Flaw("agent-skips-token-check", "P6",
         "Agent accepts an Update whose token is not the one of its open exchange, nor checks "
         "the Agent nonce it echoes (either check alone stops an old session's Update: the "
         "nonce a TAM echoes comes from a QueryResponse that carried that session's token)",
         True, rules=attrs.evolve(_, token_ok=TRUE, agent_nonce_ok=TRUE)),
    Flaw("agent-ignores-agent-nonce", "P6",
         "Agent does not check the Agent nonce an Update echoes, so after a replayed "
         "QueryRequest re-opens an exchange with the old token, the Update the attacker "
         "withheld until the TAM's session had expired installs", True,
         rules=attrs.evolve(_, agent_nonce_ok=TRUE), needs=(("requeries", 1),)),
    Flaw("agent-nonce-constant", "P6",
         "Agent sends one constant nonce per device instead of a fresh one per accepted "
         "QueryRequest, so a re-opened exchange matches the withheld Update's echo", True,
         rules=attrs.evolve(_, fresh_agent_nonce=False), needs=(("requeries", 1),)),
    Flaw("agent-reuses-report-nonce", "P6",
         "Agent signs install reports without the session's challenge, so old reports replay",
         True, rules=attrs.evolve(_, report_binds_nonce=False,
                                  report_ok=lambda s, rn, sn: AND(s, rn == NO_NONCE))),
    Flaw("receipt-unsigned", "P6",
         "TAM records install reports that carry no device signature", True,
         rules=attrs.evolve(_, report_ok=lambda s, rn, sn: rn == sn)),
    Flaw("agent-exchange-never-expires", "P6",
         "Agent keeps its exchange open without a lifetime, so an Update withheld until the "
         "TAM's session expired still installs", True,
         rules=attrs.evolve(_, exchange_live=TRUE)),
    Flaw("tam-session-shorter-than-agent", "P6",
         "TAM ends a session that sent its Update before L_a·(1+ρ) has passed, while the "
         "Agent's exchange may still accept that Update", True,
         rules=attrs.evolve(_, tam_may_expire=TRUE)),
    Flaw("agent-skips-rollback-check", "P7",
         "Agent installs an Update whatever its sequence number", True,
         rules=attrs.evolve(_, seq_ok=TRUE)),
    Flaw("agent-accepts-equal-sequence", "P7",
         "Agent accepts a sequence number equal to its floor (re-install of the same version)",
         True, rules=attrs.evolve(_, seq_ok=lambda v, fl, ins: v >= fl)),
    Flaw("uninstall-resets-floor", "P7",
         "Agent forgets a component's floor when it is uninstalled (old versions reinstallable)",
         True, rules=attrs.evolve(_, uninstall_keeps_floor=False),
         # install, uninstall, install an older version: three sessions of one device (an
         # old Update replayed into a re-opened exchange carries a stale Agent nonce)
         needs=(("uninstalls", 1), ("sessions", 3)),
         caps=(("devices", 1), ("compromises", 0), ("revocations", 0))),
    Flaw("agent-uninstall-ignores-version", "P7",
         "Agent removes the component an uninstall Update lists whatever version it names, so an "
         "old uninstall, replayed into a re-opened exchange after a newer install, removes it",
         True, rules=attrs.evolve(_, uninstall_ok=TRUE), needs=(("uninstalls", 1),)),
    Flaw("agent-skips-ta-version-floor", "P7",
         "Agent (OP-TEE loader) installs an image whose embedded TA version is below the "
         "component's TA-version floor, trusting the higher SUIT sequence number alone", True,
         rules=attrs.evolve(_, ta_version_ok=TRUE), needs=(("ta_builds", 2),)),
    Flaw("cek-left-in-ree", "P8",
         "Agent hands the CEK to the Broker so that the REE decrypts the payload", True,
         rules=attrs.evolve(_, cek_stays_in_tee=False)),
    Flaw("agent-decrypts-before-verify", "P9",
         "Agent unwraps and decrypts before it checks the Update's signatures", True,
         rules=attrs.evolve(_, verify_before_decrypt=False)),
    Flaw("partial-install-on-failure", "P10",
         "Agent writes the component before the payload check and leaves it on failure", True,
         rules=attrs.evolve(_, install_after_check=False)),
    Flaw("cek-not-erased-on-error", "P10",
         "Agent keeps the CEK after a failed delivery", True,
         rules=attrs.evolve(_, erase_cek_on_error=False)),
    Flaw("author-reuses-iv", "P11",
         "Author encrypts every version of a component under one CEK with a fixed IV", True,
         rules=attrs.evolve(_, fresh_cek_per_version=False, fresh_iv_per_encryption=False)),
    Flaw("shared-device-key", "P12",
         "Devices of a class share one agreement key (compromise of one opens the others)", True,
         rules=attrs.evolve(_, device_keys_per_device=False)),
    Flaw("tam-ignores-revocation", "P13",
         "TAM does not consult the revocation status before a delivery", True,
         rules=attrs.evolve(_, serves=TRUE)),
    Flaw("agent-accepts-classical-downgrade", "P14",
         "a PQ Agent verifies TEEP messages in any suite it knows, so a forged classical "
         "signature (its legacy TSK anchor) passes", True,
         rules=attrs.evolve(_, agent_suite_ok=TRUE)),
)

FLAW_NAMES = frozenset(f.name for f in FLAWS)


def flaw(name: str) -> Flaw:
    """The catalogue entry named ``name``."""
    for f in FLAWS:
        if f.name == name:
            return f
    raise KeyError(name)
