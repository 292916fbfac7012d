"""errors.md "Precedence": with two or more defects at once, the reference answers the code of
the defect whose check comes first in the table.

The honest Deploy vector (``deploy.esp256-a128gcm.valid.honest-install``) is the base; each
defect changes its bytes, the device's starting state or the Broker's payloads, and is placed
at the section 9 step where the spec says it is detected. The expected code is computed from
the Precedence table of spec/errors.md (the lowest-ranked row of that step listing the code),
never written here, so a change of the table or of the reference's order fails this test.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import Code, EdbpError
from edbp.vectorgen.replay import OPS, ReferenceTarget, ReplayContext, replay_file, replay_test

ROOT = Path(__file__).resolve().parents[2]
ERRORS_MD = ROOT / "spec" / "errors.md"
BASE_FILE = ROOT / "vectors" / "deploy" / "esp256-a128gcm.json"
BASE_ID = "deploy.esp256-a128gcm.valid.honest-install"


def precedence_rows() -> list[tuple[int, int, set[int]]]:
    """(rank, section 9 step, codes) of each row of the Precedence table."""
    text = ERRORS_MD.read_text(encoding="utf-8")
    section = text[
        text.index("## Precedence") : text.index("\n## ", text.index("## Precedence") + 3)
    ]
    rows = []
    for line in section.splitlines():
        m = re.match(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|[^|]*\|(.*)\|\s*$", line)
        if not m:
            continue
        codes: set[int] = set()
        for lo, hi in re.findall(r"(?<![\dx])(\d{3})(?:–(\d{3}))?", m.group(3)):
            codes.update(range(int(lo), int(hi or lo) + 1))
        for prefix in re.findall(r"\b(\d)xx\b", m.group(3)):
            codes.update(range(int(prefix) * 100, int(prefix) * 100 + 100))
        rows.append((int(m.group(1)), int(m.group(2)), codes))
    assert rows, "no Precedence table in errors.md"
    return rows


ROWS = precedence_rows()


def rank(step: int, code: Code, rows: list[tuple[int, int, set[int]]] = ROWS) -> int:
    """The table's rank of ``code`` when the check of section 9 ``step`` finds it."""
    ranks = [r for r, s, codes in rows if s == step and int(code) in codes]
    assert ranks, f"errors.md Precedence has no row of step {step} with {int(code)}"
    return min(ranks)


Test = dict[str, Any]


@attrs.frozen
class Defect:
    name: str
    step: int  # the section 9 step whose check finds it
    code: Code
    apply: Callable[[Test], None]


def _update_step(t: Test) -> dict[str, Any]:
    return t["steps"][-1]


def _update_bytes(t: Test, change: Callable[[bytes], bytes]) -> None:
    msg = _update_step(t)["input"]["message"]
    msg["cbor"] = change(bytes.fromhex(msg["cbor"])).hex()
    msg.pop("cddl", None)


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])  # the last byte is the TSK signature's


def _retag(data: bytes) -> bytes:
    assert data[0] == 0xD2  # tag 18 in one byte
    return b"\xd1" + data[1:]  # tag 17 (COSE_Mac0)


def _author_is_tsk(t: Test) -> None:
    anchors = t["device"]["trustAnchors"]
    anchors["author"] = list(anchors["tam"])  # no ASK trusted: the author block fails (303)


def _other_ueid(t: Test) -> None:
    t["device"]["ueid"] = "01" + "ee" * 16


def _no_query(t: Test) -> None:
    t["steps"] = [_update_step(t)]


def _other_nonce(t: Test) -> None:
    """The device draws another Agent nonce for the QueryRequest than the one the Update echoes
    (as after a replayed QueryRequest: protocol.md 8.3.1)."""
    nonces = t["device"]["agentNonces"]
    nonces[0] = bytes(a ^ 0xFF for a in bytes.fromhex(nonces[0])).hex()


def _floor(t: Test) -> None:
    component = t["steps"][-1]["stateAfter"]["components"][0]["component"]
    t["device"]["floors"] = [{"component": component, "sequence": 5}]


