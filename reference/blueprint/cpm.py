"""The Confidential Package Manager (CPM) TA, emulated sans-I/O: the EDL contract's calls in,
return codes and out-parameters out, ``ocall_log`` lines to an injected REE log sink.

Two behaviours. ``as-published`` reproduces ``ta/cpm.c`` + ``ta/cpm_crypto.c`` including its
weaknesses: no call-order checks; one global key slot (the application id is copied and never
read); the unwrap's mbedtls error and the unwrapped length logged to the REE (a padding
oracle: a bad padding logs "unwrap error", a conformant block of the wrong length only "size
mismatch"); ``verify`` compares the tag computed by the *previous* ``end`` with the current
tag and never sets ``signature_match``; ``end`` checks the GCM tag with ``memcmp`` and installs
whatever decrypts, signature or not. ``fixed`` enforces an explicit transition table, a key
slot per application, uniform unwrap failures, the digest and the signature (against trust
anchors provisioned in the TA, never the host-supplied key) before anything is installed, the
manifest binding as GCM AAD, the declared size, and a per-application version floor.

The state machine: ``DeployState`` and ``TRANSITIONS[behaviour]``; a call not in the table is
refused (``fixed``: ``RC_BAD_STATE``, deployment aborted, buffer wiped). ``as-published`` has
every (state, call) pair in its table, which is exactly its weakness.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Callable
from typing import Literal, Protocol

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.package import fixed_binding, signed_value
from edbp.reference.blueprint.ta_store import SecureStorageTaStore

from edbp.errors import BlueprintError, Code

__all__ = [
    "BEHAVIOURS",
    "CONTRACT_VERSION",
    "CPM_TA_UUID",
    "MAX_TA_SIZE",
    "TRANSITIONS",
    "Cpm",
    "DeployState",
    "Reply",
    "as_behaviour",
]

Behaviour = Literal["as-published", "fixed"]
BEHAVIOURS: tuple[Behaviour, ...] = ("as-published", "fixed")


def as_behaviour(value: object) -> Behaviour:
    """``value`` as one of ``BEHAVIOURS`` (test parameters, vector inputs and CLI options arrive
    as plain strings); ``CPM_ERROR`` when it names none."""
    for behaviour in BEHAVIOURS:
        if value == behaviour:
            return behaviour
    raise BlueprintError(Code.CPM_ERROR, f"unknown CPM behaviour {value!r}")

CPM_TA_UUID = "d3c5bbbc-adad-11eb-bd25-4362002e2749"
CONTRACT_VERSION = (0 << 16) | 1
MAX_TA_SIZE = 12 * 1024 * 1024
_SLOT = 33  # unsigned char todo_application_key[32+1]
_ID_SLOT = 64
_LOG_BUFFER = 128

SUPPORTED_OPERATIONS = (
    "ecall_ping",
    "ecall_is_operation_supported",
    "ecall_get_device_public_key_data_size",
    "ecall_export_device_public_key",
    "ecall_install_application_key",
    "ecall_begin_application_deployment",
    "ecall_initialize_decryption_aes_gcm",
    "ecall_add_application_data",
    "ecall_verify_application_sha256_rsa_pkcs1_v15",
    "ecall_end_application_deployment",
)

# fixed-only return codes (as published, errors are -1..-4 per call; see spec/blueprint.md)
RC_BAD_STATE = -5
RC_NO_KEY = -6
RC_NOT_VERIFIED = -7
RC_ROLLBACK = -8
RC_SIZE = -9


# ----------------------------------------------------------------------------- calls


@attrs.frozen
class Ping:
    pass


@attrs.frozen
class IsOperationSupported:
    name: str


@attrs.frozen
class GetDevicePublicKeyDataSize:
    pass


@attrs.frozen
class ExportDevicePublicKey:
    size: int


@attrs.frozen
class InstallApplicationKey:
    application_id: str
    wrapped: bytes


@attrs.frozen
class BeginApplicationDeployment:
    application_id: str
    total_size: int
    #: fixed only: the version the manifest states (bound by AAD and signature)
    version: tuple[int, int, int] | None = None


@attrs.frozen
class InitializeDecryptionAesGcm:
    application_id: str
    key_strength: int
    iv: bytes
    tag: bytes


@attrs.frozen
class AddApplicationData:
    application_id: str
    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")


@attrs.frozen
class VerifyApplicationSha256RsaPkcs1V15:
    application_id: str
    key_strength: int
    digest: bytes
    signature: bytes
    public_key: bytes  # DER RSAPublicKey, supplied by the (untrusted) host


@attrs.frozen
class EndApplicationDeployment:
    application_id: str


Call = (
    Ping
    | IsOperationSupported
    | GetDevicePublicKeyDataSize
    | ExportDevicePublicKey
    | InstallApplicationKey
    | BeginApplicationDeployment
    | InitializeDecryptionAesGcm
    | AddApplicationData
    | VerifyApplicationSha256RsaPkcs1V15
    | EndApplicationDeployment
)


@attrs.frozen
class Reply:
    """Return code and out-parameters of one ecall."""

    rc: int
    version: int | None = None
    size: int | None = None
    data: bytes | None = None
    is_supported: bool | None = None
    digest_match: bool | None = None
    signature_match: bool | None = None


# ----------------------------------------------------------------------------- state machine


class DeployState(enum.Enum):
    IDLE = "IDLE"
    BEGUN = "BEGUN"
    DECRYPTING = "DECRYPTING"
    VERIFIED = "VERIFIED"


S = DeployState
_ANYTIME = (Ping, IsOperationSupported, GetDevicePublicKeyDataSize, ExportDevicePublicKey)
_SAME = None  # next state = current state

_PUBLISHED: dict[tuple[DeployState, type], DeployState | None] = {}
for _s in S:
    for _c in (*_ANYTIME, InstallApplicationKey, VerifyApplicationSha256RsaPkcs1V15):
        _PUBLISHED[(_s, _c)] = _SAME
    _PUBLISHED[(_s, BeginApplicationDeployment)] = S.BEGUN
    _PUBLISHED[(_s, InitializeDecryptionAesGcm)] = S.DECRYPTING
    _PUBLISHED[(_s, AddApplicationData)] = S.DECRYPTING
    _PUBLISHED[(_s, EndApplicationDeployment)] = S.IDLE

_FIXED: dict[tuple[DeployState, type], DeployState | None] = {
    (_s, _c): _SAME for _s in S for _c in _ANYTIME
}
_FIXED.update(
    {
        (S.IDLE, InstallApplicationKey): S.IDLE,
        (S.IDLE, BeginApplicationDeployment): S.BEGUN,
        (S.BEGUN, InitializeDecryptionAesGcm): S.DECRYPTING,
        (S.DECRYPTING, AddApplicationData): S.DECRYPTING,
        (S.DECRYPTING, VerifyApplicationSha256RsaPkcs1V15): S.VERIFIED,
        (S.VERIFIED, EndApplicationDeployment): S.IDLE,
    }
)

#: behaviour -> (state, call type) -> next state on rc == 0 (None: unchanged)
TRANSITIONS: dict[str, dict[tuple[DeployState, type], DeployState | None]] = {
    "as-published": _PUBLISHED,
    "fixed": _FIXED,
}


def _default_keygen() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _u32hex(ret: int) -> str:
    return f"{ret & 0xFFFFFFFF:x}"


class _Hasher(Protocol):
    """What the deployment needs of a running ``hashlib`` hash."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


