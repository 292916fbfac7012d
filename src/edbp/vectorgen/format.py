"""The data model of a vector file (spec/vectors.md): Wycheproof's shape, cose-wg's intermediates.

Everything here serialises deterministically: field order is fixed by construction, bytes are
lower-case hex, and there are no timestamps, so a file regenerates byte for byte from its seed.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from edbp.errors import Code
from edbp.reference.wire import cbor

FORMAT_VERSION = "1.0"
RESULTS = ("valid", "invalid", "acceptable")


def message(data: bytes, rule: str | None = None) -> dict[str, Any]:
    """A CBOR message as vectors carry it: hex bytes, diagnostic notation, optional CDDL rule."""
    out: dict[str, Any] = {"cbor": data.hex()}
    try:
        out["diag"] = cbor.diag(cbor.loads(data, cbor.LENIENT))
    except Exception:  # malformed on purpose: no diagnostic form exists
        out["diag"] = None
    if rule:
        out["cddl"] = rule
    return out


def error(code: Code) -> dict[str, Any]:
    return {"error": int(code), "errorName": code.name}


@attrs.frozen
class Note:
    """What a flag means: the bug class it names and the property it guards."""

    bug_type: str
    description: str
    properties: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "bugType": self.bug_type,
            "description": self.description,
            "properties": list(self.properties),
        }


@attrs.frozen
class Step:
    """One input to the implementation under test and what it must do with it."""

    op: str
    input: dict[str, Any]
    expect: dict[str, Any]
    state_after: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "input": self.input, "expect": self.expect}
        if self.state_after is not None:
            out["stateAfter"] = self.state_after
        return out


@attrs.frozen
class TestCase:
    tc_id: str
    comment: str
    result: str
    steps: tuple[Step, ...]
    flags: tuple[str, ...] = ()
    properties: tuple[str, ...] = ()
    intermediates: dict[str, Any] = attrs.field(factory=dict)
    device: dict[str, Any] | None = None  # starting state: test keys, trust anchors, floors

    def __attrs_post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"result must be one of {RESULTS}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tcId": self.tc_id,
            "comment": self.comment,
            "result": self.result,
            "flags": list(self.flags),
            "properties": list(self.properties),
        }
        if self.device is not None:
            out["device"] = self.device
        out["steps"] = [s.to_json() for s in self.steps]
        if self.intermediates:
            out["intermediates"] = self.intermediates
        return out


def one_step_case(
    tc_id: str, comment: str, result: str, step: Step, flag: str, notes: dict[str, Note],
    intermediates: dict[str, Any] | None = None,
) -> TestCase:
    """The common vector test: one step, one flag, and the properties the flag's note names."""
    return TestCase(tc_id, comment, result, (step,), (flag,), notes[flag].properties,
                    intermediates or {})


@attrs.frozen
class TestGroup:
    type: str
    flow: str
    suite: str
    tests: tuple[TestCase, ...]
    profile: str = "edbp"
    keys: dict[str, Any] = attrs.field(factory=dict)  # public/test keys shared by the group

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "profile": self.profile,
            "flow": self.flow,
            "suite": self.suite,
        }
        if self.keys:
            out["keys"] = self.keys
        out["tests"] = [t.to_json() for t in self.tests]
        return out


@attrs.frozen
class VectorFile:
    """One file of vectors: ``path`` (no extension) is its stable name under ``vectors/``."""

    path: str
    title: str
    header: tuple[str, ...]
    notes: dict[str, Note]
    groups: tuple[TestGroup, ...]

    def tests(self) -> list[TestCase]:
        return [t for g in self.groups for t in g.tests]

    def to_json(self, seed_label: str) -> dict[str, Any]:
        tests = self.tests()
        ids = [t.tc_id for t in tests]
        if len(ids) != len(set(ids)):
            raise ValueError(f"{self.path}: duplicate tcId")
        for t in tests:
            unknown = set(t.flags) - set(self.notes)
            if unknown:
                raise ValueError(f"{self.path}/{t.tc_id}: flags without notes: {sorted(unknown)}")
        return {
            "formatVersion": FORMAT_VERSION,
            "schema": "vectors.schema.json",
            "title": self.title,
            "header": list(self.header),
            "seed": seed_label,
            "numberOfTests": len(tests),
            "notes": {k: self.notes[k].to_json() for k in sorted(self.notes)},
            "testGroups": [g.to_json() for g in self.groups],
        }


def dumps_json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, ensure_ascii=True) + "\n").encode()
