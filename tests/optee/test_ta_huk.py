"""HUK-derived keys as OP-TEE's huk_subkey_derive computes them (written out by hand here)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.optee.huk import (
    INSECURE_HUK,
    HukUsage,
    die_id_compat,
    huk_subkey_derive,
    modulus_bytes,
    ta_enc_key,
)


def test_usage_ids_are_optees() -> None:
    assert [(u.name, int(u)) for u in HukUsage] == [
        ("RPMB", 0),
        ("SSK", 1),
        ("DIE_ID", 2),
        ("UNIQUE_TA", 3),
        ("TA_ENC", 4),
    ]


def test_default_ta_key_is_hmac_of_usage_and_modulus(root_key: rsa.RSAPrivateKey) -> None:
    n = root_key.public_key().public_numbers().n
    modulus = n.to_bytes(256, "big")  # a 2048-bit modulus: 256 bytes, no leading zero
    assert modulus_bytes(root_key.public_key()) == modulus
    expected = hmac.new(bytes(16), b"\x04\x00\x00\x00" + modulus, hashlib.sha256).digest()
    assert ta_enc_key(INSECURE_HUK, root_key.public_key()) == expected
    assert len(expected) == 32


def test_compat_usages() -> None:
    huk = bytes(range(16))
    assert (
        huk_subkey_derive(huk, HukUsage.RPMB, b"x") == hmac.new(huk, b"x", hashlib.sha256).digest()
    )
    ssk = hmac.new(huk, b"BEEF" * 8 + b"ONLY_FOR_tee_fs_ssk\x00", hashlib.sha256).digest()
    assert die_id_compat() == b"BEEF" * 8
    assert huk_subkey_derive(huk, HukUsage.SSK) == ssk
    for usage in (HukUsage.DIE_ID, HukUsage.UNIQUE_TA, HukUsage.TA_ENC):
        want = hmac.new(huk, int(usage).to_bytes(4, "little") + b"c", hashlib.sha256).digest()
        assert huk_subkey_derive(huk, usage, b"c") == want


def test_without_compat_every_usage_is_hashed() -> None:
    huk = bytes(16)
    for usage in HukUsage:
        want = hmac.new(huk, int(usage).to_bytes(4, "little"), hashlib.sha256).digest()
        assert huk_subkey_derive(huk, usage, compat=False) == want


def test_length_and_die_id_bounds() -> None:
    assert (
        huk_subkey_derive(bytes(16), HukUsage.TA_ENC, length=16)
        == huk_subkey_derive(bytes(16), HukUsage.TA_ENC)[:16]
    )
    with pytest.raises(ValueError):
        huk_subkey_derive(bytes(16), HukUsage.TA_ENC, length=33)
    with pytest.raises(ValueError):
        huk_subkey_derive(bytes(16), HukUsage.SSK, die_id=b"short")


def test_devices_differ(root_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    a = ta_enc_key(bytes(16), root_key.public_key())
    assert a != ta_enc_key(b"\x01" + bytes(15), root_key.public_key())
    assert a != ta_enc_key(bytes(16), other_key.public_key())
