"""SUIT numbers checked against the published CDDL, and the names `edbp inspect` shows."""

from __future__ import annotations

import re
from pathlib import Path

from edbp.reference.wire import names
from edbp.reference.wire.suit_labels import (
    CommonKey,
    EnvelopeKey,
    ManifestKey,
    SuitCommand,
    SuitParam,
    TextComponentKey,
    TextKey,
)

INTEROP = Path(__file__).resolve().parent.parent / "interop"


def constants(path: Path) -> dict[str, int]:
    text = path.read_text()
    return {n: int(v) for n, v in re.findall(r"^([a-z][\w-]*)\s*=\s*(-?\d+)\s*$", text, re.M)}


def test_manifest_numbers_match_the_draft_cddl() -> None:
    c = constants(INTEROP / "suit-manifest" / "draft-ietf-suit-manifest.cddl")
    c.update(
        constants(INTEROP / "suit-firmware-encryption" / "draft-ietf-suit-firmware-encryption.cddl")
    )
    checked = 0
    for e, prefix in (
        (SuitCommand, "suit-"),
        (SuitParam, "suit-parameter-"),
        (TextKey, "suit-text-"),
        (TextComponentKey, "suit-text-"),
    ):
        for member in e:
            name = prefix + member.name.lower().replace("_", "-")
            if name in c:
                assert c[name] == member, name
                checked += 1
    for member, name in (
        (ManifestKey.MANIFEST_VERSION, "suit-manifest-version"),
        (ManifestKey.SEQUENCE_NUMBER, "suit-manifest-sequence-number"),
        (ManifestKey.COMMON, "suit-common"),
        (ManifestKey.REFERENCE_URI, "suit-reference-uri"),
        (ManifestKey.VALIDATE, "suit-validate"),
        (ManifestKey.LOAD, "suit-load"),
        (ManifestKey.INVOKE, "suit-invoke"),
        (ManifestKey.PAYLOAD_FETCH, "suit-payload-fetch"),
        (ManifestKey.INSTALL, "suit-install"),
        (ManifestKey.TEXT, "suit-text"),
        (EnvelopeKey.AUTHENTICATION_WRAPPER, "suit-authentication-wrapper"),
        (EnvelopeKey.MANIFEST, "suit-manifest"),
        (CommonKey.COMPONENTS, "suit-components"),
        (CommonKey.SHARED_SEQUENCE, "suit-shared-sequence"),
    ):
        assert c[name] == member, name
        checked += 1
    # every condition/directive/parameter of the manifest draft is known to edbp
    for name, value in c.items():
        if name.startswith(("suit-condition-", "suit-directive-")):
            assert value in set(SuitCommand), name
        if name.startswith("suit-parameter-") and name != "suit-parameter-custom":
            assert value in set(SuitParam), name
    assert checked >= 40


def test_every_label_has_a_name() -> None:
    assert set(names.SUIT_COMMAND_NAMES) == {int(c) for c in SuitCommand}
    assert names.SUIT_COMMAND_NAMES[20] == "directive-override-parameters"
    assert names.SUIT_PARAMETER_NAMES[19] == "parameter-encryption-info"
    assert names.SUIT_MANIFEST_NAMES[2] == "manifest-sequence-number"
    assert names.TEEP_TYPE_NAMES[1] == "TEEP-TYPE-query-request"
    assert names.TEEP_OPTION_NAMES[20] == "token"
    assert names.EAT_CLAIM_NAMES[256] == "ueid"
    assert names.ALG_NAMES[-9] == "ESP256"
