"""Vector replay cases name the spec clauses their failures show broken
(edbp.conformance.vector_clauses; spec/README.md, "What a failure shows broken")."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from edbp.conformance.coverage import code_clauses, parse_clauses
from edbp.conformance.harness.vectors import OP_RUNNERS, load_vector_cases
from edbp.conformance.vector_clauses import (
    FLAG_CLAUSES,
    UNCLAUSED,
    flag_clauses,
    vector_clauses,
)


def _vector_tests() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(file, group, test) of every test of every indexed vector file."""
    root = resources.files("edbp.vectors")
    out = []
    for entry in json.loads((root / "index.json").read_text())["files"]:
        doc = json.loads((root / entry["path"]).read_text())
        for group in doc["testGroups"]:
            out.extend((entry["path"], group, test) for test in group["tests"])
    return out


def test_every_flag_maps_to_existing_clauses() -> None:
    """Every flag a vector uses is in the table (with clause ids the spec defines, parsed as
    coverage.py parses them) or, for a library-level duty without a clause id, in UNCLAUSED
    with its reason; no entry is stale."""
    known = parse_clauses()
    used = {flag for _, _, test in _vector_tests() for flag in test["flags"]}
    assert not set(FLAG_CLAUSES) & set(UNCLAUSED)
    assert used - set(FLAG_CLAUSES) - set(UNCLAUSED) == set(), "flags without clauses"
    assert set(FLAG_CLAUSES) | set(UNCLAUSED) == used, "entries no vector uses"
    for flag, ids in FLAG_CLAUSES.items():
        assert ids, flag
        assert [c for c in ids if c not in known] == [], flag
        assert len(set(ids)) == len(ids), flag
    assert all(reason.strip() for reason in UNCLAUSED.values())


def test_every_vector_a_device_replays_names_a_clause_of_its_flags() -> None:
    """A device-replayed vector (its ops all have a runner, or a blueprint vector) never
    depends on UNCLAUSED, and its flags name a clause of its own layer's documents."""
    for file, group, test in _vector_tests():
        profile, flow = group.get("profile", "edbp"), group.get("flow", "-")
        replayed = profile == "blueprint" or all(s["op"] in OP_RUNNERS for s in test["steps"])
        if not replayed:
            continue
        assert not set(test["flags"]) & set(UNCLAUSED), (file, test["tcId"])
        assert flag_clauses(test["flags"], profile, flow), (file, test["tcId"])


def test_a_vector_case_names_its_flags_and_its_expected_codes_clauses() -> None:
    cases = {c.meta.id: c for c in load_vector_cases(include_unrunnable=True)}
    by_code = code_clauses()
    rollback = cases["vector.deploy.esp256-a128gcm.invalid.update-rollback"]
    assert rollback.meta.clauses[:2] == ("P-9.8a", "P-13a")  # Rollback, no TA-image T-7a
    assert set(by_code[603]) <= set(rollback.meta.clauses)
    replayed = cases["vector.deploy.esp256-a128gcm.invalid.update-from-replayed-query"]
    assert replayed.meta.clauses == ("P-9.7c", "P-8.3f")
    ta = [c for c in cases.values() if c.meta.flow == "ta-image" and "Rollback" in c.meta.tags]
    assert ta and all("T-7a" in c.meta.clauses and "P-9.8a" not in c.meta.clauses for c in ta)
    cpk = [c for c in cases.values() if c.meta.profile == "blueprint"]
    assert cpk and all(c.meta.clauses and all(x[0] == "B" for x in c.meta.clauses) for c in cpk)
    for case in cases.values():
        assert case.meta.clauses == vector_clauses(case.test, case.meta.profile, case.meta.flow)


def test_a_failed_vector_replay_names_its_clauses_in_every_report(tmp_path: Path) -> None:
    """Against a device without its floor check the rollback vector fails, and the JSON, JUnit
    and HTML reports say it breaks the rollback clause (which ``edbp conformance specificity``
    reads); the same run against the reference passes."""
    from edbp.cli.conformance import build_pytest_args

    case = "vector.deploy.esp256-a128gcm.invalid.update-rollback"
    out, junit, html = tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.html"
    args = build_pytest_args(["builtin:skip-rollback"], json_out=str(out), junit=str(junit),
                             html=str(html), cases=(case,))
    assert pytest.main(args) == 1
    (entry,) = json.loads(out.read_text())["cases"]
    assert entry["outcome"] == "failed"
    assert "P-9.8a" in entry["violates"] and "P-9.8a" in entry["clauses"]
    props = [p.get("value") for p in ET.parse(junit).iter("property")
             if p.get("name") == "violates"]
    assert "P-9.8a" in props
    assert ">P-9.8a</a>" in html.read_text()  # the HTML report links the clause

    from edbp.conformance.faults import check_fault
    from edbp.conformance.specificity import classify

    fault = check_fault("skip-rollback")
    assert fault is not None
    res = classify("skip-rollback", tuple(fault.clauses), json.loads(out.read_text()))
    assert res.failed == 1 and res.specific

    args = build_pytest_args(["builtin"], json_out=str(out), cases=(case,))
    assert pytest.main(args) == 0


