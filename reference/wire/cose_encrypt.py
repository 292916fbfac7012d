"""COSE_Encrypt0 and COSE_Encrypt with recipients (RFC 9052 §5, RFC 9053, RFC 9459 AES-CTR).

Content: A128/192/256GCM, ChaCha20/Poly1305 (AEAD) and A128/192/256CTR (no integrity: decrypt
refuses it unless the caller says a signed digest covers the plaintext). Recipients: direct,
A128/192/256KW, ECDH-ES/SS + HKDF-256 (direct) and ECDH-ES/SS + A128/192/256KW on P-256 and
X25519, with the COSE KDF context (``SuppPubInfo.other`` settable for SUIT).

Why random inputs are parameters: the vector generator replays cose-wg's ``rng_stream`` and
edbp's seeds, so the CEK, IV, ephemeral key and PartyU nonce are either given explicitly or drawn,
in a fixed order, from the ``RandomSource`` passed in: first whatever yields the CEK (a direct
ECDH recipient's ephemeral key or nonce, else the random CEK), then the IV, then the other
recipients in order. This is the order cose-wg's generator uses, so its streams replay as is.

Every decryption failure (wrong key, bad tag, failed unwrap, bad ECDH point on the receive
side) is ``DecryptionFailed`` with no detail. Structural problems are ``WireError``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Self, cast

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from edbp.reference import rand

from edbp.errors import Code, DecryptionFailed, EdbpError, WireError

from . import cbor
from .cose_algs import (
    AEAD_ALGS,
    CCM_ALGS,
    CTR_ALGS,
    ECDH_ALGS,
    HKDF_AES_ALGS,
    HPKE_ALGS,
    KEY_WRAP_ALGS,
    Alg,
    CoseTag,
    Curve,
    HeaderLabel,
    KeyType,
    alg_info,
    as_alg,
)
from .cose_headers import PARTY_INFO_LABELS, Headers, Label, require_bytes
from .cose_kdf import (
    KdfContext,
    PartyInfo,
    ecdh_exchange,
    ecdh_shared_secret,
    hkdf_aes_expand,
    hkdf_sha256,
)
from .cose_key import CoseKey, require_key
from .cose_sign import _unwrap_tag
from .cose_trace import RecipientTrace, Trace

__all__ = [
    "CONTENT_ALGS",
    "RECIPIENT_ALGS",
    "EcdhRecipientTemplate",
    "Encrypt",
    "Encrypt0",
    "Recipient",
    "RecipientSpec",
    "decrypt_content",
    "enc_structure",
    "encrypt",
    "encrypt0",
    "encrypt_content",
    "encryption_info",
    "open_recipients",
]

#: every content algorithm the wire layer computes; AES-CCM is decrypt-only (receive side:
#: ``encrypt_content`` refuses it) and no edbp profile list includes it
CONTENT_ALGS = AEAD_ALGS | CTR_ALGS | CCM_ALGS
RECIPIENT_ALGS = KEY_WRAP_ALGS | ECDH_ALGS | HPKE_ALGS | {Alg.DIRECT}


def enc_structure(context: str, protected: bytes, external_aad: bytes) -> bytes:
    """Enc_structure = [context, protected, external_aad], the AEAD associated data."""
    return cbor.dumps([context, protected, external_aad])


# ------------------------------------------------------------------ content layer primitives


def encrypt_content(
    alg: Alg, cek: bytes, iv: bytes, plaintext: bytes, aad: bytes
) -> bytes:
    """Encrypt with the content algorithm (``aad`` ignored for CTR, which has none)."""
    info = alg_info(alg)
    if len(cek) != info.key_bytes:
        raise WireError(Code.COSE_ALG_KEY_MISMATCH, f"CEK of {len(cek)} bytes for {alg.name}")
    if len(iv) != info.iv_bytes:
        raise WireError(Code.COSE_BAD_IV, f"IV of {len(iv)} bytes for {alg.name}")
    if alg == Alg.CHACHA20_POLY1305:
        return ChaCha20Poly1305(cek).encrypt(iv, plaintext, aad)
    if info.family == "aead":
        return AESGCM(cek).encrypt(iv, plaintext, aad)
    if info.family == "ctr":
        enc = Cipher(algorithms.AES(cek), modes.CTR(iv)).encryptor()
        return enc.update(plaintext) + enc.finalize()
    raise WireError(Code.COSE_ALG_NOT_ALLOWED, f"{alg.name} is not a content algorithm")


def decrypt_content(alg: Alg, cek: bytes, iv: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Decrypt with the content algorithm. Every key/tag failure is ``DecryptionFailed``."""
    info = alg_info(alg)
    if len(iv) != info.iv_bytes:
        raise WireError(Code.COSE_BAD_IV, f"IV of {len(iv)} bytes for {alg.name}")
    if len(cek) != info.key_bytes:
        raise DecryptionFailed()
    try:
        if alg == Alg.CHACHA20_POLY1305:
            return ChaCha20Poly1305(cek).decrypt(iv, ciphertext, aad)
        if info.family == "aead":
            return AESGCM(cek).decrypt(iv, ciphertext, aad)
        if info.family == "ccm":
            # the library checks the tag in constant time; every failure is one error
            return AESCCM(cek, tag_length=info.tag_bytes).decrypt(iv, ciphertext, aad)
        dec = Cipher(algorithms.AES(cek), modes.CTR(iv)).decryptor()
        return dec.update(ciphertext) + dec.finalize()
    except (InvalidTag, ValueError):
        raise DecryptionFailed() from None


def _content_alg(
    headers: Headers, algorithms: Collection[Alg], allow_unauthenticated: bool
) -> Alg:
    alg = headers.alg(frozenset(algorithms) & CONTENT_ALGS)
    if alg in CTR_ALGS:
        if not allow_unauthenticated:
            raise WireError(
                Code.COSE_ALG_NOT_ALLOWED,
                f"{alg.name} has no integrity; allowed only where a signed digest covers it",
            )
        if headers.protected_raw:
            raise WireError(Code.COSE_MALFORMED, f"{alg.name} needs an empty protected header")
    return alg


def _iv(headers: Headers) -> bytes:
    if HeaderLabel.PARTIAL_IV in headers:
        raise WireError(Code.COSE_BAD_IV, "Partial IV is outside edbp's profile")
    iv = headers.get(HeaderLabel.IV)
    if not isinstance(iv, bytes):
        raise WireError(Code.COSE_BAD_IV, "no IV header")
    return iv


