"""``edbp vectors verify``: index digests, JSON Schema, CDDL of every message, coverage."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from edbp.reference.wire import cbor


def _schema() -> dict[str, Any]:
    return json.loads((resources.files("edbp.spec") / "vectors.schema.json").read_text())


def _messages(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "cbor" in node and "diag" in node and isinstance(node["cbor"], str):
            yield node
        for value in node.values():
            yield from _messages(value)
    elif isinstance(node, list):
        for value in node:
            yield from _messages(value)


def _cddl_validator(name: str) -> Any:
    """cddl-verifier handles every construct spec/*.cddl uses (spec/README.md)."""
    import cddl_verifier

    text = (resources.files("edbp.spec") / name).read_text()
    return cddl_verifier.Validator(text)


def verify(folder: Path) -> list[str]:
    """Every problem found in the vectors under ``folder`` (empty: all good)."""
    import jsonschema

    problems: list[str] = []
    try:
        index = json.loads((folder / "index.json").read_text())
    except (OSError, ValueError) as exc:
        return [f"index.json unreadable: {exc}"]
    validator = jsonschema.Draft202012Validator(_schema())
    cddl_cache: dict[str, Any] = {}
    listed = set()
    for entry in index.get("files", []):
        for key, digest_key in (("path", "sha256"), ("cbor", "cborSha256")):
            rel = entry[key]
            listed.add(rel)
            try:
                data = (folder / rel).read_bytes()
            except OSError:
                problems.append(f"{rel}: listed in index.json but missing")
                continue
            if hashlib.sha256(data).hexdigest() != entry[digest_key]:
                problems.append(f"{rel}: SHA-256 differs from index.json")
        try:
            doc = json.loads((folder / entry["path"]).read_text())
        except (OSError, ValueError):
            continue
        for err in validator.iter_errors(doc):
            problems.append(f"{entry['path']}: schema: {err.json_path}: {err.message[:200]}")
        try:
            if cbor.loads((folder / entry["cbor"]).read_bytes()) != doc:
                problems.append(f"{entry['cbor']}: CBOR content differs from the JSON file")
        except Exception as exc:
            problems.append(f"{entry['cbor']}: {exc}")
        for msg in _messages(doc):
            rule = msg.get("cddl")
            if not rule:
                continue
            file, _, rulename = rule.rpartition("#")
            name = file or "messages.cddl"
            try:
                if name not in cddl_cache:
                    cddl_cache[name] = _cddl_validator(name)
                result = cddl_cache[name].validate(bytes.fromhex(msg["cbor"]), root_type=rulename)
            except Exception as exc:
                problems.append(
                    f"{entry['path']}: cannot validate against {rule}: {str(exc)[:200]}"
                )
                continue
            if not result:
                problems.append(f"{entry['path']}: message fails CDDL {rule}: {str(result)[:300]}")
    on_disk = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".json", ".cbor")
    }
    for extra in sorted(on_disk - listed - {"index.json"}):
        problems.append(f"{extra}: not listed in index.json")
    return problems


def coverage(folder: Path) -> dict[str, dict[str, dict[str, int]]]:
    """property -> flow -> {"valid": n, "invalid": n} over every file in the index."""
    table: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: {"valid": 0, "invalid": 0})
    )
    index = json.loads((folder / "index.json").read_text())
    for entry in index["files"]:
        doc = json.loads((folder / entry["path"]).read_text())
        for group in doc["testGroups"]:
            for test in group["tests"]:
                if test["result"] not in ("valid", "invalid"):
                    continue
                for prop in test["properties"] or ["-"]:
                    key = f"{group['flow']}/{group['suite']}/{group['profile']}"
                    table[prop][key][test["result"]] += 1
    return {p: dict(v) for p, v in table.items()}
