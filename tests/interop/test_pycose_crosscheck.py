"""pycose as a second independent COSE implementation (python-cwt is the first:
tests/vectors/test_vectors_cwt.py): every valid or acceptable COSE_Sign1 and COSE_Encrypt in the
vectors verifies or decrypts with pycose, and every one whose flaw is cryptographic is refused.

pycose 1.1 predates RFC 9864: it has no ids -9 (ESP256) and -19 (Ed25519). The test registers
them in pycose as its own ES256 / EdDSA classes under the new ids (the same algorithms, RFC 9864
only fixes the curve), so pycose decodes, builds the Sig_structure from the protected bytes as
received and verifies by itself.
X25519 with ECDH-ES+A128KW is in neither pycose nor python-cwt; those vectors keep their
intermediates check (tests/vectors/test_vectors_cwt.py, with `cryptography`)."""

from __future__ import annotations

from typing import Any

import pytest
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
from edbp.reference.wire.cose_key import CoseKey
from vector_docs import load_all

pycose = pytest.importorskip("pycose")
from pycose import headers as ph  # noqa: E402
from pycose.algorithms import CoseAlgorithm, EdDSA, Es256  # noqa: E402
from pycose.keys import CoseKey as PycoseKey  # noqa: E402
from pycose.messages import CoseMessage  # noqa: E402

#: flags whose flaw is cryptographic (a COSE library must refuse them too)
CRYPTO_FLAGS = {
    "ChangeSignature",
    "TruncatedSignature",
    "TamperedPayload",
    "TamperedProtected",
    "ChangeProtected",
    "WrongKey",
    "ChangeAuthTag",
    "TruncatedCiphertext",
    "WrongRecipient",
    "WrappedCekFlipped",
}


if -9 not in CoseAlgorithm.get_registered_classes():

    @CoseAlgorithm.register_attribute()
    class Esp256(Es256):  # type: ignore[misc]
        identifier = -9
        fullname = "ESP256"


if -19 not in CoseAlgorithm.get_registered_classes():

    @CoseAlgorithm.register_attribute()
    class Ed25519(EdDSA):  # type: ignore[misc]
        identifier = -19
        fullname = "Ed25519"


def _steps(op: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for doc in load_all().values():
        for group in doc["testGroups"]:
            for test in group["tests"]:
                if test["tcId"].startswith("pq."):
                    continue  # pycose 1.1 has neither ML-DSA nor COSE-HPKE (test_pq_vectors.py)
                if test["result"] == "invalid" and not set(test["flags"]) & CRYPTO_FLAGS:
                    continue  # a profile rule (tags, crit, allow-lists), not asked of pycose
                for step in test["steps"]:
                    if step["op"] == op:
                        out.append((test["tcId"], test, step))
    return out


def _pycose_key(hexdata: str) -> Any:
    m = CoseKey.decode(bytes.fromhex(hexdata)).to_map()
    m.pop(4, None)
    return PycoseKey.from_dict(m)


def _verify(data: bytes, key: Any) -> bool:
    msg = CoseMessage.decode(data)
    msg.key = key
    try:
        return bool(msg.verify_signature())
    except Exception:  # pycose/cryptography signal some bad signatures by raising
        return False


SIGN1 = _steps("cose.sign1.verify")
ENCRYPT = _steps("cose.encrypt.decrypt")


def test_the_cross_check_covers_both_suites_and_the_acceptable_forms() -> None:
    ids = [tc for tc, _, _ in SIGN1]
    assert any("esp256" in i for i in ids) and any("ed25519" in i for i in ids)
    assert any(".acceptable.protected-non-shortest" in i for i in ids)
    assert any(".invalid.protected-reencoded" in i for i in ids)
    assert len(ENCRYPT) >= 6


@pytest.mark.parametrize(("tc_id", "test", "step"), SIGN1, ids=[s[0] for s in SIGN1])
def test_pycose_verifies_sign1_vectors(
    tc_id: str, test: dict[str, Any], step: dict[str, Any]
) -> None:
    data = bytes.fromhex(step["input"]["message"]["cbor"])
    key = _pycose_key(step["input"]["key"])
    ok = _verify(data, key)
    assert ok == (test["result"] in ("valid", "acceptable")), tc_id
    if ok:
        assert CoseMessage.decode(data).payload == bytes.fromhex(step["expect"]["payload"])


@pytest.mark.parametrize(("tc_id", "test", "step"), ENCRYPT, ids=[s[0] for s in ENCRYPT])
def test_pycose_decrypts_encrypt_vectors(
    tc_id: str, test: dict[str, Any], step: dict[str, Any]
) -> None:
    if CoseKey.decode(bytes.fromhex(step["input"]["key"])).crv == Curve.X25519:
        pytest.skip("ECDH-ES+A128KW on X25519: not in pycose; intermediates checked elsewhere")
    msg = CoseMessage.decode(bytes.fromhex(step["input"]["message"]["cbor"]))
    if "ciphertext" in step["input"]:
        msg.payload = bytes.fromhex(step["input"]["ciphertext"])
    recipient = msg.recipients[0]
    recipient.key = _pycose_key(step["input"]["key"])
    recipient.local_attrs = {ph.SuppPubOther: SUIT_KDF_OTHER}  # SUIT encryption draft context
    if test["result"] == "valid":
        assert msg.decrypt(recipient) == bytes.fromhex(step["expect"]["plaintext"])
    else:
        with pytest.raises(Exception):  # noqa: B017 - pycose's and cryptography's own errors
            msg.decrypt(recipient)
