"""Registered vector sources, generation, the byte-for-byte check and the index."""

from __future__ import annotations

import hashlib
import importlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edbp import __version__
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor
from edbp.vectorgen.format import FORMAT_VERSION, VectorFile, dumps_json

DEFAULT_SEED = "edbp-vectors-v1"

#: modules whose import registers sources; an area adds its module here
SOURCE_MODULES = (
    "edbp.vectorgen.sources_cbor",
    "edbp.vectorgen.sources_deploy",
    "edbp.vectorgen.sources_cloud",
    "edbp.vectorgen.sources_cose",
    "edbp.vectorgen.sources_optee",
    "edbp.vectorgen.sources_blueprint",
    "edbp.vectorgen.sources_pq",
    "edbp.vectorgen.sources_pq_flows",
    "edbp.vectorgen.sources_suit",
)

SourceFn = Callable[[SeededRandom], VectorFile]
SOURCES: dict[str, SourceFn] = {}


def source(path: str) -> Callable[[SourceFn], SourceFn]:
    """Register a function producing the vector file ``vectors/<path>.json``."""

    def register(fn: SourceFn) -> SourceFn:
        if path in SOURCES:
            raise ValueError(f"two vector sources for {path}")
        SOURCES[path] = fn
        return fn

    return register


def load_sources() -> dict[str, SourceFn]:
    for module in SOURCE_MODULES:
        importlib.import_module(module)
    return SOURCES


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def generate(out: Path, seed: str = DEFAULT_SEED, only: str | None = None) -> dict[str, Any]:
    """Write every vector file (JSON + CBOR) and ``index.json`` under ``out``; return the index."""
    out.mkdir(parents=True, exist_ok=True)
    root = SeededRandom(seed)
    entries = []
    for path, fn in sorted(load_sources().items()):
        if only and not path.startswith(only):
            continue
        vf = fn(root.fork(path))
        if vf.path != path:
            raise ValueError(f"source {path} produced {vf.path}")
        doc = vf.to_json(seed)
        json_bytes = dumps_json(doc)
        cbor_bytes = cbor.dumps(doc)
        target = out / f"{path}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(json_bytes)
        (out / f"{path}.cbor").write_bytes(cbor_bytes)
        tests = vf.tests()
        entries.append(
            {
                "path": f"{path}.json",
                "sha256": _sha256(json_bytes),
                "cbor": f"{path}.cbor",
                "cborSha256": _sha256(cbor_bytes),
                "tests": len(tests),
                "valid": sum(t.result == "valid" for t in tests),
                "invalid": sum(t.result == "invalid" for t in tests),
                "properties": sorted(
                    {p for t in tests for p in t.properties}, key=lambda p: (len(p), p)
                ),
                "profiles": sorted({g.profile for g in vf.groups}),
            }
        )
    index = {
        "formatVersion": FORMAT_VERSION,
        "generator": f"edbp {__version__}",
        "seed": seed,
        "files": entries,
    }
    (out / "index.json").write_bytes(dumps_json(index))
    return index


def vector_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".cbor"))


def check(committed: Path, seed: str = DEFAULT_SEED) -> list[str]:
    """Regenerate into a temporary folder; list every file that differs from ``committed``."""
    with tempfile.TemporaryDirectory(prefix="edbp-vectors-") as tmp:
        fresh = Path(tmp)
        generate(fresh, seed)
        theirs = {p.relative_to(committed).as_posix(): p for p in vector_files(committed)}
        ours = {p.relative_to(fresh).as_posix(): p for p in vector_files(fresh)}
        problems = [f"missing from vectors/: {n}" for n in sorted(set(ours) - set(theirs))]
        problems += [f"not generated any more: {n}" for n in sorted(set(theirs) - set(ours))]
        problems += [
            f"differs: {n}"
            for n in sorted(set(ours) & set(theirs))
            if ours[n].read_bytes() != theirs[n].read_bytes()
        ]
        return problems
