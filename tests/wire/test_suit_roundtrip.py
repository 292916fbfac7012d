"""SUIT structures: round trips (decode(encode(x)) == x, encode canonical), signing and
verification in the edbp profile (author + TAM two-layer manifests), strict refusals, and fuzz
(arbitrary bytes and mutated valid envelopes raise only EdbpError)."""

from __future__ import annotations

import attrs
import pytest
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, cose, suit
from edbp.reference.wire.suit_commands import EncryptionInfo
from edbp.reference.wire.suit_envelope import SuitText
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import Code, EdbpError, VerificationError

RNG = SeededRandom("test-suit")
AUTHOR = cose.CoseKey.generate(cose.Curve.P256, RNG.fork("author"), kid=b"author")
TAM = cose.CoseKey.generate(cose.Curve.ED25519, RNG.fork("tam"), kid=b"tam")
DEVICE = cose.CoseKey.generate(cose.Curve.P256, RNG.fork("device"), kid=b"device")
CLASS_KEY = cose.CoseKey.symmetric(RNG.fork("ck").random_bytes(32), kid=b"class")
CEK = RNG.fork("cek").random_bytes(16)
IV = RNG.fork("iv").random_bytes(12)
VENDOR = bytes.fromhex("fa6b4a53d5ad5fdfbe9de663e4d41ffe")
CLASS = bytes.fromhex("1492af1425695e48bf429b2d51f2ab45")
IMAGE = b"an OP-TEE TA image" * 10


def _info(recipient: cose.RecipientSpec) -> EncryptionInfo:
    enc = cose.encryption_info([recipient], cose.Alg.A128GCM, cek=CEK, iv=IV, rng=RNG.fork("info"))
    return EncryptionInfo.from_cose(enc)


INFO_KW = _info(cose.RecipientSpec(cose.Alg.A256KW, CLASS_KEY))
INFO_ECDH = _info(
    cose.RecipientSpec(cose.Alg.ECDH_ES_A128KW, DEVICE.public(), supp_pub_other=cose.SUIT_KDF_OTHER)
)
SIGN1_BLOCK = cose.sign1(b"x", AUTHOR, cose.Alg.ESP256, detached=True).encode()

# ----------------------------------------------------------------------------- strategies

uint = st.integers(0, 2**64 - 1)
small = st.integers(0, 7)
component_id = st.lists(st.binary(max_size=8), min_size=1, max_size=3).map(tuple)
digest = st.binary(min_size=32, max_size=32).map(lambda d: suit.SuitDigest(-16, d))
vendor = st.one_of(
    st.binary(min_size=16, max_size=16), st.binary(max_size=8).map(lambda b: cbor.Tag(112, b))
)
parameters = (
    st.fixed_dictionaries(
        {},
        optional={
            "vendor_id": vendor,
            "class_id": st.binary(min_size=16, max_size=16),
            "image_digest": digest,
            "image_size": uint,
            "content": st.binary(max_size=16),
            "encryption_info": st.sampled_from([INFO_KW, INFO_ECDH]),
            "uri": st.text(max_size=20),
            "source_component": small,
        },
    )
    .filter(bool)
    .map(lambda kw: suit.Parameters.of(**kw))
)

