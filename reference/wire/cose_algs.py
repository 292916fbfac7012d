"""COSE registries edbp uses: algorithm ids, header labels, key parameters, and their names.

Why a module of its own: the SUIT/TEEP codecs, the roles and ``edbp inspect`` all need the same
numbers and names, and the profile (which algorithm is allowed where) is decided by comparing
against these enums, never against bare integers scattered through the code.

Sources: IANA "COSE Algorithms", "COSE Header Parameters", "COSE Key Common Parameters",
"COSE Key Type Parameters", "COSE Elliptic Curves" (RFC 9052, RFC 9053, RFC 9459 for AES-CTR,
RFC 9864 for the fully-specified ESP256 (-9) and Ed25519 (-19)); the post-quantum suite adds
ML-DSA-65 (-49) and the AKP key type (7) of RFC 9964 (was draft-ietf-cose-dilithium), and the
COSE-HPKE ``ek`` header (-4, the value draft-ietf-cose-hpke assumes) with a key-encryption
algorithm for the ML-KEM-768+X25519 hybrid KEM that no draft has a number for yet, so edbp uses
a private-use value (below -65536; spec/protocol.md section 4.1).
"""

from __future__ import annotations

import enum

import attrs

from edbp.errors import Code, WireError

__all__ = [
    "AEAD_ALGS",
    "ALG_NAMES",
    "CCM_ALGS",
    "COSE_TAG_NAMES",
    "CTR_ALGS",
    "CURVE_NAMES",
    "ECDH_ALGS",
    "HEADER_NAMES",
    "HKDF_AES_ALGS",
    "HPKE_ALGS",
    "KEY_OPS_NAMES",
    "KEY_PARAM_NAMES",
    "KEY_TYPE_NAMES",
    "KEY_WRAP_ALGS",
    "SIGNATURE_ALGS",
    "Alg",
    "AlgInfo",
    "CoseTag",
    "Curve",
    "HeaderLabel",
    "KeyOp",
    "KeyParam",
    "KeyType",
    "alg_info",
    "as_alg",
]


class Alg(enum.IntEnum):
    """COSE algorithm identifiers edbp knows. Knowing an id does not mean the profile allows it:
    every verify/decrypt call passes its own allow-list."""

    # signatures
    ESP256 = -9  # ECDSA P-256 + SHA-256, fully specified (RFC 9864)
    ES256 = -7  # ECDSA + SHA-256 (curve from the key); edbp accepts it with P-256 only
    ED25519 = -19  # EdDSA on Ed25519, fully specified (RFC 9864)
    EDDSA = -8  # EdDSA (curve from the key); edbp accepts it with Ed25519 only
    ML_DSA_65 = -49  # ML-DSA-65 (FIPS 204), pure, empty context (RFC 9964)
    # receive side only (cose-wg interop, inspect): no edbp profile list names them
    ES384 = -35  # ECDSA + SHA-384; edbp verifies it with P-384 only
    ES512 = -36  # ECDSA + SHA-512; edbp verifies it with P-521 only
    ED448 = -53  # EdDSA on Ed448, fully specified (RFC 9864); also EdDSA (-8) on an Ed448 key
    # content encryption, AEAD
    A128GCM = 1
    A192GCM = 2
    A256GCM = 3
    CHACHA20_POLY1305 = 24
    # content encryption without integrity (RFC 9459); only where a signed digest covers it
    A128CTR = -65534
    A192CTR = -65533
    A256CTR = -65532
    # AES-CCM content (RFC 9053 §4.2): receive side only (cose-wg interop); edbp's profile
    # never lists them, so a delivery with CCM content stays refused
    AES_CCM_16_64_128 = 10
    AES_CCM_16_64_256 = 11
    AES_CCM_64_64_128 = 12
    AES_CCM_64_64_256 = 13
    AES_CCM_16_128_128 = 30
    AES_CCM_16_128_256 = 31
    AES_CCM_64_128_128 = 32
    AES_CCM_64_128_256 = 33
    # MAC (RFC 9053 §3: COSE_Mac / COSE_Mac0; the SUIT encryption draft's AES-KW examples
    # authenticate with HMAC 256/256)
    HMAC_256_64 = 4
    HMAC_256_256 = 5
    HMAC_384_384 = 6
    HMAC_512_512 = 7
    AES_MAC_128_64 = 14
    AES_MAC_256_64 = 15
    AES_MAC_128_128 = 25
    AES_MAC_256_128 = 26
    # key wrap
    A128KW = -3
    A192KW = -4
    A256KW = -5
    DIRECT = -6
    # direct + HKDF with AES-CBC-MAC as the PRF (RFC 9053 §6.1.2): receive side only
    # (cose-wg interop); no edbp profile list names them
    DIRECT_HKDF_AES_128 = -12
    DIRECT_HKDF_AES_256 = -13
    # key agreement
    ECDH_ES_HKDF_256 = -25
    ECDH_ES_HKDF_512 = -26
    ECDH_SS_HKDF_256 = -27
    ECDH_SS_HKDF_512 = -28
    ECDH_ES_A128KW = -29
    ECDH_ES_A192KW = -30
    ECDH_ES_A256KW = -31
    ECDH_SS_A128KW = -32
    ECDH_SS_A192KW = -33
    ECDH_SS_A256KW = -34
    # COSE-HPKE key encryption (draft-ietf-cose-hpke, "Key Encryption" mode) with KEM
    # MLKEM768-X25519 (0x647a), HKDF-SHA256, AES-128-GCM. PRIVATE USE: no draft assigns it a
    # value yet (draft-ietf-cose-hpke-pq-pqt lists the suite with TBD); replace when assigned.
    EDBP_HPKE_XWING_KE = -70768
    # hashes (SUIT digests)
    SHA256 = -16
    SHA384 = -43
    SHA512 = -44


