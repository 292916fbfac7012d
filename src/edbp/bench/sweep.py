"""Size sweep, 1 MiB ... 1 GiB: time and peak memory of whole processes, against peers.

Every call here runs a child interpreter (``edbp.bench._proc``): the time is the child's wall
time, start-up included on both sides of a ratio, and the memory is the child's peak RSS as
the kernel counts it, reported also as ``rss_above_start`` (above a bare ``python -c pass``).
Inputs are built once per size, untimed, in a temporary directory removed when the next size
starts and at exit; the ELF is a sparse file, so only outputs take disk space.

- ``optee.cli_sign_encrypt[S]``: ``edbp ta sign --encrypt`` (RSA-4096, as the issue measured),
  against ``peer.optee_sign_encrypt[S]``, optee_os's own ``scripts/sign_encrypt.py sign-enc``
  on the same input, run from the checkout named by ``EDBP_OPTEE_OS`` (skipped, with the
  reason, when it is not set: the script is never copied into edbp).
- ``optee.cli_verify_decrypt[S]``: ``edbp ta verify --enc-key`` on that image, against
  ``crypto.ta_verify_floor[S]``: AES-256-GCM + SHA-256 + one RSA verification, streamed.
- ``device.install_process[S]``: the Agent's install (check, decrypt, seal, commit) of an
  AES-128-GCM payload into on-disk sealed storage, against ``crypto.install_floor_process[S]``
  (the same primitives and the one write; ``edbp.bench._floors``). These two time the work
  alone, inside the child, after its imports (the Agent is a resident process on a device, so
  its start-up is not part of an install); both run under ``tracemalloc`` there, and report
  its peak as ``py_peak``, the figure the device's ``MemoryBudget.limit`` is about.

Steadiness. One call here lasts seconds, and on a shared machine another process taking a
core for part of it moves that one sample by tens of percent: at 1 GiB the install and its
floor each spend about 2.4 s on the CPU and 0.4 s in their fsync, steady from run to run,
while the time spent waiting for a CPU held by someone else ranged from 0 to 2 s per sample.
With one sample a side, that wait alone made the ratio. So every row takes several samples,
each paired with one of its baseline's, and the runner reports the median of the per-pair
ratios (``edbp.bench.runner``): 5 pairs, 7 at 1 GiB where the targets are read; the ``sign``
rows take 3 from 256 MiB up, as OP-TEE's script needs 12 s and three times the image in
memory at 1 GiB. Before each sample, outside the timed window, the previous sample's output
is gone (the children remove their sealed storage after their clock stops, the ``sign`` rows
their image after the child exits) and the runner has waited for the writeback of every
dirty page (a setup's inputs included), so no sample pays for the files of the one before
it, the other side's included. Each side's one output is written the same way as its
partner's: the install and its floor both fsync their sealed file (the install also its
directory and its state record, which are part of an install); ``edbp ta sign`` and OP-TEE's
script both write their image without an fsync. The ``ta`` rows time the child process from
start to exit (``wall`` from ``edbp.bench._proc``), nothing of the parent's around it.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from edbp.bench import Skip, benchmark
from edbp.bench._proc import run_child

#: label -> (bytes, quick, samples, samples of the ``sign`` rows and their OP-TEE peer)
SIZES: dict[str, tuple[int, bool, int, int]] = {
    "1MiB": (1 << 20, True, 5, 5),
    "16MiB": (16 << 20, False, 5, 5),
    "256MiB": (256 << 20, False, 5, 3),
    "1GiB": (1 << 30, False, 7, 3),
}
_UUID = "8aaaf200-2450-11e4-abe2-0002a5d5c51b"
_ENC_KEY = hashlib.sha256(b"edbp bench TA key").digest()


@functools.lru_cache(maxsize=1)
def _root() -> Path:
    path = Path(tempfile.mkdtemp(prefix="edbp-bench-sweep-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.lru_cache(maxsize=1)
def _keys() -> tuple[Path, Path]:
    """An RSA-4096 signing key (PEM, PKCS#8) and its public key, written once per run."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    priv, pub = _root() / "ta-key.pem", _root() / "ta-key.pub.pem"
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub


@attrs.frozen
class _Inputs:
    dir: Path
    elf: Path
    image: Path


_current: dict[str, Any] = {}


def _for_size(kind: str, size: int, build: Callable[[Path], Any]) -> Any:
    """The inputs of (kind, size), built on first use; building another one removes the
    previous one's files (at 1 GiB, a few GiB of disk otherwise pile up)."""
    key = f"{kind}-{size}"
    if key not in _current:
        for old in list(_current):
            shutil.rmtree(_root() / old, ignore_errors=True)
            del _current[old]
        d = _root() / key
        d.mkdir(parents=True)
        _current[key] = build(d)
    return _current[key]


def _ta_inputs(size: int) -> _Inputs:
    def build(d: Path) -> _Inputs:
        from edbp.reference.optee import Encryption
        from edbp.reference.optee.stream import sign_ta_file

        elf = d / "ta.elf"
        with elf.open("wb") as f:
            f.truncate(size)  # sparse: reads as zeros, takes no disk
        image = d / "ta.signed"
        priv, _ = _keys()
        key = serialization.load_pem_private_key(priv.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        with elf.open("rb") as src, image.open("wb") as dst:
            sign_ta_file(src, dst, key, uuid.UUID(_UUID), 1, encryption=Encryption(_ENC_KEY))
        return _Inputs(d, elf, image)

    result: _Inputs = _for_size("ta", size, build)
    return result


def _optee_script() -> Path:
    root = os.environ.get("EDBP_OPTEE_OS")
    if not root:
        raise Skip("EDBP_OPTEE_OS is not set (point it at an optee_os checkout to compare)")
    script = Path(root) / "scripts" / "sign_encrypt.py"
    if not script.is_file():
        raise Skip(f"EDBP_OPTEE_OS has no scripts/sign_encrypt.py ({root})")
    return script


def _timed_child(kind: str, target: str, *args: str) -> dict[str, Any]:
    """``run_child``, its time being the child's own ``wall`` (start to exit)."""
    result = run_child(kind, target, *args)
    result["seconds"] = float(result["wall"])
    return result


def _run_and_remove(kind: str, target: str, args: list[str], out: Path) -> dict[str, Any]:
    """The timed child, then its output removed (after the child's clock has stopped)."""
    try:
        return _timed_child(kind, target, *args)
    finally:
        out.unlink(missing_ok=True)


_EDBP = "edbp.cli:main"  # the ``edbp`` command, as its console script calls it


def _install_inputs(size: int) -> Path:
    def build(d: Path) -> Path:
        ree = d / "ree"
        ree.mkdir()
        cek, iv = os.urandom(16), os.urandom(12)
        from edbp.reference.wire.cose_encrypt import enc_structure

        aad = enc_structure("Encrypt", b"\xa1\x01\x01", b"")
        enc = Cipher(algorithms.AES(cek), modes.GCM(iv)).encryptor()
        enc.authenticate_additional_data(aad)
        plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256()
        block = hashlib.shake_256(b"edbp sweep payload").digest(1 << 20)
        total = 0
        with (ree / "payload.bin").open("wb") as f:
            left = size
            while left:
                piece = block[: min(left, len(block))]
                left -= len(piece)
                plain_hash.update(piece)
                out = enc.update(piece)
                cipher_hash.update(out)
                total += f.write(out)
            tail = enc.finalize() + enc.tag
            cipher_hash.update(tail)
            total += f.write(tail)
        spec = {
            "cek": cek.hex(),
            "iv": iv.hex(),
            "aad": aad.hex(),
            "ciphertext_digest": cipher_hash.hexdigest(),
            "ciphertext_size": total,
            "plaintext_digest": plain_hash.hexdigest(),
            "plaintext_size": size,
        }
        (d / "spec.json").write_text(json.dumps(spec))
        return d

    result: Path = _for_size("install", size, build)
    return result


def _floors(*args: str) -> tuple[str, ...]:
    return ("module", "edbp.bench._floors", *args)


def _register(label: str, size: int, quick: bool, samples: int, sign_samples: int) -> None:
    peer = f"peer.optee_sign_encrypt[{label}]"
    ta = functools.partial(_ta_inputs, size)

    def optee_setup() -> tuple[Path, _Inputs]:
        return _optee_script(), ta()

    @benchmark(peer, setup=optee_setup, nbytes=size, quick=quick, samples=sign_samples)
    def optee_sign(state: tuple[Path, _Inputs]) -> dict[str, Any]:
        script, inp = state
        priv, _ = _keys()
        out = inp.dir / "theirs.ta"
        args = ["sign-enc", "--uuid", _UUID, "--ta-version", "1", "--in", str(inp.elf)]
        args += ["--out", str(out), "--key", str(priv), "--enc-key", _ENC_KEY.hex()]
        return _run_and_remove("script", str(script), args, out)

    @benchmark(
        f"optee.cli_sign_encrypt[{label}]",
        baseline=peer,
        setup=ta,
        nbytes=size,
        quick=quick,
        samples=sign_samples,
    )
    def edbp_sign(inp: _Inputs) -> dict[str, Any]:
        priv, _ = _keys()
        out = inp.dir / "ours.ta"
        args = ["ta", "sign", "--key", str(priv), "--uuid", _UUID, "--ta-version", "1"]
        args += ["--in", str(inp.elf), "--out", str(out), "--encrypt", "--enc-key", _ENC_KEY.hex()]
        return _run_and_remove("call", _EDBP, args, out)

    floor = f"crypto.ta_verify_floor[{label}]"

    @benchmark(floor, setup=ta, nbytes=size, quick=quick, samples=samples)
    def verify_floor(inp: _Inputs) -> dict[str, Any]:
        _, pub = _keys()
        return _timed_child(*_floors("ta-verify-floor", str(inp.image), str(pub), _ENC_KEY.hex()))

    @benchmark(
        f"optee.cli_verify_decrypt[{label}]",
        baseline=floor,
        setup=ta,
        nbytes=size,
        quick=quick,
        samples=samples,
    )
    def edbp_verify(inp: _Inputs) -> dict[str, Any]:
        _, pub = _keys()
        args = ["ta", "verify", str(inp.image), "--key", str(pub), "--enc-key", _ENC_KEY.hex()]
        return _timed_child("call", _EDBP, *args)

    inst = functools.partial(_install_inputs, size)
    inst_floor = f"crypto.install_floor_process[{label}]"

    @benchmark(inst_floor, setup=inst, nbytes=size, quick=quick, samples=samples)
    def install_floor(d: Path) -> dict[str, Any]:
        return run_child(*_floors("install-floor", str(d), str(d / "work")), report=True)

    @benchmark(
        f"device.install_process[{label}]",
        baseline=inst_floor,
        setup=inst,
        nbytes=size,
        quick=quick,
        samples=samples,
    )
    def install(d: Path) -> dict[str, Any]:
        return run_child(*_floors("install", str(d), str(d / "work")), report=True)


for _label, (_size, _quick, _samples, _sign_samples) in SIZES.items():
    _register(_label, _size, _quick, _samples, _sign_samples)
