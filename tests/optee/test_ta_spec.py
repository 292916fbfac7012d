"""spec/ta-image.md lists every named negative case with the code the loader gives it."""

from __future__ import annotations

from pathlib import Path

from edbp.reference.optee.mutations import MUTATIONS

SPEC = Path(__file__).resolve().parents[2] / "spec" / "ta-image.md"


def test_spec_table_matches_the_catalogue() -> None:
    text = SPEC.read_text()
    rows = {
        line.split("`")[1]: line.split("`")[3]
        for line in text.splitlines()
        if line.startswith("| `") and line.count("`") >= 4 and "(" in line
    }
    for name, (_func, code) in MUTATIONS.items():
        assert rows.get(name) == code.name, f"{name} missing or wrong in spec/ta-image.md"