def _body_ciphertext(ciphertext: bytes | None, detached: bytes | None) -> bytes:
    if ciphertext is not None:
        if detached is not None:
            raise WireError(Code.COSE_MALFORMED, "ciphertext both attached and detached")
        return ciphertext
    if detached is None:
        raise WireError(Code.COSE_DETACHED_PAYLOAD_MISSING, "detached ciphertext not supplied")
    return detached


def _content_headers(
    alg: Alg,
    iv: bytes,
    protected: Mapping[Label, Any] | None,
    unprotected: Mapping[Label, Any] | None,
    protected_raw: bytes | None,
) -> Headers:
    """alg in protected for AEAD, in unprotected with an empty protected bucket for CTR
    (RFC 9459 §4 / the SUIT examples); IV unprotected.

    Without extra headers (the TAM re-wrapping a package's CEK: the author's content headers
    again for every device) the result is a function of (alg, iv, protected bytes or None):
    headers that passed are remembered by those and handed out as fresh copies."""
    if (
        protected is None
        and unprotected is None
        and (protected_raw is None or type(protected_raw) is bytes)
        and type(iv) is bytes
    ):
        memo_key = (alg, iv, protected_raw)
        found = _CONTENT_HEADERS.get(memo_key)
        if found is None:
            found = _content_headers_checked(alg, iv, None, None, protected_raw)
            if len(protected_raw or b"") <= 64 and len(iv) <= 32:
                if len(_CONTENT_HEADERS) >= 64:
                    _CONTENT_HEADERS.clear()
                _CONTENT_HEADERS[memo_key] = found
        return Headers(found.protected_raw, dict(found.protected), dict(found.unprotected))
    return _content_headers_checked(alg, iv, protected, unprotected, protected_raw)


#: content headers ``_content_headers`` made from (alg, iv, protected bytes) alone (public
#: values: the IV and the protected bucket travel in the clear), bounded
_CONTENT_HEADERS: dict[tuple[Alg, bytes, bytes | None], Headers] = {}


def _content_headers_checked(
    alg: Alg,
    iv: bytes,
    protected: Mapping[Label, Any] | None,
    unprotected: Mapping[Label, Any] | None,
    protected_raw: bytes | None,
) -> Headers:
    """``_content_headers`` made and checked afresh."""
    prot = dict(protected or {})
    unprot = dict(unprotected or {})
    if HeaderLabel.ALG not in prot and HeaderLabel.ALG not in unprot and protected_raw is None:
        if alg in CTR_ALGS:
            unprot = {HeaderLabel.ALG.value: int(alg), **unprot}
        else:
            prot = {HeaderLabel.ALG.value: int(alg), **prot}
    if HeaderLabel.IV not in prot:
        unprot.setdefault(HeaderLabel.IV.value, iv)
    headers = Headers.make(
        prot if protected_raw is None else None, unprot, protected_raw=protected_raw
    )
    if headers.raw_alg != int(alg):
        raise WireError(Code.COSE_MALFORMED, "alg header disagrees with the content alg")
    if alg in CTR_ALGS and headers.protected_raw:
        raise WireError(Code.COSE_MALFORMED, f"{alg.name} needs an empty protected header")
    return headers


def _content_alg_for_encrypt(alg: Alg, external_aad: bytes) -> None:
    if as_alg(alg) not in CONTENT_ALGS or alg in CCM_ALGS:
        raise WireError(Code.COSE_ALG_NOT_ALLOWED, f"{alg!r} is not a content algorithm")
    if alg in CTR_ALGS and external_aad:
        raise WireError(Code.COSE_MALFORMED, f"{alg.name} cannot protect external_aad")


# ------------------------------------------------------------------ COSE_Encrypt0


class _EncryptedMessage:
    """What COSE_Encrypt and COSE_Encrypt0 share: byte encoding, strict decoding, detaching."""

    ciphertext: bytes | None

    def to_obj(self) -> Any:
        raise NotImplementedError

    @classmethod
    def from_obj(cls, obj: Any, *, lenient: bool = False, tagged: bool | None = True) -> Self:
        raise NotImplementedError

    def encode(self) -> bytes:
        return cbor.dumps(self.to_obj())

    @classmethod
    def decode(cls, data: bytes, *, lenient: bool = False, tagged: bool | None = True) -> Self:
        """Decode untrusted bytes (strict CBOR unless ``lenient``)."""
        obj = cbor.loads(data, cbor.LENIENT if lenient else cbor.receive_limits())
        return cls.from_obj(obj, lenient=lenient, tagged=tagged)

    def detach(self) -> tuple[Self, bytes]:
        """The message with a nil ciphertext, and the ciphertext to ship separately."""
        if self.ciphertext is None:
            raise WireError(Code.COSE_MALFORMED, "ciphertext already detached")
        # every subclass is an attrs class; mypy cannot see that through Self
        detached: Self = attrs.evolve(cast(Any, self), ciphertext=None)
        return detached, self.ciphertext


@attrs.frozen
class Encrypt0(_EncryptedMessage):
    """A COSE_Encrypt0 (key known to the recipient from context). ``ciphertext`` None =
    detached (nil on the wire)."""

    headers: Headers
    ciphertext: bytes | None
    tagged: bool = True

    def to_obj(self) -> Any:
        body = [*self.headers.to_items(), self.ciphertext]
        return cbor.Tag(CoseTag.ENCRYPT0, body) if self.tagged else body

    @classmethod
    def from_obj(cls, obj: Any, *, lenient: bool = False, tagged: bool | None = True) -> Encrypt0:
        body, was_tagged = _unwrap_tag(obj, CoseTag.ENCRYPT0, tagged, "COSE_Encrypt0")
        if not isinstance(body, list) or len(body) != 3:
            raise WireError(Code.COSE_MALFORMED, "COSE_Encrypt0 is not an array of 3")
        headers = Headers.parse(body[0], body[1], lenient=lenient)
        if body[2] is not None and not isinstance(body[2], bytes):
            raise WireError(Code.COSE_MALFORMED, "ciphertext is neither bstr nor nil")
        return cls(headers=headers, ciphertext=body[2], tagged=was_tagged)

    def decrypt(
        self,
        key: CoseKey,
        *,
        algorithms: Collection[Alg],
        external_aad: bytes = b"",
        detached_ciphertext: bytes | None = None,
        allow_unauthenticated: bool = False,
        understood: Collection[Label] = (),
        trace: Trace | None = None,
    ) -> bytes:
        """Decrypt with the symmetric ``key`` (its kid, when both have one, must match)."""
        require_key(key)
        require_bytes(external_aad=external_aad, detached_ciphertext=detached_ciphertext)
        self.headers.check_critical(understood)
        alg = _content_alg(self.headers, algorithms, allow_unauthenticated)
        if key.kty != KeyType.SYMMETRIC or key.k is None:
            raise WireError(Code.COSE_ALG_KEY_MISMATCH, "COSE_Encrypt0 needs a symmetric key")
        if key.kid is not None and self.headers.kid is not None and key.kid != self.headers.kid:
            raise WireError(Code.COSE_KID_MISMATCH, "kid does not match the key")
        iv = _iv(self.headers)
        aad = enc_structure("Encrypt0", self.headers.protected_for_crypto, external_aad)
        if trace is not None:
            trace.enc_structure, trace.iv = aad, iv
        ciphertext = _body_ciphertext(self.ciphertext, detached_ciphertext)
        return decrypt_content(alg, key.k, iv, ciphertext, aad)


