"""Sign, encrypt, verify and decrypt OP-TEE TA images file to file, in constant memory.

The format puts the digest and the signature *before* the payload, and the digest covers the
encryption header (with the GCM tag) *before* the plaintext, so a one-pass writer cannot exist
for an encrypted image: the tag is known only after the last byte is encrypted. What these
functions do instead, with a fixed set of ``chunk_size`` buffers whatever the image size:

``sign_ta_file``
    write a zero placeholder for the header, then the payload; then seek back and write the
    header. Plain image: **one** read pass (hash and copy each chunk). Encrypted image: **two**
    read passes over the input (encrypt-and-write, then hash once the tag is known), one write.
    Bytes out are exactly ``sign.sign_ta``'s (the tests compare them).

``verify_ta_file``
    the loader's header checks (``verify._check_headers``, shared with ``verify_ta``) on byte
    ranges read from the file, then **one** pass over the payload: decrypt with the tag given
    up front, hash the plaintext, write it to ``out``. As in OP-TEE, the tag is checked at the
    end of the pass and the digest after it; until then ``out`` holds *unauthenticated*
    plaintext, so a caller must treat ``out`` as garbage unless the call returns (the CLI writes
    to a temporary file and renames it only on success).

The input must not change while it is signed: an encrypted image whose input changed between
the two passes carries a digest that does not match its ciphertext, which the loader refuses.
"""

from __future__ import annotations

import os
import uuid as uuidlib
from typing import BinaryIO

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from edbp.reference.optee.constants import SigAlgo
from edbp.reference.optee.floors import VersionFloors
from edbp.reference.optee.layout import Shdr
from edbp.reference.optee.rsa_sig import new_hash, sign_digest
from edbp.reference.optee.sign import Encryption, SubkeyChain, _plan
from edbp.reference.optee.verify import (
    DecryptionKeys,
    LoaderPolicy,
    VerifiedTA,
    _check_headers,
    _finish,
)
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource

from edbp.errors import Code, ConfigError, DecryptionFailed, TAImageError

__all__ = ["CHUNK_SIZE", "MAX_HEADER_READ", "SignedFile", "sign_ta_file", "verify_ta_file"]

#: bytes per read: large enough that per-call overhead is noise next to AES and SHA-256
CHUNK_SIZE = 1 << 20
#: the longest single header range the streaming verifier reads (a subkey element with an
#: RSA-4096 key is under 1 KiB; a header claiming more is refused rather than buffered)
MAX_HEADER_READ = 64 << 10


@attrs.frozen
class SignedFile:
    """What ``sign_ta_file`` wrote: the signed header and digest, and the file's length."""

    shdr: Shdr
    digest: bytes
    size: int


def _remaining(f: BinaryIO) -> tuple[int, int]:
    """(current offset, bytes from there to the end) of a seekable file."""
    start = f.tell()
    end = f.seek(0, os.SEEK_END)
    f.seek(start)
    return start, end - start


