"""The MUST-coverage matrix: spec clause → conformance cases → faulty devices they catch.

Why: a passing run means something only if every normative requirement a device has is
checked by a case, and every such case is shown to bite on a device that breaks only that
requirement. The clause ids live in the spec text (``[P-9.6a]``; spec/README.md, "Clause
ids"), the cases name the clauses they check (``@pytest.mark.edbp_case(..., clauses=...)``),
the faults of ``edbp.conformance.faults`` name the clause they break; this module joins the
three, and ``tests/conformance`` fails on a clause without a case, a case or fault naming an
unknown clause, a stale ``spec/coverage.md``, and (the mutation score) a fault the cases of its
clauses do not catch.

Nothing here runs a device: the matrix is computed from the spec text and the case and fault
metadata, so ``edbp conformance coverage`` is instant.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from edbp.errors import Code, ConfigError

__all__ = [
    "CLAUSE_RE",
    "SPEC_FILES",
    "Clause",
    "Matrix",
    "build_matrix",
    "case_clauses",
    "code_clauses",
    "parse_clauses",
    "render_markdown",
    "spec_coverage_path",
]

#: the spec documents whose normative requirements carry clause ids, and their id letter
SPEC_FILES = {
    "P": "protocol.md",
    "A": "adapter.md",
    "T": "ta-image.md",
    "E": "errors.md",
    "B": "blueprint.md",
}

#: ``[P-9.6a]`` or ``[P-11b untestable: reason]``
CLAUSE_RE = re.compile(r"\[([PATEB])-(\d+(?:\.\d+)?[a-z])(?: untestable: ([^\]]+))?\]")


@attrs.frozen
class Clause:
    """One normative requirement of the spec, as marked in its text."""

    id: str  # "P-9.6a"
    document: str  # "protocol.md"
    line: int
    text: str  # the sentence the id ends (for the matrix)
    untestable: str | None = None  # the reason, when it cannot be checked from outside

    @property
    def testable(self) -> bool:
        return self.untestable is None


def _spec_dir() -> Path:
    return Path(str(resources.files("edbp.spec")))


def spec_coverage_path() -> Path:
    """spec/coverage.md, beside the documents it is generated from."""
    return _spec_dir() / "coverage.md"


def _sentence_before(text: str, end: int) -> str:
    """The requirement an id labels: the text before it back to the previous id, sentence
    end or paragraph break, squeezed to one line."""
    start = max(
        text.rfind("\n\n", 0, end),
        text.rfind("]", 0, end),
        text.rfind(". ", 0, max(0, end - 2)),
        text.rfind("\n|", 0, end),
    )
    snippet = " ".join(text[start + 1 : end].split()).lstrip(". ")
    return snippet if len(snippet) <= 160 else snippet[:157] + "..."


def parse_clauses(spec_dir: Path | None = None) -> dict[str, Clause]:
    """Every clause id of the spec files, in document order; a duplicate id is a spec error."""
    root = spec_dir or _spec_dir()
    clauses: dict[str, Clause] = {}
    for letter, name in SPEC_FILES.items():
        text = (root / name).read_text(encoding="utf-8")
        for match in CLAUSE_RE.finditer(text):
            if match.group(1) != letter:
                raise ConfigError(
                    Code.CONFORMANCE_CONFIG, f"{name}: clause {match.group(0)} of another document"
                )
            cid = f"{letter}-{match.group(2)}"
            if cid in clauses:
                raise ConfigError(Code.CONFORMANCE_CONFIG, f"{name}: clause {cid} defined twice")
            clauses[cid] = Clause(
                id=cid,
                document=name,
                line=text.count("\n", 0, match.start()) + 1,
                text=_sentence_before(text, match.start()),
                untestable=match.group(3),
            )
    return clauses


#: a code named in a clause: ``AGENT_ROLLBACK`` (any code's name), or a number in a
#: parenthesised list of codes: ``(304, 305; …)``, ``(`SUIT_DIGEST_MISMATCH` 302)``
_CODE_NUMBER_RE = re.compile(r"(?:[(,;]\s?|`\s)([1-9]\d{2})(?=[),;])")


def _scope(text: str, start: int, end: int) -> str:
    """The whole requirement an id closes: back to the previous id or the paragraph break
    (not cut at a sentence like ``Clause.text``, which is for display). A requirement that
    says "this table" takes in the table right above it (its rows are the requirement)."""
    begin = max(start, text.rfind("\n\n", 0, end))
    scope = text[begin:end]
    if "this table" in scope and begin > start:
        above = text.rfind("\n\n", 0, begin)
        block = text[above + 2 : begin] if above >= start else ""
        rows = block.strip("\n").split("\n")
        if block and all(row.startswith("|") for row in rows):
            scope = block + scope
    return scope


def code_clauses(spec_dir: Path | None = None) -> dict[int, tuple[str, ...]]:
    """``{code: clauses whose requirement names it}``: the requirement a device breaks when a
    case expecting that refusal sees it accepted, or refused with another code. Codes are
    matched by name, or by number where the text lists them as codes."""
    root = spec_dir or _spec_dir()
    names = {c.name: int(c) for c in Code}
    numbers = {int(c) for c in Code}
    found: dict[int, list[str]] = {}
    for letter, name in SPEC_FILES.items():
        text = (root / name).read_text(encoding="utf-8")
        previous, scope = 0, ""
        for match in CLAUSE_RE.finditer(text):
            own = _scope(text, previous, match.start())
            # ids written side by side ("[P-2b] [P-2c]") close the same requirement text
            scope = own if own.strip() else scope
            previous = match.end()
            if match.group(3) is not None:  # untestable: no device answers it
                continue
            cid = f"{letter}-{match.group(2)}"
            codes = {names[w] for w in re.findall(r"\b[A-Z][A-Z0-9_]{3,}\b", scope) if w in names}
            codes |= {int(n) for n in _CODE_NUMBER_RE.findall(scope) if int(n) in numbers}
            for code in codes:
                found.setdefault(code, []).append(cid)
    return {code: tuple(ids) for code, ids in sorted(found.items())}


def _case_modules() -> Iterable[Any]:
    import edbp.conformance.cases as cases_pkg

    for info in pkgutil.iter_modules(cases_pkg.__path__):
        if info.name.startswith("test_"):
            yield importlib.import_module(f"edbp.conformance.cases.{info.name}")


def case_clauses() -> dict[str, tuple[str, ...]]:
    """``{case id: clauses}`` of every case declared with ``@edbp_case`` in the case modules
    (cases generated per vector or per model trace carry their metadata at run time and are
    not listed)."""
    found: dict[str, tuple[str, ...]] = {}
    for module in _case_modules():
        for name in dir(module):
            if not name.startswith("test_"):
                continue
            for mark in getattr(getattr(module, name), "pytestmark", ()):
                if mark.name == "edbp_case" and "id" in mark.kwargs:
                    cid = mark.kwargs["id"]
                    found[cid] = tuple(found.get(cid, ())) + tuple(mark.kwargs.get("clauses", ()))
    return {k: tuple(dict.fromkeys(v)) for k, v in sorted(found.items())}


#: cases whose metadata is made per item at run time (one per vector file entry): the vector
#: replay's rules are the vectors' own (spec/vectors.md), not clauses of their own
GENERATED_CASES = frozenset({"vector"})


@attrs.frozen
class Matrix:
    """clause → cases → faults, and what is wrong with it (``problems``, empty when sound)."""

    clauses: dict[str, Clause]
    cases: dict[str, tuple[str, ...]]  # case id → clauses
    faults: dict[str, tuple[str, ...]]  # fault name → clauses

    def cases_of(self, clause: str) -> list[str]:
        return [c for c, cl in self.cases.items() if clause in cl]

    def faults_of(self, clause: str) -> list[str]:
        return [f for f, cl in self.faults.items() if clause in cl]

    @property
    def testable(self) -> list[Clause]:
        return [c for c in self.clauses.values() if c.testable]

    def problems(self) -> list[str]:
        out = []
        for clause in self.testable:
            if not self.cases_of(clause.id):
                out.append(f"clause {clause.id} ({clause.document}:{clause.line}) has no case")
            elif not self.faults_of(clause.id):
                # the mutation score proves each fault caught by its clause's cases, so a
                # testable clause with a fault is a clause whose cases are shown to bite
                out.append(
                    f"clause {clause.id} ({clause.document}:{clause.line}) has no faulty "
                    "device (edbp.conformance.faults) to show its cases catch a violation"
                )
        for case, clauses in self.cases.items():
            if not clauses and case not in GENERATED_CASES:
                out.append(f"case {case} names no clause")
            for cl in clauses:
                if cl not in self.clauses:
                    out.append(f"case {case} names unknown clause {cl}")
                elif not self.clauses[cl].testable:
                    out.append(f"case {case} names untestable clause {cl}")
        for fault, clauses in self.faults.items():
            if not clauses:
                out.append(f"fault {fault} names no clause")
            for cl in clauses:
                if cl not in self.clauses:
                    out.append(f"fault {fault} names unknown clause {cl}")
                elif not self.cases_of(cl):
                    out.append(f"fault {fault}: clause {cl} has no case to catch it")
        return out


def build_matrix(spec_dir: Path | None = None) -> Matrix:
    from edbp.conformance.faults import FAULTS

    return Matrix(
        clauses=parse_clauses(spec_dir),
        cases=case_clauses(),
        faults={name: fault.clauses for name, fault in FAULTS.items()},
    )


def render_markdown(matrix: Matrix) -> str:
    """spec/coverage.md: deterministic (no dates), so a stale copy is a plain diff."""
    testable = matrix.testable
    with_fault = [c for c in testable if matrix.faults_of(c.id)]
    lines = [
        "# Conformance coverage (generated)",
        "",
        "Generated by `edbp conformance coverage --write`; do not edit. Each normative",
        'requirement of the spec carries a clause id (spec/README.md, "Clause ids"); each',
        "conformance case names the clauses it checks; each seeded faulty device",
        "(`edbp device serve --list-faults`) names the clauses it breaks (one, or the rules of",
        "a whole check it removes), and `tests/conformance/test_mutation_score.py` proves the",
        "cases of those clauses catch it, each with a failure that names one of them.",
        "",
        f"- clauses: {len(matrix.clauses)} ({len(testable)} testable, "
        f"{len(matrix.clauses) - len(testable)} untestable from outside a device)",
        f"- cases naming clauses: {len(matrix.cases)}",
        f"- faulty devices: {len(matrix.faults)}",
        f"- testable clauses with a faulty device: {len(with_fault)} of {len(testable)}",
        "",
        "| clause | document | requirement | cases | faulty devices caught |",
        "|---|---|---|---|---|",
    ]
    for clause in testable:
        cases = ", ".join(f"`{c}`" for c in matrix.cases_of(clause.id)) or "**none**"
        faults = ", ".join(f"`{f}`" for f in matrix.faults_of(clause.id)) or "—"
        text = clause.text.replace("|", "\\|")
        lines.append(f"| {clause.id} | {clause.document} | {text} | {cases} | {faults} |")
    untestable = [c for c in matrix.clauses.values() if not c.testable]
    if untestable:
        lines += ["", "## Untestable from outside a device", "", "| clause | document | why |"]
        lines.append("|---|---|---|")
        for clause in untestable:
            reason = (clause.untestable or "").replace("|", "\\|")
            lines.append(f"| {clause.id} | {clause.document} | {reason} |")
    return "\n".join(lines) + "\n"