def encrypt0(
    plaintext: bytes,
    key: CoseKey,
    alg: Alg,
    *,
    iv: bytes | None = None,
    rng: rand.RandomSource = rand.DEFAULT_RANDOM,
    protected: Mapping[Label, Any] | None = None,
    unprotected: Mapping[Label, Any] | None = None,
    protected_raw: bytes | None = None,
    external_aad: bytes = b"",
    tagged: bool = True,
    trace: Trace | None = None,
) -> Encrypt0:
    """Encrypt ``plaintext`` under the symmetric ``key`` into a COSE_Encrypt0.

    The IV is ``iv`` or drawn from ``rng``; it goes into the unprotected bucket.
    """
    require_key(key)
    require_bytes(plaintext=plaintext, iv=iv, external_aad=external_aad)
    _content_alg_for_encrypt(alg, external_aad)
    alg = as_alg(alg)
    if plaintext is None:
        raise WireError(Code.COSE_MALFORMED, "plaintext must be bytes")
    if key.kty != KeyType.SYMMETRIC or key.k is None:
        raise WireError(Code.COSE_ALG_KEY_MISMATCH, "COSE_Encrypt0 needs a symmetric key")
    if iv is None:
        iv = rng.random_bytes(alg_info(alg).iv_bytes)
    headers = _content_headers(alg, iv, protected, unprotected, protected_raw)
    aad = enc_structure("Encrypt0", headers.protected_for_crypto, external_aad)
    if trace is not None:
        trace.enc_structure, trace.iv, trace.cek = aad, iv, key.k
    ciphertext = encrypt_content(alg, key.k, iv, plaintext, aad)
    return Encrypt0(headers=headers, ciphertext=ciphertext, tagged=tagged)


# ------------------------------------------------------------------ recipients


@attrs.frozen
class Recipient:
    """One COSE_recipient: headers and the wrapped CEK (``b""`` for direct and direct ECDH)."""

    headers: Headers
    ciphertext: bytes

    def to_obj(self) -> list[Any]:
        return [*self.headers.to_items(), self.ciphertext]

    @classmethod
    def from_obj(cls, obj: Any, *, lenient: bool = False) -> Recipient:
        if not isinstance(obj, list) or len(obj) not in (3, 4):
            raise WireError(Code.COSE_MALFORMED, "COSE_recipient is not an array of 3")
        if len(obj) == 4:
            raise WireError(Code.COSE_MALFORMED, "nested recipients are outside edbp's profile")
        headers = Headers.parse(obj[0], obj[1], lenient=lenient)
        if not isinstance(obj[2], bytes):
            raise WireError(Code.COSE_MALFORMED, "recipient ciphertext is not a bstr")
        return cls(headers=headers, ciphertext=obj[2])


@attrs.frozen
class RecipientSpec:
    """How to deliver the CEK to one recipient (the encrypt side's input).

    ``key``: the KEK (A*KW), the CEK itself (direct), or the recipient's public key (ECDH).
    ECDH-ES: ``ephemeral_key`` (private) or drawn from the rng, sent in header -1.
    ECDH-SS: ``sender_key`` (static private), sent as header -2 (public key) or, when
    ``sender_key_id`` is set, as header -3 (its kid).
    ``party_u_nonce``: bytes, or an int n to draw n bytes from the rng; sent in header -22.
    ``party_*`` identity/other go into both the headers (-21, -23, -24, -26) and the context.
    ``supp_pub_other`` / ``supp_priv_info`` enter the KDF context only (SUIT: ``other`` =
    ``SUIT_KDF_OTHER``). ``salt`` is sent in header -20 and used as the HKDF salt.
    ``alg_protected``: where the alg goes; default protected for ECDH, unprotected otherwise
    (cose-wg and SUIT placement).
    """

    alg: Alg
    key: CoseKey
    protected: Mapping[Label, Any] = attrs.field(factory=dict)
    unprotected: Mapping[Label, Any] = attrs.field(factory=dict)
    ephemeral_key: CoseKey | None = attrs.field(default=None, repr=False)
    sender_key: CoseKey | None = attrs.field(default=None, repr=False)
    sender_key_id: bytes | None = None
    party_u_nonce: bytes | int | None = None
    party_u_identity: bytes | None = None
    party_u_other: bytes | None = None
    party_v_identity: bytes | None = None
    party_v_nonce: bytes | None = None
    party_v_other: bytes | None = None
    supp_pub_other: bytes | None = None
    supp_priv_info: bytes | None = attrs.field(default=None, repr=False)
    salt: bytes | None = None
    alg_protected: bool | None = None


def _is_direct(alg: Alg) -> bool:
    """True for recipients that determine the CEK (direct, ECDH direct) rather than wrap it."""
    return (
        alg == Alg.DIRECT
        or alg in HKDF_AES_ALGS
        or (alg in ECDH_ALGS and alg_info(alg).wrap is None)
    )


_NO_PARTY_INFO = (PartyInfo(), PartyInfo())


