"""The per-package delivery template (``DeliveryTemplate``) writes the bytes the general path
writes: same randomness in, same device envelope out, for every key suite a device may have,
and a delivery the template does not fit still gets the general path's bytes."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import attrs
import pytest
from edbp.reference.build.package import AuthorPackage
from edbp.reference.cloud import delivery as delivery_mod
from edbp.reference.cloud.delivery import (
    DeliveryTemplate,
    build_delivery,
    build_delivery_general,
    delivery_for,
    device_encryption_info,
    general_delivery_for,
)
from edbp.reference.cloud.device_registry import DeviceRecord
from edbp.reference.device.keys import KeySuite
from edbp.reference.device.world import World
from edbp.reference.rand import SeededRandom
from edbp.reference.wire.cose_encrypt import Encrypt
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_envelope import Envelope

from edbp.errors import EdbpError

TA = uuid.UUID("8aaaf200-2450-11e4-abe2-0002a5d5c51b").bytes
IMAGE = b"\x7fELF template payload " * 64


@pytest.fixture
def world(tmp_path) -> World:  # type: ignore[no-untyped-def]
    return World(tmp_path, seed="delivery-template", pq=True)


def _package(world: World, *, pq: bool = False) -> AuthorPackage:
    sequence = 2 if pq else 1
    ta = world.build_ta(IMAGE, TA, sequence)
    world.publish(ta, ta_uuid=TA, sequence=sequence, class_name="gw", pq=pq)
    return world.tam.package(TA, sequence)


def _record(world: World, name: str, suite: KeySuite) -> DeviceRecord:
    return world.device_registry.get(world.enrol(name, "gw", suite=suite).ueid)


@pytest.mark.parametrize("suite", list(KeySuite))
def test_template_bytes_equal_the_general_path(world: World, suite: KeySuite) -> None:
    package = _package(world, pq=suite.is_pq)
    for n in range(3):  # the first delivery makes the template; the later ones use it
        record = _record(world, f"dev{n}", suite)
        tsk, alg = world.tam._signer(record)  # the suite the endorsement pins
        enc = device_encryption_info(package, record.dak, world.vault, SeededRandom(f"d{n}"))
        fast = delivery_for(package, record, enc, tsk, alg)
        slow = general_delivery_for(package, record, enc, tsk, alg)
        assert fast.manifest_digest == slow.manifest_digest
        fast_env, slow_env = Envelope.decode(fast.envelope), Envelope.decode(slow.envelope)
        assert fast_env.manifest.encode() == slow_env.manifest.encode()
        assert fast_env.digest_matches()
        if not suite.is_pq:  # ECDSA here is deterministic (RFC 6979): the very same bytes
            assert fast == slow
        else:  # ML-DSA signs hedged: the same envelope but for the signature's bytes
            assert fast_env.integrated == slow_env.integrated
            assert fast_env.authentication.digest == slow_env.authentication.digest
            block = Sign1.decode(fast_env.authentication.blocks[0])
            block.verify(
                tsk.public(),
                algorithms=[alg],
                detached_payload=fast_env.authentication.signed_payload,
            )
        # and the general path's own entry point agrees with the one the TAM calls
        rng_a, rng_b = SeededRandom(f"e{n}"), SeededRandom(f"e{n}")
        a = build_delivery(package, record, world.vault, tsk, alg, rng_a)
        b = build_delivery_general(package, record, world.vault, tsk, alg, rng_b)
        if not suite.is_pq:
            assert a == b
    assert delivery_mod._TEMPLATES[package] is not None


def test_template_cut_from_the_general_encoding(world: World) -> None:
    package = _package(world)
    template = DeliveryTemplate.of(package)
    assert template is not None
    assert package.envelope in template.envelope_tail
    # the COSE_Encrypt head and the recipient come from a probe delivery by the general path:
    # a real device's encryption info starts with that head, and its recipient is the splice
    record = _record(world, "dev", KeySuite.P256)
    enc = device_encryption_info(package, record.dak, world.vault, SeededRandom("real"))
    assert template.encrypt_head and enc.encode().startswith(template.encrypt_head)
    assert template.content_protected == package.content_protected
    assert template.recipient is not None


@pytest.mark.parametrize("suite", list(KeySuite))
def test_spliced_delivery_draws_what_the_general_path_draws(world: World, suite: KeySuite) -> None:
    """The TAM's entry point (encryption info spliced too, for a P-256 DAK) and the general
    path leave their seeded sources at the same place, and every delivery's ephemeral key is
    fresh (two deliveries to one device differ in it)."""
    package = _package(world, pq=suite.is_pq)
    record = _record(world, "dev", suite)
    tsk, alg = world.tam._signer(record)
    rng_a, rng_b = SeededRandom("same"), SeededRandom("same")
    first = build_delivery(package, record, world.vault, tsk, alg, rng_a)
    build_delivery_general(package, record, world.vault, tsk, alg, rng_b)
    assert rng_a.random_bytes(16) == rng_b.random_bytes(16)
    second = build_delivery(package, record, world.vault, tsk, alg)
    assert first.envelope != second.envelope
    assert first.dak_thumbprint == second.dak_thumbprint == record.dak.thumbprint()


def test_a_delivery_the_template_does_not_fit_takes_the_general_path(world: World) -> None:
    package = _package(world)
    record = _record(world, "dev", KeySuite.P256)
    build_delivery(package, record, world.vault, world.tsk, rng=SeededRandom("first"))
    template = delivery_mod._TEMPLATES[package]
    assert template is not None
    # a template without a recipient, whose content headers differ from the delivery's,
    # refuses to splice it ...
    delivery_mod._TEMPLATES[package] = attrs.evolve(
        template, recipient=None, content_unprotected={5: b"other"}
    )
    try:
        fast = build_delivery(package, record, world.vault, world.tsk, rng=SeededRandom("x"))
    finally:
        delivery_mod._TEMPLATES[package] = template
    # ... and the delivery is the general path's, byte for byte
    slow = build_delivery_general(package, record, world.vault, world.tsk, rng=SeededRandom("x"))
    assert fast.envelope == slow.envelope


def _refusal(call: Callable[[], object]) -> object:
    try:
        call()
    except EdbpError as e:
        return (type(e), e.code)
    return None


def test_the_spliced_path_refuses_what_the_general_path_refuses(world: World) -> None:
    """Same refusal, same code, whichever path runs: a class-key version the vault lacks, a CEK
    of another length than the content algorithm's, a DAK that is not a point of its curve."""
    package = _package(world)
    record = _record(world, "dev", KeySuite.P256)
    build_delivery(package, record, world.vault, world.tsk)  # the template exists
    assert delivery_mod._TEMPLATES[package] is not None

    def both(pkg: AuthorPackage, target: object) -> tuple[object, object]:
        fast = _refusal(lambda: build_delivery(pkg, target, world.vault, world.tsk))  # type: ignore[arg-type]
        slow = _refusal(
            lambda: build_delivery_general(pkg, target, world.vault, world.tsk)  # type: ignore[arg-type]
        )
        return fast, slow

    # a version of the class key the vault does not hold
    missing = attrs.evolve(package.wrapped_cek, version=package.wrapped_cek.version + 7)
    fast, slow = both(attrs.evolve(package, wrapped_cek=missing), record)
    assert fast == slow and fast is not None
    # a CEK of 32 bytes for the package's 128-bit content algorithm
    long_cek = world.vault.wrap_cek(package.wrapped_cek.key_id, bytes(32))
    fast, slow = both(attrs.evolve(package, wrapped_cek=long_cek), record)
    assert fast == slow and fast is not None
    # a DAK whose point is off the curve
    dak = record.dak
    bad = CoseKey(kty=dak.kty, crv=dak.crv, x=dak.x, y=bytes(32))
    fast, slow = both(package, Target(record.ueid, bad))
    assert fast == slow and fast is not None


