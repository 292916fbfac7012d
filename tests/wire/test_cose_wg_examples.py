"""cose-wg/Examples as outside truth for edbp's COSE layer.

For every copied example file: valid ones in edbp's profile decode, verify/decrypt to the
plaintext, and are rebuilt from their inputs (keys, headers, ``rng_stream`` replayed draw by draw)
with the same intermediates (ToBeSign, AAD, CEK, KDF context, ECDH secret, KEK) and the same
bytes; ``fail: true`` ones are refused with an edbp error; out-of-profile ones are refused with
an edbp error too (never a lower library's exception). ``MANIFEST.json`` beside the data lists
each file's outcome; this test recomputes every entry, so the manifest cannot drift.

Rebuilt bytes are compared exactly, or, where the published ``output.cbor`` is not
deterministic CBOR (cose-wg writes header maps in insertion order), against the deterministic
re-encoding of the published message (protected bytes, ciphertexts, tags, wrapped keys and
signatures unchanged; only unprotected map order differs). The manifest records which.
ECDSA signatures are randomized by cose-wg's generator (no replayable nonce), so for ES256 the
rebuilt message is compared with the published signature spliced in, and both signatures verify.

Regenerate the manifest after a deliberate change: ``python tests/wire/test_cose_wg_examples.py``.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from edbp.reference.wire import cose
from edbp.reference.wire.cose import Alg, CoseKey, HeaderLabel

from edbp.errors import DecryptionFailed, EdbpError

DATA = Path(__file__).resolve().parent.parent / "interop" / "cose-wg-examples"
MANIFEST = DATA / "MANIFEST.json"
FILES = sorted(p.relative_to(DATA).as_posix() for p in DATA.glob("*/*.json"))

ALG_BY_NAME: dict[str, int] = {
    "ES256": -7,
    "ES384": -35,
    "ES512": -36,
    "EdDSA": -8,
    "A128GCM": 1,
    "A192GCM": 2,
    "A256GCM": 3,
    "direct": -6,
    "A128KW": -3,
    "A192KW": -4,
    "A256KW": -5,
    "ECDH-ES": -25,
    "ECDH-ES-512": -26,
    "ECDH-SS": -27,
    "ECDH-SS-256": -27,
    "ECDH-SS-512": -28,
    "ECDH-ES-A128KW": -29,
    "ECDH-ES-A192KW": -30,
    "ECDH-ES-A256KW": -31,
    "ECDH-SS-A128KW": -32,
    "ECDH-SS-A192KW": -33,
    "ECDH-SS-A256KW": -34,
    "HS256/64": 4,
    "HS256": 5,
    "HS384": 6,
    "HS512": 7,
    "AES-MAC-128/64": 14,
    "AES-MAC-256/64": 15,
    "AES-MAC-128/128": 25,
    "AES-MAC-256/128": 26,
    # direct+HKDF-AES (RFC 9053 §6.1.2): receive side only
    "HKDF-AES-128": -12,
    "HKDF-AES-256": -13,
    # cose-wg names AES-CCM as L-keybits/tagbits; RFC 9053 §4.2 ids
    "AES-CCM-16-128/64": 10,
    "AES-CCM-16-256/64": 11,
    "AES-CCM-64-128/64": 12,
    "AES-CCM-64-256/64": 13,
    "AES-CCM-16-128/128": 30,
    "AES-CCM-16-256/128": 31,
    "AES-CCM-64-128/128": 32,
    "AES-CCM-64-256/128": 33,
}

# the allow-lists edbp's profile uses when it processes these files
SIGNATURE_PROFILE = cose.SIGNATURE_ALGS
# receive side: AES-CCM too (decrypt only; edbp's delivery profile never lists it)
CONTENT_PROFILE = cose.AEAD_ALGS | cose.CCM_ALGS
# receive side: direct+HKDF-AES too (opened only; nothing edbp delivers names it)
RECIPIENT_PROFILE = cose.RECIPIENT_ALGS | cose.HKDF_AES_ALGS
MAC_PROFILE = cose.MAC_ALGS
#: curves edbp's ECDH recipients accept (receiving: RFC 9053 §6.3)
ECDH_CURVES = ("P-256", "P-384", "P-521", "X25519")


class ReplayRandom:
    """A RandomSource that hands out cose-wg's ``rng_stream`` entries one draw at a time; a
    draw of a different size than the next entry is a test failure (the order is part of the
    contract)."""

    def __init__(self, chunks: list[str]) -> None:
        self.chunks = [bytes.fromhex(c) for c in chunks]

    def random_bytes(self, n: int) -> bytes:
        assert self.chunks, "edbp drew more randomness than cose-wg's generator"
        chunk = self.chunks.pop(0)
        assert len(chunk) == n, f"draw of {n} bytes where cose-wg drew {len(chunk)}"
        return chunk

    def fork(self, label: str) -> ReplayRandom:
        return self


# ------------------------------------------------------------------ reading the examples


def _load(rel: str) -> dict[str, Any]:
    return json.loads((DATA / rel).read_text())


def _kind(doc: dict[str, Any]) -> str:
    for kind in ("sign0", "sign", "encrypted", "enveloped", "mac", "mac0"):
        if kind in doc["input"]:
            return kind
    raise AssertionError("unknown example kind")


def _alg_name(layer: dict[str, Any]) -> str | None:
    for bucket in ("protected", "unprotected"):
        if "alg" in layer.get(bucket, {}):
            return str(layer[bucket]["alg"])
    alg = layer.get("alg")
    return str(alg) if alg is not None else None


def _headers(bucket: dict[str, Any]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for name, value in bucket.items():
        if name == "alg":
            out[HeaderLabel.ALG] = ALG_BY_NAME[value]
        elif name == "kid":
            out[HeaderLabel.KID] = value.encode()
        elif name == "ctyp":
            out[HeaderLabel.CONTENT_TYPE] = value
        elif name == "epk":
            continue  # cose-wg draws a fresh ephemeral key from rng_stream
        else:
            raise KeyError(name)
    return {int(k): v for k, v in out.items()}


def classify(doc: dict[str, Any]) -> tuple[str, str]:
    """("in", "") when edbp's profile covers the example, else ("out", reason)."""
    kind = _kind(doc)
    inp = doc["input"]
    layer = inp[kind]
    if kind == "sign":  # receive side: every signer's alg and curve as for a COSE_Sign1
        for signer in layer["signers"]:
            scope = _signature_in_profile(signer)
            if scope[0] == "out":
                return scope
        return "in", ""
    alg = _alg_name(layer)
    if kind in ("mac", "mac0"):
        if alg not in ALG_BY_NAME or ALG_BY_NAME[alg] not in {int(a) for a in MAC_PROFILE}:
            return "out", f"MAC algorithm {alg} is not implemented"
        return _recipients_in_profile(layer)
    if kind == "sign0":
        return _signature_in_profile(layer)
    if alg not in ALG_BY_NAME or Alg(ALG_BY_NAME[alg]) not in CONTENT_PROFILE:
        return "out", f"content algorithm {alg} is outside edbp's profile"
    if "partialIV_hex" in layer.get("unprotected", {}):
        return "out", "Partial IV (needs a Base IV context) is outside edbp's profile"
    return _recipients_in_profile(layer)


