"""The TEEP draft's three SUIT envelope examples on the real device path.

Each example (``suit_uri``, ``suit_integrated``, ``suit_personalization``) is an author-signed
manifest. In the edbp profile an author envelope reaches a device only inside a TAM-signed
device manifest (spec/protocol.md section 7): here the draft's envelope, byte for byte as
published, goes

1. to a reference TAM (``Tam.add_package``: ``publish.push``, which reads the author envelope
   under the trusted ASK, here the draft's author key), and
2. to a reference Agent (real sealed storage, real Broker), inside a device envelope laid out
   as section 7 gives it (the author's components, the author envelope as the integrated
   dependency ``"#author"`` checked by ``condition-dependency-integrity`` and processed by
   ``directive-process-dependency``, the author's vendor/class conditions), signed by a
   trusted TSK, in an Update bound to a real QueryRequest/QueryResponse exchange. The Agent is
   provisioned with the draft's author public key as its author trust anchor and the vendor
   and class ids the draft manifest's conditions check; the Broker's fetcher serves the
   draft's TA file at the manifest's URI. The one thing the device envelope cannot carry is an
   ``encryption-info`` override: the draft's payloads are not encrypted, so there is no CEK to
   re-wrap to the device.

What each step answers (installed, or the code and the refusal's detail) is what the matrix
row (``test_matrix.py``) prints and what ``test_teep_suit_delivery.py`` pins.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from edbp.reference.build.package import device_manifest_id
from edbp.reference.device.agent import Agent, error_code_of
from edbp.reference.device.broker import Broker
from edbp.reference.device.install import MemoryBudget
from edbp.reference.device.storage import MemoryStorage
from edbp.reference.device.update import DeviceIdentity, TrustAnchors, verify_update
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cose, teep
from edbp.reference.wire.suit_commands import Command, CommandSequence, Parameters
from edbp.reference.wire.suit_crypto import sign_envelope
from edbp.reference.wire.suit_envelope import Common, Dependency, Envelope, Manifest
from edbp.reference.wire.suit_labels import SuitCommand as C
from edbp.reference.wire.suit_labels import SuitParam

from edbp.cli.inspect import read_input
from edbp.errors import Code, EdbpError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TEEP_CBOR = HERE / "teep-protocol" / "cbor"
AUTHOR_PEM = HERE / "suit-manifest" / "private_key.pem"
#: the draft's example TA (20 bytes), which suit_uri fetches and suit_integrated integrates
TA_FILE = TEEP_CBOR / "8d82573a-926d-4754-9353-32dc29997f74.ta"
EXAMPLES = ("suit_uri", "suit_integrated", "suit_personalization")
AUTHOR_KEY = "#author"


def draft_envelope(name: str) -> bytes:
    """The example's bytes as published (annotated hex, ``#`` comments)."""
    return read_input((TEEP_CBOR / f"{name}.hex.txt").read_bytes())


def draft_author_key() -> cose.CoseKey:
    """The public key of the SUIT/TEEP drafts' example signing key."""
    private = load_pem_private_key(AUTHOR_PEM.read_bytes(), None)
    return cose.CoseKey.from_cryptography(private).public()  # type: ignore[arg-type]


def component_zero_parameters(envelope: Envelope) -> dict[int, Any]:
    """Parameters the author's shared sequence sets on component 0 (the default index)."""
    params: dict[int, Any] = {}
    selected: tuple[int, ...] = (0,)
    for command in envelope.manifest.common.shared_sequence or ():
        if command.code == C.DIRECTIVE_SET_COMPONENT_INDEX:
            selected = command.arg if isinstance(command.arg, tuple) else (command.arg,)
        elif command.code in (C.DIRECTIVE_OVERRIDE_PARAMETERS, C.DIRECTIVE_SET_PARAMETERS):
            if 0 in selected:
                params.update(command.arg.values)
    return params


