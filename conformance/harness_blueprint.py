"""The harness of the ``blueprint`` profile: it plays the vendor's build pipeline, the key
service and the device's REE installer (cpk-tool) around a device that runs the CPM contract.

Why these roles, and on the reference code: a blueprint device is only ever reached through
its host tool, so the harness is that tool — ``cpk-tool pubkey`` (ping, size, export),
``cpk-tool sync`` (the twin's ``desired.confidential_package_keys`` into
``install_application_key``) and ``cpk-tool install`` (ping, begin, initialize, add data in
chunks, verify, end) — each call going over the adapter's ``cpm`` request. Behind it the
vendor's cloud is the reference key service (``KeyService`` over a ``MemorySecretStore`` and a
``TwinStore``: ProvisionKey, WrapKey, DistributeKey exactly as published) and a build agent that
obtains the class key as the published pipeline does (``WrapKey`` to its own RSA key) and builds
CPK files with ``build_cpk``. Payloads are real OP-TEE TA images (``sign_ta``) so the
device's OP-TEE install checks signature, UUID and version as on a board.

The package binding follows the suite the device declared in ``hello``
(``blueprint_device.SUITE_FOR``): a ``fixed`` CPM needs the manifest bound as GCM AAD and in the
signed value, and its version passed to ``begin``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import uuid as uuidlib
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.conformance.adapter.client import DeviceClient, DeviceError
from edbp.conformance.blueprint_device import SUITE_FOR
from edbp.conformance.outcome import CaseFailure
from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.keyservice import DESIRED_PROPERTY, REPORTED_PROPERTY, KeyService
from edbp.reference.blueprint.mutations import assemble, split_streams
from edbp.reference.blueprint.package import Binding, CpkReader, PackageParts, build_cpk
from edbp.reference.blueprint.secret_store import MemorySecretStore
from edbp.reference.blueprint.twins import TwinStore
from edbp.reference.optee.sign import sign_ta
from edbp.reference.rand import RandomSource, SeededRandom

from edbp.errors import BlueprintError, Code, ConfigError, EdbpError

__all__ = [
    "APP",
    "DATE",
    "OTHER_APP",
    "TA_UUID",
    "BlueprintCloud",
    "BlueprintHarness",
    "CpmResult",
    "Deployment",
    "edit_manifest",
    "flip_bit",
    "replace_stream",
    "run_blueprint_vector",
    "shared_cloud",
]

#: application names (key names, cp-id): 5-36 characters of [0-9A-Za-z-]
APP = "cpk-conformance"
OTHER_APP = "cpk-conformance-other"
#: the TA every case deploys
TA_UUID = uuidlib.UUID("5b9e0e40-2636-11e1-ad9e-0002a5d5c51b")
DATE = "2021-10-05 12:52:37.489525 UTC"
CHUNK = 64 * 1024  # the host's add_application_data block


# ------------------------------------------------------------------------- package edits


def replace_stream(cpk: bytes, index: int, value: bytes) -> bytes:
    """The package with stream ``index`` replaced (contiguous layout, table rewritten)."""
    streams = split_streams(cpk)
    streams[index] = value
    return assemble(streams)


def flip_bit(cpk: bytes, index: int, at: int = 0) -> bytes:
    """One bit of stream ``index`` flipped."""
    data = bytearray(split_streams(cpk)[index])
    data[at] ^= 0x01
    return replace_stream(cpk, index, bytes(data))


def edit_manifest(cpk: bytes, edit: Callable[[dict[str, Any]], object]) -> bytes:
    """The package with its JSON manifest (stream 6, prototype layout) edited."""
    doc = json.loads(split_streams(cpk)[6])
    edit(doc)
    return replace_stream(cpk, 6, json.dumps(doc, separators=(",", ":")).encode())


# ------------------------------------------------------------------------- the vendor's cloud


class BlueprintCloud:
    """Keys, key service and package builds shared by every case of a run.

    Signers: ``vendor`` (the package signing key the fixed CPM is provisioned with) and
    ``attacker`` (a key nobody trusts, with its own self-signed certificate). TA signing keys:
    ``tak`` (the vendor's) and ``dev_tak``, a stand-in for OP-TEE's default development key,
    which OP-TEE builds fall back to unless configured (spec/blueprint.md §8): the attacker can
    sign TA images with it, so the CPM's own signature check is what is under test.
    """

    def __init__(self, seed: str = "edbp-blueprint-conformance") -> None:
        import datetime as dt

        self.rng: RandomSource = SeededRandom(seed)

        def gen() -> rsa.RSAPrivateKey:  # RSA keygen cannot be seeded through cryptography
            return rsa.generate_private_key(65537, 2048)

        when = dt.datetime(2021, 10, 5, tzinfo=dt.UTC)
        self.signer = gen()
        self.signer_cert = crypto.self_signed_certificate(
            self.signer, "vendor", rng=self.rng.fork("vendor-cert"), not_before=when
        )
        self.attacker = gen()
        self.attacker_cert = crypto.self_signed_certificate(
            self.attacker, "attacker", rng=self.rng.fork("attacker-cert"), not_before=when
        )
        self.tak = gen()
        self.dev_tak = gen()
        self.build_agent = gen()
        self.keys = KeyService(MemorySecretStore(), TwinStore(), rng=self.rng.fork("keyservice"))
        self._packages: dict[tuple[Any, ...], bytes] = {}
        self._images: dict[tuple[Any, ...], bytes] = {}
        self._twins = 0

    def __repr__(self) -> str:
        return f"BlueprintCloud({self.keys!r})"

    # ------------------------------------------------------------------ key service

    def ensure_key(self, app: str) -> None:
        """``ProvisionKey/{app}`` once (it would silently overwrite a second time)."""
        if not self.keys.secrets.exists(app):
            self.keys.provision_key(app)

    def wrap_to(self, app: str, public_key: rsa.RSAPublicKey) -> bytes:
        """``WrapKey{key_name, client_public_key}``: the class key to any RSA key."""
        self.ensure_key(app)
        spki = base64.b64encode(crypto.rsa_public_to_spki_der(public_key)).decode()
        return base64.b64decode(self.keys.wrap_key(app, spki))

    def class_key_for(self, app: str, holder: rsa.RSAPrivateKey) -> bytes:
        """What ``holder`` learns by asking WrapKey for its own key and unwrapping: the build
        agent's path, and the attacker's (the service releases to any key)."""
        result = crypto.pkcs1v15_decode(holder, self.wrap_to(app, holder.public_key()), 64)
        if result.ret != 0 or len(result.message) != 32:
            raise ConfigError(Code.CONFORMANCE_CONFIG, "key service returned an unusable wrap")
        return result.message

    def new_twin(self, label: str) -> str:
        self._twins += 1
        digest = hashlib.sha256(label.encode()).hexdigest()[:12]
        device_id = f"bp-{self._twins}-{digest}"
        self.keys.twins.register(device_id)
        return device_id

    # ------------------------------------------------------------------ builds

    def ta_image(self, ta_version: int, label: str = "vendor", *, dev_key: bool = False) -> bytes:
        """An OP-TEE TA image (bootstrap, PSS) of ``TA_UUID``; its body names ``label``."""
        key = ("ta", ta_version, label, dev_key)
        if key not in self._images:
            head = f"edbp blueprint conformance TA {label} v{ta_version}\n".encode()
            body = (head * (2500 // len(head) + 1))[:2500]
            self._images[key] = sign_ta(
                body,
                self.dev_tak if dev_key else self.tak,
                TA_UUID,
                ta_version,
                rng=self.rng.fork(f"ta/{ta_version}/{label}/{dev_key}"),
            )
        return self._images[key]

    def package(
        self,
        binding: Binding,
        *,
        app: str = APP,
        ver: tuple[int, int, int] = (1, 0, 0),
        ta_version: int = 1,
        label: str = "vendor",
        signer: str = "vendor",
    ) -> bytes:
        """A CPK built by the vendor's pipeline (``signer="attacker"``: by the attacker, who
        got the class key from WrapKey and signs with its own key and certificate)."""
        key = (binding, app, ver, ta_version, label, signer)
        if key not in self._packages:
            sign_key, cert, holder = self._signer(signer)
            image = self.ta_image(ta_version, label, dev_key=signer == "attacker")
            out = io.BytesIO()
            build_cpk(
                out,
                io.BytesIO(image),
                class_key=self.class_key_for(app, holder),
                signing_key=sign_key,
                certificate=cert,
                cp_id=app,
                cp_name="Conformance TA",
                cp_vendor="attacker" if signer == "attacker" else "Vendor",
                date=DATE,
                ver=ver,
                rng=self.rng.fork(f"cpk/{'/'.join(map(str, key))}"),
                binding=binding,
            )
            self._packages[key] = out.getvalue()
        return self._packages[key]

    def _signer(self, signer: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate, rsa.RSAPrivateKey]:
        if signer == "vendor":
            return self.signer, self.signer_cert, self.build_agent
        if signer == "attacker":
            return self.attacker, self.attacker_cert, self.attacker
        raise ConfigError(Code.CONFORMANCE_CONFIG, f"unknown signer {signer!r}")


@functools.cache
def shared_cloud() -> BlueprintCloud:
    """One cloud per process: keys and packages are made once for the whole run."""
    return BlueprintCloud()


# ------------------------------------------------------------------------- results


@attrs.frozen
class CpmResult:
    """One ecall through the adapter: return code, out-parameters, REE log lines."""

    call: str
    rc: int
    out: Mapping[str, Any]
    log: tuple[str, ...]


@attrs.frozen
class Deployment:
    """What ``cpk-tool install`` saw: every call up to the first non-zero return code."""

    calls: tuple[CpmResult, ...]
    #: the host's own refusal between calls (a stream it could not read), as a Code name
    host_error: str | None = None

    @property
    def completed(self) -> bool:
        """Every call returned 0 (the CPM says it installed)."""
        return (
            self.host_error is None
            and bool(self.calls)
            and all(c.rc == 0 for c in self.calls)
            and (self.calls[-1].call == "end_application_deployment")
        )

    @property
    def refused_at(self) -> tuple[str, int] | None:
        last = self.calls[-1] if self.calls else None
        return None if last is None or last.rc == 0 else (last.call, last.rc)

    @property
    def verify(self) -> CpmResult | None:
        for c in self.calls:
            if c.call == "verify_application_sha256_rsa_pkcs1_v15":
                return c
        return None

    def outcome(self) -> str:
        """The vectors' notation: ``installed``, ``host:<CODE>`` or ``cpm:<Call>:<rc>`` with
        the reference's call class name."""
        if self.host_error is not None:
            return f"host:{self.host_error}"
        if self.completed:
            return "installed"
        at = self.refused_at
        if at is None:
            return "no call made"
        return f"cpm:{''.join(w.capitalize() for w in at[0].split('_'))}:{at[1]}"

    def describe(self) -> str:
        if self.host_error is not None:
            return f"the host stopped: {self.host_error}"
        if self.completed:
            return "installed (every call returned 0)"
        at = self.refused_at
        return f"{at[0]} returned {at[1]}" if at else "no call made"


