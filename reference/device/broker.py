"""The TEEP Broker (device REE, untrusted): relays messages, fetches and stores ciphertext.

Why so little: the Broker runs in the normal world, which the attacker may control
(``attack.control_ree``). Nothing it does may matter for security: it moves signed TEEP
messages between the TAM and the Agent, fetches the payload the Agent asks for from a registry,
keeps it in REE storage, and hands the Agent read access to it. It never holds a key, a CEK or a
plaintext byte (P8), which ``Broker.transcript`` lets a test check: every byte that passes
through the Broker is recorded there when ``record=True``.

The fetcher is an edge: ``RegistryFetcher`` reads ``oci://`` style references from an edbp
registry (``edbp.reference.build.registry``); a test may pass any callable returning chunks.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
from edbp.reference.device.agent import (
    Agent,
    FetchFailed,
    FetchPayload,
    MessageReceived,
    PayloadFetched,
    SendMessage,
)
from edbp.reference.device.storage import Storage

from edbp.errors import Code, EdbpError

__all__ = ["Broker", "BrokerPayload", "RegistryFetcher", "parse_payload_uri"]

Fetcher = Callable[[str], Iterable[bytes]]
_URI = re.compile(r"oci://(?P<name>[a-z0-9._/-]{1,255})@(?P<digest>sha256:[0-9a-f]{64})")


def parse_payload_uri(uri: str) -> tuple[str, str]:
    """``oci://name@sha256:...`` (the Author's payload URI) → (repository name, digest)."""
    m = _URI.fullmatch(uri)
    if m is None:
        raise EdbpError(Code.AGENT_PAYLOAD_FETCH_FAILED, f"unsupported payload uri {uri[:80]!r}")
    return m.group("name"), m.group("digest")


class RegistryFetcher:
    """Fetches payload blobs from an edbp registry by ``oci://name@digest`` reference."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def __call__(self, uri: str) -> Iterator[bytes]:
        name, digest = parse_payload_uri(uri)
        return iter(self.registry.iter_blob(name, digest))


@attrs.frozen
class BrokerPayload:
    """Read access to a ciphertext file in REE storage (what ``PayloadFetched`` carries).
    Reads are recorded when the Broker records."""

    storage: Storage
    name: str
    tap: Callable[[str, bytes], None] | None = None

    def size(self) -> int:
        return self.storage.size(self.name)

    def read_chunks(self, chunk_size: int) -> Iterator[bytes]:
        for chunk in self.storage.read_chunks(self.name, chunk_size):
            if self.tap is not None:
                self.tap("payload-read", chunk)
            yield chunk


class Broker:
    """One device's REE relay around its ``Agent``."""

    def __init__(
        self, agent: Agent, fetcher: Fetcher, storage: Storage, *, record: bool = False
    ) -> None:
        self.agent = agent
        self.fetcher = fetcher
        self.storage = storage
        self.record = record
        #: (what, bytes) for everything the Broker handled, when ``record``
        self.transcript: list[tuple[str, bytes]] = []

    def __repr__(self) -> str:
        return f"Broker({self.agent!r})"

    def _tap(self, what: str, data: bytes) -> None:
        if self.record:
            self.transcript.append((what, bytes(data)))

    def deliver(self, message: bytes) -> list[bytes]:
        """Relay one TEEP message from the TAM to the Agent; serve the Agent's fetches; return
        the Agent's replies for the TAM."""
        self._tap("to-agent", message)
        replies: list[bytes] = []
        outputs: list[Any] = self.agent.receive(MessageReceived(message))
        while outputs:
            output = outputs.pop(0)
            if isinstance(output, SendMessage):
                self._tap("from-agent", output.data)
                replies.append(output.data)
            elif isinstance(output, FetchPayload):
                outputs.extend(self.agent.receive(self._fetch(output)))
        return replies

    def _fetch(self, request: FetchPayload) -> PayloadFetched | FetchFailed:
        """``deploy.fetch``: download the ciphertext into REE storage."""
        self._tap("fetch-uri", request.uri.encode())
        name = f"broker/payloads/{request.digest.hex()}.bin"
        size = 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            for chunk in self.fetcher(request.uri):
                self._tap("payload", chunk)
                size += len(chunk)
                if size > request.size:
                    raise EdbpError(Code.AGENT_PAYLOAD_FETCH_FAILED, "payload larger than signed")
                yield chunk

        try:
            self.storage.write(name, chunks())
        except Exception as exc:  # any fault of the fetch edge is a failed fetch, never a crash
            with contextlib.suppress(OSError):
                self.storage.remove(name)
            return FetchFailed(type(exc).__name__ + ": " + str(exc)[:100])
        # the Broker's own check is a convenience; the Agent checks the signed digest itself
        return PayloadFetched(BrokerPayload(self.storage, name, self._tap if self.record else None))

    def stored_files(self) -> list[str]:
        """What the Broker keeps in REE storage."""
        return self.storage.list("broker/")
