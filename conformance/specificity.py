"""Fault specificity: does each seeded faulty device break its own clause and nothing else?

Why: the mutation score (tests/conformance/test_mutation_score.py) shows that the cases of a
clause catch the fault that breaks it. It does not show the converse: that a fault meant to
break one requirement breaks only that one, so that a catch means what the catalogue says.
A fault that changes more than its clause (a "skip the TA check" that also skips the version
floor, a "tries every key" that also changes every signature error's code) inflates the
score and hides gaps: the case that should catch the narrow defect is never shown to.

This runs the whole suite (by default with the vector replays, ``ALL_CASES``: they name
clauses like any case; ``NOT_VECTORS`` leaves them out, about half the time) against one
faulty device and reads, for
every failure, the clauses the failure shows broken (``violates`` in the JSON report, see
``CaseFailure.clauses``). A failure naming none of the fault's clauses is *collateral*:
either the fault does more than its clause, or the failing case checks a requirement its
metadata does not name. Both are defects of the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from edbp.errors import Code, ConfigError

__all__ = ["FaultSpecificity", "classify", "measure", "measure_all", "run_suite"]

#: the protocol cases only: the vector replays left out (``--without-vectors``)
NOT_VECTORS = "not vector"
#: no selection, the default: every case, the vector replays included (their failures name
#: their flags' clauses and their expected codes', ``vector_clauses``)
ALL_CASES = ""


@attrs.frozen
class FaultSpecificity:
    """One faulty device against the whole suite."""

    fault: str
    clauses: tuple[str, ...]
    failed: int  # failing cases
    collateral: tuple[tuple[str, tuple[str, ...]], ...]  # (case id, clauses it shows broken)
    unattributed: tuple[str, ...] = ()  # failed without naming any clause (device errors)
    caught_by: tuple[str, ...] = ()  # the failing cases naming one of the fault's clauses

    @property
    def caught(self) -> bool:
        return self.failed > len(self.collateral) + len(self.unattributed)

    @property
    def specific(self) -> bool:
        """Caught, and every failure names one of the fault's clauses."""
        return self.caught and not self.collateral

    def to_json(self) -> dict[str, object]:
        return {
            "fault": self.fault,
            "clauses": list(self.clauses),
            "failed": self.failed,
            "caught": self.caught,
            "specific": self.specific,
            "caught_by": list(self.caught_by),
            "collateral": [{"case": c, "violates": list(v)} for c, v in self.collateral],
            "unattributed": list(self.unattributed),
        }


def run_suite(fault: str, report: Path, keyword: str = ALL_CASES) -> dict[str, Any]:
    """One suite run in a child process (each run starts from a clean interpreter, as a lab's
    run would), returning its JSON report."""
    cmd = [
        sys.executable,
        "-c",
        "import sys; from edbp.cli import main; sys.exit(main())",
        "conformance",
        "run",
        "--device",
        f"builtin:{fault}",
        "--json",
        str(report),
        *(["-k", keyword] if keyword else []),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ.copy())
    if proc.returncode not in (0, 1) or not report.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(
            Code.CONFORMANCE_CONFIG, f"suite run against {fault!r} did not report: {tail[0]}"
        )
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return data


def classify(fault: str, clauses: tuple[str, ...], report: dict[str, Any]) -> FaultSpecificity:
    """Sort the failures of one run's JSON ``report`` by whether they name ``clauses``."""
    own = set(clauses)
    failed = 0
    collateral: list[tuple[str, tuple[str, ...]]] = []
    unattributed: list[str] = []
    caught_by: list[str] = []
    cases = report.get("cases")
    for case in cases if isinstance(cases, list) else []:
        if case.get("outcome") not in ("failed", "error"):
            continue
        failed += 1
        broken = tuple(case.get("violates") or ())
        if not broken:
            unattributed.append(str(case["id"]))
        elif not own & set(broken):
            collateral.append((str(case["id"]), broken))
        else:
            caught_by.append(str(case["id"]))
    return FaultSpecificity(
        fault=fault,
        clauses=clauses,
        failed=failed,
        collateral=tuple(collateral),
        unattributed=tuple(unattributed),
        caught_by=tuple(caught_by),
    )


def measure(fault: str, *, keyword: str = ALL_CASES) -> FaultSpecificity:
    """Run the suite against ``fault`` and sort its failures by the clauses they name."""
    from edbp.conformance.faults import check_fault

    spec = check_fault(fault)
    assert spec is not None
    with tempfile.TemporaryDirectory(prefix="edbp-specificity-") as tmp:
        data = run_suite(fault, Path(tmp) / "report.json", keyword)
    return classify(fault, tuple(spec.clauses), data)


def measure_all(
    faults: Iterable[str] | None = None, *, keyword: str = ALL_CASES
) -> list[FaultSpecificity]:
    """Every named fault, or every fault of the ``edbp`` profile."""
    from edbp.conformance.faults import FAULTS

    names = list(faults) if faults else [n for n, f in FAULTS.items() if f.profile == "edbp"]
    return [measure(name, keyword=keyword) for name in names]
