"""The committed vectors regenerate byte for byte and verify (digests, schema, CDDL)."""

import shutil
from pathlib import Path

import pytest

from edbp.vectorgen.registry import check, generate
from edbp.vectorgen.verify import verify

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def test_committed_vectors_regenerate_byte_for_byte() -> None:
    assert check(VECTORS) == []


def test_committed_vectors_verify() -> None:
    assert verify(VECTORS) == []


def test_verify_catches_a_changed_byte(tmp_path: Path) -> None:
    generate(tmp_path, only="wire")
    victim = next(tmp_path.rglob("*.json"))
    if victim.name == "index.json":
        victim = sorted(tmp_path.rglob("*.json"))[-1]
    data = bytearray(victim.read_bytes())
    data[data.index(b'"comment"') + 12] ^= 1
    victim.write_bytes(bytes(data))
    problems = verify(tmp_path)
    assert any("SHA-256 differs" in p for p in problems)


def test_check_catches_a_stale_file(tmp_path: Path) -> None:
    shutil.copytree(VECTORS, tmp_path / "v")
    (tmp_path / "v" / "wire" / "stale.json").write_text("{}")
    assert "not generated any more: wire/stale.json" in check(tmp_path / "v")


@pytest.mark.parametrize("seed", ["a", "b"])
def test_other_seeds_give_valid_files(tmp_path: Path, seed: str) -> None:
    generate(tmp_path, seed, only="deploy")
    assert verify(tmp_path) == []
