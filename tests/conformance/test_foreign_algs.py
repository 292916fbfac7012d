"""The foreign-algorithm inputs are what they claim, and each layer's generic-ECDSA fault is
caught by that layer's case only (a device may verify each layer with different code, so the
three cases must not stand in for one another)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from edbp.conformance.foreign_algs import (
    FOREIGN_ALGS,
    ON_ED25519_KEY,
    foreign_sign1,
    foreign_signature,
    generic_ecdsa_verify,
)
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor
from edbp.reference.wire.cose_algs import Alg, Curve
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1, sig_structure, sign_bytes

from edbp.errors import Code, EdbpError

P256 = CoseKey.generate(Curve.P256, SeededRandom("foreign-p256"))
ED25519 = CoseKey.generate(Curve.ED25519, SeededRandom("foreign-ed25519"))


@pytest.mark.parametrize("alg", [-35, -36])
def test_es384_es512_are_real_signatures_the_reference_refuses(alg: int) -> None:
    """ES384/ES512 over the P-256 key verify under a generic ECDSA verifier (hash from alg),
    not with another hash, not with a bit flipped; the reference verifier refuses the id."""
    signed = Sign1.decode(foreign_sign1(b"payload", P256, alg))
    tbs = signed.to_be_signed()
    assert generic_ecdsa_verify(P256, alg, tbs, signed.signature)
    assert not generic_ecdsa_verify(P256, int(Alg.ESP256), tbs, signed.signature)
    flipped = signed.signature[:-1] + bytes([signed.signature[-1] ^ 1])
    assert not generic_ecdsa_verify(P256, alg, tbs, flipped)
    with pytest.raises(EdbpError) as info:
        signed.verify(P256, algorithms={Alg.ESP256, Alg.ES256})
    assert info.value.code is Code.COSE_UNKNOWN_ALG


def test_hmac_is_keyed_with_the_public_key() -> None:
    """The alg-confusion input: HMAC-SHA-256 keyed with the verifier's public point."""
    tbs = sig_structure(cbor.dumps({1: 5}), b"", b"x")
    pub = P256.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert foreign_signature(5, P256, tbs) == hmac.new(pub, tbs, hashlib.sha256).digest()


@pytest.mark.parametrize("name", ["eddsa", "ed25519", "private-use"])
def test_key_algorithm_signatures_are_valid_esp256(name: str) -> None:
    """A label the P-256 key does not fit over a signature valid under the key's own alg."""
    tbs = b"to be signed"
    signature = foreign_signature(FOREIGN_ALGS[name], P256, tbs)
    assert generic_ecdsa_verify(P256, int(Alg.ESP256), tbs, signature)


@pytest.mark.parametrize("name", sorted(ON_ED25519_KEY))
def test_ecdsa_labels_over_an_ed25519_key_carry_ed25519_signatures(name: str) -> None:
    tbs = b"to be signed"
    assert foreign_signature(ON_ED25519_KEY[name], ED25519, tbs) == sign_bytes(
        ED25519, Alg.ED25519, tbs
    )


LAYER_CASES = {
    "teep-ecdsa-hash-from-alg": "sig.teep-algorithms",
    "device-manifest-ecdsa-hash-from-alg": "sig.device-manifest-algorithms",
    "author-manifest-ecdsa-hash-from-alg": "sig.author-manifest-algorithms",
}


@pytest.mark.parametrize("fault", sorted(LAYER_CASES))
def test_each_layer_fault_is_caught_by_its_layer_only(
    tmp_path: Path, suite: Any, fault: str
) -> None:
    code, report = suite(
        tmp_path,
        f"builtin:{fault}",
        "--tb=no",
        files=("test_signature_algorithms.py",),
    )
    failed = {c["id"] for c in report["cases"] if c["outcome"] in ("failed", "error")}
    own = LAYER_CASES[fault]
    assert code != 0
    assert failed == {f"{own}.es384", f"{own}.es512"}, failed