def test_a_vector_failure_outside_an_expected_refusal_names_the_flags_clause(
    tmp_path: Path,
) -> None:
    """A device that decodes strictly refuses an unsorted map the receive rule accepts: the
    failure is no expected refusal (no code's clauses), and before the flag table it named
    nothing; now it names the receive rule's clause, the fault's own."""
    from edbp.cli.conformance import build_pytest_args

    out = tmp_path / "r.json"
    args = build_pytest_args(["builtin:cbor-strict-receive"], json_out=str(out),
                             cases=("vector.cbor.acceptable.map-unsorted",))
    assert pytest.main(args) == 1
    (entry,) = json.loads(out.read_text())["cases"]
    assert entry["outcome"] == "failed" and entry["violates"] == ["P-5c"]


def test_specificity_attributes_vector_failures_when_asked() -> None:
    """``measure`` with the vector replays selected: the rollback vectors a device without its
    floor check fails all name the fault's clause (P-9.8a), none is collateral."""
    from edbp.conformance.specificity import measure

    res = measure("skip-rollback", keyword="vector and rollback")
    assert res.failed >= 3 and res.specific and not res.unattributed, res.to_json()


@pytest.mark.parametrize(
    ("fault", "keyword"),
    [
        # the device's EAT fails the harness's evidence check: P-8.3a, not the vector's flags
        ("evidence-signer", "vector and esp256-a128gcm and payload-swapped"),
        # a kid-less TEEP message from a trusted key refused with 604: the clauses naming 604
        # (P-2c among them), not only the vector's flags
        ("no-kid-refused", "vector and esp256-a128gcm and package-other-class"),
        # a refusal whose deliver result omits its code: E-2b, as in the protocol cases
        ("deliver-omits-code", "vector and cbor and array-indefinite"),
        # a state reply without the floors of uninstalled components: the state report (A-4b)
        ("state-without-retired-floors", "vector and esp256-a128gcm and update-rollback"),
        # the vector's provision refused for a member the device does not know: the clauses
        # naming that refusal's code (A-4e, receivers ignore unknown members)
        ("refuses-unknown-members", "vector and esp256-a128gcm and package-other-class"),
        # a QueryRequest without a kid refused with 604 where the vector expects another
        # refusal: the clauses naming the code answered (P-2c), not only E-3a and the flags'
        ("no-kid-refused", "vector and esp256-a128gcm and query-no-challenge"),
        # the floor raised by a refused install: stateAfter after a refusal names P-9a
        ("early-floor", "vector and esp256-a128gcm and payload-fetch-failed"),
        # the exchange kept after a refusal: stateAfter's IDLE names P-10.1a
        ("unexpected-keeps-exchange", "vector and esp256-a128gcm and update-query-response"),
        # decryption moved ahead of the digest check (E-3a by construction), in a CTR profile
        # too (the fault decrypts with the delivery's own content algorithm)
        ("decrypt-first", "vector and esp256-a128ctr and payload"),
    ],
)
def test_vector_replays_attribute_the_harness_checks_to_their_clauses(
    fault: str, keyword: str
) -> None:
    """A vector replay broken by a fault outside the vector's own subject names the clause of
    the check that failed (the harness's evidence check, the refusal's code, the deliver
    result), as the protocol cases do; without that each was collateral to its fault."""
    from edbp.conformance.specificity import measure

    res = measure(fault, keyword=keyword)
    assert res.failed >= 1 and res.specific and not res.unattributed, res.to_json()


def test_side_by_side_clause_ids_share_their_requirement_text() -> None:
    """``[P-2b] [P-2c]`` close one paragraph: both name the codes it names (604 among them)."""
    owed = code_clauses()[604]
    assert "P-2b" in owed and "P-2c" in owed


def test_a_requirement_over_a_table_names_the_codes_of_its_rows() -> None:
    """"Each row of this table is refused with its code. [P-5b]": the rows above it are the
    requirement, so their codes name P-5b (a duplicate key's 103 among them); and the receive
    rule [P-5c] names the strict option's codes, which a default receiver never answers."""
    owed = code_clauses()
    for code in (100, 101, 102, 103, 106, 108, 109, 110):
        assert "P-5b" in owed[code], code
    for code in (105, 111, 112):
        assert owed[code] == ("P-5c",), code