def renamed_envelope(name: str) -> bytes:
    """A diagnostic, never a row's primary answer: the example with only its
    manifest-component-id changed to the profile's ``['edbp', 'author', <last element of
    component 0>]`` and re-signed with the draft's own example key (the drafts publish it), to
    show what the Agent checks after the naming rule."""
    from edbp.reference.wire import cbor

    author = Envelope.decode(draft_envelope(name), lenient=True)
    body = cbor.loads(author.manifest.encode(), cbor.LENIENT)
    body[5] = [b"edbp", b"author", bytes(author.manifest.common.components[0][-1])]
    manifest = Manifest.decode(cbor.dumps(body))
    private = load_pem_private_key(AUTHOR_PEM.read_bytes(), None)
    key = cose.CoseKey.from_cryptography(private)  # type: ignore[arg-type]
    return sign_envelope(
        manifest, key, cose.Alg.ESP256, integrated=dict(author.integrated)
    ).encode()


def served_payloads(author: Envelope) -> dict[str, bytes]:
    """What the test's fetcher serves: at every ``uri`` the author's install sequence sets,
    the integrated payload for a ``#`` reference (taken from the envelope), else the draft's
    example TA file (the draft publishes it beside the examples)."""
    out: dict[str, bytes] = {}
    for command in author.sequence(20) or ():
        if command.code == C.DIRECTIVE_OVERRIDE_PARAMETERS:
            uri = command.arg.values.get(int(SuitParam.URI))
            if isinstance(uri, str):
                out[uri] = author.integrated[uri] if uri.startswith("#") else TA_FILE.read_bytes()
    return out


def _cmd(code: int, arg: Any = 15) -> Command:
    return Command(int(code), arg)


def device_envelope(author_bytes: bytes, tsk: cose.CoseKey, ueid: bytes) -> bytes:
    """A device envelope of spec/protocol.md section 7 around the author envelope: its
    components, the author's component-0 vendor/class/image parameters and conditions in the
    shared sequence, the author manifest as the integrated dependency after the components.
    No ``encryption-info`` override: the draft's payload has no CEK to re-wrap."""
    author = Envelope.decode(author_bytes, lenient=True)
    components = list(author.manifest.common.components)
    dep_index = len(components)
    seeded = component_zero_parameters(author)
    keep = (
        SuitParam.VENDOR_IDENTIFIER,
        SuitParam.CLASS_IDENTIFIER,
        SuitParam.IMAGE_DIGEST,
        SuitParam.IMAGE_SIZE,
    )
    shared = CommandSequence(
        [
            _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 0),
            _cmd(
                C.DIRECTIVE_OVERRIDE_PARAMETERS,
                Parameters({int(k): seeded[int(k)] for k in keep if int(k) in seeded}),
            ),
            _cmd(C.CONDITION_VENDOR_IDENTIFIER),
            _cmd(C.CONDITION_CLASS_IDENTIFIER),
        ]
    )
    install = CommandSequence(
        [
            _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, dep_index),
            _cmd(
                C.DIRECTIVE_OVERRIDE_PARAMETERS,
                Parameters.of(image_digest=author.authentication.digest, uri=AUTHOR_KEY),
            ),
            _cmd(C.CONDITION_DEPENDENCY_INTEGRITY),
            _cmd(C.DIRECTIVE_PROCESS_DEPENDENCY),
        ]
    )
    manifest = Manifest(
        sequence_number=author.manifest.sequence_number,
        common=Common(components, shared_sequence=shared, dependencies={dep_index: Dependency()}),
        install=install,
        component_id=device_manifest_id(components[0][-1], ueid),
    )
    return sign_envelope(
        manifest, tsk, cose.Alg.ESP256, integrated={AUTHOR_KEY: author_bytes}
    ).encode()


@attrs.frozen
class AgentOutcome:
    """What the reference Agent answered to the delivery."""

    installed: bool
    code: Code | None  # the edbp code of its Error (err-msg), None when installed
    detail: str  # the refusal's detail (``verify_update`` on the same manifests), or ""
    fetched: tuple[str, ...]  # URIs the Broker was asked for
    anchors_author_key: bool  # the Agent's author anchor is the draft's key

    def describe(self) -> str:
        if self.installed:
            return "Agent: installed (Success with a signed report)"
        assert self.code is not None
        text = f"Agent: refused {int(self.code)} {self.code.name}"
        return text + (f" ({self.detail})" if self.detail else "")