def _signature_in_profile(layer: dict[str, Any]) -> tuple[str, str]:
    """A COSE_Sign1 or one COSE_Sign signer. Receive side: ES384 on P-384, ES512 on P-521
    and EdDSA on Ed448 too (verify only)."""
    alg = _alg_name(layer)
    curves = {"ES256": ("P-256",), "ES384": ("P-384",), "ES512": ("P-521",)}
    crv = layer["key"].get("crv")
    if crv not in curves.get(str(alg), ("Ed25519", "Ed448")):
        return "out", f"{alg} on {crv}: edbp verifies each ECDSA hash on its own curve only"
    if "alg" not in layer.get("protected", {}):
        return "out", "alg only in the unprotected header (edbp requires it protected)"
    return "in", ""


def _recipients_in_profile(layer: dict[str, Any]) -> tuple[str, str]:
    for r in layer.get("recipients", []):
        ralg = _alg_name(r)
        if ralg not in ALG_BY_NAME or ALG_BY_NAME[ralg] not in {int(a) for a in RECIPIENT_PROFILE}:
            return "out", f"recipient algorithm {ralg} is not implemented"
        crv = r["key"].get("crv")
        if crv is not None and crv not in ECDH_CURVES:
            return "out", f"ECDH on {crv} is not implemented (P-256, P-384, P-521, X25519)"
    return "in", ""


# ------------------------------------------------------------------ processing (receive side)


def _recipient_key(r: dict[str, Any]) -> CoseKey:
    return CoseKey.from_jwk(r["key"])


def _receiver_key(r: dict[str, Any]) -> CoseKey:
    """The receiver's key without its kid: some published examples label the recipient with a
    kid other than the key's (aes-gcm-02/03: "sec-48" for key "sec-192"); the receiver here
    holds exactly one key, so recipient selection goes by algorithm and key type."""
    return attrs.evolve(_recipient_key(r), kid=None)