def _party_info(headers: Headers) -> tuple[PartyInfo, PartyInfo]:
    if not (
        PARTY_INFO_LABELS & headers.protected.keys()
        or PARTY_INFO_LABELS & headers.unprotected.keys()
    ):
        return _NO_PARTY_INFO  # (nil, nil, nil) twice: no party info header in either bucket
    return (
        PartyInfo(
            headers.get(HeaderLabel.PARTY_U_IDENTITY),
            headers.get(HeaderLabel.PARTY_U_NONCE),
            headers.get(HeaderLabel.PARTY_U_OTHER),
        ),
        PartyInfo(
            headers.get(HeaderLabel.PARTY_V_IDENTITY),
            headers.get(HeaderLabel.PARTY_V_NONCE),
            headers.get(HeaderLabel.PARTY_V_OTHER),
        ),
    )


def _ecdh_key_target(alg: Alg, content_alg: Alg) -> tuple[int, int]:
    """(AlgorithmID, key bytes) of the key an ECDH recipient derives."""
    info = alg_info(alg)
    if info.wrap is not None:
        return int(info.wrap), info.key_bytes
    return int(content_alg), alg_info(content_alg).key_bytes


def _make_recipient(
    spec: RecipientSpec,
    content_alg: Alg,
    cek: bytes | None,
    rng: rand.RandomSource,
    rtrace: RecipientTrace | None,
) -> tuple[Recipient, bytes]:
    """Build one recipient; returns it and the CEK (derived, for direct kinds; else ``cek``)."""
    alg = as_alg(spec.alg)
    if alg not in RECIPIENT_ALGS:
        raise WireError(Code.COSE_ALG_NOT_ALLOWED, f"{alg!r} is not a recipient algorithm")
    spec.key.check_alg(alg)
    info = alg_info(alg)
    prot = dict(spec.protected)
    unprot = dict(spec.unprotected)
    in_prot = (
        spec.alg_protected if spec.alg_protected is not None else info.family in ("ecdh", "hpke")
    )
    if HeaderLabel.ALG not in prot and HeaderLabel.ALG not in unprot:
        (prot if in_prot else unprot)[HeaderLabel.ALG.value] = int(alg)
    if rtrace is not None:
        rtrace.alg = int(alg)

    if alg == Alg.DIRECT:
        assert spec.key.k is not None
        if len(spec.key.k) != alg_info(content_alg).key_bytes:
            raise WireError(Code.COSE_ALG_KEY_MISMATCH, "direct key does not fit the content alg")
        return Recipient(Headers.make(prot, unprot), b""), spec.key.k

    if info.family == "hpke":  # COSE-HPKE key encryption (edbp-pq suite)
        from .cose_hpke import seal_recipient

        assert cek is not None
        headers, ct = seal_recipient(alg, spec.key, content_alg, cek, prot, unprot, rtrace)
        return Recipient(headers, ct), cek

    if info.family == "kw":
        assert spec.key.k is not None and cek is not None
        wrapped = aes_key_wrap(spec.key.k, cek)
        if rtrace is not None:
            rtrace.kek, rtrace.wrapped_cek = spec.key.k, wrapped
        return Recipient(Headers.make(prot, unprot), wrapped), cek

    # ECDH
    extra: dict[Label, Any] = {}
    ephemeral: ec.EllipticCurvePrivateKey | None = None
    if info.static:
        if spec.sender_key is None:
            raise WireError(Code.COSE_BAD_KEY, "ECDH-SS needs the sender's static key")
        own = spec.sender_key
        if spec.sender_key_id is not None:
            extra[HeaderLabel.STATIC_KEY_ID.value] = spec.sender_key_id
        else:
            extra[HeaderLabel.STATIC_KEY.value] = _bare_public(own).to_map()
    else:
        if spec.ephemeral_key is not None:
            own = spec.ephemeral_key
        elif rtrace is None and spec.key.kty == KeyType.EC2 and spec.key.crv == Curve.P256:
            # a P-256 ephemeral key used once, here: the same draw as ``CoseKey.generate``
            # (so the same key from a seeded source), its public half read as the point
            # encoding, and its private scalar never copied out of the key object
            ephemeral = rand.p256_private_key(rng)
        else:
            assert spec.key.crv is not None  # check_alg: an ECDH recipient key is EC2/OKP
            own = CoseKey.generate(Curve(spec.key.crv), rng)
        if ephemeral is not None:
            # ``_bare_public(own).to_map()`` of the key, from its uncompressed point encoding
            point = ephemeral.public_key().public_bytes(
                Encoding.X962, PublicFormat.UncompressedPoint
            )
            extra[_EPHEMERAL_KEY] = {1: _EC2, -1: _P256, -2: point[1:33], -3: point[33:65]}
        else:
            extra[_EPHEMERAL_KEY] = _bare_public(own).to_map()
        if rtrace is not None:
            rtrace.ephemeral_key = own
    nonce = spec.party_u_nonce
    if isinstance(nonce, int):
        nonce = rng.random_bytes(nonce)
    for label, value in (
        (_SALT, spec.salt),
        (_PARTY_U_IDENTITY, spec.party_u_identity),
        (_PARTY_U_NONCE, nonce),
        (_PARTY_U_OTHER, spec.party_u_other),
        (_PARTY_V_IDENTITY, spec.party_v_identity),
        (_PARTY_V_NONCE, spec.party_v_nonce),
        (_PARTY_V_OTHER, spec.party_v_other),
    ):
        if value is not None:
            extra[label] = value
    headers = Headers.make(prot, {**extra, **unprot})
    target_alg, key_len = _ecdh_key_target(alg, content_alg)
    context = _kdf_context(
        headers, target_alg, key_len, spec.supp_pub_other, spec.supp_priv_info
    )
    if ephemeral is not None:
        secret = ecdh_exchange(ephemeral, spec.key)
    else:
        secret = ecdh_shared_secret(own, spec.key)
    derived = hkdf_sha256(secret, context, key_len, spec.salt, sha512=info.kdf_sha512)
    if rtrace is not None:
        rtrace.kdf_context, rtrace.shared_secret = context, secret
    if info.wrap is None:
        return Recipient(headers, b""), derived
    assert cek is not None
    wrapped = aes_key_wrap(derived, cek)
    if rtrace is not None:
        rtrace.kek, rtrace.wrapped_cek = derived, wrapped
    return Recipient(headers, wrapped), cek


