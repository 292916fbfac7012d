"""An in-process deployment: Author, KeyVault, Registry, TAM and simulated devices (Broker +
Agent), wired together on the embedded defaults, for the demo, the integration tests and the
benchmarks.

Why it lives with the device: the device side is the one that needs the whole chain to be
exercised (a real Author's package, a real TAM's per-device manifest, a real registry), and the
relay loop between the TAM and a device's Broker is the device's transport edge. Every role is
the project's own reference implementation; nothing here takes a shortcut through a role's
internals except the ``Auditor``, which may ask the vault for a CEK to prove it is absent from
what untrusted parties handled.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.build.author import Author, ImageSource, Published
from edbp.reference.build.package import AuthorPackage, class_id_for, vendor_id_for
from edbp.reference.build.registry import Registry
from edbp.reference.build.registry_dir import DirectoryRegistry
from edbp.reference.cloud.device_registry import DeviceRegistry
from edbp.reference.cloud.endorsement import Endorsement, sign_endorsement
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
from edbp.reference.cloud.tam import Intent, Tam, TamOutput
from edbp.reference.device.agent import Agent, error_code_of
from edbp.reference.device.broker import Broker, RegistryFetcher
from edbp.reference.device.install import (
    FileCounter,
    MemoryBudget,
    MemoryCounter,
    MonotonicCounter,
)
from edbp.reference.device.keys import KeySuite
from edbp.reference.device.storage import FileStorage, MemoryStorage, Storage
from edbp.reference.device.update import TrustAnchors
from edbp.reference.optee.sign import sign_ta
from edbp.reference.rand import RandomSource, SeededRandom
from edbp.reference.wire import teep
from edbp.reference.wire.cose_algs import Alg, Curve
from edbp.reference.wire.cose_key import CoseKey

from edbp.errors import Code, EdbpError, WireError

__all__ = ["Attempt", "SimDevice", "World"]

VENDOR_DOMAIN = "example.com"


@attrs.define
class SimDevice:
    """One simulated device: its Agent (TEE), its Broker (REE) and their storage."""

    name: str
    class_name: str
    agent: Agent
    broker: Broker
    huk: bytes = attrs.field(repr=False)
    storage: Storage = attrs.field(repr=False)

    @property
    def ueid(self) -> bytes:
        return self.agent.keys.ueid


@attrs.frozen
class Attempt:
    """The outcome of one exchange between the TAM and a device."""

    ok: bool
    detail: str
    code: int | None = None  # the edbp code of a refusal (device or TAM side)
    messages: tuple[bytes, ...] = attrs.field(default=(), repr=False)  # what reached the device
    replies: tuple[bytes, ...] = attrs.field(default=(), repr=False)  # what the device answered


class World:
    """Cloud + devices on the embedded defaults (software vault, directory registry, SQLite).

    ``vault`` and ``registry`` may be given to run on other backends (PKCS#11, OCI)."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        seed: str = "edbp-world",
        vault: KeyVault | None = None,
        registry: Registry | None = None,
        record: bool = True,
        budget: MemoryBudget = MemoryBudget(),
        pq: bool = False,
    ) -> None:
        self.rng: RandomSource = SeededRandom(seed)
        self.root = root
        self.record = record
        self.budget = budget
        if vault is None:
            if root is None:
                raise ValueError("the software vault needs a root folder")
            vault = SoftwareKeyVault(
                root / "vault.sealed",
                self.rng.fork("master").random_bytes(32),
                self.rng.fork("vault"),
            )
        if registry is None:
            if root is None:
                raise ValueError("the directory registry needs a root folder")
            registry = DirectoryRegistry(root / "registry")
        self.vault = vault
        self.registry = registry
        self.ask = CoseKey.generate(Curve.P256, self.rng.fork("ask"))
        self.tsk = CoseKey.generate(Curve.P256, self.rng.fork("tsk"))
        self.mrk = CoseKey.generate(Curve.P256, self.rng.fork("mrk"))
        # TA Signing Key (RSA, as OP-TEE's loader requires); drawn from the OS: RSA key
        # generation cannot be seeded through ``cryptography``
        self.tak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.device_registry = DeviceRegistry(":memory:" if root is None else root / "tam.sqlite")
        self.author = Author(vault, registry, self.ask, rng=self.rng.fork("author"))
        # the post-quantum suite (spec/protocol.md 4.1): its own ASK, TSK and MRK (ML-DSA-65),
        # made only when asked for, so that a classical world's keys and bytes are unchanged
        self.pq_ask = self.pq_tsk = self.pq_mrk = None
        self.pq_author: Author | None = None
        if pq:
            self.pq_ask = CoseKey.generate_akp(Alg.ML_DSA_65, self.rng.fork("pq-ask"))
            self.pq_tsk = CoseKey.generate_akp(Alg.ML_DSA_65, self.rng.fork("pq-tsk"))
            self.pq_mrk = CoseKey.generate_akp(Alg.ML_DSA_65, self.rng.fork("pq-mrk"))
            self.pq_author = Author(
                vault, registry, self.pq_ask, Alg.ML_DSA_65, rng=self.rng.fork("pq-author")
            )
        self.tam = Tam(
            self.device_registry,
            vault,
            self.tsk,
            self.mrk.public(),
            [self.ask.public(), *([self.pq_ask.public()] if self.pq_ask else [])],
            rng=self.rng.fork("tam"),
            pq_tsk=self.pq_tsk,
            pq_mrk_public=self.pq_mrk,
        )
        self.vendor_id = vendor_id_for(VENDOR_DOMAIN)
        self.devices: dict[str, SimDevice] = {}
        self.packages: dict[tuple[bytes, int], Published] = {}

    def __repr__(self) -> str:
        return f"World(devices={len(self.devices)}, vault={self.vault.backend})"

    # ------------------------------------------------------------------ ids and keys

    def class_id(self, class_name: str) -> bytes:
        return class_id_for(self.vendor_id, class_name)

    @staticmethod
    def class_key_id(class_name: str) -> str:
        return f"class-{class_name}"

    @property
    def anchors(self) -> TrustAnchors:
        return TrustAnchors(
            tam=[self.tsk.public()], author=[self.ask.public()], ta_signers=[self.tak.public_key()]
        )

    def anchors_for(self, suite: KeySuite) -> TrustAnchors:
        """What a device of ``suite`` trusts: a PQ device only the ML-DSA TSK and ASK."""
        if not suite.is_pq:
            return self.anchors
        if self.pq_tsk is None or self.pq_ask is None:
            raise WireError(Code.COSE_PQ_UNAVAILABLE, "World(pq=True) makes the PQ keys")
        return TrustAnchors(
            tam=[self.pq_tsk.public()],
            author=[self.pq_ask.public()],
            ta_signers=[self.tak.public_key()],
        )

    # ------------------------------------------------------------------ enrol, publish

    def enrol(
        self,
        name: str,
        class_name: str,
        *,
        suite: KeySuite = KeySuite.P256,
        storage: Storage | None = None,
        verify_ta: bool = True,
    ) -> SimDevice:
        """``enrol.keygen`` (in the Agent) → ``enrol.endorse`` (Manufacturer) →
        ``enrol.register`` (TAM)."""
        rng = self.rng.fork(f"device/{name}")
        huk = rng.fork("huk").random_bytes(16)
        if storage is None:
            storage = (
                FileStorage(self.root / "devices" / name / "tee") if self.root else MemoryStorage()
            )
        ree: Storage = (
            FileStorage(self.root / "devices" / name / "ree") if self.root else MemoryStorage()
        )
        # the RPMB stand-in: a rollback counter the REE cannot lower
        counter: MonotonicCounter = (
            FileCounter(self.root / "devices" / name / "rpmb" / "counter")
            if self.root
            else MemoryCounter()
        )
        agent = Agent.open(
            storage,
            huk,
            vendor_id=self.vendor_id,
            class_id=self.class_id(class_name),
            anchors=self.anchors_for(suite),
            suite=suite,
            rng=rng.fork("agent"),
            budget=self.budget,
            verify_ta=verify_ta,
            counter=counter,
        )
        broker = Broker(agent, RegistryFetcher(self.registry), ree, record=self.record)
        endorsement = Endorsement(
            ueid=agent.keys.ueid,
            class_id=self.class_id(class_name),
            vendor_id=self.vendor_id,
            dak=agent.keys.dak_public,
            dsk=agent.keys.dsk_public,
        )
        if suite.is_pq:
            assert self.pq_mrk is not None  # anchors_for checked it
            self.tam.enrol(sign_endorsement(endorsement, self.pq_mrk, Alg.ML_DSA_65))
        else:
            self.tam.enrol(sign_endorsement(endorsement, self.mrk))
        device = SimDevice(name, class_name, agent, broker, huk, storage)
        self.devices[name] = device
        return device

    def build_ta(self, elf: bytes, ta_uuid: bytes, ta_version: int) -> bytes:
        """``publish.build``: an OP-TEE TA image (bootstrap, PSS) signed by the TAK."""
        return sign_ta(
            elf,
            self.tak,
            uuidlib.UUID(bytes=ta_uuid),
            ta_version,
            rng=self.rng.fork(f"ta/{ta_uuid.hex()}/{ta_version}"),
        )

    def publish(
        self,
        image: ImageSource,
        *,
        ta_uuid: bytes,
        sequence: int,
        class_name: str,
        repository: str = "packages/ta",
        pq: bool = False,
        **kw: Any,
    ) -> Published:
        """``publish.*`` by the Author, then the TAM accepts the package. ``pq``: signed by
        the ML-DSA-65 ASK, for the devices of the post-quantum suite."""
        key_id = self.class_key_id(class_name)
        if not self.vault.exists(key_id):
            self.vault.create_class_key(key_id)
        author = self.author
        if pq:
            if self.pq_author is None:
                raise WireError(Code.COSE_PQ_UNAVAILABLE, "World(pq=True) makes the PQ keys")
            author = self.pq_author
        published = author.publish(
            image,
            ta_uuid=ta_uuid,
            sequence=sequence,
            vendor_id=self.vendor_id,
            class_id=self.class_id(class_name),
            class_key_id=key_id,
            repository=repository,
            **kw,
        )
        self.tam.add_package(published.envelope)
        self.packages[(ta_uuid, sequence)] = published
        return published

    # ------------------------------------------------------------------ deploy

    def deploy(
        self,
        device: SimDevice,
        ta_uuid: bytes,
        sequence: int,
        *,
        intercept: Callable[[bytes], bytes | None] | None = None,
    ) -> Attempt:
        """The Deploy flow between the TAM and one device's Broker. ``intercept`` sees every
        TAM → device message and may replace it (the attacker controlling the network/REE)."""
        out: TamOutput | None  # None once the TAM refused a reply the device had refused too
        try:
            out = self.tam.begin(device.ueid, Intent(package=(ta_uuid, sequence)))
        except EdbpError as exc:
            return Attempt(False, f"TAM refused: {exc.code.name}", int(exc.code))
        delivered: list[bytes] = []
        answered: list[bytes] = []
        message = out.send
        last_detail = out.detail
        while message is not None:
            if intercept is not None:
                swapped = intercept(message)
                message = swapped if swapped is not None else message
            delivered.append(message)
            replies = device.broker.deliver(message)
            answered.extend(replies)
            message = None
            for reply in replies:
                device_code = _device_code(reply)
                try:
                    out = self.tam.receive(reply)
                except EdbpError as exc:
                    if device_code is None:
                        return Attempt(False, f"TAM refused: {exc.code.name}", int(exc.code),
                                       tuple(delivered), tuple(answered))
                    out = None
                if device_code is not None:
                    return Attempt(
                        False,
                        f"device refused: {Code(device_code).name}",
                        device_code,
                        tuple(delivered),
                        tuple(answered),
                    )
                assert out is not None
                last_detail = out.detail
                message = out.send
        ok = last_detail in ("installed", "already installed")
        return Attempt(ok, last_detail or "no outcome", None, tuple(delivered), tuple(answered))

    # ------------------------------------------------------------------ audit views

    def cek_of(self, package: AuthorPackage) -> bytes:
        """The Auditor's view: the CEK of a package, obtained from the vault, to prove it is
        nowhere it must not be."""
        return self.vault.rewrap(package.wrapped_cek, lambda cek: bytes(cek))

    def broker_bytes(self, device: SimDevice) -> bytes:
        """Everything a device's Broker handled and stored."""
        handled = b"".join(data for _, data in device.broker.transcript)
        stored = b"".join(device.broker.storage.read(n) for n in device.broker.storage.list())
        return handled + stored

    def registry_bytes(self) -> bytes:
        """Everything the (untrusted) registry holds."""
        if self.root is None or not isinstance(self.registry, DirectoryRegistry):
            return b""
        return b"".join(
            p.read_bytes() for p in sorted((self.root / "registry").rglob("*")) if p.is_file()
        )


def _device_code(reply: bytes) -> int | None:
    """The edbp code of a device's Error reply (None for any other message)."""
    try:
        msg = teep.peek(reply)
    except EdbpError:
        return None
    if not isinstance(msg, teep.Error):
        return None
    _, code = error_code_of(reply)
    return code if code is not None else int(Code.ADAPTER_DEVICE_ERROR)


def contains(haystack: bytes, secret: bytes, window: int = 32) -> bool:
    """True when any ``window``-byte piece of ``secret`` occurs in ``haystack``."""
    if len(secret) <= window:
        return secret in haystack
    return any(
        secret[i : i + window] in haystack for i in range(0, len(secret) - window + 1, window)
    )
