"""The two profiles as explorer inputs: `edbp` (hardened) and `blueprint` (as built)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import attrs
from edbp.model import blueprint_profile as bp
from edbp.model import edbp_profile as ep
from edbp.model import properties as props
from edbp.model import taversion
from edbp.model.explore import Profile


def _edbp_rank(ev: ep.Event, w: ep.World, cfg: ep.Config) -> int | None:
    """Priority of an honest step for the liveness scheduler (lower runs first)."""
    if not ev.honest:
        return None
    steps = ev.steps
    if "deploy.fetch" in steps:
        return 0
    if "deploy.verify_update" in steps and "deploy.error" not in steps:
        return 1
    if ev.data and ev.data[0] == "deliver":
        _, d, c, v = ev.data
        if (w.agents[d].installed[c] >= v or v != w.published[c]
                or taversion.latest_refused(w, cfg, d, c)):
            return None
        return 3
    if ev.data and ev.data[0] == "record":
        return 2
    if "deploy.query_response" in steps:
        return 4
    if "publish.push" in steps:
        return 5
    if "deploy.query_request" in steps:
        d = int(ev.dst.removeprefix("Broker"))
        a, top = w.agents[d], cfg.instance.versions
        needs = any(a.installed[c] != top and a.floor[c] != top
                    and not taversion.latest_refused(w, cfg, d, c)
                    for c in range(cfg.instance.components))
        return 6 if needs and d not in w.compromised else None
    if ev.data and ev.data[0] == "error":
        d = ev.data[1]
        a, sess = w.agents[d], w.sessions[d]
        dead = sess.phase == "NO_SESSION" or sess.nonce != a.token
        return 4 if dead else 7
    if ev.data and ev.data[0] == "expire":
        return 7
    if ev.data and ev.data[0] == "tick":
        return 8  # time passes only when nothing else is left (a held session's L_u)
    return None


def _edbp_control(w: ep.World) -> Hashable:
    return (w.published, w.sessions, w.agents, w.revoked, w.compromised, w.records)


def _edbp_live_config(w: ep.World, cfg: ep.Config) -> ep.Config:
    inst = cfg.instance
    slack = 2 * inst.devices * inst.components * inst.versions + 4
    return attrs.evolve(cfg, instance=attrs.evolve(inst, sessions=min(64, w.issued + slack)),
                        compromise=False, revoke=False)


EDBP = Profile(
    name="edbp",
    initial=ep.initial,
    successors=ep.successors,
    properties=props.PROPERTIES,
    reads=props.READS,
    witnesses=props.WITNESSES,
    goals=props.GOALS,
    event_witnesses=props.EVENT_WITNESSES,
    complete=props.deployment_complete,
    rank=_edbp_rank,
    control=_edbp_control,
    live_config=_edbp_live_config,
)

BLUEPRINT = Profile(
    name="blueprint",
    initial=bp.initial,
    successors=bp.successors,
    properties=bp.PROPERTIES,
    witnesses={},
    goals=bp.GOALS,
    event_witnesses={},
    complete=bp.deployment_complete,
    rank=bp.rank,
    control=bp.control,
    live_config=bp.live_config,
)

PROFILES: dict[str, Profile] = {"edbp": EDBP, "blueprint": BLUEPRINT}


def get(name: str) -> Profile:
    """The profile named ``name``."""
    return PROFILES[name]


__all__: list[Any] = ["BLUEPRINT", "EDBP", "PROFILES", "get"]
