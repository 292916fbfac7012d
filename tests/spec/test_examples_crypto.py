"""The spec's examples are cryptographically real, checked from the bytes on disk.

Every COSE_Sign1 in every example verifies under the key its kid names (RFC 9679 thumbprint);
the author's class-key recipient and the device's ECDH-ES+A128KW recipient unwrap to the same
CEK; the ciphertext the fetch example serves decrypts under it to a plaintext whose SHA-256 is
the author manifest's image digest; the device manifest binds the author manifest by digest.
Keys come from the example generator (its derivation is the only input; all else is the files).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

EXAMPLES = Path(__file__).resolve().parents[2] / "spec" / "examples"


@pytest.fixture(scope="module")
def gen() -> Any:
    spec = importlib.util.spec_from_file_location(
        "edbp_spec_gen_crypto", EXAMPLES / "make_examples.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(name: str) -> Any:
    return cbor2.loads(bytes.fromhex((EXAMPLES / f"{name}.cbor.hex").read_text().strip()))


def _public_keys(gen: Any) -> dict[bytes, ec.EllipticCurvePublicKey]:
    keys = {}
    for priv in (gen.ASK, gen.TSK, gen.DSK, gen.MRK):
        keys[gen.thumbprint(gen.cose_key(priv))] = priv.public_key()
    return keys


def _verify_es256(pub: ec.EllipticCurvePublicKey, sig: bytes, data: bytes) -> None:
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub.verify(der, data, ec.ECDSA(hashes.SHA256()))


def _sign1s(obj: Any, detached: bytes | None = None) -> list[tuple[cbor2.CBORTag, bytes | None]]:
    """Every COSE_Sign1 inside ``obj`` (descending into bstr .cbor), with the detached payload
    a SUIT authentication block signs (the digest bstr that precedes it)."""
    found: list[tuple[cbor2.CBORTag, bytes | None]] = []
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag == 18:
            found.append((obj, detached))
        found += _sign1s(obj.value)
    elif isinstance(obj, list):
        first = obj[0] if obj and isinstance(obj[0], bytes) else None
        for item in obj:
            found += _sign1s(item, first)
    elif isinstance(obj, dict):
        for item in obj.values():
            found += _sign1s(item)
    elif isinstance(obj, bytes) and len(obj) > 1:
        try:
            inner = cbor2.loads(obj)
        except Exception:  # most byte strings are not CBOR
            return found
        if cbor2.dumps(inner, canonical=True) == obj:
            found += _sign1s(inner, detached)
    return found


def test_every_signature_verifies_and_a_flipped_bit_does_not(gen: Any) -> None:
    keys = _public_keys(gen)
    count = 0
    for path in sorted(EXAMPLES.glob("*.cbor.hex")):
        for sign1, detached in _sign1s(_load(path.name[: -len(".cbor.hex")])):
            protected, unprotected, payload, sig = sign1.value
            header = cbor2.loads(protected)
            assert header[1] == -9
            header.update(unprotected)
            payload = detached if payload is None else payload
            assert payload is not None, f"{path.name}: detached signature without its digest"
            to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
            _verify_es256(keys[header[4]], sig, to_be_signed)
            with pytest.raises(InvalidSignature):
                _verify_es256(
                    keys[header[4]], sig, to_be_signed[:-1] + bytes([to_be_signed[-1] ^ 1])
                )
            count += 1
    assert count >= 20


def _manifest(envelope: cbor2.CBORTag) -> dict[int, Any]:
    return cbor2.loads(envelope.value[3])


def _params(sequence: bytes, index: int) -> dict[int, Any]:
    """The parameters set for ``index`` in a command sequence (flat walk)."""
    commands = cbor2.loads(sequence)
    current, params = 0, {}
    for code, arg in zip(commands[::2], commands[1::2], strict=True):
        if code == 12:
            current = arg
        elif code in (19, 20) and current == index:
            params.update(arg)
    return params


def test_both_recipients_unwrap_to_one_cek_that_decrypts_the_payload(gen: Any) -> None:
    device_env = _load("suit-envelope-device")
    author_env = cbor2.loads(device_env.value["#author"])
    device_install = _params(_manifest(device_env)[20], 0)
    author_install = _params(_manifest(author_env)[20], 0)
    info_device = cbor2.loads(device_install[19])
    info_class = cbor2.loads(author_install[19])
    assert info_device.tag == info_class.tag == 96
    assert info_device.value[:2] == info_class.value[:2]  # same content layer (alg, IV)

    # device layer: ECDH-ES+A128KW to the DAK
    r_prot, r_unprot, r_wrapped = info_device.value[3][0]
    assert cbor2.loads(r_prot) == {1: -29}
    eph = r_unprot[-1]
    eph_pub = ec.EllipticCurvePublicNumbers(
        int.from_bytes(eph[-2], "big"), int.from_bytes(eph[-3], "big"), ec.SECP256R1()
    ).public_key()
    assert r_unprot[4] == gen.thumbprint(gen.cose_key(gen.DAK))
    context = cbor2.dumps([-3, [None] * 3, [None] * 3, [128, r_prot, b"SUIT Payload Encryption"]])
    assert context.hex() == (EXAMPLES / "cose-kdf-context.cbor.hex").read_text().strip()
    kek = HKDF(hashes.SHA256(), 16, salt=None, info=context).derive(
        gen.DAK.exchange(ec.ECDH(), eph_pub)
    )
    cek_device = aes_key_unwrap(kek, r_wrapped)

    # author layer: A256KW under the class key
    c_prot, c_unprot, c_wrapped = info_class.value[3][0]
    assert c_prot == b"" and c_unprot[1] == -5
    cek_class = aes_key_unwrap(gen.CK, c_wrapped)
    assert cek_device == cek_class

    # content: the ciphertext the fetch example serves
    ciphertext = _load("adapter-fetch-reply")["result"]["payload"]
    shared_author = cbor2.loads(cbor2.loads(_manifest(author_env)[3])[4])
    staging = _params(cbor2.dumps(shared_author), 1)
    assert cbor2.loads(staging[3]) == [-16, hashlib.sha256(ciphertext).digest()]
    assert staging[14] == len(ciphertext)
    aad = cbor2.dumps(["Encrypt", info_device.value[0], b""])
    plaintext = AESGCM(cek_device).decrypt(info_device.value[1][5], ciphertext, aad)
    image = _params(cbor2.dumps(shared_author), 0)
    assert cbor2.loads(image[3]) == [-16, hashlib.sha256(plaintext).digest()]
    assert image[14] == len(plaintext)


def test_device_manifest_binds_the_author_manifest_and_the_device(gen: Any) -> None:
    device_env = _load("suit-envelope-device")
    author_env = cbor2.loads(device_env.value["#author"])
    dependency = _params(_manifest(device_env)[20], 2)
    assert dependency[21] == "#author"
    wrapped_author_manifest = cbor2.dumps(
        author_env.value[3]
    )  # digest over the bstr-wrapped manifest
    assert cbor2.loads(dependency[3]) == [-16, hashlib.sha256(wrapped_author_manifest).digest()]
    auth = cbor2.loads(author_env.value[2])
    assert cbor2.loads(auth[0]) == cbor2.loads(dependency[3])
    device_manifest, author_manifest = _manifest(device_env), _manifest(author_env)
    assert device_manifest[2] == author_manifest[2]  # same sequence number
    assert device_manifest[5] == [b"edbp", b"device", gen.TA_UUID, gen.UEID]
    claims = _load("eat-claims")
    assert claims[256] == gen.UEID
