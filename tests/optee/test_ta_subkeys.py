"""Subkey chains: layout as sign_encrypt.py sign-subkey writes it, the namespace UUID rule,
max_depth, and the walk the loader does."""

from __future__ import annotations

import hashlib
import struct
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.optee import next_uuid, sign_subkey, sign_ta, verify_ta
from edbp.reference.optee.constants import TEE_ATTR_RSA_MODULUS, TEE_ATTR_RSA_PUBLIC_EXPONENT

from edbp.errors import Code, ConfigError

SK_UUID = uuid.UUID("f04a0fe7-1f5d-4b9b-abf7-619b85b4ce8c")


def test_next_uuid_is_sha512_uuidv5() -> None:
    name = b"my-ta\x00\x00\x00"
    digest = bytearray(hashlib.sha512(SK_UUID.bytes + b"my-ta").digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    got = next_uuid(SK_UUID, name)
    assert got.bytes == bytes(digest)
    assert got.version == 5
    assert next_uuid(SK_UUID, b"") == SK_UUID  # name_size 0: identity subkey


def test_subkey_payload_layout(root_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    chain = sign_subkey(
        root_key, other_key.public_key(), SK_UUID, name_size=64, max_depth=3, subkey_version=9
    )
    data = chain.data
    magic, img_type, img_size, algo, hash_size, sig_size = struct.unpack_from("<IIIIHH", data)
    assert (magic, img_type, hash_size, sig_size) == (0x4F545348, 3, 32, 256)
    payload = data[308:]
    assert len(payload) == img_size
    assert data[20:52] == hashlib.sha256(data[:20] + payload).digest()
    raw_uuid, name_size, version, depth, sk_algo, count = struct.unpack_from("<16sIIIII", payload)
    assert (uuid.UUID(bytes=raw_uuid), name_size, version, depth, sk_algo, count) == (
        SK_UUID,
        64,
        9,
        3,
        algo,
        2,
    )
    attrs = [struct.unpack_from("<III", payload, 36 + 12 * i) for i in range(2)]
    n = other_key.public_key().public_numbers().n
    # sign_encrypt.py int_to_bytes: (bit_length + 8) // 8, so a leading zero for 2048 bits
    assert attrs[0] == (TEE_ATTR_RSA_MODULUS, 60, 257)
    assert attrs[1] == (TEE_ATTR_RSA_PUBLIC_EXPONENT, 60 + 257, 3)
    assert payload[60 : 60 + 257] == n.to_bytes(257, "big")
    assert payload[317:320] == (65537).to_bytes(3, "big")
    assert chain.last.uuid == SK_UUID and chain.last.max_depth == 3


def test_two_level_chain_loads(
    root_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, key_3072: rsa.RSAPrivateKey
) -> None:
    first = sign_subkey(
        root_key, other_key.public_key(), SK_UUID, name_size=16, max_depth=1, subkey_version=4
    )
    second = sign_subkey(
        other_key, key_3072.public_key(), parent=first, name="vendor", name_size=32
    )
    assert second.last.max_depth == 0 and second.last.uuid == next_uuid(SK_UUID, b"vendor")
    ta_uuid = second.next_uuid("app")
    image = sign_ta(b"\x7fELF" + bytes(1000), key_3072, ta_uuid, 2, chain=second, name="app")
    # the name element sits between a subkey and the next header, padded to name_size
    assert image[len(first.data) : len(first.data) + 16] == b"vendor".ljust(16, b"\x00")
    result = verify_ta(image, root_key.public_key(), expected_uuid=ta_uuid)
    assert [s.uuid for s in result.chain] == [SK_UUID, second.last.uuid]
    assert result.subkey_floors == ((SK_UUID, 4), (second.last.uuid, 0))
    assert result.shdr.sig_size == 384  # signed by the 3072-bit subkey


def test_identity_subkey(root_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    chain = sign_subkey(root_key, other_key.public_key(), SK_UUID, name_size=0)
    image = sign_ta(b"x" * 100, other_key, SK_UUID, 1, chain=chain)
    assert verify_ta(image, root_key.public_key(), expected_uuid=SK_UUID).uuid == SK_UUID


def test_signer_refuses_bad_chains(
    root_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    leaf = sign_subkey(root_key, other_key.public_key(), SK_UUID, name_size=8, max_depth=0)
    with pytest.raises(ConfigError) as info:
        sign_subkey(other_key, root_key.public_key(), parent=leaf, name="x", name_size=8)
    assert info.value.code is Code.TA_SUBKEY_DEPTH
    with pytest.raises(ConfigError) as info:
        sign_ta(b"x", other_key, uuid.uuid4(), chain=leaf, name="x")
    assert info.value.code is Code.TA_UUID_MISMATCH
    with pytest.raises(ConfigError) as info:
        leaf.name_bytes("a name longer than eight")
    assert info.value.code is Code.TA_SUBKEY_INVALID
