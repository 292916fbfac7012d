"""A blueprint device behind the adapter: the CPM TA emulation, OP-TEE's TA install and the
REE shim that relays the EDL calls, for the ``blueprint`` profile of the conformance suite.

Why it exists: the blueprint profile's cases must be shown satisfiable and shown to bite, on
both CPM behaviours of ``edbp.reference.blueprint.cpm``: ``as-published`` (what devices in the
field run; passes the contract cases and shows every published weakness as an advisory) and
``fixed`` (passes with no advisory). It is also the model shim for a vendor whose board runs
the CPM TA: every ``cpm`` request is one ecall, its arguments and out-parameters carried as
they are, plus the lines the TA sent to the REE through ``ocall_log`` during that call (a shim
on a board reads them from its log hook; they are what the REE sees, so the harness may judge
them: the padding-oracle advisory compares them).

What it holds, as a board would:
- the CPM TA instance (volatile TA memory; ``reset`` reloads it);
- OP-TEE's secure-storage TA install (``SecureStorageTaStore``) checking each TA image as
  OP-TEE's loader does (``edbp.reference.optee.verify_ta``, shdr + signature + UUID + version)
  against the TA signing keys given by ``provision`` (``ta_keys``), with OP-TEE's version rule;
- for the ``fixed`` device only, the device key sealed in persistent storage, so that it
  survives a TA reload (``reset`` with ``keep_keys``). The as-published TA keeps its key in TA
  memory only and makes a new one at every load: the advisory ``bp.advisory.device-key-reload``
  reports exactly that. (spec/blueprint.md lists key persistence among the things the fixed
  *CPM* leaves as published; here the fixed *device* adds it through the CPM's ``keygen``
  edge, the only place the contract leaves for it.)

Requests: ``hello`` (profile ``blueprint``, capability ``cpm``, the suite of package binding
the CPM accepts), ``reset``, ``identity`` (the exported device key, DER RSAPublicKey),
``provision`` (``payload_keys``: RSA keys the fixed CPM accepts package signatures from;
``ta_keys``: TA signing keys OP-TEE's install accepts; with capability ``test-keys`` a device
key to load and ``ta_check: false``, for replaying recorded vectors), ``state`` (installed
TAs, per-application floors, the CPM's deployment state) and ``cpm``. ``deliver`` belongs to
the edbp profile and is refused with ``ADAPTER_CAPABILITY_MISSING``.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.conformance.adapter.messages import PROTOCOL_VERSION, bad_args, reset_keep_keys
from edbp.conformance.adapter.server import DeviceBackend, Host
from edbp.reference.blueprint import cpm as C
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.ta_store import OpaqueTaVerifier, SecureStorageTaStore, TaIdentity
from edbp.reference.optee.verify import verify_ta
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource

from edbp.errors import AdapterError, BlueprintError, Code, ConfigError, EdbpError

__all__ = [
    "CAPABILITIES",
    "CPM_CALLS",
    "PROFILES",
    "SUITE_FOR",
    "CpmDevice",
    "OpteeTaVerifier",
    "blueprint_serve",
    "make_cpm_backend",
]

Behaviour = Literal["as-published", "fixed"]
PROFILES = ("blueprint",)
CAPABILITIES = ("cpm", "test-keys")
#: the package binding each CPM accepts, as an adapter suite name (spec/adapter.cddl): the
#: as-published CPM decrypts packages with empty AAD; the fixed one needs the manifest binding
SUITE_FOR: dict[str, str] = {
    "as-published": "cpk-aes256gcm-rsa2048",
    "fixed": "cpk-fixed-aes256gcm-rsa2048",
}
#: TA signing-key refusals that mean "try the next provisioned key"
_NEXT_KEY = frozenset({Code.TA_BAD_SIGNATURE, Code.TA_KEY_TOO_SMALL, Code.TA_SIG_SIZE})
_EXPORT_BUFFER = 4096  # the shim's buffer when the harness names no size


class OpteeTaVerifier:
    """OP-TEE's loader check on a TA image handed to secure-storage install: signed by one of
    ``keys`` (the TA signing keys the OP-TEE build trusts). The version rule is the store's."""

    def __init__(self, keys: tuple[rsa.RSAPublicKey, ...]) -> None:
        self.keys = keys

    def __repr__(self) -> str:
        return f"OpteeTaVerifier(keys={len(self.keys)})"

    def __call__(self, image: bytes) -> TaIdentity:
        last = "no TA signing key provisioned"
        for key in self.keys:
            try:
                verified = verify_ta(image, key)
            except EdbpError as exc:
                last = exc.code.name
                if exc.code in _NEXT_KEY:
                    continue
                break
            if verified.uuid is None or verified.ta_version is None:
                raise BlueprintError(Code.CPM_ERROR, "TA image without UUID and version")
            return TaIdentity(verified.uuid.bytes, verified.ta_version)
        raise BlueprintError(Code.CPM_ERROR, f"TA image refused: {last}")


