"""Author pipeline: encrypt, wrap, sign, publish; on both KeyVault backends and every registry."""

from __future__ import annotations

import io

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from edbp.reference.build.author import Author, Published
from edbp.reference.build.package import (
    class_id_for,
    read_author_envelope,
    staging_component,
    ta_component,
    vendor_id_for,
)
from edbp.reference.build.registry import Registry
from edbp.reference.build.registry_dir import DirectoryRegistry
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.rand import SeededRandom
from edbp.reference.wire.cose_algs import Alg, Curve
from edbp.reference.wire.cose_encrypt import enc_structure
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_crypto import sign_envelope
from edbp.reference.wire.suit_envelope import Common, Envelope, Manifest

from edbp.errors import Code, EdbpError, VerificationError

VENDOR = vendor_id_for("acme.example")
CLASS = class_id_for(VENDOR, "gateway")
TA = bytes.fromhex("8aaaf200245011e4abe20002a5d5c51b")
KEY = "acme.sample-ta/gateway"
ASK = CoseKey.generate(Curve.P256, SeededRandom("ask"))
IMAGE = bytes(range(251)) * 400  # ~100 KB, not a multiple of any chunk size


def publish(author: Author, image=IMAGE, seq: int = 1, **kw) -> Published:  # type: ignore[no-untyped-def]
    args = {
        "ta_uuid": TA,
        "sequence": seq,
        "vendor_id": VENDOR,
        "class_id": CLASS,
        "class_key_id": KEY,
        "repository": "acme/sample-ta",
    }
    args.update(kw)
    return author.publish(image, **args)


def decrypt(vault: KeyVault, published: Published, ciphertext: bytes) -> bytes:
    """What a device does once it has the CEK (here fetched from the vault, test only)."""
    p = published.package
    cek = vault.rewrap(p.wrapped_cek, bytes)
    aad = enc_structure("Encrypt", p.content_protected, b"")
    if p.content_alg == Alg.A128GCM:
        return AESGCM(cek).decrypt(p.iv, ciphertext, aad)
    d = Cipher(algorithms.AES(cek), modes.CTR(p.iv)).decryptor()
    return d.update(ciphertext) + d.finalize()


def test_publish_end_to_end(vault: KeyVault, registry: Registry) -> None:
    vault.create_class_key(KEY)
    author = Author(vault, registry, ASK, rng=SeededRandom("a"), chunk=4096)
    published = publish(author)
    p = published.package
    assert [s.step for s in published.steps] == [
        "publish.build",
        "publish.encrypt",
        "publish.wrap_cek",
        "publish.sign",
        "publish.push",
    ]
    # the registry holds exactly what was published, and it reads back as a verified package
    ref = registry.resolve("acme/sample-ta", "seq-1")
    assert ref == published.ref
    again = read_author_envelope(registry.pull_envelope(ref), ASK.public())
    assert again == p
    ciphertext = registry.pull_payload(ref)
    assert p.sequence == 1 and p.ta_uuid == TA and p.component_id == ta_component(TA)
    assert p.vendor_id == VENDOR and p.class_id == CLASS
    assert p.image_digest == SuitDigest.of(IMAGE) and p.image_size == len(IMAGE)
    assert p.ciphertext_digest == SuitDigest.of(ciphertext) and p.ciphertext_size == len(ciphertext)
    assert p.uri == f"oci://acme/sample-ta@{ref.payload_digest}"
    assert p.content_alg == Alg.A128GCM and len(p.iv) == 12 and len(ciphertext) == len(IMAGE) + 16
    assert p.wrapped_cek.key_id == KEY and p.wrapped_cek.version == 1
    assert decrypt(vault, published, ciphertext) == IMAGE
    # nothing in the registry is plaintext or a CEK
    cek = vault.rewrap(p.wrapped_cek, bytes)
    for blob in (ciphertext, published.envelope):
        assert IMAGE[:64] not in blob and cek not in blob


def test_streaming_is_byte_identical_to_whole_image(tmp_path, vault: KeyVault) -> None:  # type: ignore[no-untyped-def]
    vault.create_class_key(KEY)
    outs = []
    for i, (chunk, source) in enumerate(
        [
            (1 << 20, IMAGE),
            (7, IMAGE),
            (4096, io.BytesIO(IMAGE)),
            (4096, iter([IMAGE[:5], IMAGE[5:9000], IMAGE[9000:]])),
        ]
    ):
        registry = DirectoryRegistry(tmp_path / f"r{i}")
        author = Author(vault, registry, ASK, rng=SeededRandom("same"), chunk=chunk)
        published = publish(author, image=source)
        outs.append(
            (
                registry.pull_payload(published.ref),
                published.package.image_digest,
                published.package.iv,
            )
        )
    assert all(o[1:] == outs[0][1:] for o in outs)  # same CEK/IV from the seed, same digests
    assert all(o[0] == outs[0][0] for o in outs)  # and the same ciphertext, whatever the chunking


