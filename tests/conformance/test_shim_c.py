"""The C shim skeleton (examples/shim-c) builds with gcc and Debian's libcbor and passes the
suite's adapter-basics cases: the "any language" claim of the adapter protocol, tested. Every
other rung of the guide's bring-up ladder gives against it exactly what the guide's table says
(the TEE stand-in has no TA: adapter errors 806, or nothing runs)."""

from __future__ import annotations

import re
import shlex
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from edbp.conformance.adapter import DeviceClient, SubprocessTransport
from edbp.conformance.adapter.client import DeviceError

from edbp.errors import Code

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "examples" / "shim-c"


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None or not Path("/usr/include/cbor.h").exists():
        pytest.skip("gcc or libcbor-dev is not installed (.ci/run installs them)")
    out = tmp_path_factory.mktemp("shim") / "edbp-shim"
    subprocess.run(
        [
            gcc,
            "-std=c11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-o",
            str(out),
            str(SHIM / "shim.c"),
            str(SHIM / "tee_standin.c"),
            "-lcbor",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def test_adapter_basics_pass_against_the_c_shim(tmp_path: Path, suite: Any, shim: Path) -> None:
    code, report = suite(tmp_path, str(shim), flows=("adapter",))
    assert code == 0, report["summary"]
    assert {c["id"]: c["outcome"] for c in report["cases"]} == {
        "adapter.hello": "passed",
        "adapter.unknown-request": "passed",
    }
    (device,) = report["devices"]
    assert device["name"].startswith("edbp-shim-c") and device["profiles"] == ["edbp"]


def test_the_stand_in_says_which_requests_it_does_not_support(shim: Path) -> None:
    with DeviceClient(SubprocessTransport([str(shim)]), timeout=60) as client:
        client.hello()
        assert client.call("state")["agent_state"] == "IDLE"
        for req, args in (("identity", {}), ("deliver", {"message": b"\x00"})):
            with pytest.raises(DeviceError) as exc:
                client.call(req, args)
            assert exc.value.code == Code.ADAPTER_CAPABILITY_MISSING
            assert req in exc.value.detail and "stand-in" in exc.value.detail
        with pytest.raises(DeviceError) as exc:
            client.call("deliver", {"message": "not bytes"})
        assert exc.value.code == Code.ADAPTER_MALFORMED_FRAME


def test_a_malformed_frame_is_answered_with_800_and_a_null_id(shim: Path) -> None:
    body = b"\xff\xff"  # not one CBOR item
    res = subprocess.run(
        [str(shim)],
        input=struct.pack(">I", len(body)) + body,
        capture_output=True,
        timeout=60,
        check=False,
    )
    from edbp.reference.wire import cbor

    (length,) = struct.unpack(">I", res.stdout[:4])
    reply = cbor.loads(res.stdout[4 : 4 + length])  # the strict decoder: deterministic CBOR
    assert reply == {"id": None, "ok": False, "code": 800, "msg": "body is not one CBOR item"}


def _ladder() -> list[tuple[str, list[str], str]]:
    """(rung, its selection as CLI words, what the guide says the skeleton gives) per rung."""
    guide = (ROOT / "docs" / "vendor-guide.md").read_text()
    section = guide.split("## The bring-up ladder", 1)[1].split("\n## ", 1)[0]
    selections: dict[str, list[str]] = {}
    outcomes: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if not cells or not re.match(r"\d\.", cells[0]):
            continue
        if len(cells) == 3:
            selections[cells[0]] = shlex.split(cells[1].strip("`")) if "`" in cells[1] else []
        elif len(cells) == 2:
            outcomes[cells[0]] = cells[1]
    assert selections and set(outcomes) == set(selections), (selections, outcomes)
    return [(rung, selections[rung], outcomes[rung]) for rung in selections]


def _flows_and_tags(words: list[str]) -> dict[str, tuple[str, ...]]:
    opts: dict[str, tuple[str, ...]] = {"flows": (), "tags": ()}
    for flag, value in zip(words[::2], words[1::2], strict=True):
        key = {"--flow": "flows", "--tag": "tags"}[flag]
        opts[key] = (*opts[key], value)
    return opts


@pytest.mark.parametrize("rung", range(6))
def test_each_rung_gives_what_the_guide_says(
    rung: int, tmp_path: Path, suite: Any, shim: Path
) -> None:
    name, words, said = _ladder()[rung]
    code, report = suite(tmp_path, str(shim), **_flows_and_tags(words))
    outcomes = [c["outcome"] for c in report["cases"]]
    ran = [c for c in report["cases"] if c["outcome"] != "skipped"]
    if said.startswith("passes"):
        assert code == 0 and ran and {c["outcome"] for c in ran} == {"passed"}, name
    elif said.startswith("adapter errors"):
        assert code == 1 and ran, name
        assert {c["outcome"] for c in ran} == {"error"}, name
        assert {c["actual"] for c in ran} == {"error 806 ADAPTER_CAPABILITY_MISSING"}, name
        count = re.search(r"all (\d+) ", said)
        if count:
            assert len(ran) == int(count.group(1)), name
    elif said.startswith("nothing runs"):
        assert code == 0 and outcomes and set(outcomes) == {"skipped"}, name
        capability = re.search(r"no `([a-z-]+)` capability", said)
        assert capability, said
        assert all(capability.group(1) in c.get("reason", "") for c in report["cases"]), name
    else:
        raise AssertionError(f"{name}: the guide's table says {said!r}, which no check knows")