class HeaderLabel(enum.IntEnum):
    """COSE header parameter labels (RFC 9052 §3.1, RFC 9053 §6, RFC 9338, RFC 9360, RFC 9597)."""

    ALG = 1
    CRIT = 2
    CONTENT_TYPE = 3
    KID = 4
    IV = 5
    PARTIAL_IV = 6
    COUNTER_SIGNATURE = 7
    COUNTER_SIGNATURE0 = 9
    KID_CONTEXT = 10
    COUNTER_SIGNATURE_V2 = 11
    COUNTER_SIGNATURE0_V2 = 12
    CWT_CLAIMS = 15
    TYP = 16
    X5BAG = 32
    X5CHAIN = 33
    X5T = 34
    X5U = 35
    EPHEMERAL_KEY = -1
    STATIC_KEY = -2
    STATIC_KEY_ID = -3
    SALT = -20
    PARTY_U_IDENTITY = -21
    PARTY_U_NONCE = -22
    PARTY_U_OTHER = -23
    PARTY_V_IDENTITY = -24
    PARTY_V_NONCE = -25
    PARTY_V_OTHER = -26
    EK = -4  # COSE-HPKE encapsulated key (draft-ietf-cose-hpke; TBD11, value assumed there)


class KeyType(enum.IntEnum):
    """COSE key types (kty)."""

    OKP = 1
    EC2 = 2
    SYMMETRIC = 4
    AKP = 7  # Algorithm Key Pair (RFC 9964): ML-DSA keys, and HPKE KEM keys (cose-hpke)


class Curve(enum.IntEnum):
    """COSE elliptic curves (crv)."""

    P256 = 1
    P384 = 2
    P521 = 3
    X25519 = 4
    X448 = 5
    ED25519 = 6
    ED448 = 7


class KeyParam(enum.IntEnum):
    """COSE_Key map labels. ``K`` (-1, symmetric) and ``CRV`` (-1, EC2/OKP) share a label."""

    KTY = 1
    KID = 2
    ALG = 3
    KEY_OPS = 4
    BASE_IV = 5
    CRV = -1
    X = -2
    Y = -3
    D = -4


#: The symmetric key value label (same integer as ``KeyParam.CRV``; the key type tells them apart)
K_LABEL = -1


class KeyOp(enum.IntEnum):
    """COSE key_ops values."""

    SIGN = 1
    VERIFY = 2
    ENCRYPT = 3
    DECRYPT = 4
    WRAP_KEY = 5
    UNWRAP_KEY = 6
    DERIVE_KEY = 7
    DERIVE_BITS = 8
    MAC_CREATE = 9
    MAC_VERIFY = 10


