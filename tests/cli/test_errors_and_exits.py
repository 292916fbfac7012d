"""One coded line and a distinct exit status for every way a device or a command line is
wrong (issue 14 §2): the suite is never collected into hundreds of tracebacks, a selection
naming nothing is a usage error, and ``edbp --help`` imports no command group."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edbp.cli import Exit

EDBP = [sys.executable, "-c", "import sys; from edbp.cli import main; sys.exit(main())"]


def edbp(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDBP, *args], capture_output=True, text=True, check=False, timeout=timeout
    )


def _one_error(res: subprocess.CompletedProcess[str], code: int, name: str) -> str:
    lines = res.stderr.strip().splitlines()
    assert "Traceback" not in res.stderr + res.stdout
    assert lines and lines[0].startswith(f"edbp: error {code} {name}: "), res.stderr
    assert len(lines) <= 2 and all(ln.startswith("  hint: ") for ln in lines[1:]), res.stderr
    assert not res.stdout.strip(), res.stdout  # no case was collected or run
    return lines[0]


@pytest.fixture
def http_port() -> Iterator[int]:
    """A port that answers every connection with an HTTP error, as a web server would."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    thread.join(timeout=5)


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])  # closed again when the block ends: connect is refused


@pytest.mark.parametrize(
    ("device", "code", "name", "words"),
    [
        ("bogus-no-such-shim", 805, "ADAPTER_DEVICE_EXITED", "cannot start"),
        ("builtin:nosuchfault", 820, "CONFORMANCE_CONFIG", "unknown fault"),
        ("tcp:127.0.0.1", 820, "CONFORMANCE_CONFIG", "host:port"),
        ("tcp:nosuchhost.invalid:80", 805, "ADAPTER_DEVICE_EXITED", "cannot connect"),
        (
            f"{sys.executable} -c 'import sys; sys.stderr.write(\"no board\\n\")'",
            805,
            "ADAPTER_DEVICE_EXITED",
            "no board",
        ),
    ],
)
def test_a_wrong_device_is_one_line_and_exit_3(
    device: str, code: int, name: str, words: str
) -> None:
    res = edbp("conformance", "run", "--device", device)
    assert res.returncode == Exit.DEVICE
    line = _one_error(res, code, name)
    assert words in line and "device " in line


def test_a_refused_port_and_an_http_port(http_port: int) -> None:
    res = edbp("conformance", "run", "--device", f"tcp:127.0.0.1:{_closed_port()}")
    assert res.returncode == Exit.DEVICE
    assert "refused" in _one_error(res, 805, "ADAPTER_DEVICE_EXITED")
    res = edbp("conformance", "run", "--device", f"tcp:127.0.0.1:{http_port}")
    assert res.returncode == Exit.DEVICE
    line = res.stderr.splitlines()[0]
    assert line.startswith(("edbp: error 801 ", "edbp: error 800 ", "edbp: error 805 "))
    assert "adapter protocol" in res.stderr  # the hint says what is wrong with the peer


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--property", "7"), "did you mean P7?"),
        (("--property", "P99"), "valid: P1, P2"),
        (("--flow", "no-such-flow"), "valid: "),
        (("--case", "no.such.case"), "no case has it"),
        (("--property", "P13", "--flow", "adapter"), "keeps no case"),
    ],
)
def test_a_selection_naming_nothing_is_a_usage_error(args: tuple[str, ...], words: str) -> None:
    res = edbp("conformance", "run", *args)
    assert res.returncode == Exit.USAGE
    assert words in _one_error(res, 850, "CONFORMANCE_SELECTION")


def test_pins_naming_unknown_cases_are_a_usage_error(tmp_path: Path) -> None:
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({"no.such.case": 805}))
    res = edbp("conformance", "run", "--expected-failures", str(pins))
    assert res.returncode == Exit.USAGE
    assert "no.such.case" in _one_error(res, 850, "CONFORMANCE_SELECTION")
    pins.write_text(json.dumps({"adapter.hello": "NOT_A_CODE"}))
    res = edbp("conformance", "run", "--expected-failures", str(pins))
    assert res.returncode == Exit.USAGE


def test_a_typo_option_is_a_usage_error_that_names_the_right_one() -> None:
    res = edbp("conformance", "run", "--proprety", "P1")
    assert res.returncode == Exit.USAGE
    assert res.stderr.startswith("edbp: usage error: No such option '--proprety'")
    assert "--property" in res.stderr and "Traceback" not in res.stderr


def test_list_shows_case_ids_without_a_device() -> None:
    res = edbp("conformance", "run", "--list", "--flow", "adapter", "--device", "bogus")
    assert res.returncode == Exit.OK
    ids = [ln.split()[0] for ln in res.stdout.splitlines()]
    assert "adapter.hello" in ids and all(i.startswith("adapter.") for i in ids)


