"""Conformance benchmarks: what the device adapter costs, per request and per case.

``conformance.request[<adapter>]`` times one ``state`` request through an adapter (in-process
socket pair, ``edbp device serve --stdio`` subprocess, TCP on loopback) against the baseline
``conformance.request[direct]``: the same request as a plain call of the reference device's
``handle``. The ratio is the adapter's overhead per request (framing, CBOR, a socket or pipe
round trip).

``conformance.case[<adapter>]`` times one honest Deploy case as the suite runs it (reset,
identity, provision, QueryRequest, Update with one payload fetch, Success, state) against
``conformance.case[direct]``; cases per second through an adapter is 1 / time per call.
"""

from __future__ import annotations

import atexit
import functools
import shlex
import sys
import threading
from collections.abc import Callable
from typing import Any

from edbp.bench import benchmark
from edbp.conformance.adapter import DeviceClient, open_transport
from edbp.conformance.adapter.server import serve_tcp
from edbp.conformance.harness import Cloud, Harness
from edbp.conformance.reference_device import ReferenceDevice, make_backend
from edbp.errors import AdapterError, Code

ADAPTERS = ("in-process", "subprocess", "tcp")


class DirectClient:
    """The ``DeviceClient`` surface the harness uses, calling the backend with no adapter."""

    def __init__(self, backend: ReferenceDevice) -> None:
        self.backend = backend
        self.fetch: Callable[[str], bytes] | None = None
        self.log: list[tuple[str, Any]] = []
        self.info = None

    def call(self, req: str, args: dict[str, Any] | None = None) -> Any:
        return self.backend.handle(req, dict(args or {}), _DirectHost(self))


class _DirectHost:
    """The ``Host`` a direct call hands the backend: the fetch callback the harness set on the
    client, refused as the adapter's client refuses a fetch ask when there is none."""

    def __init__(self, client: DirectClient) -> None:
        self._client = client

    def fetch(self, uri: str) -> bytes:
        fetch = self._client.fetch
        if fetch is None:
            raise AdapterError(Code.AGENT_PAYLOAD_FETCH_FAILED, "unsupported ask")
        return fetch(uri)


@functools.cache
def _cloud() -> Cloud:
    cloud = Cloud("edbp-bench")
    atexit.register(cloud.close)
    return cloud


def _tcp_address() -> str:
    ready = threading.Event()
    found: list[str] = []

    def on_ready(addr: str) -> None:
        found.append(addr)
        ready.set()

    thread = threading.Thread(
        target=serve_tcp,
        args=("127.0.0.1:0", lambda: make_backend(None)),
        kwargs={"ready": on_ready},
        daemon=True,
    )
    thread.start()
    ready.wait(10)
    return found[0]


@functools.cache
def _client(adapter: str) -> Any:
    if adapter == "direct":
        return DirectClient(ReferenceDevice())
    if adapter == "in-process":
        spec = "builtin"
    elif adapter == "subprocess":
        argv = [sys.executable, "-c", "import sys; from edbp.cli import main; sys.exit(main())"]
        spec = shlex.join([*argv, "device", "serve", "--stdio"])
    else:
        spec = "tcp:" + _tcp_address()
    client = DeviceClient(open_transport(spec), timeout=30.0)
    client.hello()
    atexit.register(client.close)
    return client


def _request(client: Any) -> None:
    client.call("state", {})


def _case(client: Any) -> None:
    client.call("reset", {})
    harness = Harness(client, _cloud(), label="bench")
    harness.provision()
    harness.deploy(1)
    client.log.clear()


@benchmark("conformance.request[direct]", setup=lambda: _client("direct"), quick=True)
def request_direct(client: Any) -> None:
    _request(client)


@benchmark("conformance.case[direct]", setup=lambda: _client("direct"), quick=True)
def case_direct(client: Any) -> None:
    _case(client)


def _register(adapter: str) -> None:
    benchmark(
        f"conformance.request[{adapter}]",
        baseline="conformance.request[direct]",
        setup=lambda: _client(adapter),
        quick=True,
    )(_request)
    benchmark(
        f"conformance.case[{adapter}]",
        baseline="conformance.case[direct]",
        setup=lambda: _client(adapter),
        quick=adapter == "in-process",
    )(_case)


for _adapter in ADAPTERS:
    _register(_adapter)
