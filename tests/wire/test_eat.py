"""EAT evidence (RFC 9711 claims, CWT-style COSE_Sign1): round trips, sign/verify with the
challenge, refusals and fuzz."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, cose, eat
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import Code, EdbpError, VerificationError


def _sibling(name: str) -> Any:
    """A sibling test module of tests/wire, imported by path (any pytest import mode)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(name + ".py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


mutate = _sibling("test_suit_fuzz").mutate  # the shared structure mutator


RNG = SeededRandom("test-eat")
DSK = cose.CoseKey.generate(cose.Curve.P256, RNG.fork("dsk"))
DSK_ED = cose.CoseKey.generate(cose.Curve.ED25519, RNG.fork("dsk-ed"))
DAK = cose.CoseKey.generate(cose.Curve.P256, RNG.fork("dak"), kid=b"dak")
DAK_X = cose.CoseKey.generate(cose.Curve.X25519, RNG.fork("dak-x"))
UEID = b"\x01" + RNG.fork("ueid").random_bytes(16)
CHALLENGE = RNG.fork("challenge").random_bytes(32)

claims = st.builds(
    eat.EatClaims,
    ueid=st.binary(min_size=6, max_size=32).map(lambda b: b"\x01" + b),
    cnf=st.sampled_from([DAK.public(), DAK_X.public()]),
    nonce=st.none()
    | st.binary(min_size=8, max_size=64)
    | st.lists(st.binary(min_size=8, max_size=16), min_size=1, max_size=2).map(tuple),
    oemid=st.none() | st.binary(min_size=3, max_size=3) | st.integers(0, 2**32),
    hwmodel=st.none() | st.binary(min_size=1, max_size=32),
    manifests=st.lists(
        st.builds(eat.EatManifest, st.just(eat.CF_SUIT_ENVELOPE), st.binary(max_size=20)),
        max_size=2,
    ),
    iat=st.none() | st.integers(0, 2**40),
    hwversion=st.none() | st.tuples(st.text(max_size=8), st.none() | st.integers(1, 6)),
    profile=st.none() | st.just("urn:ietf:rfc:rfc9711"),
)


@given(claims)
def test_round_trip(c: eat.EatClaims) -> None:
    data = c.encode()
    assert cbor.is_deterministic(data)
    assert eat.EatClaims.decode(data) == c


@given(claims, st.sampled_from([(DSK, -9), (DSK_ED, -19)]))
def test_sign_verify(c: eat.EatClaims, signer: tuple[cose.CoseKey, int]) -> None:
    key, alg = signer
    signed = eat.sign(c, key, alg)
    assert eat.verify(signed, key.public()) == c
    wrapped = cbor.dumps(cbor.Tag(eat.CWT_TAG, cbor.loads(signed)))
    assert eat.verify(wrapped, key.public()) == c


def test_private_cnf_is_stripped() -> None:
    c = eat.EatClaims(ueid=UEID, cnf=DAK)
    assert c.cnf.d is None
    assert eat.EatClaims.decode(c.encode()).cnf == DAK.public()


def test_challenge_binding() -> None:
    c = eat.EatClaims(
        ueid=UEID, cnf=DAK, nonce=CHALLENGE, oemid=b"\x00\x11\x22", hwmodel=b"ls1028a"
    )
    signed = eat.sign(c, DSK)
    assert eat.verify(signed, DSK.public(), challenge=CHALLENGE) == c
    with pytest.raises(VerificationError) as info:
        eat.verify(signed, DSK.public(), challenge=bytes(32))
    assert info.value.code == Code.EAT_NONCE_MISMATCH
    with pytest.raises(EdbpError) as info2:
        eat.verify(signed, DSK_ED.public())
    assert info2.value.code == Code.COSE_ALG_KEY_MISMATCH
    other = cose.CoseKey.generate(cose.Curve.P256, RNG.fork("other")).public()
    with pytest.raises(VerificationError) as info:
        eat.verify(signed, other)
    assert info.value.code == Code.EAT_BAD_SIGNATURE


@pytest.mark.parametrize(
    ("claims_map", "code"),
    [
        ({8: {1: {1: 2}}}, Code.EAT_MISSING_CLAIM),
        ({256: UEID}, Code.EAT_MISSING_CLAIM),
        ({256: b"\x01abc", 8: {1: DAK.public().to_map()}}, Code.EAT_MALFORMED),
        ({256: UEID, 8: {1: DAK.to_map()}}, Code.EAT_MALFORMED),
        ({256: UEID, 8: {3: b"kid"}}, Code.EAT_MALFORMED),
        ({256: UEID, 8: {1: DAK.public().to_map()}, 10: b"short"}, Code.EAT_MALFORMED),
        ({256: UEID, 8: {1: DAK.public().to_map()}, 273: [[60]]}, Code.EAT_MALFORMED),
        ({256: UEID, 8: {1: DAK.public().to_map()}, 999: 1}, Code.EAT_MALFORMED),
        ({256: UEID, 8: {1: {1: 2, -1: 1}}}, Code.COSE_BAD_KEY),
    ],
)
def test_refusals(claims_map: dict[int, object], code: Code) -> None:
    with pytest.raises(EdbpError) as info:
        eat.EatClaims.decode(cbor.dumps(claims_map))
    assert info.value.code == code


def test_lenient_keeps_other_claims() -> None:
    data = cbor.dumps({256: UEID, 8: {1: DAK.public().to_map()}, 999: "x"})
    c = eat.EatClaims.decode(data, lenient=True)
    assert dict(c.extra) == {999: "x"}
    assert c.encode() == data


@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    for lenient in (False, True):
        try:
            eat.EatClaims.decode(data, lenient)
        except EdbpError:
            pass
        try:
            eat.verify(data, DSK.public(), lenient=lenient)
        except EdbpError:
            pass


@given(claims, st.data())
def test_mutated_evidence(c: eat.EatClaims, data: st.DataObject) -> None:
    signed = bytearray(eat.sign(c, DSK))
    signed[data.draw(st.integers(0, len(signed) - 1))] ^= data.draw(st.integers(1, 255))
    try:
        eat.verify(bytes(signed), DSK.public(), challenge=CHALLENGE)
    except EdbpError:
        pass


@given(claims, st.data())
def test_structural_mutations(c: eat.EatClaims, data: st.DataObject) -> None:

    mutated = cbor.dumps(mutate(c.to_cbor(), data))
    for lenient in (False, True):
        try:
            eat.EatClaims.decode(mutated, lenient)
        except EdbpError:
            pass