@attrs.define
class _Deployment:
    """Fixed behaviour's per-deployment context (wiped at every exit)."""

    application_id: str
    total_size: int
    version: tuple[int, int, int]
    tag: bytes = b""
    received: int = 0
    hasher: _Hasher = attrs.field(factory=hashlib.sha256, repr=False)
    digest_match: bool = False
    signature_match: bool = False


class Cpm:
    """One CPM TA instance. ``log`` is ``ocall_log`` (the REE sees every line);
    ``ta_store`` is OP-TEE's secure-storage install; ``trust_anchors`` are the RSA keys the
    ``fixed`` TA accepts payload signatures from; ``keygen`` makes the device key at every
    (re)load (inject a fixed key for reproducible vectors)."""

    def __init__(
        self,
        behaviour: Behaviour = "as-published",
        *,
        log: Callable[[str], None] | None = None,
        ta_store: SecureStorageTaStore | None = None,
        trust_anchors: tuple[rsa.RSAPublicKey, ...] = (),
        keygen: Callable[[], rsa.RSAPrivateKey] = _default_keygen,
    ) -> None:
        self.behaviour = as_behaviour(behaviour)
        self.log_lines: list[str] = []
        self._log_sink = log
        self.ta_store = ta_store if ta_store is not None else SecureStorageTaStore()
        self.trust_anchors = trust_anchors
        self._keygen = keygen
        self.floors: dict[str, tuple[int, int, int]] = {}  # fixed: survives reloads (persistent)
        self._reset_volatile()

    def __repr__(self) -> str:
        return f"Cpm({self.behaviour!r}, state={self.state.name})"

    # ------------------------------------------------------------------ volatile TA memory

    def _reset_volatile(self) -> None:
        self.state = DeployState.IDLE
        self.initialized = False
        self._device_key: rsa.RSAPrivateKey | None = None
        self._public_der = b""
        self._slot = bytearray(_SLOT)
        self._slot_id = bytearray(_ID_SLOT)
        self._slots: dict[str, bytearray] = {}
        self._iv = bytes(12)
        self._tag = bytes(16)
        self._calculated_tag = bytes(16)
        self._gcm: crypto.GcmDecryptor | None = None
        self._finished_tag: bytes | None = None
        self._buffer: bytearray | None = None
        self._deploy: _Deployment | None = None

    def reload(self) -> None:
        """TA unload/reload (reboot): every key, slot and deployment is lost; the device key
        is regenerated on the next ping/begin (as built). Version floors persist."""
        for buf in (self._slot, *self._slots.values(), self._buffer or bytearray()):
            buf[:] = bytes(len(buf))
        self._reset_volatile()

    def _log(self, message: str) -> None:
        line = message[: _LOG_BUFFER - 1]
        self.log_lines.append(line)
        if self._log_sink is not None:
            self._log_sink(line)

    def _enc_main(self) -> None:
        self._log("Starting ConfidentialPackageManager Instance configuration")
        self._device_key = self._keygen()
        self._public_der = crypto.rsa_public_to_pkcs1_der(self._device_key.public_key())
        self.initialized = True

    @property
    def device_public_key(self) -> rsa.RSAPublicKey | None:
        return None if self._device_key is None else self._device_key.public_key()

    # ------------------------------------------------------------------ dispatch

    def handle(self, call: Call) -> Reply:
        """Run one ecall through the transition table."""
        table = TRANSITIONS[self.behaviour]
        key = (self.state, type(call))
        if key not in table:
            self._abort()
            self._log("call refused in this state")
            return Reply(RC_BAD_STATE)
        handler = getattr(self, f"_{type(call).__name__}")
        reply: Reply = handler(call)
        if reply.rc == 0:
            nxt = table[key]
            if nxt is not None:
                self.state = nxt
        elif (
            self.behaviour == "fixed"
            and self.state is not DeployState.IDLE
            and not isinstance(call, _ANYTIME)
        ):
            self._abort()
        return reply

    def _abort(self) -> None:
        if self._buffer is not None:
            self._buffer[:] = bytes(len(self._buffer))
        self._buffer = None
        self._gcm = None
        self._deploy = None
        self.state = DeployState.IDLE

    @property
    def fixed(self) -> bool:
        return self.behaviour == "fixed"

    # ------------------------------------------------------------------ calls

    def _Ping(self, call: Ping) -> Reply:
        self._log("ecall_ping")
        if not self.initialized:
            self._enc_main()
        return Reply(0, version=CONTRACT_VERSION)

    def _IsOperationSupported(self, call: IsOperationSupported) -> Reply:
        return Reply(0, is_supported=call.name in SUPPORTED_OPERATIONS)

    def _GetDevicePublicKeyDataSize(self, call: GetDevicePublicKeyDataSize) -> Reply:
        return Reply(0, size=len(self._public_der))

    def _ExportDevicePublicKey(self, call: ExportDevicePublicKey) -> Reply:
        if not self.initialized:
            return Reply(-1)
        if call.size < len(self._public_der):
            return Reply(-2)
        return Reply(0, data=self._public_der)

    def _InstallApplicationKey(self, call: InstallApplicationKey) -> Reply:
        if self.fixed:
            return self._install_key_fixed(call)
        raw_id = call.application_id.encode()[:_ID_SLOT]
        self._slot_id[: len(raw_id)] = raw_id  # copied without terminator, never read again
        self._slot_id[_ID_SLOT - 1] = 0
        self._log(f"ecall_install_application_key({len(call.wrapped)})")
        if self._device_key is None:
            result = crypto.Pkcs1Result(-0x3E80)  # MBEDTLS_ERR_PK_BAD_INPUT_DATA: no key set up
        else:
            result = crypto.pkcs1v15_decode(self._device_key, call.wrapped, _SLOT)
        olen = len(result.message) if result.ret == 0 else 0
        if result.ret == 0:
            self._slot[:olen] = result.message  # written even when the length is then refused
            if olen == _SLOT:
                self._log("Loaded application key")
        if result.ret != 0:
            self._log(f"Application key unwrap error ({_u32hex(result.ret)})")
        if olen != _SLOT - 1:
            self._log(f"Application key size mismatch ({olen})")
            return Reply(-1)
        return Reply(0)

    def _install_key_fixed(self, call: InstallApplicationKey) -> Reply:
        ok = self._device_key is not None and 0 < len(call.application_id) < _ID_SLOT
        result = (
            crypto.pkcs1v15_decode(self._device_key, call.wrapped, _SLOT)
            if ok and self._device_key
            else None
        )
        if result is None or result.ret != 0 or len(result.message) != 32:
            self._log("application key rejected")
            return Reply(-1)
        self._slots[call.application_id] = bytearray(result.message)
        self._log("application key installed")
        return Reply(0)

    def _BeginApplicationDeployment(self, call: BeginApplicationDeployment) -> Reply:
        self._log("ecall_begin_application_deployment")
        if not self.initialized:
            self._enc_main()
        if not self.fixed:
            return Reply(0)
        if call.application_id not in self._slots:
            return Reply(RC_NO_KEY)
        if call.version is None or not 0 <= call.total_size <= MAX_TA_SIZE:
            return Reply(RC_SIZE if call.version is not None else -1)
        floor = self.floors.get(call.application_id)
        if floor is not None and tuple(call.version) <= floor:
            return Reply(RC_ROLLBACK)
        a, b, c = call.version
        self._deploy = _Deployment(call.application_id, call.total_size, (a, b, c))
        return Reply(0)

    def _InitializeDecryptionAesGcm(self, call: InitializeDecryptionAesGcm) -> Reply:
        if call.key_strength != 256:
            return Reply(-1)
        if len(call.iv) != 12:
            return Reply(-2)
        if len(call.tag) != 16:
            return Reply(-3)
        if self.fixed:
            d = self._deploy
            if d is None or call.application_id != d.application_id:
                return Reply(RC_BAD_STATE)
            d.tag = call.tag
            aad = fixed_binding(d.application_id, d.application_id, d.version)
            self._gcm = crypto.GcmDecryptor(bytes(self._slots[d.application_id]), call.iv, aad)
        else:
            self._iv, self._tag = call.iv, call.tag
            self._gcm = crypto.GcmDecryptor(bytes(self._slot[:32]), call.iv)
        self._finished_tag = None
        self._buffer = bytearray()
        return Reply(0)

    def _AddApplicationData(self, call: AddApplicationData) -> Reply:
        self._log(f"ecall_add_application_data ({len(call.data)})")
        if self._buffer is None or self._gcm is None:
            return Reply(-1)
        if len(self._buffer) + len(call.data) > MAX_TA_SIZE:
            self._log(f"data_size to large ({len(call.data)})")
            return Reply(-1)
        d = self._deploy
        if self.fixed:
            if d is None or call.application_id != d.application_id:
                return Reply(RC_BAD_STATE)
            if d.received + len(call.data) > d.total_size:
                return Reply(RC_SIZE)
        plain = self._gcm.update(call.data)
        self._buffer.extend(plain)
        if d is not None:
            d.received += len(call.data)
            d.hasher.update(plain)
        return Reply(0)

    def _VerifyApplicationSha256RsaPkcs1V15(
        self, call: VerifyApplicationSha256RsaPkcs1V15
    ) -> Reply:
        if not self.fixed:
            # memcmp(calculated_tag, todo_tag): the tag of the *previous* end (zeros at first)
            return Reply(0, digest_match=self._calculated_tag == self._tag, signature_match=False)
        d = self._deploy
        if d is None or call.application_id != d.application_id:
            return Reply(RC_BAD_STATE)
        computed = d.hasher.digest()
        d.digest_match = len(call.digest) == 32 and hmac.compare_digest(computed, call.digest)
        value = signed_value(
            "fixed", computed, fixed_binding(d.application_id, d.application_id, d.version)
        )
        d.signature_match = d.digest_match and any(
            crypto.verify_digest(anchor, value, call.signature) for anchor in self.trust_anchors
        )
        return Reply(0, digest_match=d.digest_match, signature_match=d.signature_match)

    def _EndApplicationDeployment(self, call: EndApplicationDeployment) -> Reply:
        self._log("ecall_end_application_deployment")
        if self._gcm is None and self._finished_tag is None:
            self._log("cpm_crypto_finish error (ffffffff)")
            return Reply(-1)
        if self._finished_tag is None:
            assert self._gcm is not None
            self._finished_tag = self._gcm.finish()
        self._calculated_tag = self._finished_tag
        if self.fixed:
            return self._end_fixed(call)
        if self._calculated_tag != self._tag:  # memcmp, as published
            self._log("TAG mismatch")
            return Reply(-2)
        if self._buffer is None:
            self._log("Error getting plain text data")
            return Reply(-3)
        self._log(f"Installing application with size {len(self._buffer)}")
        if self.ta_store.install(bytes(self._buffer)) != 0:
            self._log("Error installing application")
            return Reply(-4)
        return Reply(0)

    def _end_fixed(self, call: EndApplicationDeployment) -> Reply:
        d = self._deploy
        try:
            if d is None or call.application_id != d.application_id:
                return Reply(RC_BAD_STATE)
            if not hmac.compare_digest(self._calculated_tag, d.tag):
                self._log("deployment refused")
                return Reply(-2)
            if d.received != d.total_size:
                self._log("deployment refused")
                return Reply(RC_SIZE)
            if not (d.digest_match and d.signature_match):
                self._log("deployment refused")
                return Reply(RC_NOT_VERIFIED)
            assert self._buffer is not None
            if self.ta_store.install(bytes(self._buffer)) != 0:
                self._log("Error installing application")
                return Reply(-4)
            self.floors[d.application_id] = d.version
            return Reply(0)
        finally:
            self._abort()


