"""Build, read and verify CPK packages, streaming the payload in constant memory.

Build (cpk-tool's prototype builder, ``prototype/{builder,package}.rs``): one pass over the
plaintext hashes it (SHA-256) and encrypts it (AES-256-GCM, random 12-byte nonce, empty AAD),
writing ciphertext straight after the stream table; every stream size is known beforehand
(ciphertext = plaintext length, signature = modulus length), so the header is written first
and nothing is buffered. Then nonce, tag, digest, signature (RSA-2048 PKCS#1 v1.5 over the
digest), the PEM certificate and the compact JSON manifest: 7 streams, in that order.

``binding="fixed"`` builds the package the ``fixed`` CPM requires: the GCM AAD and the signed
value both cover the binding string of ``fixed_binding`` (cp-id, key name, version), so the
manifest's identity and version can no longer be spliced onto another package's ciphertext or
signature. It is a different package: the as-published CPM fails its tag (AAD unknown to it).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO, Literal

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.frame import (
    Frame,
    FrameHeader,
    Limits,
    StreamEntry,
    encode_frame_prefix,
    parse_frame,
)
from edbp.reference.blueprint.manifest import Manifest, parse_manifest, prototype_manifest
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource

from edbp.errors import BlueprintError, Code, DecryptionFailed

__all__ = [
    "Binding",
    "CpkReader",
    "PackageParts",
    "VerifyReport",
    "build_cpk",
    "fixed_binding",
    "signed_value",
    "verify_cpk",
]

Binding = Literal["as-published", "fixed"]
PROTOTYPE_STREAMS = ("ciphertext", "nonce", "tag", "digest", "signature", "certificate", "manifest")


def fixed_binding(cp_id: str, key_name: str, ver: tuple[int, int, int]) -> bytes:
    """The metadata the ``fixed`` profile binds to ciphertext (AAD) and signature: length-prefixed
    cp-id and key name, then maj, min, rev as u32 LE."""
    a, b = cp_id.encode(), key_name.encode()
    return (
        b"CPK-FIXED-BINDING-1\x00"
        + struct.pack("<I", len(a))
        + a
        + struct.pack("<I", len(b))
        + b
        + struct.pack("<III", *ver)
    )


def signed_value(binding: Binding, plaintext_digest: bytes, manifest_binding: bytes) -> bytes:
    """The 32 bytes the RSA signature covers: the plaintext digest (as published) or
    SHA-256(binding || digest) (fixed)."""
    if binding == "as-published":
        return plaintext_digest
    return hashlib.sha256(manifest_binding + plaintext_digest).digest()


def _write_pad(out: BinaryIO, n: int) -> None:
    if n:
        out.write(b"\x00" * n)


def build_cpk(
    out: BinaryIO,
    plaintext: BinaryIO,
    *,
    class_key: bytes,
    signing_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    cp_id: str,
    cp_name: str,
    cp_vendor: str,
    date: str,
    ver: tuple[int, int, int] = (1, 0, 0),
    rng: RandomSource = DEFAULT_RANDOM,
    binding: Binding = "as-published",
    align: int = 1,
    chunk: int = crypto.CHUNK,
) -> Manifest:
    """Write a 7-stream prototype-layout CPK to ``out``; return its manifest.

    ``plaintext`` must be seekable (its size goes in the stream table before any byte is
    encrypted). ``align`` > 1 pads each stream's start to a multiple of ``align`` (the format
    allows padding; the prototype writes none).
    """
    if len(class_key) != crypto.CLASS_KEY_BYTES:
        raise BlueprintError(Code.CPK_DECRYPT_FAILED, "class key must be 32 bytes")
    start = plaintext.tell()
    size = plaintext.seek(0, os.SEEK_END) - start
    plaintext.seek(start)
    nonce = rng.random_bytes(crypto.NONCE_BYTES)
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    manifest = prototype_manifest(cp_id, cp_name, cp_vendor, date, ver, signing_key.key_size)
    key_name = manifest.enc.get("key_name")
    mb = fixed_binding(cp_id, key_name, ver)
    manifest_bytes = manifest.to_bytes()
    sizes = [
        size,
        crypto.NONCE_BYTES,
        crypto.TAG_BYTES,
        32,
        (signing_key.key_size + 7) // 8,
        len(cert_pem),
        len(manifest_bytes),
    ]
    entries, pads, cursor = [], [], 0
    for s in sizes:
        pad = (-cursor) % align
        cursor += pad
        pads.append(pad)
        entries.append(StreamEntry(cursor, s))
        cursor += s
    out.write(encode_frame_prefix(FrameHeader(stream_count=7, manifest_index=6), entries))

    hasher = hashlib.sha256()
    written = 0

    def chunks() -> Iterator[bytes]:
        nonlocal written
        while written < size:
            block = plaintext.read(min(chunk, size - written))
            if not block:
                raise BlueprintError(Code.CPK_TRUNCATED, "payload shrank while being read")
            written += len(block)
            hasher.update(block)
            yield block

    _write_pad(out, pads[0])
    gen = crypto.gcm_encrypt_chunks(class_key, nonce, chunks(), mb if binding == "fixed" else b"")
    while True:
        try:
            out.write(next(gen))
        except StopIteration as stop:
            tag = stop.value
            break
    digest = hasher.digest()
    signature = crypto.sign_digest(signing_key, signed_value(binding, digest, mb))
    for pad, data in zip(
        pads[1:], (nonce, tag, digest, signature, cert_pem, manifest_bytes), strict=True
    ):
        _write_pad(out, pad)
        out.write(data)
    return manifest


@attrs.frozen
class PackageParts:
    """What the prototype installer extracts from a package (``build_from_frame_and_manifest``).

    The ciphertext is not held: ``ciphertext`` is its (file offset, size) for streaming.
    """

    manifest: Manifest
    ciphertext: tuple[int, int]
    key_name: str
    key_strength: int
    nonce: bytes
    tag: bytes
    digest: bytes
    signature: bytes
    signature_key_strength: int
    certificate_pem: bytes


class CpkReader:
    """A CPK file opened for reading: frame, manifest, streams on demand.

    ``strict=False`` behaves as the prototype (header checks only, streams checked when read);
    ``strict=True`` adds bounds/overlap/size caps and duplicate-map refusal.
    """

    def __init__(self, f: BinaryIO, *, strict: bool = False, limits: Limits = Limits()) -> None:
        self._f = f
        self.strict = strict
        self.limits = limits
        self.frame: Frame = parse_frame(f, strict=strict, limits=limits)
        self.manifest_bytes = self.read_stream(self.frame.header.manifest_index)
        self.manifest: Manifest = parse_manifest(self.manifest_bytes, strict=strict)

    def __repr__(self) -> str:
        return f"CpkReader(streams={len(self.frame.streams)}, strict={self.strict})"

    def read_stream(self, index: int, cap: int | None = None) -> bytes:
        start, size = self.frame.locate(index)
        if self.strict and cap is not None and size > cap:
            raise BlueprintError(Code.CPK_STREAM_TOO_LARGE, f"stream {index}: {size} bytes > {cap}")
        self._f.seek(start)
        return self._f.read(size)

    def iter_stream(self, index: int, chunk: int = crypto.CHUNK) -> Iterator[bytes]:
        start, size = self.frame.locate(index)
        done = 0
        while done < size:
            self._f.seek(start + done)
            block = self._f.read(min(chunk, size - done))
            if not block:
                raise BlueprintError(Code.CPK_TRUNCATED, f"stream {index} ends early")
            done += len(block)
            yield block

    def parts(self) -> PackageParts:
        """The installer's extraction: only aes-gcm / sha256 / rsa-pkcs1v15 / embedded-x509-pem."""
        m = self.manifest
        want = (
            ("enc", "aes-gcm"),
            ("dig", "sha256"),
            ("sig", "rsa-pkcs1v15"),
            ("cert", "embedded-x509-pem"),
        )
        for slot, name in want:
            if getattr(m, slot).name != name:
                raise BlueprintError(
                    Code.CPK_UNSUPPORTED_SCHEME, f"payload.{slot} {getattr(m, slot).name}"
                )
        cap = self.limits.max_metadata
        ct = self.frame.locate(m.payload_data)
        return PackageParts(
            manifest=m,
            ciphertext=ct,
            key_name=m.enc.get("key_name"),
            key_strength=m.enc.get("key_strength"),
            nonce=self.read_stream(m.enc.get("nonce"), cap),
            tag=self.read_stream(m.enc.get("tag"), cap),
            digest=self.read_stream(m.dig.get("data"), cap),
            signature=self.read_stream(m.sig.get("data"), cap),
            signature_key_strength=m.sig.get("key_strength"),
            certificate_pem=self.read_stream(m.cert.get("data"), cap),
        )

    def iter_ciphertext(self, chunk: int = crypto.CHUNK) -> Iterator[bytes]:
        return self.iter_stream(self.manifest.payload_data, chunk)


