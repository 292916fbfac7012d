"""Vectors under the vendor's own identity (issue 14 §1): a device whose vendor/class ids are
not the reference device's runs every vector flow, re-derived for its ids, with none skipped
for identity; the report says which vectors ran byte-exact and which were re-derived."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from edbp.conformance.harness import vectors as hv
from edbp.conformance.reference_device import identity_for, reference_identity

ACME = "builtin,vendor=acme-boards.example,class=gateway-7"


def _vector_cases(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["cases"] if c["id"].startswith("vector.")]


def test_another_vendor_runs_every_vector_flow(tmp_path: Path, suite: Any) -> None:
    code, report = suite(tmp_path, ACME, files=("test_vectors.py",))
    assert code == 0, report["summary"]
    cases = _vector_cases(report)
    assert len(cases) > 150
    assert all(c["outcome"] == "passed" for c in cases), [
        (c["id"], c.get("reason") or c.get("actual")) for c in cases if c["outcome"] != "passed"
    ]
    modes = {c["id"]: c["vector"] for c in cases}
    rederived = [i for i, m in modes.items() if m == "re-derived"]
    assert len(rederived) > 100 and all(".deploy." in i for i in rederived)
    vendor, klass = identity_for("acme-boards.example", "gateway-7")
    assert all(
        c["vector_identity"] == f"vendor_id={vendor.hex()} class_id={klass.hex()}"
        for c in cases
        if c["vector"] == "re-derived"
    )
    # flows with no device identity in them (the CBOR decoder's) replay the committed bytes
    assert {m for i, m in modes.items() if i.startswith("vector.cbor.")} == {"byte-exact"}


def test_the_reference_device_runs_every_vector_byte_exact(tmp_path: Path, suite: Any) -> None:
    code, report = suite(tmp_path, "builtin", files=("test_vectors.py",))
    assert code == 0
    assert {c["vector"] for c in _vector_cases(report)} == {"byte-exact"}


def test_without_rederivation_another_vendor_refuses_the_flows(
    tmp_path: Path, suite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seeded flaw: replaying the committed bytes on another vendor's device fails (its
    manifests name example.com's class), so the re-derivation is what makes them pass."""
    monkeypatch.setattr(hv, "needs_rederive", lambda *a: False)
    code, report = suite(
        tmp_path, ACME, "-k", "honest-install", files=("test_vectors.py",)
    )
    failed = [c for c in _vector_cases(report) if c["outcome"] == "failed"]
    assert code == 1 and failed


def test_rederiving_under_the_reference_identity_gives_the_committed_vectors() -> None:
    """The re-derivation is the generator itself: under the reference ids it reproduces the
    committed tests exactly (so under a vendor's ids only the ids and what depends on them
    change)."""
    vendor, klass = reference_identity()
    cases = [c for c in hv.load_vector_cases() if c.file == "deploy/esp256-a128gcm.json"]
    assert cases
    derived = hv._rederived(cases[0].file, vendor, klass)
    for case in cases:
        assert derived[case.test["tcId"]] == case.test


def test_a_bad_builtin_identity_option_is_a_config_error() -> None:
    from edbp.conformance.adapter import open_transport

    from edbp.errors import AdapterError, Code

    with pytest.raises(AdapterError) as exc:
        open_transport("builtin,colour=red")
    assert exc.value.code == Code.CONFORMANCE_CONFIG