# ----------------------------------------------------------------------------- adapter helpers

#: the adapter's call names (spec/adapter.md, ``cpm`` request) -> call type
CALLS: dict[str, type] = {
    "ping": Ping,
    "is_operation_supported": IsOperationSupported,
    "get_device_public_key_data_size": GetDevicePublicKeyDataSize,
    "export_device_public_key": ExportDevicePublicKey,
    "install_application_key": InstallApplicationKey,
    "begin_application_deployment": BeginApplicationDeployment,
    "initialize_decryption_aes_gcm": InitializeDecryptionAesGcm,
    "add_application_data": AddApplicationData,
    "verify_application_sha256_rsa_pkcs1_v15": VerifyApplicationSha256RsaPkcs1V15,
    "end_application_deployment": EndApplicationDeployment,
}

_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "application_id": (str,),
    "size": (int,),
    "total_size": (int,),
    "key_strength": (int,),
    "wrapped": (bytes,),
    "iv": (bytes,),
    "tag": (bytes,),
    "data": (bytes,),
    "digest": (bytes,),
    "signature": (bytes,),
    "public_key": (bytes,),
}


def call_from_args(name: str, args: dict[str, object]) -> Call:
    """Build a call from an adapter request (name + argument map), checking every argument's
    type, so that malformed requests are a ``CPM_ERROR`` and never a lower-level exception.
    ``export_device_public_key`` without ``size`` asks with a buffer large enough for any key."""
    cls = CALLS.get(name)
    if cls is None or not isinstance(args, dict):
        raise BlueprintError(Code.CPM_ERROR, f"unknown CPM call {name!r}")
    values: dict[str, object] = {}
    for field in attrs.fields(cls):
        if field.name not in args:
            if field.name == "version" or (cls is ExportDevicePublicKey and field.name == "size"):
                values[field.name] = None if field.name == "version" else 4096
                continue
            raise BlueprintError(Code.CPM_ERROR, f"{name}: missing {field.name}")
        value = args[field.name]
        if field.name == "version":
            if value is not None and not (
                isinstance(value, list | tuple)
                and len(value) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
            ):
                raise BlueprintError(Code.CPM_ERROR, f"{name}: version is [maj, min, rev]")
            values["version"] = None if value is None else tuple(value)
            continue
        kinds = _FIELD_TYPES[field.name]
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise BlueprintError(Code.CPM_ERROR, f"{name}: {field.name} has the wrong type")
        if isinstance(value, int) and not 0 <= value < 1 << 64:
            raise BlueprintError(Code.CPM_ERROR, f"{name}: {field.name} out of range")
        values[field.name] = value
    call: Call = cls(**values)  # every CALLS value is one of Call's classes
    return call
