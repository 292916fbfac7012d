"""Shared fixtures: RSA keys are generated once per session (generation is the slow part)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.optee.mutations import MutationContext


@pytest.fixture(scope="session")
def root_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def small_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.fixture(scope="session")
def key_3072() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


@pytest.fixture(scope="session")
def ctx(
    root_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, small_key: rsa.RSAPrivateKey
) -> MutationContext:
    return MutationContext.create(root_key, other_key, small_key)