def _read_exact(src: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``src`` unless EOF comes first; the number of bytes read."""
    got = 0
    while got < len(view):
        n = src.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def sign_ta_file(
    src: BinaryIO,
    dst: BinaryIO,
    key: rsa.RSAPrivateKey,
    uuid: uuidlib.UUID,
    ta_version: int = 0,
    *,
    algo: int = SigAlgo.PSS_MGF1_SHA256,
    encryption: Encryption | None = None,
    salt: bytes | None = None,
    rng: RandomSource = DEFAULT_RANDOM,
    chain: SubkeyChain | None = None,
    name: str = "",
    legacy: bool = False,
    chunk_size: int = CHUNK_SIZE,
) -> SignedFile:
    """``sign.sign_ta`` from the rest of ``src`` (the ELF) to ``dst`` at its current offset;
    both seekable. Same arguments, same bytes, memory bounded by ``chunk_size``."""
    src_start, size = _remaining(src)
    plan = _plan(size, key, uuid, ta_version, algo, encryption, rng, chain, name, legacy)
    dst_start = dst.tell()
    dst.write(bytes(plan.header_size))  # placeholder: the header is written last
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    h = new_hash(algo)
    h.update(plan.shdr.encode())
    h.update(plan.bootstrap)
    tag = b""
    if plan.encryption is None:
        # pass 1 of 1: hash each chunk and copy it
        left = size
        while left:
            n = _read_exact(src, view[: min(left, chunk_size)])
            if not n:
                raise ConfigError(Code.TA_MALFORMED, "the input shrank while it was signed")
            h.update(view[:n])
            dst.write(view[:n])
            left -= n
    else:
        # pass 1 of 2: encrypt into a second buffer (update_into: no per-chunk allocation)
        enc = Cipher(algorithms.AES(plan.encryption.key), modes.GCM(plan.iv)).encryptor()
        out = bytearray(chunk_size + 15)  # update_into wants room for a block more
        oview = memoryview(out)
        left = size
        while left:
            n = _read_exact(src, view[: min(left, chunk_size)])
            if not n:
                raise ConfigError(Code.TA_MALFORMED, "the input shrank while it was signed")
            m = enc.update_into(view[:n], out)
            dst.write(oview[:m])
            left -= n
        enc.finalize()
        tag = enc.tag
        h.update(plan.ehdr(tag))
        # pass 2 of 2: the digest covers the tag before the plaintext, so hash it now
        src.seek(src_start)
        left = size
        while left:
            n = _read_exact(src, view[: min(left, chunk_size)])
            if not n:
                raise ConfigError(Code.TA_MALFORMED, "the input shrank while it was signed")
            h.update(view[:n])
            left -= n
    digest = h.digest()
    sig = sign_digest(key, algo, digest, salt=salt, rng=rng)
    end = dst.tell()
    dst.seek(dst_start)
    dst.write(plan.header(digest, sig, tag))
    dst.seek(end)
    return SignedFile(plan.shdr, digest, end - dst_start)


class _FileRanges:
    """An ``ImageSource`` over a seekable file: its length, and short byte ranges read on
    demand (the header checks never need more than ``MAX_HEADER_READ`` at once)."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._start, self._len = _remaining(f)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, key: slice, /) -> bytes:
        start, stop, _ = key.indices(self._len)
        if stop - start > MAX_HEADER_READ:
            raise TAImageError(
                Code.TA_HEADER_TOO_LARGE,
                f"a header range of {stop - start} bytes (the limit is {MAX_HEADER_READ})",
            )
        self._f.seek(self._start + start)
        want = max(0, stop - start)
        got = self._f.read(want)
        if len(got) != want:  # the file shrank after its length was taken
            raise TAImageError(Code.TA_TRUNCATED, "the file shrank while it was read")
        return got


def verify_ta_file(
    src: BinaryIO,
    root_key: rsa.RSAPublicKey,
    *,
    out: BinaryIO | None = None,
    keys: DecryptionKeys = DecryptionKeys(),
    expected_uuid: uuidlib.UUID | None = None,
    floors: VersionFloors = VersionFloors(),
    policy: LoaderPolicy = LoaderPolicy(),
    chunk_size: int = CHUNK_SIZE,
) -> VerifiedTA:
    """``verify.verify_ta`` on the rest of ``src`` (seekable), same checks in the same order,
    with the plaintext written to ``out`` instead of returned (``VerifiedTA.plaintext`` is
    empty). ``out`` is unauthenticated until this returns: discard it on an exception."""
    ranges = _FileRanges(src)
    hd = _check_headers(ranges, root_key, expected_uuid, floors, policy)
    src.seek(ranges._start + hd.offs)
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    left = hd.shdr.img_size
    if hd.ehdr is None:
        while left:  # one pass: hash, copy
            n = _read_exact(src, view[: min(left, chunk_size)])
            if not n:
                raise TAImageError(Code.TA_TRUNCATED, "the file shrank while it was read")
            hd.h.update(view[:n])
            if out is not None:
                out.write(view[:n])
            left -= n
        return _finish(hd, floors, b"")
    # 8. decrypt (tag first) and hash the plaintext: one pass, the tag given up front
    key = keys.key_for(hd.ehdr.flags, root_key)
    try:
        dec = Cipher(algorithms.AES(key), modes.GCM(hd.ehdr.iv, hd.ehdr.tag)).decryptor()
    except ValueError:  # an IV or tag length GCM refuses: the same failure as a bad tag
        raise DecryptionFailed(Code.TA_DECRYPT_FAILED) from None
    plain = bytearray(chunk_size + 15)
    pview = memoryview(plain)
    while left:
        n = _read_exact(src, view[: min(left, chunk_size)])
        if not n:
            raise TAImageError(Code.TA_TRUNCATED, "the file shrank while it was read")
        m = dec.update_into(view[:n], plain)
        hd.h.update(pview[:m])
        if out is not None:
            out.write(pview[:m])
        left -= n
    try:
        dec.finalize()
    except InvalidTag:
        raise DecryptionFailed(Code.TA_DECRYPT_FAILED) from None
    return _finish(hd, floors, b"")
