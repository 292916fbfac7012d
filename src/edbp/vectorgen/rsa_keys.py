"""RSA test keys derived from the seed stream, so that RSA-signed vectors replay byte for byte.

Why not ``rsa.generate_private_key``: ``cryptography`` draws RSA primes from the OS and cannot
be seeded. Here the primes come from a seeded search instead: candidates are read from a
``SeededRandom`` (top two bits and the low bit set, so p*q has exactly ``bits`` bits), sieved by
small primes and tested with 16 rounds of Miller-Rabin (error below 2^-32 even for adversarial
inputs; far lower for random candidates) whose bases are drawn from the same
stream. The key is then assembled with ``rsa.RSAPrivateNumbers`` (CRT values computed by
``cryptography``'s helpers). These keys are test material: they are published in the vectors.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives.asymmetric import rsa

from edbp.reference.rand import SeededRandom

__all__ = ["rsa_private_key"]

_E = 65537
_SMALL_PRIMES = tuple(p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1)))


def _probably_prime(n: int, rng: SeededRandom, rounds: int = 16) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    nbytes = (n.bit_length() + 7) // 8
    for _ in range(rounds):
        a = 2 + int.from_bytes(rng.random_bytes(nbytes), "big") % (n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng: SeededRandom, bits: int) -> int:
    nbytes = bits // 8
    attempt = 0
    while True:
        draw = rng.fork(f"candidate/{attempt}")
        attempt += 1
        c = int.from_bytes(draw.random_bytes(nbytes), "big")
        c |= (3 << (bits - 2)) | 1
        if (c - 1) % _E == 0:
            continue
        if _probably_prime(c, draw.fork("mr")):
            return c


@functools.cache
def _numbers(seed: bytes, path: tuple[str, ...], bits: int) -> tuple[int, int]:
    rng = SeededRandom(seed, path)
    p = _prime(rng.fork("p"), bits // 2)
    q = _prime(rng.fork("q"), bits // 2)
    return (p, q) if p > q else (q, p)


def rsa_private_key(rng: SeededRandom, bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key (e = 65537) whose primes are a function of ``rng``'s seed and path only."""
    if bits % 16:
        raise ValueError("bits must be a multiple of 16")
    p, q = _numbers(rng._seed, rng._path, bits)
    n = p * q
    d = pow(_E, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(_E, n),
    )
    return numbers.private_key()
