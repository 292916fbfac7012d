"""Vector replay: every test of every file under ``vectors/`` whose ops a device can run,
replayed through the adapter as steps with the expected replies and error codes.

Generic over ``op``: ``OP_RUNNERS`` maps an op name to a runner; a test whose ops all have a
runner becomes a case (id ``vector.<tcId>``), any other is listed as skipped with the op it
lacks. New vector files are picked up from ``vectors/index.json`` with no change here; a new
op needs one runner.

How a device runs ``decode``: the bytes are delivered as if they were a TEEP message. A device
that decodes strictly refuses malformed CBOR with the vector's code (it fails before any
signature is looked at); well-formed CBOR that is not a signed TEEP message is refused with a
code outside the CBOR range. In both cases nothing changes and the device keeps answering.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import attrs

from edbp.conformance.harness.session import Harness
from edbp.conformance.outcome import CaseFailure, CaseMeta
from edbp.errors import Code

__all__ = ["OP_RUNNERS", "VectorCase", "load_vector_cases", "run_vector"]

#: codes of the strict CBOR decoder (spec/errors.md 1xx)
CBOR_CODES = range(100, 200)


@attrs.frozen
class VectorCase:
    """One vector test with what the case needs to run and report it."""

    meta: CaseMeta
    file: str
    test: dict[str, Any] = attrs.field(repr=False, eq=False)
    missing_op: str | None = None


Runner = Callable[[Harness, dict[str, Any], dict[str, Any]], None]


def _message(step: dict[str, Any]) -> bytes:
    try:
        return bytes.fromhex(step["input"]["message"]["cbor"])
    except (KeyError, TypeError, ValueError):
        raise CaseFailure("vector input", "input.message.cbor (hex)", step.get("input")) from None


def run_decode(harness: Harness, test: dict[str, Any], step: dict[str, Any]) -> None:
    """``decode`` through ``deliver``: refusal with the expected code, state unchanged."""
    before = harness.state()
    got = harness.deliver(_message(step), "deliver")
    expect = step.get("expect", {})
    if "error" in expect:
        harness.expect_refusal(got, Code(int(expect["error"])), "decode")
    else:
        if got.code is None:
            raise CaseFailure("decode", "a refusal (not a signed TEEP message)", "accepted")
        if got.code in CBOR_CODES:
            raise CaseFailure("decode", "well-formed CBOR decoded", f"CBOR refusal {got.code}", got.code)
    harness.expect_unchanged(before, "decode")


OP_RUNNERS: dict[str, Runner] = {"decode": run_decode}


def _index() -> tuple[Any, dict[str, Any]]:
    root = resources.files("edbp.vectors")
    return root, json.loads((root / "index.json").read_text())


def load_vector_cases() -> Iterator[VectorCase]:
    """Every test of every indexed vector file, in index order."""
    try:
        root, index = _index()
    except (OSError, ValueError, ModuleNotFoundError):
        return
    for entry in index.get("files", []):
        doc = json.loads((root / entry["path"]).read_text())
        for group in doc.get("testGroups", []):
            for test in group.get("tests", []):
                ops = [s.get("op") for s in test.get("steps", [])]
                missing = next((op for op in ops if op not in OP_RUNNERS), None)
                yield VectorCase(
                    CaseMeta(
                        id="vector." + test["tcId"],
                        properties=tuple(test.get("properties", ())),
                        flow=group.get("flow", "-"),
                        suite=group.get("suite", "-"),
                        tags=("vector", *test.get("flags", ())),
                        profile=group.get("profile", "edbp"),
                    ),
                    entry["path"],
                    test,
                    missing,
                )


def run_vector(harness: Harness, case: VectorCase) -> None:
    for i, step in enumerate(case.test.get("steps", [])):
        try:
            OP_RUNNERS[step["op"]](harness, case.test, step)
        except CaseFailure as exc:
            exc.step = f"step {i} ({step['op']}): {exc.step}"
            exc.args = (f"{case.meta.id} {exc.step}: expected {exc.expected}, got {exc.actual}",)
            raise
    harness.state()  # still answering