C = suit.SuitCommand
condition = st.builds(
    suit.Command,
    st.sampled_from(
        [C.CONDITION_VENDOR_IDENTIFIER, C.CONDITION_CLASS_IDENTIFIER, C.CONDITION_IMAGE_MATCH]
    ),
    st.integers(0, 15),
)
directive = st.one_of(
    st.builds(
        suit.Command,
        st.sampled_from(
            [
                C.DIRECTIVE_FETCH,
                C.DIRECTIVE_COPY,
                C.DIRECTIVE_WRITE,
                C.DIRECTIVE_PROCESS_DEPENDENCY,
                C.CONDITION_DEPENDENCY_INTEGRITY,
                C.CONDITION_IS_DEPENDENCY,
            ]
        ),
        st.integers(0, 15),
    ),
    st.builds(
        suit.Command,
        st.just(C.DIRECTIVE_SET_COMPONENT_INDEX),
        st.one_of(small, st.just(True), st.lists(small, min_size=1, max_size=3).map(tuple)),
    ),
    st.builds(
        suit.Command,
        st.sampled_from([C.DIRECTIVE_SET_PARAMETERS, C.DIRECTIVE_OVERRIDE_PARAMETERS]),
        parameters,
    ),
)
shared_command = st.one_of(
    condition,
    st.builds(suit.Command, st.just(C.DIRECTIVE_SET_COMPONENT_INDEX), small),
    st.builds(suit.Command, st.just(C.DIRECTIVE_OVERRIDE_PARAMETERS), parameters),
)
sequence = st.lists(st.one_of(condition, directive), min_size=1, max_size=5).map(
    suit.CommandSequence
)
shared_sequence = st.lists(shared_command, min_size=1, max_size=4).map(suit.CommandSequence)


@st.composite
def common(draw: st.DrawFn) -> suit.Common:
    components = draw(st.lists(component_id, min_size=1, max_size=3))
    deps = draw(
        st.dictionaries(
            st.integers(len(components), len(components) + 3),
            st.builds(suit.Dependency, st.none() | component_id),
            max_size=2,
        )
    )
    return suit.Common(components, draw(st.none() | shared_sequence), deps)


severable = st.none() | sequence | digest
text = (
    st.none()
    | digest
    | st.dictionaries(
        st.sampled_from(["en", "de"]),
        st.dictionaries(st.integers(1, 4), st.text(max_size=10), min_size=1),
        min_size=1,
    ).map(SuitText)
)
manifest = st.builds(
    suit.Manifest,
    sequence_number=uint,
    common=common(),
    validate=st.none() | sequence,
    install=severable,
    payload_fetch=severable,
    dependency_resolution=severable,
    text=text,
    component_id=st.none() | component_id,
    reference_uri=st.none() | st.text(max_size=10),
)
envelope = st.builds(
    suit.Envelope,
    st.builds(suit.AuthenticationWrapper, digest, st.lists(st.just(SIGN1_BLOCK), max_size=2)),
    manifest,
)


def canonical(obj: object) -> bytes:
    data = obj.encode()  # type: ignore[attr-defined]
    assert cbor.is_deterministic(data)
    return data


@given(manifest)
def test_manifest_round_trip(m: suit.Manifest) -> None:
    data = canonical(m)
    back = suit.Manifest.decode(data)
    assert back == m
    assert back.encode() == data


@given(envelope)
def test_envelope_round_trip(e: suit.Envelope) -> None:
    data = canonical(e)
    back = suit.Envelope.decode(data)
    assert back == e
    assert back.encode() == data
    assert attrs.evolve(back).encode() == data  # rebuilt from fields, not the received bytes


@given(sequence)
def test_sequence_round_trip(s: suit.CommandSequence) -> None:
    data = canonical(s)
    assert suit.CommandSequence.decode(data) == s


record = st.builds(
    suit.SuitRecord,
    st.lists(small, max_size=2).map(tuple),
    st.integers(-3, 30),
    small,
    small,
    st.just(suit.Parameters()) | parameters,
)
report = st.builds(
    suit.SuitReport,
    st.builds(suit.SuitReference, digest, st.none() | st.text(max_size=10)),
    st.lists(
        st.one_of(record, st.builds(suit.SystemProperties, component_id, parameters)), max_size=3
    ),
    st.just(True)
    | st.builds(
        suit.SuitResult, st.integers(-500, 500), record, st.sampled_from(list(suit.ReportReason))
    ),
    st.none() | st.binary(min_size=8, max_size=16),
)


