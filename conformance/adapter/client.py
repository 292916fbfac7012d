"""The harness's side of the adapter protocol: requests out, replies and device asks in."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from edbp.conformance.adapter.messages import PROTOCOL_VERSION, check_reply
from edbp.conformance.adapter.transport import Transport

from edbp.errors import AdapterError, Code, EdbpError

#: serves a device's payload fetch: uri -> bytes, or raises EdbpError
FetchHandler = Callable[[str], bytes]


@attrs.frozen
class DeviceInfo:
    """What a device declared in ``hello``."""

    version: int
    name: str
    profiles: tuple[str, ...]
    suites: tuple[str, ...]
    capabilities: tuple[str, ...]

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities


class DeviceError(AdapterError):
    """The device answered a request with an error code (its refusal, not a transport fault)."""

    def __init__(self, code: int, msg: str = "") -> None:
        try:
            known = Code(code)
        except ValueError:
            known = Code.ADAPTER_DEVICE_ERROR
            msg = f"unknown code {code}: {msg}"
        super().__init__(known, msg)
        self.raw_code = code


#: seconds the harness waits for the reply to ``hello`` (spec/adapter.md section 5)
HELLO_TIMEOUT = 60.0


class DeviceClient:
    """Blocking request/response over a transport, with per-request timeouts."""

    def __init__(
        self,
        transport: Transport,
        timeout: float = 30.0,
        fetch: FetchHandler | None = None,
    ) -> None:
        self.transport = transport
        self.timeout = timeout
        self.fetch = fetch
        self._ids = itertools.count(1)
        self.info: DeviceInfo | None = None
        self.log: list[tuple[str, Any]] = []  # (direction, item) for reports
        #: set when a request timed out: the device is hung and is never waited for again; the
        #: harness restarts it (subprocess, ssh) or marks the board down (tcp)
        self.hung = False

    def call(
        self, req: str, args: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        if self.hung:
            raise AdapterError(
                Code.ADAPTER_TIMEOUT, f"{req}: not sent, the device hung on an earlier request"
            )
        rid = next(self._ids)
        frame = {"id": rid, "req": req, "args": dict(args or {})}
        self.log.append((">", frame))
        self.transport.send(frame)
        while True:
            try:
                item = self.transport.recv(timeout or self.timeout)
            except AdapterError as exc:
                if exc.code is Code.ADAPTER_TIMEOUT:
                    self.hung = True
                    raise AdapterError(Code.ADAPTER_TIMEOUT, self._hung_detail(req, exc)) from None
                raise
            self.log.append(("<", item))
            if isinstance(item, dict) and "ask" in item:
                self._answer_ask(item)
                continue
            result = check_reply(item, rid)
            if result.ok:
                return result.result
            if result.code == int(Code.CONFORMANCE_DEVICE_FAULT):
                # the device failed inside (spec/adapter.md): an adapter fault, not an answer
                raise AdapterError(Code.CONFORMANCE_DEVICE_FAULT, result.msg or "device fault")
            raise DeviceError(result.code, result.msg)

    def _hung_detail(self, req: str, exc: AdapterError) -> str:
        """The timeout, with the device's last stderr lines (a hang is diagnosed like a crash)."""
        try:
            tail = self.transport.stderr_tail().strip()
        except (OSError, AttributeError):
            tail = ""
        lines = tail.splitlines()[-20:]
        return f"{req}: {exc.detail}" + ("; stderr: " + "\n".join(lines) if lines else "")

    def _answer_ask(self, item: dict[Any, Any]) -> None:
        aid = item.get("id")
        if item.get("ask") != "fetch" or self.fetch is None:
            reply: dict[str, Any] = {
                "id": aid,
                "ok": False,
                "code": int(Code.ADAPTER_UNKNOWN_REQUEST),
                "msg": "unsupported ask",
            }
        else:
            args = item.get("args")
            uri = args.get("uri") if isinstance(args, dict) else None
            try:
                if not isinstance(uri, str):
                    raise AdapterError(Code.ADAPTER_MALFORMED_FRAME, "fetch without uri")
                reply = {"id": aid, "ok": True, "result": {"payload": self.fetch(uri)}}
            except EdbpError as exc:
                reply = {"id": aid, "ok": False, "code": int(exc.code), "msg": exc.detail[:200]}
        self.log.append((">", reply))
        self.transport.send(reply)

    def hello(self) -> DeviceInfo:
        # the first reply includes the device's start (a subprocess's imports, a board's
        # boot): it gets the start allowance of adapter.md section 5, never less than a request
        result = self.call(
            "hello",
            {"version": PROTOCOL_VERSION, "harness": "edbp"},
            timeout=max(self.timeout, HELLO_TIMEOUT),
        )
        try:
            info = DeviceInfo(
                version=int(result["version"]),
                name=str(result.get("name", "")),
                profiles=tuple(result.get("profiles", ())),
                suites=tuple(result.get("suites", ())),
                capabilities=tuple(result.get("capabilities", ())),
            )
        except (KeyError, TypeError, ValueError):
            raise AdapterError(Code.ADAPTER_MALFORMED_FRAME, "malformed hello reply") from None
        if info.version != PROTOCOL_VERSION:
            raise AdapterError(
                Code.ADAPTER_UNSUPPORTED_VERSION, f"device speaks version {info.version}"
            )
        self.info = info
        return info

    def close(self) -> None:
        kill = getattr(self.transport, "kill", None)
        if self.hung and kill is not None:
            kill()  # a hung device gets no grace period
        try:
            self.transport.close()
        except OSError:
            pass

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
