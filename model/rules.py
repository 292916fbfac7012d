"""The checks and behaviours of the `edbp` profile, as one overridable definition.

Every check the spec puts on a party (the TAM's evidence, challenge-age and report checks, the
Agent's signature, binding, token, Agent-nonce, sequence and payload checks, revocation) is a
field of ``Rules`` holding a plain function. The same function is applied by the explorer to
concrete values (ints, bools) and by the z3 encoding to symbolic ones (``z3.ArithRef``,
``z3.BoolRef``), so both encodings take their guards from one definition. The boolean helpers
``AND``, ``OR`` and ``NOT`` work on both kinds of value.

A seeded flaw, a held-out mutation and a "guard removed" vacuity probe are all the same thing:
``attrs.evolve(HONEST, <field>=<other function>)``. Nothing in the model looks at a flaw's
name; the catalogue in ``flaws.py`` only labels some of these variants for reports.

Behaviours that are not a yes/no check (which key the TAM wraps to, whether the Agent erases
the CEK on error, whether the Author draws a fresh CEK per version ...) are boolean fields
named by what the party does, read at the one place the spec puts that step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import z3

#: the nonce value a report carries when the Agent leaves the challenge out
NO_NONCE = -1


def _sym(xs: tuple[Any, ...]) -> bool:
    # the explorer's hot path passes plain bools: decide that without isinstance on z3 types
    for x in xs:
        if type(x) is not bool and isinstance(x, z3.ExprRef):
            return True
    return False


def AND(*xs: Any) -> Any:
    """Conjunction of concrete bools or z3 terms."""
    if len(xs) == 2 and type(xs[0]) is bool and type(xs[1]) is bool:
        return xs[0] and xs[1]  # the explorer's hot path: two plain bools
    return z3.And(*xs) if _sym(xs) else all(xs)


def OR(*xs: Any) -> Any:
    """Disjunction of concrete bools or z3 terms."""
    if len(xs) == 2 and type(xs[0]) is bool and type(xs[1]) is bool:
        return xs[0] or xs[1]
    return z3.Or(*xs) if _sym(xs) else any(xs)


def NOT(x: Any) -> Any:
    """Negation of a concrete bool or a z3 term."""
    if type(x) is bool:
        return not x
    return z3.Not(x) if _sym((x,)) else not x


def TRUE(*_: Any) -> bool:
    """A check that always passes (what a removed guard becomes)."""
    return True


# ---------------------------------------------------------------- the spec's checks


def evidence_ok(genuine: Any, n: Any, session_nonce: Any, issued: Any) -> Any:
    """deploy.verify_evidence: signed by the device's endorsed key, naming its registered
    agreement key (``genuine``), and answering the session's current challenge."""
    return AND(genuine, n == session_nonce)


def serves(revoked: Any) -> Any:
    """The TAM opens a session or delivers only to a device that is not revoked."""
    return NOT(revoked)


def sigs_ok(tam_signed: Any, author_signed: Any) -> Any:
    """deploy.verify_update: the TAM's signature on the Update and the Author's on the manifest."""
    return AND(tam_signed, author_signed)


def binding_ok(named: Any, me: Any) -> Any:
    """deploy.verify_update: the Update names this device."""
    return named == me


def token_ok(token: Any, open_token: Any) -> Any:
    """deploy.verify_update: the Update carries the challenge of the Agent's open exchange."""
    return token == open_token


def seq_ok(v: Any, floor: Any, installed: Any) -> Any:
    """deploy.verify_update: the sequence number is strictly above the component's floor."""
    return v > floor


def uninstall_ok(named_version: Any, installed_version: Any) -> Any:
    """uninstall.component: the uninstall Update names the version installed now (the one the
    TAM saw in the device's fresh evidence), so that an old uninstall, replayed into a
    re-opened exchange after a newer install, removes nothing (spec/properties.md P7)."""
    return named_version == installed_version


def ta_version_ok(ta_version: Any, ta_floor: Any, seq: Any, seq_floor: Any) -> Any:
    """protocol.md section 9 step 9, OP-TEE's check (ta-image.md section 7): the TA version the
    image embeds is not below the component's TA-version floor (equal accepted). A separate
    counter from the SUIT sequence number (``seq``, ``seq_floor``), which it never replaces."""
    return ta_version >= ta_floor


def payload_ok(payload_digest: Any, signed_digest: Any) -> Any:
    """deploy.check_payload: the fetched plaintext hashes to the digest the manifest signs."""
    return payload_digest == signed_digest


def report_ok(device_signed: Any, report_nonce: Any, session_nonce: Any) -> Any:
    """deploy.record: the report is signed by the device and names the session's challenge."""
    return AND(device_signed, report_nonce == session_nonce)


def agent_nonce_ok(echoed: Any, mine: Any) -> Any:
    """deploy.verify_update (protocol.md 8.3.1, ``TEEP_AGENT_NONCE_MISMATCH``): the Update
    echoes the Agent nonce the Agent drew for its open exchange and sent in that exchange's
    QueryResponse. The token alone cannot tell an exchange re-opened by a replayed
    QueryRequest from the one the TAM answered; the Agent's own fresh value can."""
    return echoed == mine


