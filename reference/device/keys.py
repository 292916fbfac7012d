"""The Agent's own keys: Device Agreement Key (DAK) and Device Signing Key (DSK).

Why a class that hands out operations rather than keys: the private halves are made inside the
TEE (``enrol.keygen``) and must never leave it (P1, P8). ``DeviceKeys`` exposes the public
halves (for the Manufacturer's endorsement and the ``cnf`` claim), signs with the DSK and runs
the ECDH-ES recipient step with the DAK; it has no method that returns a private half. The only
serialisation is ``seal_record``, consumed by the Agent's sealed storage and nowhere else.

Suites: ``P256`` (DAK on P-256, DSK signs ESP256), ``X25519`` (DAK on X25519, DSK signs
Ed25519), and the optional post-quantum ``PQ`` (`edbp-pq`, spec/protocol.md section 4.1: the
DAK an MLKEM768-X25519 HPKE key, the DSK ML-DSA-65, both AKP keys made from 32-byte seeds).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from typing import Any

import attrs
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource
from edbp.reference.wire.cbor import dumps, loads
from edbp.reference.wire.cose_algs import Alg, Curve, KeyType
from edbp.reference.wire.cose_encrypt import Encrypt
from edbp.reference.wire.cose_headers import Label
from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1, sign1
from edbp.reference.wire.eat import UeidType

from edbp.errors import Code, DecryptionFailed, VerificationError

__all__ = ["DeviceKeys", "KeySuite"]


class KeySuite(enum.Enum):
    """Which curves the device's keys use."""

    P256 = "p256"
    X25519 = "x25519"
    PQ = "pq"

    @property
    def is_pq(self) -> bool:
        return self is KeySuite.PQ

    @property
    def agreement_curve(self) -> Curve:
        """The DAK's curve (the PQ suite's DAK is an AKP key: its X25519 half is the curve)."""
        return Curve.P256 if self is KeySuite.P256 else Curve.X25519

    @property
    def signing_curve(self) -> Curve:
        return Curve.P256 if self is KeySuite.P256 else Curve.ED25519

    @property
    def signing_alg(self) -> Alg:
        if self is KeySuite.PQ:
            return Alg.ML_DSA_65
        return Alg.ESP256 if self is KeySuite.P256 else Alg.ED25519

    @property
    def recipient_alg(self) -> Alg:
        """How the CEK reaches this suite's DAK."""
        return Alg.EDBP_HPKE_XWING_KE if self is KeySuite.PQ else Alg.ECDH_ES_A128KW

    @classmethod
    def of_dsk(cls, dsk: CoseKey) -> KeySuite:
        """The suite an endorsed DSK belongs to (what the TAM pins a device to)."""
        if dsk.kty == KeyType.AKP:
            return cls.PQ
        return cls.P256 if dsk.crv == Curve.P256 else cls.X25519


@attrs.frozen
class DeviceKeys:
    """The device's identity (UEID) and its two key pairs; private halves stay inside."""

    suite: KeySuite
    ueid: bytes
    _dak: CoseKey = attrs.field(repr=False, alias="dak")
    _dsk: CoseKey = attrs.field(repr=False, alias="dsk")

    @classmethod
    def generate(
        cls, suite: KeySuite = KeySuite.P256, rng: RandomSource = DEFAULT_RANDOM
    ) -> DeviceKeys:
        """``enrol.keygen``: fresh keys and a random-type UEID, drawn inside the TEE."""
        ueid = bytes([UeidType.RAND]) + rng.fork("ueid").random_bytes(16)
        if suite.is_pq:
            dak = CoseKey.generate_akp(Alg.EDBP_HPKE_XWING_KE, rng.fork("dak"))
            dsk = CoseKey.generate_akp(Alg.ML_DSA_65, rng.fork("dsk"))
        else:
            dak = CoseKey.generate(suite.agreement_curve, rng.fork("dak"))
            dsk = CoseKey.generate(suite.signing_curve, rng.fork("dsk"))
        # kids are the RFC 9679 thumbprints, so a TAM can name the key a delivery is for
        dak = attrs.evolve(dak, kid=dak.thumbprint())
        dsk = attrs.evolve(dsk, kid=dsk.thumbprint())
        return cls(suite=suite, ueid=ueid, dak=dak, dsk=dsk)

    # ------------------------------------------------------------------ public views

    @property
    def dak_public(self) -> CoseKey:
        """The agreement key's public half (the ``cnf`` claim; the TAM wraps CEKs to it)."""
        return self._dak.public()

    @property
    def dsk_public(self) -> CoseKey:
        """The signing key's public half (the TAM verifies evidence and reports with it)."""
        return self._dsk.public()

    @property
    def signing_alg(self) -> Alg:
        return self.suite.signing_alg

    # ------------------------------------------------------------------ operations

    def sign(
        self,
        payload: bytes,
        *,
        protected: Mapping[Label, Any] | None = None,
        unprotected: Mapping[Label, Any] | None = None,
    ) -> Sign1:
        """A COSE_Sign1 over ``payload`` by the DSK (evidence, TEEP messages, reports)."""
        unprot: dict[Label, Any] = {4: self._dsk.kid, **(unprotected or {})}
        return sign1(payload, self._dsk, self.signing_alg, protected=protected, unprotected=unprot)

    def unwrap_cek(self, encryption: Encrypt, *, content_algs: Collection[Alg]) -> bytearray:
        """``deploy.unwrap_cek``: the CEK from the recipient of ``encryption`` (a SUIT
        encryption info) addressed to the DAK — ECDH-ES+A128KW with the SUIT KDF context only,
        or COSE-HPKE MLKEM768-X25519 for the PQ suite (never both: no fallback).
        Returned in a buffer the caller wipes; every failure is ``DecryptionFailed``."""
        try:
            cek = encryption.unwrap_cek(
                self._dak,
                algorithms=content_algs,
                recipient_algorithms={self.suite.recipient_alg},
                allow_unauthenticated=True,  # CTR: the caller holds the signed digests
                supp_pub_other=SUIT_KDF_OTHER,
            )
        except DecryptionFailed:
            raise DecryptionFailed(Code.AGENT_DECRYPT_FAILED) from None
        return bytearray(cek)

    def agreement_key(self) -> CoseKey:
        """The DAK itself, for code that runs *inside* the TEE boundary (tests acting as the
        device). The Agent uses ``unwrap_cek``; no message, report or log carries the key."""
        return self._dak

    # ------------------------------------------------------------------ sealed storage

    def seal_record(self) -> bytes:
        """The CBOR record the Agent seals (never written anywhere else)."""
        return dumps(
            {
                "suite": self.suite.value,
                "ueid": self.ueid,
                "dak": self._dak.encode(),
                "dsk": self._dsk.encode(),
            }
        )

    @classmethod
    def from_sealed_record(cls, data: bytes) -> DeviceKeys:
        try:
            value = loads(data)
            keys = cls(
                suite=KeySuite(value["suite"]),
                ueid=value["ueid"],
                dak=CoseKey.decode(value["dak"]),
                dsk=CoseKey.decode(value["dsk"]),
            )
            keys._dak.check_private()  # d matches x/y (or the AKP seed makes pub)
            keys._dsk.check_private()
            return keys
        except Exception:
            raise VerificationError(Code.AGENT_STORAGE_CORRUPT, "key record") from None