# ------------------------------------------------------------------------- cpm call table


def _str(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise bad_args(f"{name} must be a text string")
    return value


def _bytes(args: dict[str, Any], name: str) -> bytes:
    value = args.get(name)
    if not isinstance(value, bytes):
        raise bad_args(f"{name} must be a byte string")
    return value


def _uint(args: dict[str, Any], name: str, default: int | None = None, bits: int = 32) -> int:
    value = args.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise bad_args(f"{name} must be a u{bits}")
    return value


def _version(args: dict[str, Any]) -> tuple[int, int, int] | None:
    value = args.get("version")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 3:
        raise bad_args("version must be [maj, min, rev]")
    a, b, c = (_uint({"v": v}, "v") for v in value)
    return a, b, c


_Builder = Callable[[dict[str, Any]], C.Call]

#: adapter call name (the EDL's ecall name without ``ecall_``) -> argument reader
CPM_CALLS: dict[str, _Builder] = {
    "ping": lambda a: C.Ping(),
    "is_operation_supported": lambda a: C.IsOperationSupported(_str(a, "name")),
    "get_device_public_key_data_size": lambda a: C.GetDevicePublicKeyDataSize(),
    "export_device_public_key": lambda a: C.ExportDevicePublicKey(_uint(a, "size", _EXPORT_BUFFER)),
    "install_application_key": lambda a: C.InstallApplicationKey(
        _str(a, "application_id"), _bytes(a, "wrapped")
    ),
    "begin_application_deployment": lambda a: C.BeginApplicationDeployment(
        _str(a, "application_id"), _uint(a, "total_size", bits=64), _version(a)
    ),
    "initialize_decryption_aes_gcm": lambda a: C.InitializeDecryptionAesGcm(
        _str(a, "application_id"), _uint(a, "key_strength"), _bytes(a, "iv"), _bytes(a, "tag")
    ),
    "add_application_data": lambda a: C.AddApplicationData(
        _str(a, "application_id"), _bytes(a, "data")
    ),
    "verify_application_sha256_rsa_pkcs1_v15": lambda a: C.VerifyApplicationSha256RsaPkcs1V15(
        _str(a, "application_id"),
        _uint(a, "key_strength"),
        _bytes(a, "digest"),
        _bytes(a, "signature"),
        _bytes(a, "public_key"),
    ),
    "end_application_deployment": lambda a: C.EndApplicationDeployment(_str(a, "application_id")),
}


def _result(reply: C.Reply, log: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"rc": reply.rc, "log": log}
    for field, name in (
        ("version", "version"),
        ("size", "size"),
        ("data", "public_key"),
        ("is_supported", "supported"),
        ("digest_match", "digest_match"),
        ("signature_match", "signature_match"),
    ):
        value = getattr(reply, field)
        if value is not None:
            out[name] = value
    return out


# ------------------------------------------------------------------------- the device


class CpmDevice(DeviceBackend):
    """A board running the CPM TA of ``behaviour``, as an adapter backend."""

    #: the TA the board runs (a seeded faulty device, edbp.conformance.faults_blueprint,
    #: runs a subclass with one rule of the contract changed)
    cpm_class: type[C.Cpm] = C.Cpm

    def __init__(
        self,
        behaviour: Behaviour = "as-published",
        *,
        rng: RandomSource = DEFAULT_RANDOM,
        keygen: Callable[[], rsa.RSAPrivateKey] | None = None,
    ) -> None:
        if behaviour not in C.BEHAVIOURS:
            raise ConfigError(Code.CONFORMANCE_CONFIG, f"unknown CPM behaviour {behaviour!r}")
        self.behaviour: Behaviour = behaviour
        self.name = f"edbp blueprint device (CPM {behaviour})"
        self.rng = rng
        self._keygen = keygen or (lambda: rsa.generate_private_key(65537, 2048))
        self._sealed_key: rsa.RSAPrivateKey | None = None  # fixed: persistent storage
        self._test_key: rsa.RSAPrivateKey | None = None  # provisioned test material
        self.payload_keys: tuple[rsa.RSAPublicKey, ...] = ()
        self.ta_keys: tuple[rsa.RSAPublicKey, ...] = ()
        self._log: list[str] = []
        self.factory_reset(keep_keys=False)

    def __repr__(self) -> str:
        return f"CpmDevice({self.behaviour!r}, {self.cpm!r})"

    # ------------------------------------------------------------------ lifecycle

    def _device_key(self) -> rsa.RSAPrivateKey:
        """The CPM's ``keygen`` edge. As published: a new key at every TA load. Fixed: the key
        sealed in persistent storage, made once. A provisioned test key replaces either."""
        if self._test_key is not None:
            return self._test_key
        if self.behaviour != "fixed":
            return self._keygen()
        if self._sealed_key is None:
            self._sealed_key = self._keygen()
        return self._sealed_key

    def factory_reset(self, keep_keys: bool) -> None:
        """Installed TAs, floors and trust anchors erased; the TA reloaded (its RAM is gone)."""
        if not keep_keys:
            self._sealed_key = None
            self._test_key = None
        self.payload_keys = ()
        self.ta_keys = ()
        self.opaque_tas = False
        self.ta_store = SecureStorageTaStore(verify=self._verify_ta)
        self.cpm = self.cpm_class(
            self.behaviour,
            log=self._log.append,
            ta_store=self.ta_store,
            keygen=self._device_key,
        )

    def _verify_ta(self, image: bytes) -> TaIdentity:
        if self.opaque_tas:
            return OpaqueTaVerifier()(image)
        return OpteeTaVerifier(self.ta_keys)(image)

    # ------------------------------------------------------------------ adapter requests

    def handle(self, req: str, args: dict[str, Any], host: Host) -> Any:
        handler = getattr(self, "req_" + req, None)
        if handler is None:
            raise AdapterError(Code.ADAPTER_UNKNOWN_REQUEST, req[:64])
        return handler(args, host)

    def req_hello(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "name": self.name,
            "profiles": list(PROFILES),
            "suites": [SUITE_FOR[self.behaviour]],
            "capabilities": list(CAPABILITIES),
            "limits": {"max_payload": C.MAX_TA_SIZE},
        }

    def req_reset(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        self.factory_reset(keep_keys=reset_keep_keys(args, PROFILES))
        return {}

    def req_identity(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        """What ``cpk-tool pubkey`` reads: the CPM's exported key (the TA is initialised first,
        as the tool's ping does)."""
        if not self.cpm.initialized:
            self._call(C.Ping())
        reply = self._call(C.ExportDevicePublicKey(_EXPORT_BUFFER))
        if reply.rc != 0 or reply.data is None:
            raise AdapterError(Code.ADAPTER_DEVICE_ERROR, f"export_device_public_key: {reply.rc}")
        return {
            "device_public_key": reply.data,
            "cpm_ta_uuid": uuidlib.UUID(C.CPM_TA_UUID).bytes,
        }

    def req_provision(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        """``payload_keys`` and ``ta_keys`` (DER RSA public keys); with capability
        ``test-keys``: ``test_keys.device_key`` (PKCS#8 DER RSA private key: the CPM's device
        key from its next load on, so that recorded wrapped keys unwrap) and ``ta_check``
        (false: OP-TEE's install takes opaque images, for vectors whose payload is no TA)."""
        payload = self._rsa_keys(args, "payload_keys")
        ta = self._rsa_keys(args, "ta_keys")
        test_keys = args.get("test_keys")
        ta_check = args.get("ta_check", True)
        if not isinstance(ta_check, bool):
            raise bad_args("ta_check must be a boolean")
        device_key = None
        if test_keys is not None:
            if not isinstance(test_keys, dict) or not isinstance(
                test_keys.get("device_key"), bytes
            ):
                raise bad_args("test_keys needs device_key (PKCS#8 DER)")
            device_key = self._private_key(test_keys["device_key"])
        self.payload_keys = payload
        self.ta_keys = ta
        self.opaque_tas = not ta_check
        self.cpm.trust_anchors = payload
        if device_key is not None:
            self._test_key = device_key
            self.cpm.reload()  # the TA reloads with the provisioned key
        return {}

    @staticmethod
    def _private_key(der: bytes) -> rsa.RSAPrivateKey:
        try:
            key = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError):
            raise bad_args("device_key: not a PKCS#8 DER private key") from None
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 1024:
            raise bad_args("device_key: not an RSA key of >= 1024 bits")
        return key

    @staticmethod
    def _rsa_keys(args: dict[str, Any], name: str) -> tuple[rsa.RSAPublicKey, ...]:
        value = args.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, bytes) for v in value):
            raise bad_args(f"{name} must be an array of byte strings")
        try:
            return tuple(crypto.rsa_public_from_der(v) for v in value)
        except BlueprintError:
            raise bad_args(f"{name}: not a DER RSA public key") from None

    def req_state(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        tas = [
            {"uuid": uuid, "ta_version": version, "digest": digest}
            for uuid, (version, digest) in sorted(self.ta_store.installed.items())
        ]
        floors = [
            {"application_id": app, "version": list(ver)}
            for app, ver in sorted(self.cpm.floors.items())
        ]
        return {"cpm_state": self.cpm.state.value, "tas": tas, "floors": floors}

    def req_cpm(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        name = args.get("call")
        call_args = args.get("args", {})
        if not isinstance(name, str) or not isinstance(call_args, dict):
            raise bad_args("cpm needs call (text) and args (map)")
        builder = CPM_CALLS.get(name)
        if builder is None:
            raise AdapterError(Code.ADAPTER_UNKNOWN_REQUEST, f"cpm call {name[:64]}")
        call = builder(call_args)
        start = len(self._log)
        reply = self._call(call)
        return _result(reply, self._log[start:])

    def _call(self, call: C.Call) -> C.Reply:
        return self.cpm.handle(call)

    def req_deliver(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        raise AdapterError(Code.ADAPTER_CAPABILITY_MISSING, "deliver: edbp profile only")

    def req_power_cut(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        raise AdapterError(Code.ADAPTER_CAPABILITY_MISSING, "power-cut")

    def req_set_clock(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        raise AdapterError(Code.ADAPTER_CAPABILITY_MISSING, "clock")

    def req_advance_clock(self, args: dict[str, Any], host: Host) -> dict[str, Any]:
        raise AdapterError(Code.ADAPTER_CAPABILITY_MISSING, "monotonic-clock")


def make_cpm_backend(behaviour: str = "as-published") -> DeviceBackend:
    """The blueprint device running the CPM of ``behaviour`` (``as-published`` or ``fixed``);
    what ``edbp device serve --profile blueprint --cpm BEHAVIOUR`` serves."""
    if behaviour not in C.BEHAVIOURS:
        raise ConfigError(
            Code.CONFORMANCE_CONFIG,
            f"unknown CPM behaviour {behaviour!r} (choose from {', '.join(C.BEHAVIOURS)})",
        )
    return CpmDevice(behaviour)  # type: ignore[arg-type]


def blueprint_serve(behaviour: str) -> Callable[[Any], None]:
    """The blueprint device as an in-process socket server (for ``InProcessTransport``)."""
    from edbp.conformance.adapter.server import serve_socket

    backend = make_cpm_backend(behaviour)
    return lambda sock: serve_socket(sock, backend)
