"""Seeded faulty devices of the ``blueprint`` profile: the blueprint device with one rule of the
CPM contract (spec/blueprint.md §7) or of the ``fixed`` behaviour (§9) changed.

Why: the blueprint cases must be shown to bite as the edbp ones are. A device that declares
the fixed suite (``cpk-fixed-aes256gcm-rsa2048``) claims every requirement of §9, so each
fault below is the fixed device with one fix left out or got slightly wrong, as a vendor
porting the fixes into the published TA might; the advisory case looking for that weakness
fails it (an advisory on a device of the published contract, a failure on one claiming the
fixes). The contract fault (§7) runs the published CPM. Each fault is a subclass of the CPM
emulation or of the device, never a flag the harness reads; they join the catalogue of
``edbp.conformance.faults`` by one line there and run as ``builtin:NAME``.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.conformance.blueprint_device import CpmDevice
from edbp.conformance.faults import Fault
from edbp.reference.blueprint import cpm as C
from edbp.reference.blueprint import crypto

from edbp.errors import BlueprintError

__all__ = ["BP_FAULTS"]


class _AnyKeyStrength(C.Cpm):
    """§7: ``initialize`` takes any key strength (the −1 for ≠ 256 left out: the key is 32
    bytes anyway)."""

    def _InitializeDecryptionAesGcm(self, call: C.InitializeDecryptionAesGcm) -> C.Reply:
        if call.key_strength != 256:
            call = C.InitializeDecryptionAesGcm(call.application_id, 256, call.iv, call.tag)
        return super()._InitializeDecryptionAesGcm(call)


class _HostKeyTrusted(C.Cpm):
    """§9.1 half done: the signature is checked, but the host-supplied ``public_key`` still
    counts as a trust anchor next to the provisioned ones."""

    def _VerifyApplicationSha256RsaPkcs1V15(
        self, call: C.VerifyApplicationSha256RsaPkcs1V15
    ) -> C.Reply:
        anchors = self.trust_anchors
        try:
            host_key = crypto.rsa_public_from_der(call.public_key)
        except BlueprintError:
            return super()._VerifyApplicationSha256RsaPkcs1V15(call)
        self.trust_anchors = (*anchors, host_key)
        try:
            return super()._VerifyApplicationSha256RsaPkcs1V15(call)
        finally:
            self.trust_anchors = anchors


class _UnboundAad(C.Cpm):
    """§9.2: GCM started without the manifest binding as AAD (the published ``initialize``
    kept), so the ciphertext is not bound to the manifest it arrives under."""

    def _InitializeDecryptionAesGcm(self, call: C.InitializeDecryptionAesGcm) -> C.Reply:
        reply = super()._InitializeDecryptionAesGcm(call)
        if reply.rc == 0 and self._deploy is not None:
            key = bytes(self._slots[self._deploy.application_id])
            self._gcm = crypto.GcmDecryptor(key, call.iv)
        return reply


class _OneSlot(dict[str, bytearray]):
    """A key store that ignores the application id: one slot for every application."""

    def __setitem__(self, key: str, value: bytearray) -> None:
        super().__setitem__("", value)

    def __getitem__(self, key: str) -> bytearray:
        return super().__getitem__("")

    def __contains__(self, key: object) -> bool:
        return super().__contains__("")


class _SingleKeySlot(C.Cpm):
    """§9.3: ``begin`` checks that a key was installed, but every call uses the one slot of
    the last ``install_key`` whatever its application id."""

    def _reset_volatile(self) -> None:
        super()._reset_volatile()
        self._slots = _OneSlot()


class _DetailedUnwrapErrors(C.Cpm):
    """§9.4 half done: the failure returns −1 and leaves the slot unchanged, but the log line
    still names mbedtls's error code (a debugging aid left in): the padding oracle stays."""

    def _install_key_fixed(self, call: C.InstallApplicationKey) -> C.Reply:
        reply = super()._install_key_fixed(call)
        if reply.rc != 0 and self._device_key is not None:
            result = crypto.pkcs1v15_decode(self._device_key, call.wrapped, C._SLOT)
            self._log(f"unwrap ret {result.ret & 0xFFFFFFFF:x}")
        return reply


class _EqualVersionAccepted(C.Cpm):
    """§9.6: ``begin`` refuses a version below the floor only (``<`` where ``<=`` is due), so
    a second package of the installed version replaces the image."""

    def _BeginApplicationDeployment(self, call: C.BeginApplicationDeployment) -> C.Reply:
        floor = self.floors.pop(call.application_id, None)  # its own compare, not the base's
        try:
            if floor is not None and call.version is not None and tuple(call.version) < floor:
                return C.Reply(C.RC_ROLLBACK)
            return super()._BeginApplicationDeployment(call)
        finally:
            if floor is not None:
                self.floors[call.application_id] = floor


def _device(behaviour: Any, cpm: type[C.Cpm]) -> Any:
    device: type[CpmDevice] = type("FaultyCpmDevice", (CpmDevice,), {"cpm_class": cpm})

    def make() -> CpmDevice:
        return device(behaviour)

    return make


class _KeyNotSealed(CpmDevice):
    """§9 key persistence left out: the fixed device makes a new device key at every TA load,
    as the published TA does."""

    def _device_key(self) -> rsa.RSAPrivateKey:
        if self._test_key is not None:
            return self._test_key
        return self._keygen()


BP_FAULTS: dict[str, Fault] = {
    "bp-any-key-strength": Fault(
        "published CPM: initialize_decryption_aes_gcm accepts a key strength other than 256",
        ("P10",),
        _device("as-published", _AnyKeyStrength),
        profile="blueprint",
        clauses=("B-7a",),
    ),
    "bp-fixed-host-key-trusted": Fault(
        "fixed CPM: verify also accepts signatures from the host-supplied public key",
        ("P5",),
        _device("fixed", _HostKeyTrusted),
        profile="blueprint",
        clauses=("B-9a",),
    ),
    "bp-fixed-unbound-aad": Fault(
        "fixed CPM: GCM without the manifest binding as AAD",
        ("P5",),
        _device("fixed", _UnboundAad),
        profile="blueprint",
        clauses=("B-9b",),
    ),
    "bp-fixed-single-key-slot": Fault(
        "fixed CPM: one key slot for every application id",
        ("P4",),
        _device("fixed", _SingleKeySlot),
        profile="blueprint",
        clauses=("B-9c",),
    ),
    "bp-fixed-unwrap-detail": Fault(
        "fixed CPM: unwrap failures log mbedtls's error code (padding oracle kept)",
        ("P1", "P8"),
        _device("fixed", _DetailedUnwrapErrors),
        profile="blueprint",
        clauses=("B-9d",),
    ),
    "bp-fixed-equal-version": Fault(
        "fixed CPM: begin accepts a version equal to the application's floor",
        ("P7",),
        _device("fixed", _EqualVersionAccepted),
        profile="blueprint",
        clauses=("B-9f",),
    ),
    "bp-fixed-key-not-sealed": Fault(
        "fixed device: a new device key at every TA load (key not sealed)",
        ("P3", "P8"),
        lambda: _KeyNotSealed("fixed"),
        profile="blueprint",
        clauses=("B-9h",),
    ),
}