class CoseTag(enum.IntEnum):
    """CBOR tags of the COSE message types (RFC 9052 §2)."""

    SIGN1 = 18
    ENCRYPT = 96
    ENCRYPT0 = 16
    SIGN = 98
    MAC = 97
    MAC0 = 17
    KEY = 101  # not a message; COSE_Key has no tag in RFC 9052, listed for inspect only


@attrs.frozen
class AlgInfo:
    """What an algorithm is, so code branches on the family rather than on ids."""

    # "ecdsa", "eddsa", "mldsa", "aead", "ctr", "ccm", "kw", "direct", "hkdf-aes", "ecdh",
    # "hpke", "hash", "mac"
    family: str
    key_bytes: int = 0  # symmetric key length for content/kw algs; KEK length for ECDH+KW
    iv_bytes: int = 0
    static: bool = False  # ECDH-SS (sender static key) rather than ECDH-ES
    wrap: Alg | None = None  # the key wrap an ECDH+KW algorithm applies
    tag_bytes: int = 0  # MAC algorithms: the tag length
    kdf_sha512: bool = False  # ECDH direct with HKDF SHA-512 (RFC 9053 §6.3.1) else SHA-256


_INFO: dict[Alg, AlgInfo] = {
    Alg.ESP256: AlgInfo("ecdsa"),
    Alg.ES256: AlgInfo("ecdsa"),
    Alg.ED25519: AlgInfo("eddsa"),
    Alg.EDDSA: AlgInfo("eddsa"),
    Alg.ML_DSA_65: AlgInfo("mldsa"),
    Alg.ES384: AlgInfo("ecdsa"),
    Alg.ES512: AlgInfo("ecdsa"),
    Alg.ED448: AlgInfo("eddsa"),
    Alg.A128GCM: AlgInfo("aead", 16, 12),
    Alg.A192GCM: AlgInfo("aead", 24, 12),
    Alg.A256GCM: AlgInfo("aead", 32, 12),
    Alg.CHACHA20_POLY1305: AlgInfo("aead", 32, 12),
    Alg.A128CTR: AlgInfo("ctr", 16, 16),
    Alg.A192CTR: AlgInfo("ctr", 24, 16),
    Alg.A256CTR: AlgInfo("ctr", 32, 16),
    # AES-CCM-L-M-k: L=16 bits -> 13-byte nonce, L=64 bits -> 7-byte nonce; M = tag bits
    Alg.AES_CCM_16_64_128: AlgInfo("ccm", 16, 13, tag_bytes=8),
    Alg.AES_CCM_16_64_256: AlgInfo("ccm", 32, 13, tag_bytes=8),
    Alg.AES_CCM_64_64_128: AlgInfo("ccm", 16, 7, tag_bytes=8),
    Alg.AES_CCM_64_64_256: AlgInfo("ccm", 32, 7, tag_bytes=8),
    Alg.AES_CCM_16_128_128: AlgInfo("ccm", 16, 13, tag_bytes=16),
    Alg.AES_CCM_16_128_256: AlgInfo("ccm", 32, 13, tag_bytes=16),
    Alg.AES_CCM_64_128_128: AlgInfo("ccm", 16, 7, tag_bytes=16),
    Alg.AES_CCM_64_128_256: AlgInfo("ccm", 32, 7, tag_bytes=16),
    # key_bytes: the key a recipient layer derives or unwraps for the MAC (RFC 9053 §3)
    Alg.HMAC_256_64: AlgInfo("mac", 32, tag_bytes=8),
    Alg.HMAC_256_256: AlgInfo("mac", 32, tag_bytes=32),
    Alg.HMAC_384_384: AlgInfo("mac", 48, tag_bytes=48),
    Alg.HMAC_512_512: AlgInfo("mac", 64, tag_bytes=64),
    Alg.AES_MAC_128_64: AlgInfo("mac", 16, tag_bytes=8),
    Alg.AES_MAC_256_64: AlgInfo("mac", 32, tag_bytes=8),
    Alg.AES_MAC_128_128: AlgInfo("mac", 16, tag_bytes=16),
    Alg.AES_MAC_256_128: AlgInfo("mac", 32, tag_bytes=16),
    Alg.A128KW: AlgInfo("kw", 16),
    Alg.A192KW: AlgInfo("kw", 24),
    Alg.A256KW: AlgInfo("kw", 32),
    Alg.DIRECT: AlgInfo("direct"),
    # key_bytes: the shared secret, used as the PRK and the AES-CBC-MAC key (RFC 9053 §5.1)
    Alg.DIRECT_HKDF_AES_128: AlgInfo("hkdf-aes", 16),
    Alg.DIRECT_HKDF_AES_256: AlgInfo("hkdf-aes", 32),
    Alg.ECDH_ES_HKDF_256: AlgInfo("ecdh"),
    Alg.ECDH_SS_HKDF_256: AlgInfo("ecdh", static=True),
    Alg.ECDH_ES_HKDF_512: AlgInfo("ecdh", kdf_sha512=True),
    Alg.ECDH_SS_HKDF_512: AlgInfo("ecdh", static=True, kdf_sha512=True),
    Alg.ECDH_ES_A128KW: AlgInfo("ecdh", 16, wrap=Alg.A128KW),
    Alg.ECDH_ES_A192KW: AlgInfo("ecdh", 24, wrap=Alg.A192KW),
    Alg.ECDH_ES_A256KW: AlgInfo("ecdh", 32, wrap=Alg.A256KW),
    Alg.ECDH_SS_A128KW: AlgInfo("ecdh", 16, static=True, wrap=Alg.A128KW),
    Alg.ECDH_SS_A192KW: AlgInfo("ecdh", 24, static=True, wrap=Alg.A192KW),
    Alg.ECDH_SS_A256KW: AlgInfo("ecdh", 32, static=True, wrap=Alg.A256KW),
    Alg.EDBP_HPKE_XWING_KE: AlgInfo("hpke", 16),
    Alg.SHA256: AlgInfo("hash", 32),
    Alg.SHA384: AlgInfo("hash", 48),
    Alg.SHA512: AlgInfo("hash", 64),
}


