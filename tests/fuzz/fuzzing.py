"""Shared machinery of the fuzz tests (issue 16): seeds, the mutator, the per-input checks.

Seeds are the valid messages of the committed vectors (every ``{"cbor": hex}`` of the edbp
vectors, the CPKs and TA images of the blueprint and OP-TEE vectors), so the mutations start
from inputs that reach deep into each decoder. A mutation is structural (one node of the CBOR
tree replaced, deleted or inserted, descending into byte strings that hold CBOR; one member of
a CPK manifest's JSON) or a byte-level edit (truncate, flip, insert, splice); Hypothesis draws
it, so a failure shrinks and replays from the derandomized profile of tests/conftest.py.

Per input the checks are: the target returns or raises an ``EdbpError`` (nothing else); the
Python heap's peak while it runs stays under ``MEMORY_BOUND`` (tracemalloc, which counts bytes
and does not depend on the machine's speed); and the input finishes within ``TIME_NET``, a
safety net for a hang, tens of times what any input takes on a loaded machine.

Budgets: ``EDBP_FUZZ_EXAMPLES`` inputs per target (default ``DEFAULT_EXAMPLES``, the short
budget of the default ``tox``; ``tox -e fuzz`` sets 10000). ``EDBP_FUZZ_REPORT`` names a JSON
file that receives the number of inputs each target ran. An input that fails is written to
``corpus/<target>/`` (the test then fails): commit it, fix the code, and the corpus test
replays it on every run from then on.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_der_public_key
from edbp.reference.blueprint.mutations import assemble, split_streams
from edbp.reference.wire import cbor
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from edbp.errors import EdbpError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VECTORS = ROOT / "vectors"
CORPUS = HERE / "corpus"

DEFAULT_EXAMPLES = 40
EXAMPLES = int(os.environ.get("EDBP_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
#: peak heap while one input is handled: the largest seed is ~10 KB; a decoder that keeps
#: more than this for such an input is unbounded (16 MiB of empty CBOR chunks took 1.5 GB)
MEMORY_BOUND = 64 * 1024 * 1024
#: seconds: a hang detector, not a speed requirement (inputs take milliseconds)
TIME_NET = 30.0

#: inputs run per target in this process (written to EDBP_FUZZ_REPORT at the end)
COUNTS: Counter[str] = Counter()


# ---------------------------------------------------------------------------- seeds


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _vector_files(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (VECTORS / f).glob("*.json"))


def cbor_seeds() -> list[bytes]:
    """Every CBOR message of the edbp vectors (deduplicated, in a stable order)."""
    out: dict[bytes, None] = {}
    for path in _vector_files("cose", "deploy", "enrol", "publish", "tam"):
        for node in _walk(json.loads(path.read_text(encoding="utf-8"))):
            if isinstance(node, dict) and isinstance(node.get("cbor"), str):
                out[bytes.fromhex(node["cbor"])] = None
    return list(out)


def input_seeds(folder: str, name: str) -> list[bytes]:
    """Every step input ``name`` (hex) of the vectors in ``folder``."""
    out: dict[bytes, None] = {}
    for path in _vector_files(folder):
        for node in _walk(json.loads(path.read_text(encoding="utf-8"))):
            if isinstance(node, dict) and isinstance(node.get("input"), dict):
                value = node["input"].get(name)
                if isinstance(value, str):
                    out[bytes.fromhex(value)] = None
    return list(out)


# ---------------------------------------------------------------------------- mutation

LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64 - 1),
    st.binary(max_size=40),
    st.text(max_size=6),
    st.just([]),
    st.just({}),
    st.floats(allow_nan=False),
    st.builds(
        cbor.Tag,
        st.sampled_from([1, 16, 17, 18, 24, 96, 98, 107, 112, 1070, 55799]),
        st.integers(0, 3) | st.binary(max_size=4),
    ),
)


def mutate_tree(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """A copy of ``value`` with one node changed, deleted or inserted (or a fresh leaf)."""
    if depth > 12 or data.draw(st.integers(0, 5), label="stop") == 0:
        return data.draw(LEAVES, label="leaf")
    if isinstance(value, list) and value:
        out = list(value)
        i = data.draw(st.integers(0, len(out) - 1), label="index")
        op = data.draw(st.integers(0, 3), label="list-op")
        if op == 0:
            out[i] = mutate_tree(out[i], data, depth + 1)
        elif op == 1:
            del out[i]
        elif op == 2:
            out.insert(i, data.draw(LEAVES, label="inserted"))
        else:
            out.append(out[i])  # a duplicate member
        return out
    if isinstance(value, dict) and value:
        out_map = dict(value)
        key = data.draw(st.sampled_from(sorted(out_map, key=repr)), label="key")
        op = data.draw(st.integers(0, 3), label="map-op")
        if op == 0:
            out_map[key] = mutate_tree(out_map[key], data, depth + 1)
        elif op == 1:
            del out_map[key]
        elif op == 2:
            out_map[data.draw(st.integers(-70000, 300), label="new-key")] = data.draw(LEAVES)
        else:
            new_key = data.draw(st.text(max_size=4) | st.binary(max_size=4), label="odd-key")
            out_map[new_key] = out_map.pop(key)
        return out_map
    if isinstance(value, cbor.Tag):
        if data.draw(st.booleans(), label="retag"):
            return cbor.Tag(data.draw(st.integers(0, 2**32)), value.value)
        return cbor.Tag(value.tag, mutate_tree(value.value, data, depth + 1))
    if isinstance(value, bytes) and value:
        try:
            inner = cbor.loads(value, cbor.LENIENT)
        except EdbpError:
            return mutate_bytes(value, data)
        return bytes(cbor.dumps(mutate_tree(inner, data, depth + 1)))
    return data.draw(LEAVES, label="leaf")


def mutate_bytes(value: bytes, data: st.DataObject) -> bytes:
    """One byte-level edit: truncate, flip bits, overwrite, insert, delete or splice a run."""
    b = bytearray(value)
    op = data.draw(st.integers(0, 5), label="byte-op")
    at = data.draw(st.integers(0, max(len(b) - 1, 0)), label="at")
    if op == 0:
        return bytes(b[:at])
    if op == 1 and b:
        b[at] ^= 1 << data.draw(st.integers(0, 7))
    elif op == 2 and b:
        b[at] = data.draw(st.sampled_from([0x00, 0x1F, 0x3F, 0x5F, 0x7F, 0x9F, 0xBF, 0xDF, 0xFF]))
    elif op == 3:
        b[at:at] = data.draw(st.binary(min_size=1, max_size=16), label="insert")
    elif op == 4:
        del b[at : at + data.draw(st.integers(1, 64))]
    else:
        n = data.draw(st.integers(1, 64))
        b[at:at] = b[at : at + n] * data.draw(st.integers(1, 4))
    return bytes(b)


def mutate_cbor(seed: bytes, data: st.DataObject) -> bytes:
    """A structural mutation (most draws) or a byte-level one of a CBOR seed."""
    if data.draw(st.integers(0, 3), label="kind") == 0:
        return mutate_bytes(seed, data)
    try:
        tree = cbor.loads(seed, cbor.LENIENT)
    except EdbpError:  # the vectors' malformed messages: byte-level edits only
        return mutate_bytes(seed, data)
    return bytes(cbor.dumps(mutate_tree(tree, data)))


# ---------------------------------------------------------------------------- CPK and JSON


def mutate_cpk(seed: bytes, data: st.DataObject) -> bytes:
    """A CPK with one stream (manifest JSON most often) or one header byte changed."""
    kind = data.draw(st.integers(0, 3), label="cpk-kind")
    streams = streams_of(seed)
    if kind == 0 or streams is None:
        return mutate_bytes(seed, data)
    if kind == 1:
        i = data.draw(st.integers(0, len(streams) - 1), label="stream")
        streams[i] = mutate_bytes(streams[i], data)
    else:
        streams[6] = mutate_json(streams[6], data)
    return assemble(streams)


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e"]),
    st.just([]),
    st.just({}),
)


def mutate_json(text: bytes, data: st.DataObject) -> bytes:
    doc = json.loads(text)

    def edit(node: Any, depth: int) -> Any:
        if depth > 8 or data.draw(st.integers(0, 4), label="json-stop") == 0:
            return data.draw(JSON_LEAVES, label="json-leaf")
        if isinstance(node, dict) and node:
            node = dict(node)
            key = data.draw(st.sampled_from(sorted(node)), label="json-key")
            if data.draw(st.booleans(), label="json-del"):
                del node[key]
            else:
                node[key] = edit(node[key], depth + 1)
            return node
        if isinstance(node, list) and node:
            node = list(node)
            i = data.draw(st.integers(0, len(node) - 1), label="json-index")
            node[i] = edit(node[i], depth + 1)
            return node
        return data.draw(JSON_LEAVES, label="json-leaf")

    out = json.dumps(edit(doc, 0), separators=(",", ":"))
    return out.encode("utf-8", "surrogatepass")


def streams_of(cpk: bytes) -> list[bytes] | None:
    """The seven streams of a seed whose manifest is JSON (the vectors hold broken CPKs too)."""
    try:
        streams = split_streams(cpk)
        json.loads(streams[6])
    except (ValueError, IndexError, struct.error):
        return None
    return streams


# ---------------------------------------------------------------------------- shared inputs

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CBOR_SEEDS = cbor_seeds()
CPK_SEEDS = input_seeds("blueprint", "cpk")
TA_SEEDS = input_seeds("ta-image", "image")
TA_ROOT: Any = load_der_public_key(input_seeds("ta-image", "rootKey")[0])
MANIFEST_SEEDS = list(dict.fromkeys(s[6] for s in map(streams_of, CPK_SEEDS) if s is not None))


# ---------------------------------------------------------------------------- checks


def run_one(target: str, fn: Callable[[bytes], object], data: bytes) -> None:
    """Run ``fn(data)`` with the per-input checks; a failing input goes to the corpus."""
    COUNTS[target] += 1
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start = time.monotonic()
    failure: str | None = None
    try:
        fn(data)
    except EdbpError:
        pass
    except Exception as exc:
        failure = f"uncoded {type(exc).__name__}: {exc}"[:500]
    elapsed = time.monotonic() - start
    peak = tracemalloc.get_traced_memory()[1] - base
    if started_tracing:
        tracemalloc.stop()
    if failure is None and peak > MEMORY_BOUND:
        failure = f"peak heap {peak} bytes for a {len(data)}-byte input"
    if failure is None and elapsed > TIME_NET:
        failure = f"{elapsed:.1f} s for one input (hang detector)"
    if failure is not None:
        path = save(target, data)
        raise AssertionError(f"{target}: {failure}; input saved as {path.relative_to(ROOT)}")


_SAVED: dict[str, Path] = {}


def save(target: str, data: bytes) -> Path:
    """Keep a failing input; while Hypothesis shrinks, only the smallest one so far stays."""
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(data).hexdigest()[:16] + ".bin")
    old = _SAVED.get(target)
    if old is not None and old.exists():
        if old.stat().st_size <= len(data):
            return old
        old.unlink()
    path.write_bytes(data)
    _SAVED[target] = path
    return path


def corpus_inputs() -> list[tuple[str, Path]]:
    """(target, file) for every input kept in the corpus."""
    if not CORPUS.is_dir():
        return []
    return [
        (d.name, f) for d in sorted(CORPUS.iterdir()) if d.is_dir() for f in sorted(d.iterdir())
    ]


def write_report() -> None:
    """Add this process's counts to the EDBP_FUZZ_REPORT file (xdist workers share it)."""
    out = os.environ.get("EDBP_FUZZ_REPORT")
    if not out or not COUNTS:
        return
    import fcntl

    with open(out, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read()
        old: dict[str, int] = json.loads(text) if text.strip() else {}
        for k, v in COUNTS.items():
            old[k] = old.get(k, 0) + v
        f.seek(0)
        f.truncate()
        f.write(json.dumps(dict(sorted(old.items())), indent=2) + "\n")
