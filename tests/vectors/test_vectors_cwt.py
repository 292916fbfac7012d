"""python-cwt as an independent implementation: every valid COSE structure in the vectors
verifies (or decrypts) with it, and every invalid one whose flaw is cryptographic is refused by
it. Structural flaws (tags, CBOR encoding, crit, algorithm allow-lists) are the edbp profile's
rules, which a general COSE library need not enforce; they are not asked of cwt."""

from __future__ import annotations

from typing import Any

import pytest
from edbp.reference.wire import cbor
from edbp.reference.wire.cose_algs import Alg, Curve, alg_info
from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
from edbp.reference.wire.cose_key import CoseKey
from vector_docs import load_all

cwt = pytest.importorskip("cwt")

DOCS = load_all()
#: flags whose flaw is cryptographic: a COSE library must refuse these too
CRYPTO_FLAGS = {
    "ChangeSignature",
    "TruncatedSignature",
    "TamperedPayload",
    "TamperedProtected",
    "WrongKey",
    "ChangeAuthTag",
    "TruncatedCiphertext",
    "WrongRecipient",
    "WrappedCekFlipped",
    "UntrustedTam",
    "RevokedTamKey",
    "TamperedManifest",
    "WrongSigner",
    "ChangeProtected",  # protected bytes other than the signed ones (protocol §5)
}


#: deploy flags whose flaw is in the TEEP message's own signature
TEEP_SIGNATURE_FLAGS = {"ChangeSignature", "UntrustedTam", "RevokedTamKey"}


def _key(hexdata: str, alg: int) -> Any:
    m = CoseKey.decode(bytes.fromhex(hexdata)).to_map()
    m[3] = alg
    m.pop(4, None)
    return cwt.COSEKey.new(m)


def _sign_alg(data: bytes) -> int:
    obj = cbor.loads(data, cbor.LENIENT)
    body = obj.value if isinstance(obj, cbor.Tag) else obj
    return int(cbor.loads(body[0]).get(1))


def _steps(op: str) -> list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    out = []
    for path, doc in DOCS.items():
        if path.startswith("pq/"):
            # python-cwt has no ML-DSA-65 and no value for the private-use COSE-HPKE alg;
            # tests/vectors/test_pq_vectors.py recomputes those vectors from first principles
            continue
        for g in doc["testGroups"]:
            for t in g["tests"]:
                for s in t["steps"]:
                    if s["op"] == op:
                        out.append((t["tcId"], t, s, g))
    return out


def _case_id(item: tuple[str, Any, Any, Any]) -> str:
    return item[0]


SIGN1 = [
    x
    for x in _steps("cose.sign1.verify")
    if x[1]["result"] in ("valid", "acceptable") or set(x[1]["flags"]) & CRYPTO_FLAGS
]
ENCRYPT = [
    x
    for x in _steps("cose.encrypt.decrypt")
    if x[1]["result"] == "valid" or set(x[1]["flags"]) & CRYPTO_FLAGS
]