def _payload(change: Callable[[bytes], bytes | None]) -> Callable[[Test], None]:
    def apply(t: Test) -> None:
        payloads = _update_step(t)["input"]["payloads"]
        for uri, hexdata in list(payloads.items()):
            new = change(bytes.fromhex(hexdata))
            if new is None:
                del payloads[uri]
            else:
                payloads[uri] = new.hex()

    return apply


DEFECTS = {
    d.name: d
    for d in (
        Defect("truncated", 1, Code.CBOR_TRUNCATED, lambda t: _update_bytes(t, lambda b: b[:-1])),
        Defect("mac0-tag", 1, Code.COSE_WRONG_TAG, lambda t: _update_bytes(t, _retag)),
        Defect("tsk-signature", 2, Code.TEEP_BAD_SIGNATURE, lambda t: _update_bytes(t, _flip_last)),
        Defect("author-untrusted", 5, Code.SUIT_AUTH_FAILED, _author_is_tsk),
        Defect("other-device", 6, Code.AGENT_NOT_FOR_THIS_DEVICE, _other_ueid),
        Defect("no-query", 7, Code.AGENT_REPLAY, _no_query),
        Defect("agent-nonce", 7, Code.TEEP_AGENT_NONCE_MISMATCH, _other_nonce),
        Defect("rollback", 8, Code.AGENT_ROLLBACK, _floor),
        Defect("payload-missing", 9, Code.AGENT_PAYLOAD_FETCH_FAILED, _payload(lambda b: None)),
        Defect(
            "payload-flipped",
            9,
            Code.AGENT_PAYLOAD_MISMATCH,
            _payload(lambda b: b[:-1] + bytes([b[-1] ^ 1])),
        ),
    )
}
#: the Broker either serves no payload or a changed one, not both; and without a QueryRequest
#: the device draws no Agent nonce to differ (both are row 12 of the table)
EXCLUSIVE = ({"payload-missing", "payload-flipped"}, {"no-query", "agent-nonce"})


def _base() -> tuple[Test, dict[str, Any]]:
    doc = json.loads(BASE_FILE.read_text(encoding="utf-8"))
    for group in doc["testGroups"]:
        for test in group["tests"]:
            if test["tcId"] == BASE_ID:
                return test, group
    raise LookupError(BASE_ID)


BASE, GROUP = _base()
replay_file({"testGroups": []})  # registers the op runners in OPS


def expected(names: set[str], rows: list[tuple[int, int, set[int]]] = ROWS) -> Code:
    """The table's answer: the code of the defect with the lowest rank."""
    return min((DEFECTS[n] for n in names), key=lambda d: rank(d.step, d.code, rows)).code


def run(names: set[str]) -> Code | None:
    """Replay the base vector with ``names`` applied; the code the reference refused with."""
    test = copy.deepcopy(BASE)
    for name in sorted(names, key=list(DEFECTS).index):
        DEFECTS[name].apply(test)
    ctx = ReplayContext(test, GROUP, ReferenceTarget())
    *before, last = test["steps"]
    for step in before:  # the QueryRequest: answered, whatever the Update's defects
        assert "error" not in OPS[step["op"]](step["input"], ctx)
    try:
        actual = OPS[last["op"]](last["input"], ctx)
    except EdbpError as exc:
        return exc.code
    return Code(actual["error"]) if "error" in actual else None


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_each_defect_alone_gives_its_code(name: str) -> None:
    assert run({name}) == DEFECTS[name].code


def test_the_base_vector_installs() -> None:
    outcome = replay_test(copy.deepcopy(BASE), GROUP, ReferenceTarget())
    assert outcome.passed, outcome.failures


@given(
    st.sets(st.sampled_from(sorted(DEFECTS)), min_size=2).filter(
        lambda s: all(len(s & pair) < 2 for pair in EXCLUSIVE)
    )
)
def test_several_defects_give_the_code_the_table_ranks_first(names: set[str]) -> None:
    assert run(names) == expected(names), sorted(names)


def test_the_table_decides_the_expectation() -> None:
    """Seeded flaw: with the rows of steps 6 and 7 swapped, the expectation changes."""
    assert expected({"other-device", "no-query"}) == Code.AGENT_NOT_FOR_THIS_DEVICE
    swapped = [(r if s not in (6, 7) else 23 - r, s, c) for r, s, c in ROWS]
    assert expected({"other-device", "no-query"}, swapped) == Code.AGENT_REPLAY
