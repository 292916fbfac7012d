"""A test-side TAM and Author that build deliveries in the layout the Agent documents
(``edbp.reference.device.update``), from the wire layer only. Tests drive the Agent with them
independently of the cloud roles."""

from __future__ import annotations

import hashlib
from typing import Any

import attrs
from edbp.reference.build.package import (
    author_manifest_id,
    device_manifest_id,
    staging_component,
)
from edbp.reference.rand import RandomSource, SeededRandom
from edbp.reference.wire import cose, teep
from edbp.reference.wire.suit_commands import Command, CommandSequence, EncryptionInfo, Parameters
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_crypto import sign_envelope
from edbp.reference.wire.suit_envelope import Common, Dependency, Envelope, Manifest
from edbp.reference.wire.suit_labels import SuitCommand as C

VENDOR = bytes.fromhex("fa6b4a53d5ad5fdfbe9de663e4d41ffe")
CLASS_A = bytes.fromhex("1492af1425695e48bf429b2d51f2ab45")
CLASS_B = bytes.fromhex("22222222222222222222222222222222")
COMPONENT = (b"TEEP-Device", b"SecureFS", bytes.fromhex("8d82573a926d4754935332dc29997f74"))


@attrs.frozen
class Package:
    """What the Author publishes: signed author envelope, ciphertext, and (Author-side secrets
    the test keeps to build deliveries and check results) the CEK and plaintext."""

    envelope: bytes
    ciphertext: bytes
    uri: str
    cek: bytes = attrs.field(repr=False)
    iv: bytes
    plaintext: bytes = attrs.field(repr=False)
    sequence: int
    alg: cose.Alg
    vendor_id: bytes = VENDOR
    class_id: bytes = CLASS_A


def _cmd(code: int, arg: Any = 15) -> Command:
    return Command(int(code), arg)


class MiniAuthor:
    def __init__(self, rng: RandomSource, ask: cose.CoseKey | None = None) -> None:
        self.rng = rng
        self.ask = ask or cose.CoseKey.generate(cose.Curve.P256, rng.fork("ask"))

    def publish(
        self,
        plaintext: bytes,
        sequence: int,
        *,
        class_id: bytes = CLASS_A,
        vendor_id: bytes = VENDOR,
        component: tuple[bytes, ...] = COMPONENT,
        alg: cose.Alg = cose.Alg.A128GCM,
        key: cose.CoseKey | None = None,
        uninstall: CommandSequence | None = None,
        extra_components: tuple[tuple[bytes, ...], ...] = (),
    ) -> Package:
        r = self.rng.fork(f"publish-{sequence}-{len(plaintext)}")
        info = cose.alg_info(alg)
        cek = r.random_bytes(info.key_bytes)
        iv = r.random_bytes(info.iv_bytes)
        protected = {1: int(alg)} if alg in cose.AEAD_ALGS else {}
        unprotected = {} if protected else {1: int(alg)}
        headers = cose.Headers.make(protected, {5: iv, **unprotected})
        aad = cose.enc_structure("Encrypt", headers.protected_raw, b"")
        ciphertext = cose.encrypt_content(alg, cek, iv, plaintext, aad)
        uri = "oci://packages/ta@sha256:" + hashlib.sha256(ciphertext).hexdigest()
        class_key = cose.CoseKey.symmetric(r.random_bytes(32), kid=b"class-a#1")
        class_info = EncryptionInfo.from_cose(
            cose.encryption_info(
                [cose.RecipientSpec(cose.Alg.A256KW, class_key, unprotected={4: b"class-a#1"})],
                alg,
                cek=cek,
                iv=iv,
                rng=r.fork("class"),
            )
        )
        shared = CommandSequence(
            [
                _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 0),
                _cmd(
                    C.DIRECTIVE_OVERRIDE_PARAMETERS,
                    Parameters.of(
                        vendor_id=vendor_id,
                        class_id=class_id,
                        image_digest=SuitDigest.of(plaintext),
                        image_size=len(plaintext),
                    ),
                ),
                _cmd(C.CONDITION_VENDOR_IDENTIFIER),
                _cmd(C.CONDITION_CLASS_IDENTIFIER),
                _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 1),
                _cmd(
                    C.DIRECTIVE_OVERRIDE_PARAMETERS,
                    Parameters.of(
                        image_digest=SuitDigest.of(ciphertext),
                        image_size=len(ciphertext),
                    ),
                ),
            ]
        )
        fetch = CommandSequence(
            [
                _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 1),
                _cmd(C.DIRECTIVE_OVERRIDE_PARAMETERS, Parameters.of(uri=uri)),
                _cmd(C.DIRECTIVE_FETCH),
                _cmd(C.CONDITION_IMAGE_MATCH),
            ]
        )
        install = CommandSequence(
            [
                _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 0),
                # set (not override): the device manifest's encryption info takes precedence
                _cmd(C.DIRECTIVE_SET_PARAMETERS, Parameters.of(encryption_info=class_info)),
                _cmd(C.DIRECTIVE_OVERRIDE_PARAMETERS, Parameters.of(source_component=1)),
                _cmd(C.DIRECTIVE_COPY),
                _cmd(C.CONDITION_IMAGE_MATCH),
            ]
        )
        validate = CommandSequence(
            [
                _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 0),
                _cmd(C.CONDITION_IMAGE_MATCH),
            ]
        )
        manifest = Manifest(
            sequence_number=sequence,
            common=Common(
                [component, staging_component(component[2]), *extra_components],
                shared_sequence=shared,
            ),
            payload_fetch=fetch,
            install=install,
            validate=validate,
            component_id=author_manifest_id(component[2]),
            uninstall=uninstall,
        )
        envelope = sign_envelope(manifest, key or self.ask, cose.Alg.ESP256).encode()
        return Package(
            envelope, ciphertext, uri, cek, iv, plaintext, sequence, alg, vendor_id, class_id
        )


