"""Proof that the suite bites: every seeded faulty device fails at least one case that names
the spec clause it breaks (spec/coverage.md). The score (faults caught / faults) is printed and
must be 100 %.

Each fault runs in-process (``builtin:FAULT``) on only the cases naming its clauses (the
coverage matrix), stopping at the first failure; the honest device passes those same cases
(``test_honest_device_passes_every_clause_case``), so a catch is the fault's doing. This keeps
the whole catalogue to about a second per fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from edbp.conformance.coverage import build_matrix
from edbp.conformance.faults import FAULTS, check_fault

from edbp.errors import ConfigError

CAUGHT = ("failed", "error")


#: the edbp-profile case modules; the vector replay only for faults that need malformed input
CASE_FILES = (
    "test_adapter_basics.py",
    "test_authenticity.py",
    "test_binding.py",
    "test_components.py",
    "test_deploy.py",
    "test_freshness.py",
    "test_keys.py",
    "test_payload.py",
    "test_power_cut.py",
    "test_revocation.py",
    "test_rollback.py",
    "test_strict_input.py",
    "test_ta_image.py",
    "test_pq.py",
    "test_interop.py",
    "test_signature_layers.py",
    "test_signature_algorithms.py",
    "test_suit_uninstall.py",
)
VECTOR_FAULTS = {"crash-on-malformed"}
#: the blueprint-profile case modules, for the faults of that profile (faults_blueprint.py)
BLUEPRINT_FILES = (
    "test_blueprint_contract.py",
    "test_blueprint_advisories.py",
    "test_blueprint_vectors.py",
)


def _cases_for(name: str) -> list[str]:
    matrix = build_matrix()
    # explore.lockstep runs only with --explore N (a selection naming it alone is refused)
    cases = {c for clause in FAULTS[name].clauses for c in matrix.cases_of(clause)}
    return sorted(cases - {"explore.lockstep"})


def _caught(suite: Any, tmp_path: Path, name: str) -> list[str]:
    fault = FAULTS[name]
    files = CASE_FILES + (("test_vectors.py",) if name in VECTOR_FAULTS else ())
    if fault.profile == "blueprint":
        files = BLUEPRINT_FILES
    cases = _cases_for(name)
    code, report = suite(
        tmp_path,
        f"builtin:{name}",
        "--tb=no",
        name=name,
        files=files,
        cases=tuple(cases) if name not in VECTOR_FAULTS else (),
        properties=fault.properties if name in VECTOR_FAULTS else (),
        exitfirst=True,
    )
    caught = [
        c
        for c in report["cases"]
        if c["outcome"] in CAUGHT
        and (
            (
                any(c["id"] == k or c["id"].startswith(k + ".") for k in cases)  # parametrized
                # caught for the right reason: the failure names a clause the fault breaks,
                # not an unrelated check of the harness the fault happened to trip first
                and set(c.get("violates", ())) & set(fault.clauses)
            )
            or (name in VECTOR_FAULTS and c["id"].startswith("vector"))
        )
    ]
    assert code != 0 or not caught
    # a faulty device that crashed inside its own Agent (AGENT_BAD_STATE: an exception the
    # reference catches and fails closed on) is a broken fault, not a catch
    for c in caught:
        assert "AGENT_BAD_STATE" not in str(c.get("actual", "")), (name, c["id"], c["actual"])
    return [c["id"] for c in caught]


def test_honest_device_passes_every_clause_case(tmp_path: Path, suite: Any) -> None:
    """The guard of the score: the honest device passes every case the faults are run on."""
    code, report = suite(tmp_path, "builtin", "--tb=short", files=CASE_FILES)
    failed = [c["id"] for c in report["cases"] if c["outcome"] in CAUGHT]
    assert code == 0 and not failed, failed


def test_every_fault_names_a_clause_with_cases() -> None:
    for name, fault in FAULTS.items():
        assert fault.clauses, name
        assert _cases_for(name), name


def test_mutation_score(tmp_path: Path, suite: Any, capsys: pytest.CaptureFixture[str]) -> None:
    caught: dict[str, list[str]] = {}
    for name in FAULTS:
        (tmp_path / name).mkdir()
        caught[name] = _caught(suite, tmp_path / name, name)
    score = sum(1 for hits in caught.values() if hits)
    percent = 100 * score // len(FAULTS)
    with capsys.disabled():
        print(f"\nmutation score: {score}/{len(FAULTS)} faults caught ({percent} %)")
        for name, hits in caught.items():
            print(f"  {name:<24} {'caught by ' + hits[0] if hits else 'NOT CAUGHT'}")
    assert score == len(FAULTS), [n for n, h in caught.items() if not h]


def test_catalogue_covers_every_property_and_duty() -> None:
    props = {p for f in FAULTS.values() for p in f.properties}
    assert {f"P{i}" for i in range(1, 14)} <= props
    duties = {f.duty for f in FAULTS.values() if f.duty}
    for duty in (
        "skips rollback check",
        "accepts equal sequence number",
        "decrypts before verifying",
        "accepts a delivery meant for another device",
        "ignores class id",
        "reuses nonces in reports",
        "leaves a partial install on failure",
        "crashes on malformed CBOR",
        "answers with the wrong error code",
        "leaks CEK to REE",
        "ignores TAM signature",
        "accepts stale challenge",
    ):
        assert duty in duties


def test_unknown_fault() -> None:
    assert check_fault(None) is None
    with pytest.raises(ConfigError, match="unknown fault 'nope'"):
        check_fault("nope")
