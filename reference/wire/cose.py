"""edbp's COSE (RFC 9052/9053): the one public facade of the COSE modules.

Import from here (``from edbp.reference.wire import cose``); the split into ``cose_algs``
(registries and names), ``cose_key`` (COSE_Key, thumbprints), ``cose_headers`` (header buckets
and their checks), ``cose_sign`` (COSE_Sign1), ``cose_kdf`` (ECDH + KDF context) and
``cose_encrypt`` (COSE_Encrypt0 / COSE_Encrypt) is an implementation detail.

Typical use::

    msg = cose.sign1(payload, key, cose.Alg.ESP256, unprotected={cose.HeaderLabel.KID: kid})
    data = msg.encode()
    payload = cose.Sign1.decode(data).verify(pub, algorithms={cose.Alg.ESP256, cose.Alg.ES256})

    enc = cose.encrypt(image, [cose.RecipientSpec(cose.Alg.ECDH_ES_A128KW, device_dak,
                                                  supp_pub_other=cose.SUIT_KDF_OTHER)],
                       cose.Alg.A128GCM, rng=rng)
    info, ciphertext = enc.detach()

Errors: structural problems raise ``WireError`` (CBOR_* / COSE_* codes), a bad signature
``VerificationError(COSE_BAD_SIGNATURE)``, every decryption failure ``DecryptionFailed``.
No exception from a lower library escapes.
"""

from __future__ import annotations

from .cose_algs import (
    AEAD_ALGS,
    ALG_NAMES,
    CCM_ALGS,
    COSE_TAG_NAMES,
    CTR_ALGS,
    CURVE_NAMES,
    ECDH_ALGS,
    HEADER_NAMES,
    HKDF_AES_ALGS,
    KEY_OPS_NAMES,
    KEY_PARAM_NAMES,
    KEY_TYPE_NAMES,
    KEY_WRAP_ALGS,
    SIGNATURE_ALGS,
    Alg,
    AlgInfo,
    CoseTag,
    Curve,
    HeaderLabel,
    KeyOp,
    KeyParam,
    KeyType,
    alg_info,
    as_alg,
)
from .cose_encrypt import (
    CONTENT_ALGS,
    RECIPIENT_ALGS,
    Encrypt,
    Encrypt0,
    Recipient,
    RecipientSpec,
    decrypt_content,
    enc_structure,
    encrypt,
    encrypt0,
    encrypt_content,
    encryption_info,
)
from .cose_headers import UNDERSTOOD_LABELS, Headers, Label
from .cose_kdf import SUIT_KDF_OTHER, KdfContext, PartyInfo, ecdh_shared_secret, hkdf_sha256
from .cose_key import CoseKey
from .cose_mac import MAC_ALGS, Mac, Mac0, mac0, mac_structure, mac_tag
from .cose_sign import Sign, Sign1, Signature, sig_structure, sign1, sign_bytes
from .cose_trace import RecipientTrace, Trace

#: ESP256 and ES256 (both ECDSA P-256 + SHA-256 in edbp's profile)
P256_SIGNATURE_ALGS = frozenset({Alg.ESP256, Alg.ES256})
#: Ed25519 and EdDSA (both Ed25519 in edbp's profile)
ED25519_SIGNATURE_ALGS = frozenset({Alg.ED25519, Alg.EDDSA})

__all__ = [
    "AEAD_ALGS",
    "ALG_NAMES",
    "CCM_ALGS",
    "CONTENT_ALGS",
    "COSE_TAG_NAMES",
    "CTR_ALGS",
    "CURVE_NAMES",
    "ECDH_ALGS",
    "ED25519_SIGNATURE_ALGS",
    "HEADER_NAMES",
    "HKDF_AES_ALGS",
    "KEY_OPS_NAMES",
    "KEY_PARAM_NAMES",
    "KEY_TYPE_NAMES",
    "KEY_WRAP_ALGS",
    "MAC_ALGS",
    "P256_SIGNATURE_ALGS",
    "RECIPIENT_ALGS",
    "SIGNATURE_ALGS",
    "SUIT_KDF_OTHER",
    "UNDERSTOOD_LABELS",
    "Alg",
    "AlgInfo",
    "CoseKey",
    "CoseTag",
    "Curve",
    "Encrypt",
    "Encrypt0",
    "HeaderLabel",
    "Headers",
    "KdfContext",
    "KeyOp",
    "KeyParam",
    "KeyType",
    "Label",
    "Mac",
    "Mac0",
    "PartyInfo",
    "Recipient",
    "RecipientSpec",
    "RecipientTrace",
    "Sign",
    "Sign1",
    "Signature",
    "Trace",
    "alg_info",
    "as_alg",
    "decrypt_content",
    "ecdh_shared_secret",
    "enc_structure",
    "encrypt",
    "encrypt0",
    "encrypt_content",
    "encryption_info",
    "hkdf_sha256",
    "mac0",
    "mac_structure",
    "mac_tag",
    "sig_structure",
    "sign1",
    "sign_bytes",
]
