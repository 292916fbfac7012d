"""The TA-version floor of OP-TEE images (ta-image.md section 7), apart from the SUIT floor.

An OP-TEE TA image carries its own version (``shdr_bootstrap_ta.ta_version``), chosen by the
TA's author and covered by the image's signature; in the model it is part of the plaintext the
Author signs the digest of (``edbp_profile.plaintext(c, v, build)``). The Agent, after the
payload digest check, refuses an image whose TA version is below the component's TA-version
floor (``Rules.ta_version_ok``; equal accepted, as in OP-TEE) with ``TA_VERSION_ROLLBACK``,
and raises that floor with the install. The SUIT sequence number is a different counter: a
fresh manifest (higher sequence) may carry an older TA build, and must then be refused.

Instances with ``ta_builds = 0`` leave TA versions out (each image's version would equal its
sequence number, and the TA floor would then hide every SUIT-floor flaw). With
``ta_builds = n`` the Author ships any build 1..n under each sequence number.

P7's TA clause: on an honest device the TA versions of the images installed per component never
decrease (uninstall included: OP-TEE's ``ta_ver.db`` outlives the TA).
"""

from __future__ import annotations

from typing import Any

from edbp.model import edbp_profile as ep


def ta_version(cfg: ep.Config, m: Any) -> int:
    """The TA version an image embeds: its build, or its sequence number when the Author did
    not number it apart; attacker code claims the highest (its signature is P5's business)."""
    if m[0] == "pt":
        return int(m[3]) if len(m) > 3 else int(m[2])
    return cfg.instance.versions + cfg.instance.ta_builds


def p7_clause(w: ep.World, cfg: ep.Config) -> str | None:
    """P7, TA versions: per honest device and component, installed TA versions never fall."""
    if not cfg.instance.ta_builds:
        return None
    for d, log in enumerate(w.ghost.installs):
        if d in w.compromised:
            continue
        top: dict[int, int] = {}
        for c, v, m, *_ in log:
            if m[0] != "pt":
                continue
            tv = ta_version(cfg, m)
            if tv < top.get(c, 0):
                return (f"device {d} installed c{c} v{v} carrying TA version {tv} after TA "
                        f"version {top[c]} (TA-version floor not enforced)")
            top[c] = max(tv, top.get(c, 0))
    return None


def latest_refused(w: ep.World, cfg: ep.Config, d: int, c: int) -> bool:
    """The latest version of ``c`` carries a TA build below device ``d``'s TA floor: the
    device rightly never installs it (liveness counts the component as done)."""
    a = w.agents[d]
    if not a.ta_floor or not w.published[c]:
        return False
    build = ep.record(w, c, w.published[c])[1]
    return build is not None and build < a.ta_floor[c]
