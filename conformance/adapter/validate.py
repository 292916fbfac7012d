"""Request arguments checked against spec/adapter.cddl before a backend acts on them.

Why a separate check: a backend that trusts the shape of its arguments turns a malformed
request into a ``TypeError`` (a list used as a dict key) or, worse, an ok reply that stored
nonsense (a floor on the component ``[1, 2]``). Checking the whole request first, before
anything is written, keeps a refusal free of side effects and gives every malformed argument
the one code adapter.md names for it, ``ADAPTER_MALFORMED_FRAME`` (800).

Unknown members are ignored, as adapter.md says for every request (a faulty device under test
may read one: ``class_keys``).
"""

from __future__ import annotations

from typing import Any

from edbp.conformance.adapter.messages import bad_args

__all__ = ["check_edbp_provision"]


def _uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bstr_list(args: dict[str, Any], name: str, *, required: bool = False) -> None:
    if name not in args:
        if required:
            raise bad_args(f"{name} missing")
        return
    value = args[name]
    if not isinstance(value, list) or not all(isinstance(v, bytes) for v in value):
        raise bad_args(f"{name} must be an array of byte strings")


def _floor(entry: Any) -> None:
    """``floor-preset``: a component id of one or more byte strings, uint sequence and
    ta_version. The CDDL's ``[+ bstr]`` refuses the empty id: no component has it (SUIT
    component identifiers name a component by at least one element)."""
    if not isinstance(entry, dict):
        raise bad_args("floor entry must be a map")
    comp = entry.get("component")
    if not isinstance(comp, list) or not comp or not all(isinstance(c, bytes) for c in comp):
        raise bad_args("floor component must be a non-empty array of byte strings")
    if not _uint(entry.get("sequence")):
        raise bad_args("floor sequence must be an unsigned integer")
    if "ta_version" in entry and not _uint(entry["ta_version"]):
        raise bad_args("floor ta_version must be an unsigned integer")


def check_edbp_provision(args: dict[str, Any]) -> None:
    """``edbp-provision-args``; raises ``ADAPTER_MALFORMED_FRAME`` on the first wrong member."""
    _bstr_list(args, "tam_keys")
    _bstr_list(args, "author_keys")
    _bstr_list(args, "ta_keys")
    if "test_keys" in args:
        test_keys = args["test_keys"]
        if not isinstance(test_keys, dict):
            raise bad_args("test_keys must be a map")
        for name in ("dak", "dsk", "ueid"):
            if name in test_keys and not isinstance(test_keys[name], bytes):
                raise bad_args(f"test_keys {name} must be a byte string")
    if "agent_nonces" in args:
        nonces = args["agent_nonces"]
        if not isinstance(nonces, list) or not all(
            isinstance(n, bytes) and len(n) == 16 for n in nonces
        ):
            raise bad_args("agent_nonces must be an array of 16-byte byte strings")
    if "floors" in args:
        floors = args["floors"]
        if not isinstance(floors, list):
            raise bad_args("floors must be an array")
        for entry in floors:
            _floor(entry)
