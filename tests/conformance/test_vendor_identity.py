"""Vectors under the vendor's own identity (issue 14 §1): a device whose vendor/class ids are
not the reference device's, or whose keys never leave it (no ``test-keys``), runs every vector
flow, re-derived for its ids and keys, with none skipped for identity; the report says which
vectors ran byte-exact and which were re-derived (and for which identity)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from edbp.conformance.faults import FAULTS
from edbp.conformance.harness import vectors as hv
from edbp.conformance.reference_device import identity_for, reference_identity

from edbp.vectorgen import rederive as rd

ACME = "builtin,vendor=acme-boards.example,class=gateway-7"
#: the same vendor's board keeping its own DAK/DSK/UEID: no test-keys, P-256 suites only
BOARD = ACME + ",keys=own"
#: why a vector case may skip on such a board: capabilities and suites, never identity
CAPABILITY_SKIPS = {
    "device does not declare suite ed25519-a128gcm",
    "device does not declare suite mldsa65-hpke-xwing-a128gcm",
    "presetting SUIT floors needs the test-keys capability",
}
IDENTITY_WORDS = ("vendor", "class", "ueid", "identity", "differs", "test-keys capability")


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
    monkeypatch.setattr(hv, "needs_rederive", lambda *a, **k: False)
    code, report = suite(tmp_path, ACME, "-k", "honest-install", files=("test_vectors.py",))
    failed = [c for c in _vector_cases(report) if c["outcome"] == "failed"]
    assert code == 1 and failed


def test_rederiving_under_the_reference_identity_gives_the_committed_vectors() -> None:
    """The re-derivation is the generator itself: under the reference ids it reproduces the
    committed tests exactly (so under a vendor's ids only the ids and what depends on them
    change)."""
    vendor, klass = reference_identity()
    cases = [c for c in hv.load_vector_cases() if c.file == "deploy/esp256-a128gcm.json"]
    assert cases
    device = rd.DeviceIdentity(vendor, klass, b"", b"", b"", test_keys=True)
    for case in cases:
        assert rd.rederive("deploy/esp256-a128gcm", case.test, device) == case.test


def test_a_board_with_its_own_keys_runs_every_vector_flow(tmp_path: Path, suite: Any) -> None:
    """Its own vendor id and its own keys: every vector flow the board's suites cover runs,
    re-derived with the board (its evidence, its DAK); none is skipped for identity."""
    code, report = suite(tmp_path, BOARD, files=("test_vectors.py",))
    assert code == 0, report["summary"]
    cases = _vector_cases(report)
    skipped = {c["id"]: c.get("reason", "") for c in cases if c["outcome"] == "skipped"}
    assert not [r for r in skipped.values() if any(w in r for w in IDENTITY_WORDS[:-1])]
    assert set(skipped.values()) <= CAPABILITY_SKIPS, set(skipped.values())
    assert all(
        ".ed25519-" in i or ".mldsa65-" in i or "sequence" in i or "rollback" in i
        for i in skipped
    ), skipped
    ran = [c for c in cases if c["outcome"] == "passed"]
    rederived = [c for c in ran if c["vector"] == "re-derived"]
    exact = [c for c in ran if c["vector"] == "byte-exact"]
    # both deploy files of the P-256 suites, minus the four preset-floor tests
    p256 = [c for c in hv.load_vector_cases() if c.file.startswith("deploy/esp256-")]
    assert len(rederived) == len(p256) - 4, len(rederived)
    assert exact and all(c["id"].startswith("vector.cbor.") for c in exact)
    identities = {c["vector_identity"] for c in rederived}
    assert len(identities) == 1  # one board, its keys kept by the vector cases' resets
    (identity,) = identities
    vendor, klass = identity_for("acme-boards.example", "gateway-7")
    assert identity.startswith(f"vendor_id={vendor.hex()} class_id={klass.hex()} ueid=")
    assert identity.endswith("(the device's own keys)")
    assert report["summary"].get("failed", 0) == 0 and report["summary"].get("error", 0) == 0
    schema = json.loads((Path(__file__).parents[2] / "spec" / "report.schema.json").read_text())
    jsonschema.validate(report, schema)


def test_without_own_key_rederivation_the_board_fails_the_flows(
    tmp_path: Path, suite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seeded flaw: re-derived for the board's ids only, the flows still carry test keys
    the board cannot take (806), so the own-key re-derivation is what makes them pass."""
    monkeypatch.setattr(rd, "needs_own_keys", lambda *a: False)
    code, report = suite(tmp_path, BOARD, "-k", "honest-install", files=("test_vectors.py",))
    failed = [c for c in _vector_cases(report) if c["outcome"] == "failed"]
    assert code == 1 and failed


def test_replay_rederives_for_a_device_target_instead_of_skipping() -> None:
    """The generic replay (``replay_test``): a device the committed bytes do not fit fails
    with a pointer to re-derivation without ``source``, and passes with it."""
    from edbp.conformance.reference_device import VendorBoard, identity

    from edbp.vectorgen.replay import ReferenceTarget, replay_test

    with identity(*identity_for("acme-boards.example", "gateway-7")):
        target = ReferenceTarget(VendorBoard())
    cases = [c for c in hv.load_vector_cases() if c.file == "deploy/esp256-a128gcm.json"]
    for tc in ("valid.honest-install", "invalid.update-for-other-device"):
        case = next(c for c in cases if c.test["tcId"].endswith(tc))
        group = {"profile": "edbp"}
        bare = replay_test(case.test, group, target)
        assert not bare.passed and bare.skipped is None
        assert any("re-derive" in f for f in bare.failures), bare.failures
        outcome = replay_test(case.test, group, target, source="deploy/esp256-a128gcm")
        assert outcome.passed, outcome.failures


def test_a_bad_builtin_identity_option_is_a_config_error() -> None:
    from edbp.conformance.adapter import open_transport

    from edbp.errors import AdapterError, Code

    for spec in (
        "builtin,colour=red",
        "builtin,keys=test",
        "builtin:" + next(iter(FAULTS)) + ",keys=own",
    ):
        with pytest.raises(AdapterError) as exc:
            open_transport(spec).close()
        assert exc.value.code == Code.CONFORMANCE_CONFIG, spec


def test_a_served_board_keeps_its_keys_only_when_asked() -> None:
    """``edbp device serve --own-keys``: no test-keys; ``reset`` makes new keys unless
    ``keep_keys`` (spec/adapter.md), which the vector cases of such a board rely on."""
    import sys

    from edbp.conformance.adapter import DeviceClient, SubprocessTransport
    from edbp.conformance.adapter.client import DeviceError

    cmd = [sys.executable, "-c", "import sys; from edbp.cli import main; sys.exit(main())"]
    serve = [*cmd, "device", "serve", "--stdio", "--own-keys", "--vendor", "acme.example"]
    with DeviceClient(SubprocessTransport(serve), timeout=120) as client:
        info = client.hello()
        assert not info.supports("test-keys") and info.supports("power-cut")
        first = client.call("identity")
        assert first["vendor_id"] == identity_for("acme.example", "reference-device")[0]
        client.call("reset", {"keep_keys": True})
        assert client.call("identity") == first
        client.call("reset")
        assert client.call("identity")["ueid"] != first["ueid"]
        with pytest.raises(DeviceError):
            client.call("provision", {"tam_keys": [], "author_keys": [], "floors": []})