@pytest.mark.parametrize(
    "address", ["nohost", "127.0.0.1:99999", "nosuchhost.invalid:80", "127.0.0.1:x"]
)
def test_device_serve_with_a_bad_address_is_one_line(address: str) -> None:
    res = edbp("device", "serve", "--tcp", address, "--once", timeout=60)
    assert res.returncode == Exit.DEVICE
    _one_error(res, 870, "CONFORMANCE_SERVE_ADDRESS")


def test_exit_statuses_are_documented_in_help_and_readme() -> None:
    res = edbp("--help")
    assert res.returncode == Exit.OK
    text = " ".join(res.stdout.split())
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for status in Exit:
        assert f"{int(status)} " in text
        assert f"| {int(status)} |" in readme


def test_help_imports_no_command_group() -> None:
    """``edbp --help`` lists every group from ``GROUP_TABLE`` without importing one (the
    start time itself is the ``cli.help`` benchmark, not a test)."""
    code = (
        "import sys\nfrom edbp.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(res.stderr.split())
    heavy = {"cryptography", "pytest", "rich", "z3", "attrs", "edbp.reference", "edbp.cli.demo"}
    assert not heavy & loaded, heavy & loaded
    assert not {m for m in loaded if m.startswith("edbp.cli.")}
    for name in ("conformance", "device", "vectors", "bench"):
        assert name in res.stdout


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` (SystemExit swallowed)."""
    wrapped = (
        "import sys\ntry:\n"
        + "".join(f"    {line}\n" for line in code.splitlines())
        + "except SystemExit:\n    pass\nprint(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", wrapped], capture_output=True, text=True, check=True, timeout=120
    )
    return set(res.stderr.split())


def test_start_up_imports_are_lazy(tmp_path: Path) -> None:
    """What keeps ``edbp --help`` and ``edbp inspect`` fast is structural, so it is checked as
    a module list (the times are the ``cli.help`` and ``cli.inspect`` benchmarks): importing
    ``edbp.cli`` loads no crypto, CBOR, model or test machinery, and ``edbp inspect`` loads the
    wire layer it shows but nothing of the model, the conformance suite, the roles or pytest."""
    loaded = _modules_after("import edbp.cli")
    never = {"cryptography", "cbor2", "attrs", "rich", "z3", "networkx", "pytest", "edbp.model"}
    assert not never & loaded, never & loaded
    assert not {m for m in loaded if m.startswith(("edbp.reference", "edbp.cli."))}

    data = tmp_path / "item.cbor"
    data.write_bytes(bytes.fromhex("d28443a10126a0430a0b0c40"))  # a small COSE_Sign1
    loaded = _modules_after(f"from edbp.cli import main\nmain(['inspect', {str(data)!r}])")
    assert "edbp.reference.wire.inspect" in loaded  # the command did run
    heavy = {"z3", "networkx", "rich", "pytest", "cbor2", "jsonschema", "flask", "pkcs11"}
    assert not heavy & loaded, heavy & loaded
    roles = (
        "edbp.model",
        "edbp.conformance",
        "edbp.bench",
        "edbp.reference.cloud",
        "edbp.reference.device",
        "edbp.reference.build",
        "edbp.reference.optee",
    )
    assert not {m for m in loaded if m.startswith(roles)}


def test_an_unexpected_exception_is_an_internal_error_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from edbp.cli import cli, main

    @cli.command("_boom_for_test", hidden=True)
    def _boom() -> None:
        raise RuntimeError("boom")

    # set, then delete: monkeypatch only restores a variable it saw, and ``--debug`` sets
    # EDBP_DEBUG in this worker's environment, where it would leak into later subprocesses
    monkeypatch.setenv("EDBP_DEBUG", "")
    monkeypatch.delenv("EDBP_DEBUG")
    try:
        with pytest.raises(SystemExit) as exc:
            main(["_boom_for_test"])
        assert exc.value.code == Exit.INTERNAL
        err = capsys.readouterr().err
        assert err.startswith("edbp: internal error: RuntimeError: boom") and "Traceback" not in err
        with pytest.raises(RuntimeError):
            main(["--debug", "_boom_for_test"])
    finally:
        cli.commands.pop("_boom_for_test", None)


def test_plain_pytest_with_an_unreachable_device_stops_with_one_line() -> None:
    """A vendor's own ``pytest --pyargs edbp.conformance.cases`` gets the same one line and
    exit status 3, not one error per case."""
    from edbp.cli.conformance import _cases_dir, _ini

    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(_cases_dir()),
            "-c",
            str(_ini()),
            "--rootdir",
            str(_cases_dir()),
            "--edbp-device",
            f"tcp:127.0.0.1:{_closed_port()}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert res.returncode == 3
    assert "edbp: error 805 ADAPTER_DEVICE_EXITED" in res.stdout
    assert res.stdout.count("ADAPTER_DEVICE_EXITED") == 1 and "Traceback" not in res.stdout
