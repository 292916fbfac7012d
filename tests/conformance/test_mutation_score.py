"""Proof that the suite bites: every seeded faulty device fails at least one case guarding a
property it breaks. The score (faults caught / faults) is printed and must be 100 %.

Each fault runs in-process (``builtin:FAULT``) on the cases of its own properties, stopping
at the first failure, which keeps the whole catalogue well under a minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from edbp.conformance.faults import FAULTS, check_fault

from edbp.errors import ConfigError

CAUGHT = ("failed", "error")


#: the edbp-profile case modules; the vector replay only for faults that need malformed input
CASE_FILES = (
    "test_adapter_basics.py",
    "test_authenticity.py",
    "test_binding.py",
    "test_deploy.py",
    "test_freshness.py",
    "test_keys.py",
    "test_payload.py",
    "test_power_cut.py",
    "test_revocation.py",
    "test_rollback.py",
    "test_ta_image.py",
    "test_pq.py",
)
VECTOR_FAULTS = {"crash-on-malformed"}


def _caught(suite: Any, tmp_path: Path, name: str) -> list[str]:
    fault = FAULTS[name]
    files = CASE_FILES + (("test_vectors.py",) if name in VECTOR_FAULTS else ())
    code, report = suite(
        tmp_path,
        f"builtin:{name}",
        "--tb=no",
        name=name,
        files=files,
        properties=fault.properties,
        exitfirst=True,
    )
    hits = [
        c["id"]
        for c in report["cases"]
        if c["outcome"] in CAUGHT and set(c["properties"]) & set(fault.properties)
    ]
    assert code != 0 or not hits
    return hits


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