def test_ctr_profile(vault: KeyVault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    vault.create_class_key(KEY)
    registry = DirectoryRegistry(tmp_path)
    published = publish(Author(vault, registry, ASK, chunk=1000), content_alg=Alg.A128CTR)
    ct = registry.pull_payload(published.ref)
    assert (
        published.package.content_alg == Alg.A128CTR
        and len(ct) == len(IMAGE)
        and len(published.package.iv) == 16
    )
    assert published.package.content_protected == b""
    assert decrypt(vault, published, ct) == IMAGE


def test_every_publish_has_a_fresh_cek_and_iv(vault: KeyVault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    vault.create_class_key(KEY)
    registry = DirectoryRegistry(tmp_path)
    author = Author(vault, registry, ASK)
    a, b = publish(author, seq=1), publish(author, seq=2)
    assert a.package.iv != b.package.iv
    assert vault.rewrap(a.package.wrapped_cek, bytes) != vault.rewrap(b.package.wrapped_cek, bytes)
    assert registry.tags("acme/sample-ta") == ["seq-1", "seq-2"]


def test_refusals_leave_the_registry_untouched(vault: KeyVault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    registry = DirectoryRegistry(tmp_path)
    author = Author(vault, registry, ASK)
    with pytest.raises(EdbpError) as e:
        publish(author)  # no class key yet
    assert e.value.code == Code.KEYVAULT_NO_SUCH_KEY
    vault.create_class_key(KEY)
    cases = [
        ({"ta_uuid": b"short"}, Code.SUIT_MALFORMED),
        ({"class_id": b"x" * 17}, Code.SUIT_MALFORMED),
        ({"seq": -1}, Code.SUIT_MALFORMED),
        ({"seq": True}, Code.SUIT_MALFORMED),
        ({"content_alg": Alg.A256GCM}, Code.COSE_ALG_NOT_ALLOWED),
        ({"repository": "Bad Name"}, Code.REGISTRY_BAD_REFERENCE),
        ({"class_key_id": "no-such-key"}, Code.KEYVAULT_NO_SUCH_KEY),
    ]
    for kw, code in cases:
        with pytest.raises(EdbpError) as e:
            publish(author, **kw)
        assert e.value.code == code, kw
    assert registry.tags("acme/sample-ta") == []
    with pytest.raises(EdbpError) as e:
        Author(vault, registry, ASK.public())
    assert e.value.code == Code.COSE_BAD_KEY


def test_reading_an_envelope_checks_signature_and_layout(vault: KeyVault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    vault.create_class_key(KEY)
    published = publish(Author(vault, DirectoryRegistry(tmp_path), ASK))
    other = CoseKey.generate(Curve.P256, SeededRandom("other"))
    with pytest.raises(VerificationError) as e:
        read_author_envelope(published.envelope, other.public())
    assert e.value.code == Code.SUIT_AUTH_FAILED
    env = Envelope.decode(published.envelope)
    forged = Manifest(
        sequence_number=99,
        common=env.manifest.common,
        install=env.manifest.install,
        payload_fetch=env.manifest.payload_fetch,
        component_id=env.manifest.component_id,
    )
    spliced = Envelope(env.authentication, forged).encode()  # old signature, new manifest
    with pytest.raises(VerificationError) as e:
        read_author_envelope(spliced, ASK.public())
    assert e.value.code == Code.SUIT_DIGEST_MISMATCH
    # well signed but not the edbp author layout
    bare = Manifest(
        sequence_number=1,
        common=Common(components=[ta_component(TA), staging_component(TA)]),
        component_id=(b"edbp", b"author", TA),
    )
    with pytest.raises(EdbpError) as e:
        read_author_envelope(sign_envelope(bare, ASK).encode(), ASK.public())
    assert e.value.code == Code.SUIT_MALFORMED
    for junk in (b"", b"\xa0", published.envelope[:-3]):
        with pytest.raises(EdbpError):
            read_author_envelope(junk, ASK.public())
