"""SUIT interop: the published examples of draft-ietf-suit-manifest and
draft-ietf-suit-firmware-encryption decode, re-encode byte for byte, verify, and decrypt.

``EXTERNAL`` is the manifest of external files and what edbp makes of each: every file is
listed with the result the tests pin (passed in the strict edbp profile, or passed only with
``lenient`` and why it is outside the profile). A change in behaviour fails a test here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from edbp.reference.wire import cbor, suit
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_commands import EncryptionInfo
from edbp.reference.wire.suit_core import wrap
from edbp.reference.wire.suit_crypto import SUIT_MAC_ALGS, SUIT_SIGNATURE_ALGS

from edbp.errors import Code, EdbpError, VerificationError

INTEROP = Path(__file__).resolve().parent.parent / "interop"
FW = INTEROP / "suit-firmware-encryption"
MS = INTEROP / "suit-manifest"
PLAINTEXT = b"This is a real firmware image."


def read_hex(path: Path) -> bytes:
    return bytes.fromhex("".join(path.read_text().split()))


def example_blocks(n: int) -> list[bytes]:
    text = (MS / f"example{n}.txt").read_text()
    return [bytes.fromhex("".join(b.split())) for b in re.findall(r"~~~\n([0-9a-f\n]+)~~~", text)]


def author_key() -> CoseKey:
    return CoseKey.from_cryptography(
        load_pem_private_key((MS / "private_key.pem").read_bytes(), None)  # type: ignore[arg-type]
    ).public()


def kek() -> CoseKey:
    keys = json.loads((FW / "keys.json").read_text())
    return CoseKey.symmetric(bytes.fromhex(keys["aes_kw_kek"]["k_hex"]), kid=b"kid-1")


def receiver() -> CoseKey:
    r = json.loads((FW / "keys.json").read_text())["es_ecdh_receiver"]
    return CoseKey.from_jwk(
        {
            "kty": "EC",
            "crv": "P-256",
            "x_hex": r["x_hex"],
            "y_hex": r["y_hex"],
            "d_hex": r["d_hex"],
            "kid": r["kid"],
        }
    )


# name -> (bytes loader, strict result: None = passes strict decoding, else the code and the
#          reason it is outside the edbp profile, authentication: "sign1" | "mac0" | "none" |
#          "stale")
EXTERNAL: dict[str, tuple[object, tuple[Code, str] | None, str]] = {}
for _n in range(6):
    for _j, _label in enumerate(("unsigned", "signed", "severable-members")):
        if _n != 2 and _j == 2:
            continue
        EXTERNAL[f"suit-manifest/example{_n}.txt#{_label}"] = (
            (lambda n=_n, j=_j: example_blocks(n)[j]),
            {
                0: (
                    Code.SUIT_UNSUPPORTED_COMMAND,
                    "invoke sequence (secure boot), not used by edbp",
                ),
                1: None,
                2: (Code.SUIT_UNSUPPORTED_COMMAND, "invoke sequence, not used by edbp"),
                3: (
                    Code.SUIT_UNSUPPORTED_COMMAND,
                    "directive-try-each (A/B slots), not in profile",
                ),
                4: (Code.SUIT_UNSUPPORTED_COMMAND, "load sequence and invoke, not in profile"),
                5: (Code.SUIT_UNSUPPORTED_COMMAND, "invoke sequence, not used by edbp"),
            }[_n],
            "none" if _j == 0 else "sign1",
        )
for _name, _strict, _auth in (
    (
        "suit-manifest-aes-kw.hex.signed",
        None,  # COSE_Mac0 (HMAC 256/256) authentication: decoded, verified with SUIT_MAC_ALGS
        "mac0",
    ),
    (
        "suit-manifest-aes-kw-content.hex.signed",
        None,
        "mac0",
    ),
    (
        "suit-manifest-aes-kw-slot.hex.signed",
        None,
        "mac0",
    ),
    (
        "suit-manifest-es-ecdh-content.hex.signed",
        None,  # unsorted map keys: accepted on receive (protocol §5), signed bytes as received
        "sign1",
    ),
    (
        "suit-manifest-es-ecdh-dependency.hex.signed",
        None,  # unsorted keys accepted; the dependent manifest's upstream signature is stale
        "stale",
    ),
):
    EXTERNAL[f"suit-firmware-encryption/{_name}"] = (
        (lambda n=_name: read_hex(FW / n)),
        _strict,
        _auth,
    )


@pytest.mark.parametrize("name", sorted(EXTERNAL))
def test_strict_decoding_matches_the_manifest_of_external_files(name: str) -> None:
    load, strict, _ = EXTERNAL[name]
    data = load()  # type: ignore[operator]
    if strict is None:
        suit.Envelope.decode(data)
    else:
        with pytest.raises(EdbpError) as info:
            suit.Envelope.decode(data)
        assert info.value.code == strict[0]


@pytest.mark.parametrize("name", sorted(EXTERNAL))
def test_examples_reencode_byte_identically_and_digest_verifies(name: str) -> None:
    data = EXTERNAL[name][0]()  # type: ignore[operator]
    envelope = suit.Envelope.decode(data, lenient=True)
    assert envelope.encode() == data
    assert envelope.digest_matches()
    assert hashlib.sha256(wrap(envelope.manifest.encode())).digest() == (
        envelope.authentication.digest.digest
    )


@pytest.mark.parametrize("name", sorted(EXTERNAL))
def test_examples_authenticate(name: str) -> None:
    data = EXTERNAL[name][0]()  # type: ignore[operator]
    auth = EXTERNAL[name][2]
    envelope = suit.Envelope.decode(data, lenient=True)
    if auth == "sign1":
        assert suit.verify_envelope(envelope, author_key(), lenient=True) == envelope.manifest
    elif auth == "mac0":
        # the reference's COSE_Mac0 against an independent computation (MAC_structure, RFC 9052)
        block = cbor.loads(envelope.authentication.blocks[0])
        protected, _, _, tag = block.value
        mac_structure = cbor.dumps(["MAC0", protected, b"", envelope.authentication.signed_payload])
        assert hmac.compare_digest(hmac.new(b"a" * 32, mac_structure, hashlib.sha256).digest(), tag)
        mac_key = CoseKey.symmetric(b"a" * 32)
        assert (
            suit.verify_envelope(envelope, mac_key, algorithms=SUIT_MAC_ALGS) == envelope.manifest
        )
        for key, algs, detail in (
            (CoseKey.symmetric(b"b" * 32), SUIT_MAC_ALGS, "COSE_BAD_MAC"),
            (mac_key, SUIT_SIGNATURE_ALGS, "only signatures"),  # the default: no MAC
            (author_key(), SUIT_SIGNATURE_ALGS, "only signatures"),
        ):
            with pytest.raises(VerificationError) as info:
                suit.verify_envelope(envelope, key, algorithms=algs)
            assert info.value.code == Code.SUIT_AUTH_FAILED and detail in info.value.detail
    else:
        with pytest.raises(VerificationError) as info:
            suit.verify_envelope(envelope, author_key(), lenient=True)
        assert info.value.code == Code.SUIT_AUTH_FAILED


def test_tampered_example_fails_digest_then_signature() -> None:
    data = example_blocks(1)[1]
    envelope = suit.Envelope.decode(data)
    manifest = suit.Manifest.decode(envelope.manifest.encode())
    bumped = suit.Envelope(
        envelope.authentication,
        suit.Manifest(
            sequence_number=manifest.sequence_number + 1,
            common=manifest.common,
            validate=manifest.validate,
            install=manifest.install,
        ),
    )
    with pytest.raises(VerificationError) as info:
        suit.verify_envelope(bumped, author_key())
    assert info.value.code == Code.SUIT_DIGEST_MISMATCH
    # a correct digest but a signature over another digest
    forged_wrapper = suit.AuthenticationWrapper(
        bumped.manifest.digest(), envelope.authentication.blocks
    )
    with pytest.raises(VerificationError) as info:
        suit.verify_envelope(suit.Envelope(forged_wrapper, bumped.manifest), author_key())
    assert info.value.code == Code.SUIT_AUTH_FAILED


def test_example1_rebuilds_deterministically_from_its_fields() -> None:
    envelope = suit.Envelope.decode(example_blocks(1)[1])
    m = envelope.manifest
    assert cbor.dumps(m.to_cbor()) == m.raw
    assert cbor.dumps(m.common.to_cbor()) == m.common.raw
    assert m.install is not None and cbor.dumps(m.install.to_cbor()) == m.install.raw
    assert cbor.dumps(envelope.authentication.to_cbor()) == envelope.authentication.raw


def test_example2_severed_members_are_checked_against_their_digests() -> None:
    data = example_blocks(2)[2]
    envelope = suit.Envelope.decode(data, lenient=True)
    assert set(envelope.severed) == {suit.ManifestKey.INSTALL, suit.ManifestKey.TEXT}
    install = envelope.sequence(suit.ManifestKey.INSTALL, lenient=True)
    assert install is not None and [c.code for c in install] == [20, 21, 3]
    body = cbor.loads(data).value
    body[20] = body[20][:-1] + bytes([body[20][-1] ^ 1])
    with pytest.raises(EdbpError) as info:
        suit.Envelope.decode(cbor.dumps(cbor.Tag(107, body)), lenient=True)
    assert info.value.code == Code.SUIT_SEVERABLE_MISMATCH


def test_example1_install_steps_resolve_parameters() -> None:
    envelope = suit.Envelope.decode(example_blocks(1)[1])
    steps = suit.run(envelope, suit.ManifestKey.INSTALL)
    assert [s.command.name for s in steps] == [
        "condition-vendor-identifier",
        "condition-class-identifier",
        "directive-fetch",
        "condition-image-match",
    ]
    fetch = steps[2].parameters
    assert fetch.uri == "http://example.com/file.bin"
    assert fetch.vendor_id == bytes.fromhex("fa6b4a53d5ad5fdfbe9de663e4d41ffe")
    assert fetch.image_size == 34768
    suit.check_vendor(fetch, bytes.fromhex("fa6b4a53d5ad5fdfbe9de663e4d41ffe"))
    with pytest.raises(VerificationError) as info:
        suit.check_class(fetch, bytes(16))
    assert info.value.code == Code.SUIT_CONDITION_CLASS


def test_out_of_profile_commands_are_refused_by_the_processing_helpers() -> None:
    envelope = suit.Envelope.decode(example_blocks(0)[1], lenient=True)
    with pytest.raises(EdbpError) as info:
        suit.run(envelope, suit.ManifestKey.INVOKE, lenient=True)
    assert info.value.code == Code.SUIT_UNSUPPORTED_COMMAND


# --------------------------------------------------------------------------- encryption


@pytest.mark.parametrize("delivery", ["aes-kw", "es-ecdh"])
@pytest.mark.parametrize("mode", ["aes-gcm", "aes-ctr"])
def test_encryption_info_examples_decrypt(delivery: str, mode: str) -> None:
    info = EncryptionInfo.from_cbor(
        read_hex(FW / f"suit-encryption-info-{delivery}-{mode}.hex"), False
    )
    ciphertext = read_hex(FW / f"encrypted-payload-{delivery}-{mode}.hex")
    key = kek() if delivery == "aes-kw" else receiver()
    plaintext = suit.decrypt_payload(info, ciphertext, key, digest_checked=mode == "aes-ctr")
    assert plaintext == PLAINTEXT


def test_aes_ctr_needs_the_signed_digest() -> None:
    info = EncryptionInfo.from_cbor(read_hex(FW / "suit-encryption-info-aes-kw-aes-ctr.hex"), False)
    with pytest.raises(EdbpError):
        suit.decrypt_payload(info, read_hex(FW / "encrypted-payload-aes-kw-aes-ctr.hex"), kek())


def test_wrong_key_gives_an_indistinct_decryption_failure() -> None:
    from edbp.errors import DecryptionFailed

    info = EncryptionInfo.from_cbor(read_hex(FW / "suit-encryption-info-aes-kw-aes-gcm.hex"), False)
    wrong = CoseKey.symmetric(b"b" * 16, kid=b"kid-1")
    with pytest.raises(DecryptionFailed) as info_exc:
        suit.decrypt_payload(info, read_hex(FW / "encrypted-payload-aes-kw-aes-gcm.hex"), wrong)
    assert info_exc.value.detail == ""


def test_manifest_with_encryption_info_decrypts_its_fetched_payload() -> None:
    envelope = suit.Envelope.decode(read_hex(FW / "suit-manifest-aes-kw.hex.signed"), lenient=True)
    steps = suit.run(envelope, suit.ManifestKey.INSTALL, lenient=True)
    fetch, copy = steps
    assert fetch.command.code == suit.SuitCommand.DIRECTIVE_FETCH and fetch.index == 1
    assert fetch.parameters.uri == "coaps://example.com/encrypted-firmware"
    assert copy.command.code == suit.SuitCommand.DIRECTIVE_COPY and copy.index == 0
    assert copy.parameters.source_component == 1
    info = copy.parameters.encryption_info
    assert info is not None
    ciphertext = read_hex(FW / "encrypted-payload-aes-kw-aes-gcm.hex")
    assert len(ciphertext) == fetch.parameters.image_size
    assert suit.decrypt_payload(info, ciphertext, kek(), lenient=True) == PLAINTEXT


def test_two_layer_dependency_example_processes_end_to_end() -> None:
    """draft-ietf-suit-trust-domains: the dependent (TAM-side) manifest carries the encryption
    info and the content; the dependency (author) manifest carries the image digest and writes."""
    data = read_hex(FW / "suit-manifest-es-ecdh-dependency.hex.signed")
    envelope = suit.Envelope.decode(data, lenient=True)
    common = envelope.manifest.common
    assert common.is_dependency(1) and suit.component_for(common, 1) == (
        b"dependency-manifest.suit",
    )
    install = envelope.sequence(suit.ManifestKey.INSTALL, lenient=True)
    assert install is not None
    steps, store = suit.steps(install, common)
    assert [(s.index, s.command.name) for s in steps] == [
        (1, "directive-fetch"),
        (1, "condition-dependency-integrity"),
        (1, "directive-process-dependency"),
    ]
    params = steps[1].parameters
    fetched = suit.resolve_uri(envelope, params.uri or "")
    assert fetched is not None
    dependency = suit.check_dependency_integrity(params, fetched, lenient=True, keys=author_key())
    # process-dependency: the dependency runs with the dependent's parameters for its components
    dep_steps = suit.run(
        dependency, suit.ManifestKey.INSTALL, lenient=True, inherited=store.by_component(common)
    )
    assert [s.command.name for s in dep_steps] == ["directive-write", "condition-image-match"]
    write = dep_steps[0].parameters
    assert write.content is not None and write.encryption_info is not None
    assert write.image_digest is not None  # the dependency's own override
    plaintext = suit.decrypt_payload(write.encryption_info, write.content, receiver(), lenient=True)
    suit.check_image(dep_steps[1].parameters, plaintext)
    assert plaintext == PLAINTEXT
    with pytest.raises(VerificationError):
        suit.check_image(dep_steps[1].parameters, plaintext + b"!")
    tampered = fetched[:-1] + bytes([fetched[-1] ^ 1])
    with pytest.raises(EdbpError):
        suit.check_dependency_integrity(params, tampered, lenient=True)
    with pytest.raises(VerificationError) as info:
        suit.check_dependency_integrity(params, fetched, lenient=True, keys=receiver().public())
    assert info.value.code == Code.SUIT_AUTH_FAILED


@pytest.mark.parametrize(
    "name",
    [
        "suit-manifest-aes-kw.hex.signed",
        "suit-manifest-aes-kw-content.hex.signed",
        "suit-manifest-aes-kw-slot.hex.signed",
        "suit-manifest-es-ecdh-content.hex.signed",
        "suit-manifest-es-ecdh-dependency.hex.signed",
    ],
)
def test_every_encrypted_manifest_yields_the_plaintext(name: str) -> None:
    """Follow each manifest's install sequence: the component that copies/writes has the
    encryption info; its ciphertext is either the content parameter or the fetched payload."""
    envelope = suit.Envelope.decode(read_hex(FW / name), lenient=True)
    install = envelope.sequence(suit.ManifestKey.INSTALL, lenient=True)
    assert install is not None
    store = suit.steps(install, envelope.manifest.common)[1]
    key = kek() if "aes-kw" in name else receiver()
    found = 0
    for index in range(envelope.manifest.common.index_count):
        params = store.parameters(index)
        if params.encryption_info is None:
            continue
        ciphertext = params.content
        if ciphertext is None:
            assert params.source_component is not None
            fetched = store.parameters(params.source_component)
            assert fetched.uri == "coaps://example.com/encrypted-firmware"
            ciphertext = read_hex(FW / "encrypted-payload-aes-kw-aes-gcm.hex")
            assert len(ciphertext) == fetched.image_size
        assert (
            suit.decrypt_payload(params.encryption_info, ciphertext, key, lenient=True) == PLAINTEXT
        )
        found += 1
    assert found == 1