def alg_info(alg: Alg) -> AlgInfo:
    """The family and sizes of ``alg``."""
    return _INFO[alg]


def as_alg(value: object) -> Alg:
    """``value`` as an ``Alg`` (callers may pass plain ints); COSE_UNKNOWN_ALG otherwise."""
    if isinstance(value, Alg):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return Alg(value)
        except ValueError:
            pass
    raise WireError(Code.COSE_UNKNOWN_ALG, f"alg {value!r}")


SIGNATURE_ALGS = frozenset(
    a for a, i in _INFO.items() if i.family in ("ecdsa", "eddsa", "mldsa")
)
AEAD_ALGS = frozenset(a for a, i in _INFO.items() if i.family == "aead")
CTR_ALGS = frozenset(a for a, i in _INFO.items() if i.family == "ctr")
#: AES-CCM content algorithms: decrypted on the receive side (inspect, interop); not in
#: AEAD_ALGS, so no profile list that builds on AEAD_ALGS picks them up
CCM_ALGS = frozenset(a for a, i in _INFO.items() if i.family == "ccm")
#: algorithms the wire layer computes only for receiving published messages (inspect, the
#: interop matrix). A caller whose allow-list does not name one sees it as unknown
#: (COSE_UNKNOWN_ALG, exactly as before edbp knew it), so no delivery's refusal changes; and
#: nothing emits them (sign/encrypt refuse them).
#: direct+HKDF-AES recipients (RFC 9053 §6.1.2): opened on the receive side only, outside
#: RECIPIENT_ALGS so no profile list that builds on it picks them up
HKDF_AES_ALGS = frozenset(a for a, i in _INFO.items() if i.family == "hkdf-aes")
RECEIVE_ONLY_ALGS = CCM_ALGS | HKDF_AES_ALGS | frozenset({Alg.ES384, Alg.ES512, Alg.ED448})
KEY_WRAP_ALGS = frozenset(a for a, i in _INFO.items() if i.family == "kw")
ECDH_ALGS = frozenset(a for a, i in _INFO.items() if i.family == "ecdh")
HPKE_ALGS = frozenset(a for a, i in _INFO.items() if i.family == "hpke")


# ---------------------------------------------------------------- names for `edbp inspect`