@given(report)
def test_report_round_trip(r: suit.SuitReport) -> None:
    data = canonical(r)
    assert suit.SuitReport.decode(data) == r


def test_report_sign_verify() -> None:
    env = two_layer()[0]
    r = suit.SuitReport(
        suit.SuitReference(env.manifest.digest(), "https://tam.example/x"), (), True, b"nonce-01"
    )
    signed = suit.sign_report(r, DEVICE, cose.Alg.ESP256)
    assert suit.verify_report(signed, DEVICE.public()) == r
    with pytest.raises(VerificationError):
        suit.verify_report(signed, AUTHOR.public())


# ------------------------------------------------------------------ two-layer manifests


def author_manifest() -> suit.Manifest:
    """The author's manifest: vendor/class, image digest and size; CEK wrapped to the class key."""
    shared = suit.CommandSequence(
        [
            suit.Command(
                C.DIRECTIVE_OVERRIDE_PARAMETERS,
                suit.Parameters.of(
                    vendor_id=VENDOR,
                    class_id=CLASS,
                    image_digest=suit.SuitDigest.of(IMAGE),
                    image_size=len(IMAGE),
                ),
            ),
            suit.Command(C.CONDITION_VENDOR_IDENTIFIER, 15),
            suit.Command(C.CONDITION_CLASS_IDENTIFIER, 15),
        ]
    )
    install = suit.CommandSequence(
        [
            # set-parameters: the per-device encryption info the TAM's manifest sets wins
            suit.Command(
                C.DIRECTIVE_SET_PARAMETERS,
                suit.Parameters.of(uri="oci://registry.example/ta@sha256", encryption_info=INFO_KW),
            ),
            suit.Command(C.DIRECTIVE_FETCH, 15),
            suit.Command(C.DIRECTIVE_WRITE, 15),
            suit.Command(C.CONDITION_IMAGE_MATCH, 15),
        ]
    )
    return suit.Manifest(
        sequence_number=7,
        common=suit.Common([(b"TA", b"8d82573a926d4754935332dc29997f74")], shared),
        validate=suit.CommandSequence([suit.Command(C.CONDITION_IMAGE_MATCH, 15)]),
        install=install,
        component_id=(b"author.suit",),
    )


def two_layer() -> tuple[suit.Envelope, bytes]:
    author = suit.sign_envelope(author_manifest(), AUTHOR, cose.Alg.ESP256)
    author_bytes = author.encode()
    tam_install = suit.CommandSequence(
        [
            suit.Command(C.DIRECTIVE_SET_COMPONENT_INDEX, 0),
            suit.Command(
                C.DIRECTIVE_OVERRIDE_PARAMETERS, suit.Parameters.of(encryption_info=INFO_ECDH)
            ),
            suit.Command(C.DIRECTIVE_SET_COMPONENT_INDEX, 1),
            suit.Command(
                C.DIRECTIVE_OVERRIDE_PARAMETERS,
                suit.Parameters.of(
                    image_digest=author.authentication.digest,
                    image_size=len(author_bytes),
                    uri="#author",
                ),
            ),
            suit.Command(C.DIRECTIVE_FETCH, 15),
            suit.Command(C.CONDITION_DEPENDENCY_INTEGRITY, 15),
            suit.Command(C.DIRECTIVE_PROCESS_DEPENDENCY, 15),
        ]
    )
    tam_manifest = suit.Manifest(
        sequence_number=1,
        # current trust-domains layout: the dependency envelope is component 1 of the list
        common=suit.Common(
            [(b"TA", b"8d82573a926d4754935332dc29997f74"), (b"author.suit",)],
            dependencies={1: suit.Dependency()},
        ),
        install=tam_install,
    )
    tam_manifest, severed = suit.sever(tam_manifest, [suit.ManifestKey.INSTALL])
    tam = suit.sign_envelope(
        tam_manifest, TAM, cose.Alg.ED25519, severed=severed, integrated={"#author": author_bytes}
    )
    return tam, author_bytes


