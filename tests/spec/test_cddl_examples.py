"""spec/*.cddl load in the CDDL validator CI runs, and every example instance validates.

The validator is cddl-verifier (see spec/README.md for why, and what pycddl cannot do). Each
example ``spec/examples/<name>.diag`` names its CDDL file and rule on its first line; the bytes
are in ``<name>.cbor.hex``. Checks: the bytes validate against the rule in core deterministic
encoding; the diagnostic notation denotes exactly those bytes; the generator reproduces both
files; and a mutated instance of every example is rejected, so the validation can fail.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cddl_verifier import Validator, schema_diagnostics
from edbp.reference.wire import cbor as edbp_cbor

from edbp.errors import WireError

SPEC = Path(__file__).resolve().parents[2] / "spec"
EXAMPLES = SPEC / "examples"
CDDL_FILES = ("messages.cddl", "adapter.cddl")
NAMES = sorted(p.name[: -len(".diag")] for p in EXAMPLES.glob("*.diag"))


@pytest.fixture(scope="module")
def validators() -> dict[str, Validator]:
    return {name: Validator(SPEC / name) for name in CDDL_FILES}


def _header(name: str) -> tuple[str, str]:
    first = (EXAMPLES / f"{name}.diag").read_text(encoding="utf-8").splitlines()[0]
    m = re.fullmatch(r"/ (\S+\.cddl) (\S+) /", first.strip())
    assert m, f"{name}.diag: first line must be '/ <file>.cddl <rule> /'"
    return m.group(1), m.group(2)


def _bytes(name: str) -> bytes:
    return bytes.fromhex((EXAMPLES / f"{name}.cbor.hex").read_text(encoding="ascii").strip())


# ------------------------------------------------------------------ a small EDN reader


class _Edn:
    """Reads the diagnostic notation the examples use: ints, h'..', '..', "..", [], {},
    tag(...), << >>, true/false/null, and /comments/. Returns cbor2-encodable values."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def _ws(self) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c.isspace() or c == ",":
                self.i += 1
            elif c == "/":
                self.i = self.s.index("/", self.i + 1) + 1
            else:
                return

    def _peek(self, token: str) -> bool:
        self._ws()
        return self.s.startswith(token, self.i)

    def _take(self, token: str) -> None:
        assert self._peek(token), (
            f"expected {token!r} at {self.i}: {self.s[self.i : self.i + 30]!r}"
        )
        self.i += len(token)

    def _string(self, quote: str) -> str:
        self._take(quote)
        out = []
        while self.s[self.i] != quote:
            if self.s[self.i] == "\\":
                self.i += 1
            out.append(self.s[self.i])
            self.i += 1
        self.i += 1
        return "".join(out)

    def value(self) -> Any:
        self._ws()
        s, i = self.s, self.i
        if s.startswith("<<", i):
            self.i += 2
            inner = self.value()
            self._take(">>")
            return cbor2.dumps(inner)
        if s.startswith("h'", i):
            self.i += 1
            return bytes.fromhex(self._string("'"))
        if s[i] == "'":
            return self._string("'").encode()
        if s[i] == '"':
            return self._string('"')
        if s[i] == "[":
            self.i += 1
            items = []
            while not self._peek("]"):
                items.append(self.value())
            self._take("]")
            return items
        if s[i] == "{":
            self.i += 1
            pairs = []
            while not self._peek("}"):
                k = self.value()
                self._take(":")
                pairs.append((k, self.value()))
            self._take("}")
            return dict(pairs)
        for word, val in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, i):
                self.i += len(word)
                return val
        m = re.compile(r"-?\d+").match(s, i)
        assert m, f"cannot read EDN at {i}: {s[i : i + 30]!r}"
        self.i = m.end()
        if s.startswith("(", self.i):
            self.i += 1
            inner = self.value()
            self._take(")")
            return cbor2.CBORTag(int(m.group()), inner)
        return int(m.group())

    def read(self) -> Any:
        v = self.value()
        self._ws()
        assert self.i == len(self.s), "text after the item"
        return v


# ------------------------------------------------------------------ tests


def test_every_cddl_file_loads_without_diagnostics() -> None:
    for name in CDDL_FILES:
        problems = schema_diagnostics(SPEC / name)
        assert not problems, f"{name}: {[str(p) for p in problems]}"
        Validator(SPEC / name)


def test_examples_cover_every_top_level_rule() -> None:
    rules = {_header(n)[1] for n in NAMES}
    needed = {
        "edbp-query-request",
        "edbp-teep-message-signed",
        "edbp-suit-envelope-author",
        "edbp-suit-envelope-device",
        "edbp-encryption-info-class",
        "edbp-encryption-info-device",
        "edbp-kdf-context",
        "edbp-suit-report-signed",
        "edbp-eat-claims",
        "edbp-eat-signed",
        "edbp-device-endorsement",
        "edbp-enrolment-record",
        "edbp-delivery-binding",
        "edbp-package-record",
        "edbp-install-receipt",
        "edbp-audit-entry",
        "edbp-ta-image-metadata",
        "hello-request",
        "hello-reply",
        "deliver-request",
        "deliver-reply",
        "fetch-ask",
        "fetch-reply",
        "state-reply",
        "adapter-error",
        "cpm-request",
    }
    assert needed <= rules, f"rules without an example: {sorted(needed - rules)}"
    teep_types = {
        cbor2.loads(cbor2.loads(_bytes(n)).value[2])[0]
        for n in NAMES
        if _header(n)[1] == "edbp-teep-message-signed"
    }
    assert teep_types == {1, 2, 3, 5, 6}


