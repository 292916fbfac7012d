"""Build and verify: streaming in constant memory, every verify refusal, both bindings."""

from __future__ import annotations

import io
import tracemalloc

import pytest
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.frame import Limits
from edbp.reference.blueprint.mutations import CPK_MUTATIONS, split_streams
from edbp.reference.blueprint.package import CpkReader, build_cpk, verify_cpk

from edbp.errors import BlueprintError, Code, DecryptionFailed


class _Zeros(io.RawIOBase):
    """A seekable payload of n zero bytes that is never materialised."""

    def __init__(self, n: int) -> None:
        self.n, self.pos = n, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.n + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, b) -> int:
        k = max(0, min(len(b), self.n - self.pos))
        b[:k] = bytes(k)
        self.pos += k
        return k


class _Sink(io.RawIOBase):
    """Counts and hashes what is written, keeps nothing (seekable reads are not needed)."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.size += len(b)
        return len(b)


def test_build_streams_in_constant_memory(ctx) -> None:
    size = 24 * 1024 * 1024
    chunk = 256 * 1024
    sink = _Sink()
    tracemalloc.start()
    try:
        build_cpk(
            sink,
            _Zeros(size),
            class_key=ctx.class_key,
            signing_key=ctx.signer,
            certificate=ctx.signer_cert,
            cp_id="big-app",
            cp_name="n",
            cp_vendor="v",
            date="d",
            chunk=chunk,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.size > size
    assert peak < 8 * chunk  # a few chunks, never the payload


def test_verify_streams_a_file_larger_than_the_cpm_buffer(ctx, tmp_path) -> None:
    path = tmp_path / "big.cpk"
    size = 13 * 1024 * 1024
    with open(path, "wb") as f:
        build_cpk(
            f,
            _Zeros(size),
            class_key=ctx.class_key,
            signing_key=ctx.signer,
            certificate=ctx.signer_cert,
            cp_id="big-app",
            cp_name="n",
            cp_vendor="v",
            date="d",
        )
    with open(path, "rb") as f:
        with pytest.raises(BlueprintError) as err:
            CpkReader(f, strict=True)  # default cap: the CPM's 12 MiB buffer
        assert err.value.code is Code.CPK_STREAM_TOO_LARGE
        reader = CpkReader(f, strict=True, limits=Limits(max_payload=1 << 30))
        report = verify_cpk(reader, class_key=ctx.class_key, trust_anchor=ctx.signer_cert)
    assert report.plaintext_size == size and report.digest and report.trust_anchor


def _reader(data: bytes, strict: bool = True) -> CpkReader:
    return CpkReader(io.BytesIO(data), strict=strict)


def test_verify_refusals(ctx) -> None:
    good = ctx.build("as-published")
    with pytest.raises(DecryptionFailed) as err:
        verify_cpk(_reader(good), class_key=bytes(32))
    assert err.value.code is Code.CPK_DECRYPT_FAILED and err.value.detail == ""
    with pytest.raises(BlueprintError) as e2:
        verify_cpk(_reader(good), trust_anchor=ctx.attacker_cert)
    assert e2.value.code is Code.CPK_BAD_SIGNATURE
    for name, code in [
        ("digest_bitflip", Code.CPK_BAD_SIGNATURE),
        ("signature_bitflip", Code.CPK_BAD_SIGNATURE),
        ("certificate_not_pem", Code.CPK_BAD_SIGNATURE),
        ("manifest_enc_none", Code.CPK_UNSUPPORTED_SCHEME),
    ]:
        with pytest.raises(BlueprintError) as e3:
            verify_cpk(
                _reader(CPK_MUTATIONS[name].apply(ctx, "as-published")), class_key=ctx.class_key
            )
        assert e3.value.code is code, name
    for name in ("ciphertext_bitflip", "tag_bitflip", "nonce_bitflip"):
        with pytest.raises(DecryptionFailed):
            verify_cpk(
                _reader(CPK_MUTATIONS[name].apply(ctx, "as-published")), class_key=ctx.class_key
            )


def test_digest_mismatch_needs_a_consistent_forgery(ctx) -> None:
    # a re-signed wrong digest (the attacker holds the class key and signs with their own cert)
    s = split_streams(ctx.build("as-published"))
    s[3] = bytes(32)
    s[4] = crypto.sign_digest(ctx.signer, s[3])
    from edbp.reference.blueprint.mutations import assemble

    with pytest.raises(BlueprintError) as err:
        verify_cpk(_reader(assemble(s)), class_key=ctx.class_key)
    assert err.value.code is Code.CPK_DIGEST_MISMATCH


def test_bindings_are_not_interchangeable(ctx) -> None:
    fixed = ctx.build("fixed")
    verify_cpk(_reader(fixed), class_key=ctx.class_key, binding="fixed")
    with pytest.raises(BlueprintError):
        verify_cpk(_reader(fixed), class_key=ctx.class_key, binding="as-published")
    with pytest.raises(BlueprintError):
        verify_cpk(_reader(ctx.build("as-published")), class_key=ctx.class_key, binding="fixed")


def test_strict_caps_metadata_streams(ctx) -> None:
    cpk = ctx.build("as-published")
    _reader(cpk).parts()
    with pytest.raises(BlueprintError) as err:
        CpkReader(io.BytesIO(cpk), strict=True, limits=Limits(max_metadata=300)).parts()
    assert err.value.code is Code.CPK_STREAM_TOO_LARGE
    CpkReader(io.BytesIO(cpk), strict=False, limits=Limits(max_metadata=300)).parts()


def test_trust_anchor_may_issue_the_signer_certificate(ctx) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    ca_key, ca_cert = ctx.attacker, ctx.attacker_cert  # any RSA CA will do
    start = dt.datetime(2021, 10, 5, tzinfo=dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vendor build agent")]))
        .issuer_name(ca_cert.subject)
        .public_key(ctx.signer.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    out = io.BytesIO()
    build_cpk(
        out,
        io.BytesIO(b"payload"),
        class_key=ctx.class_key,
        signing_key=ctx.signer,
        certificate=leaf,
        cp_id="chain-app",
        cp_name="n",
        cp_vendor="v",
        date="d",
    )
    assert verify_cpk(_reader(out.getvalue()), trust_anchor=ca_cert).trust_anchor
    other_ca = crypto.self_signed_certificate(ctx.device_key, "other ca")
    with pytest.raises(BlueprintError):
        verify_cpk(_reader(out.getvalue()), trust_anchor=other_ca)