def process(doc: dict[str, Any], data: bytes, trace: cose.Trace | None = None) -> bytes:
    """Decode ``data`` as the example's structure and verify/decrypt it with edbp's profile
    allow-lists; returns the payload."""
    kind = _kind(doc)
    layer = doc["input"][kind]
    external = bytes.fromhex(layer.get("external", ""))
    if kind == "sign":
        keys = [CoseKey.from_jwk(s["key"]).public() for s in layer["signers"]]
        return cose.Sign.decode(data, lenient=True, tagged=None).verify(
            keys, algorithms=SIGNATURE_PROFILE, external_aad=external, trace=trace
        )
    if kind == "sign0":
        key = CoseKey.from_jwk(layer["key"])
        msg = cose.Sign1.decode(data, lenient=True, tagged=None)
        return msg.verify(
            key.public(), algorithms=SIGNATURE_PROFILE, external_aad=external, trace=trace
        )
    r = layer["recipients"][0]
    if kind == "mac0":
        return cose.Mac0.decode(data, lenient=True, tagged=None).verify(
            _receiver_key(r), algorithms=MAC_PROFILE, external_aad=external
        )
    if kind == "mac":
        sender = CoseKey.from_jwk(r["sender_key"]).public() if "sender_key" in r else None
        return cose.Mac.decode(data, lenient=True, tagged=None).verify(
            _receiver_key(r),
            algorithms=MAC_PROFILE,
            recipient_algorithms=RECIPIENT_PROFILE,
            external_aad=external,
            sender_key=sender,
            trace=trace,
        )
    key = _receiver_key(r)
    if kind == "encrypted":
        enc0 = cose.Encrypt0.decode(data, lenient=True, tagged=None)
        return enc0.decrypt(key, algorithms=CONTENT_PROFILE, external_aad=external)
    sender = CoseKey.from_jwk(r["sender_key"]).public() if "sender_key" in r else None
    enc = cose.Encrypt.decode(data, lenient=True, tagged=None)
    # what both parties know but never send (cose-wg "unsent"): SuppPubInfo.other and
    # SuppPrivInfo of the KDF context
    unsent = r.get("unsent", {})
    pub_other, priv_other = unsent.get("pub_other"), unsent.get("priv_other")
    return enc.decrypt(
        key,
        algorithms=CONTENT_PROFILE,
        recipient_algorithms=RECIPIENT_PROFILE,
        external_aad=external,
        supp_pub_other=None if pub_other is None else pub_other.encode(),
        supp_priv_info=None if priv_other is None else priv_other.encode(),
        sender_key=sender,
        trace=trace,
    )


# ------------------------------------------------------------------ rebuilding (send side)