@attrs.frozen
class Target:
    ueid: bytes
    dak: CoseKey


def test_binding_is_the_general_encoding(world: World) -> None:
    """``Delivery.binding`` assembled from the package's encoded part writes the general
    encoder's bytes, for deliveries of the usual types and of others (general path)."""
    package = _package(world)
    record = _record(world, "dev", KeySuite.P256)
    delivery = build_delivery(package, record, world.vault, world.tsk)
    for challenge, token in ((bytes(8), bytes(16)), (bytes(300), bytes(24)), (b"", b"t")):
        made = delivery.binding(package, challenge, token)
        assert made == delivery._general_binding(package, challenge, token)
    for sequence in (0, 23, 24, 255, 256, 65536, 2**32, 2**40):
        other = attrs.evolve(delivery, sequence=sequence)
        assert other.binding(package, b"c" * 8, b"t" * 16) == other._general_binding(
            package, b"c" * 8, b"t" * 16
        )
    sha512 = attrs.evolve(delivery, manifest_digest=SuitDigest.of(b"m", -44))
    assert sha512.binding(package, b"c", b"t") == sha512._general_binding(package, b"c", b"t")


def test_a_vault_with_its_own_rewrap_gets_the_general_seal(world: World) -> None:
    """A vault that is not the KeyVault ``rewrap`` (a wrapper, an HSM building the recipient
    itself) is handed the general path's ``seal``, which returns the COSE_Encrypt, as before;
    the delivery's bytes are the general path's."""
    package = _package(world)
    record = _record(world, "dev", KeySuite.P256)
    build_delivery(package, record, world.vault, world.tsk)  # the template exists
    seen: list[object] = []

    class Wrapper:
        def rewrap(self, wrapped: object, seal: Callable[[bytearray], object]) -> object:
            def spy(cek: bytearray) -> object:
                out = seal(cek)
                seen.append(out)
                return out

            return world.vault.rewrap(wrapped, spy)  # type: ignore[arg-type]

    fast = build_delivery(package, record, Wrapper(), world.tsk, rng=SeededRandom("w"))  # type: ignore[arg-type]
    slow = build_delivery_general(package, record, world.vault, world.tsk, rng=SeededRandom("w"))
    assert fast == slow
    assert len(seen) == 1 and isinstance(seen[0], Encrypt)
