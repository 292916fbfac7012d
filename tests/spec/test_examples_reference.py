"""The reference wire layer reads the spec's examples as the spec says (spec and code agree).

Where they disagree today the test is a strict xfail naming the mismatch, so that fixing either
side turns it into a failure that asks for the xfail to be removed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import cbor2
import pytest
from edbp.reference.wire import cose_key, eat, suit_envelope, suit_report, teep

EXAMPLES = Path(__file__).resolve().parents[2] / "spec" / "examples"


@pytest.fixture(scope="module")
def gen() -> Any:
    spec = importlib.util.spec_from_file_location(
        "edbp_spec_gen_ref", EXAMPLES / "make_examples.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bytes(name: str) -> bytes:
    return bytes.fromhex((EXAMPLES / f"{name}.cbor.hex").read_text().strip())


@pytest.mark.parametrize(
    ("name", "signer", "kind"),
    [
        ("teep-query-request-signed", "TSK", teep.QueryRequest),
        ("teep-query-response-signed", "DSK", teep.QueryResponse),
        ("teep-update-signed", "TSK", teep.Update),
        ("teep-success-signed", "DSK", teep.Success),
        ("teep-error-signed", "DSK", teep.Error),
    ],
)
def test_reference_verifies_every_teep_example(
    gen: Any, name: str, signer: str, kind: type
) -> None:
    key = cose_key.CoseKey.from_map(gen.cose_key(getattr(gen, signer)))
    assert isinstance(teep.verify(_bytes(name), key), kind)
    other = cose_key.CoseKey.from_map(gen.cose_key(gen.MRK))
    with pytest.raises(Exception) as info:
        teep.verify(_bytes(name), other)
    assert getattr(info.value, "code", None) is not None  # a coded refusal, not a crash


def test_reference_reads_both_envelopes_and_their_digests() -> None:
    device = suit_envelope.Envelope.decode(_bytes("suit-envelope-device"))
    assert device.digest_matches()
    author = device.integrated_envelope("#author")
    assert author.digest_matches()
    assert suit_envelope.Envelope.decode(_bytes("suit-envelope-author")).digest_matches()


def test_reference_reads_the_signed_report() -> None:
    signed = cbor2.loads(_bytes("suit-report-signed"))
    report = suit_report.SuitReport.decode(signed.value[2])
    assert report.succeeded


def test_reference_reads_the_eat_example() -> None:
    claims = eat.EatClaims.decode(_bytes("eat-claims"))
    assert len(claims.manifests) == 1


def test_reference_reads_the_untagged_envelope_inside_an_update() -> None:
    signed = cbor2.loads(_bytes("teep-update-signed"))
    envelope = cbor2.loads(signed.value[2])[1][10][0]
    assert suit_envelope.Envelope.decode(envelope).digest_matches()


def test_reference_reads_the_author_example_as_an_edbp_package(gen: Any) -> None:
    from edbp.reference.build import package

    ask = cose_key.CoseKey.from_map(gen.cose_key(gen.ASK))
    read = package.read_author_envelope(_bytes("suit-envelope-author"), ask)
    assert read.sequence == gen.SEQ
    assert tuple(read.component_id) == tuple(gen.TA_COMPONENT)
