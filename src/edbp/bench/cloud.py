"""Cloud benchmarks: deploy one package to a fleet of simulated devices, per KeyVault backend.

What is deployed: ``Fleet.deploy_next`` publishes the next version of an OP-TEE TA (16 KiB) and
deploys it to ``n`` enrolled devices, each the reference Agent behind its Broker, in memory:
QueryRequest, EAT evidence, verification, CEK re-wrap by the KeyVault to the device's DAK,
TSK-signed device manifest, Update, fetch, decrypt, install, signed report, audit record.
Every call is a real upgrade (sequence 1, 2, ...), with the audit log on disk (SQLite, WAL,
``synchronous=FULL``, one group commit per protocol round of up to 256 sessions: a round's
messages go out only after its commit, see ``DeviceRegistry.group_commit``).

Two rows per size, because the TAM and the simulated devices share one process:

``cloud.deploy[<n>dev-<backend>]`` (the issue's target: "a TAM near its floor")
    the time spent *inside the TAM only*: ``Tam.add_package`` and every ``Tam.begin`` /
    ``Tam.receive`` call, with the group commits (fsync included) around them. The devices'
    work between the TAM's calls (verifying, decrypting, installing, signing their answers)
    is run but not counted. Baseline ``crypto.delivery_floor[<n>dev]``: the TAM's own
    cryptography for ``n`` deliveries, nothing else (below).
``cloud.deploy_loop[<n>dev-software]`` (for information)
    the same deploy timed whole, TAM and devices, against ``crypto.fleet_floor[<n>dev]``: the
    cryptography of both sides.

``crypto.delivery_floor[<n>dev]``, per device, is exactly the primitives the TAM's path runs
(``edbp.reference.cloud.tam``, software KeyVault), same curves and key types:

- 3 ECDSA P-256 signatures, deterministic (RFC 6979) as the TAM's ``sign_bytes``: the
  QueryRequest, the device manifest (its SUIT authentication), the Update;
- 4 ECDSA P-256 verifications: the QueryResponse, the EAT inside it, the Success, the SUIT
  report inside it (the device's endorsement is verified once at enrolment and remembered by
  its bytes, so it is not a per-deploy cost);
- 1 P-256 key generation and 1 ECDH with the device's DAK (the ECDH-ES+A128KW recipient's
  ephemeral key), 1 HKDF-SHA256 (the KEK), 1 A256KW unwrap of the CEK under the class key
  (the software KeyVault) and 1 A128KW wrap of it under the KEK (the fleet's TAM draws its
  tokens, challenges and ephemeral keys from the OS CSPRNG, as a TAM in service does, so its
  key generation is OpenSSL's, the floor's; the simulated world's own keys stay seeded);
- 4 SHA-256 of a few hundred bytes: the device manifest's digest and the three audit entries
  of the session (each entry is hashed once, for the chain).

The floor leaves out the PKCS#11 round trips of the ``pkcs11`` backend (SoftHSM2's
C_UnwrapKey, C_GetAttributeValue, C_DestroyObject and its object search), so the ``pkcs11``
rows' ratios include the HSM's cost; the target is read on the ``software`` row.

``crypto.fleet_floor[<n>dev]`` adds the devices' side to it: 4 more signatures (EAT,
QueryResponse, report, Success), 4 more verifications (QueryRequest, Update, device manifest,
author manifest), 1 ECDH without key generation (the device only derives), 1 HKDF and 1 A128KW
unwrap, one AES-128-GCM decryption of the 16 KiB payload and one RSA-2048 PSS verification of
the TA image. (The earlier single floor mixed both sides and counted a key generation the
device does not do; it was the baseline of a TAM target, so it compared unlike things.)

Every timed deploy follows an untimed one on the same fleet (in the setup): the first session
with a freshly enrolled device verifies its endorsement once, an enrolment cost. Each floor
likewise runs once untimed before its samples. The 1,000-device rows and their floors take 7
samples of one call each (7 pairs).

Each deploy result keeps, in the JSON report, ``tam_seconds`` and ``loop_seconds`` of its last
sample's call and ``tam_share`` (TAM time over the whole loop).

Sizes: 50 devices (quick) and 1,000 devices (full runs); backends ``software`` and ``pkcs11``
(SoftHSM2; its benchmarks report an error naming the reason when SoftHSM2 is absent).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from edbp.bench import benchmark
from edbp.reference.cloud.fleet import Fleet
from edbp.reference.cloud.keyvault import KeyVault

_SIZES = {"50dev": (50, True), "1000dev": (1000, False)}
_PAYLOAD = 16 * 1024
#: about the size of what the TAM hashes per audit entry and per device manifest
_AUDIT_ENTRY = bytes(300)


@functools.lru_cache(maxsize=1)
def _workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="edbp-bench-cloud-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _fleet(n: int, backend: str, tag: str = "") -> Fleet:
    root = _workdir() / f"{backend}{tag}-{n}"
    vault: KeyVault
    if backend == "software":
        from edbp.reference.cloud.keyvault_software import SoftwareKeyVault

        vault = SoftwareKeyVault(root / "classkeys.sealed", os.urandom(32))
    else:
        from edbp.reference.cloud.softhsm import process_token

        vault = process_token(_workdir() / "softhsm").open_vault(namespace=f"bench{n}")
    fleet = Fleet(n, vault, root, payload_bytes=_PAYLOAD)
    # One untimed deploy first: the first session with each enrolled device verifies its
    # endorsement under the MRK (then remembered by its bytes) and fills the per-key memos, an
    # enrolment cost paid once per device, not per deploy. Every timed call is a later deploy.
    _deploy(fleet, n)
    return fleet


@functools.lru_cache(maxsize=2)
def _loop_fleet(n: int) -> Fleet:
    """The whole-loop row's own fleet (a separate SQLite file and class key)."""
    return _fleet(n, "software", "-loop")


