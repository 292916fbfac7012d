"""Bounded instance parameters of the model and the ``k=v,...`` syntax the CLI accepts."""

from __future__ import annotations

import attrs

from edbp.errors import Code, ConfigError


@attrs.frozen(cache_hash=True)
class Instance:
    """How large the explored world is.

    Exploration is exhaustive *within* these bounds; the z3 proofs carry the state invariants to
    any number of devices, versions and steps. The defaults are the smallest world in which
    every property has a witness (two devices so that one can be compromised or revoked while
    the other keeps receiving; two versions so that rollback, replay and "nothing new after
    revocation" mean something).
    """

    devices: int = 2
    classes: int = 1
    components: int = 1
    versions: int = 2
    sessions: int = 2  # TAM challenges (fresh nonces) over the whole run
    revocations: int = 1
    compromises: int = 1
    uninstalls: int = 0  # uninstall.component steps (TAM-authorised) over the whole run
    # edbp profile: QueryRequests an Agent answers again (a replay, which opens an exchange
    # with a fresh Agent nonce and the old token) over the whole run; first answers to each
    # token are bounded by ``sessions``. Each replay answered multiplies the graph (fresh
    # nonces keep the exchanges apart), so the default instance has none and a supplementary
    # one (``check.SUPPLEMENTARY``) explores them
    requeries: int = 0
    ck_rotations: int = 0  # edbp profile: rotate.class_key steps (KeyVault) over the whole run
    ta_builds: int = 0  # edbp profile: 0 = images carry no TA version; n = the Author numbers
    # each package's TA build 1..n (an older build may ship under a newer sequence number)
    apps: int = 2  # blueprint profile: applications (class keys in the key service)
    rotations: int = 1  # blueprint profile: ProvisionKey overwrites

    def __attrs_post_init__(self) -> None:
        limits = {
            "devices": (1, 4), "classes": (1, 2), "components": (1, 2), "versions": (1, 4),
            "sessions": (1, 64), "revocations": (0, 2), "compromises": (0, 2), "apps": (1, 3),
            "uninstalls": (0, 2), "ck_rotations": (0, 2), "ta_builds": (0, 3),
            "requeries": (0, 3),
            "rotations": (0, 2),
        }
        for name, (lo, hi) in limits.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ConfigError(Code.MODEL_BAD_INSTANCE, f"{name}={value} outside {lo}..{hi}")
        if self.classes > self.devices:
            raise ConfigError(Code.MODEL_BAD_INSTANCE, "more classes than devices")

    def class_of(self, d: int) -> int:
        """Device ``d``'s class: devices are dealt round-robin over the classes."""
        return d % self.classes

    def app_of(self, d: int) -> int:
        """Blueprint profile: the application device ``d`` runs (round-robin)."""
        return d % self.apps

    def as_dict(self) -> dict[str, int]:
        """Plain dict, for JSON reports."""
        return attrs.asdict(self)


def parse_instance(text: str | None, base: Instance | None = None) -> Instance:
    """Parse ``devices=2,versions=3`` into an ``Instance`` (unknown keys and bad values refused)."""
    base = base or Instance()
    if not text:
        return base
    fields = {f.name for f in attrs.fields(Instance)}
    changes: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            raise ConfigError(Code.MODEL_BAD_INSTANCE, f"unknown instance parameter {part!r}")
        try:
            changes[key] = int(value)
        except ValueError:
            raise ConfigError(Code.MODEL_BAD_INSTANCE, f"{key} needs an integer") from None
    return attrs.evolve(base, **changes)