@attrs.frozen
class EcdhRecipientTemplate:
    """An ECDH-ES + AES key wrap recipient to a P-256 key, already encoded but for the values
    that differ per recipient: the kid, the ephemeral key's coordinates and the wrapped CEK.

    Why: a TAM re-wraps one package's CEK to thousands of devices, every recipient of the same
    shape (the alg protected; the ephemeral key and the device key's kid unprotected; the same
    KDF context). The template is cut out of the encoding of a recipient the general path
    (``_make_recipient``) built for a probe key, so its pieces are the bytes that path writes;
    ``seal`` runs that path's cryptography in its order (one draw from the rng: the ephemeral
    key, as ``rand.p256_private_key`` draws it there) and splices the fresh values in.
    ``of`` gives None for a spec of any other shape (its caller keeps the general path)."""

    alg: Alg
    #: the KEK's and the CEK's sizes, and the kid's: the pieces hold the heads of these lengths
    kek_len: int
    cek_len: int
    kid_len: int
    sha512: bool
    #: the COSE_KDF_Context: the same for every recipient of the shape (no party info)
    context: bytes
    #: the recipient's encoding around the kid, x, y and the wrapped CEK
    pieces: tuple[bytes, bytes, bytes, bytes, bytes]

    @classmethod
    def of(
        cls, spec: RecipientSpec, content_alg: Alg, cek: bytes
    ) -> EcdhRecipientTemplate | None:
        """The template of ``spec``'s shape, cut from the recipient the general path makes for
        it (``spec.key`` a probe key, its kid a probe value; ``cek`` a probe CEK, never a real
        one). None when ``spec`` is not an ECDH-ES + key wrap recipient to a P-256 key whose
        only header besides the alg is a kid, or the cut fails."""
        try:
            alg = as_alg(spec.alg)
            info = alg_info(alg)
        except (WireError, KeyError):
            return None
        key = spec.key
        kid = spec.unprotected.get(HeaderLabel.KID.value) if len(spec.unprotected) == 1 else None
        if (
            alg not in ECDH_ALGS
            or info.static
            or info.wrap is None
            or not isinstance(key, CoseKey)
            or not _fits_template(key)
            or type(kid) is not bytes
            or spec.protected
            or spec.ephemeral_key is not None
            or spec.sender_key is not None
            or spec.sender_key_id is not None
            or spec.salt is not None
            or spec.supp_priv_info is not None
            or spec.alg_protected is not None
            or any(
                v is not None
                for v in (
                    spec.party_u_nonce, spec.party_u_identity, spec.party_u_other,
                    spec.party_v_identity, spec.party_v_nonce, spec.party_v_other,
                )
            )
        ):
            return None
        try:
            probe_rng = rand.SeededRandom(_PROBE_SEED)
            recipient, _ = _make_recipient(spec, as_alg(content_alg), cek, probe_rng, None)
        except (WireError, KeyError, ValueError):
            return None
        epk = recipient.headers.unprotected.get(_EPHEMERAL_KEY)
        if not isinstance(epk, dict) or set(epk) != {1, -1, -2, -3}:
            return None
        encoding = cbor.dumps(recipient.to_obj())
        values = (kid, epk[-2], epk[-3], recipient.ciphertext)
        if len(epk[-2]) != 32 or len(epk[-3]) != 32:
            return None
        pieces: list[bytes] = []
        rest = encoding
        for value in values:
            if encoding.count(value) != 1:
                return None
            head, rest = rest.split(value)
            pieces.append(head)
        target_alg, kek_len = _ecdh_key_target(alg, content_alg)
        context = _kdf_context(recipient.headers, target_alg, kek_len, spec.supp_pub_other, None)
        return cls(
            alg=alg,
            kek_len=kek_len,
            cek_len=len(cek),
            kid_len=len(kid),
            sha512=info.kdf_sha512,
            context=context,
            pieces=(pieces[0], pieces[1], pieces[2], pieces[3], rest),
        )

    def fits(self, key: CoseKey, kid: bytes) -> bool:
        """True when a recipient to ``key`` with ``kid`` has this template's shape (the general
        path's checks on it pass as they did for the probe key: they depend on the key's type,
        curve and ``alg`` only). The CEK's length is the caller's to check (``cek_len``)."""
        return _fits_template(key) and type(kid) is bytes and len(kid) == self.kid_len

    def seal(self, key: CoseKey, kid: bytes, cek: bytes, rng: rand.RandomSource) -> bytes:
        """The encoded recipient delivering ``cek`` to ``key`` (the caller checked ``fits``
        and the CEK's length): a fresh ephemeral key, ECDH, HKDF over the context, the key
        wrap."""
        ephemeral = rand.p256_private_key(rng)
        point = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        secret = ecdh_exchange(ephemeral, key)
        kek = hkdf_sha256(secret, self.context, self.kek_len, None, sha512=self.sha512)
        wrapped = aes_key_wrap(kek, cek)
        p = self.pieces
        return b"".join((p[0], kid, p[1], point[1:33], p[2], point[33:65], p[3], wrapped, p[4]))


def _fits_template(key: CoseKey) -> bool:
    """A P-256 public key the template path serves: EC2, P-256, no ``alg`` parameter, no
    symmetric part (so ``check_alg`` answers as it did for the probe key)."""
    return (
        key.kty == KeyType.EC2
        and key.crv == Curve.P256
        and key.alg is None
        and key.k is None
        and type(key.x) is bytes
        and type(key.y) is bytes
    )


#: the probe recipient's randomness (a public, fixed stream: the probe's ephemeral key and
#: output are thrown away once cut)
_PROBE_SEED = "edbp ecdh recipient template probe"


def _bare_public(key: CoseKey) -> CoseKey:
    """The public key as sent in -1/-2: kty, crv, x (, y); no kid/alg."""
    return CoseKey(kty=key.kty, crv=key.crv, x=key.x, y=key.y)


#: the header labels and key parameters ``_make_recipient`` writes, as plain ints (the
#: enum's attribute lookup costs more than the rest of an entry)
_EPHEMERAL_KEY = HeaderLabel.EPHEMERAL_KEY.value
_SALT = HeaderLabel.SALT.value
_PARTY_U_IDENTITY = HeaderLabel.PARTY_U_IDENTITY.value
_PARTY_U_NONCE = HeaderLabel.PARTY_U_NONCE.value
_PARTY_U_OTHER = HeaderLabel.PARTY_U_OTHER.value
_PARTY_V_IDENTITY = HeaderLabel.PARTY_V_IDENTITY.value
_PARTY_V_NONCE = HeaderLabel.PARTY_V_NONCE.value
_PARTY_V_OTHER = HeaderLabel.PARTY_V_OTHER.value
_EC2 = int(KeyType.EC2)
_P256 = int(Curve.P256)


