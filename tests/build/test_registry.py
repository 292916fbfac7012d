"""Registries: directory, OCI image layout, OCI distribution API (docker-registry on loopback)."""

from __future__ import annotations

import json

import pytest
from edbp.reference.build.registry import (
    ARTIFACT_TYPE,
    ENVELOPE_MEDIA_TYPE,
    Registry,
    RegistryError,
    digest_of,
    parse_package_manifest,
)
from edbp.reference.build.registry_dir import DirectoryRegistry
from edbp.reference.build.registry_oci import OciDistributionRegistry, OciLayoutRegistry

from edbp.errors import Code

ENVELOPE = b"\xd8\x6b\xa2" + b"envelope bytes"
PAYLOAD = bytes(range(256)) * 9000  # > 2 chunks of 1 MiB


def test_push_resolve_pull(registry: Registry) -> None:
    ref = registry.push_package("acme/sample-ta", "1", ENVELOPE, PAYLOAD)
    assert ref.envelope_digest == digest_of(ENVELOPE) and ref.payload_size == len(PAYLOAD)
    assert registry.resolve("acme/sample-ta", "1") == ref
    assert registry.pull_envelope(ref) == ENVELOPE
    assert registry.pull_payload(ref) == PAYLOAD
    chunks = list(registry.iter_blob(ref.name, ref.payload_digest))
    assert len(chunks) >= 1 and b"".join(chunks) == PAYLOAD
    ref2 = registry.push_package("acme/sample-ta", "2", ENVELOPE + b"2", PAYLOAD[::-1])
    assert registry.tags("acme/sample-ta") == ["1", "2"]
    assert registry.resolve("acme/sample-ta", "2") == ref2 != ref
    # re-tagging moves the tag; the old blobs stay addressable by digest
    ref1b = registry.push_package("acme/sample-ta", "1", ENVELOPE + b"b", PAYLOAD)
    assert registry.resolve("acme/sample-ta", "1") == ref1b
    assert registry.get_blob(ref.name, ref.envelope_digest) == ENVELOPE


def test_missing_things_are_not_found(registry: Registry) -> None:
    registry.push_package("acme/ta", "1", ENVELOPE, PAYLOAD[:10])
    assert registry.tags("acme/other") == []
    for call in (
        lambda: registry.resolve("acme/ta", "9"),
        lambda: registry.resolve("acme/other", "1"),
        lambda: registry.get_blob("acme/ta", digest_of(b"never pushed")),
        lambda: list(registry.iter_blob("acme/ta", digest_of(b"never pushed"))),
    ):
        with pytest.raises(RegistryError) as e:
            call()
        assert e.value.code == Code.REGISTRY_NOT_FOUND


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("Acme/ta", "1"),
        ("acme//ta", "1"),
        ("../etc", "1"),
        ("acme/ta", "../x"),
        ("acme/ta", ""),
        ("acme/ta", "a/b"),
    ],
)
def test_bad_references_are_refused(registry: Registry, name: str, tag: str) -> None:
    with pytest.raises(RegistryError) as e:
        registry.push_package(name, tag, ENVELOPE, PAYLOAD[:1])
    assert e.value.code == Code.REGISTRY_BAD_REFERENCE
    with pytest.raises(RegistryError):
        registry.get_blob("acme/ta", "sha256:../../x")


def _blob_file(registry: Registry, digest: str):  # type: ignore[no-untyped-def]
    hexd = digest.split(":")[1]
    return next(p for p in registry.root.rglob(hexd))  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", [DirectoryRegistry, OciLayoutRegistry])
def test_a_tampered_blob_is_detected(tmp_path, kind) -> None:  # type: ignore[no-untyped-def]
    registry = kind(tmp_path)
    ref = registry.push_package("acme/ta", "1", ENVELOPE, PAYLOAD)
    path = _blob_file(registry, ref.payload_digest)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(RegistryError) as e:
        registry.pull_payload(ref)
    assert e.value.code == Code.REGISTRY_DIGEST_MISMATCH
    with pytest.raises(RegistryError) as e:
        b"".join(registry.iter_blob(ref.name, ref.payload_digest))
    assert e.value.code == Code.REGISTRY_DIGEST_MISMATCH
    # a tampered manifest is refused too
    mpath = _blob_file(registry, ref.manifest_digest)
    original = mpath.read_bytes()
    forged = original.replace(
        f'"size":{len(ENVELOPE)}'.encode(), f'"size":{len(ENVELOPE) + 1}'.encode()
    )
    assert forged != original
    mpath.write_bytes(forged)
    with pytest.raises(RegistryError) as e:
        registry.resolve("acme/ta", "1")
    assert e.value.code == Code.REGISTRY_DIGEST_MISMATCH


def test_oci_layout_is_a_valid_image_layout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    registry = OciLayoutRegistry(tmp_path)
    ref = registry.push_package("acme/ta", "7", ENVELOPE, PAYLOAD[:100])
    layout = tmp_path / "acme/ta"
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["digest"] == ref.manifest_digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "7"
    manifest = json.loads((layout / "blobs/sha256" / ref.manifest_digest[7:]).read_bytes())
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["layers"][0]["mediaType"] == ENVELOPE_MEDIA_TYPE
    for d in [manifest["config"], *manifest["layers"]]:
        assert (layout / "blobs/sha256" / d["digest"][7:]).stat().st_size == d["size"]


def test_foreign_manifests_are_not_packages() -> None:
    for data in (
        b"not json",
        b"{}",
        b'{"layers": 5}',
        json.dumps({"artifactType": ARTIFACT_TYPE, "layers": [1, 2]}).encode(),
    ):
        with pytest.raises(RegistryError) as e:
            parse_package_manifest("a/b", "1", data)
        assert e.value.code == Code.REGISTRY_BAD_REFERENCE


def test_distribution_client_refusals(docker_registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistryError) as e:
        OciDistributionRegistry("ftp://example.org")
    assert e.value.code == Code.REGISTRY_BAD_REFERENCE
    # nothing listens here (the port of a just-closed socket)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RegistryError) as e:
        OciDistributionRegistry(f"http://127.0.0.1:{port}", timeout=30).ping()  # refused at once
    assert e.value.code == Code.REGISTRY_UNAVAILABLE
    OciDistributionRegistry(docker_registry.url).ping()
