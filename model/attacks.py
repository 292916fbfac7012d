"""The blueprint profile's attack catalogue: goals the model must reach, each with its fix in edbp.

An attack is a goal predicate over blueprint states plus the attacker moves withheld while
searching for it (so that each attack is shown by the shortest trace that uses *its* weakness,
not by an easier one found first). Every attack is an expected violation: ``edbp model check
--profile blueprint`` fails if any of them stops being found.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from edbp.model import blueprint_profile as bp
from edbp.model.edbp_profile import Config
from edbp.model.explore import Exploration, Trace, explore


@attrs.frozen
class Attack:
    """One expected finding on the blueprint profile."""

    id: str
    title: str
    properties: tuple[str, ...]
    goal: Callable[[bp.BWorld, Config], str | None]
    moves_off: frozenset[str]
    edbp_mechanism: str


def _knows_ck_no_compromise(w: bp.BWorld, c: Config) -> str | None:
    if w.compromised:
        return None
    for t in bp.knowledge(w.seen):
        if t[0] == "ck":
            return f"attacker holds CK{t[1]}.{t[2]} without compromising any device"
    return None


def _unsigned_installed(w: bp.BWorld, c: Config) -> str | None:
    for d, cpm in enumerate(w.cpms):
        if d not in w.compromised and any(p[0] == "pt_att" for (_a, _v, p) in cpm.installed):
            return f"device {d} installed a package the attacker built and signed itself"
    return None


def _manifest_swapped(w: bp.BWorld, c: Config) -> str | None:
    for d, cpm in enumerate(w.cpms):
        if d in w.compromised:
            continue
        for a, v, p in cpm.installed:
            if p[0] == "pt" and (p[1], p[2]) != (a, v):
                return f"device {d} installed P{p[1]}.{p[2]} under the manifest of app{a} v{v}"
    return None


def _own_application_exposed(w: bp.BWorld, c: Config) -> str | None:
    for d in sorted(w.compromised):
        app = c.instance.app_of(d)
        on_compromised = set().union(*(bp._installed_pairs(w, x) for x in w.compromised))
        for t in bp.knowledge(w.seen):
            if t[0] == "pt" and t[1] == app and (t[1], t[2]) not in on_compromised:
                return (f"compromising device {d} exposes P{t[1]}.{t[2]} of its application, "
                        "a package it never installed")
    return None


def _every_key(w: bp.BWorld, c: Config) -> str | None:
    for d, a, _g, _r in sorted(w.ghost.deliveries):
        if a != c.instance.app_of(d):
            return f"device {d} received the class key of app{a}, which it does not run"
    return None


ATTACKS: tuple[Attack, ...] = (
    Attack("key_release_to_attacker_key",
           "Key release to an attacker-supplied public key (no attestation)",
           ("P1", "P3"), _knows_ck_no_compromise, frozenset({"compromise"}),
           "the TAM wraps a CEK only to the DAK endorsed for the device whose fresh EAT evidence "
           "it verified (deploy.verify_evidence); the class key never leaves the HSM (P2)"),
    Attack("compromise_exposes_application",
           "One device's compromise exposes every package of the application",
           ("P12",), _own_application_exposed, frozenset({"wrapkey", "control_ree"}),
           "per-package CEKs wrapped to each device's own DAK; a compromised device holds only "
           "the CEKs delivered to it, never the class key (P12, P2)"),
    Attack("unsigned_package_installed",
           "Attacker-built package installed: the payload signature is not enforced",
           ("P5",), _unsigned_installed, frozenset({"compromise"}),
           "the Agent verifies the Author's and the TAM's signatures and the payload digest "
           "before install (deploy.verify_update, deploy.check_payload)"),
    Attack("manifest_substitution",
           "Manifest/metadata substitution: the manifest is not bound to the ciphertext",
           ("P5",), _manifest_swapped, frozenset({"wrapkey", "compromise", "control_ree"}),
           "the SUIT manifest binds component, sequence number and digest under the Author's "
           "signature, and the Agent checks the decrypted payload against that digest"),
    Attack("rollback_to_older_package",
           "Rollback to an older package (the CPK version is informational)",
           ("P7",), bp.bp_p7, frozenset({"wrapkey", "compromise", "control_ree", "splice"}),
           "a per-component, strictly monotone sequence-number floor in the Agent "
           "(deploy.verify_update, deploy.raise_floor)"),
    Attack("revoked_device_still_keyed",
           "A revoked (decommissioned) device still receives keys through its twin",
           ("P13",), bp.bp_p13, frozenset({"wrapkey", "compromise", "control_ree"}),
           "the TAM consults the device's revocation status before every delivery and never "
           "opens a session with a revoked device (revoke.device, deploy.verify_evidence)"),
    Attack("stale_desired_replay",
           "Replay of a stale desired property re-installs a replaced class key",
           ("P6",), bp.bp_p6, frozenset({"wrapkey", "compromise", "control_ree"}),
           "Updates are TSK-signed, bound to the Agent's open challenge token and to a sequence "
           "number above the floor; a replayed Update is refused (P6, P7)"),
    Attack("every_key_to_every_device",
           "Every key distributed to every device (no need-to-know)",
           ("P3", "P12"), _every_key, frozenset({"wrapkey", "compromise", "control_ree"}),
           "the TAM delivers to a device only the CEK of the package it deploys to that device, "
           "after verifying its evidence and class"),
)


@attrs.frozen
class Finding:
    """The search result for one attack."""

    attack: Attack
    found: bool
    description: str
    trace: Trace | None
    states: int
    seconds: float


def find_attack(attack: Attack, cfg: Config) -> Finding:
    """Breadth-first search for ``attack``'s goal: the first hit is a shortest trace."""
    from edbp.model.profiles import BLUEPRINT

    profile = attrs.evolve(BLUEPRINT, properties={attack.id: attack.goal}, goals={})
    run_cfg = attrs.evolve(cfg, moves_off=cfg.moves_off | attack.moves_off)
    res: Exploration = explore(profile, run_cfg, stop_on=frozenset({attack.id}),
                               build_graph=False)
    hit = res.violations.get(attack.id)
    if hit is None:
        return Finding(attack, False, "not found", None, res.state_count, res.seconds)
    return Finding(attack, True, hit[1], res.trace(hit[0]), res.state_count, res.seconds)