@attrs.frozen
class VerifyReport:
    """What ``verify_cpk`` established (each True only if checked and passed)."""

    signature: bool
    trust_anchor: bool | None
    decrypted: bool | None
    digest: bool | None
    plaintext_size: int | None


def _signer_key(parts: PackageParts) -> tuple[x509.Certificate, rsa.RSAPublicKey]:
    cert = crypto.load_certificate_pem(parts.certificate_pem)
    key = crypto.certificate_public_key(cert)
    if not isinstance(key, rsa.RSAPublicKey):
        raise BlueprintError(Code.CPK_BAD_SIGNATURE, "certificate key is not RSA")
    return cert, key


def _anchored(cert: x509.Certificate, anchor: x509.Certificate) -> bool:
    spki = crypto.rsa_public_to_spki_der
    a_key = crypto.certificate_public_key(anchor)
    c_key = crypto.certificate_public_key(cert)
    if (
        isinstance(a_key, rsa.RSAPublicKey)
        and isinstance(c_key, rsa.RSAPublicKey)
        and spki(a_key) == spki(c_key)
    ):
        return True
    try:
        cert.verify_directly_issued_by(anchor)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_cpk(
    reader: CpkReader,
    *,
    class_key: bytes | None = None,
    trust_anchor: x509.Certificate | None = None,
    binding: Binding = "as-published",
    plaintext_sink: Callable[[bytes], object] | None = None,
) -> VerifyReport:
    """Check the signature against the embedded certificate (and, if given, that the
    certificate is the trust anchor or issued by it); with ``class_key``, decrypt the payload
    in a stream, check the GCM tag and the SHA-256 digest.

    ``plaintext_sink`` receives plaintext that is authenticated only when this returns: the
    caller writes it to a staging file and keeps it only on success.
    """
    parts = reader.parts()
    m = parts.manifest
    mb = fixed_binding(m.cp_id, parts.key_name, m.ver)
    cert, key = _signer_key(parts)
    if len(parts.digest) != 32 or not crypto.verify_digest(
        key, signed_value(binding, parts.digest, mb), parts.signature
    ):
        raise BlueprintError(Code.CPK_BAD_SIGNATURE, "payload signature does not verify")
    anchored = None
    if trust_anchor is not None:
        anchored = _anchored(cert, trust_anchor)
        if not anchored:
            raise BlueprintError(
                Code.CPK_BAD_SIGNATURE,
                "signer certificate is not the trust anchor nor issued by it",
            )
    if class_key is None:
        return VerifyReport(True, anchored, None, None, None)
    if (
        len(class_key) != 32
        or len(parts.nonce) != 12
        or len(parts.tag) != 16
        or parts.key_strength != 256
    ):
        raise DecryptionFailed(Code.CPK_DECRYPT_FAILED)
    dec = crypto.GcmDecryptor(class_key, parts.nonce, mb if binding == "fixed" else b"")
    hasher = hashlib.sha256()
    total = 0
    for block in reader.iter_ciphertext():
        plain = dec.update(block)
        hasher.update(plain)
        total += len(plain)
        if plaintext_sink is not None:
            plaintext_sink(plain)
    if not crypto.tags_equal(dec.finish(), parts.tag):
        raise DecryptionFailed(Code.CPK_DECRYPT_FAILED)
    if not crypto.tags_equal(hasher.digest(), parts.digest):
        raise BlueprintError(Code.CPK_DIGEST_MISMATCH)
    return VerifyReport(True, anchored, True, True, total)