@attrs.frozen
class _Floor:
    n: int
    key: ec.EllipticCurvePrivateKey = attrs.field(repr=False)
    signature: bytes
    dak: ec.EllipticCurvePublicKey
    device_key: ec.EllipticCurvePrivateKey = attrs.field(repr=False)
    ephemeral: ec.EllipticCurvePublicKey
    class_key: bytes = attrs.field(repr=False)
    wrapped_cek: bytes
    kek: bytes = attrs.field(repr=False)
    device_wrapped: bytes
    aes_key: bytes = attrs.field(repr=False)
    ciphertext: bytes
    rsa_public: rsa.RSAPublicKey
    rsa_signature: bytes


@functools.lru_cache(maxsize=4)
def _floor_state(n: int) -> _Floor:
    key = ec.generate_private_key(ec.SECP256R1())
    signature = key.sign(b"m" * 64, ec.ECDSA(hashes.SHA256()))
    device_key = ec.generate_private_key(ec.SECP256R1())
    class_key, kek, cek = os.urandom(32), os.urandom(16), os.urandom(16)
    aes_key = os.urandom(16)
    ciphertext = AESGCM(aes_key).encrypt(b"\0" * 12, os.urandom(_PAYLOAD), b"")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    rsa_signature = rsa_key.sign(b"ta", pss, hashes.SHA256())
    return _Floor(
        n,
        key,
        signature,
        device_key.public_key(),
        device_key,
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        class_key,
        aes_key_wrap(class_key, cek),
        kek,
        aes_key_wrap(kek, cek),
        aes_key,
        ciphertext,
        rsa_key.public_key(),
        rsa_signature,
    )


def _tam_crypto(state: _Floor) -> None:
    """One delivery's TAM-side cryptography (see the module docstring for what each is)."""
    signing = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    ecdsa = ec.ECDSA(hashes.SHA256())
    for _ in range(3):
        state.key.sign(b"m" * 64, signing)
    public = state.key.public_key()
    for _ in range(4):
        public.verify(state.signature, b"m" * 64, ecdsa)
    shared = ec.generate_private_key(ec.SECP256R1()).exchange(ec.ECDH(), state.dak)
    kek = HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=b"context").derive(shared)
    cek = aes_key_unwrap(state.class_key, state.wrapped_cek)
    aes_key_wrap(kek, cek)
    for _ in range(4):
        hashlib.sha256(_AUDIT_ENTRY).digest()


