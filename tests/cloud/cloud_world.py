"""A small edbp world for the TAM tests: Manufacturer, Author, registry, TAM, and real devices
(the reference Agent behind its Broker, checking OP-TEE TA images as OP-TEE's loader does), all
in memory except the registry directory and the TAM's SQLite file."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.build.author import Author, Published
from edbp.reference.build.package import class_id_for, vendor_id_for
from edbp.reference.build.registry_dir import DirectoryRegistry
from edbp.reference.cloud.device_registry import DeviceRegistry
from edbp.reference.cloud.endorsement import Endorsement, sign_endorsement
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.cloud.tam import Intent, Tam, TamOutput
from edbp.reference.device.agent import Agent
from edbp.reference.device.broker import Broker, RegistryFetcher
from edbp.reference.device.keys import KeySuite
from edbp.reference.device.storage import MemoryStorage
from edbp.reference.device.update import TrustAnchors
from edbp.reference.optee.sign import sign_ta
from edbp.reference.rand import SeededRandom
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_key import CoseKey

VENDOR = vendor_id_for("acme.example")
CLASS_A = class_id_for(VENDOR, "gateway-a")
CLASS_B = class_id_for(VENDOR, "gateway-b")
TA_UUID = bytes.fromhex("8aaaf200245011e4abe20002a5d5c51b")
KEY_A = "acme.sample-ta/gateway-a"
KEY_B = "acme.sample-ta/gateway-b"


@functools.cache
def tak() -> rsa.RSAPrivateKey:
    """The TA Signing Key (RSA 2048, as OP-TEE requires); made once per test process."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ta_image(version: int, body: bytes = b"") -> bytes:
    """``publish.build``: an OP-TEE TA image (bootstrap, RSA-PSS) of the sample TA."""
    elf = b"\x7fELF sample TA " + version.to_bytes(4, "big") + body * 50
    return sign_ta(elf, tak(), uuid.UUID(bytes=TA_UUID), version, rng=SeededRandom(f"ta{version}"))


@attrs.define
class Device:
    agent: Agent
    broker: Broker

    @property
    def ueid(self) -> bytes:
        return self.agent.keys.ueid


class World:
    def __init__(self, root: Path, vault: KeyVault, seed: str = "world") -> None:
        rng = SeededRandom(seed)
        self.rng = rng
        self.mrk = CoseKey.generate(Curve.P256, rng.fork("mrk"))
        self.ask = CoseKey.generate(Curve.P256, rng.fork("ask"))
        self.tsk = CoseKey.generate(Curve.P256, rng.fork("tsk"))
        self.vault = vault
        for key in (KEY_A, KEY_B):
            vault.create_class_key(key)
        self.registry = DirectoryRegistry(root / "registry")
        self.author = Author(vault, self.registry, self.ask, rng=rng.fork("author"), chunk=4096)
        ticks = iter(range(1_800_000_000, 1_900_000_000))
        self.devices_db_path = root / "tam.sqlite"
        self.devices_db = DeviceRegistry(self.devices_db_path, clock=lambda: next(ticks))
        self.tam = Tam(
            self.devices_db,
            vault,
            self.tsk,
            self.mrk.public(),
            [self.ask.public()],
            rng=rng.fork("tam"),
        )
        self.anchors = TrustAnchors(
            tam=(self.tsk.public(),), author=(self.ask.public(),), ta_signers=(tak().public_key(),)
        )
        self._n = 0

    def device(
        self, class_id: bytes = CLASS_A, suite: KeySuite = KeySuite.P256, enrol: bool = True
    ) -> Device:
        self._n += 1
        agent = Agent.open(
            MemoryStorage(),
            self.rng.fork(f"huk{self._n}").random_bytes(16),
            vendor_id=VENDOR,
            class_id=class_id,
            anchors=self.anchors,
            suite=suite,
            rng=self.rng.fork(f"device{self._n}"),
        )
        device = Device(
            agent, Broker(agent, RegistryFetcher(self.registry), MemoryStorage(), record=True)
        )
        if enrol:
            self.tam.enrol(self.endorsement(device, class_id))
        return device

    def endorsement(
        self, device: Device, class_id: bytes = CLASS_A, mrk: CoseKey | None = None
    ) -> bytes:
        keys = device.agent.keys
        body = Endorsement(
            keys.ueid, class_id, VENDOR, keys.dak_public, keys.dsk_public, 1_700_000_000
        )
        return sign_endorsement(body, mrk or self.mrk)

    def publish(
        self, image: bytes, sequence: int, class_id: bytes = CLASS_A, key: str = KEY_A, **kw
    ) -> Published:  # type: ignore[no-untyped-def]
        published = self.author.publish(
            image,
            ta_uuid=TA_UUID,
            sequence=sequence,
            vendor_id=VENDOR,
            class_id=class_id,
            class_key_id=key,
            repository="acme/sample-ta",
            **kw,
        )
        self.tam.add_package(published.envelope)
        return published

    def deploy(self, device: Device, sequence: int) -> list[TamOutput]:
        """One whole session: QueryRequest → QueryResponse → Update → Success/Error."""
        outputs = [self.tam.begin(device.ueid, Intent(package=(TA_UUID, sequence)))]
        while outputs[-1].send is not None:
            replies = device.broker.deliver(outputs[-1].send)
            assert len(replies) == 1
            outputs.append(self.tam.receive(replies[0]))
        return outputs
