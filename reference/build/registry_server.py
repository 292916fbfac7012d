"""Run Debian's ``docker-registry`` (CNCF distribution) on loopback: tests, benchmarks, demo.

Why a helper in the package: the OCI client must be tested against a real distribution-API
server, and ``edbp demo --registry oci`` needs the same throw-away server. The server gets a
generated configuration (filesystem storage in a directory of the caller's choosing, HTTP on
127.0.0.1 at a free port, no authentication) and is stopped and reaped by ``stop``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from edbp.reference.build.registry import RegistryError

from edbp.errors import Code

__all__ = ["LocalDockerRegistry", "docker_registry_unavailable_reason"]

BINARY_NAMES = ("docker-registry", "registry")


def _binary() -> str | None:
    return next((p for p in map(shutil.which, BINARY_NAMES) if p), None)


def docker_registry_unavailable_reason() -> str | None:
    """Why no local registry can be started here, or None."""
    return None if _binary() else "docker-registry not found (apt-get install docker-registry)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalDockerRegistry:
    """A ``docker-registry`` process serving ``root/storage`` on ``http://127.0.0.1:<port>``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 15.0) -> LocalDockerRegistry:
        binary = _binary()
        if binary is None:
            raise RegistryError(Code.REGISTRY_UNAVAILABLE, "docker-registry not found")
        storage = self.root / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            port = _free_port()
            config = self.root / "config.yml"
            config.write_text(
                "version: 0.1\n"
                "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                "storage:\n  filesystem:\n"
                f"    rootdirectory: {storage}\n"
                "  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n"
            )
            log = open(self.root / "registry.log", "ab")
            self._proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
            log.close()
            self.url = f"http://127.0.0.1:{port}"
            if self._wait_ready(wait):
                return self
            self.stop()
        raise RegistryError(Code.REGISTRY_UNAVAILABLE, "docker-registry did not start")

    def _wait_ready(self, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=1) as resp:  # noqa: S310 - loopback http
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def __enter__(self) -> LocalDockerRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
