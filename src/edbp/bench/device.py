"""Device benchmarks: the Agent's install data path, and its peak memory on a large payload.

``device.agent_install[<size>]`` times what the Agent does once a payload is fetched
(``deploy.check_payload`` → ``deploy.decrypt`` → ``deploy.install`` → ``deploy.raise_floor``):
hash the ciphertext, stream it again through AES-128-GCM while re-hashing it, seal every
plaintext chunk into sealed storage (AES-128-GCM under a fresh file key, as OP-TEE's REE FS
does), check the tag and the signed digests, and commit the state record. Its baseline
``crypto.agent_install_floor[<size>]`` is the floor made of the primitives that install needs,
on the same file, in the same chunks: the two reads of the ciphertext with their SHA-256 (before
decryption, and again while decrypting, since the REE may swap the file between the two), the
AES-128-GCM decryption, the plaintext's SHA-256, the sealed-storage AES-GCM encryption of
every chunk and one durable write. The ratio is what the Agent adds over those (parsing,
copies, the state record). ``crypto.aes128gcm_stream_decrypt[<size>]``, a bare streaming
decryption, stays as a reference point.

``device.agent_install_peak[256MiB]`` runs the same install of a 256 MiB payload under
``tracemalloc`` and fails (the runner reports the error) when the Agent's peak allocation
reaches its stated budget (``MemoryBudget.limit``, 1 MiB with 64 KiB chunks). The full JSON
measurement, with the peak in bytes, is ``python -m edbp.reference.device.bench_memory``.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import attrs
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edbp.bench import benchmark
from edbp.reference.device.broker import BrokerPayload
from edbp.reference.device.install import Installer, MemoryBudget, PayloadSpec
from edbp.reference.device.sealed_storage import SealedStorage, StorageKeys
from edbp.reference.device.storage import FileStorage, MemoryStorage, Storage
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_encrypt import enc_structure

BUDGET = MemoryBudget(chunk=64 * 1024, limit=1024 * 1024, max_payload=1 << 30)
_COMPONENT = (b"TEEP-Device", b"SecureFS", bytes(16))
_SIZES = {"1MiB": (1 << 20, True), "64MiB": (64 << 20, False)}


@functools.lru_cache(maxsize=1)
def _workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="edbp-bench-device-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@attrs.define
class _Payload:
    """A published payload as the Agent sees it after the fetch, and a fresh device."""

    spec: PayloadSpec
    cek: bytes = attrs.field(repr=False)
    source: BrokerPayload
    installer: Installer
    sequence: int = 0


@functools.lru_cache(maxsize=4)
def _payload(size: int) -> _Payload:
    root = _workdir() / f"payload-{size}"
    cek, iv = os.urandom(16), os.urandom(12)
    aad = enc_structure("Encrypt", b"\xa1\x01\x01", b"")
    enc = Cipher(algorithms.AES(cek), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(aad)
    plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256()
    ree = FileStorage(root / "ree")
    block = hashlib.shake_256(b"edbp device bench").digest(1 << 20)

    def ciphertext() -> Iterator[bytes]:
        left = size
        while left:
            piece = block[: min(left, len(block))]
            left -= len(piece)
            plain_hash.update(piece)
            out = enc.update(piece)
            cipher_hash.update(out)
            yield out
        tail = enc.finalize() + enc.tag
        cipher_hash.update(tail)
        yield tail

    total = ree.write("payload.bin", ciphertext())
    spec = PayloadSpec(
        component_id=_COMPONENT,
        sequence=1,
        ciphertext_digest=cipher_hash.digest(),
        ciphertext_size=total,
        content_alg=Alg.A128GCM,
        iv=iv,
        aad=aad,
        plaintext_digest=plain_hash.digest(),
        plaintext_size=size,
    )
    # the Agent's sealed storage: in memory for small payloads, on disk for large ones
    medium: Storage = MemoryStorage() if size <= (16 << 20) else FileStorage(root / "tee")
    sealed = SealedStorage(medium, StorageKeys.from_huk(os.urandom(16)), chunk_size=BUDGET.chunk)
    return _Payload(spec, cek, BrokerPayload(ree, "payload.bin"), Installer(sealed, BUDGET))


def _install(state: _Payload) -> None:
    state.sequence += 1  # every call is a real upgrade (the floor only rises)
    spec = attrs.evolve(state.spec, sequence=state.sequence)
    cek = bytearray(state.cek)
    try:
        state.installer.check_payload(spec, state.source)
        state.installer.decrypt_and_install(spec, cek, state.source)
    finally:
        cek[:] = bytes(len(cek))


def _floor(state: _Payload) -> None:
    dec = Cipher(algorithms.AES(state.cek), modes.GCM(state.spec.iv)).decryptor()
    dec.authenticate_additional_data(state.spec.aad)
    body = state.spec.ciphertext_size - 16
    seen = 0
    tail = b""
    for chunk in state.source.read_chunks(BUDGET.chunk):
        take = chunk[: max(0, body - seen)]
        seen += len(take)
        tail += chunk[len(take) :]
        dec.update(take)
    dec.finalize_with_tag(tail)


def _install_floor(state: _Payload) -> None:
    chunk = BUDGET.chunk
    first = hashlib.sha256()
    for piece in state.source.read_chunks(chunk):
        first.update(piece)
    dec = Cipher(algorithms.AES(state.cek), modes.GCM(state.spec.iv)).decryptor()
    dec.authenticate_additional_data(state.spec.aad)
    again, plain = hashlib.sha256(), hashlib.sha256()
    seal = AESGCM(bytes(16))
    body = state.spec.ciphertext_size - 16
    done: list[bytes] = []

    def sealed() -> Iterator[bytes]:
        seen = 0
        tail = b""
        for index, piece in enumerate(state.source.read_chunks(chunk)):
            again.update(piece)
            take = piece[: max(0, body - seen)]
            seen += len(take)
            tail += piece[len(take) :]
            p = dec.update(take)
            plain.update(p)
            yield seal.encrypt(index.to_bytes(12, "big"), p, b"")
        done.append(tail)

    # the one write, to the same medium the Agent's sealed storage writes to
    state.installer.sealed.storage.write("floor.bin", sealed())
    dec.finalize_with_tag(done[0])


def _peak(state: _Payload) -> None:
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        _install(state)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    if peak >= BUDGET.limit:
        raise RuntimeError(f"Agent peak {peak} bytes reached its budget of {BUDGET.limit}")


for _name, (_size, _quick) in _SIZES.items():
    _setup = functools.partial(_payload, _size)
    benchmark(
        f"crypto.aes128gcm_stream_decrypt[{_name}]", setup=_setup, nbytes=_size, quick=_quick
    )(_floor)
    _floor_name = f"crypto.agent_install_floor[{_name}]"
    benchmark(_floor_name, setup=_setup, nbytes=_size, quick=_quick)(_install_floor)
    benchmark(
        f"device.agent_install[{_name}]",
        baseline=_floor_name,
        setup=_setup,
        nbytes=_size,
        quick=_quick,
    )(_install)

_BIG = 256 << 20
benchmark(
    "crypto.aes128gcm_stream_decrypt[256MiB]",
    setup=functools.partial(_payload, _BIG),
    nbytes=_BIG,
    quick=False,
)(_floor)
benchmark(
    "device.agent_install_peak[256MiB]",
    baseline="crypto.aes128gcm_stream_decrypt[256MiB]",
    setup=functools.partial(_payload, _BIG),
    nbytes=_BIG,
    quick=False,
)(_peak)