def _recipient_cek(
    recipient: Recipient,
    alg: Alg,
    key: CoseKey,
    content_alg: Alg,
    supp_pub_other: bytes | None,
    supp_priv_info: bytes | None,
    sender_key: CoseKey | None,
    rtrace: RecipientTrace | None,
) -> bytes:
    """The CEK this recipient delivers to ``key``; DecryptionFailed on any cryptographic miss."""
    info = alg_info(alg)
    if alg == Alg.DIRECT:
        assert key.k is not None
        if recipient.ciphertext:
            raise WireError(Code.COSE_MALFORMED, "direct recipient with a ciphertext")
        return key.k
    if info.family == "kw":
        assert key.k is not None
        return _unwrap(key.k, recipient.ciphertext)
    if info.family == "hkdf-aes":
        return _hkdf_aes_cek(recipient, key, content_alg, supp_pub_other, supp_priv_info, rtrace)
    if info.family == "hpke":
        from .cose_hpke import open_recipient

        return open_recipient(recipient.headers, recipient.ciphertext, key, content_alg, rtrace)
    h = recipient.headers
    if info.static:
        peer_map = h.get(HeaderLabel.STATIC_KEY)
        if peer_map is not None:
            peer = CoseKey.from_map(peer_map, check_point=False)
        elif sender_key is not None:
            skid = h.get(HeaderLabel.STATIC_KEY_ID)
            if skid is not None and sender_key.kid is not None and skid != sender_key.kid:
                raise WireError(Code.COSE_KID_MISMATCH, "static key id does not match")
            peer = sender_key
        else:
            raise WireError(Code.COSE_BAD_KEY, "ECDH-SS without the sender's static key")
    else:
        epk = h.get(HeaderLabel.EPHEMERAL_KEY)
        if epk is None:
            raise WireError(Code.COSE_BAD_KEY, "ECDH-ES recipient without an ephemeral key")
        peer = CoseKey.from_map(epk, check_point=False)
    if peer.kty != key.kty or peer.crv != key.crv or peer.has_private:
        raise WireError(Code.COSE_BAD_KEY, "peer key does not fit the recipient key")
    target_alg, key_len = _ecdh_key_target(alg, content_alg)
    context = _kdf_context(h, target_alg, key_len, supp_pub_other, supp_priv_info)
    try:
        secret = ecdh_shared_secret(key, peer)
    except WireError:
        raise DecryptionFailed() from None
    derived = hkdf_sha256(
        secret, context, key_len, h.get(HeaderLabel.SALT), sha512=info.kdf_sha512
    )
    if rtrace is not None:
        rtrace.kdf_context, rtrace.shared_secret = context, secret
    if info.wrap is None:
        if recipient.ciphertext:
            raise WireError(Code.COSE_MALFORMED, "direct ECDH recipient with a ciphertext")
        return derived
    if rtrace is not None:
        rtrace.kek = derived
    return _unwrap(derived, recipient.ciphertext)


def _kdf_context(
    h: Headers,
    alg: int,
    key_len: int,
    supp_pub_other: bytes | None,
    supp_priv_info: bytes | None,
) -> bytes:
    """The COSE_KDF_Context (RFC 9053 §5.2) of one recipient layer: the algorithm the derived
    key is for and its length, the party info headers, this layer's protected bytes as
    received, and the shared values the application supplies (never sent)."""
    party_u, party_v = _party_info(h)
    memo_key = None
    if (
        party_u is _NO_PARTY_INFO[0]
        and supp_priv_info is None
        and (supp_pub_other is None or type(supp_pub_other) is bytes)
    ):
        # no party info and no private info: the context is a function of these four public
        # values alone, the same for every recipient of one shape (SUIT's ECDH-ES+A128KW)
        memo_key = (alg, key_len, h.protected_for_crypto, supp_pub_other)
        found = _KDF_CONTEXTS.get(memo_key)
        if found is not None:
            return found
    context = KdfContext(
        alg=alg,
        key_data_length=key_len * 8,
        protected=h.protected_for_crypto,
        party_u=party_u,
        party_v=party_v,
        supp_pub_other=supp_pub_other,
        supp_priv_info=supp_priv_info,
    ).encode()
    if memo_key is not None and len(memo_key[2]) <= 64 and len(memo_key[3] or b"") <= 64:
        if len(_KDF_CONTEXTS) >= 64:
            _KDF_CONTEXTS.clear()
        _KDF_CONTEXTS[memo_key] = context
    return context


#: COSE_KDF_Context encodings without party or private info, by (alg, key length, protected
#: bytes, SuppPubInfo.other): small public values, bounded
_KDF_CONTEXTS: dict[tuple[int, int, bytes, bytes | None], bytes] = {}


def _hkdf_aes_cek(
    recipient: Recipient,
    key: CoseKey,
    content_alg: Alg,
    supp_pub_other: bytes | None,
    supp_priv_info: bytes | None,
    rtrace: RecipientTrace | None,
) -> bytes:
    """direct+HKDF-AES (RFC 9053 §6.1.2, receive side only): the shared key is the PRK and the
    CEK is HKDF-Expand with AES-CBC-MAC over the same COSE_KDF_Context as ECDH direct (the
    content algorithm and its key length, the party info headers, this layer's protected
    bytes). A wrong key yields a wrong CEK, so it surfaces as the content layer's one
    ``DecryptionFailed`` (or the MAC's ``COSE_BAD_MAC``)."""
    if recipient.ciphertext:
        raise WireError(Code.COSE_MALFORMED, "direct HKDF recipient with a ciphertext")
    assert key.k is not None  # check_alg: a symmetric key of the algorithm's size
    key_len = alg_info(content_alg).key_bytes
    context = _kdf_context(
        recipient.headers, int(content_alg), key_len, supp_pub_other, supp_priv_info
    )
    if rtrace is not None:
        rtrace.kdf_context = context
    return hkdf_aes_expand(key.k, context, key_len)


def _unwrap(kek: bytes, wrapped: bytes) -> bytes:
    try:
        return aes_key_unwrap(kek, wrapped)
    except (InvalidUnwrap, ValueError):
        raise DecryptionFailed() from None


