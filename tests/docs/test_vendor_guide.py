"""docs/vendor-guide.md against what it documents: every request and capability of
spec/adapter.cddl, every option of `edbp conformance run`, the refusal rule of
spec/adapter.md, and a bring-up ladder whose every rung is a selection that keeps cases."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from edbp.conformance.plugin import Selection, check_selection

from edbp.cli.conformance import collect_metas, run

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "vendor-guide.md").read_text()
CDDL = (ROOT / "spec" / "adapter.cddl").read_text()


def _first_cells(heading: str) -> list[str]:
    """The first column of the table that follows ``heading`` in the guide."""
    section = GUIDE.split(heading, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            rows.append(line.split("|")[1].strip())
        elif rows:
            break
    return rows[2:]  # header and rule


def test_every_request_of_the_cddl_is_in_the_request_table() -> None:
    requests = set(re.findall(r'request-of<"([a-z_]+)"', CDDL))
    assert {"hello", "deliver", "power_cut", "cpm"} <= requests
    table = {re.match(r"`([a-z_]+)`", c).group(1) for c in _first_cells("## What the shim answers")}
    assert requests | {"fetch"} == table


def test_every_capability_of_the_cddl_is_in_the_capability_table() -> None:
    rule = re.search(r"^adapter-capability = (.+)$", CDDL, re.M)
    assert rule is not None
    capabilities = set(re.findall(r'"([a-z-]+)"', rule.group(1)))
    table = {c.strip("`") for c in _first_cells("## Capabilities")}
    assert capabilities == table


def test_every_option_of_conformance_run_is_documented() -> None:
    options = {
        opt
        for param in run.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--") or opt in ("-k", "-m")
    }
    for opt in options:
        assert f"`{opt}" in GUIDE or f", `{opt}`" in GUIDE, opt


def test_the_guide_states_the_refusal_rule_of_adapter_md() -> None:
    text = " ".join(GUIDE.split())
    assert "answers the `deliver` with **`ok: true`**" in text
    assert "`ok: false` is only for the adapter itself refusing" in text
    assert "A refusal of the TA is a reply with `ok: false`" not in text
    adapter = " ".join((ROOT / "spec" / "adapter.md").read_text().split())
    assert "Protocol refusals are not error replies." in adapter



def _rung_selections() -> list[tuple[str, Selection]]:
    section = GUIDE.split("## The bring-up ladder", 1)[1].split("\n## ", 1)[0]
    out = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) != 3 or not re.match(r"\d\.", cells[0]):
            continue
        args = shlex.split(cells[1].strip("`")) if cells[1].startswith("`") else []
        values: dict[str, list[str]] = {"--flow": [], "--tag": [], "--property": [], "--case": []}
        for flag, value in zip(args[::2], args[1::2], strict=True):
            values[flag].append(value)
        out.append(
            (
                cells[0],
                Selection(
                    properties=tuple(values["--property"]),
                    flows=tuple(values["--flow"]),
                    tags=tuple(values["--tag"]),
                    cases=tuple(values["--case"]),
                ),
            )
        )
    return out


def test_every_rung_of_the_ladder_selects_cases() -> None:
    rungs = _rung_selections()
    assert len(rungs) >= 6
    metas = collect_metas()
    for name, selection in rungs:
        assert check_selection(metas, selection) > 0, name  # raises CONFORMANCE_SELECTION


def test_pinned_case_ids_in_the_guide_exist() -> None:
    metas = collect_metas()
    ids = {m.id for m in metas}
    for case_id in re.findall(r'\{"([a-z0-9.\-]+)": "[A-Z_]+"\}', GUIDE):
        assert case_id in ids, case_id


@pytest.mark.parametrize("path", ["README.md", "docs/vendor-guide.md"])
def test_the_c_skeleton_the_docs_point_to_exists(path: str) -> None:
    text = (ROOT / path).read_text()
    if "examples/shim-c" in text:
        for name in ("shim.c", "ta_interface.h", "tee_standin.c", "tee_teec.c", "Makefile"):
            assert (ROOT / "examples" / "shim-c" / name).exists(), name