def _layer_options(layer: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    failures = doc["input"].get("failures", {})
    opts: dict[str, Any] = {
        "protected": _headers(layer.get("protected", {})),
        "unprotected": _headers(layer.get("unprotected", {})),
        "external_aad": bytes.fromhex(layer.get("external", "")),
        "tagged": "RemoveCBORTag" not in failures,
    }
    if "ChangeProtected" in failures:
        assert not opts["protected"]
        opts["protected_raw"] = bytes.fromhex(failures["ChangeProtected"])
        opts["protected"] = None
    return opts


def _recipient_spec(r: dict[str, Any], direct_agreement: bool) -> cose.RecipientSpec:
    alg = Alg(ALG_BY_NAME[_alg_name(r)])  # type: ignore[index]
    key = _recipient_key(r)
    prot = _headers(r.get("protected", {}))
    unprot = _headers(r.get("unprotected", {}))
    if alg in cose.ECDH_ALGS:
        key = key.public()
    spec = cose.RecipientSpec(alg=alg, key=key, protected=prot, unprotected=unprot)
    if "sender_key" in r:
        sender = CoseKey.from_jwk(r["sender_key"])
        # cose-wg sends a sender key that has a kid as "static key id" (-3), else the key (-2);
        # its ECDH-SS direct recipients carry a 64-byte PartyU nonce drawn before the IV
        spec = attrs.evolve(
            spec,
            sender_key=sender,
            sender_key_id=sender.kid,
            party_u_nonce=64 if direct_agreement else None,
        )
    return spec


def rebuild(doc: dict[str, Any], trace: cose.Trace) -> Any:
    """Build the example's message from its inputs; returns the edbp message object."""
    kind = _kind(doc)
    inp = doc["input"]
    layer = inp[kind]
    plaintext = inp["plaintext"].encode()
    opts = _layer_options(layer, doc)
    if kind == "sign0":
        key = CoseKey.from_jwk(layer["key"])
        alg = Alg(ALG_BY_NAME[_alg_name(layer)])  # type: ignore[index]
        return cose.sign1(plaintext, key, alg, trace=trace, **opts)
    rng = ReplayRandom(inp.get("rng_stream", []))
    alg = Alg(ALG_BY_NAME[_alg_name(layer)])  # type: ignore[index]
    if kind == "encrypted":
        key = _recipient_key(layer["recipients"][0])
        msg = cose.encrypt0(plaintext, key, alg, rng=rng, trace=trace, **opts)
    else:
        specs = []
        for r in layer["recipients"]:
            ralg = Alg(ALG_BY_NAME[_alg_name(r)])  # type: ignore[index]
            direct = ralg in cose.ECDH_ALGS and cose.alg_info(ralg).wrap is None
            specs.append(_recipient_spec(r, direct))
        msg = cose.encrypt(plaintext, specs, alg, rng=rng, trace=trace, **opts)
    assert not rng.chunks, "cose-wg drew randomness edbp did not"
    return msg


def _parse_output(doc: dict[str, Any], data: bytes) -> Any:
    kind = _kind(doc)
    cls = {"sign0": cose.Sign1, "encrypted": cose.Encrypt0, "enveloped": cose.Encrypt}[kind]
    return cls.decode(data, lenient=True, tagged=None)


def check_intermediates(doc: dict[str, Any], trace: cose.Trace) -> None:
    inter = doc.get("intermediates", {})
    if "ToBeSign_hex" in inter:
        assert trace.to_be_signed == bytes.fromhex(inter["ToBeSign_hex"])
    if "ToMac_hex" in inter:
        assert trace.to_be_maced == bytes.fromhex(inter["ToMac_hex"])
    if "AAD_hex" in inter and _kind(doc) != "mac":
        # (hmac-aes-*-03/04, COSE_Mac, also list an "Enveloped" Enc_structure: a leftover of
        # cose-wg's generator, since a COSE_Mac has none; their ToMac_hex is compared above)
        assert trace.enc_structure == bytes.fromhex(inter["AAD_hex"])
    if "CEK_hex" in inter:
        assert trace.cek == bytes.fromhex(inter["CEK_hex"])
    for theirs, ours in zip(inter.get("recipients", []), trace.recipients, strict=False):
        if "Context_hex" in theirs:
            assert ours.kdf_context == bytes.fromhex(theirs["Context_hex"])
        if "Secret_hex" in theirs:
            assert ours.shared_secret == bytes.fromhex(theirs["Secret_hex"])
        if "KEK_hex" in theirs:
            assert ours.kek == bytes.fromhex(theirs["KEK_hex"])


def evaluate(rel: str) -> dict[str, Any]:
    """Run one example end to end and describe the outcome (the manifest entry)."""
    doc = _load(rel)
    data = bytes.fromhex(doc["output"]["cbor"])
    scope, reason = classify(doc)
    if scope == "out":
        with pytest.raises(EdbpError) as info:
            process(doc, data)
        return {
            "status": "out-of-profile",
            "reason": reason,
            "refused_with": info.value.code.name,
        }
    if doc.get("fail"):
        with pytest.raises(EdbpError) as info:
            process(doc, data)
        return {
            "status": "pass",
            "check": "fail example refused",
            "refused_with": info.value.code.name,
        }
    plaintext = doc["input"]["plaintext"].encode()
    layer = doc["input"][_kind(doc)]
    curves = {r["key"].get("crv") for r in layer.get("recipients", [])}
    if _kind(doc) == "sign":
        # COSE_Sign: verified on the receive side (each signature over its own Sig_structure,
        # context "Signature"); never rebuilt, edbp emits COSE_Sign1 only
        trace = cose.Trace()
        assert process(doc, data, trace) == plaintext
        msg = cose.Sign.decode(data, lenient=True, tagged=None)
        theirs = doc.get("intermediates", {}).get("signers", [])
        assert len(theirs) == len(msg.signatures)
        for index, signer in enumerate(theirs):
            assert msg.to_be_signed(index) == bytes.fromhex(signer["ToBeSign_hex"])
        assert trace.to_be_signed == msg.to_be_signed(0)
        return {
            "status": "pass",
            "check": "verified; every signer's ToBeSign equals the published one",
        }
    if _kind(doc) == "sign0" and layer["key"].get("crv") in ("P-384", "P-521", "Ed448"):
        # receive-only signature algorithms: verified, ToBeSign compared, never rebuilt
        trace = cose.Trace()
        assert process(doc, data, trace) == plaintext
        check_intermediates(doc, trace)
        return {"status": "pass", "check": "verified; ToBeSign equals the published one"}
    ralgs = {_alg_name(r) for r in layer.get("recipients", [])}
    if _kind(doc) in ("mac", "mac0") or curves & {"P-384", "P-521"} or ralgs & _HKDF_AES:
        # verified with the intermediates the published example lists; not rebuilt: edbp
        # creates COSE_Mac0 only (as the SUIT encryption draft's examples need), draws
        # ephemeral keys on P-256 / X25519 only, and opens direct+HKDF-AES without emitting it
        trace = cose.Trace()
        assert process(doc, data, trace) == plaintext
        check_intermediates(doc, trace)
        mac = _kind(doc) in ("mac", "mac0")
        return {
            "status": "pass",
            "check": ("verified; MAC_structure, MAC key" if mac else "decrypts; AAD, CEK")
            + " and recipient intermediates equal the published ones",
        }
    assert process(doc, data) == plaintext
    trace = cose.Trace()
    ours = rebuild(doc, trace)
    check_intermediates(doc, trace)
    published = _parse_output(doc, data)
    entry: dict[str, Any] = {"status": "pass"}
    if isinstance(ours, cose.Sign1):
        assert process(doc, ours.encode()) == plaintext
        if ours.signature != published.signature:
            # randomized ECDSA in cose-wg's generator; both signatures verify (above)
            assert cose.alg_info(Alg(published.headers.raw_alg)).family == "ecdsa"
            ours = attrs.evolve(ours, signature=published.signature)
            entry["note"] = "ECDSA signature value not replayable; rest byte-identical"
    else:
        assert process(doc, ours.encode()) == plaintext
    encoded = ours.encode()
    assert encoded == published.encode(), "rebuilt message differs from the published one"
    entry["check"] = "decrypts/verifies; rebuilt from inputs and rng_stream"
    entry["byte_identical"] = encoded == data
    if not entry["byte_identical"]:
        entry["note"] = (
            entry.get("note", "") + "; " if "note" in entry else ""
        ) + "published unprotected map not in deterministic order; equal after re-encoding"
    return entry


_HKDF_AES = {"HKDF-AES-128", "HKDF-AES-256"}


def _manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text())["files"]


