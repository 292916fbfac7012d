"""Flaws, faults and cases share one naming scheme (issue 14 §3; spec/README.md "Names",
``edbp.conformance.naming``): every model flaw, every seeded device fault and every case id the
suite lists follows it, and no name repeats within its kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edbp.conformance.naming import problems

ROOT = Path(__file__).resolve().parents[2]
EDBP = [sys.executable, "-c", "import sys; from edbp.cli import main; sys.exit(main())"]


def test_the_rule_bites() -> None:
    assert problems("flaw", ["agent_skips_rollback_check"])  # snake_case
    assert problems("fault", ["Skip-Rollback"]) and problems("fault", ["skip--rollback"])
    assert problems("fault", ["rollback.skip"])  # a dot makes it a case id, not a name
    assert problems("case", ["preset-floor"])  # no area
    assert problems("case", ["vector.cbor.valid.uint-2^32"])
    assert problems("case", ["keys.per-device", "keys.per-device"])  # repeated
    assert not problems("case", ["bp.advisory.padding-oracle", "vector.cbor.valid.uint-2pow32"])
    assert not problems("flaw", ["agent-skips-rollback-check", "author-reuses-iv"])


def test_model_flaws_follow_the_scheme() -> None:
    from edbp.model.flaws import FLAWS

    assert FLAWS and not problems("flaw", [f.name for f in FLAWS])


def test_device_faults_follow_the_scheme() -> None:
    from edbp.conformance.faults import FAULTS

    assert FAULTS and not problems("fault", list(FAULTS))


def test_every_listed_case_id_follows_the_scheme() -> None:
    """What ``--list`` shows (the ids ``--case``, pins and every report use), vector replays
    included."""
    res = subprocess.run(
        [*EDBP, "conformance", "run", "--device", "builtin", "--list"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    ids = [line.split()[0] for line in res.stdout.splitlines() if line.strip()]
    assert len(ids) > 300 and any(i.startswith("vector.") for i in ids)
    assert not problems("case", ids)


def test_the_rule_is_written_down() -> None:
    readme = (ROOT / "spec" / "README.md").read_text()
    assert "## Names" in readme and "edbp.conformance.naming" in readme
