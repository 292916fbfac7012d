"""The C shim skeleton (examples/shim-c) builds with gcc and Debian's libcbor and passes the
suite's adapter-basics cases: the "any language" claim of the adapter protocol, tested."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from edbp.conformance.adapter import DeviceClient, SubprocessTransport
from edbp.conformance.adapter.client import DeviceError

from edbp.errors import Code

SHIM = Path(__file__).resolve().parents[2] / "examples" / "shim-c"


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
