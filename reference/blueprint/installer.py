"""The REE side of a blueprint device: cpk-tool's ``pubkey``, ``sync`` and ``install``
subcommands driving a CPM through its contract.

``install_package`` follows ``prototype/installer.rs``: parse frame and manifest, extract the
parts, ping, begin(cp-id, size), initialize(cp-id, key strength, nonce, tag), add the
ciphertext, verify(cp-id, ..., the certificate's RSAPublicKey), end. The published installer
prints the two verify flags and carries on: a false ``signature_match`` stops nothing. The only
difference for a ``fixed`` CPM is the version passed to ``begin`` (the fixed contract needs it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.blueprint import cpm as C
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.package import CpkReader

from edbp.errors import BlueprintError, Code

__all__ = ["InstallResult", "device_public_key_spki", "install_package", "sync_keys"]


@attrs.frozen
class InstallResult:
    digest_check: bool
    signature_check: bool


def _call(cpm: C.Cpm, call: C.Call) -> C.Reply:
    reply = cpm.handle(call)
    if reply.rc != 0:
        raise BlueprintError(Code.CPM_ERROR, f"{type(call).__name__} returned {reply.rc}")
    return reply


def device_public_key_spki(cpm: C.Cpm) -> str:
    """``cpk-tool pubkey``: ping, size, export; the DER RSAPublicKey re-encoded as base64 SPKI
    for ``properties.reported.device_public_key``."""
    _call(cpm, C.Ping())
    size = _call(cpm, C.GetDevicePublicKeyDataSize()).size or 0
    der = _call(cpm, C.ExportDevicePublicKey(size)).data or b""
    key = crypto.rsa_public_from_der(der)
    return base64.b64encode(crypto.rsa_public_to_spki_der(key)).decode()


def sync_keys(cpm: C.Cpm, desired_keys: Mapping[str, str]) -> dict[str, int]:
    """``cpk-tool sync``: install every wrapped key of the desired ``confidential_package_keys``.
    Returns name -> CPM return code (a malformed base64 value is -1 without a call)."""
    out: dict[str, int] = {}
    for name, value in desired_keys.items():
        try:
            wrapped = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            out[name] = -1
            continue
        out[name] = cpm.handle(C.InstallApplicationKey(name, wrapped)).rc
    return out


def install_package(cpm: C.Cpm, reader: CpkReader, *, chunk: int = crypto.CHUNK) -> InstallResult:
    """Drive ``cpm`` through one deployment of the package ``reader`` holds."""
    parts = reader.parts()
    app = parts.manifest.cp_id  # the application id is cp-id, not key_name
    cert = crypto.load_certificate_pem(parts.certificate_pem)
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BlueprintError(Code.CPK_UNSUPPORTED_SCHEME, "certificate key is not RSA")
    _call(cpm, C.Ping())
    version = parts.manifest.ver if cpm.behaviour == "fixed" else None
    _call(cpm, C.BeginApplicationDeployment(app, parts.ciphertext[1], version))
    _call(cpm, C.InitializeDecryptionAesGcm(app, parts.key_strength, parts.nonce, parts.tag))
    for block in reader.iter_ciphertext(chunk):
        _call(cpm, C.AddApplicationData(app, block))
    verdict = _call(
        cpm,
        C.VerifyApplicationSha256RsaPkcs1V15(
            app,
            parts.signature_key_strength,
            parts.digest,
            parts.signature,
            crypto.rsa_public_to_pkcs1_der(key),
        ),
    )
    _call(cpm, C.EndApplicationDeployment(app))
    return InstallResult(bool(verdict.digest_match), bool(verdict.signature_match))
