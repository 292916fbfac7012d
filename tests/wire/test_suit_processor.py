"""The reference SUIT processor (reference/wire/suit_processor.py): try-each with its soft
failures, component slots, load and invoke, copy/swap/write/unlink, fetch, dependencies, and the
refusals (each with its code, the caller's store unchanged)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cose, suit
from edbp.reference.wire.suit_commands import Command, CommandSequence, Parameters
from edbp.reference.wire.suit_processor import (
    MAX_NESTING,
    ComponentStore,
    Processor,
    decode,
)

from edbp.errors import Code, EdbpError

C = suit.SuitCommand
P = suit.SuitParam
VENDOR = bytes.fromhex("fa6b4a53d5ad5fdfbe9de663e4d41ffe")
CLASS = bytes.fromhex("1492af1425695e48bf429b2d51f2ab45")
KEY = cose.CoseKey.generate(cose.Curve.P256, SeededRandom("test-suit-processor"), kid=b"a")
IMAGE_A = b"image for slot 0" * 8
IMAGE_B = b"the image written to slot 1" * 5
TA = (b"TEEP-Device", b"SecureFS", b"ta")
RAM = (b"RAM", b"ta")


def _digest(data: bytes) -> suit.SuitDigest:
    return suit.SuitDigest(-16, hashlib.sha256(data).digest())


def _cmd(code: int, arg: Any = 15) -> Command:
    return Command(code, arg)


def _params(code: int = C.DIRECTIVE_OVERRIDE_PARAMETERS, **values: Any) -> Command:
    labels = {
        "slot": P.COMPONENT_SLOT,
        "digest": P.IMAGE_DIGEST,
        "size": P.IMAGE_SIZE,
        "uri": P.URI,
        "source": P.SOURCE_COMPONENT,
        "content": P.CONTENT,
        "soft": P.SOFT_FAILURE,
        "args": P.INVOKE_ARGS,
    }
    return Command(code, Parameters({int(labels[k]): v for k, v in values.items()}))


def _seq(*commands: Command) -> CommandSequence:
    return CommandSequence(commands)


def _try_each(*branches: CommandSequence | None) -> Command:
    return Command(C.DIRECTIVE_TRY_EACH, [b.encode() if b else None for b in branches])


def _slot_branch(slot: int, image: bytes, uri: str) -> CommandSequence:
    return _seq(
        _params(slot=slot),
        _cmd(C.CONDITION_COMPONENT_SLOT, 5),
        _params(digest=_digest(image), size=len(image), uri=uri),
    )


SHARED = _seq(
    Command(C.DIRECTIVE_OVERRIDE_PARAMETERS, Parameters.of(vendor_id=VENDOR, class_id=CLASS)),
    _cmd(C.CONDITION_VENDOR_IDENTIFIER),
    _cmd(C.CONDITION_CLASS_IDENTIFIER),
)


def _envelope(components: list[tuple[bytes, ...]] | None = None, **members: Any) -> suit.Envelope:
    manifest = suit.Manifest(
        sequence_number=1,
        common=suit.Common(components or [TA], shared_sequence=SHARED),
        **members,
    )
    return decode(suit.sign_envelope(manifest, KEY, cose.Alg.ESP256).encode())


def _fetch(uri: str) -> bytes | None:
    return {"https://a.example/a": IMAGE_A, "https://a.example/b": IMAGE_B}.get(uri)


def _processor(**kwargs: Any) -> Processor:
    return Processor(vendor_id=VENDOR, class_id=CLASS, fetch=_fetch, **kwargs)


AB_INSTALL = _seq(
    _try_each(
        _slot_branch(0, IMAGE_A, "https://a.example/a"),
        _slot_branch(1, IMAGE_B, "https://a.example/b"),
    ),
    _cmd(C.DIRECTIVE_FETCH),
    _cmd(C.CONDITION_IMAGE_MATCH),
)


def test_try_each_falls_through_to_the_branch_whose_slot_matches() -> None:
    env = _envelope(install=AB_INSTALL)
    for slot, image in ((0, IMAGE_A), (1, IMAGE_B)):
        result = _processor().process(env, ComponentStore({}, {TA: slot}), ("update",))
        assert result.store.read(TA) == image
        taken = [a.detail for a in result.actions if a.kind == "try-each"]
        assert taken == [f"branch {slot + 1} of 2 taken"]


def test_try_each_with_no_branch_completing_fails_and_nil_accepts() -> None:
    env = _envelope(install=AB_INSTALL)
    store = ComponentStore({TA: b"old"}, {TA: 2})
    with pytest.raises(EdbpError) as info:
        _processor().process(env, store, ("update",))
    assert info.value.code == Code.SUIT_TRY_EACH_FAILED
    assert store.read(TA) == b"old"  # nothing changed in the caller's store
    tolerant = _envelope(
        install=_seq(_try_each(_slot_branch(0, IMAGE_A, "x"), _slot_branch(1, IMAGE_B, "y"), None))
    )
    result = _processor().process(tolerant, store, ("update",))
    assert "nil" in result.actions[-1].detail


def test_a_failed_branch_leaves_no_parameter_behind() -> None:
    # branch 1 sets the uri, then fails; branch 2 completes without a uri: fetch has none
    branch1 = _seq(
        _params(C.DIRECTIVE_SET_PARAMETERS, uri="https://a.example/a"), _cmd(C.CONDITION_ABORT)
    )
    branch2 = _seq(_params(C.DIRECTIVE_SET_PARAMETERS, size=1))
    env = _envelope(install=_seq(_try_each(branch1, branch2), _cmd(C.DIRECTIVE_FETCH)))
    with pytest.raises(EdbpError) as info:
        _processor().process(env, ComponentStore(), ("update",))
    assert info.value.code == Code.SUIT_FETCH_FAILED


def test_soft_failure_false_in_a_branch_aborts_and_outside_try_each_is_an_abort() -> None:
    hard = _seq(_params(soft=False), _cmd(C.CONDITION_COMPONENT_SLOT))
    env = _envelope(install=_seq(_try_each(_seq(_params(slot=0), *hard), _seq(_params(slot=1)))))
    with pytest.raises(EdbpError) as info:
        _processor().process(env, ComponentStore({}, {TA: 1}), ("update",))
    assert info.value.code == Code.SUIT_CONDITION_SLOT
    outside = _envelope(install=_seq(_params(soft=True)))
    with pytest.raises(EdbpError) as info:
        _processor().process(outside, ComponentStore(), ("update",))
    assert info.value.code == Code.SUIT_ABORT


def test_a_directive_failing_inside_a_branch_aborts_regardless_of_soft_failure() -> None:
    branch = _seq(_params(uri="https://nowhere.example/"), _cmd(C.DIRECTIVE_FETCH))
    env = _envelope(install=_seq(_try_each(branch, _seq(_params(size=1)))))
    with pytest.raises(EdbpError) as info:
        _processor().process(env, ComponentStore(), ("update",))
    assert info.value.code == Code.SUIT_FETCH_FAILED


def test_nesting_is_bounded() -> None:
    inner: CommandSequence = _seq(_params(size=1))
    for _ in range(MAX_NESTING + 1):
        inner = _seq(_try_each(inner, None))
    with pytest.raises(EdbpError) as info:
        _processor().process(_envelope(install=inner), ComponentStore(), ("update",))
    assert info.value.code == Code.SUIT_MALFORMED


def test_load_copies_to_the_execution_component_and_invoke_is_recorded() -> None:
    env = _envelope(
        components=[TA, RAM],
        validate=_seq(_params(digest=_digest(IMAGE_A)), _cmd(C.CONDITION_IMAGE_MATCH)),
        load=_seq(
            _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 1),
            _params(source=0, digest=_digest(IMAGE_A)),
            _cmd(C.DIRECTIVE_COPY),
            _cmd(C.CONDITION_IMAGE_MATCH),
        ),
        invoke=_seq(
            _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 1),
            _params(args=b"--boot"),
            _cmd(C.DIRECTIVE_INVOKE),
        ),
    )
    result = _processor().process(env, ComponentStore({TA: IMAGE_A}), ("invoke",))
    assert result.store.read(RAM) == IMAGE_A
    (invoked,) = result.invoked
    assert invoked.component == RAM and invoked.detail == "arguments " + b"--boot".hex()


def test_invoke_of_an_empty_component_and_a_wrong_image_are_refused() -> None:
    env = _envelope(invoke=_seq(_cmd(C.DIRECTIVE_INVOKE)))
    with pytest.raises(EdbpError) as info:
        _processor().process(env, ComponentStore(), ("invoke",))
    assert info.value.code == Code.SUIT_INVOKE_FAILED
    guarded = _envelope(
        validate=_seq(_params(digest=_digest(IMAGE_A)), _cmd(C.CONDITION_IMAGE_MATCH)),
        invoke=_seq(_cmd(C.DIRECTIVE_INVOKE)),
    )
    with pytest.raises(EdbpError) as info:
        _processor().process(guarded, ComponentStore({TA: IMAGE_B}), ("invoke",))
    assert info.value.code == Code.SUIT_CONDITION_IMAGE_DIGEST


def test_identity_conditions_use_the_processors_ids() -> None:
    env = _envelope(install=_seq(_params(content=b"x"), _cmd(C.DIRECTIVE_WRITE)))
    other = Processor(vendor_id=VENDOR, class_id=bytes(16), fetch=_fetch)
    with pytest.raises(EdbpError) as info:
        other.process(env, ComponentStore(), ("update",))
    assert info.value.code == Code.SUIT_CONDITION_CLASS
    assert _processor().process(env, ComponentStore(), ("update",)).store.read(TA) == b"x"


def test_swap_and_unlink() -> None:
    env = _envelope(
        components=[TA, RAM],
        install=_seq(_params(source=1), _cmd(C.DIRECTIVE_SWAP)),
        uninstall=_seq(_cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 1), _cmd(C.DIRECTIVE_UNLINK)),
    )
    result = _processor().process(
        env, ComponentStore({TA: b"a", RAM: b"b"}), ("update", "uninstall")
    )
    assert result.store.images == {TA: b"b"}


def test_an_unsupported_command_is_refused() -> None:
    env = _envelope(install=_seq(_cmd(-7)))
    with pytest.raises(EdbpError) as info:
        _processor().process(env, ComponentStore(), ("update",))
    assert info.value.code == Code.SUIT_UNSUPPORTED_COMMAND


def _dependent(dep: suit.Envelope, *, digest: suit.SuitDigest | None = None) -> suit.Envelope:
    prefix = (b"TEEP-Device", b"SecureFS", b"dep")
    manifest = suit.Manifest(
        sequence_number=1,
        common=suit.Common([TA], SHARED, {1: suit.Dependency(prefix)}),
        dependency_resolution=_seq(
            _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 1),
            _params(
                digest=digest or dep.authentication.digest,
                size=len(dep.encode()),
                uri="https://a.example/dep",
            ),
            _cmd(C.DIRECTIVE_FETCH),
            _cmd(C.CONDITION_DEPENDENCY_INTEGRITY),
        ),
        install=_seq(
            _cmd(C.DIRECTIVE_SET_COMPONENT_INDEX, 1), _cmd(C.DIRECTIVE_PROCESS_DEPENDENCY)
        ),
    )
    return decode(suit.sign_envelope(manifest, KEY, cose.Alg.ESP256).encode())


def test_a_dependency_is_verified_then_its_same_sequence_runs() -> None:
    dep = _envelope(
        install=_seq(
            _params(uri="https://a.example/a", digest=_digest(IMAGE_A)),
            _cmd(C.DIRECTIVE_FETCH),
            _cmd(C.CONDITION_IMAGE_MATCH),
        )
    )
    env = _dependent(dep)
    served = {"https://a.example/dep": dep.encode()}
    proc = Processor(
        vendor_id=VENDOR,
        class_id=CLASS,
        keys=[KEY.public()],
        fetch=lambda u: served.get(u) or _fetch(u),
    )
    result = proc.process(env, ComponentStore(), ("update",))
    assert result.store.read(TA) == IMAGE_A
    kinds = [a.kind for a in result.actions]
    assert kinds.index("dependency-integrity") < kinds.index("process-dependency")
    # another key, no key, or another digest: the dependency is never run
    stranger = cose.CoseKey.generate(cose.Curve.P256, SeededRandom("stranger"))
    for keys, envelope, code in (
        ([stranger.public()], env, Code.SUIT_AUTH_FAILED),
        (None, env, Code.SUIT_DEPENDENCY_FAILED),
        ([KEY.public()], _dependent(dep, digest=_digest(b"other")), Code.SUIT_DEPENDENCY_FAILED),
    ):
        proc = Processor(vendor_id=VENDOR, class_id=CLASS, keys=keys, fetch=lambda u: served.get(u))
        with pytest.raises(EdbpError) as info:
            proc.process(envelope, ComponentStore(), ("update",))
        assert info.value.code == code


def test_ctr_plaintext_is_usable_only_once_image_matched() -> None:
    """RFC 9459: AES-CTR has no integrity. A write decrypted with CTR must be image-matched
    within the procedure, else nothing is committed (COSE_ALG_NOT_ALLOWED); with the match the
    plaintext lands in the store. The seeded flaw: the same manifest without its image-match."""
    from edbp.reference.wire.cose_encrypt import encrypt_content
    from edbp.reference.wire.suit_commands import EncryptionInfo

    rng = SeededRandom("test-suit-processor-ctr")
    kek = cose.CoseKey.symmetric(rng.fork("kek").random_bytes(16), kid=b"kek")
    cek, iv = rng.fork("cek").random_bytes(16), rng.fork("iv").random_bytes(16)
    info = EncryptionInfo.from_cose(
        cose.encryption_info(
            [cose.RecipientSpec(cose.Alg.A128KW, kek)],
            cose.Alg.A128CTR,
            cek=cek,
            iv=iv,
            rng=rng.fork("info"),
        )
    )
    secret = b"personalization data"
    write = _params(content=encrypt_content(cose.Alg.A128CTR, cek, iv, secret, b""))
    setting = Command(C.DIRECTIVE_OVERRIDE_PARAMETERS, Parameters({int(P.ENCRYPTION_INFO): info}))
    checked = _envelope(
        install=_seq(setting, write, _cmd(C.DIRECTIVE_WRITE)),
        validate=_seq(_params(digest=_digest(secret)), _cmd(C.CONDITION_IMAGE_MATCH)),
    )
    unchecked = _envelope(install=_seq(setting, write, _cmd(C.DIRECTIVE_WRITE)))
    proc = _processor(decrypt_key=kek)
    assert proc.process(checked, ComponentStore(), ("update",)).store.read(TA) == secret
    with pytest.raises(EdbpError) as info_:
        proc.process(unchecked, ComponentStore(), ("update",))
    assert info_.value.code == Code.COSE_ALG_NOT_ALLOWED
    with pytest.raises(EdbpError) as info_:  # no key: the encrypted payload is not usable
        _processor().process(checked, ComponentStore(), ("update",))
    assert info_.value.code == Code.SUIT_ENCRYPTION_INFO