def open_recipients(
    recipients: Sequence[Recipient],
    key: CoseKey,
    content_alg: Alg,
    *,
    recipient_algorithms: Collection[Alg],
    supp_pub_other: bytes | None = None,
    supp_priv_info: bytes | None = None,
    sender_key: CoseKey | None = None,
    understood: Collection[Label] = (),
    trace: Trace | None = None,
) -> bytes:
    """The key the recipient layer delivers to ``key`` for ``content_alg`` (the CEK of a
    COSE_Encrypt, the MAC key of a COSE_Mac: RFC 9052 §5.1 serves both).

    Recipients whose kid differs from ``key.kid`` (both present) are skipped; among the rest,
    those with an allowed alg that fits the key are tried in order. No recipient left: the first
    header error seen, else COSE_NO_RECIPIENT. A cryptographic miss on every candidate:
    ``DecryptionFailed``."""
    require_key(key)
    require_bytes(supp_pub_other=supp_pub_other, supp_priv_info=supp_priv_info)
    if sender_key is not None:
        require_key(sender_key)
    allowed = frozenset(recipient_algorithms) & (RECIPIENT_ALGS | HKDF_AES_ALGS)
    first_error: EdbpError | None = None
    tried = False
    for recipient in recipients:
        rkid = recipient.headers.kid
        if key.kid is not None and rkid is not None and rkid != key.kid:
            continue
        try:
            recipient.headers.check_critical(understood)
            alg = recipient.headers.alg(allowed)
            key.check_alg(alg)
            if alg in ECDH_ALGS | HPKE_ALGS and key.d is None:
                raise WireError(Code.COSE_BAD_KEY, "ECDH needs the recipient's private key")
            if _is_direct(alg) and len(recipients) != 1:
                raise WireError(Code.COSE_MALFORMED, "direct recipient among several")
        except WireError as exc:
            first_error = first_error or exc
            continue
        rtrace = RecipientTrace() if trace is not None else None
        tried = True
        try:
            cek = _recipient_cek(
                recipient, alg, key, content_alg, supp_pub_other, supp_priv_info,
                sender_key, rtrace,
            )
        except DecryptionFailed:
            continue
        except WireError as exc:
            first_error = first_error or exc
            continue
        if trace is not None:
            assert rtrace is not None
            rtrace.alg = int(alg)
            trace.recipients.append(rtrace)
            trace.cek = cek
        return cek
    if tried and first_error is None:
        raise DecryptionFailed()
    if first_error is not None:
        raise first_error
    raise WireError(Code.COSE_NO_RECIPIENT, "no recipient for this key")


# ------------------------------------------------------------------ COSE_Encrypt


@attrs.frozen
class Encrypt(_EncryptedMessage):
    """A COSE_Encrypt. ``ciphertext`` None = detached (nil; SUIT encryption info)."""

    headers: Headers
    ciphertext: bytes | None
    recipients: tuple[Recipient, ...]
    tagged: bool = True

    def to_obj(self) -> Any:
        body = [*self.headers.to_items(), self.ciphertext, [r.to_obj() for r in self.recipients]]
        return cbor.Tag(CoseTag.ENCRYPT, body) if self.tagged else body

    @classmethod
    def from_obj(cls, obj: Any, *, lenient: bool = False, tagged: bool | None = True) -> Encrypt:
        body, was_tagged = _unwrap_tag(obj, CoseTag.ENCRYPT, tagged, "COSE_Encrypt")
        if not isinstance(body, list) or len(body) != 4:
            raise WireError(Code.COSE_MALFORMED, "COSE_Encrypt is not an array of 4")
        headers = Headers.parse(body[0], body[1], lenient=lenient)
        if body[2] is not None and not isinstance(body[2], bytes):
            raise WireError(Code.COSE_MALFORMED, "ciphertext is neither bstr nor nil")
        if not isinstance(body[3], list) or not body[3]:
            raise WireError(Code.COSE_MALFORMED, "recipients is not a non-empty array")
        recipients = tuple(Recipient.from_obj(r, lenient=lenient) for r in body[3])
        return cls(headers=headers, ciphertext=body[2], recipients=recipients, tagged=was_tagged)

    def unwrap_cek(
        self,
        key: CoseKey,
        *,
        algorithms: Collection[Alg],
        recipient_algorithms: Collection[Alg],
        allow_unauthenticated: bool = False,
        supp_pub_other: bytes | None = None,
        supp_priv_info: bytes | None = None,
        sender_key: CoseKey | None = None,
        understood: Collection[Label] = (),
        trace: Trace | None = None,
    ) -> bytes:
        """The CEK, from the recipient that ``key`` opens.

        Recipients whose kid differs from ``key.kid`` (both present) are skipped; among the
        rest, those with an allowed alg that fits the key are tried in order. No recipient left:
        the first header error seen, else COSE_NO_RECIPIENT. A cryptographic miss on every
        candidate: ``DecryptionFailed``.
        """
        require_key(key)
        require_bytes(supp_pub_other=supp_pub_other, supp_priv_info=supp_priv_info)
        if sender_key is not None:
            require_key(sender_key)
        self.headers.check_critical(understood)
        content_alg = _content_alg(self.headers, algorithms, allow_unauthenticated)
        return open_recipients(
            self.recipients,
            key,
            content_alg,
            recipient_algorithms=recipient_algorithms,
            supp_pub_other=supp_pub_other,
            supp_priv_info=supp_priv_info,
            sender_key=sender_key,
            understood=understood,
            trace=trace,
        )

    def decrypt_with_cek(
        self,
        cek: bytes,
        *,
        algorithms: Collection[Alg],
        external_aad: bytes = b"",
        detached_ciphertext: bytes | None = None,
        allow_unauthenticated: bool = False,
        understood: Collection[Label] = (),
        trace: Trace | None = None,
    ) -> bytes:
        """Decrypt the content with a CEK obtained earlier (``unwrap_cek``)."""
        require_bytes(external_aad=external_aad, detached_ciphertext=detached_ciphertext)
        if not isinstance(cek, bytes):
            raise WireError(Code.COSE_MALFORMED, "cek must be bytes")
        self.headers.check_critical(understood)
        alg = _content_alg(self.headers, algorithms, allow_unauthenticated)
        iv = _iv(self.headers)
        aad = enc_structure("Encrypt", self.headers.protected_for_crypto, external_aad)
        if trace is not None:
            trace.enc_structure, trace.iv = aad, iv
        ciphertext = _body_ciphertext(self.ciphertext, detached_ciphertext)
        return decrypt_content(alg, cek, iv, ciphertext, aad)

    def decrypt(
        self,
        key: CoseKey,
        *,
        algorithms: Collection[Alg],
        recipient_algorithms: Collection[Alg],
        external_aad: bytes = b"",
        detached_ciphertext: bytes | None = None,
        allow_unauthenticated: bool = False,
        supp_pub_other: bytes | None = None,
        supp_priv_info: bytes | None = None,
        sender_key: CoseKey | None = None,
        understood: Collection[Label] = (),
        trace: Trace | None = None,
    ) -> bytes:
        """Unwrap the CEK with ``key`` and decrypt the content (attached or
        ``detached_ciphertext``). See ``unwrap_cek`` for recipient selection."""
        # structural checks on the content layer first, so a bad message never touches a key
        require_bytes(external_aad=external_aad, detached_ciphertext=detached_ciphertext)
        _content_alg(self.headers, algorithms, allow_unauthenticated)
        _iv(self.headers)
        _body_ciphertext(self.ciphertext, detached_ciphertext)
        cek = self.unwrap_cek(
            key,
            algorithms=algorithms,
            recipient_algorithms=recipient_algorithms,
            allow_unauthenticated=allow_unauthenticated,
            supp_pub_other=supp_pub_other,
            supp_priv_info=supp_priv_info,
            sender_key=sender_key,
            understood=understood,
            trace=trace,
        )
        return self.decrypt_with_cek(
            cek,
            algorithms=algorithms,
            external_aad=external_aad,
            detached_ciphertext=detached_ciphertext,
            allow_unauthenticated=allow_unauthenticated,
            understood=understood,
            trace=trace,
        )