def challenge_live(age: Any) -> Any:
    """deploy.verify_evidence (protocol.md 8.3 step 3, T5; ``EAT_STALE`` 426): the TAM accepts
    evidence only for a challenge it issued no more than the session lifetime ago (300 s),
    measured on its own clock from the QueryRequest. The EAT's ``iat`` is informative only: the
    device has no clock the TAM can trust. ``age`` counts abstract ticks of the challenge's
    clock (``timing.py``): 0 within the lifetime, 1 past it."""
    return age < 1


def exchange_live(age: Any) -> Any:
    """deploy.verify_update (protocol.md 8.3.1): the Agent's exchange is within its lifetime
    L_a, measured on the TEE's own monotonic clock from when it accepted the QueryRequest.
    ``age`` counts abstract ticks (``timing.py``); one tick is the longest real time L_a can
    last under the allowed clock-rate drift, L_a·(1+ρ)."""
    return age < 1


def tam_may_expire(age: Any) -> Any:
    """T11 (protocol.md 8.3.1): the TAM ends a session that sent its Update only once L_u has
    passed since it *sent* the Update, with L_u ≥ L_a·(1+ρ): at least one tick."""
    return age >= 1


def suite_ok(used: Any, pinned: Any) -> Any:
    """protocol.md 4.1 rules 2 and 3 (P14): a message of a device's exchange (a TEEP message or
    manifest the Agent verifies, the evidence the TAM verifies) is accepted only in the suite
    the MRK-signed enrolment pinned for that device, never in a weaker one it also knows.
    Suites are ranked integers (0 classical, 1 `edbp-pq`: ``downgrade.py``)."""
    return used == pinned


def tam_suite(registered: Any, announced: Any) -> Any:
    """protocol.md 4.1 rule 2 (P14): the TAM delivers in the suite of the device's registry
    record, never in one read from an unsigned announcement (the adapter's ``hello`` list,
    anything outside a signature), which the attacker can rewrite."""
    return registered


@attrs.frozen
class Rules:
    """One variant of the protocol: the honest one (``HONEST``) or a flawed one."""

    evidence_ok: Callable[[Any, Any, Any, Any], Any] = evidence_ok
    serves: Callable[[Any], Any] = serves
    sigs_ok: Callable[[Any, Any], Any] = sigs_ok
    binding_ok: Callable[[Any, Any], Any] = binding_ok
    token_ok: Callable[[Any, Any], Any] = token_ok
    seq_ok: Callable[[Any, Any, Any], Any] = seq_ok
    payload_ok: Callable[[Any, Any], Any] = payload_ok
    report_ok: Callable[[Any, Any, Any], Any] = report_ok
    uninstall_ok: Callable[[Any, Any], Any] = uninstall_ok
    ta_version_ok: Callable[[Any, Any, Any, Any], Any] = ta_version_ok
    agent_nonce_ok: Callable[[Any, Any], Any] = agent_nonce_ok  # the Update echoes the exchange's
    challenge_live: Callable[[Any], Any] = challenge_live  # the TAM's challenge lifetime
    exchange_live: Callable[[Any], Any] = exchange_live  # the Agent's exchange lifetime
    tam_may_expire: Callable[[Any], Any] = tam_may_expire  # the TAM's hold after the Update
    # behaviours (what a party does, not a check it makes)
    device_keys_per_device: bool = True  # False: one agreement key per device class
    wrap_to_device_key: bool = True  # False: the TAM forwards the Author's class-key wrap
    class_key_in_hsm: bool = True  # False: the KeyVault exports CK to the Author
    fresh_cek_per_version: bool = True  # False: one CEK for every version of a component
    fresh_iv_per_encryption: bool = True  # False: the Author's IV is a constant
    verify_before_decrypt: bool = True  # False: unwrap and decrypt before the checks
    cek_stays_in_tee: bool = True  # False: the Agent hands the CEK to the Broker
    erase_cek_on_error: bool = True
    install_after_check: bool = True  # False: write the component first, leave it on failure
    report_binds_nonce: bool = True  # False: the Agent leaves the challenge out of reports
    uninstall_keeps_floor: bool = True
    fresh_agent_nonce: bool = True  # False: the Agent's nonce is one constant per device
    tam_closes_challenge: bool = True  # False: a delivery leaves the session CHALLENGED
    # rotate.class_key (rotation.py)
    publish_under_current_ck: bool = True  # False: new CEKs wrapped under a retired generation
    rewrap_on_rotation: bool = True  # False: older records stay under the retired generation
    # suite negotiation (P14), read only by the sub-model in downgrade.py
    agent_suite_ok: Callable[[Any, Any], Any] = suite_ok
    tam_suite_ok: Callable[[Any, Any], Any] = suite_ok
    tam_suite: Callable[[Any, Any], Any] = tam_suite


HONEST = Rules()
