"""The blueprint profile of the conformance suite, run on both CPM behaviours.

The as-published CPM must pass every contract case and show every advisory; the fixed CPM must
pass every case with no advisory; both in-process and through a subprocess speaking the adapter
on stdin/stdout. A device declaring only ``blueprint`` skips the edbp cases (and the reference
device skips the blueprint ones). Seeded faults show the contract cases bite.
"""

from __future__ import annotations

import functools
import io
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from edbp.conformance import adapter as adapter_pkg
from edbp.conformance.adapter import DeviceClient, InProcessTransport
from edbp.conformance.adapter.client import DeviceError
from edbp.conformance.adapter.server import serve_socket
from edbp.conformance.blueprint_device import CpmDevice, blueprint_serve, make_cpm_backend
from edbp.reference.blueprint import cpm as C
from edbp.reference.blueprint import crypto

from edbp.cli.conformance import build_pytest_args
from edbp.errors import Code, ConfigError

pytest_plugins = ["pytester"]

CONTRACT = {
    "bp.ping-version",
    "bp.operations-supported",
    "bp.export-key",
    "bp.install-key",
    "bp.deploy-valid",
    "bp.refuse.key-strength",
    "bp.refuse.iv-size",
    "bp.refuse.tag-size",
    "bp.refuse.tag-mismatch",
    "bp.refuse.key-size",
    "bp.refuse.ta-rollback",
}
ADVISORIES = {
    "bp.advisory.padding-oracle",
    "bp.advisory.signature-not-enforced",
    "bp.advisory.manifest-unbound",
    "bp.advisory.single-key-slot",
    "bp.advisory.device-key-reload",
    "bp.advisory.package-rollback",
}


class _PingVersion2(CpmDevice):
    """Fault: ping answers contract version 2."""

    def _call(self, call: C.Call) -> C.Reply:
        reply = super()._call(call)
        return C.Reply(0, version=2) if isinstance(call, C.Ping) else reply


class _IvUnchecked(CpmDevice):
    """Fault: the shim pads a short IV to 12 bytes instead of letting the CPM refuse it."""

    def _call(self, call: C.Call) -> C.Reply:
        if isinstance(call, C.InitializeDecryptionAesGcm) and len(call.iv) < 12:
            call = C.InitializeDecryptionAesGcm(
                call.application_id, call.key_strength, call.iv.ljust(12, b"\0"), call.tag
            )
        return super()._call(call)


class _LeakyUnwrap(CpmDevice):
    """Fault on a fixed CPM: the shim logs the unwrap's mbedtls code to the REE again."""

    def _call(self, call: C.Call) -> C.Reply:
        reply = super()._call(call)
        key = self.cpm._device_key
        if isinstance(call, C.InstallApplicationKey) and reply.rc != 0 and key is not None:
            ret = crypto.pkcs1v15_decode(key, call.wrapped, 33).ret
            self._log.append(f"unwrap ({ret & 0xFFFFFFFF:x})")
        return reply


FAULTS: dict[str, tuple[type[CpmDevice], str]] = {
    "ping-version-2": (_PingVersion2, "as-published"),
    "iv-unchecked": (_IvUnchecked, "as-published"),
    "leaky-unwrap": (_LeakyUnwrap, "fixed"),
}


@pytest.fixture
def inprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """``blueprint:BEHAVIOUR`` and ``blueprint-fault:NAME`` device specs, in-process.
    (What ``open_transport`` offers for ``builtin``; the wrapper defers every other spec.)"""
    original = adapter_pkg.open_transport

    def open_transport(spec: str) -> Any:
        kind, _, arg = spec.partition(":")
        if kind == "blueprint":
            return InProcessTransport(blueprint_serve(arg), name=spec)
        if kind == "blueprint-fault":
            fault, behaviour = FAULTS[arg]
            backend = fault(behaviour)  # type: ignore[arg-type]
            return InProcessTransport(lambda sock: serve_socket(sock, backend), name=spec)
        return original(spec)

    monkeypatch.setattr(adapter_pkg, "open_transport", open_transport)


def _stdio(behaviour: str) -> str:
    code = (
        "from edbp.conformance.blueprint_device import make_cpm_backend; "
        "from edbp.conformance.adapter.server import serve_stdio; "
        f"serve_stdio(make_cpm_backend({behaviour!r}))"
    )
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def _run(
    pytester: pytest.Pytester, spec: str, *extra: str, keyword: str | None = "blueprint"
) -> tuple[int, dict[str, dict[str, Any]]]:
    out = Path(pytester.path) / "report.json"
    args = build_pytest_args(
        [spec], json_out=str(out), keyword=keyword, timeout=60.0, case_timeout=120.0
    )
    result = pytester.runpytest_inprocess(*args, *extra)
    report = json.loads(out.read_text())
    return int(result.ret), {c["id"]: c for c in report["cases"]}


