"""OCI registries: an on-disk OCI image layout and a client of the OCI distribution API.

Why both: an image layout (image-spec ``image-layout.md``) is what ``oras``, ``skopeo`` and
``crane`` read and write offline, and the distribution API (distribution-spec v1.1: the
``/v2/`` HTTP API of Docker Hub, ACR, Harbor, Debian's ``docker-registry``) is how IoT Edge
deployments pull modules. A package is the same OCI image manifest in both (``registry``).

The HTTP client is ``urllib`` from the standard library (no dependency): anonymous or HTTP
Basic authentication; bearer-token challenges (``WWW-Authenticate: Bearer``) are not
implemented and are refused with REGISTRY_UNAVAILABLE naming the challenge.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edbp.reference.build.registry import (
    CHUNK,
    MANIFEST_MEDIA_TYPE,
    Registry,
    RegistryError,
    check_digest,
    check_name,
    check_tag,
    digest_of,
)
from edbp.reference.build.registry_dir import _atomic_write

from edbp.errors import Code

__all__ = ["OciDistributionRegistry", "OciLayoutRegistry"]

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


class OciLayoutRegistry(Registry):
    """One OCI image layout per repository: ``root/<name>/{oci-layout,index.json,blobs/sha256/}``.

    Tags are the ``org.opencontainers.image.ref.name`` annotation of the index entries.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"OciLayoutRegistry({self.root.name!r})"

    def _layout(self, name: str) -> Path:
        layout = self.root / check_name(name)
        if not (layout / "oci-layout").exists():
            _atomic_write(layout / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        return layout

    def _blob_path(self, name: str, digest: str) -> Path:
        return self._layout(name) / "blobs" / "sha256" / check_digest(digest).split(":", 1)[1]

    def _index(self, name: str) -> dict[str, Any]:
        path = self._layout(name) / "index.json"
        if not path.exists():
            return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
        try:
            index = json.loads(path.read_bytes())
            if not isinstance(index.get("manifests"), list):
                raise ValueError
            return dict(index)
        except (ValueError, AttributeError):
            raise RegistryError(
                Code.REGISTRY_BAD_REFERENCE, f"{name}: index.json is not an OCI index"
            ) from None

    def _put_blob(self, name: str, digest: str, data: bytes) -> None:
        path = self._blob_path(name, digest)
        if not path.exists():
            _atomic_write(path, data)

    def _get_blob(self, name: str, digest: str) -> bytes:
        try:
            return self._blob_path(name, digest).read_bytes()
        except FileNotFoundError:
            raise RegistryError(Code.REGISTRY_NOT_FOUND, f"no blob {digest}") from None

    def _iter_blob(self, name: str, digest: str) -> Iterator[bytes]:
        try:
            f = open(self._blob_path(name, digest), "rb")
        except FileNotFoundError:
            raise RegistryError(Code.REGISTRY_NOT_FOUND, f"no blob {digest}") from None
        try:
            while chunk := f.read(CHUNK):
                yield chunk
        finally:
            f.close()

    def _put_manifest(self, name: str, tag: str, data: bytes) -> None:
        digest = self.put_blob(name, data)
        index = self._index(name)
        entries = [
            m for m in index["manifests"] if (m.get("annotations") or {}).get(REF_NAME) != tag
        ]
        entries.append(
            {
                "mediaType": MANIFEST_MEDIA_TYPE,
                "digest": digest,
                "size": len(data),
                "annotations": {REF_NAME: tag},
            }
        )
        index["manifests"] = entries
        _atomic_write(
            self._layout(name) / "index.json",
            json.dumps(index, sort_keys=True, separators=(",", ":")).encode(),
        )

    def _get_manifest(self, name: str, tag: str) -> bytes:
        for m in self._index(name)["manifests"]:
            if isinstance(m, dict) and (m.get("annotations") or {}).get(REF_NAME) == tag:
                return self.get_blob(name, str(m.get("digest")))
        raise RegistryError(Code.REGISTRY_NOT_FOUND, f"no package {name}:{tag}")

    def tags(self, name: str) -> list[str]:
        if not (self.root / check_name(name) / "index.json").exists():
            return []
        return sorted(
            str(m["annotations"][REF_NAME])
            for m in self._index(name)["manifests"]
            if isinstance(m, dict) and REF_NAME in (m.get("annotations") or {})
        )


class OciDistributionRegistry(Registry):
    """A client of the OCI distribution API at ``base_url`` (``http(s)://host:port``)."""

    def __init__(
        self,
        base_url: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise RegistryError(
                Code.REGISTRY_BAD_REFERENCE, "registry URL must be http(s)://host[:port]"
            )
        self.base_url = f"{url.scheme}://{url.netloc}"
        self._timeout = timeout
        self._auth = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
            if username is not None
            else None
        )

    def __repr__(self) -> str:
        return f"OciDistributionRegistry({self.base_url!r})"

    # ------------------------------------------------------------------ HTTP

    def _request(
        self,
        method: str,
        path_or_url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        stream: bool = False,
    ) -> Any:
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        if not url.startswith(self.base_url + "/"):
            # a Location header may not send us (and our credentials) to another host
            raise RegistryError(Code.REGISTRY_UNAVAILABLE, "registry redirected to another origin")
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))  # noqa: S310 - scheme checked
        if self._auth:
            req.add_header("Authorization", self._auth)
        try:
            resp = urllib.request.urlopen(req, timeout=self._timeout)  # noqa: S310 - scheme checked
        except urllib.error.HTTPError as e:
            status = e.code
            challenge = e.headers.get("WWW-Authenticate", "") if e.headers else ""
            e.close()
            if status in ok:  # pragma: no cover - urllib raises only for >= 400
                return None
            if status == 404:
                raise RegistryError(
                    Code.REGISTRY_NOT_FOUND, f"{method} {urllib.parse.urlsplit(url).path}: 404"
                ) from None
            if status == 401 and challenge:
                raise RegistryError(
                    Code.REGISTRY_UNAVAILABLE,
                    f"authentication required ({challenge.split(' ', 1)[0]})",
                ) from None
            raise RegistryError(Code.REGISTRY_UNAVAILABLE, f"{method}: HTTP {status}") from None
        except (urllib.error.URLError, OSError) as e:
            raise RegistryError(
                Code.REGISTRY_UNAVAILABLE, f"cannot reach registry: {type(e).__name__}"
            ) from None
        if resp.status not in ok:
            resp.close()
            raise RegistryError(Code.REGISTRY_UNAVAILABLE, f"{method}: HTTP {resp.status}")
        if stream:
            return resp
        with resp:
            return resp.headers, resp.read()

    def ping(self) -> None:
        """GET /v2/: the API version check (REGISTRY_UNAVAILABLE when it is not a registry)."""
        self._request("GET", "/v2/")

    # ------------------------------------------------------------------ primitives

    def _blob_exists(self, name: str, digest: str) -> bool:
        try:
            self._request("HEAD", f"/v2/{name}/blobs/{digest}")
            return True
        except RegistryError as e:
            if e.code == Code.REGISTRY_NOT_FOUND:
                return False
            raise

    def _put_blob(self, name: str, digest: str, data: bytes) -> None:
        if self._blob_exists(name, digest):
            return
        headers, _ = self._request("POST", f"/v2/{name}/blobs/uploads/", body=b"", ok=(202,))
        location = headers.get("Location")
        if not location:
            raise RegistryError(Code.REGISTRY_UNAVAILABLE, "upload session without Location")
        location = urllib.parse.urljoin(self.base_url + "/", location)
        sep = "&" if urllib.parse.urlsplit(location).query else "?"
        self._request(
            "PUT",
            f"{location}{sep}digest={urllib.parse.quote(digest)}",
            body=data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
            ok=(201,),
        )

    def _get_blob(self, name: str, digest: str) -> bytes:
        _, body = self._request("GET", f"/v2/{name}/blobs/{digest}")
        return bytes(body)

    def _iter_blob(self, name: str, digest: str) -> Iterator[bytes]:
        resp = self._request("GET", f"/v2/{name}/blobs/{digest}", stream=True)
        try:
            while chunk := resp.read(CHUNK):
                yield chunk
        except OSError as e:
            raise RegistryError(
                Code.REGISTRY_UNAVAILABLE, f"blob read: {type(e).__name__}"
            ) from None
        finally:
            resp.close()

    def _put_manifest(self, name: str, tag: str, data: bytes) -> None:
        headers, _ = self._request(
            "PUT",
            f"/v2/{name}/manifests/{check_tag(tag)}",
            body=data,
            headers={"Content-Type": MANIFEST_MEDIA_TYPE},
            ok=(201,),
        )
        stored = headers.get("Docker-Content-Digest")
        if stored and stored != digest_of(data):
            raise RegistryError(
                Code.REGISTRY_DIGEST_MISMATCH, "registry stored a different manifest"
            )

    def _get_manifest(self, name: str, tag: str) -> bytes:
        _, body = self._request(
            "GET", f"/v2/{name}/manifests/{tag}", headers={"Accept": MANIFEST_MEDIA_TYPE}
        )
        return bytes(body)

    def tags(self, name: str) -> list[str]:
        try:
            _, body = self._request("GET", f"/v2/{check_name(name)}/tags/list")
        except RegistryError as e:
            if e.code == Code.REGISTRY_NOT_FOUND:
                return []
            raise
        try:
            return sorted(str(t) for t in (json.loads(body).get("tags") or []))
        except (ValueError, AttributeError, TypeError):
            raise RegistryError(Code.REGISTRY_UNAVAILABLE, "tags/list is not JSON") from None