def _device_crypto(state: _Floor) -> None:
    """One delivery's device-side cryptography (the Agent's, for the whole-loop row)."""
    signing = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    ecdsa = ec.ECDSA(hashes.SHA256())
    for _ in range(4):
        state.device_key.sign(b"m" * 64, signing)
    public = state.key.public_key()
    for _ in range(4):
        public.verify(state.signature, b"m" * 64, ecdsa)
    shared = state.device_key.exchange(ec.ECDH(), state.ephemeral)
    HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=b"context").derive(shared)
    aes_key_unwrap(state.kek, state.device_wrapped)
    AESGCM(state.aes_key).decrypt(b"\0" * 12, state.ciphertext, b"")
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    state.rsa_public.verify(state.rsa_signature, b"ta", pss, hashes.SHA256())


def _warmed(floor: Callable[[_Floor], None], n: int) -> _Floor:
    """The floor's state after one untimed pass: a heavy benchmark has no calibration call,
    and a floor's first pass (OpenSSL's tables, the interpreter's caches) is slower than the
    rest, as the first deploy is; both sides start warm."""
    state = _floor_state(n)
    floor(state)
    return state


def _delivery_floor(state: _Floor) -> None:
    for _ in range(state.n):
        _tam_crypto(state)


def _fleet_floor(state: _Floor) -> None:
    for _ in range(state.n):
        _tam_crypto(state)
        _device_crypto(state)


def _deploy(fleet: Fleet, n: int) -> dict[str, float]:
    result = fleet.deploy_next()
    if result.installed != n:
        raise RuntimeError(f"only {result.installed} of {n} devices installed")
    return {
        "tam_seconds": result.seconds_tam,
        "loop_seconds": result.seconds_total,
        "tam_share": result.seconds_tam / result.seconds_total,
    }


def _register(size: str, n: int, quick: bool) -> None:
    floor_name = f"crypto.delivery_floor[{size}]"
    fleet_floor_name = f"crypto.fleet_floor[{size}]"
    # a 1,000-device deploy lasts seconds: one call per sample, 7 pairs (the machine's load
    # moves a single pair's ratio by +-15%); each floor takes the same count, so every sample
    # has its partner
    samples = None if quick else 7
    benchmark(floor_name, setup=lambda: _warmed(_delivery_floor, n), quick=quick, samples=samples)(
        _delivery_floor
    )
    benchmark(
        fleet_floor_name, setup=lambda: _warmed(_fleet_floor, n), quick=quick, samples=samples
    )(_fleet_floor)
    for backend in ("software", "pkcs11"):

        def run(fleet: Fleet, n: int = n) -> dict[str, float]:
            metrics = _deploy(fleet, n)
            # the runner takes "seconds" as the sample's time: the TAM's own, not the loop's
            return {"seconds": metrics["tam_seconds"], **metrics}

        run.__qualname__ = f"deploy_{backend}_{size}"
        benchmark(
            f"cloud.deploy[{size}-{backend}]",
            baseline=floor_name,
            setup=functools.partial(_fleet, n, backend),
            quick=quick,
            samples=samples,
        )(run)

    def loop(fleet: Fleet, n: int = n) -> dict[str, float]:
        return {"seconds": (m := _deploy(fleet, n))["loop_seconds"], **m}

    loop.__qualname__ = f"deploy_loop_{size}"
    benchmark(
        f"cloud.deploy_loop[{size}-software]",
        baseline=fleet_floor_name,
        setup=functools.partial(_loop_fleet, n),
        quick=quick,
        samples=samples,
    )(loop)


for _size, (_n, _quick) in _SIZES.items():
    _register(_size, _n, _quick)
