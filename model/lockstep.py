"""Model-based testing: the model and an implementation run in lockstep.

A Hypothesis ``RuleBasedStateMachine`` whose rules are whole exchanges built from the model's
transitions (publish, deploy, a deploy whose Update the attacker drops, the replay of a dropped
Update inside a later exchange, the replay of its QueryRequest and then of the dropped Update,
uninstall, revocation). Each rule is applied to the model through
``ModelDriver`` and to the implementation through a ``Target``; after every rule the
implementation's observable state must equal the model's: installed version and floor of
every device, the Agent's state (the model's Agents are ``IDLE`` between exchanges), the
refusal code whenever the model pins one, and the installed image's digest (the device's
``image_digest``, or its ``SUIT_Digest``, must be SHA-256 of exactly the plaintext published as
that version); and the security invariants are asserted on the
implementation's real bytes (no CEK in anything a Broker handled or stored, nor in the
registry). Hypothesis shrinks a failure to the shortest rule sequence, i.e. spec steps.

``Target`` is the adapter-neutral edge: ``ReferenceTarget`` drives the in-process reference
(``edbp.reference.device.world.World``); a conformance adapter can implement the same five
methods against any device.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from edbp.model import edbp_profile as ep
from edbp.model.driver import ModelDriver
from edbp.model.instance import Instance
from edbp.model.rules import HONEST, Rules
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from edbp.errors import Code

DEVICES = 2
VERSIONS = 3
UNINSTALLS = 2  # uninstall.component sessions per run: after one, an old version reaches the
# device's own floor check (the TAM sends it: the device reports nothing installed)
REQUERIES = 2  # replayed QueryRequests a device answers per run (``Instance.requeries``): each
# re-opens an exchange with a dropped Update's token and a fresh Agent nonce, so that Update
# reaches the Agent-nonce check (protocol.md 8.3.1, section 9 step 7)


class Target(Protocol):
    """What the lockstep machine needs from an implementation (one TA component)."""

    def publish(self, v: int) -> None: ...
    def deploy(self, d: int, v: int, drop_update: bool = False) -> tuple[bool, int | None]: ...
    def replay_in_exchange(self, d: int, k: int) -> tuple[bool, int | None]: ...
    def replay_in_reopened_exchange(self, d: int, k: int) -> tuple[bool, int | None]: ...
    def revoke(self, d: int) -> None: ...
    def observe(self) -> tuple[tuple[int, ...], tuple[int, ...]]: ...
    def leaked_ceks(self) -> list[str]: ...
    def agent_states(self) -> tuple[str, ...]: ...
    def image_digests(self) -> tuple[tuple[int, bytes | None, bytes | None], ...]: ...
    def uninstall(self, d: int) -> bool: ...
    def install_records(self) -> tuple[tuple[int, ...], ...] | None: ...


def _sha256(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()


class ReferenceTarget:
    """The reference implementation, in process: Author, KeyVault, Registry, TAM, devices."""

    def __init__(self, root: Path, agent_class: type | None = None) -> None:
        import uuid

        from edbp.reference.build.package import ta_component
        from edbp.reference.device import world as world_mod

        self._world_mod = world_mod
        original = world_mod.Agent  # type: ignore[attr-defined]
        if agent_class is not None:
            world_mod.Agent = agent_class  # type: ignore[attr-defined,assignment]
        try:
            self.w = world_mod.World(root, seed="lockstep")
            self.devs = [self.w.enrol(f"d{i}", "gw") for i in range(DEVICES)]
        finally:
            world_mod.Agent = original  # type: ignore[attr-defined]
        self.ta = uuid.uuid5(uuid.NAMESPACE_URL, "urn:edbp:model:lockstep").bytes
        self.comp = ta_component(self.ta)
        self.images: dict[int, bytes] = {}
        self.captured: list[bytes] = []  # the dropped Updates, in order
        self.captured_queries: list[bytes] = []  # the QueryRequest of each, at the same index

    def publish(self, v: int) -> None:
        image = self.w.build_ta(b"\x7fELF lockstep " + bytes([v]) * 48, self.ta, ta_version=v)
        self.images[v] = image
        self.w.publish(image, ta_uuid=self.ta, sequence=v, class_name="gw")

    def deploy(self, d: int, v: int, drop_update: bool = False) -> tuple[bool, int | None]:
        seen: list[bytes] = []

        def intercept(msg: bytes) -> bytes | None:
            seen.append(msg)
            if drop_update and len(seen) == 2:
                self.captured_queries.append(seen[0])
                self.captured.append(msg)
                return b"\xa0"  # the attacker replaces the Update by junk
            return None

        r = self.w.deploy(self.devs[d], self.ta, v, intercept=intercept)
        return r.ok and r.detail == "installed", r.code

    def replay_in_exchange(self, d: int, k: int) -> tuple[bool, int | None]:
        from edbp.reference.cloud.tam import Intent
        from edbp.reference.device.world import _device_code

        dev = self.devs[d]
        before = self.observe()
        out = self.w.tam.begin(dev.ueid, Intent(package=(self.ta, max(self.images))))
        assert out.send is not None  # a new session always opens with a QueryRequest
        for reply in dev.broker.deliver(out.send):
            try:
                self.w.tam.receive(reply)
            except Exception:  # noqa: S110 - the TAM may refuse; the device matters here
                pass
        code = None
        for reply in dev.broker.deliver(self.captured[k]):
            code = code or _device_code(reply)
            try:
                self.w.tam.receive(reply)
            except Exception:  # noqa: S110
                pass
        return self.observe() != before, code

    def replay_in_reopened_exchange(self, d: int, k: int) -> tuple[bool, int | None]:
        """The attacker (the Broker) hands device ``d`` the QueryRequest of the ``k``-th
        dropped Update again, keeps the QueryResponse (the TAM never sees the re-opened
        exchange), then hands it that Update; the device's answer to it is relayed."""
        from edbp.reference.device.world import _device_code

        dev = self.devs[d]
        before = self.observe()
        for reply in dev.broker.deliver(self.captured_queries[k]):
            if _device_code(reply) is not None:  # the QueryRequest itself refused
                return self.observe() != before, _device_code(reply)
        code = None
        for reply in dev.broker.deliver(self.captured[k]):
            code = code or _device_code(reply)
            try:
                self.w.tam.receive(reply)
            except Exception:  # noqa: S110 - the TAM may refuse; the device matters here
                pass
        return self.observe() != before, code

    def revoke(self, d: int) -> None:
        self.w.tam.revoke(self.devs[d].ueid)

    def uninstall(self, d: int) -> bool:
        """The TAM's uninstall session for the TA, relayed by the device's Broker; whether the
        device's observable state changed."""
        from edbp.reference.cloud.tam import Intent

        dev = self.devs[d]
        before = self.observe()
        out = self.w.tam.begin(dev.ueid, Intent(uninstall=self.comp))
        pending = [out.send] if out.send is not None else []
        while pending:
            for reply in dev.broker.deliver(pending.pop()):
                try:
                    nxt = self.w.tam.receive(reply)
                except Exception:  # noqa: S112 - a refusal ends the relay; the state decides
                    continue
                if nxt.send is not None:
                    pending.append(nxt.send)
        return self.observe() != before

    def install_records(self) -> tuple[tuple[int, ...], ...] | None:
        """Per device, the sequence numbers of the TAM's audit entries recording a checked
        Success report (``deploy.record`` with code 0 and an install receipt), in log order."""
        from edbp.reference.wire.cbor import loads

        out: dict[bytes, list[int]] = {dev.ueid: [] for dev in self.devs}
        for entry in self.w.tam.registry.entries():
            if entry.event != "deploy.record" or entry.ueid not in out or entry.body is None:
                continue
            receipt = loads(entry.body)
            if isinstance(receipt, dict) and receipt.get(6) == 0 and receipt.get(3, 0) > 0:
                out[entry.ueid].append(int(receipt[3]))
        return tuple(tuple(out[dev.ueid]) for dev in self.devs)

    def observe(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        installed, floors = [], []
        for dev in self.devs:
            floor = dev.agent.floor(self.comp) or 0
            version = 0
            try:
                image = dev.agent.installed_image(self.comp)
                version = next((v for v, im in self.images.items() if im == image), -1)
            except Exception:
                version = 0
            installed.append(version)
            floors.append(floor)
        return tuple(installed), tuple(floors)

    def agent_states(self) -> tuple[str, ...]:
        return tuple(str(getattr(dev.agent.state, "name", dev.agent.state)) for dev in self.devs)

    def image_digests(self) -> tuple[tuple[int, bytes | None, bytes | None], ...]:
        """Per device: (installed version, digest of the installed image, digest of the
        plaintext published as that version)."""
        out: list[tuple[int, bytes | None, bytes | None]] = []
        installed, _ = self.observe()
        for dev, v in zip(self.devs, installed, strict=True):
            if v <= 0:
                out.append((v, None, None))
                continue
            image = dev.agent.installed_image(self.comp)
            out.append((v, _sha256(image), _sha256(self.images[v])))
        return tuple(out)

    def leaked_ceks(self) -> list[str]:
        from edbp.reference.device.world import contains

        leaks = []
        handled = [self.w.broker_bytes(dev) for dev in self.devs] + [self.w.registry_bytes()]
        for (_ta, v), published in self.w.packages.items():
            cek = self.w.cek_of(published.package)
            if any(contains(blob, cek) for blob in handled):
                leaks.append(f"CEK of v{v}")
        return leaks


class AdapterTarget:
    """Any device behind the adapter protocol (``spec/adapter.md``), one device.

    The conformance harness plays Author, KeyVault and TAM; like the model's TAM it will send
    any published version, so the device's own floor is what refuses an old one. Revocation is
    the TAM's decision: a revoked device is simply never addressed again.
    """

    def __init__(self, device_spec: str = "builtin") -> None:
        from edbp.conformance.adapter import DeviceClient, open_transport
        from edbp.conformance.harness import Cloud, Harness

        self.client = DeviceClient(open_transport(device_spec))
        self.client.hello()
        self.client.call("reset")
        self.cloud = Cloud(seed="edbp-lockstep")
        self.h = Harness(self.client, self.cloud, label="lockstep")
        self.h.provision()
        self.published: dict[int, Any] = {}
        self.captured: list[bytes] = []  # the dropped Updates, in order
        self.captured_queries: list[Any] = []  # the exchange (``Query``) of each
        self.revoked: set[int] = set()

    def close(self) -> None:
        self.client.close()
        self.cloud.close()

    def publish(self, v: int) -> None:
        self.published[v] = self.h.publish(v)

    def _exchange(self, message_for: Callable[[Any], bytes]) -> tuple[bool, int | None]:
        before = self.observe()
        q = self.h.query(step="lockstep: deploy.query_request")
        got = self.h.deliver(message_for(q), "lockstep: deploy.update")
        return self.observe() != before, got.code

    def deploy(self, d: int, v: int, drop_update: bool = False) -> tuple[bool, int | None]:
        if d in self.revoked:
            return False, int(Code.TAM_DEVICE_REVOKED)
        if drop_update:
            def dropped(q: Any) -> bytes:
                self.captured_queries.append(q)
                self.captured.append(self.h.update(self.published[v], q))
                return b"\xa0"  # the attacker replaces the Update by junk

            return self._exchange(dropped)
        return self._exchange(lambda q: self.h.update(self.published[v], q))

    def replay_in_exchange(self, d: int, k: int) -> tuple[bool, int | None]:
        return self._exchange(lambda q: self.captured[k])

    def replay_in_reopened_exchange(self, d: int, k: int) -> tuple[bool, int | None]:
        """The ``k``-th dropped Update's signed QueryRequest replayed (``Harness.requery``: the
        device's evidence for it is checked as for any QueryResponse), then that Update."""
        before = self.observe()
        self.h.requery(self.captured_queries[k], "lockstep: attack.replay (QueryRequest)")
        got = self.h.deliver(self.captured[k], "lockstep: attack.replay (withheld Update)")
        return self.observe() != before, got.code

    def revoke(self, d: int) -> None:
        self.revoked.add(d)

    def uninstall(self, d: int) -> bool:
        before = self.observe()
        q = self.h.query(step="lockstep: uninstall.component")
        self.h.deliver(self.h.uninstall(q), "lockstep: uninstall.component")
        return self.observe() != before

    def install_records(self) -> tuple[tuple[int, ...], ...] | None:
        """None: the harness plays the TAM here, its records are not an implementation's."""
        return None

    def observe(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (self.h.installed() or 0,), (self.h.floor() or 0,)

    def agent_states(self) -> tuple[str, ...]:
        return (str(self.h.state().get("agent_state", "IDLE")),)

    def image_digests(self) -> tuple[tuple[int, bytes | None, bytes | None], ...]:
        """(installed sequence, digest the device reports, SHA-256 of the published plaintext).

        ``image_digest`` (a bstr per component) is preferred when the device sends it; the
        ``SUIT_Digest`` ``[-16, bstr]`` of the same entry otherwise; None when it sends neither
        (the comparison is then skipped, never passed by default)."""
        for entry in self.h.state().get("components", []):
            seq = int(entry.get("sequence", 0))
            got = entry.get("image_digest")
            if got is None:
                dig = entry.get("digest")
                got = dig[1] if isinstance(dig, list) and len(dig) == 2 and dig[0] == -16 else None
            want = _sha256(self.h.image(seq)) if seq in self.published else None
            return ((seq, bytes(got) if got is not None else None, want),)
        return ((0, None, None),)

    def leaked_ceks(self) -> list[str]:
        from edbp.reference.device.world import contains

        frames = self.h.frames()
        return [f"CEK of v{v}" for v, p in self.published.items()
                if contains(frames, self.cloud.cek_of(p))]


def make_machine(target_factory: Callable[[], Target], devices: int = DEVICES,
                 rules: Rules = HONEST) -> type[RuleBasedStateMachine]:
    """A lockstep state machine class for targets made by ``target_factory``, against the
    model with ``rules`` (the honest ones; a seeded flaw's to show lockstep tells them apart)."""
    DEVICES = devices  # the rules below read the machine's device count

    class Lockstep(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            self.model = ModelDriver(Instance(devices=DEVICES, versions=VERSIONS, sessions=64,
                                              compromises=0, revocations=1,
                                              uninstalls=UNINSTALLS, requeries=REQUERIES),
                                     rules=rules)
            self.target = target_factory()
            self.captured_terms: list[tuple[int, Any]] = []

        @precondition(lambda self: self.model.state.published[0] < VERSIONS)
        @rule()
        def publish(self) -> None:
            v = self.model.publish()
            self.target.publish(v)

        @precondition(lambda self: self.model.state.published[0] > 0)
        @rule(d=st.integers(0, DEVICES - 1), v=st.integers(1, VERSIONS))
        def deploy(self, d: int, v: int) -> None:
            v = min(v, self.model.state.published[0])
            predicted = self.model.deploy(d, v)
            installed, code = self.target.deploy(d, v)
            assert installed == predicted.installed, (
                f"deploy(device {d}, v{v}): model predicts "
                f"{'install' if predicted.installed else 'refusal'} ({predicted.steps}), "
                f"implementation {'installed' if installed else f'refused ({code})'}")
            if predicted.code is Code.TAM_DEVICE_REVOKED:
                assert code == int(Code.TAM_DEVICE_REVOKED)
            if predicted.code is not None and code is not None:
                # every refusal the model pins must carry that code (a TAM may refuse first
                # without one, e.g. an old version it will not send)
                assert code == int(predicted.code), (
                    f"deploy(device {d}, v{v}) refused with code {code}, model pins "
                    f"{int(predicted.code)} ({predicted.code.name})")

        @precondition(lambda self: self.model.state.published[0] > 0)
        @rule(d=st.integers(0, DEVICES - 1))
        def deploy_update_dropped(self, d: int) -> None:
            v = self.model.state.published[0]
            if d in self.model.state.revoked or self.model.state.agents[d].floor[0] >= v:
                return  # the TAM would not send an Update: nothing to drop
            term = self.model.deploy_dropped(d, v)
            self.target.deploy(d, v, drop_update=True)
            self.captured_terms.append((d, term))

        @precondition(lambda self: bool(self.captured_terms))
        @rule(d=st.integers(0, DEVICES - 1))
        def replay_in_exchange(self, d: int) -> None:
            if d in self.model.state.revoked:
                return
            k = len(self.captured_terms) - 1
            predicted = self.model.replay_in_exchange(d, self.captured_terms[k][1])
            changed, code = self.target.replay_in_exchange(d, k)
            assert changed == predicted.installed, (
                f"replayed Update to device {d}: model predicts "
                f"{'install' if predicted.installed else 'refusal'}, implementation "
                f"{'changed its state' if changed else 'refused'} (code {code})")
            if predicted.code is not None and code is not None:
                assert code == int(predicted.code), (
                    f"replayed Update to device {d} refused with code {code}, model pins "
                    f"{int(predicted.code)} ({predicted.code.name})")

        @precondition(lambda self: bool(self.captured_terms)
                      and self.model.state.requeries < REQUERIES)
        @rule(d=st.integers(0, DEVICES - 1))
        def replay_in_reopened_exchange(self, d: int) -> None:
            """attack.replay twice: the last dropped Update's QueryRequest to device ``d`` (a
            device answers it, again when it is the one the Update was made for, drawing a fresh
            Agent nonce), then the Update itself. Its token matches the exchange so opened; on
            its own device its Agent nonce does not (409), on the other its binding (602)."""
            k = len(self.captured_terms) - 1
            owner, term = self.captured_terms[k]
            if d in self.model.state.revoked:
                return  # the TAM addresses a revoked device no more; nor does this attacker
            predicted = self.model.replay_in_reopened_exchange(d, term)
            changed, code = self.target.replay_in_reopened_exchange(d, k)
            pinned = (f"{predicted.code.name} {int(predicted.code)}"
                      if predicted.code is not None else "no code")
            what = (f"Update withheld from device {owner}'s exchange, replayed to device {d} "
                    f"after its replayed QueryRequest re-opened that exchange")
            assert changed == predicted.installed, (
                f"{what}: model predicts "
                f"{'install' if predicted.installed else f'refusal ({pinned})'}, implementation "
                f"{'changed its state' if changed else 'refused'} (code {code})")
            if predicted.code is not None:
                assert code == int(predicted.code), (
                    f"{what}: refused with code {code}, model pins {pinned}")

        @precondition(lambda self: self.model.state.uninstalls < UNINSTALLS and any(
            a.installed[0] > 0 for a in self.model.state.agents))
        @rule(d=st.integers(0, DEVICES - 1))
        def uninstall(self, d: int) -> None:
            if d in self.model.state.revoked or self.model.state.agents[d].installed[0] <= 0:
                d = next(i for i, a in enumerate(self.model.state.agents)
                         if a.installed[0] > 0)  # the device that has something to remove
            if d in self.model.state.revoked:
                return  # the TAM opens no session with a revoked device
            predicted = self.model.uninstall(d)
            changed = self.target.uninstall(d)
            assert changed == predicted, (
                f"uninstall on device {d}: model {'removes' if predicted else 'keeps'} the "
                f"component, implementation {'changed' if changed else 'kept'} its state")

        @precondition(lambda self: not self.model.state.revoked)
        @rule(d=st.integers(0, DEVICES - 1))
        def revoke(self, d: int) -> None:
            self.model.revoke(d)
            self.target.revoke(d)

        @invariant()
        def same_observable_state(self) -> None:
            if not hasattr(self, "model"):
                return
            obs = self.model.observe()
            installed, floors = self.target.observe()
            assert installed == tuple(i[0] for i in obs.installed), (
                f"installed: model {obs.installed}, implementation {installed}")
            assert floors == tuple(f[0] for f in obs.floors), (
                f"floors: model {obs.floors}, implementation {floors}")

        @invariant()
        def same_agent_state_and_image(self) -> None:
            if not hasattr(self, "model"):
                return
            phases = tuple(a.phase for a in self.model.state.agents)
            states = self.target.agent_states()
            # the model times an abandoned exchange out eagerly (QUERIED -> IDLE, nothing
            # held); a device may keep it open until the next QueryRequest replaces it. Any
            # other state between rules (VERIFYING, FETCHING, INSTALLING) holds a CEK or
            # staged data the model says is gone.
            for i, (st_, ph) in enumerate(zip(states, phases, strict=False)):
                allowed = {"IDLE", "QUERIED"} if ph in ("IDLE", "QUERIED") else {ph}
                assert st_ in allowed, (
                    f"device {i}: Agent state {st_}, model {ph} (allowed: {sorted(allowed)})")
            for i, (v, got, want) in enumerate(self.target.image_digests()):
                model_v = self.model.state.agents[i].installed[0]
                assert v == model_v, f"device {i}: installed v{v}, model v{model_v}"
                if got is not None:
                    assert want is not None and got == want, (
                        f"device {i}: installed image digest does not match the plaintext "
                        f"published as v{v}")

        @invariant()
        def same_tam_records(self) -> None:
            if not hasattr(self, "model"):
                return
            got = self.target.install_records()
            if got is not None:  # None: the target has no TAM of its own (skipped, not passed)
                want = self.model.records()
                assert got == want, f"TAM install records: model {want}, implementation {got}"

        @invariant()
        def no_cek_outside_tee_or_hsm(self) -> None:
            if hasattr(self, "target"):
                assert not self.target.leaked_ceks()

        @invariant()
        def model_properties_hold(self) -> None:
            if hasattr(self, "model"):
                assert not self.model.violations()

        def teardown(self) -> None:
            close = getattr(getattr(self, "target", None), "close", None)
            if close is not None:
                close()

    return Lockstep


__all__ = ["AdapterTarget", "ReferenceTarget", "Target", "ep", "make_machine"]