#: IANA names of the algorithm ids edbp knows, plus common ones it only names (inspect output)
ALG_NAMES: dict[int, str] = {
    -9: "ESP256",
    -7: "ES256",
    -35: "ES384",
    -36: "ES512",
    -19: "Ed25519",
    -8: "EdDSA",
    -53: "Ed448",
    -48: "ML-DSA-44",
    -49: "ML-DSA-65",
    -50: "ML-DSA-87",
    -70768: "edbp HPKE MLKEM768-X25519 KE (private use)",
    -37: "PS256",
    -257: "RS256",
    1: "A128GCM",
    2: "A192GCM",
    3: "A256GCM",
    10: "AES-CCM-16-64-128",
    11: "AES-CCM-16-64-256",
    12: "AES-CCM-64-64-128",
    13: "AES-CCM-64-64-256",
    30: "AES-CCM-16-128-128",
    31: "AES-CCM-16-128-256",
    32: "AES-CCM-64-128-128",
    33: "AES-CCM-64-128-256",
    24: "ChaCha20/Poly1305",
    4: "HMAC 256/64",
    5: "HMAC 256/256",
    6: "HMAC 384/384",
    7: "HMAC 512/512",
    14: "AES-MAC 128/64",
    15: "AES-MAC 256/64",
    25: "AES-MAC 128/128",
    26: "AES-MAC 256/128",
    -65534: "A128CTR",
    -65533: "A192CTR",
    -65532: "A256CTR",
    -65531: "A128CBC",
    -65530: "A192CBC",
    -65529: "A256CBC",
    -3: "A128KW",
    -4: "A192KW",
    -5: "A256KW",
    -6: "direct",
    -10: "direct+HKDF-SHA-256",
    -11: "direct+HKDF-SHA-512",
    -12: "direct+HKDF-AES-128",
    -13: "direct+HKDF-AES-256",
    -25: "ECDH-ES + HKDF-256",
    -26: "ECDH-ES + HKDF-512",
    -27: "ECDH-SS + HKDF-256",
    -28: "ECDH-SS + HKDF-512",
    -29: "ECDH-ES + A128KW",
    -30: "ECDH-ES + A192KW",
    -31: "ECDH-ES + A256KW",
    -32: "ECDH-SS + A128KW",
    -33: "ECDH-SS + A192KW",
    -34: "ECDH-SS + A256KW",
    -16: "SHA-256",
    -43: "SHA-384",
    -44: "SHA-512",
    -18: "SHAKE128",
    -45: "SHAKE256",
}

#: header parameter names (RFC 9052 §3.1 table 3, RFC 9053 tables 15-17)
HEADER_NAMES: dict[int, str] = {
    1: "alg",
    2: "crit",
    3: "content type",
    4: "kid",
    5: "IV",
    6: "Partial IV",
    7: "counter signature",
    9: "CounterSignature0",
    10: "kid context",
    11: "Countersignature version 2",
    12: "Countersignature0 version 2",
    15: "CWT Claims",
    16: "typ",
    32: "x5bag",
    33: "x5chain",
    34: "x5t",
    35: "x5u",
    -1: "ephemeral key",
    -2: "static key",
    -3: "static key id",
    -4: "ek (HPKE encapsulated key)",
    -20: "salt",
    -21: "PartyU identity",
    -22: "PartyU nonce",
    -23: "PartyU other",
    -24: "PartyV identity",
    -25: "PartyV nonce",
    -26: "PartyV other",
}

#: COSE_Key labels; the label -1 means "crv" for EC2/OKP and "k" for Symmetric keys
KEY_PARAM_NAMES: dict[int, str] = {
    1: "kty",
    2: "kid",
    3: "alg",
    4: "key_ops",
    5: "Base IV",
    -1: "crv / k",
    -2: "x",
    -3: "y",
    -4: "d",
}

KEY_TYPE_NAMES: dict[int, str] = {1: "OKP", 2: "EC2", 3: "RSA", 4: "Symmetric", 7: "AKP"}

CURVE_NAMES: dict[int, str] = {
    1: "P-256",
    2: "P-384",
    3: "P-521",
    4: "X25519",
    5: "X448",
    6: "Ed25519",
    7: "Ed448",
}

KEY_OPS_NAMES: dict[int, str] = {op.value: op.name.lower().replace("_", " ") for op in KeyOp}

COSE_TAG_NAMES: dict[int, str] = {
    18: "COSE_Sign1",
    96: "COSE_Encrypt",
    16: "COSE_Encrypt0",
    98: "COSE_Sign",
    97: "COSE_Mac",
    17: "COSE_Mac0",
}