@pytest.mark.parametrize("rel", FILES)
def test_cose_wg_example(rel: str) -> None:
    assert evaluate(rel) == _manifest()[rel]


def test_manifest_lists_every_file() -> None:
    assert sorted(_manifest()) == FILES
    statuses = [e["status"] for e in _manifest().values()]
    # the profile must keep covering a real share of the published examples
    assert statuses.count("pass") >= 60


MAC_FILES = [rel for rel in FILES if _kind(_load(rel)) == "mac" and classify(_load(rel))[0] == "in"]


@pytest.mark.parametrize("rel", MAC_FILES)
def test_cose_wg_mac_with_a_changed_tag_or_payload_is_refused(rel: str) -> None:
    """The seeded flaw for COSE_Mac verification: one bit of the tag or of the payload
    changed, the published example no longer verifies (COSE_BAD_MAC, compared in constant
    time over the MAC_structure as received)."""
    doc = _load(rel)
    msg = cose.Mac.decode(bytes.fromhex(doc["output"]["cbor"]), lenient=True, tagged=None)
    assert msg.payload is not None
    for bad in (
        attrs.evolve(msg, tag=msg.tag[:-1] + bytes([msg.tag[-1] ^ 1])),
        attrs.evolve(msg, payload=bytes([msg.payload[0] ^ 1]) + msg.payload[1:]),
        attrs.evolve(msg, tag=msg.tag[:-1]),
    ):
        with pytest.raises(EdbpError) as info:
            process(doc, bad.encode())
        assert info.value.code.name == "COSE_BAD_MAC"


def test_mac_algorithms_cover_rfc_9053_and_the_examples() -> None:
    assert len(MAC_FILES) >= 25
    assert {int(a) for a in cose.MAC_ALGS} == {4, 5, 6, 7, 14, 15, 25, 26}


CCM_FILES = [
    rel
    for rel in FILES
    if _kind(_load(rel)) in ("encrypted", "enveloped")
    and str(_alg_name(_load(rel)["input"][_kind(_load(rel))])).startswith("AES-CCM")
]


