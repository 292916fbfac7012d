"""What every package registry offers the Author, the TAM and the Broker, and the package index.

Why an OCI image manifest describes a package in every backend: the registry is untrusted and
interchangeable (a directory, an OCI image layout, a distribution-API registry such as Docker
Hub or Azure Container Registry): a package is two content-addressed blobs, the SUIT envelope
and the encrypted payload, tied together by an OCI image manifest (artifact
``application/vnd.edbp.package.v1``), named by repository and tag. Nothing in a registry is
trusted: every blob read is checked against its sha256 digest here, and the envelope's
signatures and the payload's digest inside it are checked by the TAM and the Agent.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import Any

import attrs

from edbp.errors import Code, EdbpError

__all__ = [
    "ARTIFACT_TYPE",
    "EMPTY_CONFIG",
    "ENVELOPE_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "PAYLOAD_MEDIA_TYPE",
    "PackageRef",
    "Registry",
    "RegistryError",
    "check_digest",
    "check_name",
    "check_tag",
    "digest_of",
    "package_manifest",
    "parse_package_manifest",
]

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
ARTIFACT_TYPE = "application/vnd.edbp.package.v1"
#: IANA media type of a SUIT envelope (draft-ietf-suit-manifest §15)
ENVELOPE_MEDIA_TYPE = "application/suit-envelope+cose"
PAYLOAD_MEDIA_TYPE = "application/vnd.edbp.payload.encrypted.v1"
EMPTY_CONFIG_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
CHUNK = 1 << 20

_NAME = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class RegistryError(EdbpError):
    """A registry refusal: not found, digest mismatch, unreachable, bad reference."""


def check_name(name: object) -> str:
    """A repository name as the OCI distribution spec allows it."""
    if not isinstance(name, str) or len(name) > 255 or not _NAME.fullmatch(name):
        raise RegistryError(Code.REGISTRY_BAD_REFERENCE, f"bad repository name {name!r}")
    return name


def check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise RegistryError(Code.REGISTRY_BAD_REFERENCE, f"bad tag {tag!r}")
    return tag


def check_digest(digest: object) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise RegistryError(Code.REGISTRY_BAD_REFERENCE, f"bad digest {digest!r}")
    return digest


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_blob(digest: str, data: bytes) -> bytes:
    """``data`` if it hashes to ``digest`` (constant time), else REGISTRY_DIGEST_MISMATCH."""
    if not hmac.compare_digest(digest_of(data), digest):
        raise RegistryError(Code.REGISTRY_DIGEST_MISMATCH, f"blob does not match {digest}")
    return data


@attrs.frozen
class PackageRef:
    """Where a published package is and what it is made of (all digests are sha256)."""

    name: str
    tag: str
    manifest_digest: str
    envelope_digest: str
    envelope_size: int
    payload_digest: str
    payload_size: int


def _descriptor(
    media_type: str, data_digest: str, size: int, title: str | None = None
) -> dict[str, Any]:
    d: dict[str, Any] = {"mediaType": media_type, "digest": data_digest, "size": size}
    if title:
        d["annotations"] = {"org.opencontainers.image.title": title}
    return d


def package_manifest(
    envelope_digest: str, envelope_size: int, payload_digest: str, payload_size: int
) -> bytes:
    """The OCI image manifest (JSON, keys sorted, no spaces: deterministic) of one package."""
    doc = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": _descriptor(EMPTY_CONFIG_MEDIA_TYPE, digest_of(EMPTY_CONFIG), len(EMPTY_CONFIG)),
        "layers": [
            _descriptor(ENVELOPE_MEDIA_TYPE, envelope_digest, envelope_size, "envelope.suit"),
            _descriptor(PAYLOAD_MEDIA_TYPE, payload_digest, payload_size, "payload.enc"),
        ],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def parse_package_manifest(name: str, tag: str, data: bytes) -> PackageRef:
    """Read an edbp package manifest from untrusted bytes (else REGISTRY_BAD_REFERENCE)."""
    try:
        doc = json.loads(data)
        layers = doc["layers"]
        if doc.get("artifactType") != ARTIFACT_TYPE or len(layers) != 2:
            raise ValueError("not an edbp package")
        env, pay = layers
        if env["mediaType"] != ENVELOPE_MEDIA_TYPE or pay["mediaType"] != PAYLOAD_MEDIA_TYPE:
            raise ValueError("layer media types")
        sizes = (env["size"], pay["size"])
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes):
            raise ValueError("sizes")
        return PackageRef(
            name=name,
            tag=tag,
            manifest_digest=digest_of(data),
            envelope_digest=check_digest(env["digest"]),
            envelope_size=sizes[0],
            payload_digest=check_digest(pay["digest"]),
            payload_size=sizes[1],
        )
    except (ValueError, KeyError, TypeError, AttributeError, RegistryError):
        raise RegistryError(
            Code.REGISTRY_BAD_REFERENCE, f"{name}:{tag} is not an edbp package"
        ) from None


class Registry(abc.ABC):
    """A content-addressed blob store with named, tagged package manifests.

    Backends implement the blob and manifest primitives; ``push_package``, ``resolve`` and the
    verified reads are shared.
    """

    @abc.abstractmethod
    def _put_blob(self, name: str, digest: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def _get_blob(self, name: str, digest: str) -> bytes:
        """The stored bytes (unverified); REGISTRY_NOT_FOUND if absent."""

    @abc.abstractmethod
    def _put_manifest(self, name: str, tag: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def _get_manifest(self, name: str, tag: str) -> bytes:
        """The manifest bytes a tag points to; REGISTRY_NOT_FOUND if absent."""

    @abc.abstractmethod
    def tags(self, name: str) -> list[str]:
        """The tags of repository ``name`` (sorted)."""

    def _iter_blob(self, name: str, digest: str) -> Iterator[bytes]:
        """Chunks of a blob; backends that can stream override this."""
        yield self._get_blob(name, digest)

    # ------------------------------------------------------------------ shared API

    def put_blob(self, name: str, data: bytes) -> str:
        digest = digest_of(data)
        self._put_blob(check_name(name), digest, data)
        return digest

    def get_blob(self, name: str, digest: str) -> bytes:
        """A blob, checked against its digest (the registry is untrusted)."""
        return verify_blob(check_digest(digest), self._get_blob(check_name(name), digest))

    def iter_blob(self, name: str, digest: str) -> Iterator[bytes]:
        """A blob in chunks for large payloads. The digest is checked when the last chunk has
        been read: a consumer must not act on the data before the iterator ends (the Agent
        checks the signed digest itself in any case)."""
        check_name(name)
        check_digest(digest)
        h = hashlib.sha256()
        for chunk in self._iter_blob(name, digest):
            h.update(chunk)
            yield chunk
        if not hmac.compare_digest("sha256:" + h.hexdigest(), digest):
            raise RegistryError(Code.REGISTRY_DIGEST_MISMATCH, f"blob does not match {digest}")

    def push_package(self, name: str, tag: str, envelope: bytes, payload: bytes) -> PackageRef:
        """``publish.push``: both blobs, then the manifest, then the tag (a reader never sees a
        tag whose blobs are missing)."""
        check_name(name)
        check_tag(tag)
        env_digest = self.put_blob(name, envelope)
        pay_digest = self.put_blob(name, payload)
        self.put_blob(name, EMPTY_CONFIG)
        manifest = package_manifest(env_digest, len(envelope), pay_digest, len(payload))
        self._put_manifest(name, tag, manifest)
        return parse_package_manifest(name, tag, manifest)

    def resolve(self, name: str, tag: str) -> PackageRef:
        return parse_package_manifest(
            name, tag, self._get_manifest(check_name(name), check_tag(tag))
        )

    def pull_envelope(self, ref: PackageRef) -> bytes:
        return self.get_blob(ref.name, ref.envelope_digest)

    def pull_payload(self, ref: PackageRef) -> bytes:
        return self.get_blob(ref.name, ref.payload_digest)
