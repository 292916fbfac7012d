"""Integer labels of SUIT (draft-ietf-suit-manifest, -trust-domains, -firmware-encryption, -report).

Why one module of constants: the encoder, the strict decoder, the processing helpers and the
diagnostic renderer (``names``) must agree on every number, and the edbp profile is stated here
once as the subset of commands and parameters it accepts; everything else in the drafts is
"known but unsupported" and refused by the strict decoder.
"""

from __future__ import annotations

import enum

__all__ = [
    "DRAFT_COMMANDS",
    "DRAFT_PARAMETERS",
    "EDBP_COMMANDS",
    "EDBP_PARAMETERS",
    "EDBP_SHARED_COMMANDS",
    "SEVERABLE_MEMBERS",
    "SUIT_ENVELOPE_TAG",
    "SUIT_MANIFEST_TAG",
    "CommonKey",
    "DependencyKey",
    "EnvelopeKey",
    "ManifestKey",
    "RecordKey",
    "ReportKey",
    "ReportReason",
    "SuitCommand",
    "SuitParam",
    "TextComponentKey",
    "TextKey",
]

SUIT_ENVELOPE_TAG = 107
SUIT_MANIFEST_TAG = 1070
#: COSE algorithm ids of the digests SUIT names (SHA-256 mandatory; the others optional)
SHA256 = -16
SHAKE128 = -18
SHA384 = -43
SHA512 = -44
SHAKE256 = -45


class EnvelopeKey(enum.IntEnum):
    DELEGATION = 1
    AUTHENTICATION_WRAPPER = 2
    MANIFEST = 3
    DEPENDENCY_RESOLUTION = 15
    PAYLOAD_FETCH = 16
    CANDIDATE_VERIFICATION = 18
    INSTALL = 20
    TEXT = 23


class ManifestKey(enum.IntEnum):
    MANIFEST_VERSION = 1
    SEQUENCE_NUMBER = 2
    COMMON = 3
    REFERENCE_URI = 4
    MANIFEST_COMPONENT_ID = 5
    VALIDATE = 7
    LOAD = 8
    INVOKE = 9
    DEPENDENCY_RESOLUTION = 15
    PAYLOAD_FETCH = 16
    INSTALL = 20
    TEXT = 23
    UNINSTALL = 24


#: Manifest members that may be severed (replaced by their SUIT_Digest) and carried in the envelope
SEVERABLE_MEMBERS = frozenset(
    {
        ManifestKey.DEPENDENCY_RESOLUTION,
        ManifestKey.PAYLOAD_FETCH,
        ManifestKey.INSTALL,
        ManifestKey.TEXT,
    }
)


class CommonKey(enum.IntEnum):
    DEPENDENCIES = 1
    COMPONENTS = 2
    SHARED_SEQUENCE = 4


class DependencyKey(enum.IntEnum):
    PREFIX = 1


class SuitCommand(enum.IntEnum):
    """Condition and directive codes (conditions and directives share one number space)."""

    CONDITION_VENDOR_IDENTIFIER = 1
    CONDITION_CLASS_IDENTIFIER = 2
    CONDITION_IMAGE_MATCH = 3
    CONDITION_COMPONENT_SLOT = 5
    CONDITION_CHECK_CONTENT = 6
    CONDITION_DEPENDENCY_INTEGRITY = 7
    CONDITION_IS_DEPENDENCY = 8
    DIRECTIVE_PROCESS_DEPENDENCY = 11
    DIRECTIVE_SET_COMPONENT_INDEX = 12
    CONDITION_ABORT = 14
    DIRECTIVE_TRY_EACH = 15
    DIRECTIVE_WRITE = 18
    DIRECTIVE_SET_PARAMETERS = 19
    DIRECTIVE_OVERRIDE_PARAMETERS = 20
    DIRECTIVE_FETCH = 21
    DIRECTIVE_COPY = 22
    DIRECTIVE_INVOKE = 23
    CONDITION_DEVICE_IDENTIFIER = 24
    DIRECTIVE_SWAP = 31
    DIRECTIVE_RUN_SEQUENCE = 32
    DIRECTIVE_UNLINK = 33


class SuitParam(enum.IntEnum):
    VENDOR_IDENTIFIER = 1
    CLASS_IDENTIFIER = 2
    IMAGE_DIGEST = 3
    COMPONENT_SLOT = 5
    STRICT_ORDER = 12
    SOFT_FAILURE = 13
    IMAGE_SIZE = 14
    CONTENT = 18
    ENCRYPTION_INFO = 19
    URI = 21
    SOURCE_COMPONENT = 22
    INVOKE_ARGS = 23
    DEVICE_IDENTIFIER = 24
    FETCH_ARGUMENTS = 25