def _ccm_parts(rel: str) -> tuple[dict[str, Any], Alg, bytes, bytes, bytes, bytes]:
    doc = _load(rel)
    msg = cose.Encrypt.decode(bytes.fromhex(doc["output"]["cbor"]), lenient=True, tagged=None)
    alg = Alg(msg.headers.raw_alg)
    aad = cose.enc_structure("Encrypt", msg.headers.protected_for_crypto, b"")
    iv = msg.headers.get(HeaderLabel.IV)
    assert isinstance(iv, bytes) and msg.ciphertext is not None
    cek = bytes.fromhex(doc["intermediates"]["CEK_hex"])
    return doc, alg, cek, iv, aad, msg.ciphertext


@pytest.mark.parametrize("rel", CCM_FILES)
def test_cose_wg_ccm_content_decrypts_with_the_published_cek(rel: str) -> None:
    """AES-CCM content against cose-wg's intermediates: the Enc_structure edbp builds from the
    protected bytes as received equals the published AAD, and the published ciphertext
    decrypts with the published CEK to the plaintext (the whole message, with its
    direct+HKDF-AES recipient, is checked in the manifest)."""
    doc, alg, cek, iv, aad, ct = _ccm_parts(rel)
    assert alg in cose.CCM_ALGS
    assert aad == bytes.fromhex(doc["intermediates"]["AAD_hex"])
    assert len(iv) == cose.alg_info(alg).iv_bytes
    plaintext = cose.decrypt_content(alg, cek, iv, ct, aad)
    assert plaintext == doc["input"]["plaintext"].encode()


@pytest.mark.parametrize("rel", CCM_FILES)
def test_cose_wg_ccm_with_a_changed_bit_is_refused_without_detail(rel: str) -> None:
    """The seeded flaws for AES-CCM decryption: a bit of the tag, of the ciphertext, of the
    AAD or of the key changed, or a truncated tag, all give the same DecryptionFailed."""
    _, alg, cek, iv, aad, ct = _ccm_parts(rel)
    flip = bytes([ct[-1] ^ 1])
    for args in (
        (cek, iv, ct[:-1] + flip, aad),
        (cek, iv, bytes([ct[0] ^ 0x80]) + ct[1:], aad),
        (cek, iv, ct, aad + b"\0"),
        (bytes([cek[0] ^ 1]) + cek[1:], iv, ct, aad),
        (cek, iv, ct[:-1], aad),
        (cek[:-1], iv, ct, aad),
    ):
        with pytest.raises(EdbpError) as info:
            cose.decrypt_content(alg, *args)
        assert type(info.value) is DecryptionFailed
        assert str(info.value) == str(DecryptionFailed())


def test_ccm_is_receive_only_and_outside_every_delivery_profile() -> None:
    from edbp.reference.build import package

    assert {int(a) for a in cose.CCM_ALGS} == {10, 11, 12, 13, 30, 31, 32, 33}
    assert len(CCM_FILES) == 24
    assert not cose.CCM_ALGS & cose.AEAD_ALGS
    assert not cose.CCM_ALGS & package.CONTENT_ALGS
    with pytest.raises(EdbpError) as info:
        cose.encrypt0(b"x", CoseKey.symmetric(bytes(16)), Alg.AES_CCM_16_64_128)
    assert info.value.code.name == "COSE_ALG_NOT_ALLOWED"


HKDF_AES_FILES = [
    rel
    for rel in FILES
    if any(
        _alg_name(r) in _HKDF_AES
        for r in _load(rel)["input"][_kind(_load(rel))].get("recipients", [])
    )
]


