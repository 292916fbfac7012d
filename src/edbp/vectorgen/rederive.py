"""Vector flows re-derived under a device's own identity.

The committed files under ``vectors/`` are the canonical byte-exact set: they address the
reference identity (``example.com`` / ``reference-device``) and carry test DAK/DSK that a device
installs through ``provision`` ``test_keys`` (capability ``test-keys``). A vendor's board has
other vendor/class ids, and usually keys that never leave it. Skipping those flows would make a
real board run a fraction of the suite, so each flow is made again for the device, by the same
generator, from the same seed, with the same mutations, ``tcId`` and expected outcome:

- **ids**: the kit takes the device's vendor/class ids (``reference_device.identity``); the
  test DAK/DSK are still provisioned (the device offers ``test-keys``).
- **own keys**: the device does not offer ``test-keys``. The kit enrols the public DAK/DSK and
  UEID the device reports in ``identity`` instead of the stand-in test device's, and runs that
  device's part of every flow on the device itself (``flowkit.LiveDevice``): its evidence is
  what the TAM verifies, the CEK is wrapped to its DAK. Its ``reset`` keeps its keys
  (``keep_keys``), so the messages made during re-derivation still address it when the
  conformance case replays them.

A re-derived test must state the same expectations as the committed one; a flow that cannot be
run with the device (its honest exchange already fails) is a ``RederiveError``, which the
conformance case reports as a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import attrs

from edbp.vectorgen.replay import DeviceTarget

__all__ = [
    "BYTE_EXACT",
    "RE_DERIVED",
    "DeviceIdentity",
    "RederiveError",
    "mode",
    "needs_own_keys",
    "rederive",
]

BYTE_EXACT = "byte-exact"
RE_DERIVED = "re-derived"

#: re-derived files kept per process (a run meets one device, a few files, a few stand-ins)
_CACHE_SIZE = 32
_CACHE: dict[tuple[Any, ...], dict[str, dict[str, Any]] | str] = {}


class RederiveError(Exception):
    """A flow could not be made for the device (the reason says which step went wrong)."""


@attrs.frozen
class DeviceIdentity:
    """What a device reports about itself: ``identity`` (ids, UEID, public DAK and DSK as
    COSE_Key bytes) and whether ``hello`` offers ``test-keys``."""

    vendor_id: bytes
    class_id: bytes
    ueid: bytes
    dak: bytes
    dsk: bytes
    test_keys: bool

    @classmethod
    def read(cls, target: DeviceTarget) -> DeviceIdentity:
        """Ask the device (``hello`` then ``identity``)."""
        hello = target.call("hello", {})
        ident = target.call("identity", {})
        return cls(
            vendor_id=bytes(ident["vendor_id"]),
            class_id=bytes(ident["class_id"]),
            ueid=bytes(ident["ueid"]),
            dak=bytes(ident["dak"]),
            dsk=bytes(ident["dsk"]),
            test_keys="test-keys" in (hello.get("capabilities") or ()),
        )

    def describe(self, own_keys: bool) -> str:
        """The identity a re-derived vector was made for, as the report records it."""
        ids = f"vendor_id={self.vendor_id.hex()} class_id={self.class_id.hex()}"
        if not own_keys:
            return ids
        from edbp.reference.wire.cose_key import CoseKey

        dak, dsk = CoseKey.decode(self.dak), CoseKey.decode(self.dsk)
        return (
            f"{ids} ueid={self.ueid.hex()} dak={dak.thumbprint().hex()[:16]} "
            f"dsk={dsk.thumbprint().hex()[:16]} (the device's own keys)"
        )


def needs_own_keys(test: dict[str, Any], device: DeviceIdentity) -> bool:
    """Whether the vector carries test keys the device cannot take (no ``test-keys``)."""
    return bool((test.get("device") or {}).get("testKeys")) and not device.test_keys


def mode(test: dict[str, Any], device: DeviceIdentity) -> str:
    """``byte-exact`` when the committed bytes fit the device, else ``re-derived``."""
    state = test.get("device") or {}
    other_ids = any(
        key in state and bytes.fromhex(state[key]) != own
        for key, own in (("vendorId", device.vendor_id), ("classId", device.class_id))
    )
    return RE_DERIVED if other_ids or needs_own_keys(test, device) else BYTE_EXACT


def _seed() -> str:
    index = json.loads((resources.files("edbp.vectors") / "index.json").read_text())
    return str(index.get("seed", "edbp-vectors-v1"))


def _generate(
    source: str, device: DeviceIdentity, stand_in: bytes | None, target: Callable[[], Any]
) -> dict[str, dict[str, Any]]:
    from edbp.conformance.reference_device import identity
    from edbp.reference.rand import SeededRandom
    from edbp.reference.wire.cose_key import CoseKey
    from edbp.vectorgen.flowkit import LiveDevice, PublicDeviceKeys, live_device
    from edbp.vectorgen.registry import load_sources

    seed = _seed()
    sources = load_sources()
    if source not in sources:
        raise RederiveError(f"no generator for vector file {source}")
    live: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if stand_in is not None:
        keys = PublicDeviceKeys(device.ueid, CoseKey.decode(device.dak), CoseKey.decode(device.dsk))
        live = live_device(LiveDevice(stand_in, keys, target))
    with identity(device.vendor_id, device.class_id), live:
        doc = sources[source](SeededRandom(seed).fork(source)).to_json(seed)
    return {t["tcId"]: t for g in doc.get("testGroups", []) for t in g.get("tests", [])}


def rederive(
    source: str,
    test: dict[str, Any],
    device: DeviceIdentity,
    target: Callable[[], DeviceTarget] | None = None,
) -> dict[str, Any]:
    """``test`` of vector file ``source`` (``deploy/esp256-a128gcm``) made for ``device``.

    With the device's own keys (``needs_own_keys``) the flows of the stand-in test device the
    vector was made for are run with the device: ``target()`` must give a connection to it."""
    own = needs_own_keys(test, device)
    stand_in = bytes.fromhex(test["device"]["ueid"]) if own else None
    if own and target is None:
        raise RederiveError("the device's own keys: re-derivation needs the device itself")
    key = (
        source,
        device.vendor_id,
        device.class_id,
        stand_in,
        hashlib.sha256(device.ueid + device.dak + device.dsk).digest() if own else None,
    )
    derived = _CACHE.get(key)
    if derived is None:
        try:
            derived = _generate(source, device, stand_in, target or (lambda: None))
        except RederiveError as exc:
            derived = str(exc)
        except Exception as exc:
            # the honest exchange the flow starts from failed with this device (a refusal,
            # a reply of the wrong shape, evidence the TAM rejects)
            derived = f"the flow could not run with the device: {type(exc).__name__}: {exc}"
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = derived
    if isinstance(derived, str):
        raise RederiveError(derived)
    new = derived.get(test["tcId"])
    if new is None:
        raise RederiveError(f"{test['tcId']} not produced under the device's identity")
    if [s.get("expect") for s in new.get("steps", [])] != [
        s.get("expect") for s in test.get("steps", [])
    ]:
        raise RederiveError(f"{test['tcId']}: re-derived with another expected outcome")
    return new
