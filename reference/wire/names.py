"""Names of SUIT, TEEP, EAT and COSE labels, for diagnostics (``edbp inspect``, vectors' diag).

Why derived from the enums: a name shown to a reviewer must be the number the codec uses; the
tables below are generated from ``suit_labels``, ``teep_labels``, ``eat_labels`` and
``cose_algs`` so they cannot drift (the label modules, not ``teep`` and ``eat``: those load COSE
signing and ``cryptography``, which showing a file never needs). Spelling follows the drafts'
CDDL (``directive-override-parameters``, ``tc-list``).
"""

from __future__ import annotations

import enum

from edbp.reference.wire import cose_algs
from edbp.reference.wire.eat_labels import Claim
from edbp.reference.wire.suit_labels import (
    CommonKey,
    DependencyKey,
    EnvelopeKey,
    ManifestKey,
    RecordKey,
    ReportKey,
    ReportReason,
    SuitCommand,
    SuitParam,
    TextComponentKey,
    TextKey,
)
from edbp.reference.wire.teep_labels import (
    EDBP_AGENT_NONCE,
    EDBP_UNNEEDED_DEVICE,
    EDBP_UNNEEDED_SEQUENCE_NUMBERS,
    DataItem,
    Freshness,
    TeepOption,
    TeepType,
)

from edbp.errors import TeepErr

__all__ = [
    "ALG_NAMES",
    "COSE_TAG_NAMES",
    "CURVE_NAMES",
    "EAT_CLAIM_NAMES",
    "HEADER_NAMES",
    "KEY_PARAM_NAMES",
    "KEY_TYPE_NAMES",
    "SUIT_COMMAND_NAMES",
    "SUIT_COMMON_NAMES",
    "SUIT_DEPENDENCY_NAMES",
    "SUIT_ENVELOPE_NAMES",
    "SUIT_MANIFEST_NAMES",
    "SUIT_PARAMETER_NAMES",
    "SUIT_RECORD_NAMES",
    "SUIT_REPORT_NAMES",
    "SUIT_REPORT_REASON_NAMES",
    "SUIT_TEXT_COMPONENT_NAMES",
    "SUIT_TEXT_NAMES",
    "TAG_NAMES",
    "TEEP_DATA_ITEM_NAMES",
    "TEEP_ERR_NAMES",
    "TEEP_FRESHNESS_NAMES",
    "TEEP_OPTION_NAMES",
    "TEEP_TYPE_NAMES",
]


def _kebab(e: type[enum.IntEnum], prefix: str = "") -> dict[int, str]:
    return {int(m): prefix + m.name.lower().replace("_", "-") for m in e}


SUIT_ENVELOPE_NAMES = _kebab(EnvelopeKey)
SUIT_MANIFEST_NAMES = _kebab(ManifestKey)
SUIT_MANIFEST_NAMES[int(ManifestKey.SEQUENCE_NUMBER)] = "manifest-sequence-number"
SUIT_COMMON_NAMES = _kebab(CommonKey)
SUIT_DEPENDENCY_NAMES = {int(DependencyKey.PREFIX): "dependency-prefix"}
SUIT_COMMAND_NAMES = _kebab(SuitCommand)
SUIT_PARAMETER_NAMES = _kebab(SuitParam, "parameter-")
SUIT_TEXT_NAMES = _kebab(TextKey, "text-")
SUIT_TEXT_COMPONENT_NAMES = _kebab(TextComponentKey, "text-")
SUIT_REPORT_NAMES = {
    int(k): "suit-" + (n if k == ReportKey.REFERENCE else "report-" + n)
    for k, n in _kebab(ReportKey).items()
}
SUIT_RECORD_NAMES = _kebab(RecordKey, "record-")
SUIT_REPORT_REASON_NAMES = _kebab(ReportReason, "reason-")

TEEP_TYPE_NAMES = {int(t): "TEEP-TYPE-" + n for t, n in _kebab(TeepType).items()}
TEEP_OPTION_NAMES = _kebab(TeepOption)
TEEP_OPTION_NAMES[EDBP_UNNEEDED_SEQUENCE_NUMBERS] = "edbp-unneeded-sequence-numbers"
TEEP_OPTION_NAMES[EDBP_UNNEEDED_DEVICE] = "edbp-unneeded-device"
TEEP_OPTION_NAMES[EDBP_AGENT_NONCE] = "edbp-agent-nonce"
TEEP_ERR_NAMES = {int(e): e.name for e in TeepErr}
TEEP_FRESHNESS_NAMES = {int(f): f"FRESHNESS_{f.name}" for f in Freshness}
TEEP_DATA_ITEM_NAMES = {int(d): d.name.lower().replace("_", "-") for d in DataItem if d.name}

EAT_CLAIM_NAMES = {int(c): c.name.lower() for c in Claim}
EAT_CLAIM_NAMES[int(Claim.CNF)] = "cnf"

ALG_NAMES = cose_algs.ALG_NAMES
HEADER_NAMES = cose_algs.HEADER_NAMES
KEY_PARAM_NAMES = cose_algs.KEY_PARAM_NAMES
KEY_TYPE_NAMES = cose_algs.KEY_TYPE_NAMES
CURVE_NAMES = cose_algs.CURVE_NAMES
COSE_TAG_NAMES = cose_algs.COSE_TAG_NAMES

#: CBOR tags edbp recognises
TAG_NAMES: dict[int, str] = {
    **COSE_TAG_NAMES,
    107: "SUIT_Envelope_Tagged",
    1070: "SUIT_Manifest_Tagged",
    61: "CWT",
    112: "cbor-pen",
}