def test_hkdf_aes_expand_is_the_aes_cbc_mac_prf() -> None:
    """RFC 9053 §5.1 by hand: T(1) = AES-CBC-MAC(PRK, info | 0x01) over the zero-padded
    input with a zero IV, T(2) = AES-CBC-MAC(PRK, T(1) | info | 0x02); no extract step."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from edbp.reference.wire.cose_kdf import hkdf_aes_expand

    def cbc_mac(k: bytes, m: bytes) -> bytes:
        enc = Cipher(algorithms.AES(k), modes.CBC(bytes(16))).encryptor()
        return (enc.update(m + bytes(-len(m) % 16)) + enc.finalize())[-16:]

    for prk in (bytes(range(16)), bytes(range(32))):
        info = b"context"
        t1 = cbc_mac(prk, info + b"\x01")
        t2 = cbc_mac(prk, t1 + info + b"\x02")
        assert hkdf_aes_expand(prk, info, 32) == t1 + t2
        assert hkdf_aes_expand(prk, info, 20) == (t1 + t2)[:20]
    with pytest.raises(EdbpError) as info_:
        hkdf_aes_expand(bytes(24), b"", 16)
    assert info_.value.code.name == "COSE_ALG_KEY_MISMATCH"


def _with_recipient(msg: Any, **changes: Any) -> Any:
    return attrs.evolve(msg, recipients=(attrs.evolve(msg.recipients[0], **changes),))


@pytest.mark.parametrize("rel", HKDF_AES_FILES)
def test_hkdf_aes_with_a_wrong_key_or_context_is_refused_without_detail(rel: str) -> None:
    """The seeded flaws for direct+HKDF-AES: a key with one bit changed, a changed recipient
    protected header (part of the KDF context), a changed PartyU identity, or a wrong
    SuppPrivInfo derive another CEK; the content layer answers the one DecryptionFailed
    (a COSE_Mac the one COSE_BAD_MAC), never which input was wrong."""
    doc = _load(rel)
    kind = _kind(doc)
    data = bytes.fromhex(doc["output"]["cbor"])
    cls = cose.Mac if kind == "mac" else cose.Encrypt
    msg = cls.decode(data, lenient=True, tagged=None)
    r = msg.recipients[0]
    bad_prot = cose.Headers.make({1: int(r.headers.raw_alg), 3: 0}, dict(r.headers.unprotected))
    bad_party = cose.Headers.make(
        dict(r.headers.protected),
        {**dict(r.headers.unprotected), int(HeaderLabel.PARTY_U_IDENTITY): b"Mallory"},
    )
    flawed = [_with_recipient(msg, headers=bad_prot), _with_recipient(msg, headers=bad_party)]
    expected = "COSE_BAD_MAC" if kind == "mac" else "COSE_DECRYPT_FAILED"
    for bad in flawed:
        with pytest.raises(EdbpError) as info:
            process(doc, bad.encode())
        assert info.value.code.name == expected
    key_doc = json.loads(json.dumps(doc))
    jwk = key_doc["input"][kind]["recipients"][0]["key"]
    k = CoseKey.from_jwk(jwk).k
    assert k is not None
    jwk["k"] = base64.urlsafe_b64encode(bytes([k[0] ^ 1]) + k[1:]).rstrip(b"=").decode()
    priv_doc = json.loads(json.dumps(doc))
    priv_doc["input"][kind]["recipients"][0]["unsent"] = {"priv_other": "wrong"}
    # (the COSE_Mac examples carry no SuppPrivInfo; their MAC key is checked with the key flaw)
    for variant in (key_doc, priv_doc) if kind != "mac" else (key_doc,):
        with pytest.raises(EdbpError) as info:
            process(variant, data)
        assert info.value.code.name == expected
        if kind != "mac":
            assert type(info.value) is DecryptionFailed
            assert str(info.value) == str(DecryptionFailed())


def test_hkdf_aes_is_receive_only_and_outside_every_delivery_profile() -> None:
    """-12/-13 (RFC 9053 table 12) are opened only when the allow-list names them: a delivery
    list built on RECIPIENT_ALGS sees them as unknown (as before edbp knew them), and encrypt
    refuses them."""
    assert len(HKDF_AES_FILES) == 28
    assert {int(a) for a in cose.HKDF_AES_ALGS} == {-12, -13}
    assert not cose.HKDF_AES_ALGS & cose.RECIPIENT_ALGS
    doc = _load(HKDF_AES_FILES[0])
    msg = cose.Encrypt.decode(bytes.fromhex(doc["output"]["cbor"]), lenient=True, tagged=None)
    key = _receiver_key(doc["input"]["enveloped"]["recipients"][0])
    with pytest.raises(EdbpError) as info:
        msg.decrypt(key, algorithms=CONTENT_PROFILE, recipient_algorithms=cose.RECIPIENT_ALGS)
    assert info.value.code.name == "COSE_UNKNOWN_ALG"
    spec = cose.RecipientSpec(alg=Alg.DIRECT_HKDF_AES_128, key=CoseKey.symmetric(bytes(16)))
    with pytest.raises(EdbpError) as info:
        cose.encrypt(b"x", [spec], Alg.A128GCM)
    assert info.value.code.name == "COSE_ALG_NOT_ALLOWED"


RECEIVE_ONLY_SIGN1 = [
    rel
    for rel in FILES
    if _kind(_load(rel)) == "sign0"
    and _load(rel)["input"]["sign0"]["key"].get("crv") in ("P-384", "P-521", "Ed448")
    and not _load(rel).get("fail")
]


@pytest.mark.parametrize("rel", RECEIVE_ONLY_SIGN1)
def test_receive_only_signature_with_a_changed_bit_is_refused(rel: str) -> None:
    """Seeded flaws for ES384 / ES512 / Ed448: a bit of the signature or payload changed, or
    a truncated signature, is COSE_BAD_SIGNATURE; edbp's delivery lists (TEEP, SUIT, EAT) do
    not name these algorithms, so there the same message is COSE_UNKNOWN_ALG as before."""
    doc = _load(rel)
    msg = cose.Sign1.decode(bytes.fromhex(doc["output"]["cbor"]), lenient=True, tagged=None)
    assert msg.payload is not None
    for bad in (
        attrs.evolve(msg, signature=msg.signature[:-1] + bytes([msg.signature[-1] ^ 1])),
        attrs.evolve(msg, payload=bytes([msg.payload[0] ^ 1]) + msg.payload[1:]),
        attrs.evolve(msg, signature=msg.signature[:-1]),
    ):
        with pytest.raises(EdbpError) as info:
            process(doc, bad.encode())
        assert info.value.code.name == "COSE_BAD_SIGNATURE"
    key = CoseKey.from_jwk(doc["input"]["sign0"]["key"]).public()
    for profile in (cose.P256_SIGNATURE_ALGS | cose.ED25519_SIGNATURE_ALGS, {-9, -7, -19, -8}):
        with pytest.raises(EdbpError) as info:
            msg.verify(key, algorithms={Alg(a) for a in profile})
        assert info.value.code.name in ("COSE_UNKNOWN_ALG", "COSE_ALG_KEY_MISMATCH")
    with pytest.raises(EdbpError) as info:
        cose.sign1(b"x", CoseKey.from_jwk(doc["input"]["sign0"]["key"]), Alg(msg.headers.raw_alg))
    assert info.value.code.name in ("COSE_ALG_NOT_ALLOWED", "COSE_ALG_KEY_MISMATCH")


SIGN_FILES = [
    rel for rel in FILES if _kind(_load(rel)) == "sign" and classify(_load(rel))[0] == "in"
]


@pytest.mark.parametrize("rel", SIGN_FILES)
def test_cose_sign_with_a_changed_bit_is_refused(rel: str) -> None:
    """Seeded flaws for COSE_Sign: a changed signature bit, payload bit or signer protected
    header, a truncated signature, or a wrong number of keys, and the message is refused;
    a delivery never takes a COSE_Sign (it expects a COSE_Sign1: COSE_WRONG_TAG)."""
    doc = _load(rel)
    data = bytes.fromhex(doc["output"]["cbor"])
    msg = cose.Sign.decode(data, lenient=True, tagged=None)
    assert msg.payload is not None
    sig = msg.signatures[0]
    flipped = sig.signature[:-1] + bytes([sig.signature[-1] ^ 1])
    for bad in (
        attrs.evolve(msg, signatures=(attrs.evolve(sig, signature=flipped),)),
        attrs.evolve(msg, payload=b"x" + msg.payload[1:]),
        attrs.evolve(msg, signatures=(attrs.evolve(sig, signature=flipped[:-1]),)),
    ):
        with pytest.raises(EdbpError) as info:
            process(doc, bad.encode())
        assert info.value.code.name == "COSE_BAD_SIGNATURE"
    keys = [CoseKey.from_jwk(s["key"]).public() for s in doc["input"]["sign"]["signers"]]
    with pytest.raises(EdbpError) as info:
        msg.verify(keys * 2, algorithms=SIGNATURE_PROFILE)
    assert info.value.code.name == "COSE_MALFORMED"
    with pytest.raises(EdbpError) as info:
        cose.Sign1.decode(data, tagged=None)
    assert info.value.code.name in ("COSE_WRONG_TAG", "COSE_MALFORMED")


def test_receive_only_signatures_cover_the_examples() -> None:
    assert len(SIGN_FILES) == 5  # ecdsa-01..03, eddsa-01..02 (ecdsa-04: ES512 on P-256)
    assert len(RECEIVE_ONLY_SIGN1) == 3  # ES384, ES512, Ed448 (ecdsa-sig-04 is a fail case)


def write_manifest() -> None:
    files = {rel: evaluate(rel) for rel in FILES}
    MANIFEST.write_text(
        json.dumps(
            {
                "source": "cose-wg/Examples @ 53c9d634333bb4f529d78f5980fffa2667ee2c12",
                "generated_by": "tests/wire/test_cose_wg_examples.py",
                "files": files,
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )


if __name__ == "__main__":
    write_manifest()
    sys.exit(0)
