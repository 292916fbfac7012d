"""The device benchmarks stay runnable (no timing is asserted; the memory budget is)."""

from __future__ import annotations

from edbp.reference.device.bench_memory import measure
from edbp.reference.device.install import MemoryBudget

from edbp.bench import REGISTRY, discover


def test_benchmarks_registered_and_runnable() -> None:
    discover()
    names = set(REGISTRY)
    assert {"device.agent_install[1MiB]", "device.agent_install_peak[256MiB]"} <= names
    bench = REGISTRY["device.agent_install[1MiB]"]
    call = bench.prepare()
    call()
    call()  # a second upgrade: the floor rises every call
    REGISTRY["crypto.aes128gcm_stream_decrypt[1MiB]"].prepare()()


def test_memory_script_measures_within_budget(tmp_path) -> None:
    result = measure(
        2 << 20, MemoryBudget(chunk=64 * 1024, limit=1 << 20, max_payload=4 << 20), tmp_path
    )
    assert result["installed"] is True
    assert result["within_budget"] is True
    assert 0 < int(result["peak_bytes"]) < 1 << 20  # type: ignore[call-overload]
