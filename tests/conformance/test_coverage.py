"""The MUST-coverage matrix (edbp.conformance.coverage): every testable clause of the spec has
a case, every case and fault names known clauses, and spec/coverage.md is what the command
writes. The mutation score (test_mutation_score.py) proves the cases catch the faults."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from edbp.conformance.coverage import (
    build_matrix,
    parse_clauses,
    render_markdown,
    spec_coverage_path,
)

from edbp.cli import cli
from edbp.errors import ConfigError


def test_matrix_is_sound() -> None:
    matrix = build_matrix()
    assert matrix.problems() == []
    assert len(matrix.testable) >= 50


def test_coverage_md_is_current() -> None:
    text = render_markdown(build_matrix())
    assert spec_coverage_path().read_text(encoding="utf-8") == text, (
        "spec/coverage.md is stale: run `edbp conformance coverage --write`"
    )


def test_untestable_clauses_give_a_reason() -> None:
    for clause in parse_clauses().values():
        if not clause.testable:
            assert len(clause.untestable or "") > 20, clause.id


def _spec_copy(tmp_path: Path) -> Path:
    src = spec_coverage_path().parent
    for name in ("protocol.md", "adapter.md", "ta-image.md", "errors.md", "blueprint.md"):
        (tmp_path / name).write_text((src / name).read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_detects_clause_without_case(tmp_path: Path) -> None:
    spec = _spec_copy(tmp_path)
    path = spec / "protocol.md"
    path.write_text(path.read_text() + "\nA new duty of the Agent. [P-99a]\n")
    problems = build_matrix(spec).problems()
    assert any("clause P-99a" in p and "no case" in p for p in problems)


def test_detects_clause_without_fault() -> None:
    """Every testable clause needs a faulty device violating it (the issue's "Done when"):
    a case naming a clause no fault breaks is not yet shown to bite."""
    matrix = build_matrix()
    faults = {f: c for f, c in matrix.faults.items() if "A-3b" not in c}
    problems = attrs.evolve(matrix, faults=faults).problems()
    assert any("clause A-3b" in p and "no faulty device" in p for p in problems)
    assert all(matrix.faults_of(c.id) for c in matrix.testable)


def test_detects_case_naming_unknown_clause(tmp_path: Path) -> None:
    spec = _spec_copy(tmp_path)
    path = spec / "protocol.md"
    path.write_text(path.read_text().replace("[P-9.8a]", "", 1))
    problems = build_matrix(spec).problems()
    assert any("names unknown clause P-9.8a" in p for p in problems)


def test_detects_duplicate_clause(tmp_path: Path) -> None:
    spec = _spec_copy(tmp_path)
    path = spec / "errors.md"
    path.write_text(path.read_text() + "\nAgain. [E-3a]\n")
    with pytest.raises(ConfigError, match="E-3a defined twice"):
        parse_clauses(spec)


def test_command_check() -> None:
    result = CliRunner().invoke(cli, ["conformance", "coverage", "--check"])
    assert result.exit_code == 0, result.output
    assert "testable" in result.output
