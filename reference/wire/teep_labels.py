"""TEEP's numbers (draft-ietf-teep-protocol CDDL): message types, option labels, freshness
mechanisms and data-item-requested bits.

Why a module of their own: ``edbp inspect`` and the name tables (``names``) need only these
numbers, and ``teep`` itself pulls in COSE signing and with it ``cryptography``; keeping the
enums here (re-exported by ``teep``, as ``suit_labels`` is for SUIT) lets a display of a file
start without loading any cryptography (tests/cli checks the module list).
"""

from __future__ import annotations

import enum

__all__ = [
    "EDBP_AGENT_NONCE",
    "EDBP_UNNEEDED_DEVICE",
    "EDBP_UNNEEDED_SEQUENCE_NUMBERS",
    "DataItem",
    "Freshness",
    "TeepOption",
    "TeepType",
]


class TeepType(enum.IntEnum):
    """Message type numbers of the draft's CDDL (4 is reserved)."""

    QUERY_REQUEST = 1
    QUERY_RESPONSE = 2
    UPDATE = 3
    SUCCESS = 5
    ERROR = 6


class TeepOption(enum.IntEnum):
    """Map labels of TEEP options (and of requested-tc-info)."""

    SUPPORTED_TEEP_CIPHER_SUITES = 1
    CHALLENGE = 2
    VERSIONS = 3
    SUPPORTED_SUIT_COSE_PROFILES = 4
    SELECTED_VERSION = 6
    ATTESTATION_PAYLOAD = 7
    TC_LIST = 8
    EXT_LIST = 9
    MANIFEST_LIST = 10
    MSG = 11
    ERR_MSG = 12
    ATTESTATION_PAYLOAD_FORMAT = 13
    REQUESTED_TC_LIST = 14
    UNNEEDED_MANIFEST_LIST = 15
    COMPONENT_ID = 16
    TC_MANIFEST_SEQUENCE_NUMBER = 17
    HAVE_BINARY = 18
    SUIT_REPORTS = 19
    TOKEN = 20
    SUPPORTED_FRESHNESS_MECHANISMS = 21
    ERR_LANG = 22
    ERR_CODE = 23


#: edbp extension option of the Update (TEEP's ``$$update-extensions`` socket; spec/messages.cddl,
#: protocol.md section 14 item 19), not a draft label: for each component of
#: ``unneeded-manifest-list``, the SUIT sequence number of the install its removal is bound to
EDBP_UNNEEDED_SEQUENCE_NUMBERS = 256
#: edbp extension option of the Update, beside the one above: the UEID of the device whose
#: components the uninstall removes (protocol.md section 9 [P-9.10d])
EDBP_UNNEEDED_DEVICE = 257
#: edbp extension option of the QueryResponse (``$$query-response-extensions``) and of the
#: Update (``$$update-extensions``): the Agent's fresh 16-byte nonce for the exchange, drawn
#: when it accepts a QueryRequest and echoed by the TAM in every Update of the session, so that
#: an Update withheld from an earlier exchange is refused in one a replayed QueryRequest
#: reopened (protocol.md section 8.3.1, section 9 [P-9.7c])
EDBP_AGENT_NONCE = 258


class Freshness(enum.IntEnum):
    NONCE = 0
    TIMESTAMP = 1


class DataItem(enum.IntFlag):
    """data-item-requested bits."""

    ATTESTATION = 1 << 0
    TRUSTED_COMPONENTS = 1 << 1
    EXTENSIONS = 1 << 2
    SUIT_REPORTS = 1 << 3
