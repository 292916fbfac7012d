"""The blueprint key service (Azure sample ``functionapp/Functions.cs``), sans-I/O.

Three operations, exactly as published:

* ``provision_key(key_name)``: a fresh AES-256 class key stored as a secret, silently
  overwriting any secret of that name, the infrastructure secrets included (denial of service).
* ``wrap_key(key_name, client_public_key)``: the class key RSA PKCS#1 v1.5-encrypted to *any*
  well-formed RSA SubjectPublicKeyInfo the caller sends (no attestation, no allow-list).
* ``distribute_keys()``: one run of the 5-minute timer. Every secret except the infrastructure
  ones is wrapped to every twin with ``properties.reported.device_public_key`` (enabled or
  not), written to ``properties.desired.confidential_package_keys`` with the twin's ETag. An
  invalid reported key is logged and skipped; an ETag conflict aborts the run, as the
  unhandled exception of ``UpdateTwinAsync`` does.

The HTTP binding is ``keyservice_http``; this module does no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.secret_store import SecretStore
from edbp.reference.blueprint.twins import TwinConflict, TwinStore
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource

from edbp.errors import BlueprintError, Code

__all__ = [
    "DEFAULT_INFRASTRUCTURE_SECRETS",
    "DistributeReport",
    "KeyService",
    "check_key_name",
    "parse_client_public_key",
]

#: edbp's names for the two infrastructure secrets the sample keeps in the same vault
DEFAULT_INFRASTRUCTURE_SECRETS = ("IoTHubConnectionString", "StorageConnectionString")
_KEY_NAME = re.compile(r"[0-9A-Za-z-]{5,36}")
DESIRED_PROPERTY = "confidential_package_keys"
REPORTED_PROPERTY = "device_public_key"


def check_key_name(name: object) -> str:
    """An application (key) name: 5-36 characters valid in a Key Vault secret name."""
    if not isinstance(name, str) or not _KEY_NAME.fullmatch(name):
        raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "key_name: 5-36 of [0-9A-Za-z-]")
    return name


def parse_client_public_key(value: object) -> rsa.RSAPublicKey:
    """base64 DER SubjectPublicKeyInfo of an RSA key (any size the parser accepts)."""
    if not isinstance(value, str):
        raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "client_public_key: expected base64")
    try:
        der = base64.b64decode(value, validate=True)
        key = serialization.load_der_public_key(der)
    except (binascii.Error, ValueError, TypeError):
        raise BlueprintError(
            Code.KEYSERVICE_BAD_REQUEST, "client_public_key: not base64 SPKI"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise BlueprintError(Code.KEYSERVICE_BAD_REQUEST, "client_public_key: not an RSA key")
    return key


@attrs.frozen
class DistributeReport:
    updated: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    conflict: str | None
    key_names: tuple[str, ...]


class KeyService:
    """ProvisionKey, WrapKey and DistributeKey over a ``SecretStore`` and a ``TwinStore``."""

    def __init__(
        self,
        secrets: SecretStore,
        twins: TwinStore,
        *,
        rng: RandomSource = DEFAULT_RANDOM,
        infrastructure_secrets: tuple[str, ...] = DEFAULT_INFRASTRUCTURE_SECRETS,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.secrets = secrets
        self.twins = twins
        self.rng = rng
        self.infrastructure_secrets = infrastructure_secrets
        self.log_lines: list[str] = []
        self._log_sink = log

    def __repr__(self) -> str:
        return f"KeyService({self.secrets!r}, {self.twins!r})"

    def _log(self, line: str) -> None:
        self.log_lines.append(line)
        if self._log_sink is not None:
            self._log_sink(line)

    def provision_key(self, key_name: object) -> str:
        name = check_key_name(key_name)
        self.secrets.generate(name, 32, self.rng)
        return f"Successfully provisioned the key {name}."

    def _wrapped(self, name: str, key: rsa.RSAPublicKey) -> str:
        """Secret ``name`` RSA-PKCS#1 v1.5-encrypted to ``key``, base64 (as the twin carries it)."""
        wrapped = self.secrets.use(
            name, lambda ck: crypto.pkcs1v15_encrypt(key, bytes(ck), self.rng)
        )
        return base64.b64encode(wrapped).decode()

    def wrap_key(self, key_name: object, client_public_key: object) -> str:
        name = check_key_name(key_name)
        return self._wrapped(name, parse_client_public_key(client_public_key))

    def distribute_keys(self) -> DistributeReport:
        names = tuple(n for n in self.secrets.names() if n not in self.infrastructure_secrets)
        self._log(f"Obtained {len(names)} key(s) for distribution.")
        updated: list[str] = []
        skipped: list[tuple[str, str]] = []
        for twin in self.twins.query_reported_defined(REPORTED_PROPERTY):
            device = twin["deviceId"]
            try:
                key = parse_client_public_key(twin["properties"]["reported"][REPORTED_PROPERTY])
            except BlueprintError as exc:
                self._log(f"Failed to distribute key(s) to twin of device '{device}'. {exc.detail}")
                skipped.append((device, exc.detail))
                continue
            wrapped = {n: self._wrapped(n, key) for n in names}
            try:
                self.twins.update_desired(device, {DESIRED_PROPERTY: wrapped}, twin["etag"])
            except TwinConflict:
                self._log(f"Twin of device '{device}' changed during distribution; run aborted.")
                return DistributeReport(tuple(updated), tuple(skipped), device, names)
            updated.append(device)
        return DistributeReport(tuple(updated), tuple(skipped), None, names)
