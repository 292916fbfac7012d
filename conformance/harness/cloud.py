"""What the harness shares across cases: the vendor's cloud, on the reference roles.

The KeyVault is the embedded software vault in a private temporary folder (removed at exit);
the registry lives in memory. Packages are published once per (vendor, class, TA, sequence,
signer) and reused by every case, which keeps a whole run fast.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from edbp.reference.build.author import Author, Published
from edbp.reference.build.registry import Registry, RegistryError
from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
from edbp.reference.device.broker import parse_payload_uri
from edbp.reference.rand import RandomSource, SeededRandom
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_key import CoseKey

from edbp.errors import Code

__all__ = ["SIGNERS", "TA_UUID", "Cloud", "MemoryRegistry", "image_for"]

#: the TA every case deploys (a fixed UUID: cases compare components across steps)
TA_UUID = bytes.fromhex("8aaaf200245011e4abe20002a5d5c51b")
#: who may sign an author manifest in a case: the trusted Author, an unknown one, the TAM
SIGNERS = ("author", "rogue-author", "tam")


def image_for(ta_uuid: bytes, sequence: int, size: int = 3000) -> bytes:
    """A deterministic payload image per (TA, sequence): cases recognise what got installed."""
    head = b"edbp conformance image %s #%d\n" % (ta_uuid.hex().encode(), sequence)
    return (head * (size // len(head) + 1))[:size]


class MemoryRegistry(Registry):
    """An OCI-like registry in a dict: the harness is the untrusted distributor."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._tags: dict[tuple[str, str], bytes] = {}

    def __repr__(self) -> str:
        return f"MemoryRegistry(blobs={len(self._blobs)})"

    def _put_blob(self, name: str, digest: str, data: bytes) -> None:
        self._blobs[digest] = bytes(data)

    def _get_blob(self, name: str, digest: str) -> bytes:
        try:
            return self._blobs[digest]
        except KeyError:
            raise RegistryError(Code.REGISTRY_NOT_FOUND, f"no blob {digest}") from None

    def _put_manifest(self, name: str, tag: str, data: bytes) -> None:
        self._tags[(name, tag)] = bytes(data)

    def _get_manifest(self, name: str, tag: str) -> bytes:
        try:
            return self._tags[(name, tag)]
        except KeyError:
            raise RegistryError(Code.REGISTRY_NOT_FOUND, f"no package {name}:{tag}") from None

    def tags(self, name: str) -> list[str]:
        return sorted(t for n, t in self._tags if n == name)

    def _iter_blob(self, name: str, digest: str) -> Iterator[bytes]:
        yield self._get_blob(name, digest)

    def payload(self, uri: str) -> bytes:
        """What a Broker fetching ``uri`` gets (the blob, checked against its digest)."""
        name, digest = parse_payload_uri(uri)
        return self.get_blob(name, digest)


class Cloud:
    """The vendor side of a run: keys, vault, registry and published packages."""

    def __init__(self, seed: str = "edbp-conformance") -> None:
        self.rng: RandomSource = SeededRandom(seed)
        self._tmp = tempfile.TemporaryDirectory(prefix="edbp-conformance-")
        self.vault = SoftwareKeyVault(
            Path(self._tmp.name) / "vault.sealed",
            self.rng.fork("master").random_bytes(32),
            self.rng.fork("vault"),
        )
        self.registry = MemoryRegistry()

        def key(label: str) -> CoseKey:
            return CoseKey.generate(Curve.P256, self.rng.fork(label))

        self.ask = key("ask")  # the trusted Author Signing Key
        self.tsk = key("tsk")  # the trusted TAM Signing Key
        self.tsk2 = key("tsk2")  # the TAM key after a rotation
        self.mrk = key("mrk")  # the Manufacturer Root Key (test MRK)
        self.rogue_ask = key("rogue-ask")  # keys no device trusts
        self.rogue_tsk = key("rogue-tsk")
        self._authors = {
            "author": Author(self.vault, self.registry, self.ask, rng=self.rng.fork("author")),
            "rogue-author": Author(
                self.vault, self.registry, self.rogue_ask, rng=self.rng.fork("rogue")
            ),
            "tam": Author(self.vault, self.registry, self.tsk, rng=self.rng.fork("tam-author")),
        }
        self._published: dict[tuple[bytes, bytes, bytes, int, str], Published] = {}

    def close(self) -> None:
        self._tmp.cleanup()

    def publish(
        self,
        *,
        vendor_id: bytes,
        class_id: bytes,
        sequence: int,
        ta_uuid: bytes = TA_UUID,
        signer: str = "author",
    ) -> Published:
        """``publish.*`` once per package; later calls return the same package."""
        key = (vendor_id, class_id, ta_uuid, sequence, signer)
        if key not in self._published:
            class_key = "class-" + class_id.hex()
            if not self.vault.exists(class_key):
                self.vault.create_class_key(class_key)
            self._published[key] = self._authors[signer].publish(
                image_for(ta_uuid, sequence),
                ta_uuid=ta_uuid,
                sequence=sequence,
                vendor_id=vendor_id,
                class_id=class_id,
                class_key_id=class_key,
                repository="conformance/" + signer,
            )
        return self._published[key]

    def rotate_and_rewrap(self, published: Published) -> Published:
        """``rotate.class_key``: a new class-key version, and ``published`` re-wrapped under
        it by its Author (same sequence, payload and CEK; new envelope)."""
        class_key = "class-" + published.package.class_id.hex()
        self.vault.rotate(class_key)
        return self._authors["author"].rewrap(published.envelope)

    def cek_of(self, published: Published) -> bytes:
        """The auditor's view of a package's CEK (from the vault): to prove it never shows up
        where it must not."""
        out: bytes = self.vault.rewrap(published.package.wrapped_cek, lambda cek: bytes(cek))
        return out
