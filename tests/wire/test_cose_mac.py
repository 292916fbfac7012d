"""COSE_Mac0 with HMAC 256/256 (RFC 9052 §6.2, RFC 9053 §3.1): round trip, the SUIT
encryption draft's AES-KW authentication (mac_envelope / verify_envelope with SUIT_MAC_ALGS), and
each refusal with its code. A flipped, truncated or extended tag is the seeded flaw the constant-
time comparison must catch."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from edbp.reference.wire import cbor, suit
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