def test_two_layer_envelope_signs_verifies_and_processes() -> None:
    tam, author_bytes = two_layer()
    data = tam.encode()
    assert cbor.is_deterministic(data)
    received = suit.Envelope.decode(data)
    assert received == tam
    suit.verify_envelope(received, TAM.public(), algorithms={cose.Alg.ED25519})
    steps = suit.run(received, suit.ManifestKey.INSTALL)
    assert [(s.index, s.command.name, s.is_dependency) for s in steps] == [
        (1, "directive-fetch", True),
        (1, "condition-dependency-integrity", True),
        (1, "directive-process-dependency", True),
    ]
    params = steps[1].parameters
    dependency = suit.check_dependency_integrity(
        params, suit.resolve_uri(received, "#author") or b""
    )
    assert dependency.encode() == author_bytes
    suit.verify_envelope(dependency, AUTHOR.public(), algorithms={cose.Alg.ESP256})
    # process-dependency: the author's install runs with the TAM's parameters for component
    # 0, so the device sees the CEK re-wrapped to it, not the class-key wrap
    tam_store = suit.steps(
        received.sequence(suit.ManifestKey.INSTALL),  # type: ignore[arg-type]
        received.manifest.common,
    )[1]
    author_steps = suit.run(
        dependency,
        suit.ManifestKey.INSTALL,
        inherited=tam_store.by_component(received.manifest.common),
    )
    assert [s.command.name for s in author_steps] == [
        "condition-vendor-identifier",
        "condition-class-identifier",
        "directive-fetch",
        "directive-write",
        "condition-image-match",
    ]
    suit.check_vendor(author_steps[0].parameters, VENDOR)
    suit.check_class(author_steps[1].parameters, CLASS)
    write = author_steps[3].parameters
    assert write.encryption_info == INFO_ECDH and write.uri == "oci://registry.example/ta@sha256"
    ciphertext = cose.encrypt(
        IMAGE, [cose.RecipientSpec(cose.Alg.A256KW, CLASS_KEY)], cose.Alg.A128GCM, cek=CEK, iv=IV
    ).detach()[1]
    plaintext = suit.decrypt_payload(write.encryption_info, ciphertext, DEVICE)
    suit.check_image(author_steps[-1].parameters, plaintext)
    assert plaintext == IMAGE
    # without the TAM's layer the device cannot open the class-key wrap
    alone = suit.run(dependency, suit.ManifestKey.INSTALL)[3].parameters
    assert alone.encryption_info == INFO_KW
    with pytest.raises(EdbpError):
        suit.decrypt_payload(alone.encryption_info, ciphertext, DEVICE)


def test_algorithm_allow_list_is_enforced() -> None:
    tam, _ = two_layer()
    with pytest.raises(VerificationError) as info:
        suit.verify_envelope(tam, TAM.public(), algorithms={cose.Alg.ESP256})
    assert info.value.code == Code.SUIT_AUTH_FAILED
    assert "NOT_ALLOWED" in info.value.detail
    with pytest.raises(VerificationError):
        suit.verify_envelope(tam, AUTHOR.public())