def deliver_to_agent(
    name: str,
    *,
    author_key: cose.CoseKey | None = None,
    vendor_id: bytes | None = None,
    class_id: bytes | None = None,
    seed: str = "interop-draft-delivery",
    renamed: bool = False,
) -> AgentOutcome:
    """One TEEP exchange: QueryRequest → QueryResponse → Update carrying the device envelope
    around the draft's author envelope; the Broker serves the draft's TA at the manifest URI.
    ``author_key``/``vendor_id``/``class_id`` override the provisioning (seeded flaws);
    ``renamed`` delivers ``renamed_envelope(name)`` instead of the bytes as published."""
    author_bytes = renamed_envelope(name) if renamed else draft_envelope(name)
    author = Envelope.decode(author_bytes, lenient=True)
    params = component_zero_parameters(author)
    vendor = vendor_id if vendor_id is not None else params[int(SuitParam.VENDOR_IDENTIFIER)]
    klass = class_id if class_id is not None else params[int(SuitParam.CLASS_IDENTIFIER)]
    rng = SeededRandom(seed)
    tsk = cose.CoseKey.generate(cose.Curve.P256, rng.fork("tsk"))
    anchor = author_key or draft_author_key()
    anchors = TrustAnchors(tam=[tsk.public()], author=[anchor])
    agent = Agent.open(
        MemoryStorage(),
        b"H" * 16,
        vendor_id=vendor,
        class_id=klass,
        anchors=anchors,
        rng=rng.fork("device"),
        budget=MemoryBudget(chunk=1024),
    )
    served = served_payloads(author)
    fetched: list[str] = []

    def fetcher(uri: str) -> Iterator[bytes]:
        fetched.append(uri)
        yield served[uri]

    broker = Broker(agent, fetcher, MemoryStorage())

    def signed(message: teep.TeepMessage) -> bytes:
        return cose.sign1(message.encode(), tsk, cose.Alg.ESP256).encode()

    token = rng.fork("token").random_bytes(16)
    (answer,) = broker.deliver(
        signed(teep.QueryRequest(token=token, challenge=rng.fork("challenge").random_bytes(32)))
    )
    heard = _reply(answer)
    assert isinstance(heard, teep.QueryResponse)
    envelope = device_envelope(author_bytes, tsk, agent.keys.ueid)
    update = teep.Update(token=token, manifest_list=(envelope,), agent_nonce=heard.agent_nonce)
    (final,) = broker.deliver(signed(update))
    message = _reply(final)
    if isinstance(message, teep.Success):
        return AgentOutcome(True, None, "", tuple(fetched), anchor == draft_author_key())
    assert isinstance(message, teep.Error), message
    _, code = error_code_of(final)
    assert code is not None
    detail = _detail([envelope], agent.identity, anchors, Code(code))
    return AgentOutcome(False, Code(code), detail, tuple(fetched), anchor == draft_author_key())


def _detail(
    manifests: Iterable[bytes], identity: DeviceIdentity, anchors: TrustAnchors, code: Code
) -> str:
    """The refusal's detail: ``verify_update`` (the Agent's step 4–6 function) on the same
    manifests, when it refuses with the code the Agent sent; else nothing."""
    try:
        verify_update(list(manifests), identity, anchors)
    except EdbpError as exc:
        return exc.detail if exc.code == code else ""
    return ""


def _reply(data: bytes) -> teep.TeepMessage:
    return teep.decode(cose.Sign1.decode(data).payload or b"")


def tam_publish(name: str) -> str:
    """``publish.push`` of the draft's envelope to a reference TAM whose trusted ASK is the
    draft's author key: ``accepted``, or ``refused NNN NAME (detail)``."""
    sys.path.insert(0, str(ROOT / "tests" / "cloud"))
    from cloud_world import World
    from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
    from edbp.reference.cloud.tam import Tam

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        vault = SoftwareKeyVault(
            root / "classkeys.sealed", b"M" * 32, rng=SeededRandom("interop-draft-kv")
        )
        world = World(root, vault, seed="interop-draft-tam")
        tam = Tam(
            world.devices_db,
            vault,
            world.tsk,
            world.mrk.public(),
            [draft_author_key()],
            rng=SeededRandom("interop-draft-sessions"),
        )
        try:
            tam.add_package(draft_envelope(name))
        except EdbpError as exc:
            return f"refused {int(exc.code)} {exc.code.name} ({exc.detail})"
    return "accepted"
