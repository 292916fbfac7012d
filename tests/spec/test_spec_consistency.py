"""The spec says one thing (issue 13): the prose, spec/errors.md and the vectors agree.

- every error code the prose of ``spec/*.md`` names exists in errors.md with the same name;
- every vector's ``expect.error`` is a code errors.md allows for that operation and step
  (errors.md, "Where each code may be answered");
- every code of errors.md is produced by a vector or named by a conformance case or a test,
  or is listed, with its reason, under "Codes no vector or case produces" (and a listed code
  that starts being produced must leave the list).

Each check is a function over text or documents, so the tests below also feed it a seeded
defect and require it to be caught.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from edbp.reference.wire import teep

from edbp.errors import Code, EdbpError

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"
ERRORS_MD = SPEC / "errors.md"
VECTORS = ROOT / "vectors"

#: prefixes of edbp code names (spec/errors.md "Ranges")
PREFIXES = (
    "CBOR_", "COSE_", "SUIT_", "TEEP_", "EAT_", "TA_", "AGENT_", "TAM_", "KEYVAULT_",
    "REGISTRY_", "ADAPTER_", "CONFORMANCE_", "CPK_", "CPM_", "KEYSERVICE_", "MODEL_",
)  # fmt: skip
NAME = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+"
#: `NAME` (123), `NAME`, 123 and `NAME` 123
NAMED_CODE = re.compile(rf"`({NAME})`[ ,]*\(?(\d{{3,4}})\)?(?![\d–-])")
#: edbp:123 NAME, as an Error's err-msg reads
ERR_MSG = re.compile(rf"edbp:(\d{{3,4}}) ({NAME})")
BACKTICKED = re.compile(rf"`({NAME})`")
#: names the prose cites in backticks that are not edbp codes: TEEP err-codes and labels, SUIT
#: rule names, and Python tables of the reference (TEEP_ERR_FOR, CPK_MUTATIONS)
NOT_EDBP = re.compile(
    r"^(ERR_|TEEP_TYPE|SUIT_(?:Envelope|Manifest|Digest|Report|Encryption))|"
    r"^(TEEP_ERR_FOR|CPK_MUTATIONS)$"
)


def _is_edbp_name(name: str) -> bool:
    return name.startswith(PREFIXES) and not NOT_EDBP.match(name)


def prose_problems(text: str, where: str) -> list[str]:
    """Names and integers of the prose that disagree with the Code table."""
    problems = []
    for m in NAMED_CODE.finditer(text):
        name, number = m.group(1), int(m.group(2))
        if not _is_edbp_name(name):
            continue
        if name not in Code.__members__:
            problems.append(f"{where}: `{name}` ({number}) is not a code of errors.md")
        elif int(Code[name]) != number:
            problems.append(f"{where}: `{name}` is {int(Code[name])}, the prose says {number}")
    for m in ERR_MSG.finditer(text):
        number, name = int(m.group(1)), m.group(2)
        if name not in Code.__members__ or int(Code[name]) != number:
            problems.append(f"{where}: edbp:{number} {name} does not match errors.md")
    for m in BACKTICKED.finditer(text):
        name = m.group(1)
        if _is_edbp_name(name) and name not in Code.__members__:
            problems.append(f"{where}: `{name}` is not a code of errors.md")
    return problems


def _section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end >= 0 else len(text)]


def _table(section: str) -> Iterator[list[str]]:
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            yield [c.strip() for c in line.strip().strip("|").split("|")]


def _codes(cell: str) -> set[int]:
    out: set[int] = set()
    for part in cell.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.replace("–", "-").partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def where_table(text: str) -> dict[tuple[str, str], set[int]]:
    """errors.md, "Where each code may be answered": (op, step) -> allowed codes."""
    rows = list(_table(_section(text, "Where each code may be answered")))
    assert rows[0] == ["op", "step", "codes"], rows[0]
    return {(op.strip("`"), step): _codes(codes) for op, step, codes in rows[1:]}


def unproduced_list(text: str) -> dict[int, str]:
    """errors.md, "Codes no vector or case produces": code -> reason."""
    rows = list(_table(_section(text, "Codes no vector or case produces")))
    out = {}
    for cell, reason in rows[1:]:
        m = re.fullmatch(rf"`({NAME})` \((\d+)\)", cell)
        assert m, cell
        assert int(Code[m.group(1)]) == int(m.group(2)), cell
        out[int(m.group(2))] = reason
    return out


def _step_kind(step: dict[str, Any]) -> str:
    if step["op"] != "agent.deliver":
        return "any"
    try:
        msg = teep.peek(bytes.fromhex(step["input"]["message"]["cbor"]))
    except EdbpError:  # bytes that are not a TEEP message
        return "not a TEEP message"
    if isinstance(msg, teep.QueryRequest):
        return "QueryRequest"
    if isinstance(msg, teep.Update):
        return "Update"
    return "other TEEP message"


def vector_steps(docs: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        for group in doc["testGroups"]:
            for test in group["tests"]:
                for step in test["steps"]:
                    yield test["tcId"], step


def misplaced_errors(
    docs: Iterable[dict[str, Any]], table: dict[tuple[str, str], set[int]]
) -> list[str]:
    """Vector steps whose ``expect.error`` errors.md does not allow for their op and step."""
    problems = []
    for tc_id, step in vector_steps(docs):
        code = step["expect"].get("error")
        if code is None:
            continue
        key = (step["op"], _step_kind(step))
        if key not in table:
            problems.append(f"{tc_id}: no errors.md row for {key}")
        elif code not in table[key]:
            problems.append(f"{tc_id}: {code} not allowed for {key}")
    return problems


def _vector_docs() -> list[dict[str, Any]]:
    index = json.loads((VECTORS / "index.json").read_text(encoding="utf-8"))
    return [json.loads((VECTORS / f["path"]).read_text(encoding="utf-8")) for f in index["files"]]


def _named_by_code(folders: Iterable[Path]) -> set[int]:
    """Codes a conformance case or a test names (``Code.NAME``): what the suite asserts."""
    found: set[int] = set()
    for folder in folders:
        for path in folder.rglob("*.py"):
            if path.name == Path(__file__).name:
                continue  # this file names codes only to check the table
            for name in re.findall(r"Code\.([A-Z0-9_]+)", path.read_text(encoding="utf-8")):
                if name in Code.__members__:
                    found.add(int(Code[name]))
    return found


# ------------------------------------------------------------------------------- the checks


@pytest.mark.parametrize("doc", sorted(p.name for p in SPEC.glob("*.md")))
def test_prose_names_each_code_as_errors_md_does(doc: str) -> None:
    assert prose_problems((SPEC / doc).read_text(encoding="utf-8"), doc) == []


def test_every_vector_error_is_allowed_where_it_is_expected() -> None:
    table = where_table(ERRORS_MD.read_text(encoding="utf-8"))
    assert misplaced_errors(_vector_docs(), table) == []


def test_every_code_is_produced_or_listed_with_a_reason() -> None:
    text = ERRORS_MD.read_text(encoding="utf-8")
    listed = unproduced_list(text)
    produced = {
        int(step["expect"]["error"])
        for _, step in vector_steps(_vector_docs())
        if "error" in step["expect"]
    }
    produced |= _named_by_code([ROOT / "conformance", ROOT / "tests"])
    every = {int(c) for c in Code}
    assert sorted(every - produced - set(listed)) == [], "produce these codes or list them"
    assert sorted(set(listed) & produced) == [], "produced now: remove from the list"
    assert all(len(reason) > 20 for reason in listed.values())


# ------------------------------------------------------------------------ seeded defects


def test_prose_check_catches_a_wrong_integer_and_an_unknown_name() -> None:
    assert prose_problems("refused (`AGENT_ROLLBACK` (603))", "x") == []
    assert prose_problems("refused (`AGENT_ROLLBACK` (604))", "x")
    assert prose_problems("refused with `AGENT_ROLBACK`", "x")
    assert prose_problems("err-msg edbp:604 AGENT_ROLLBACK", "x")
    assert prose_problems("a `TA_BAD_SIGNATURE`, 509 refusal", "x")


def test_where_check_catches_a_code_from_another_layer() -> None:
    table = where_table(ERRORS_MD.read_text(encoding="utf-8"))
    doc = {
        "testGroups": [
            {
                "tests": [
                    {
                        "tcId": "seeded",
                        "steps": [{"op": "decode", "input": {}, "expect": {"error": 603}}],
                    }
                ]
            }
        ]
    }
    assert misplaced_errors([doc], table) == ["seeded: 603 not allowed for ('decode', 'any')"]