class MiniTam:
    def __init__(self, rng: RandomSource, tsk: cose.CoseKey | None = None) -> None:
        self.rng = rng
        self.tsk = tsk or cose.CoseKey.generate(cose.Curve.P256, rng.fork("tsk"))
        self.count = 0
        #: DAK thumbprint -> UEID of the devices this TAM knows (enrolment, in short)
        self.ueids: dict[bytes, bytes] = {}
        #: token -> the Agent nonce of the last QueryResponse heard for it (``heard``), which
        #: ``update`` echoes as ``edbp-agent-nonce`` (protocol.md 8.3.1)
        self.nonces: dict[bytes, bytes] = {}

    def heard(self, response: bytes) -> bytes:
        """Note the Agent nonce of a QueryResponse (read unverified: the tests check its
        signature where it matters); returns the nonce."""
        msg = teep.decode(cose.Sign1.decode(response).payload or b"")
        assert isinstance(msg, teep.QueryResponse) and msg.token and msg.agent_nonce
        self.nonces[msg.token] = msg.agent_nonce
        return msg.agent_nonce

    def nonce(self, token: bytes | None) -> bytes | None:
        """The nonce an Update for ``token`` echoes (None: none heard)."""
        return None if token is None else self.nonces.get(token)

    def _fresh(self, n: int) -> bytes:
        self.count += 1
        return self.rng.fork(f"fresh-{self.count}").random_bytes(n)

    def signed(self, message: teep.TeepMessage, key: cose.CoseKey | None = None) -> bytes:
        return cose.sign1(message.encode(), key or self.tsk, cose.Alg.ESP256).encode()

    def query(self) -> tuple[bytes, bytes]:
        """(signed QueryRequest, token the Update must carry)."""
        token = self._fresh(16)
        req = teep.QueryRequest(token=token, challenge=self._fresh(32))
        return self.signed(req), token

    def delivery_info(
        self,
        package: Package,
        dak: cose.CoseKey,
        *,
        kid: bytes | None = None,
        cek: bytes | None = None,
    ) -> EncryptionInfo:
        """The CEK to ``dak`` (ECDH-ES+A128KW); kid = thumbprint of the DAK unless given
        (``kid=b""`` leaves it out)."""
        kid = dak.thumbprint() if kid is None else kid
        spec = cose.RecipientSpec(
            cose.Alg.ECDH_ES_A128KW,
            dak,
            unprotected={4: kid} if kid else {},
            supp_pub_other=cose.SUIT_KDF_OTHER,
        )
        enc = cose.encryption_info(
            [spec],
            package.alg,
            cek=cek or package.cek,
            iv=package.iv,
            rng=self.rng.fork(f"tk-{self._fresh(4).hex()}"),
        )
        return EncryptionInfo.from_cose(enc)

    def tam_envelope(
        self,
        package: Package,
        info: EncryptionInfo,
        *,
        key: cose.CoseKey | None = None,
        integrated: bool = True,
        ueid: bytes,
        sequence: int | None = None,
    ) -> bytes:
        """The device envelope of spec/protocol.md section 7 (as the cloud's TAM builds it)."""
        author = Envelope.decode(package.envelope)
        ta, staging = author.manifest.common.components[:2]
        shared = CommandSequence(
            [
                _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 0),
                _cmd(
                    C.DIRECTIVE_OVERRIDE_PARAMETERS,
                    Parameters.of(
                        vendor_id=package.vendor_id,
                        class_id=package.class_id,
                        image_digest=SuitDigest.of(package.plaintext),
                        image_size=len(package.plaintext),
                    ),
                ),
                _cmd(C.CONDITION_VENDOR_IDENTIFIER),
                _cmd(C.CONDITION_CLASS_IDENTIFIER),
            ]
        )
        install = CommandSequence(
            [
                _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 0),
                _cmd(C.DIRECTIVE_OVERRIDE_PARAMETERS, Parameters.of(encryption_info=info)),
                _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 2),
                _cmd(
                    C.DIRECTIVE_OVERRIDE_PARAMETERS,
                    Parameters.of(
                        image_digest=author.authentication.digest,
                        uri="#author" if integrated else "oci://packages/ta-envelope",
                    ),
                ),
                _cmd(C.CONDITION_DEPENDENCY_INTEGRITY),
                _cmd(C.DIRECTIVE_PROCESS_DEPENDENCY),
            ]
        )
        manifest = Manifest(
            sequence_number=package.sequence if sequence is None else sequence,
            common=Common([ta, staging], shared_sequence=shared, dependencies={2: Dependency()}),
            install=install,
            component_id=device_manifest_id(ta[2], ueid),
        )
        return sign_envelope(
            manifest,
            key or self.tsk,
            cose.Alg.ESP256,
            integrated={"#author": package.envelope} if integrated else None,
        ).encode()

    def update(
        self,
        package: Package,
        dak: cose.CoseKey,
        token: bytes,
        *,
        ueid: bytes | None = None,
        integrated: bool = True,
        info: EncryptionInfo | None = None,
        nonce: bytes | None = None,
    ) -> bytes:
        """A TSK-signed Update for the device that owns ``dak`` (its UEID looked up)."""
        ueid = ueid if ueid is not None else self.ueids[dak.thumbprint()]
        info = info or self.delivery_info(package, dak)
        env = self.tam_envelope(package, info, integrated=integrated, ueid=ueid)
        manifests = (env,) if integrated else (env, package.envelope)
        echoed = nonce if nonce is not None else self.nonce(token)
        return self.signed(teep.Update(token=token, manifest_list=manifests, agent_nonce=echoed))


def world(seed: str = "device-tests") -> tuple[MiniAuthor, MiniTam]:
    rng = SeededRandom(seed)
    return MiniAuthor(rng.fork("author")), MiniTam(rng.fork("tam"))
