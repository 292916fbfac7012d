"""Replay vectors: one generic runner over each step's ``op``, with a registry of op runners.

Why a registry: the same files are replayed by three consumers: the generator itself (every
vector is replayed against the reference before it is written, and generation fails if the
reference disagrees with the stated expectation), the project's tests, and the conformance
suite, which replays the ``agent.*`` steps against a real device over the adapter. An op runner
receives the step's ``input`` and a ``ReplayContext`` and returns what actually happened in the
shape of an ``expect`` object (``{"result": "ok", ...}`` or ``{"error": n, "errorName": s}``);
``compare`` then checks it against the vector, key by key.

Device steps (``agent.*``) speak the adapter's requests (spec/adapter.md): the test's
``device`` starting state becomes ``reset`` + ``provision`` (trust anchors, ``test_keys``,
``floors``), each ``agent.deliver`` is a ``deliver`` whose payload fetches are answered from the
step's ``payloads``, ``stateAfter`` is compared with ``state``. A ``DeviceTarget`` is anything
with ``call(req, args, fetch)``: ``ReferenceTarget`` wraps an in-process adapter backend (the
reference device, or a faulty one); the conformance helper wraps its ``DeviceClient``.

Other ops run the reference functions directly (``decode``, ``cose.*``, ``ta.verify``,
``publish.*``, ``enrol.*``, ``tam.*``, ``cpk.install``, ``cpm.*``); a device target can run them
too when the conformance suite maps them onto adapter requests (``cpm``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import attrs

from edbp.errors import Code, EdbpError

__all__ = [
    "OPS",
    "ClientTarget",
    "DeviceTarget",
    "IdentityMismatch",
    "Outcome",
    "ReferenceTarget",
    "ReplayContext",
    "SkipTest",
    "Violation",
    "compare",
    "iter_tests",
    "op",
    "replay_file",
    "replay_test",
]

#: keys of an ``expect`` object that document rather than assert (never compared)
INFORMATIVE = frozenset({"comment", "referenceReplies", "outcomeDetail"})

FetchFn = Callable[[str], bytes]


class DeviceTarget(Protocol):
    """A device as the adapter sees it: one request in, its result out (EdbpError to refuse)."""

    def call(self, req: str, args: dict[str, Any], fetch: FetchFn | None = None) -> Any: ...


class SkipTest(Exception):
    """The target cannot run this test (no runner, no device, a missing capability); with why.
    Never for identity: a device with other ids or keys replays the flow re-derived for it."""


class IdentityMismatch(Exception):
    """The device is not the one the test's messages address (its vendor/class ids, or the
    UEID of a test made for a device's own keys): a failure, never a skip."""


class Violation(Exception):
    """The target broke a duty outside any step's expectation (e.g. its identity reply
    carries a private key)."""


OpRunner = Callable[[dict[str, Any], "ReplayContext"], dict[str, Any]]
OPS: dict[str, OpRunner] = {}


def op(name: str) -> Callable[[OpRunner], OpRunner]:
    """Register the runner of ``op`` ``name`` (one per name)."""

    def register(fn: OpRunner) -> OpRunner:
        if name in OPS:
            raise ValueError(f"two runners for op {name}")
        OPS[name] = fn
        return fn

    return register


def error_result(code: int | Code) -> dict[str, Any]:
    try:
        name = Code(int(code)).name
    except ValueError:
        name = "UNKNOWN"
    return {"error": int(code), "errorName": name}


@attrs.define
class ReplayContext:
    """What a runner may use: the test and group it runs in, and the device target (for
    ``agent.*`` steps), set up from the test's ``device`` state on first use."""

    test: dict[str, Any]
    group: dict[str, Any]
    target: DeviceTarget | None = None
    device_ready: bool = False
    replies: list[bytes] = attrs.field(factory=list)  # ECDSA r values seen (P11)
    challenge: bytes | None = None  # the challenge of the last QueryRequest delivered
    token: bytes | None = None  # the open exchange's token (a QueryResponse answered it)

    def device(self) -> DeviceTarget:
        if self.target is None:
            raise SkipTest("no device target for agent steps")
        if not self.device_ready:
            _setup_device(self.target, self.test.get("device") or {})
            self.device_ready = True
        return self.target


