"""What the harness shares across cases: the vendor's cloud, on the reference roles.

The KeyVault is the embedded software vault in a private temporary folder (removed at exit);
the registry lives in memory. Packages are published once per (vendor, class, TA, sequence,
signer, TA image) and reused by every case, which keeps a whole run fast.

Payloads are opaque images, or, for a device that runs OP-TEE's TA-image checks (capability
``ta-check``), real signed OP-TEE TA images around the same bytes: signed by the run's TA
Signing Key (RSA, deterministic from the seed), bootstrap UUID = the component's, ta_version =
``default_ta_version(sequence)``, which is never the SUIT sequence number itself: a device that
checks one counter against the other's floor, or keeps one counter for both, fails ordinary
upgrades instead of passing every case but the one built to catch it. ``TaImage`` names the
deviations attack cases need.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.build.author import Author, Published
from edbp.reference.build.registry import Registry, RegistryError
from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
from edbp.reference.device.broker import parse_payload_uri
from edbp.reference.optee.sign import sign_ta
from edbp.reference.rand import RandomSource, SeededRandom
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_commands import CommandSequence

from edbp.errors import Code
from edbp.vectorgen.rsa_keys import rsa_private_key

__all__ = ["SIGNERS", "TA_SIGNERS", "TA_UUID", "Cloud", "MemoryRegistry", "TaImage", "image_for"]

#: the TA every case deploys (a fixed UUID: cases compare components across steps)
TA_UUID = bytes.fromhex("8aaaf200245011e4abe20002a5d5c51b")
#: who may sign an author manifest in a case: the trusted Author, an unknown one, the TAM
SIGNERS = ("author", "rogue-author", "tam")
#: who may sign a TA image: the trusted TA Signing Key, or one no device trusts
TA_SIGNERS = ("tak", "rogue-tak")


def image_for(ta_uuid: bytes, sequence: int, size: int = 3000) -> bytes:
    """A deterministic payload image per (TA, sequence): cases recognise what got installed."""
    head = b"edbp conformance image %s #%d\n" % (ta_uuid.hex().encode(), sequence)
    return (head * (size // len(head) + 1))[:size]


#: the honest TA version of the package of SUIT sequence number n is n + this (spec/ta-image.md:
#: the two counters are independent; the harness keeps them apart in every case)
TA_VERSION_OFFSET = 100


def default_ta_version(sequence: int) -> int:
    """The TA version the harness signs into the honest image of ``sequence``."""
    return TA_VERSION_OFFSET + sequence


@attrs.frozen
class TaImage:
    """A signed OP-TEE TA image around ``image_for``'s bytes. The defaults are the honest
    image; attack cases change one field: another ``signer``, a ``ta_version`` other than
    ``default_ta_version(sequence)``, a bootstrap ``uuid`` other than the component's."""

    signer: str = attrs.field(default="tak", validator=attrs.validators.in_(TA_SIGNERS))
    ta_version: int | None = None
    uuid: bytes | None = None

    def label(self) -> str:
        """A repository-name-safe label (honest images share one repository per signer)."""
        parts = [self.signer]
        if self.ta_version is not None:
            parts.append(f"v{self.ta_version}")
        if self.uuid is not None:
            parts.append("u" + self.uuid.hex())
        return "-".join(parts)


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
        # TA Signing Keys (RSA, as OP-TEE's loader takes them): primes from the seed
        self._taks: dict[str, rsa.RSAPrivateKey] = {
            name: rsa_private_key(self.rng.fork(name)) for name in TA_SIGNERS
        }
        self._ta_images: dict[tuple[bytes, int, TaImage], bytes] = {}
        self._authors = {
            "author": Author(self.vault, self.registry, self.ask, rng=self.rng.fork("author")),
            "rogue-author": Author(
                self.vault, self.registry, self.rogue_ask, rng=self.rng.fork("rogue")
            ),
            "tam": Author(self.vault, self.registry, self.tsk, rng=self.rng.fork("tam-author")),
        }
        #: (vendor, class, TA UUID, sequence, signer, TA image, uninstall sequence bytes)
        self._published: dict[
            tuple[bytes, bytes, bytes, int, str, TaImage | None, bytes | None], Published
        ] = {}

    def close(self) -> None:
        self._tmp.cleanup()

    def ta_key_der(self) -> bytes:
        """The trusted TA Signing Key's public key, DER SubjectPublicKeyInfo (``ta_keys``)."""
        public = self._taks["tak"].public_key()
        return public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def image(self, ta_uuid: bytes, sequence: int, ta: TaImage | None = None) -> bytes:
        """The payload published for (TA, sequence): opaque bytes, or, with ``ta``, the OP-TEE
        TA image signed around them (deterministic: PSS salt from the seed)."""
        body = image_for(ta_uuid, sequence)
        if ta is None:
            return body
        key = (ta_uuid, sequence, ta)
        if key not in self._ta_images:
            self._ta_images[key] = sign_ta(
                body,
                self._taks[ta.signer],
                uuidlib.UUID(bytes=ta.uuid if ta.uuid is not None else ta_uuid),
                ta.ta_version if ta.ta_version is not None else default_ta_version(sequence),
                rng=self.rng.fork(f"ta-sign/{ta_uuid.hex()}/{sequence}/{ta.label()}"),
            )
        return self._ta_images[key]

    def publish(
        self,
        *,
        vendor_id: bytes,
        class_id: bytes,
        sequence: int,
        ta_uuid: bytes = TA_UUID,
        signer: str = "author",
        ta: TaImage | None = None,
        uninstall: CommandSequence | None = None,
    ) -> Published:
        """``publish.*`` once per package; later calls return the same package. ``ta``: the
        payload is that signed TA image instead of the opaque one; ``uninstall``: the
        manifest's ``suit-uninstall`` sequence (member 24)."""
        seq_bytes = None if uninstall is None else uninstall.encode()
        key = (vendor_id, class_id, ta_uuid, sequence, signer, ta, seq_bytes)
        if key not in self._published:
            class_key = "class-" + class_id.hex()
            if not self.vault.exists(class_key):
                self.vault.create_class_key(class_key)
            repository = "conformance/" + signer + ("" if ta is None else "/ta-" + ta.label())
            if seq_bytes is not None:
                repository += "/uninstall-" + hashlib.sha256(seq_bytes).hexdigest()[:12]
            self._published[key] = self._authors[signer].publish(
                self.image(ta_uuid, sequence, ta),
                ta_uuid=ta_uuid,
                sequence=sequence,
                vendor_id=vendor_id,
                class_id=class_id,
                class_key_id=class_key,
                repository=repository,
                uninstall=uninstall,
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
