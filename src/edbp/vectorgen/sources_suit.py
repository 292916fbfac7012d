"""Vectors for the reference SUIT processor (spec/protocol.md §5.1, "The reference SUIT
processor"): A/B slot selection with ``directive-try-each`` and ``condition-component-slot``,
``suit-load`` copying into an execution component and ``suit-invoke`` recording the launch, and
the processor's refusals (no branch completes, nothing to invoke, a loaded image that does not
match, soft-failure outside try-each, a manifest no trusted key signed).

Why vectors and not only tests: another SUIT processor (a vendor's TEEP Agent) can replay the
op ``suit.process`` and compare its actions and resulting store with the reference's."""

from __future__ import annotations

import hashlib
from typing import Any

from edbp.errors import Code
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, cose, suit
from edbp.reference.wire.suit_commands import Command, CommandSequence, Parameters
from edbp.reference.wire.suit_processor import ComponentStore, Processor
from edbp.reference.wire.suit_processor import decode as processor_decode
from edbp.vectorgen.format import Note, Step, TestCase, TestGroup, VectorFile, error, message
from edbp.vectorgen.registry import source

C = suit.SuitCommand
P = suit.SuitParam
VENDOR = bytes.fromhex("fa6b4a53d5ad5fdfbe9de663e4d41ffe")
CLASS = bytes.fromhex("1492af1425695e48bf429b2d51f2ab45")
TA = (b"TEEP-Device", b"SecureFS", b"ta")
EXEC = (b"TEE-RAM", b"ta")
URI_A = "https://tam.example/ta-slot-0"
URI_B = "https://tam.example/ta-slot-1"

NOTES = {
    "TryEach": Note(
        "Functionality",
        "directive-try-each: a branch whose condition fails (soft failure) gives way to the "
        "next; none completing is SUIT_TRY_EACH_FAILED",
        ("P5", "P10"),
    ),
    "LoadInvoke": Note(
        "Functionality",
        "suit-load copies the validated image into its execution component; suit-invoke "
        "records the launch; a mismatching or missing image is refused",
        ("P5", "P10"),
    ),
    "SoftFailureMisuse": Note(
        "ModifiedInput",
        "suit-parameter-soft-failure outside try-each / run-sequence: an Abort",
        ("P10",),
    ),
    "Unauthenticated": Note(
        "ModifiedInput",
        "a manifest no trusted key signed is never processed",
        ("P5",),
    ),
}


def _digest(data: bytes) -> suit.SuitDigest:
    return suit.SuitDigest(-16, hashlib.sha256(data).digest())


def _params(values: dict[int, Any]) -> Command:
    return Command(
        C.DIRECTIVE_OVERRIDE_PARAMETERS, Parameters({int(k): v for k, v in values.items()})
    )


def _cmd(code: int, arg: Any = 15) -> Command:
    return Command(code, arg)


def _seq(*commands: Command) -> CommandSequence:
    return CommandSequence(commands)


def _branch(slot: int, image: bytes, uri: str) -> bytes:
    return _seq(
        _params({P.COMPONENT_SLOT: slot}),
        _cmd(C.CONDITION_COMPONENT_SLOT, 5),
        _params({P.IMAGE_DIGEST: _digest(image), P.IMAGE_SIZE: len(image), P.URI: uri}),
    ).encode()


def _cid(component: tuple[bytes, ...]) -> str:
    return cbor.dumps(list(component)).hex()


def _store_json(store: ComponentStore) -> dict[str, Any]:
    return {
        "images": {_cid(c): v.hex() for c, v in sorted(store.images.items())},
        "slots": {_cid(c): s for c, s in sorted(store.slots.items())},
    }


def _images_sha256(store: ComponentStore) -> dict[str, str]:
    return {_cid(c): hashlib.sha256(v).hexdigest() for c, v in sorted(store.images.items())}


