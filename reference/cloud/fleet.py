"""Deploy one package to a fleet of simulated devices: the cloud side's throughput measurement.

Why here: the benchmark "deploy of one package to 1,000 simulated devices, devices/s, for both
KeyVault backends" needs the whole world (Manufacturer, Author, registry, TAM, devices); this
module builds it once and times the deployment. The payload is an OP-TEE TA image (RSA-2048
signed); each device is the reference Agent behind its Broker, in memory, and checks the image
as OP-TEE's loader does. Two rates are reported: ``tam_devices_per_s`` counts only the time spent in
the TAM (evidence verification, the KeyVault re-wrap, manifest signing, report verification,
SQLite audit writes), which is what a TAM operator sizes; ``devices_per_s`` is the end-to-end
rate of the simulation including the devices' own work.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.build.author import Author
from edbp.reference.build.package import class_id_for, ta_component, vendor_id_for
from edbp.reference.build.registry import Registry
from edbp.reference.build.registry_dir import DirectoryRegistry
from edbp.reference.cloud.device_registry import DeviceRegistry
from edbp.reference.cloud.endorsement import Endorsement, sign_endorsement
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.cloud.tam import Intent, Tam
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource, SeededRandom
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_key import CoseKey

__all__ = ["Fleet", "FleetResult", "deploy_fleet"]

TA_UUID = bytes.fromhex("8aaaf200245011e4abe20002a5d5c51b")


@attrs.frozen
class FleetResult:
    backend: str
    devices: int
    installed: int
    payload_bytes: int
    seconds_total: float
    seconds_tam: float

    @property
    def devices_per_s(self) -> float:
        return self.devices / self.seconds_total if self.seconds_total else 0.0

    @property
    def tam_devices_per_s(self) -> float:
        return self.devices / self.seconds_tam if self.seconds_tam else 0.0


class Fleet:
    """``n`` enrolled devices of one class, a TAM, an Author and a registry, ready to deploy.

    ``deploy_next`` publishes the next version of the package (sequence 1, 2, ...) and deploys
    it to every device: each call is a real upgrade, so a benchmark can repeat it."""

    def __init__(
        self,
        n: int,
        vault: KeyVault,
        workdir: str | Path,
        *,
        payload_bytes: int = 16 * 1024,
        registry: Registry | None = None,
        rng: RandomSource | None = None,
        class_key_id: str = "bench.sample-ta/gateway",
        group: int = 256,
        tam_rng: RandomSource = DEFAULT_RANDOM,
    ) -> None:
        from edbp.reference.device.agent import Agent
        from edbp.reference.device.broker import Broker, RegistryFetcher
        from edbp.reference.device.storage import MemoryStorage
        from edbp.reference.device.update import TrustAnchors

        rng = rng or SeededRandom("fleet")
        self._rng = rng
        workdir = Path(workdir)
        self.vendor = vendor_id_for("acme.example")
        self.class_id = class_id_for(self.vendor, "gateway")
        self.payload_bytes = payload_bytes
        self.class_key_id = class_key_id
        self.vault = vault
        mrk = CoseKey.generate(Curve.P256, rng.fork("mrk"))
        ask = CoseKey.generate(Curve.P256, rng.fork("ask"))
        tsk = CoseKey.generate(Curve.P256, rng.fork("tsk"))
        if not vault.exists(class_key_id):
            vault.create_class_key(class_key_id)
        self.registry = registry or DirectoryRegistry(workdir / "registry")
        # the TAM draws its tokens, challenges and ephemeral keys from the OS CSPRNG, as a TAM
        # in service does (``tam_rng``: a seeded source to replay them; the keys and devices of
        # the world above come from ``rng`` either way)
        self.tam = Tam(
            DeviceRegistry(workdir / "tam.sqlite"), vault, tsk, mrk.public(), [ask.public()],
            rng=tam_rng,
        )
        self.author = Author(vault, self.registry, ask, rng=rng.fork("author"))
        # the payload is an OP-TEE TA image the devices check as OP-TEE's loader does
        self._tak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        anchors = TrustAnchors(
            tam=(tsk.public(),), author=(ask.public(),), ta_signers=(self._tak.public_key(),)
        )
        fetcher = RegistryFetcher(self.registry)
        self.brokers = []
        for i in range(n):
            agent = Agent.open(
                MemoryStorage(), rng.fork(f"huk/{i}").random_bytes(16), vendor_id=self.vendor,
                class_id=self.class_id, anchors=anchors, rng=rng.fork(f"device/{i}"),
            )
            keys = agent.keys
            body = Endorsement(
                keys.ueid, self.class_id, self.vendor, keys.dak_public, keys.dsk_public, 0
            )
            self.tam.enrol(sign_endorsement(body, mrk))
            self.brokers.append(Broker(agent, fetcher, MemoryStorage()))
        self.sequence = 0
        self.group = max(1, group)  # devices per lockstep round (one audit commit per round)

    def deploy_next(self) -> FleetResult:
        """Publish version ``sequence + 1`` and deploy it to every device; timed."""
        from edbp.reference.optee.sign import sign_ta

        self.sequence += 1
        seq = self.sequence
        start = time.perf_counter()
        image = sign_ta(
            self._rng.fork(f"elf/{seq}").random_bytes(self.payload_bytes), self._tak,
            uuid.UUID(bytes=TA_UUID), seq, rng=self._rng.fork(f"ta/{seq}"),
        )
        published = self.author.publish(
            image, ta_uuid=TA_UUID, sequence=seq, vendor_id=self.vendor, class_id=self.class_id,
            class_key_id=self.class_key_id, repository="bench/sample-ta",
        )
        t0 = time.perf_counter()
        self.tam.add_package(published.envelope)
        tam_time = time.perf_counter() - t0
        installed = 0
        for lo in range(0, len(self.brokers), self.group):
            done, seconds = self._deploy_group(self.brokers[lo : lo + self.group], seq)
            installed += done
            tam_time += seconds
        total = time.perf_counter() - start
        return FleetResult(
            self.vault.backend, len(self.brokers), installed, self.payload_bytes, total, tam_time
        )


    def _deploy_group(self, brokers: list[Any], seq: int) -> tuple[int, float]:
        """Deploy to ``brokers`` in lockstep, one protocol round at a time, as a TAM serving
        many sessions at once does: each round's TAM work runs inside one audit-log group
        commit, and the round's messages go out only after it committed (the durability rule
        of ``DeviceRegistry.group_commit``). Returns (installed, seconds in the TAM)."""
        intent = Intent(package=(TA_UUID, seq))
        component = ta_component(TA_UUID)
        t0 = time.perf_counter()
        with self.tam.registry.group_commit():
            outs = [self.tam.begin(b.agent.keys.ueid, intent) for b in brokers]
        tam_time = time.perf_counter() - t0
        live = list(zip(brokers, outs, strict=True))
        installed = 0
        while live:
            replies = []
            for broker, out in live:
                if out.send is None:
                    if out.detail == "installed" and broker.agent.floor(component) == seq:
                        installed += 1
                    continue
                (reply,) = broker.deliver(out.send)  # released: its round has committed
                replies.append((broker, reply))
            t0 = time.perf_counter()
            with self.tam.registry.group_commit():
                live = [(broker, self.tam.receive(reply)) for broker, reply in replies]
            tam_time += time.perf_counter() - t0
        return installed, tam_time


def deploy_fleet(
    n: int,
    vault: KeyVault,
    workdir: str | Path,
    *,
    payload_bytes: int = 16 * 1024,
    registry: Registry | None = None,
    rng: RandomSource | None = None,
    class_key_id: str = "bench.sample-ta/gateway",
) -> FleetResult:
    """Enrol ``n`` devices, publish one package, deploy it to each; time the deployments."""
    fleet = Fleet(
        n, vault, workdir, payload_bytes=payload_bytes, registry=registry, rng=rng,
        class_key_id=class_key_id,
    )
    return fleet.deploy_next()