# ------------------------------------------------------------------------- the harness


class BlueprintHarness:
    """The REE host tool and the vendor's cloud around one freshly reset blueprint device."""

    def __init__(self, device: DeviceClient, cloud: BlueprintCloud, label: str = "case") -> None:
        self.device = device
        self.cloud = cloud
        self.label = label
        info = device.info if device.info is not None else device.hello()
        self.binding: Binding = "fixed" if SUITE_FOR["fixed"] in info.suites else "as-published"
        self.device_id = cloud.new_twin(label)

    def __repr__(self) -> str:
        return f"BlueprintHarness({self.binding!r}, {self.device_id!r})"

    # ------------------------------------------------------------------ adapter

    def call(self, req: str, args: dict[str, Any], *, step: str) -> Any:
        try:
            return self.device.call(req, args)
        except DeviceError as exc:
            name = exc.code.name if isinstance(exc.code, Code) else str(exc.raw_code)
            raise CaseFailure(
                step, f"{req} answered", f"error {exc.raw_code} {name}", exc.raw_code
            ) from None

    def cpm(self, call: str, step: str | None = None, **args: Any) -> CpmResult:
        """One ecall; the adapter reply must carry an integer ``rc``."""
        got = self.call("cpm", {"call": call, "args": args}, step=step or call)
        rc = got.get("rc") if isinstance(got, dict) else None
        log = got.get("log", []) if isinstance(got, dict) else []
        if not isinstance(rc, int) or isinstance(rc, bool):
            raise CaseFailure(step or call, "a cpm result with an integer rc", got)
        if not isinstance(log, list) or not all(isinstance(x, str) for x in log):
            log = [repr(log)]
        return CpmResult(call, rc, dict(got), tuple(log))

    @staticmethod
    def expect_rc(result: CpmResult, rc: int, step: str) -> CpmResult:
        if result.rc != rc:
            raise CaseFailure(step, f"{result.call} rc {rc}", f"rc {result.rc}")
        return result

    def provision(self) -> None:
        """Trust anchors: the vendor's package signing key (the fixed CPM's anchor) and the TA
        signing keys the device's OP-TEE accepts."""
        spki = crypto.rsa_public_to_spki_der
        self.call(
            "provision",
            {
                "payload_keys": [spki(self.cloud.signer.public_key())],
                "ta_keys": [
                    spki(self.cloud.tak.public_key()),
                    spki(self.cloud.dev_tak.public_key()),
                ],
            },
            step="provision",
        )

    def state(self) -> dict[str, Any]:
        got = self.call("state", {}, step="state")
        if not isinstance(got, dict) or not isinstance(got.get("tas"), list):
            raise CaseFailure("state", "a state with tas", got)
        return got

    def installed(self) -> dict[bytes, tuple[int, bytes]]:
        """Installed TAs: uuid -> (TA version, SHA-256 of the image)."""
        out: dict[bytes, tuple[int, bytes]] = {}
        for entry in self.state()["tas"]:
            try:
                out[bytes(entry["uuid"])] = (int(entry["ta_version"]), bytes(entry["digest"]))
            except (KeyError, TypeError, ValueError):
                raise CaseFailure(
                    "state", "tas entries with uuid, ta_version, digest", entry
                ) from None
        return out

    def has_image(self, image: bytes) -> bool:
        digest = hashlib.sha256(image).digest()
        return any(d == digest for _, d in self.installed().values())

    # ------------------------------------------------------------------ cpk-tool pubkey, sync

    def public_key(self, step: str = "pubkey") -> rsa.RSAPublicKey:
        """``cpk-tool pubkey``: ping, get size, export; the DER RSAPublicKey parsed."""
        self.expect_rc(self.cpm("ping", f"{step}: ping"), 0, f"{step}: ping")
        size = self.expect_rc(
            self.cpm("get_device_public_key_data_size", f"{step}: size"), 0, f"{step}: size"
        ).out.get("size")
        if not isinstance(size, int) or size <= 0:
            raise CaseFailure(f"{step}: size", "a positive key size", size)
        der = self.expect_rc(
            self.cpm("export_device_public_key", f"{step}: export", size=size), 0, f"{step}: export"
        ).out.get("public_key")
        if not isinstance(der, bytes):
            raise CaseFailure(f"{step}: export", "public_key bytes", der)
        try:
            return crypto.rsa_public_from_der(der)
        except EdbpError:
            raise CaseFailure(f"{step}: export", "a DER RSA public key", der) from None

    def sync(
        self, app: str = APP, *, install_as: str | None = None, step: str = "sync"
    ) -> CpmResult:
        """The key path of the published system: report the device key to the twin, one
        DistributeKey run, then ``cpk-tool sync`` installs ``app``'s wrapped key from the
        desired property (under application id ``install_as``, default ``app``)."""
        pub = self.public_key(f"{step}: pubkey")
        spki = base64.b64encode(crypto.rsa_public_to_spki_der(pub)).decode()
        self.cloud.ensure_key(app)
        self.cloud.keys.twins.update_reported(self.device_id, {REPORTED_PROPERTY: spki})
        self.cloud.keys.distribute_keys()
        desired = self.cloud.keys.twins.get(self.device_id)["properties"]["desired"]
        wrapped = desired.get(DESIRED_PROPERTY, {}).get(app)
        if not isinstance(wrapped, str):
            raise CaseFailure(f"{step}: DistributeKey", f"a wrapped key for {app}", desired)
        return self.cpm(
            "install_application_key",
            f"{step}: install_application_key",
            application_id=install_as or app,
            wrapped=base64.b64decode(wrapped),
        )

    # ------------------------------------------------------------------ cpk-tool install

    def deploy(self, cpk: bytes, step: str = "install", *, chunk: int = CHUNK) -> Deployment:
        """``cpk-tool install``: parse, then ping, begin, initialize, add data, verify, end,
        stopping at the first non-zero return code. The application id is ``cp-id``."""
        try:
            reader = CpkReader(io.BytesIO(cpk))
            parts, key = self._extract(reader)
        except EdbpError as exc:
            raise CaseFailure(
                f"{step}: parse", "a package the host can read", exc.code.name
            ) from None
        return self._drive(reader, parts, key, step, chunk)

    @staticmethod
    def _extract(reader: CpkReader) -> tuple[PackageParts, rsa.RSAPublicKey]:
        """The installer's extraction: the parts and the certificate's RSA key."""
        parts = reader.parts()
        key = crypto.load_certificate_pem(parts.certificate_pem).public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise BlueprintError(Code.CPK_UNSUPPORTED_SCHEME, "certificate key is not RSA")
        return parts, key

    def replay_install(self, cpk: bytes, step: str = "install") -> str:
        """A recorded package through the host and the device, as the vectors state outcomes:
        ``parse:<CODE>`` (the host's parser: lenient for as-published, strict for fixed),
        ``host:<CODE>``, ``cpm:<Call>:<rc>`` or ``installed``."""
        try:
            reader = CpkReader(io.BytesIO(cpk), strict=self.binding == "fixed")
        except EdbpError as exc:
            return f"parse:{exc.code.name}"
        try:
            parts, key = self._extract(reader)
        except EdbpError as exc:
            return f"host:{exc.code.name}"
        return self._drive(reader, parts, key, step, CHUNK).outcome()

    def _drive(
        self,
        reader: CpkReader,
        parts: PackageParts,
        key: rsa.RSAPublicKey,
        step: str,
        chunk: int,
    ) -> Deployment:
        app = parts.manifest.cp_id
        begin: dict[str, Any] = {"application_id": app, "total_size": parts.ciphertext[1]}
        if self.binding == "fixed":
            begin["version"] = list(parts.manifest.ver)
        calls: list[CpmResult] = []

        def run(name: str, **args: Any) -> bool:
            calls.append(self.cpm(name, f"{step}: {name}", **args))
            return calls[-1].rc == 0

        ok = run("ping") and run("begin_application_deployment", **begin)
        ok = ok and run(
            "initialize_decryption_aes_gcm",
            application_id=app,
            key_strength=parts.key_strength,
            iv=parts.nonce,
            tag=parts.tag,
        )
        if ok:
            try:
                for block in reader.iter_ciphertext(chunk):
                    if not run("add_application_data", application_id=app, data=block):
                        ok = False
                        break
            except EdbpError as exc:  # a stream table entry past the end of the file
                return Deployment(tuple(calls), exc.code.name)
        ok = ok and run(
            "verify_application_sha256_rsa_pkcs1_v15",
            application_id=app,
            key_strength=parts.signature_key_strength,
            digest=parts.digest,
            signature=parts.signature,
            public_key=crypto.rsa_public_to_pkcs1_der(key),
        )
        ok = ok and run("end_application_deployment", application_id=app)
        return Deployment(tuple(calls))

    def expect_installed(self, cpk: bytes, image: bytes, step: str) -> Deployment:
        """A deployment that must complete and leave ``image`` installed."""
        got = self.deploy(cpk, step)
        if not got.completed:
            raise CaseFailure(step, "installed (every call rc 0)", got.describe())
        if not self.has_image(image):
            raise CaseFailure(f"{step} (state)", "the TA installed", self.installed())
        return got

    def expect_refused(self, cpk: bytes, call: str, rc: int, step: str) -> Deployment:
        """A deployment refused by ``call`` with ``rc``, and nothing installed or replaced."""
        before = self.installed()
        got = self.deploy(cpk, step)
        if got.refused_at != (call, rc):
            raise CaseFailure(step, f"{call} returned {rc}", got.describe())
        after = self.installed()
        if after != before:
            raise CaseFailure(f"{step} (state unchanged)", before, after)
        return got


