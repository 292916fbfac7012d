"""The blueprint's cryptography: AES-256-GCM (streamed), RSA PKCS#1 v1.5 signatures over a
SHA-256 digest, PKCS#1 v1.5 key transport, X.509 self-signed certificates, key encodings.

Why PKCS#1 v1.5 encryption is done here at the encoding level (``pkcs1v15_encrypt`` /
``pkcs1v15_decode``) rather than through ``cryptography``'s ``decrypt(PKCS1v15())``: the
emulated CPM has to reproduce mbedtls's *distinguishable* failures (bad padding vs. a
conformant block of the wrong length vs. a block too large for the output buffer) and
OpenSSL now answers a bad padding with an implicit-rejection pseudo-random message instead.
The RSA operation itself is the modular exponentiation with the key's own numbers; padding
bytes come from an injectable ``RandomSource`` so that wrapped-key vectors replay from a seed.

AES-GCM decryption also computes the tag itself (CTR keystream + a GCM encryptor over the
recovered plaintext, which yields the same GHASH over the same ciphertext), because the CPM
contract compares tags in the TA (``memcmp`` as published, constant time when fixed) and its
``verify`` call reads a tag that may be stale: the emulation needs the computed value.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
from collections.abc import Generator, Iterable
from typing import Any

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource

from edbp.errors import BlueprintError, Code

__all__ = [
    "CHUNK",
    "GcmDecryptor",
    "Pkcs1Result",
    "certificate_public_key",
    "gcm_encrypt_chunks",
    "load_certificate_pem",
    "pkcs1v15_decode",
    "pkcs1v15_encrypt",
    "raw_rsa_decrypt",
    "raw_rsa_encrypt",
    "rsa_public_from_der",
    "rsa_public_to_pkcs1_der",
    "rsa_public_to_spki_der",
    "self_signed_certificate",
    "sign_digest",
    "verify_digest",
]

#: streaming chunk size: memory use is a few chunks whatever the payload size
CHUNK = 1 << 20
CLASS_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


def gcm_encrypt_chunks(
    key: bytes, nonce: bytes, chunks: Iterable[bytes], aad: bytes = b""
) -> Generator[bytes, None, bytes]:
    """Yield ciphertext chunk by chunk, then (as the generator's return value) the 16-byte tag."""
    enc = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    if aad:
        enc.authenticate_additional_data(aad)
    for chunk in chunks:
        out = enc.update(chunk)
        if out:
            yield out
    tail = enc.finalize()
    if tail:
        yield tail
    return enc.tag


class GcmDecryptor:
    """AES-GCM decryption that exposes the computed tag (see the module docstring).

    ``update`` returns plaintext that is *not yet authenticated*; the caller keeps it away from
    use until ``finish`` and a tag comparison. Only 96-bit nonces (the only size the blueprint
    and the CPM accept).
    """

    def __init__(self, key: bytes, nonce: bytes, aad: bytes = b"") -> None:
        if len(key) != CLASS_KEY_BYTES or len(nonce) != NONCE_BYTES:
            raise BlueprintError(Code.CPK_DECRYPT_FAILED)
        counter = nonce + b"\x00\x00\x00\x02"
        self._ctr = Cipher(algorithms.AES(key), modes.CTR(counter)).decryptor()
        self._mac = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
        if aad:
            self._mac.authenticate_additional_data(aad)

    def __repr__(self) -> str:
        return "GcmDecryptor()"

    def update(self, ciphertext: bytes) -> bytes:
        plain = self._ctr.update(ciphertext)
        self._mac.update(plain)
        return plain

    def finish(self) -> bytes:
        """The computed 16-byte tag."""
        self._ctr.finalize()
        self._mac.finalize()
        return self._mac.tag


def tags_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


# ---------------------------------------------------------------------------- signatures


def sign_digest(key: rsa.RSAPrivateKey, digest: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 with SHA-256 over an already computed digest (the prototype's call)."""
    return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


def verify_digest(key: rsa.RSAPublicKey, digest: bytes, signature: bytes) -> bool:
    if len(digest) != 32:
        return False
    try:
        key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def self_signed_certificate(
    key: rsa.RSAPrivateKey,
    common_name: str = "cpk signer",
    *,
    rng: RandomSource = DEFAULT_RANDOM,
    not_before: _dt.datetime | None = None,
    days: int = 365,
) -> x509.Certificate:
    """A self-signed X.509 certificate for ``key`` (the prototype embeds one like it)."""
    start = not_before or _dt.datetime.now(_dt.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    serial = int.from_bytes(rng.random_bytes(16), "big") >> 1 or 1
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def load_certificate_pem(data: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise BlueprintError(
            Code.CPK_BAD_SIGNATURE, "certificate stream is not a PEM X.509 certificate"
        ) from None


def certificate_public_key(cert: x509.Certificate) -> Any:
    """The certificate's public key, or CPK_BAD_SIGNATURE when it cannot be read (an unknown
    algorithm, a malformed key): the certificate parses lazily, so this is where it fails."""
    try:
        return cert.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise BlueprintError(
            Code.CPK_BAD_SIGNATURE, "certificate public key cannot be read"
        ) from None


# ---------------------------------------------------------------------------- key encodings


def rsa_public_to_spki_der(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def rsa_public_to_pkcs1_der(key: rsa.RSAPublicKey) -> bytes:
    """DER RSAPublicKey, as mbedtls_pk_write_pubkey writes the CPM's export."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def rsa_public_from_der(der: bytes) -> rsa.RSAPublicKey:
    """An RSA public key from DER SubjectPublicKeyInfo or DER RSAPublicKey; anything else is
    a ``KEYSERVICE_BAD_REQUEST`` (the key service's "well-formed RSA key" rule)."""
    for loader in (serialization.load_der_public_key, _load_pkcs1):
        try:
            key = loader(der)
        except (ValueError, TypeError):
            continue
        if isinstance(key, rsa.RSAPublicKey):
            return key
    raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "not a DER RSA public key")


def _load_pkcs1(der: bytes) -> object:
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + _b64lines(der) + b"-----END RSA PUBLIC KEY-----\n"
    return serialization.load_pem_public_key(pem)


def _b64lines(der: bytes) -> bytes:
    import base64

    b = base64.b64encode(der)
    return b"".join(b[i : i + 64] + b"\n" for i in range(0, len(b), 64))


# ---------------------------------------------------------------------------- PKCS#1 v1.5 transport


def _k(n: int) -> int:
    return (n.bit_length() + 7) // 8


def raw_rsa_encrypt(key: rsa.RSAPublicKey, em: bytes) -> bytes:
    """c = em^e mod n, as k bytes. ``em`` is any k-byte block (vectors use malformed ones)."""
    nums = key.public_numbers()
    k = _k(nums.n)
    m = int.from_bytes(em, "big")
    if len(em) != k or m >= nums.n:
        raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "encoded block does not fit the modulus")
    return pow(m, nums.e, nums.n).to_bytes(k, "big")


def raw_rsa_decrypt(key: rsa.RSAPrivateKey, ciphertext: bytes) -> bytes | None:
    """em = c^d mod n (CRT), or None when c is not a k-byte integer below n (mbedtls's
    RSA_BAD_INPUT_DATA)."""
    priv = key.private_numbers()
    pub = priv.public_numbers
    k = _k(pub.n)
    c = int.from_bytes(ciphertext, "big")
    if len(ciphertext) != k or c >= pub.n:
        return None
    m1 = pow(c, priv.dmp1, priv.p)
    m2 = pow(c, priv.dmq1, priv.q)
    h = (priv.iqmp * (m1 - m2)) % priv.p
    return (m2 + h * priv.q).to_bytes(k, "big")


def pkcs1v15_encrypt(
    key: rsa.RSAPublicKey, message: bytes, rng: RandomSource = DEFAULT_RANDOM
) -> bytes:
    """RSAES-PKCS1-v1_5 encryption (RFC 8017 7.2.1): 00 02 PS(nonzero, >= 8) 00 M."""
    k = _k(key.public_numbers().n)
    if len(message) > k - 11:
        raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "message too long for the RSA key")
    ps = bytearray()
    while len(ps) < k - 3 - len(message):
        ps.extend(b for b in rng.random_bytes(k - 3 - len(message) - len(ps)) if b)
    return raw_rsa_encrypt(key, b"\x00\x02" + bytes(ps) + b"\x00" + message)


#: mbedtls error codes the CPM's unwrap can meet (printed by the TA with %x)
MBEDTLS_ERR_RSA_BAD_INPUT_DATA = -0x4080
MBEDTLS_ERR_RSA_INVALID_PADDING = -0x4100
MBEDTLS_ERR_RSA_OUTPUT_TOO_LARGE = -0x4400
#: mbedtls_rsa_private on an input >= n: RSA_PRIVATE_FAILED + MPI_BAD_INPUT_DATA
MBEDTLS_ERR_RSA_PRIVATE_FAILED_BAD_INPUT = -0x4300 - 0x0004


@attrs.frozen
class Pkcs1Result:
    """What mbedtls_pk_decrypt reports: ``ret`` (0 or an mbedtls error) and, on success, the
    message (secret: never in repr)."""

    ret: int
    message: bytes = attrs.field(default=b"", repr=False)


def pkcs1v15_decode(key: rsa.RSAPrivateKey, ciphertext: bytes, out_capacity: int) -> Pkcs1Result:
    """mbedtls_rsa_rsaes_pkcs1_v15_decrypt's observable behaviour with an output buffer of
    ``out_capacity`` bytes: bad input, bad padding and too-large output are told apart.

    Input length other than k: the pk layer's RSA_BAD_INPUT_DATA; an input integer >= n:
    rsa_private's RSA_PRIVATE_FAILED + MPI_BAD_INPUT_DATA."""
    k = _k(key.private_numbers().public_numbers.n)
    if len(ciphertext) != k:
        return Pkcs1Result(MBEDTLS_ERR_RSA_BAD_INPUT_DATA)
    em = raw_rsa_decrypt(key, ciphertext)
    if em is None:
        return Pkcs1Result(MBEDTLS_ERR_RSA_PRIVATE_FAILED_BAD_INPUT)
    if em[0] != 0 or em[1] != 2:
        return Pkcs1Result(MBEDTLS_ERR_RSA_INVALID_PADDING)
    sep = em.find(b"\x00", 2)
    if sep < 0 or sep - 2 < 8:
        return Pkcs1Result(MBEDTLS_ERR_RSA_INVALID_PADDING)
    message = em[sep + 1 :]
    if len(message) > out_capacity:
        return Pkcs1Result(MBEDTLS_ERR_RSA_OUTPUT_TOO_LARGE)
    return Pkcs1Result(0, message)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
