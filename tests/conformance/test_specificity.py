"""Fault specificity (edbp.conformance.specificity): a seeded fault breaks its clause and
nothing else. The whole catalogue takes one suite run per fault (`edbp conformance
specificity`, minutes); here a few faults whose defect shows in nearly every case (the
harness's own checks on the way) stand for the mechanism, and a wrong clause claim shows that
the check can fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from edbp.conformance.specificity import classify, measure, run_suite


def test_a_fault_seen_in_every_case_is_attributed_to_its_clause(tmp_path: Path) -> None:
    """evidence-cnf fails nearly every case (every deploy checks the evidence first), and
    every one of those failures names the evidence clause, whatever the case is about; the
    same run read against a clause the fault does not break is all collateral."""
    report = run_suite("evidence-cnf", tmp_path / "r.json")
    right = classify("evidence-cnf", ("P-8.3a",), report)
    assert right.failed > 50 and right.specific and not right.unattributed
    wrong = classify("evidence-cnf", ("P-9.8a",), report)
    assert not wrong.specific and not wrong.caught
    assert len(wrong.collateral) == wrong.failed


#: sequence-vs-ta-floor refuses every upgrade after a TA install (its defect shows in most
#: flows): it stays specific only because an install refused with 603 names the clauses that
#: say when 603 is due, P-13c among them
@pytest.mark.parametrize(
    "fault",
    ["wrong-error-code", "report-nonce-reuse", "sequence-vs-ta-floor", "unknown-kid-tries-all"],
)
def test_faults_break_only_their_clause(fault: str) -> None:
    res = measure(fault)
    assert res.specific, res.to_json()
    assert res.caught_by and len(res.caught_by) == res.failed - len(res.unattributed)


def test_failures_are_sorted_by_the_clauses_they_name() -> None:
    """Each failed case is caught (names a clause of the fault), collateral (names others
    only) or unattributed (names none); passed cases are not counted."""
    report = {
        "cases": [
            {"id": "a", "outcome": "failed", "violates": ["P-13c", "P-9.8a"]},
            {"id": "b", "outcome": "failed", "violates": ["P-8.3a"]},
            {"id": "c", "outcome": "error", "violates": []},
            {"id": "d", "outcome": "passed", "violates": ["P-13c"]},
        ]
    }
    res = classify("f", ("P-13c",), report)
    assert (res.failed, res.caught_by, res.unattributed) == (3, ("a",), ("c",))
    assert res.collateral == (("b", ("P-8.3a",)),)
    assert res.caught and not res.specific
    assert res.to_json()["caught_by"] == ["a"]
    only_own = classify("f", ("P-13c",), {"cases": report["cases"][:1]})
    assert only_own.specific


def test_the_command_takes_the_vector_replays_unless_told_not_to() -> None:
    """``edbp conformance specificity`` measures over every case, vector replays included
    (early-floor's defect shows in three fetch-failure vectors beside its protocol case);
    ``--without-vectors`` runs the protocol cases only."""
    from click.testing import CliRunner

    from edbp.cli import cli

    runner = CliRunner()
    both = runner.invoke(cli, ["conformance", "specificity", "--fault", "early-floor"])
    protocol = runner.invoke(
        cli, ["conformance", "specificity", "--fault", "early-floor", "--without-vectors"]
    )
    assert both.exit_code == protocol.exit_code == 0, (both.output, protocol.output)

    def failed(output: str) -> int:
        return int(output.split("early-floor [P-9a]: ")[1].split()[0])

    assert failed(both.output) > failed(protocol.output) >= 1
    assert all(len(line) <= 80 for line in both.output.splitlines()), both.output
