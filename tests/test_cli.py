"""The CLI's shape: every command group answers --help; unbuilt groups say so and exit 2."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from edbp.cli import GROUPS, cli, main


def test_top_level_help_lists_every_group() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in GROUPS:
        assert name in result.output


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_group_has_help(group: str) -> None:
    result = CliRunner().invoke(cli, [group, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-group"])
    assert result.exit_code == 2


def test_placeholder_exits_2() -> None:
    from edbp.cli import not_built

    result = CliRunner().invoke(not_built("x", "summary", "issue 0"), [])
    assert result.exit_code == 2
    assert "not built yet" in result.output


def test_main_turns_edbp_errors_into_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    import click

    from edbp.errors import Code, WireError

    @cli.command("_raise_for_test", hidden=True)
    def _raise() -> None:
        raise WireError(Code.CBOR_TRUNCATED, "short")

    try:
        with pytest.raises(SystemExit) as exc:
            main(["_raise_for_test"])
        assert exc.value.code == 1
        err = capsys.readouterr().err
        assert "101 CBOR_TRUNCATED" in err and "Traceback" not in err
    finally:
        cli.commands.pop("_raise_for_test", None)
    assert isinstance(cli, click.Group)


def test_console_script_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from edbp.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0
    assert "edbp" in out.stdout