@pytest.mark.parametrize("name", NAMES)
def test_example_validates_against_its_rule(name: str, validators: dict[str, Validator]) -> None:
    cddl, rule = _header(name)
    result = validators[cddl].validate(_bytes(name), root_type=rule, require_deterministic=True)
    assert result.valid, [str(d) for d in result.diagnostics]


@pytest.mark.parametrize("name", NAMES)
def test_example_is_core_deterministic(name: str) -> None:
    data = _bytes(name)
    edbp_cbor.loads(data)  # the strict decoder refuses any non-deterministic form
    assert cbor2.dumps(cbor2.loads(data), canonical=True) == data


@pytest.mark.parametrize("name", NAMES)
def test_diag_denotes_the_hex(name: str) -> None:
    text = (EXAMPLES / f"{name}.diag").read_text(encoding="utf-8")
    value = _Edn(text).read()
    assert cbor2.dumps(value) == _bytes(name)


_LEAF = int | str | bytes


def _wrong_type(leaf: Any) -> Any:
    return [leaf] if isinstance(leaf, int) else 12345


def _mutate(obj: Any) -> bool:
    """Give the first integer, text or byte-string leaf (depth first) another type."""
    if isinstance(obj, cbor2.CBORTag):
        return _mutate(obj.value)
    if isinstance(obj, list):
        for idx, item in enumerate(obj):
            if isinstance(item, _LEAF) and not isinstance(item, bool):
                obj[idx] = _wrong_type(item)
                return True
            if _mutate(item):
                return True
    if isinstance(obj, dict):
        for key, item in obj.items():
            if isinstance(item, _LEAF) and not isinstance(item, bool):
                obj[key] = _wrong_type(item)
                return True
            if _mutate(item):
                return True
    return False


@pytest.mark.parametrize("name", NAMES)
def test_mutated_example_is_rejected(name: str, validators: dict[str, Validator]) -> None:
    cddl, rule = _header(name)
    value = cbor2.loads(_bytes(name))
    assert _mutate(value), f"{name}: nothing to mutate"
    result = validators[cddl].validate(cbor2.dumps(value, canonical=True), root_type=rule)
    assert not result.valid


def test_validator_rejects_deep_mutation_inside_embedded_cbor(
    validators: dict[str, Validator],
) -> None:
    """A wrong command inside the install sequence of the author manifest (bstr .cbor, three
    levels down) is refused: the profile's command subset is enforced through every layer."""
    envelope = cbor2.loads(_bytes("suit-envelope-author"))
    manifest = cbor2.loads(envelope.value[3])
    install = cbor2.loads(manifest[20])
    install[4] = 23  # directive-invoke: outside the edbp subset
    manifest[20] = cbor2.dumps(install)
    envelope.value[3] = cbor2.dumps(manifest, canonical=True)
    result = validators["messages.cddl"].validate(
        cbor2.dumps(envelope), root_type="edbp-suit-envelope-author"
    )
    assert not result.valid


def test_validator_rejects_downgraded_algorithm(validators: dict[str, Validator]) -> None:
    signed = cbor2.loads(_bytes("teep-query-request-signed"))
    signed.value[0] = cbor2.dumps({1: -35})  # ES384: not in the profile
    result = validators["messages.cddl"].validate(
        cbor2.dumps(signed), root_type="edbp-teep-message-signed"
    )
    assert not result.valid


def test_validator_rejects_duplicate_keys_and_non_deterministic_forms(
    validators: dict[str, Validator],
) -> None:
    meta = _bytes("ta-image-metadata")
    # header a9 (9 pairs) -> aa (10 pairs) and append a repeat of key 1
    duplicated = bytes([meta[0] + 1]) + meta[1:] + bytes.fromhex("0102")
    result = validators["messages.cddl"].validate(duplicated, root_type="edbp-ta-image-metadata")
    assert not result.valid
    with pytest.raises(WireError):
        edbp_cbor.loads(duplicated)
    # a non-shortest integer (uint 2 as 0x1802) is refused by the deterministic check
    qr = _bytes("teep-query-request")
    assert qr[:2] == bytes.fromhex("8501")
    longer = bytes.fromhex("851801") + qr[2:]
    assert (
        not validators["messages.cddl"]
        .validate(longer, root_type="edbp-query-request", require_deterministic=True)
        .valid
    )


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "edbp_spec_make_examples", EXAMPLES / "make_examples.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_every_file() -> None:
    built = _load_generator().build()
    assert sorted(built) == NAMES
    for name, (diag, hexa) in built.items():
        assert (EXAMPLES / f"{name}.diag").read_text(encoding="utf-8") == diag, name
        assert (EXAMPLES / f"{name}.cbor.hex").read_text(encoding="ascii") == hexa, name