def _build(
    plaintext: bytes | None,
    recipients: Sequence[RecipientSpec],
    alg: Alg,
    cek: bytes | None,
    iv: bytes | None,
    rng: rand.RandomSource,
    protected: Mapping[Label, Any] | None,
    unprotected: Mapping[Label, Any] | None,
    protected_raw: bytes | None,
    external_aad: bytes,
    tagged: bool,
    trace: Trace | None,
) -> Encrypt:
    require_bytes(plaintext=plaintext, cek=cek, iv=iv, external_aad=external_aad)
    _content_alg_for_encrypt(alg, external_aad)
    alg = as_alg(alg)
    for spec in recipients:
        if not isinstance(spec, RecipientSpec):
            raise WireError(Code.COSE_MALFORMED, "recipients must be RecipientSpec values")
        require_key(spec.key)
        for extra in (spec.ephemeral_key, spec.sender_key):
            if extra is not None:
                require_key(extra)
    if not recipients:
        raise WireError(Code.COSE_NO_RECIPIENT, "COSE_Encrypt needs at least one recipient")
    directs = [i for i, r in enumerate(recipients) if _is_direct(as_alg(r.alg))]
    if directs and len(recipients) != 1:
        raise WireError(Code.COSE_MALFORMED, "a direct recipient must be the only one")
    built: dict[int, Recipient] = {}
    traces: dict[int, RecipientTrace] = {}

    def make(i: int, cek_in: bytes | None) -> bytes:
        rtrace = RecipientTrace() if trace is not None else None
        recipient, out = _make_recipient(recipients[i], alg, cek_in, rng, rtrace)
        built[i] = recipient
        if rtrace is not None:
            traces[i] = rtrace
        return out

    if directs:
        if cek is not None:
            raise WireError(Code.COSE_MALFORMED, "a direct recipient determines the CEK")
        cek = make(directs[0], None)
    elif cek is None:
        cek = rng.random_bytes(alg_info(alg).key_bytes)
    if len(cek) != alg_info(alg).key_bytes:
        raise WireError(Code.COSE_ALG_KEY_MISMATCH, f"CEK of {len(cek)} bytes for {alg.name}")
    if iv is None:
        iv = rng.random_bytes(alg_info(alg).iv_bytes)
    headers = _content_headers(alg, iv, protected, unprotected, protected_raw)
    for i in range(len(recipients)):
        if i not in built:
            make(i, cek)
    ciphertext = None
    aad = b""
    if plaintext is not None or trace is not None:  # (encryption info only: no content AAD)
        aad = enc_structure("Encrypt", headers.protected_for_crypto, external_aad)
    if plaintext is not None:
        ciphertext = encrypt_content(alg, cek, iv, plaintext, aad)
    if trace is not None:
        trace.cek, trace.iv, trace.enc_structure = cek, iv, aad
        trace.recipients.extend(traces[i] for i in sorted(traces))
    return Encrypt(
        headers=headers,
        ciphertext=ciphertext,
        recipients=tuple(built[i] for i in range(len(recipients))),
        tagged=tagged,
    )


def encrypt(
    plaintext: bytes,
    recipients: Sequence[RecipientSpec],
    alg: Alg,
    *,
    cek: bytes | None = None,
    iv: bytes | None = None,
    rng: rand.RandomSource = rand.DEFAULT_RANDOM,
    protected: Mapping[Label, Any] | None = None,
    unprotected: Mapping[Label, Any] | None = None,
    protected_raw: bytes | None = None,
    external_aad: bytes = b"",
    tagged: bool = True,
    trace: Trace | None = None,
) -> Encrypt:
    """Encrypt ``plaintext`` for ``recipients`` into a COSE_Encrypt (ciphertext attached; use
    ``.detach()`` to ship it separately). Random draws from ``rng``, in the order given in the
    module docstring, for whatever is not passed explicitly."""
    if not isinstance(plaintext, bytes):
        raise WireError(Code.COSE_MALFORMED, "plaintext must be bytes")
    return _build(
        plaintext, recipients, alg, cek, iv, rng, protected, unprotected, protected_raw,
        external_aad, tagged, trace,
    )


def encryption_info(
    recipients: Sequence[RecipientSpec],
    alg: Alg,
    *,
    cek: bytes,
    iv: bytes,
    rng: rand.RandomSource = rand.DEFAULT_RANDOM,
    protected: Mapping[Label, Any] | None = None,
    unprotected: Mapping[Label, Any] | None = None,
    protected_raw: bytes | None = None,
    tagged: bool = True,
    trace: Trace | None = None,
) -> Encrypt:
    """A COSE_Encrypt that only delivers an existing CEK (nil ciphertext): SUIT encryption
    info, e.g. the TAM re-wrapping a package's CEK to one device without touching the
    ciphertext."""
    return _build(
        None, recipients, alg, cek, iv, rng, protected, unprotected, protected_raw, b"",
        tagged, trace,
    )
