"""`edbp demo`: every expected outcome happens, on the embedded defaults and on SoftHSM2 + a
local OCI registry when those are installed."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from rich.console import Console

from edbp.cli.demo import command, run_demo


def test_demo_embedded_defaults(tmp_path) -> None:
    out = io.StringIO()
    assert run_demo(Console(file=out, width=120), workdir=tmp_path)
    text = out.getvalue()
    assert "✗" not in text
    for step in (
        "AGENT_NOT_FOR_THIS_DEVICE",
        "AGENT_REPLAY",
        "TAM_DEVICE_REVOKED",
        "class-gateway#2",
    ):
        assert step in text


def test_demo_command_exit_status() -> None:
    result = CliRunner().invoke(command, [])
    assert result.exit_code == 0, result.output[-2000:]
    assert "expected outcomes happened" in result.output


@pytest.mark.softhsm
@pytest.mark.slow
def test_demo_on_pkcs11_and_oci(tmp_path) -> None:
    from edbp.reference.build.registry_server import docker_registry_unavailable_reason
    from edbp.reference.cloud.softhsm import softhsm_unavailable_reason

    reason = softhsm_unavailable_reason() or docker_registry_unavailable_reason()
    if reason:
        pytest.skip(reason)
    out = io.StringIO()
    ok = run_demo(Console(file=out, width=120), hsm="pkcs11", registry="oci", workdir=tmp_path)
    assert ok, out.getvalue()[-3000:]
