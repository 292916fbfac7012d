"""Benchmark: the Agent's peak memory while it checks, decrypts and installs a large payload.

Run: ``python -m edbp.reference.device.bench_memory [--mib 256] [--chunk-kib 64]``.
Prints one JSON object and exits 0 when the peak stayed under the stated budget
(``MemoryBudget.limit``), 1 otherwise.

What is measured: Python allocations (``tracemalloc``) made while the Agent handles the
``PayloadFetched`` event: the second pass over the ciphertext, its streaming decryption, the
sealing of the plaintext into the Agent's storage, the state commit and the signed report.
Setup (the Author encrypting and publishing, the TAM's evidence check and per-device manifest,
the Broker's download into REE storage) happens outside the measured window: it is not the
Agent's memory. OpenSSL's own buffers are outside ``tracemalloc`` and are a few hundred bytes
per cipher context.

The payload is opaque data (not an OP-TEE TA): OP-TEE's loader checks a TA image in one piece,
and TA images are small; the streaming mode exists for payloads larger than the TEE's memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

from edbp.reference.cloud.tam import Intent
from edbp.reference.device.agent import FetchPayload, MessageReceived, SendMessage
from edbp.reference.device.install import MemoryBudget
from edbp.reference.device.world import World

__all__ = ["main", "measure"]


def _image(size: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Deterministic, incompressible-looking bytes, generated chunk by chunk."""
    block = hashlib.shake_256(b"edbp bench payload").digest(chunk)
    produced = 0
    counter = 0
    while produced < size:
        n = min(chunk, size - produced)
        prefix = counter.to_bytes(8, "big")
        yield prefix[: min(8, n)] + block[: max(0, n - 8)]
        produced += n
        counter += 1


def measure(size: int, budget: MemoryBudget, root: Path) -> dict[str, object]:
    w = World(root, seed="bench-memory", record=False, budget=budget)
    device = w.enrol("bench", "gateway", verify_ta=False)
    ta = uuid.uuid5(uuid.NAMESPACE_URL, "urn:edbp:bench:large").bytes
    w.publish(_image(size), ta_uuid=ta, sequence=1, class_name="gateway")
    out = w.tam.begin(device.ueid, Intent(package=(ta, 1)))
    assert out.send is not None
    (response,) = device.broker.deliver(out.send)
    out = w.tam.receive(response)
    assert out.send is not None
    # the Agent verifies the Update and asks for the payload; the Broker downloads it
    (fetch,) = device.agent.receive(MessageReceived(out.send))
    assert isinstance(fetch, FetchPayload), fetch
    fetched = device.broker._fetch(fetch)
    # measured window: the Agent alone
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        start = time.perf_counter()
        (reply,) = device.agent.receive(fetched)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert isinstance(reply, SendMessage)
    final = w.tam.receive(reply.data)
    return {
        "benchmark": "agent-install-peak-memory",
        "payload_bytes": size,
        "chunk_bytes": budget.chunk,
        "budget_bytes": budget.limit,
        "peak_bytes": peak,
        "within_budget": peak < budget.limit,
        "installed": final.detail == "installed",
        "seconds": round(elapsed, 3),
        "mib_per_s": round(size / (1 << 20) / elapsed, 1) if elapsed else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="payload size in MiB")
    parser.add_argument("--chunk-kib", type=int, default=64, help="Agent chunk size in KiB")
    parser.add_argument("--budget-kib", type=int, default=1024, help="stated budget in KiB")
    args = parser.parse_args(argv)
    budget = MemoryBudget(
        chunk=args.chunk_kib * 1024, limit=args.budget_kib * 1024, max_payload=(args.mib + 1) << 20
    )
    with tempfile.TemporaryDirectory(prefix="edbp-bench-") as tmp:
        result = measure(args.mib << 20, budget, Path(tmp))
    print(json.dumps(result))
    return 0 if result["within_budget"] and result["installed"] else 1


if __name__ == "__main__":
    sys.exit(main())
