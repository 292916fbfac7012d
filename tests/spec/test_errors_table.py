"""spec/errors.md and edbp.errors.Code are one table: same codes, names, integers, TEEP mapping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edbp.errors import Code, TeepErr, teep_err_code

ERRORS_MD = Path(__file__).resolve().parents[2] / "spec" / "errors.md"
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`([A-Z0-9_]+)`\s*\|(.*)$")
TEEP_CELL = re.compile(r"`([A-Z_]+)`\s*\((\d+)\)")


def _rows() -> list[tuple[int, str, list[str]]]:
    rows = []
    for line in ERRORS_MD.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            cells = [c.strip() for c in m.group(3).rstrip().rstrip("|").split("|")]
            rows.append((int(m.group(1)), m.group(2), cells))
    return rows


def test_table_parses_and_is_not_empty() -> None:
    rows = _rows()
    assert len(rows) >= 100
    for _, name, cells in rows:
        assert len(cells) == 3, f"{name}: expected meaning | TEEP err-code | inputs"
        assert all(cells), f"{name}: empty cell"


def test_every_code_appears_exactly_once_with_its_integer() -> None:
    rows = _rows()
    names = [name for _, name, _ in rows]
    assert len(names) == len(set(names)), "a name appears twice in spec/errors.md"
    ints = [i for i, _, _ in rows]
    assert len(ints) == len(set(ints)), "an integer appears twice in spec/errors.md"
    table = {name: i for i, name, _ in rows}
    enum = {c.name: int(c) for c in Code}
    missing = sorted(set(enum) - set(table))
    extra = sorted(set(table) - set(enum))
    assert not missing, f"codes in errors.py but not in spec/errors.md: {missing}"
    assert not extra, f"codes in spec/errors.md but not in errors.py: {extra}"
    wrong = {n: (table[n], enum[n]) for n in enum if table[n] != enum[n]}
    assert not wrong, f"integers differ (spec, code): {wrong}"


def test_rows_are_in_code_order() -> None:
    ints = [i for i, _, _ in _rows()]
    assert ints == sorted(ints)


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r[1])
def test_teep_column_matches_teep_err_code(row: tuple[int, str, list[str]]) -> None:
    _, name, cells = row
    m = TEEP_CELL.search(cells[1])
    assert m, f"{name}: TEEP column is not `ERR_NAME` (n)"
    expected = teep_err_code(Code[name])
    assert TeepErr[m.group(1)] is expected
    assert int(m.group(2)) == int(expected)
