"""Structure-aware fuzz of SUIT decoding: valid envelopes and reports are decoded, one node of the
CBOR tree (descending into byte strings that hold CBOR) is replaced, deleted or inserted, and the
result is re-encoded. Byte flips mostly break the outer CBOR; these mutations reach the shape
checks of every nested structure. Only EdbpError may come out of decoding, verifying, walking
and inspecting."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from edbp.reference.wire import cbor, cose, suit
from edbp.reference.wire.inspect import inspect
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import EdbpError


def _sibling(name: str) -> Any:
    """A sibling test module of tests/wire, imported by path (any pytest import mode)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(name + ".py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64 - 1),
    st.binary(max_size=40),
    st.text(max_size=5),
    st.just([]),
    st.just({}),
    st.builds(
        cbor.Tag,
        st.sampled_from([17, 18, 96, 107, 112, 1070]),
        st.integers(0, 3) | st.binary(max_size=4),
    ),
)


def mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """A copy of ``value`` with one node changed (or a fresh leaf)."""
    if depth > 10 or data.draw(st.integers(0, 5)) == 0:
        return data.draw(LEAVES)
    if isinstance(value, list) and value:
        out = list(value)
        i = data.draw(st.integers(0, len(out) - 1))
        op = data.draw(st.integers(0, 2))
        if op == 0:
            out[i] = mutate(out[i], data, depth + 1)
        elif op == 1:
            del out[i]
        else:
            out.insert(i, data.draw(LEAVES))
        return out
    if isinstance(value, dict) and value:
        out_map = dict(value)
        key = data.draw(st.sampled_from(sorted(out_map, key=repr)))
        op = data.draw(st.integers(0, 2))
        if op == 0:
            out_map[key] = mutate(out_map[key], data, depth + 1)
        elif op == 1:
            del out_map[key]
        else:
            out_map[data.draw(st.integers(-30, 300))] = data.draw(LEAVES)
        return out_map
    if isinstance(value, cbor.Tag):
        return cbor.Tag(value.tag, mutate(value.value, data, depth + 1))
    if isinstance(value, bytes) and value:
        try:
            inner = cbor.loads(value, cbor.LENIENT)
        except EdbpError:
            return data.draw(LEAVES)
        return cbor.dumps(mutate(inner, data, depth + 1))
    return data.draw(LEAVES)


def _samples() -> list[bytes]:
    samples = _sibling("test_suit_roundtrip")
    TAM, two_layer = samples.TAM, samples.two_layer

    tam, author = two_layer()
    report = suit.SuitReport(
        suit.SuitReference(tam.manifest.digest(), "uri"),
        (suit.SuitRecord((0,), 20, 3, 0, suit.Parameters.of(image_size=3)),),
        True,
        b"nonce-12",
    )
    return [tam.encode(), author, report.encode(), suit.sign_report(report, TAM, cose.Alg.ED25519)]


SAMPLES = _samples()


@given(st.sampled_from(SAMPLES), st.data())
def test_structural_mutations_raise_only_edbp_errors(sample: bytes, data: st.DataObject) -> None:
    mutated = cbor.dumps(mutate(cbor.loads(sample), data))
    for lenient in (False, True):
        try:
            env = suit.Envelope.decode(mutated, lenient)
            suit.verify_envelope(env, [], lenient=lenient)
        except EdbpError:
            pass
        try:
            env = suit.Envelope.decode(mutated, lenient)
            for member in suit.ManifestKey:
                if member in (
                    suit.ManifestKey.INSTALL,
                    suit.ManifestKey.VALIDATE,
                    suit.ManifestKey.PAYLOAD_FETCH,
                ):
                    for step in suit.run(env, member, lenient):
                        suit.component_for(env.manifest.common, step.index)
            for key in env.integrated:
                env.integrated_envelope(key, lenient)
        except EdbpError:
            pass
        try:
            suit.SuitReport.decode(mutated, lenient)
        except EdbpError:
            pass
        try:
            inspect(mutated, lenient)
        except EdbpError:
            pass