class TextKey(enum.IntEnum):
    MANIFEST_DESCRIPTION = 1
    UPDATE_DESCRIPTION = 2
    MANIFEST_JSON_SOURCE = 3
    MANIFEST_YAML_SOURCE = 4


class TextComponentKey(enum.IntEnum):
    VENDOR_NAME = 1
    MODEL_NAME = 2
    VENDOR_DOMAIN = 3
    MODEL_INFO = 4
    COMPONENT_DESCRIPTION = 5
    COMPONENT_VERSION = 6


class ReportKey(enum.IntEnum):
    NONCE = 2
    RECORDS = 3
    RESULT = 4
    RESULT_CODE = 5
    RESULT_RECORD = 6
    RESULT_REASON = 7
    CAPABILITY_REPORT = 8
    REFERENCE = 99


class RecordKey(enum.IntEnum):
    """Positions in a SUIT_Record array (draft-ietf-suit-report)."""

    MANIFEST_ID = 0
    MANIFEST_SECTION = 1
    SECTION_OFFSET = 2
    COMPONENT_INDEX = 3
    PROPERTIES = 4


class ReportReason(enum.IntEnum):
    OK = 0
    CBOR_PARSE = 1
    COSE_UNSUPPORTED = 2
    ALG_UNSUPPORTED = 3
    UNAUTHORISED = 4
    COMMAND_UNSUPPORTED = 5
    COMPONENT_UNSUPPORTED = 6
    COMPONENT_UNAUTHORISED = 7
    PARAMETER_UNSUPPORTED = 8
    SEVERING_UNSUPPORTED = 9
    CONDITION_FAILED = 10
    OPERATION_FAILED = 11
    INVOKE_PENDING = 12


_C = SuitCommand
#: The commands the edbp profile uses (spec: SUIT subset). Everything else is refused by the
#: strict decoder with SUIT_UNSUPPORTED_COMMAND.
EDBP_COMMANDS = frozenset(
    {
        _C.CONDITION_VENDOR_IDENTIFIER,
        _C.CONDITION_CLASS_IDENTIFIER,
        _C.CONDITION_IMAGE_MATCH,
        _C.CONDITION_DEPENDENCY_INTEGRITY,
        _C.CONDITION_IS_DEPENDENCY,
        _C.DIRECTIVE_PROCESS_DEPENDENCY,
        _C.DIRECTIVE_SET_COMPONENT_INDEX,
        _C.DIRECTIVE_WRITE,
        _C.DIRECTIVE_SET_PARAMETERS,
        _C.DIRECTIVE_OVERRIDE_PARAMETERS,
        _C.DIRECTIVE_FETCH,
        _C.DIRECTIVE_COPY,
    }
)
#: Commands allowed in the common shared sequence (draft-ietf-suit-manifest: conditions and
#: set-component-index / override-parameters), restricted to the edbp subset.
EDBP_SHARED_COMMANDS = frozenset(
    {
        _C.CONDITION_VENDOR_IDENTIFIER,
        _C.CONDITION_CLASS_IDENTIFIER,
        _C.CONDITION_IMAGE_MATCH,
        _C.DIRECTIVE_SET_COMPONENT_INDEX,
        _C.DIRECTIVE_OVERRIDE_PARAMETERS,
    }
)
#: Commands allowed in a suit-uninstall sequence (member 24; the TEEP draft's SUIT examples put
#: ``directive-unlink`` there, the personalization example also processes its dependency):
#: select and check the component, then unlink it. Unlink is allowed nowhere else.
EDBP_UNINSTALL_COMMANDS = frozenset(
    {
        _C.CONDITION_VENDOR_IDENTIFIER,
        _C.CONDITION_CLASS_IDENTIFIER,
        _C.DIRECTIVE_SET_COMPONENT_INDEX,
        _C.DIRECTIVE_OVERRIDE_PARAMETERS,
        _C.DIRECTIVE_PROCESS_DEPENDENCY,  # a dependent manifest uninstalls its dependency
        _C.DIRECTIVE_UNLINK,
    }
)
#: Every command number the drafts define; accepted (kept verbatim) only by the lenient decoder.
DRAFT_COMMANDS = frozenset(SuitCommand)

_P = SuitParam
EDBP_PARAMETERS = frozenset(
    {
        _P.VENDOR_IDENTIFIER,
        _P.CLASS_IDENTIFIER,
        _P.IMAGE_DIGEST,
        _P.IMAGE_SIZE,
        _P.CONTENT,
        _P.ENCRYPTION_INFO,
        _P.URI,
        _P.SOURCE_COMPONENT,
    }
)
DRAFT_PARAMETERS = frozenset(SuitParam)
