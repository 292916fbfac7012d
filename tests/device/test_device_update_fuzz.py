"""The SUIT processor on arbitrary (but TSK-signed) device manifests: every outcome is Success
or an Error with a code, never an internal fault of the Agent."""

from __future__ import annotations

from device_builders import MiniTam, world
from device_fixtures import V1, World, reply
from edbp.reference.device.agent import AgentState
from edbp.reference.wire import teep
from edbp.reference.wire.suit_commands import Command, CommandSequence, Parameters
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_crypto import sign_envelope
from edbp.reference.wire.suit_envelope import Common, Dependency, Envelope, Manifest
from edbp.reference.wire.suit_labels import SuitCommand as C
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_CODES = [
    C.CONDITION_VENDOR_IDENTIFIER,
    C.CONDITION_CLASS_IDENTIFIER,
    C.CONDITION_IMAGE_MATCH,
    C.CONDITION_DEPENDENCY_INTEGRITY,
    C.CONDITION_IS_DEPENDENCY,
    C.DIRECTIVE_PROCESS_DEPENDENCY,
    C.DIRECTIVE_WRITE,
    C.DIRECTIVE_FETCH,
    C.DIRECTIVE_COPY,
]


def _params(author: Envelope, info: object) -> st.SearchStrategy[Parameters]:
    return st.builds(
        lambda picks: Parameters.of(**dict(picks)),
        st.lists(
            st.sampled_from(
                [
                    ("image_digest", author.authentication.digest),
                    ("image_digest", SuitDigest.of(b"other")),
                    ("image_size", 7),
                    ("uri", "#author"),
                    ("uri", "oci://x@sha256:" + "0" * 64),
                    ("source_component", 1),
                    ("source_component", 5),
                    ("encryption_info", info),
                ]
            ),
            max_size=4,
        ),
    )


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_any_signed_device_manifest_is_handled(data: st.DataObject) -> None:
    author_, tam_ = world("fuzz-update")
    w = World(author_, tam_)
    tam: MiniTam = w.tam
    dev = w.device()
    pkg = w.publish(V1, 1)
    author = Envelope.decode(pkg.envelope)
    info = tam.delivery_info(pkg, dev.agent.keys.dak_public)
    commands = data.draw(
        st.lists(
            st.one_of(
                st.builds(
                    lambda i: Command(int(C.DIRECTIVE_SET_COMPONENT_INDEX), i), st.integers(0, 3)
                ),
                st.builds(
                    lambda p: Command(int(C.DIRECTIVE_OVERRIDE_PARAMETERS), p),
                    _params(author, info).filter(lambda p: bool(p.values)),
                ),
                st.builds(
                    lambda p: Command(int(C.DIRECTIVE_SET_PARAMETERS), p),
                    _params(author, info).filter(lambda p: bool(p.values)),
                ),
                st.builds(lambda c: Command(int(c), 15), st.sampled_from(_CODES)),
            ),
            min_size=1,
            max_size=12,
        )
    )
    ta, staging = author.manifest.common.components
    manifest = Manifest(
        sequence_number=1,
        common=Common([ta, staging], dependencies={2: Dependency()}),
        install=CommandSequence(commands),
        component_id=(b"edbp", b"device", ta[2], dev.agent.keys.ueid),
    )
    env = sign_envelope(manifest, tam.tsk, integrated={"#author": pkg.envelope}).encode()
    token = dev.query(tam)
    (out,) = dev.broker.deliver(tam.signed(teep.Update(token=token, manifest_list=(env,))))
    msg = reply(out)
    assert isinstance(msg, teep.Success | teep.Error)
    assert dev.agent.last_exception is None, repr(dev.agent.last_exception)
    assert dev.agent.state is AgentState.IDLE and not dev.agent.holds_cek