# ------------------------------------------------------------------------- vector replay


def _hex(value: Any, what: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except (TypeError, ValueError):
        raise CaseFailure("vector input", f"{what} (hex)", value) from None


def run_blueprint_vector(bp: BlueprintHarness, test: Mapping[str, Any]) -> None:
    """Replay one blueprint vector (``vectors/blueprint/*.json``) through the adapter.

    Each step provisions the recorded device key (capability ``test-keys``; the CPM reloads
    with it) and the recorded trust anchors, with OP-TEE's image check off (the recorded
    payloads are opaque bytes, not TA images), then:
    ``cpm.install_application_key``: the recorded wrapped key, expecting the recorded rc;
    ``cpk.install``: the recorded wrapped key installed (twin sync), then the package through
    the host and the CPM, expecting the recorded outcome. An ``acceptable`` vector records a
    published weakness (the as-published CPM installs it): a refusal passes too. The REE log
    lines the vectors record are not compared: they are no part of the EDL contract (the
    padding-oracle advisory judges them).
    """
    for i, step in enumerate(test.get("steps", [])):
        op, inp, expect = step.get("op"), step.get("input", {}), step.get("expect", {})
        label = f"step {i} ({op})"
        bp.call(
            "provision",
            {
                "payload_keys": [_hex(a, "trustAnchors") for a in inp.get("trustAnchors", [])],
                "ta_keys": [],
                "test_keys": {"device_key": _hex(inp.get("deviceKey"), "deviceKey")},
                "ta_check": False,
            },
            step=f"{label}: provision",
        )
        bp.expect_rc(bp.cpm("ping", f"{label}: ping"), 0, f"{label}: ping")
        app = inp.get("applicationId")
        if op == "cpm.install_application_key":
            got = bp.cpm(
                "install_application_key",
                label,
                application_id=app,
                wrapped=_hex(inp.get("wrapped"), "wrapped"),
            )
            if got.rc != expect.get("rc"):
                raise CaseFailure(label, f"rc {expect.get('rc')}", f"rc {got.rc}")
        elif op == "cpk.install":
            key = bp.cpm(
                "install_application_key",
                f"{label}: install_application_key",
                application_id=app,
                wrapped=_hex(inp.get("wrappedKey"), "wrappedKey"),
            )
            bp.expect_rc(key, 0, f"{label}: install_application_key")
            before = bp.installed()
            outcome = bp.replay_install(_hex(inp.get("cpk"), "cpk"), label)
            want = expect.get("outcome")
            acceptable = test.get("result") == "acceptable" and outcome != "installed"
            if outcome != want and not acceptable:
                raise CaseFailure(label, want, outcome)
            after = bp.installed()
            if outcome != "installed" and after != before:
                raise CaseFailure(f"{label} (state unchanged)", before, after)
        else:
            raise CaseFailure(label, "a blueprint vector op", op)
