"""Cloud benchmarks: deploy one package to a fleet of simulated devices, per KeyVault backend.

``cloud.deploy[<n>dev-<backend>]`` publishes the next version of an OP-TEE TA (16 KiB) and
deploys it to ``n`` enrolled devices, each the reference Agent behind its Broker, in memory:
QueryRequest, EAT evidence, verification, CEK re-wrap by the KeyVault to the device's DAK,
TSK-signed device manifest, Update, fetch, decrypt, install, signed report, audit record.
Every call is a real upgrade (sequence 1, 2, ...). devices/s = n / (time per call).

The baseline ``crypto.delivery_floor[<n>dev]`` does, for ``n`` devices, the raw public-key
and symmetric operations one delivery cannot avoid (both sides): 7 ECDSA P-256 signatures,
8 verifications, 2 ECDH P-256 agreements with key generation, one AES-128-GCM decryption of
the payload and one RSA-2048 PSS verification (the TA image). The ratio is the protocol's
overhead over that floor (CBOR, SUIT processing, storage, audit log, the KeyVault). The floor
leaves out the symmetric work that costs microseconds (SHA-256 passes, AES key wrap, HKDF,
the sealed-storage AES-GCM of a 16 KiB TA), so it is, if anything, low. Each deploy result
keeps ``tam_share``, the fraction of the time spent inside the TAM (the rest is the simulated
devices' own work).

Sizes: 50 devices (quick) and 1,000 devices (full runs); backends ``software`` and ``pkcs11``
(SoftHSM2; its benchmarks report an error naming the reason when SoftHSM2 is absent).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edbp.bench import benchmark
from edbp.reference.cloud.fleet import Fleet
from edbp.reference.cloud.keyvault import KeyVault

_SIZES = {"50dev": (50, True), "1000dev": (1000, False)}
_PAYLOAD = 16 * 1024


@functools.lru_cache(maxsize=1)
def _workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="edbp-bench-cloud-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _fleet(n: int, backend: str) -> Fleet:
    root = _workdir() / f"{backend}-{n}"
    vault: KeyVault
    if backend == "software":
        from edbp.reference.cloud.keyvault_software import SoftwareKeyVault

        vault = SoftwareKeyVault(root / "classkeys.sealed", os.urandom(32))
    else:
        from edbp.reference.cloud.softhsm import process_token

        vault = process_token(_workdir() / "softhsm").open_vault(namespace=f"bench{n}")
    return Fleet(n, vault, root, payload_bytes=_PAYLOAD)


@attrs.frozen
class _Floor:
    n: int
    key: ec.EllipticCurvePrivateKey = attrs.field(repr=False)
    signature: bytes
    peer: ec.EllipticCurvePublicKey
    aes_key: bytes = attrs.field(repr=False)
    ciphertext: bytes
    rsa_public: rsa.RSAPublicKey
    rsa_signature: bytes


@functools.lru_cache(maxsize=4)
def _floor_state(n: int) -> _Floor:
    key = ec.generate_private_key(ec.SECP256R1())
    signature = key.sign(b"m" * 64, ec.ECDSA(hashes.SHA256()))
    aes_key = os.urandom(16)
    ciphertext = AESGCM(aes_key).encrypt(b"\0" * 12, os.urandom(_PAYLOAD), b"")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    rsa_signature = rsa_key.sign(b"ta", pss, hashes.SHA256())
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    return _Floor(n, key, signature, peer, aes_key, ciphertext, rsa_key.public_key(), rsa_signature)


def _floor(state: _Floor) -> None:
    ecdsa = ec.ECDSA(hashes.SHA256())
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    public = state.key.public_key()
    for _ in range(state.n):
        for _ in range(7):
            state.key.sign(b"m" * 64, ecdsa)
        for _ in range(8):
            public.verify(state.signature, b"m" * 64, ecdsa)
        for _ in range(2):
            ec.generate_private_key(ec.SECP256R1()).exchange(ec.ECDH(), state.peer)
        AESGCM(state.aes_key).decrypt(b"\0" * 12, state.ciphertext, b"")
        state.rsa_public.verify(state.rsa_signature, b"ta", pss, hashes.SHA256())


def _register(size: str, n: int, quick: bool) -> None:
    floor_name = f"crypto.delivery_floor[{size}]"
    benchmark(floor_name, setup=lambda: _floor_state(n), quick=quick)(_floor)
    for backend in ("software", "pkcs11"):

        def run(fleet: Fleet, n: int = n) -> dict[str, float]:
            result = fleet.deploy_next()
            if result.installed != n:
                raise RuntimeError(f"only {result.installed} of {n} devices installed")
            # kept in the JSON report: how the time splits between the TAM and the devices
            return {"tam_share": result.seconds_tam / result.seconds_total}

        run.__qualname__ = f"deploy_{backend}_{size}"
        benchmark(
            f"cloud.deploy[{size}-{backend}]",
            baseline=floor_name,
            setup=functools.partial(_fleet, n, backend),
            quick=quick,
        )(run)


for _size, (_n, _quick) in _SIZES.items():
    _register(_size, _n, _quick)
