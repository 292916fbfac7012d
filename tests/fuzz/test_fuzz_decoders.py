"""Every public decoder under structured mutation of the vectors' valid messages (issue 16).

One Hypothesis test per target; each input must give a coded error (``EdbpError``) or a
result, within the memory bound and the hang detector of ``fuzzing.run_one``. The inputs each
target ran are counted (``EDBP_FUZZ_REPORT``); the short budget runs in the default ``tox``,
``tox -e fuzz`` runs 10,000 per target.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fuzzing
import pytest
from edbp.conformance.adapter.framing import FrameReader
from edbp.conformance.reference_device import ReferenceDevice
from edbp.reference.blueprint.manifest import parse_manifest
from edbp.reference.blueprint.package import CpkReader
from edbp.reference.optee import verify_ta
from edbp.reference.wire import cbor, eat, suit, teep
from edbp.reference.wire.cose_encrypt import Encrypt, Encrypt0
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1
from edbp.reference.wire.inspect import inspect
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import AdapterError, Code

FUZZ = fuzzing.FUZZ
CBOR_SEEDS = fuzzing.CBOR_SEEDS
CPK_SEEDS = fuzzing.CPK_SEEDS
TA_SEEDS = fuzzing.TA_SEEDS
TA_ROOT = fuzzing.TA_ROOT
MANIFEST_SEEDS = fuzzing.MANIFEST_SEEDS
_mutate_cpk = fuzzing.mutate_cpk
_mutate_json = fuzzing.mutate_json


def _both(decode: Callable[[bytes, bool], object]) -> Callable[[bytes], None]:
    """Strict and lenient decoding of the same input."""

    def run(data: bytes) -> None:
        for lenient in (False, True):
            try:
                decode(data, lenient)
            except fuzzing.EdbpError:
                pass

    return run


def _cbor(data: bytes, lenient: bool) -> None:
    cbor.loads(data, cbor.LENIENT if lenient else cbor.STRICT)


def _envelope(data: bytes, lenient: bool) -> None:
    env = suit.Envelope.decode(data, lenient)
    try:
        suit.verify_envelope(env, [], lenient=lenient)
    except fuzzing.EdbpError:
        pass
    for key in env.integrated:
        env.integrated_envelope(key, lenient)
    for member in (suit.ManifestKey.INSTALL, suit.ManifestKey.VALIDATE):
        for step in suit.run(env, member, lenient):
            suit.component_for(env.manifest.common, step.index)


def _cose_key(data: bytes, lenient: bool) -> None:
    key = CoseKey.decode(data, lenient=lenient)
    if key.kty != 4:
        key.public_key()
        key.thumbprint()


def _sign1(data: bytes, lenient: bool) -> None:
    for tagged in (True, False, None):
        try:
            Sign1.decode(data, lenient=lenient, tagged=tagged)
        except fuzzing.EdbpError:
            pass


def _encrypt(data: bytes, lenient: bool) -> None:
    for cls in (Encrypt, Encrypt0):
        try:
            cls.decode(data, lenient=lenient, tagged=None)
        except fuzzing.EdbpError:
            pass


def _cpk(data: bytes) -> None:
    for strict in (True, False):
        try:
            reader = CpkReader(io.BytesIO(data), strict=strict)
            reader.parts()
            for _ in reader.iter_ciphertext():
                pass
        except fuzzing.EdbpError:
            pass


def _cpk_manifest(data: bytes) -> None:
    for strict in (True, False):
        try:
            parse_manifest(data, strict=strict).to_bytes()
        except fuzzing.EdbpError:
            pass


def _adapter_frame(data: bytes) -> None:
    FrameReader(max_frame=1 << 20).feed(len(data).to_bytes(4, "big") + data)


TARGETS: dict[str, tuple[Callable[[bytes], None], list[bytes]]] = {
    "cbor": (
        _both(lambda d, lenient: cbor.loads(d, cbor.LENIENT if lenient else cbor.STRICT)),
        CBOR_SEEDS,
    ),
    "cose-key": (_both(_cose_key), CBOR_SEEDS),
    "cose-sign1": (_both(_sign1), CBOR_SEEDS),
    "cose-encrypt": (_both(_encrypt), CBOR_SEEDS),
    "teep": (_both(teep.decode), CBOR_SEEDS),
    "suit-envelope": (_both(_envelope), CBOR_SEEDS),
    "suit-manifest": (_both(suit.Manifest.decode), CBOR_SEEDS),
    "suit-report": (_both(suit.SuitReport.decode), CBOR_SEEDS),
    "eat-claims": (_both(eat.EatClaims.decode), CBOR_SEEDS),
    "eat-manifest": (_both(eat.EatManifest.decode), CBOR_SEEDS),
    "inspect": (_both(inspect), CBOR_SEEDS),
    "adapter-frame": (_adapter_frame, CBOR_SEEDS),
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_cbor_decoders(target: str) -> None:
    fn, seeds = TARGETS[target]

    @FUZZ
    @given(st.sampled_from(seeds), st.data())
    def run(seed: bytes, data: st.DataObject) -> None:
        fuzzing.run_one(target, fn, fuzzing.mutate_cbor(seed, data))

    run()


@FUZZ
@given(st.sampled_from(CPK_SEEDS), st.data())
def test_cpk_reader(seed: bytes, data: st.DataObject) -> None:
    fuzzing.run_one("cpk", _cpk, _mutate_cpk(seed, data))


@FUZZ
@given(st.sampled_from(MANIFEST_SEEDS), st.data())
def test_cpk_manifest(seed: bytes, data: st.DataObject) -> None:
    fuzzing.run_one("cpk-manifest", _cpk_manifest, _mutate_json(seed, data))


@FUZZ
@given(st.sampled_from(TA_SEEDS), st.data())
def test_ta_image(seed: bytes, data: st.DataObject) -> None:
    fuzzing.run_one("ta-image", lambda d: verify_ta(d, TA_ROOT), fuzzing.mutate_bytes(seed, data))


# ---------------------------------------------------------------------------- adapter requests


def _request_seeds() -> list[tuple[str, dict[str, Any]]]:
    """Requests a harness sends, with arguments taken from the vectors."""
    out: list[tuple[str, dict[str, Any]]] = [
        ("hello", {"version": 1, "harness": "fuzz"}),
        ("reset", {"profile": "edbp", "keep_keys": False}),
        ("identity", {}),
        ("state", {}),
        ("set_clock", {"time": 1_700_000_000}),
        ("power_cut", {"at": 3}),
    ]
    for path in fuzzing._vector_files("deploy", "tam"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for test in doc["testGroups"][0]["tests"][:3]:
            device = test.get("device", {})
            anchors = device.get("trustAnchors", {})
            args: dict[str, Any] = {
                "tam_keys": [bytes.fromhex(k) for k in anchors.get("tam", [])],
                "author_keys": [bytes.fromhex(k) for k in anchors.get("author", [])],
                "test_keys": {k: bytes.fromhex(v) for k, v in device.get("testKeys", {}).items()},
                "floors": [{"component": [b"TEEP-Device", b"SecureFS", b"x"], "sequence": 1}],
            }
            out.append(("provision", args))
            for step in test.get("steps", []):
                msg = step.get("input", {}).get("message", {})
                if isinstance(msg, dict) and "cbor" in msg:
                    out.append(("deliver", {"message": bytes.fromhex(msg["cbor"])}))
    return out


REQUESTS = _request_seeds()


class _Host:
    def fetch(self, uri: str) -> bytes:
        raise AdapterError(Code.AGENT_PAYLOAD_FETCH_FAILED, "no registry in the fuzz test")


@FUZZ
@given(st.sampled_from(REQUESTS), st.data())
def test_adapter_requests(request: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    """A reference device answers mutated requests with a coded refusal or a result, and its
    server loop's only exits are those (a PowerLoss or TypeError escaping is a failure)."""
    req, args = request
    mutated = fuzzing.mutate_tree(args, data) if data.draw(st.booleans()) else args
    device = _device()
    frame = cbor.dumps({"req": req, "args": mutated if isinstance(mutated, dict) else {}})

    def handle(blob: bytes) -> None:
        item = cbor.loads(blob)
        device.handle(item["req"], item["args"], _Host())

    fuzzing.run_one("adapter-request", handle, bytes(frame))


_DEVICE: list[ReferenceDevice] = []


def _device() -> ReferenceDevice:
    if not _DEVICE:
        _DEVICE.append(ReferenceDevice())
    return _DEVICE[0]


ALL: dict[str, Callable[[bytes], object]] = {
    **{k: v[0] for k, v in TARGETS.items()},
    "cpk": _cpk,
    "cpk-manifest": _cpk_manifest,
    "ta-image": lambda d: verify_ta(d, TA_ROOT),
}


def _replay_request(blob: bytes) -> None:
    item = cbor.loads(blob)
    ReferenceDevice().handle(item["req"], item["args"], _Host())


ALL["adapter-request"] = _replay_request


@pytest.mark.parametrize(
    ("target", "path"),
    [e for e in fuzzing.corpus_inputs() if e[0] in ALL],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_corpus_replays(target: str, path: Path) -> None:
    """Every input kept in the corpus for a decoder target still gets a coded answer."""
    fuzzing.run_one(target, ALL[target], path.read_bytes())
