"""Injectable randomness, so that every random byte of a vector replays from a seed.

Production code takes a ``RandomSource`` and defaults to ``SystemRandom`` (the OS CSPRNG).
The vector generator passes a ``SeededRandom``: a SHAKE-256 stream keyed by the seed and a
label path. ``fork(label)`` gives an independent sub-stream, so adding a draw in one place does
not shift the bytes drawn anywhere else (vector ids and contents stay stable).
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class RandomSource(Protocol):
    def random_bytes(self, n: int) -> bytes: ...

    def fork(self, label: str) -> RandomSource: ...


class SystemRandom:
    """The OS CSPRNG. ``fork`` returns itself: system randomness needs no separation."""

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    def fork(self, label: str) -> SystemRandom:
        return self

    def __repr__(self) -> str:
        return "SystemRandom()"


class SeededRandom:
    """Deterministic stream: SHAKE-256(seed-path) read sequentially. For vectors and tests only."""

    def __init__(self, seed: bytes | str | int, _path: tuple[str, ...] = ()) -> None:
        if isinstance(seed, int):
            seed = seed.to_bytes(16, "big", signed=False)
        elif isinstance(seed, str):
            seed = seed.encode()
        self._seed = seed
        self._path = _path
        self._offset = 0

    def _stream(self, end: int) -> bytes:
        h = hashlib.shake_256()
        h.update(b"edbp-seeded-random\x00" + len(self._seed).to_bytes(4, "big") + self._seed)
        for part in self._path:
            raw = part.encode()
            h.update(len(raw).to_bytes(4, "big") + raw)
        return h.digest(end)

    def random_bytes(self, n: int) -> bytes:
        out = self._stream(self._offset + n)[self._offset :]
        self._offset += n
        return out

    def fork(self, label: str) -> SeededRandom:
        return SeededRandom(self._seed, (*self._path, label))

    def __repr__(self) -> str:  # the seed is test material, but keep reprs uniform
        return f"SeededRandom(path={'/'.join(self._path)!r})"


def p256_private_key(rng: RandomSource) -> ec.EllipticCurvePrivateKey:
    """A P-256 key from ``rng`` (rejection sampling, so it is uniform and reproducible). From
    the OS CSPRNG, OpenSSL's own key generation (the same distribution, without deriving the
    key from a scalar first: about half the time)."""
    if isinstance(rng, SystemRandom):
        return ec.generate_private_key(ec.SECP256R1())
    while True:
        d = int.from_bytes(rng.random_bytes(32), "big")
        if 0 < d < _P256_ORDER:
            return ec.derive_private_key(d, ec.SECP256R1())


def ed25519_private_key(rng: RandomSource) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(rng.random_bytes(32))


def x25519_private_key(rng: RandomSource) -> x25519.X25519PrivateKey:
    return x25519.X25519PrivateKey.from_private_bytes(rng.random_bytes(32))


DEFAULT_RANDOM: RandomSource = SystemRandom()