def _hexes(items: Iterable[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in items]


def _setup_device(target: DeviceTarget, state: dict[str, Any]) -> None:
    """``reset`` then ``provision`` the starting state (spec/adapter.md). A state with a UEID
    but no ``testKeys`` was made for the device's own keys (``edbp.vectorgen.rederive``): the
    reset keeps them (``keep_keys``) and the device must still be that UEID."""
    own_keys = "ueid" in state and not state.get("testKeys")
    target.call("reset", {"keep_keys": True} if own_keys else {})
    identity = target.call("identity", {})
    for key, field in (("vendorId", "vendor_id"), ("classId", "class_id"), ("ueid", "ueid")):
        if key == "ueid" and not own_keys:
            continue  # test keys bring the vector's UEID
        if key in state and bytes.fromhex(state[key]) != identity.get(field):
            raise IdentityMismatch(
                f"device {field} {bytes(identity.get(field) or b'').hex()} is not the "
                f"vector's {state[key]}: re-derive the test for the device "
                "(edbp.vectorgen.rederive; replay_test with source=)"
            )
    args: dict[str, Any] = {
        "tam_keys": _hexes(state.get("trustAnchors", {}).get("tam", [])),
        "author_keys": _hexes(state.get("trustAnchors", {}).get("author", [])),
    }
    keys = state.get("testKeys")
    if keys:
        args["test_keys"] = {
            "dak": bytes.fromhex(keys["dak"]),
            "dsk": bytes.fromhex(keys["dsk"]),
            "ueid": bytes.fromhex(state["ueid"]),
        }
    if state.get("floors"):
        args["floors"] = [
            {"component": _hexes(f["component"]), "sequence": f["sequence"]}
            for f in state["floors"]
        ]
    if state.get("agentNonces"):
        args["agent_nonces"] = _hexes(state["agentNonces"])
    target.call("provision", args)
    identity = target.call("identity", {})
    for name in ("dak", "dsk"):
        key = identity.get(name)
        if isinstance(key, bytes) and _has_private(key):
            raise Violation(f"identity reply carries the private part of the {name.upper()}")


def _has_private(data: bytes) -> bool:
    from edbp.reference.wire import cbor

    try:
        value = cbor.loads(data)
    except Exception:
        return False
    return isinstance(value, dict) and -4 in value


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Differences between an ``expect`` object and what happened (empty: it matches)."""
    if "error" in expected:
        if "error" not in actual:
            return [f"expected error {expected['errorName']} ({expected['error']}), got success"]
        if actual["error"] != expected["error"]:
            return [
                f"expected error {expected['errorName']} ({expected['error']}), "
                f"got {actual.get('errorName')} ({actual['error']})"
            ]
        checked = {k: v for k, v in expected.items() if k not in ("error", "errorName")}
    else:
        if "error" in actual:
            return [f"expected success, got error {actual.get('errorName')} ({actual['error']})"]
        checked = {k: v for k, v in expected.items() if k != "result"}
    problems = []
    for key, value in checked.items():
        if key in INFORMATIVE:
            continue
        if key not in actual:
            problems.append(f"{key}: not produced by the runner")
        elif actual[key] != value:
            problems.append(f"{key}: expected {_short(value)}, got {_short(actual[key])}")
    return problems


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:200] + "..."


@attrs.frozen
class Outcome:
    """One test replayed: passed, or the failures (step index and difference), or skipped."""

    tc_id: str
    passed: bool
    failures: tuple[str, ...] = ()
    skipped: str | None = None


def replay_test(
    test: dict[str, Any],
    group: dict[str, Any],
    target: DeviceTarget | None = None,
    ops: dict[str, OpRunner] | None = None,
    source: str | None = None,
) -> Outcome:
    """Run every step of ``test``; the first mismatching step ends it. ``ops`` overrides runners
    for this replay (a harness that runs e.g. ``cpk.install`` through the adapter's ``cpm``
    request instead of the in-process CPM). ``source`` names the test's vector file
    (``deploy/esp256-a128gcm``): a device target the committed bytes do not fit (other
    vendor/class ids, keys of its own) then replays the flow re-derived for it."""
    _load_runners()
    try:
        test = _for_target(test, target, source)
    except Exception as exc:  # RederiveError, or a device that does not answer hello/identity
        return Outcome(test["tcId"], False, (f"re-derivation: {exc}",))
    ctx = ReplayContext(test, group, target)
    try:
        for i, step in enumerate(test["steps"]):
            runner = (ops or {}).get(step["op"]) or OPS.get(step["op"])
            if runner is None:
                raise SkipTest(f"no runner for op {step['op']}")
            try:
                actual = runner(step["input"], ctx)
            except SkipTest:
                raise
            except EdbpError as exc:  # a runner's refusal is the step's outcome
                actual = error_result(exc.code)
            except (Violation, IdentityMismatch):
                raise
            except Exception as exc:
                return Outcome(
                    test["tcId"], False, (f"step {i}: target crashed: {type(exc).__name__}",)
                )
            problems = compare(step["expect"], actual)
            if not problems and "stateAfter" in step:
                problems = _compare_state(step["stateAfter"], ctx)
            if problems:
                return Outcome(test["tcId"], False, tuple(f"step {i}: {p}" for p in problems))
    except SkipTest as why:
        return Outcome(test["tcId"], False, skipped=str(why))
    except (Violation, IdentityMismatch) as why:
        return Outcome(test["tcId"], False, (str(why),))
    return Outcome(test["tcId"], True)


def _for_target(
    test: dict[str, Any], target: DeviceTarget | None, source: str | None
) -> dict[str, Any]:
    """``test``, or, for a device it does not fit (other ids, its own keys), the same flow
    re-derived for it from vector file ``source`` (``edbp.vectorgen.rederive``)."""
    if target is None or source is None or not test.get("device"):
        return test
    from edbp.vectorgen import rederive

    device = rederive.DeviceIdentity.read(target)
    if rederive.mode(test, device) == rederive.BYTE_EXACT:
        return test
    return rederive.rederive(source, test, device, lambda: target)


def _compare_state(expected: dict[str, Any], ctx: ReplayContext) -> list[str]:
    state = ctx.device().call("state", {})
    actual = device_state_view(state)
    leaks = _secrets_in(state, ctx.test.get("intermediates", {}))
    return leaks + [
        f"stateAfter.{k}: expected {_short(v)}, got {_short(actual.get(k))}"
        for k, v in expected.items()
        if actual.get(k) != v
    ]


def _secrets_in(state: Any, intermediates: dict[str, Any]) -> list[str]:
    """The REE-visible state reply must carry neither the CEK nor the plaintext (P1, P8)."""
    from edbp.reference.wire import cbor

    blob = cbor.dumps(state)
    out = []
    for name in ("cek", "plaintext"):
        secret = bytes.fromhex(intermediates.get(name, ""))[:16]
        if secret and (secret in blob or secret.hex().encode() in blob):
            out.append(f"stateAfter: the state reply carries the {name}")
    return out


def device_state_view(state: dict[str, Any]) -> dict[str, Any]:
    """The adapter's ``state`` result in the vectors' ``stateAfter`` shape (hex, sorted)."""
    components = sorted(
        (
            {"component": [c.hex() for c in comp["component"]], "sequence": comp["sequence"]}
            for comp in state.get("components", [])
        ),
        key=lambda c: c["component"],
    )
    floors = sorted(
        (
            {"component": [c.hex() for c in f["component"]], "sequence": f["sequence"]}
            for f in state.get("floors", [])
        ),
        key=lambda f: f["component"],
    )
    return {"agentState": state.get("agent_state"), "components": components, "floors": floors}


def iter_tests(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for group in doc["testGroups"]:
        for test in group["tests"]:
            yield group, test


def replay_file(
    path: Path | dict[str, Any],
    target_factory: Callable[[dict[str, Any], dict[str, Any]], DeviceTarget | None] | None = None,
    source: str | None = None,
) -> list[Outcome]:
    """Replay every test of a vector file; ``target_factory(group, test)`` gives each test its
    device (None: steps that need one are skipped); ``source`` as for ``replay_test``."""
    _load_runners()
    doc = json.loads(path.read_text()) if isinstance(path, Path) else path
    out = []
    for group, test in iter_tests(doc):
        target = target_factory(group, test) if target_factory else None
        out.append(replay_test(test, group, target, source=source))
    return out


def _load_runners() -> None:
    """The op runners live in ``replay_ops`` (imported lazily: they pull in the roles)."""
    import edbp.vectorgen.replay_ops  # noqa: F401


class ReferenceTarget:
    """An in-process adapter backend as a ``DeviceTarget`` (the reference device by default,
    with both key suites; or any backend, e.g. a faulty device)."""

    def __init__(self, backend: Any = None) -> None:
        if backend is None:
            from edbp.conformance.reference_device import ReferenceDevice

            backend = ReferenceDevice()
        self.backend = backend

    def call(self, req: str, args: dict[str, Any], fetch: FetchFn | None = None) -> Any:
        host = _Host(fetch)
        return self.backend.handle(req, args, host)


class ClientTarget:
    """A device behind the adapter protocol (``edbp.conformance.adapter.client.DeviceClient``)
    as a ``DeviceTarget``: each request goes over the transport; the device's payload fetches
    are answered by the step's ``fetch``; a device refusal arrives as ``DeviceError`` (an
    ``AdapterError`` carrying the device's code), which ``agent.deliver`` reports as the step's
    error."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, req: str, args: dict[str, Any], fetch: FetchFn | None = None) -> Any:
        self.client.fetch = fetch
        try:
            return self.client.call(req, args)
        finally:
            self.client.fetch = None


class _Host:
    def __init__(self, fetch: FetchFn | None) -> None:
        self._fetch = fetch

    def fetch(self, uri: str) -> bytes:
        from edbp.errors import AdapterError

        if self._fetch is None:
            raise AdapterError(Code.AGENT_PAYLOAD_FETCH_FAILED, "no payload for this step")
        return self._fetch(uri)