def test_severed_member_must_match_its_digest() -> None:
    tam, _ = two_layer()
    body = cbor.loads(tam.encode()).value
    seq = cbor.loads(body[20])
    seq[1] = 1  # set-component-index 1 instead of 0
    body[20] = cbor.dumps(seq)
    with pytest.raises(EdbpError) as info:
        suit.Envelope.decode(cbor.dumps(cbor.Tag(107, body)))
    assert info.value.code == Code.SUIT_SEVERABLE_MISMATCH


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda m: {**m, 1: 2}, Code.SUIT_UNSUPPORTED_VERSION),
        (lambda m: {**m, 9: cbor.dumps([23, 2])}, Code.SUIT_UNSUPPORTED_COMMAND),
        (lambda m: {**m, 7: cbor.dumps([32, b"\x80"])}, Code.SUIT_UNSUPPORTED_COMMAND),
        (lambda m: {**m, 7: cbor.dumps([20, {5: 1}])}, Code.SUIT_UNSUPPORTED_PARAMETER),
        (lambda m: {**m, 7: cbor.dumps([20, {1: b"short"}])}, Code.SUIT_MALFORMED),
        (lambda m: {**m, 7: cbor.dumps([3])}, Code.SUIT_MALFORMED),
        (lambda m: {k: v for k, v in m.items() if k != 3}, Code.SUIT_MALFORMED),
        (lambda m: {**m, 7: cbor.dumps([20, {19: b"\xa0"}])}, Code.COSE_WRONG_TAG),
        (lambda m: {**m, 2: -1}, Code.SUIT_MALFORMED),
    ],
)
def test_strict_decoder_refuses(mutate, code) -> None:  # type: ignore[no-untyped-def]
    m = cbor.loads(author_manifest().encode())
    with pytest.raises(EdbpError) as info:
        suit.Manifest.decode(cbor.dumps(mutate(m)))
    assert info.value.code == code


def test_component_index_out_of_range() -> None:
    m = attrs.evolve(
        author_manifest(),
        install=suit.CommandSequence(
            [suit.Command(C.DIRECTIVE_SET_COMPONENT_INDEX, 4), suit.Command(C.DIRECTIVE_FETCH, 15)]
        ),
    )
    env = suit.sign_envelope(m, AUTHOR)
    with pytest.raises(EdbpError) as info:
        suit.run(env, suit.ManifestKey.INSTALL)
    assert info.value.code == Code.SUIT_COMPONENT_UNKNOWN


def test_set_parameters_does_not_override() -> None:
    common = suit.Common([(b"a",)])
    seq = suit.CommandSequence(
        [
            suit.Command(C.DIRECTIVE_OVERRIDE_PARAMETERS, suit.Parameters.of(uri="first")),
            suit.Command(
                C.DIRECTIVE_SET_PARAMETERS, suit.Parameters.of(uri="second", image_size=3)
            ),
            suit.Command(C.DIRECTIVE_FETCH, 15),
            suit.Command(C.DIRECTIVE_OVERRIDE_PARAMETERS, suit.Parameters.of(uri="third")),
            suit.Command(C.DIRECTIVE_FETCH, 15),
        ]
    )
    steps = list(suit.walk(seq, common))
    assert (steps[0].parameters.uri, steps[0].parameters.image_size) == ("first", 3)
    assert steps[1].parameters.uri == "third"


# ------------------------------------------------------------------------------ fuzz


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_edbp_errors(data: bytes) -> None:
    for lenient in (False, True):
        for decoder in (suit.Envelope.decode, suit.Manifest.decode, suit.SuitReport.decode):
            try:
                decoder(data, lenient)
            except EdbpError:
                pass


VALID = two_layer()[0].encode()


@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=4
    ),
    st.integers(0, len(VALID)),
)
def test_mutated_envelopes_raise_only_edbp_errors(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID)
    for pos, value in flips:
        data[pos] = value
    for candidate in (bytes(data), bytes(data[:cut]), VALID[:cut] + VALID[cut + 1 :]):
        for lenient in (False, True):
            try:
                env = suit.Envelope.decode(candidate, lenient)
                suit.verify_envelope(env, TAM.public(), lenient=lenient)
                suit.run(env, suit.ManifestKey.INSTALL, lenient)
            except EdbpError:
                pass


def test_success_report_names_the_manifest() -> None:
    env = two_layer()[0]
    report = suit.SuitReport.for_manifest(env.authentication.digest, nonce=b"challenge")
    assert report.succeeded and report.reference.digest == env.manifest.digest()
    back = suit.SuitReport.decode(report.encode())
    assert back == report and back.result is True
