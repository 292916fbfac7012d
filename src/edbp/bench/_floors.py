"""Child-process tasks of the size sweep (``python -m edbp.bench._floors TASK ARGS``).

The floors are the primitives a pipeline cannot avoid, written as directly as Python allows,
on the same file, with the same chunk size as the pipeline they are the baseline of:

``ta-verify-floor IMAGE PUBKEY ENC_KEY_HEX``
    one pass over an encrypted TA image's payload: AES-256-GCM decryption (tag given up front)
    and SHA-256 of the headers and the plaintext; then one RSA-PSS verification of the digest.
``install IN_DIR WORK_DIR`` / ``install-floor IN_DIR WORK_DIR``
    the Agent's install of the payload ``IN_DIR/ree/payload.bin`` described by
    ``IN_DIR/spec.json`` into fresh sealed storage under ``WORK_DIR``; and its floor: the same
    two reads of the ciphertext, the three SHA-256 passes (ciphertext twice, plaintext once),
    the AES-GCM decryption, the sealed-storage AES-GCM encryption per chunk, and one durable
    write of the sealed file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TA_CHUNK = 1 << 20  # edbp.reference.optee.stream.CHUNK_SIZE
DEVICE_CHUNK = 64 * 1024  # the device budget's chunk (edbp.bench.device.BUDGET)
MAX_PAYLOAD = 1 << 30


def ta_verify_floor(image: Path, pubkey: Path, enc_key: bytes) -> None:
    key = serialization.load_pem_public_key(pubkey.read_bytes())
    assert isinstance(key, rsa.RSAPublicKey)
    with image.open("rb") as f:
        shdr = f.read(20)
        _magic, _type, img_size, _algo, hash_size, sig_size = struct.unpack("<IIIIHH", shdr)
        digest = f.read(hash_size)
        sig = f.read(sig_size)
        bootstrap = f.read(20)
        ehdr = f.read(12)
        iv, tag = f.read(12), f.read(16)
        h = hashlib.sha256(shdr + bootstrap + ehdr + iv + tag)
        dec = Cipher(algorithms.AES(enc_key), modes.GCM(iv, tag)).decryptor()
        buf = bytearray(TA_CHUNK)
        out = bytearray(TA_CHUNK + 15)
        view, oview = memoryview(buf), memoryview(out)
        left = img_size
        while left:
            n = f.readinto(view[: min(left, TA_CHUNK)])
            m = dec.update_into(view[:n], out)
            h.update(oview[:m])
            left -= n
        dec.finalize()
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    key.verify(sig, h.digest(), pss, utils.Prehashed(hashes.SHA256()))
    if h.digest() != digest:
        raise SystemExit("digest mismatch")


def _spec(in_dir: Path) -> dict[str, str | int]:
    value: dict[str, str | int] = json.loads((in_dir / "spec.json").read_text())
    return value


def install(in_dir: Path, work: Path) -> None:
    from edbp.reference.device.broker import BrokerPayload
    from edbp.reference.device.install import Installer, MemoryBudget, PayloadSpec
    from edbp.reference.device.sealed_storage import SealedStorage, StorageKeys
    from edbp.reference.device.storage import FileStorage
    from edbp.reference.wire.cose_algs import Alg

    s = _spec(in_dir)
    spec = PayloadSpec(
        component_id=(b"TEEP-Device", b"SecureFS", bytes(16)),
        sequence=1,
        ciphertext_digest=bytes.fromhex(str(s["ciphertext_digest"])),
        ciphertext_size=int(s["ciphertext_size"]),
        content_alg=Alg.A128GCM,
        iv=bytes.fromhex(str(s["iv"])),
        aad=bytes.fromhex(str(s["aad"])),
        plaintext_digest=bytes.fromhex(str(s["plaintext_digest"])),
        plaintext_size=int(s["plaintext_size"]),
    )
    budget = MemoryBudget(chunk=DEVICE_CHUNK, limit=1 << 20, max_payload=MAX_PAYLOAD)
    sealed = SealedStorage(
        FileStorage(work / "tee"), StorageKeys.from_huk(os.urandom(16)), chunk_size=budget.chunk
    )
    installer = Installer(sealed, budget)
    source = BrokerPayload(FileStorage(in_dir / "ree"), "payload.bin")
    cek = bytearray.fromhex(str(s["cek"]))
    installer.check_payload(spec, source)
    installer.decrypt_and_install(spec, cek, source)


def install_floor(in_dir: Path, work: Path) -> None:
    s = _spec(in_dir)
    payload = in_dir / "ree" / "payload.bin"
    size = int(s["ciphertext_size"])
    first = hashlib.sha256()
    with payload.open("rb") as f:
        while chunk := f.read(DEVICE_CHUNK):
            first.update(chunk)
    dec = Cipher(
        algorithms.AES(bytes.fromhex(str(s["cek"]))), modes.GCM(bytes.fromhex(str(s["iv"])))
    ).decryptor()
    dec.authenticate_additional_data(bytes.fromhex(str(s["aad"])))
    again, plain = hashlib.sha256(), hashlib.sha256()
    seal = AESGCM(os.urandom(16))
    body = size - 16
    (work / "tee").mkdir(parents=True, exist_ok=True)
    with payload.open("rb") as f, (work / "tee" / "floor.bin").open("wb") as out:
        seen, index = 0, 0
        tail = b""
        while chunk := f.read(DEVICE_CHUNK):
            again.update(chunk)
            take = chunk[: max(0, body - seen)]
            seen += len(take)
            tail += chunk[len(take) :]
            p = dec.update(take)
            plain.update(p)
            out.write(seal.encrypt(index.to_bytes(12, "big"), p, b""))
            index += 1
        dec.finalize_with_tag(tail)
        out.flush()
        os.fsync(out.fileno())


def main(argv: list[str]) -> None:
    """Run the task; with ``EDBP_BENCH_REPORT`` set, write ``seconds`` (the task alone, after
    the imports) and ``py_peak`` (tracemalloc peak during it) there as JSON."""
    task, *args = argv
    if task == "ta-verify-floor":
        work: Callable[[], None] = functools.partial(
            ta_verify_floor, Path(args[0]), Path(args[1]), bytes.fromhex(args[2])
        )
    elif task in ("install", "install-floor"):
        # import what the task imports before the clock starts
        import edbp.reference.device.broker
        import edbp.reference.device.install  # noqa: F401

        work = functools.partial(
            install if task == "install" else install_floor, Path(args[0]), Path(args[1])
        )
    else:
        raise SystemExit(f"unknown task {task!r}")
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        work()
    finally:
        seconds = time.perf_counter() - t0
        _, py_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if task != "ta-verify-floor":
            shutil.rmtree(Path(args[1]), ignore_errors=True)
    report = os.environ.get("EDBP_BENCH_REPORT")
    if report:
        Path(report).write_text(json.dumps({"seconds": seconds, "py_peak": py_peak}))


if __name__ == "__main__":
    main(sys.argv[1:])