@pytest.mark.parametrize("item", SIGN1, ids=_case_id)
def test_cose_sign1_vectors(
    item: tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    _, test, step, _ = item
    data = bytes.fromhex(step["input"]["message"]["cbor"])
    alg = step["input"]["algorithms"][0]
    key = _key(step["input"]["key"], alg)
    if test["result"] in ("valid", "acceptable"):  # acceptable: non-deterministic, as received
        assert cwt.COSE.new().decode(data, key) == bytes.fromhex(step["expect"]["payload"])
    else:
        with pytest.raises(Exception):  # noqa: B017 - cwt's own error types
            cwt.COSE.new().decode(data, key)


@pytest.mark.parametrize("item", ENCRYPT, ids=_case_id)
def test_cose_encrypt_vectors(
    item: tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    _, test, step, _ = item
    data = bytes.fromhex(step["input"]["message"]["cbor"])
    alg = int(Alg.ECDH_ES_A128KW)
    recipient_protected = cbor.loads(data).value[3][0][0]
    context = [
        int(Alg.A128KW),
        [None, None, None],
        [None, None, None],
        [alg_info(Alg.A128KW).key_bytes * 8, recipient_protected, SUIT_KDF_OTHER],
    ]
    if CoseKey.decode(bytes.fromhex(step["input"]["key"])).crv == Curve.X25519:
        # python-cwt 3.3 has no ECDH-ES+A128KW on X25519: the same steps with `cryptography`
        decrypt: Any = lambda: _x25519_decrypt(data, step["input"]["key"], context)  # noqa: E731
    else:
        key = _key(step["input"]["key"], alg)
        decrypt = lambda: cwt.COSE.new().decode(data, key, context=context)  # noqa: E731
    if test["result"] == "valid":
        got = decrypt()
        assert got == bytes.fromhex(step["expect"]["plaintext"])
        assert test["intermediates"]["kdfContext"] == cbor.dumps(context).hex()
    else:
        with pytest.raises(Exception):  # noqa: B017 - cwt's own error types
            decrypt()


def _x25519_decrypt(data: bytes, key_hex: str, context: list[Any]) -> bytes:
    """RFC 9053 ECDH-ES+A128KW (X25519, HKDF-SHA-256) and AES-128-GCM from first principles."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

    prot, unprot, ciphertext, recipients = cbor.loads(data).value
    r_prot, r_unprot, wrapped = recipients[0]
    ephemeral = X25519PublicKey.from_public_bytes(r_unprot[-1][-2])
    mine = X25519PrivateKey.from_private_bytes(CoseKey.decode(bytes.fromhex(key_hex)).d)
    context[3][1] = r_prot
    kek = HKDF(hashes.SHA256(), 16, None, cbor.dumps(context)).derive(mine.exchange(ephemeral))
    cek = aes_key_unwrap(kek, wrapped)
    aad = cbor.dumps(["Encrypt", prot, b""])
    return AESGCM(cek).decrypt(unprot[5], ciphertext, aad)


def _teep_cases() -> list[tuple[str, bytes, str, bool]]:
    """Every TEEP message a deploy vector delivers, with the TAM key it claims and whether it
    must verify (honest bytes) or be refused (a cryptographic flaw)."""
    out = []
    for path, doc in sorted(DOCS.items()):
        if not path.startswith("deploy/"):
            continue
        for g in doc["testGroups"]:
            keys = g.get("keys", {})
            for t in g["tests"]:
                crypto_bad = bool(set(t["flags"]) & TEEP_SIGNATURE_FLAGS)
                for i, s in enumerate(t["steps"]):
                    if s["op"] != "agent.deliver":
                        continue
                    data = bytes.fromhex(s["input"]["message"]["cbor"])
                    last = i == len(t["steps"]) - 1
                    anchors = t["device"]["trustAnchors"]["tam"]
                    if "RevokedTamKey" in t["flags"]:
                        anchors = [keys["tskRotated"]]
                    if t["result"] == "valid" or not last:
                        out.append((f"{t['tcId']}#{i}", data, anchors[0], True))
                    elif crypto_bad and "error" in s["expect"]:
                        out.append((f"{t['tcId']}#{i}", data, anchors[0], False))
    return out


TEEP = _teep_cases()


@pytest.mark.parametrize(("name", "data", "key", "good"), TEEP, ids=[c[0] for c in TEEP])
def test_deploy_teep_messages(name: str, data: bytes, key: str, good: bool) -> None:
    k = _key(key, _sign_alg(data))
    if good:
        assert cwt.COSE.new().decode(data, k)
    else:
        with pytest.raises(Exception):  # noqa: B017 - cwt's own error types
            cwt.COSE.new().decode(data, k)


def test_cwt_cases_are_many() -> None:
    assert len(SIGN1) >= 10 and len(ENCRYPT) >= 8 and len(TEEP) >= 100
    assert any(not c[3] for c in TEEP)


@pytest.mark.parametrize("path", sorted(p for p in DOCS if p.startswith("enrol/")))
def test_endorsements(path: str) -> None:
    for g in DOCS[path]["testGroups"]:
        for t in g["tests"]:
            s = t["steps"][0]
            data = bytes.fromhex(s["input"]["endorsement"]["cbor"])
            if t["result"] == "valid":
                assert cwt.COSE.new().decode(data, _key(s["input"]["mrk"], _sign_alg(data)))
            elif set(t["flags"]) & CRYPTO_FLAGS:
                with pytest.raises(Exception):  # noqa: B017 - cwt's own error types
                    cwt.COSE.new().decode(data, _key(s["input"]["mrk"], _sign_alg(data)))


@pytest.mark.parametrize("path", sorted(p for p in DOCS if p.startswith("publish/")))
def test_author_envelope_signatures(path: str) -> None:
    """The author envelope's COSE_Sign1 (detached payload: the manifest digest) verifies."""
    doc = DOCS[path]
    test = next(
        t
        for g in doc["testGroups"]
        for t in g["tests"]
        if t["tcId"].endswith("valid.author-envelope")
    )
    step = test["steps"][0]
    env = cbor.loads(bytes.fromhex(step["input"]["envelope"]["cbor"]))
    digest, block = cbor.loads(env.value[2])
    ask = step["input"]["authorKeys"][0]
    assert (
        cwt.COSE.new().decode(block, _key(ask, _sign_alg(block)), detached_payload=digest) == digest
    )