@source("wire/suit-processor")
def suit_processor_vectors(rng: SeededRandom) -> VectorFile:
    author = cose.CoseKey.generate(cose.Curve.ED25519, rng.fork("author"), kid=b"suit-author")
    stranger = cose.CoseKey.generate(cose.Curve.ED25519, rng.fork("stranger"), kid=b"suit-author")
    image_a = rng.fork("image-a").random_bytes(96)
    image_b = rng.fork("image-b").random_bytes(128)
    shared = _seq(
        Command(C.DIRECTIVE_OVERRIDE_PARAMETERS, Parameters.of(vendor_id=VENDOR, class_id=CLASS)),
        _cmd(C.CONDITION_VENDOR_IDENTIFIER),
        _cmd(C.CONDITION_CLASS_IDENTIFIER),
    )

    def envelope(key: cose.CoseKey, components: list[tuple[bytes, ...]], **members: Any) -> bytes:
        manifest = suit.Manifest(
            sequence_number=1, common=suit.Common(components, shared), **members
        )
        return suit.sign_envelope(manifest, key, cose.Alg.ED25519).encode()

    ab = _seq(
        Command(C.DIRECTIVE_TRY_EACH, [_branch(0, image_a, URI_A), _branch(1, image_b, URI_B)]),
        _cmd(C.DIRECTIVE_FETCH),
        _cmd(C.CONDITION_IMAGE_MATCH),
    )
    ab_env = envelope(author, [TA], install=ab)
    boot = dict(
        validate=_seq(
            _params({P.IMAGE_DIGEST: _digest(image_a)}),
            _cmd(C.CONDITION_IMAGE_MATCH),
        ),
        load=_seq(
            _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 1),
            _params({P.SOURCE_COMPONENT: 0, P.IMAGE_DIGEST: _digest(image_a)}),
            _cmd(C.DIRECTIVE_COPY),
            _cmd(C.CONDITION_IMAGE_MATCH),
        ),
        invoke=_seq(
            _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 1),
            _params({P.INVOKE_ARGS: b"edbp"}),
            _cmd(C.DIRECTIVE_INVOKE),
        ),
    )
    boot_env = envelope(author, [TA, EXEC], **boot)
    soft_env = envelope(author, [TA], install=_seq(_params({P.SOFT_FAILURE: True})))
    payloads = {URI_A: image_a.hex(), URI_B: image_b.hex()}
    cases: list[tuple[str, str, str, str, bytes, ComponentStore, tuple[str, ...], Code | None]] = [
        (
            "valid",
            "try-each-slot-1",
            "TryEach",
            "A/B install on a component whose writable slot is 1: branch 2 taken, its image "
            "fetched",
            ab_env,
            ComponentStore({}, {TA: 1}),
            ("update",),
            None,
        ),
        (
            "valid",
            "try-each-slot-0",
            "TryEach",
            "the same manifest on slot 0: branch 1 taken",
            ab_env,
            ComponentStore({}, {TA: 0}),
            ("update",),
            None,
        ),
        (
            "invalid",
            "try-each-no-branch",
            "TryEach",
            "slot 2: no branch's condition-component-slot holds and the argument has no nil",
            ab_env,
            ComponentStore({}, {TA: 2}),
            ("update",),
            Code.SUIT_TRY_EACH_FAILED,
        ),
        (
            "valid",
            "load-invoke",
            "LoadInvoke",
            "invocation: validate, load (copy into the execution component), invoke with arguments",
            boot_env,
            ComponentStore({TA: image_a}),
            ("invoke",),
            None,
        ),
        (
            "invalid",
            "load-image-mismatch",
            "LoadInvoke",
            "the installed image is another one: validate's image-match refuses before any load",
            boot_env,
            ComponentStore({TA: image_b}),
            ("invoke",),
            Code.SUIT_CONDITION_IMAGE_DIGEST,
        ),
        (
            "invalid",
            "invoke-nothing-installed",
            "LoadInvoke",
            "nothing installed: validate's image-match refuses, nothing is invoked",
            boot_env,
            ComponentStore(),
            ("invoke",),
            Code.SUIT_CONDITION_IMAGE_DIGEST,
        ),
        (
            "invalid",
            "soft-failure-outside-try-each",
            "SoftFailureMisuse",
            "suit-install sets soft-failure: the draft's Abort",
            soft_env,
            ComponentStore(),
            ("update",),
            Code.SUIT_ABORT,
        ),
        (
            "invalid",
            "untrusted-signer",
            "Unauthenticated",
            "the A/B manifest signed by a key the processor does not trust",
            envelope(stranger, [TA], install=ab),
            ComponentStore({}, {TA: 1}),
            ("update",),
            Code.SUIT_AUTH_FAILED,
        ),
    ]
    tests = []
    for result, name, flag, comment, data, store, procedures, code in cases:
        inp = {
            "envelope": message(data),
            "authorKeys": [author.public().encode().hex()],
            "vendorId": VENDOR.hex(),
            "classId": CLASS.hex(),
            "store": _store_json(store),
            "payloads": payloads,
            "procedures": list(procedures),
        }
        if code is None:
            done = process(inp)
            expect: dict[str, Any] = {"result": "ok", **done}
        else:
            expect = error(code)
        tests.append(
            TestCase(
                tc_id=f"suit.{result}.{name}",
                comment=comment,
                result=result,
                flags=(flag,),
                properties=NOTES[flag].properties,
                steps=(Step("suit.process", inp, expect),),
            )
        )
    return VectorFile(
        path="wire/suit-processor",
        title="SUIT processor: try-each, component slots, load and invoke",
        header=(
            "The reference SUIT processor (spec/protocol.md section 5.1) outside the delivery",
            "profile. op 'suit.process': verify the envelope under authorKeys, then run the",
            "procedures (update | invoke | uninstall) against the store (component id as the",
            "hex of its CBOR array -> image hex; slots), fetching from payloads (uri -> hex).",
            "expect: the actions in order and the SHA-256 of every image in the resulting store;",
            "a refusal leaves the store as it was.",
        ),
        notes=NOTES,
        groups=(TestGroup(type="SuitProcess", flow="wire", suite="-", tests=tuple(tests)),),
    )


def process(inp: dict[str, Any]) -> dict[str, Any]:
    """What the reference does with one ``suit.process`` input (the replay op runs this too)."""
    data = bytes.fromhex(inp["envelope"]["cbor"])
    envelope = processor_decode(data)
    keys = [cose.CoseKey.decode(bytes.fromhex(k)) for k in inp["authorKeys"]]
    suit.verify_envelope(envelope, keys, lenient=True)

    def ident(hexdata: str) -> tuple[bytes, ...]:
        return tuple(cbor.loads(bytes.fromhex(hexdata)))

    store = ComponentStore(
        {ident(c): bytes.fromhex(v) for c, v in inp["store"]["images"].items()},
        {ident(c): s for c, s in inp["store"]["slots"].items()},
    )
    served = {uri: bytes.fromhex(v) for uri, v in inp["payloads"].items()}
    proc = Processor(
        vendor_id=bytes.fromhex(inp["vendorId"]),
        class_id=bytes.fromhex(inp["classId"]),
        fetch=served.get,
        keys=keys,
    )
    result = proc.process(envelope, store, tuple(inp["procedures"]))
    return {
        "actions": [a.describe() for a in result.actions],
        "images": _images_sha256(result.store),
    }
