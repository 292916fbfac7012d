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
from edbp.reference.rand import RandomSource, SeededRandom
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_key import CoseKey

__all__ = ["FleetResult", "deploy_fleet"]

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
    from edbp.reference.device.agent import Agent
    from edbp.reference.device.broker import Broker, RegistryFetcher
    from edbp.reference.device.storage import MemoryStorage
    from edbp.reference.device.update import TrustAnchors
    from edbp.reference.optee.sign import sign_ta

    rng = rng or SeededRandom("fleet")
    workdir = Path(workdir)
    vendor = vendor_id_for("acme.example")
    class_id = class_id_for(vendor, "gateway")
    mrk = CoseKey.generate(Curve.P256, rng.fork("mrk"))
    ask = CoseKey.generate(Curve.P256, rng.fork("ask"))
    tsk = CoseKey.generate(Curve.P256, rng.fork("tsk"))
    if not vault.exists(class_key_id):
        vault.create_class_key(class_key_id)
    registry = registry or DirectoryRegistry(workdir / "registry")
    tam = Tam(
        DeviceRegistry(workdir / "tam.sqlite"), vault, tsk, mrk.public(), [ask.public()],
        rng=rng.fork("tam"),
    )
    # publish.build: an OP-TEE TA image the devices check as OP-TEE's loader does
    tak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    image = sign_ta(
        rng.fork("elf").random_bytes(payload_bytes), tak, uuid.UUID(bytes=TA_UUID), 1,
        rng=rng.fork("ta"),
    )
    published = Author(vault, registry, ask, rng=rng.fork("author")).publish(
        image, ta_uuid=TA_UUID, sequence=1, vendor_id=vendor, class_id=class_id,
        class_key_id=class_key_id, repository="bench/sample-ta",
    )
    tam.add_package(published.envelope)
    anchors = TrustAnchors(
        tam=(tsk.public(),), author=(ask.public(),), ta_signers=(tak.public_key(),)
    )
    fetcher = RegistryFetcher(registry)
    brokers = []
    for i in range(n):
        agent = Agent.open(
            MemoryStorage(), rng.fork(f"huk/{i}").random_bytes(16), vendor_id=vendor,
            class_id=class_id, anchors=anchors, rng=rng.fork(f"device/{i}"),
        )
        keys = agent.keys
        body = Endorsement(keys.ueid, class_id, vendor, keys.dak_public, keys.dsk_public, 0)
        tam.enrol(sign_endorsement(body, mrk))
        brokers.append(Broker(agent, fetcher, MemoryStorage()))

    tam_time = 0.0
    start = time.perf_counter()
    installed = 0
    for broker in brokers:
        t0 = time.perf_counter()
        out = tam.begin(broker.agent.keys.ueid, Intent(package=(TA_UUID, 1)))
        tam_time += time.perf_counter() - t0
        while out.send is not None:
            (reply,) = broker.deliver(out.send)
            t0 = time.perf_counter()
            out = tam.receive(reply)
            tam_time += time.perf_counter() - t0
        if out.detail == "installed" and broker.agent.floor(ta_component(TA_UUID)) == 1:
            installed += 1
    total = time.perf_counter() - start
    return FleetResult(vault.backend, n, installed, payload_bytes, total, tam_time)
