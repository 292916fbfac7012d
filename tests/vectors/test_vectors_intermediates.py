"""The intermediates are consistent with each other and with the messages, recomputed from
first principles with ``cryptography`` only (no edbp code): an implementer who follows them
byte by byte reaches the same CEK, plaintext and signatures."""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from vector_docs import load_all

DOCS = load_all()


def _tests(prefix: str, tc_suffix: str) -> list[dict[str, Any]]:
    return [
        t
        for p, d in sorted(DOCS.items())
        if p.startswith(prefix)
        for g in d["testGroups"]
        for t in g["tests"]
        if t["tcId"].endswith(tc_suffix)
    ]


def _h(t: dict[str, Any], name: str) -> bytes:
    return bytes.fromhex(t["intermediates"][name])


def _decrypt(alg: int, cek: bytes, iv: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    if alg == 1:  # A128GCM
        return AESGCM(cek).decrypt(iv, ciphertext, aad)
    dec = Cipher(algorithms.AES(cek), modes.CTR(iv)).decryptor()  # A128CTR (RFC 9459)
    return dec.update(ciphertext) + dec.finalize()


DEPLOY = _tests("deploy/", "valid.honest-install")


@pytest.mark.parametrize("t", DEPLOY, ids=lambda t: t["tcId"])
def test_deploy_key_chain(t: dict[str, Any]) -> None:
    kek = HKDF(hashes.SHA256(), 16, None, _h(t, "kdfContext")).derive(_h(t, "sharedSecret"))
    assert kek == _h(t, "kek")
    cek = aes_key_unwrap(kek, _h(t, "wrappedCekDevice"))
    assert cek == _h(t, "cek")
    assert aes_key_unwrap(_h(t, "classKey"), _h(t, "wrappedCekClass")) == cek
    payloads = t["steps"][-1]["input"]["payloads"]
    (ciphertext,) = (bytes.fromhex(v) for v in payloads.values())
    assert hashlib.sha256(ciphertext).digest() == _h(t, "ciphertextSha256")
    plain = _decrypt(
        t["intermediates"]["contentAlg"], cek, _h(t, "iv"), ciphertext, _h(t, "encStructure")
    )
    assert plain == _h(t, "plaintext")
    assert hashlib.sha256(plain).digest() == _h(t, "plaintextSha256")
    context = cbor2.loads(_h(t, "kdfContext"))
    assert context[0] == -3 and context[3][0] == 128  # A128KW, 128-bit KEK


@pytest.mark.parametrize("t", DEPLOY, ids=lambda t: t["tcId"])
def test_deploy_to_be_signed(t: dict[str, Any]) -> None:
    """ToBeSigned of the messages delivered = ["Signature1", protected, h'', payload]."""
    for name, step in (("queryRequest", t["steps"][0]), ("update", t["steps"][1])):
        tag = cbor2.loads(bytes.fromhex(step["input"]["message"]["cbor"]))
        prot, _, payload, _ = tag.value
        assert cbor2.dumps(["Signature1", prot, b"", payload]) == _h(t, name + "ToBeSigned")


@pytest.mark.parametrize("t", _tests("publish/", "valid.author-envelope"), ids=lambda t: t["tcId"])
def test_publish_chain(t: dict[str, Any]) -> None:
    cek = aes_key_unwrap(_h(t, "classKey"), _h(t, "wrappedCek"))
    assert cek == _h(t, "cek")
    plain = _decrypt(
        t["intermediates"]["contentAlg"],
        cek,
        _h(t, "iv"),
        _h(t, "ciphertext"),
        _h(t, "encStructure"),
    )
    assert plain == _h(t, "plaintext")
    assert hashlib.sha256(_h(t, "ciphertext")).digest() == _h(t, "ciphertextSha256")


@pytest.mark.parametrize(
    "t", _tests("cose/", "encrypt.valid.ecdh-es-a128kw"), ids=lambda t: t["tcId"]
)
def test_cose_encrypt_chain(t: dict[str, Any]) -> None:
    kek = HKDF(hashes.SHA256(), 16, None, _h(t, "kdfContext")).derive(_h(t, "sharedSecret"))
    assert kek == _h(t, "kek")
    assert aes_key_unwrap(kek, _h(t, "wrappedCek")) == _h(t, "cek")
    msg = cbor2.loads(bytes.fromhex(t["steps"][0]["input"]["message"]["cbor"]))
    prot, unprot, ciphertext, _ = msg.value
    assert cbor2.dumps(["Encrypt", prot, b""]) == _h(t, "encStructure")
    plain = AESGCM(_h(t, "cek")).decrypt(unprot[5], ciphertext, _h(t, "encStructure"))
    assert plain.hex() == t["steps"][0]["expect"]["plaintext"]


def test_there_is_something_to_check() -> None:
    assert len(DEPLOY) == 3
