"""COSE_Mac0 with HMAC 256/256 (RFC 9052 §6.2, RFC 9053 §3.1): round trip, the SUIT
encryption draft's AES-KW authentication (mac_envelope / verify_envelope with SUIT_MAC_ALGS), and
each refusal with its code. A flipped, truncated or extended tag is the seeded flaw the constant-
time comparison must catch."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from edbp.reference.wire import cbor, cose, suit
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_mac import Mac0, mac0, mac_structure

from edbp.errors import Code, EdbpError, VerificationError

KEY = CoseKey.symmetric(b"k" * 32)


def test_round_trip_and_independent_tag() -> None:
    msg = mac0(b"payload", KEY)
    data = msg.encode()
    assert data[:1] == b"\xd1"  # tag 17
    back = Mac0.decode(data)
    assert back.verify(KEY) == b"payload"
    expected = hmac.new(b"k" * 32, mac_structure(b"\xa1\x01\x05", b"", b"payload"), "sha256")
    assert back.tag == expected.digest()


def test_detached_payload() -> None:
    msg = Mac0.decode(mac0(b"digest", KEY, detached=True).encode())
    assert msg.payload is None
    assert msg.verify(KEY, detached_payload=b"digest") == b"digest"
    with pytest.raises(EdbpError) as info:
        msg.verify(KEY)
    assert info.value.code == Code.COSE_DETACHED_PAYLOAD_MISSING


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: bytes([t[0] ^ 1]) + t[1:],
        lambda t: t[:-1] + bytes([t[-1] ^ 0x80]),
        lambda t: t[:16],  # truncated
        lambda t: t + b"\x00",  # extended
        lambda t: b"",
    ],
    ids=["first-bit", "last-bit", "truncated", "extended", "empty"],
)
def test_a_changed_tag_is_refused(mutate: object) -> None:
    msg = mac0(b"payload", KEY)
    bad = Mac0(msg.headers, msg.payload, mutate(msg.tag))  # type: ignore[operator]
    with pytest.raises(VerificationError) as info:
        Mac0.decode(bad.encode()).verify(KEY)
    assert info.value.code == Code.COSE_BAD_MAC
    assert "k" * 8 not in str(info.value)  # no key material in the error


def test_wrong_key_and_payload() -> None:
    msg = Mac0.decode(mac0(b"payload", KEY).encode())
    with pytest.raises(VerificationError):
        msg.verify(CoseKey.symmetric(b"x" * 32))
    other = Mac0(msg.headers, b"payloaD", msg.tag)
    with pytest.raises(VerificationError):
        other.verify(KEY)


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (CoseKey.symmetric(b"short"), Code.COSE_ALG_KEY_MISMATCH),
        (CoseKey.symmetric(b"k" * 32, alg=int(Alg.A128GCM)), Code.COSE_ALG_KEY_MISMATCH),
    ],
)
def test_key_must_fit(key: CoseKey, code: Code) -> None:
    msg = Mac0.decode(mac0(b"payload", KEY).encode())
    with pytest.raises(EdbpError) as info:
        msg.verify(key)
    assert info.value.code == code


def test_alg_outside_the_list_and_wrong_shapes() -> None:
    msg = mac0(b"payload", KEY)
    with pytest.raises(EdbpError) as info:
        Mac0.decode(msg.encode()).verify(KEY, algorithms=[Alg.ESP256])
    assert info.value.code == Code.COSE_ALG_NOT_ALLOWED
    for data, code in (
        (cbor.dumps(cbor.Tag(18, [b"", {}, b"x", b"t"])), Code.COSE_WRONG_TAG),
        (cbor.dumps(cbor.Tag(17, [b"", {}, b"x"])), Code.COSE_MALFORMED),
        (cbor.dumps(cbor.Tag(17, [b"", {}, 5, b"t"])), Code.COSE_MALFORMED),
        (cbor.dumps(cbor.Tag(17, [b"", {}, b"x", None])), Code.COSE_MALFORMED),
    ):
        with pytest.raises(EdbpError) as info:
            Mac0.decode(data)
        assert info.value.code == code


def test_mac_envelope_round_trip() -> None:
    manifest = suit.Manifest(sequence_number=1, common=suit.Common(components=((b"c",),)))
    envelope = suit.Envelope.decode(suit.mac_envelope(manifest, KEY).encode())
    assert suit.verify_envelope(envelope, KEY, algorithms=suit.SUIT_MAC_ALGS).sequence_number == 1
    with pytest.raises(VerificationError) as info:
        suit.verify_envelope(envelope, KEY)  # default list: signatures only
    assert info.value.code == Code.SUIT_AUTH_FAILED
    digest = hashlib.sha256(cbor.dumps(manifest.encode())).digest()
    assert envelope.authentication.digest.digest == digest


@pytest.mark.parametrize(
    ("alg", "size"),
    [
        (cose.Alg.HMAC_256_64, 32),
        (cose.Alg.HMAC_384_384, 48),
        (cose.Alg.HMAC_512_512, 64),
        (cose.Alg.AES_MAC_128_64, 16),
        (cose.Alg.AES_MAC_256_64, 32),
        (cose.Alg.AES_MAC_128_128, 16),
        (cose.Alg.AES_MAC_256_128, 32),
    ],
)
def test_every_rfc_9053_mac_round_trips_and_catches_a_changed_byte(
    alg: cose.Alg, size: int
) -> None:
    key = cose.CoseKey.symmetric(bytes(range(size)))
    msg = cose.mac0(b"payload", key, alg)
    assert len(msg.tag) == cose.alg_info(alg).tag_bytes
    assert cose.Mac0.decode(msg.encode()).verify(key, algorithms=[alg]) == b"payload"
    bad = cose.Mac0(msg.headers, b"payloaD", msg.tag)
    with pytest.raises(EdbpError) as info:
        bad.verify(key, algorithms=[alg])
    assert info.value.code == Code.COSE_BAD_MAC
    with pytest.raises(EdbpError) as info:  # an AES-MAC key of the other size
        msg.verify(cose.CoseKey.symmetric(bytes(size + 8)), algorithms=[alg])
    assert info.value.code == Code.COSE_ALG_KEY_MISMATCH if alg >= 14 else Code.COSE_BAD_MAC


def test_aes_cbc_mac_matches_a_hand_computed_cbc_chain() -> None:
    """RFC 9053 §3.2: CBC with a zero IV over the zero-padded input, last block truncated."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key, data = bytes(range(16)), b"x" * 20
    block = bytes(16)
    padded = data + bytes(12)
    for i in range(0, len(padded), 16):
        chunk = bytes(a ^ b for a, b in zip(block, padded[i : i + 16], strict=True))
        enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        block = enc.update(chunk) + enc.finalize()
    assert cose.mac_tag(cose.Alg.AES_MAC_128_128, key, data) == block
    assert cose.mac_tag(cose.Alg.AES_MAC_128_64, key, data) == block[:8]