def _outcomes(cases: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {cid: c["outcome"] for cid, c in cases.items()}


def _split(cases: dict[str, dict[str, Any]]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """(outcomes of the contract and advisory cases, vector replay cases)."""
    vectors = {cid: c for cid, c in cases.items() if cid.startswith("bp.vector.")}
    return {cid: c["outcome"] for cid, c in cases.items() if cid not in vectors}, vectors


def _check_vectors(vectors: dict[str, dict[str, Any]], behaviour: str, replayed: bool) -> None:
    """The device's own behaviour's vectors pass, the other behaviour's are skipped."""
    if not replayed:
        assert not vectors
        return
    assert {c["suite"] for c in vectors.values()} == {"as-published", "fixed"}
    for cid, c in vectors.items():
        assert c["outcome"] == ("passed" if c["suite"] == behaviour else "skipped"), (cid, c)


def _check_as_published(ret: int, cases: dict[str, dict[str, Any]], replayed: bool = True) -> None:
    main, vectors = _split(cases)
    assert main == {
        **{cid: "passed" for cid in CONTRACT},
        **{cid: "advisory" for cid in ADVISORIES},
    }
    _check_vectors(vectors, "as-published", replayed)
    assert ret == 0
    oracle = cases["bp.advisory.padding-oracle"]
    assert "Bleichenbacher" in oracle["finding"]
    assert "unwrap error" in oracle["evidence"] and "size mismatch (16)" in oracle["evidence"]
    assert all(cases[cid]["profile"] == "blueprint" for cid in cases)


def _check_fixed(ret: int, cases: dict[str, dict[str, Any]], replayed: bool = True) -> None:
    main, vectors = _split(cases)
    assert main == {cid: "passed" for cid in CONTRACT | ADVISORIES}
    _check_vectors(vectors, "fixed", replayed)
    assert ret == 0


@pytest.mark.usefixtures("inprocess")
def test_as_published_inprocess(pytester: pytest.Pytester) -> None:
    _check_as_published(*_run(pytester, "blueprint:as-published"))


@pytest.mark.usefixtures("inprocess")
def test_fixed_inprocess(pytester: pytest.Pytester) -> None:
    _check_fixed(*_run(pytester, "blueprint:fixed"))


@pytest.mark.parametrize("behaviour", ["as-published", "fixed"])
def test_through_subprocess(pytester: pytest.Pytester, behaviour: str) -> None:
    """The same cases through a subprocess device (vector replay is left to the in-process
    runs: it exercises the device, not the transport)."""
    ret, cases = _run(pytester, _stdio(behaviour), keyword="blueprint and not blueprint_vector")
    check = _check_as_published if behaviour == "as-published" else _check_fixed
    check(ret, cases, replayed=False)


@pytest.mark.usefixtures("inprocess")
def test_blueprint_device_skips_edbp_cases(pytester: pytest.Pytester) -> None:
    """The whole suite: every edbp-profile case is skipped with a reason, none fails, and the
    blueprint cases run as in a selected run."""
    _, cases = _run(pytester, "blueprint:fixed", keyword="not test_vector")
    edbp = {cid: c for cid, c in cases.items() if c["profile"] == "edbp"}
    assert edbp, "the edbp cases were collected"
    assert {c["outcome"] for c in edbp.values()} == {"skipped"}
    assert all(
        "profile" in c.get("reason", "") or "capability" in c.get("reason", "")
        for c in edbp.values()
    )
    main, vectors = _split({cid: c for cid, c in cases.items() if cid.startswith("bp.")})
    assert main == {cid: "passed" for cid in CONTRACT | ADVISORIES}
    _check_vectors(vectors, "fixed", replayed=True)


def test_reference_device_skips_blueprint_cases(pytester: pytest.Pytester) -> None:
    ret, cases = _run(pytester, "builtin")
    assert set(_split(cases)[0]) == CONTRACT | ADVISORIES
    assert {c["outcome"] for c in cases.values()} == {"skipped"}
    assert ret == 0


@pytest.mark.usefixtures("inprocess")
@pytest.mark.parametrize(
    ("fault", "case_id", "outcome", "step"),
    [
        ("ping-version-2", "bp.ping-version", "failed", "ping"),
        ("iv-unchecked", "bp.refuse.iv-size", "failed", "IV of 11 bytes"),
        # a weakness on a device declaring the fixed suite is a failure, not an advisory
        (
            "leaky-unwrap",
            "bp.advisory.padding-oracle",
            "failed",
            "weakness closed (the device declares the fixed suite)",
        ),
    ],
)
def test_faults_are_caught(
    pytester: pytest.Pytester, fault: str, case_id: str, outcome: str, step: str | None
) -> None:
    ret, cases = _run(pytester, f"blueprint-fault:{fault}", "--edbp-case", case_id)
    assert _outcomes(cases) == {case_id: outcome}
    assert cases[case_id].get("step") == step
    assert ret == (1 if outcome == "failed" else 0)


# ----------------------------------------------------------------------------- the backend


@pytest.fixture
def client() -> Any:
    c = DeviceClient(InProcessTransport(blueprint_serve("as-published")), timeout=60)
    c.hello()
    yield c
    c.close()


def test_hello_declares_blueprint_only(client: DeviceClient) -> None:
    assert client.info is not None
    assert client.info.profiles == ("blueprint",)
    assert client.info.capabilities == ("cpm", "test-keys")
    assert client.info.suites == ("cpk-aes256gcm-rsa2048",)


@pytest.mark.parametrize(
    ("req", "args", "code"),
    [
        ("cpm", {"call": "no_such_call", "args": {}}, Code.ADAPTER_UNKNOWN_REQUEST),
        (
            "cpm",
            {"call": "install_application_key", "args": {"application_id": "x"}},
            Code.ADAPTER_MALFORMED_FRAME,
        ),
        (
            "cpm",
            {
                "call": "begin_application_deployment",
                "args": {"application_id": "x", "total_size": -1},
            },
            Code.ADAPTER_MALFORMED_FRAME,
        ),
        (
            "cpm",
            {
                "call": "begin_application_deployment",
                "args": {"application_id": "x", "total_size": 1, "version": [1, 2]},
            },
            Code.ADAPTER_MALFORMED_FRAME,
        ),
        ("cpm", {"call": 7}, Code.ADAPTER_MALFORMED_FRAME),
        ("provision", {"payload_keys": [b"not a key"]}, Code.ADAPTER_MALFORMED_FRAME),
        ("reset", {"profile": "edbp"}, Code.ADAPTER_CAPABILITY_MISSING),
        ("deliver", {"message": b""}, Code.ADAPTER_CAPABILITY_MISSING),
        ("power_cut", {"at": 1}, Code.ADAPTER_CAPABILITY_MISSING),
    ],
)
def test_bad_requests_refused_with_codes(
    client: DeviceClient, req: str, args: dict[str, Any], code: Code
) -> None:
    with pytest.raises(DeviceError) as info:
        client.call(req, args)
    assert info.value.code is code
    assert client.call("cpm", {"call": "ping", "args": {}})["rc"] == 0  # still answering


def test_cpm_result_carries_rc_outputs_and_ree_log(client: DeviceClient) -> None:
    assert client.call("cpm", {"call": "export_device_public_key", "args": {}})["rc"] == -1
    ping = client.call("cpm", {"call": "ping", "args": {}})
    assert ping == {
        "rc": 0,
        "version": 1,
        "log": ["ecall_ping", "Starting ConfidentialPackageManager Instance configuration"],
    }
    ident = client.call("identity")
    exported = client.call("cpm", {"call": "export_device_public_key", "args": {}})
    assert exported["public_key"] == ident["device_public_key"]
    init = client.call(
        "cpm",
        {
            "call": "initialize_decryption_aes_gcm",
            "args": {
                "application_id": "app-x",
                "key_strength": 256,
                "iv": bytes(12),
                "tag": bytes(15),
            },
        },
    )
    assert init["rc"] == -3


def test_unknown_behaviour_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        make_cpm_backend("hardened")


def test_as_published_key_changes_on_reload_fixed_keeps_it() -> None:
    for behaviour, same in (("as-published", False), ("fixed", True)):
        c = DeviceClient(InProcessTransport(blueprint_serve(behaviour)), timeout=60)
        c.hello()
        first = c.call("identity")["device_public_key"]
        c.call("reset", {"keep_keys": True})
        kept = c.call("identity")["device_public_key"]
        c.call("reset", {})
        fresh = c.call("identity")["device_public_key"]
        c.close()
        assert (first == kept) is same
        assert fresh != kept


# ----------------------------------------------------------------------------- the demo


def test_side_by_side_demo() -> None:
    """In a fresh interpreter: the in-process pytest runs above drop and re-import modules,
    which the demo's class checks would trip over."""
    code = (
        "import sys, io\n"
        "from rich.console import Console\n"
        "from edbp.demo_blueprint import side_by_side\n"
        "buf = io.StringIO()\n"
        "ok = side_by_side(Console(file=buf, width=120))\n"
        "print(buf.getvalue())\n"
        "sys.exit(0 if ok else 3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    assert "blueprint" in text and "edbp" in text
    assert "attacker's package installed" in text
    assert "SUIT_AUTH_FAILED" in text


def test_side_by_side_reports_an_unexpected_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo checks its outcomes: a blueprint CPM that enforced the signature (the fixed
    behaviour) makes it return False."""
    from edbp.reference.blueprint import cpm as cpm_module
    from rich.console import Console

    from edbp import demo_blueprint

    fixed = functools.partial(cpm_module.Cpm, "fixed")
    monkeypatch.setattr(cpm_module, "Cpm", lambda *a, **k: fixed(**k))
    monkeypatch.setattr(
        demo_blueprint, "_edbp", lambda console: demo_blueprint.Outcome("edbp", "-", "-", True)
    )
    buf = io.StringIO()
    assert demo_blueprint.side_by_side(Console(file=buf, width=120)) is False
