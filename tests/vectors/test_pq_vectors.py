"""The `edbp-pq` vectors' intermediates recomputed from first principles (``cryptography`` and
``hashlib`` only, no edbp code): X-Wing decapsulation from the DAK seed and ``ek``, the RFC 9180
key schedule, the CEK, the content; and ML-DSA-65 signatures over the recorded ToBeSigned."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from vector_docs import load_all

mlkem = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.mlkem")
mldsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.mldsa")
from cryptography.hazmat.primitives.asymmetric import x25519  # noqa: E402

DOCS = load_all()
SUITE_ID = b"HPKE" + bytes.fromhex("647a") + bytes.fromhex("0001") + bytes.fromhex("0001")


def _tests(prefix: str, suffix: str) -> list[dict[str, Any]]:
    return [
        t
        for p, d in sorted(DOCS.items())
        if p.startswith(prefix)
        for g in d["testGroups"]
        for t in g["tests"]
        if t["tcId"].endswith(suffix)
    ]


def _extract(salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), b"HPKE-v1" + SUITE_ID + label + ikm, "sha256").digest()


def _expand(prk: bytes, label: bytes, info: bytes, n: int) -> bytes:
    labeled = n.to_bytes(2, "big") + b"HPKE-v1" + SUITE_ID + label + info
    return hmac.new(prk, labeled + b"\x01", "sha256").digest()[:n]  # n <= 32: one block


ENCRYPT = _tests("pq/cose-", "encrypt.valid.hpke-xwing")


def _key_chain(dak_hex: str, h: dict[str, bytes], wrapped: bytes) -> None:
    """From the DAK's seed and ``hpkeEnc`` alone: the X-Wing shared secret, the RFC 9180 key
    schedule, and the CEK out of ``wrapped`` (cryptography's primitives and hashlib only)."""
    dak = cbor2.loads(bytes.fromhex(dak_hex))
    assert dak[1] == 7 and dak[3] == -70768  # AKP, the private-use COSE-HPKE alg
    expanded = hashlib.shake_256(dak[-2]).digest(96)
    mk = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
    xk = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
    assert mk.public_key().public_bytes_raw() + xk.public_key().public_bytes_raw() == dak[-1]
    enc = h["hpkeEnc"]
    ss_m = mk.decapsulate(enc[:1088])
    ss_x = xk.exchange(x25519.X25519PublicKey.from_public_bytes(enc[1088:]))
    pk_x = xk.public_key().public_bytes_raw()
    shared = hashlib.sha3_256(ss_m + ss_x + enc[1088:] + pk_x + b"\\.//^\\").digest()
    assert shared == h["sharedSecret"]
    info_hash = _extract(b"", b"info_hash", h["hpkeInfo"])
    context = b"\x00" + _extract(b"", b"psk_id_hash", b"") + info_hash
    assert context == h["hpkeKeyScheduleContext"]
    secret = _extract(shared, b"secret", b"")
    assert _expand(secret, b"key", context, 16) == h["hpkeKey"]
    assert _expand(secret, b"base_nonce", context, 12) == h["hpkeBaseNonce"]
    assert AESGCM(h["hpkeKey"]).decrypt(h["hpkeBaseNonce"], wrapped, b"") == h["cek"]


@pytest.mark.parametrize("t", ENCRYPT, ids=lambda t: t["tcId"])
def test_hpke_key_chain(t: dict[str, Any]) -> None:
    h = {k: bytes.fromhex(v) for k, v in t["intermediates"].items()}
    step = t["steps"][0]["input"]
    _key_chain(step["key"], h, h["wrappedCek"])
    enc = h["hpkeEnc"]
    msg = cbor2.loads(bytes.fromhex(step["message"]["cbor"]))
    prot, unprot, ciphertext, recipients = msg.value
    (rp, ru, rct) = recipients[0]
    assert ru[-4] == enc and rct == h["wrappedCek"]
    assert cbor2.loads(h["hpkeInfo"]) == ["HPKE Recipient", 1, rp, b""]
    assert cbor2.dumps(["Encrypt", prot, b""]) == h["encStructure"]
    plain = AESGCM(h["cek"]).decrypt(unprot[5], ciphertext, h["encStructure"])
    assert plain.hex() == t["steps"][0]["expect"]["plaintext"]


@pytest.mark.parametrize("t", _tests("pq/cose-", "sign1.valid.attached"), ids=lambda t: t["tcId"])
def test_mldsa_signature_over_to_be_signed(t: dict[str, Any]) -> None:
    step = t["steps"][0]["input"]
    key = cbor2.loads(bytes.fromhex(step["key"]))
    prot, _, payload, sig = cbor2.loads(bytes.fromhex(step["message"]["cbor"])).value
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    assert tbs.hex() == t["intermediates"]["toBeSigned"]
    mldsa.MLDSA65PublicKey.from_public_bytes(key[-1]).verify(sig, tbs)


DEPLOY = _tests("pq/deploy-", "valid.honest-install")


@pytest.mark.parametrize("t", DEPLOY, ids=lambda t: t["tcId"])
def test_deploy_key_chain_and_signatures(t: dict[str, Any]) -> None:
    """The PQ deploy trace: the device's test DAK opens the Update's COSE-HPKE recipient to
    the CEK that decrypts the payload, and the TSK's ML-DSA-65 signatures verify over the
    recorded ToBeSigned of the QueryRequest and the Update."""
    h = {k: bytes.fromhex(v) for k, v in t["intermediates"].items() if k != "contentAlg"}
    _key_chain(t["device"]["testKeys"]["dak"], h, h["wrappedCekDevice"])
    assert cbor2.loads(h["hpkeInfo"])[:2] == ["HPKE Recipient", 1]
    group = next(g for d in DOCS.values() for g in d["testGroups"] if t in g["tests"])
    tsk = cbor2.loads(bytes.fromhex(group["keys"]["tsk"]))
    for step, name in zip(t["steps"], ("queryRequest", "update"), strict=True):
        prot, _, payload, sig = cbor2.loads(bytes.fromhex(step["input"]["message"]["cbor"])).value
        tbs = cbor2.dumps(["Signature1", prot, b"", payload])
        assert tbs == h[name + "ToBeSigned"] and cbor2.loads(prot) == {1: -49}
        mldsa.MLDSA65PublicKey.from_public_bytes(tsk[-1]).verify(sig, tbs)
        if name == "update":
            (ciphertext,) = (bytes.fromhex(v) for v in step["input"]["payloads"].values())
            assert hashlib.sha256(ciphertext).digest() == h["ciphertextSha256"]
            plain = AESGCM(h["cek"]).decrypt(h["iv"], ciphertext, h["encStructure"])
            assert plain == h["plaintext"]


def test_there_is_something_to_check() -> None:
    assert len(ENCRYPT) == 1 and len(DEPLOY) == 1
