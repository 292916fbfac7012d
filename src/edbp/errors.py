"""The one table of edbp error codes and the short exception hierarchy that carries them.

Every refusal anywhere in edbp (wire decoding, verification, the TA loader, the Agent's and the
TAM's state machines, the key vault, the device adapter, the blueprint's CPK layer) is an
``EdbpError`` subclass carrying one ``Code``. Codes are stable integers: a vector or a conformance
case pins the integer, so a code is never renumbered or reused; new codes are appended inside
their area's range. ``spec/errors.md`` is the normative table; ``tests/test_errors_table.py``
checks that the two agree.

Ranges: 1xx CBOR, 2xx COSE, 3xx SUIT, 4xx TEEP/EAT, 5xx OP-TEE TA image, 6xx device Agent,
7xx TAM / cloud / key vault, 8xx device adapter / conformance, 9xx blueprint (CPK, CPM, key
service), 10xx model.

Exceptions never carry secrets. ``DecryptionFailed`` carries nothing at all (pyca's
``InvalidTag`` rule): every way a decryption can fail looks the same to the caller.
"""

from __future__ import annotations

import enum


class TeepErr(enum.IntEnum):
    """err-code values of draft-ietf-teep-protocol (the TEEP Error message)."""

    ERR_PERMANENT_ERROR = 1
    ERR_UNSUPPORTED_EXTENSION = 2
    ERR_UNSUPPORTED_FRESHNESS_MECHANISMS = 3
    ERR_UNSUPPORTED_MSG_VERSION = 4
    ERR_UNSUPPORTED_CIPHER_SUITES = 5
    ERR_BAD_CERTIFICATE = 6
    ERR_ATTESTATION_REQUIRED = 7
    ERR_UNSUPPORTED_SUIT_REPORT = 8
    ERR_CERTIFICATE_EXPIRED = 9
    ERR_TEMPORARY_ERROR = 10
    ERR_MANIFEST_PROCESSING_FAILED = 17


class Code(enum.IntEnum):
    """Stable error codes. Append within a range; never renumber."""

    # 1xx: CBOR (strict decoding of untrusted input, deterministic encoding)
    CBOR_MALFORMED = 100
    CBOR_TRUNCATED = 101
    CBOR_TRAILING_BYTES = 102
    CBOR_DUPLICATE_KEY = 103
    CBOR_NOT_DETERMINISTIC = 104
    CBOR_INDEFINITE_LENGTH = 105
    CBOR_TOO_DEEP = 106
    CBOR_TOO_LARGE = 107
    CBOR_UNEXPECTED_TAG = 108
    CBOR_UNSUPPORTED_TYPE = 109
    CBOR_INVALID_UTF8 = 110
    CBOR_UNSORTED_KEYS = 111
    CBOR_NON_SHORTEST = 112
    CBOR_SCHEMA = 113  # well-formed CBOR of the wrong shape for the structure expected

    # 2xx: COSE
    COSE_MALFORMED = 200
    COSE_UNKNOWN_ALG = 201
    COSE_ALG_NOT_ALLOWED = 202  # known algorithm outside the profile (no downgrade)
    COSE_ALG_KEY_MISMATCH = 203
    COSE_UNKNOWN_CRITICAL_HEADER = 204
    COSE_DUPLICATE_HEADER = 205  # same label in protected and unprotected buckets
    COSE_BAD_SIGNATURE = 206
    COSE_DECRYPT_FAILED = 207
    COSE_NO_RECIPIENT = 208
    COSE_BAD_KEY = 209
    COSE_WRONG_TAG = 210
    COSE_DETACHED_PAYLOAD_MISSING = 211
    COSE_KID_MISMATCH = 212
    COSE_BAD_IV = 213
    COSE_BAD_MAC = 214  # a COSE_Mac0 tag that does not verify (issue 15)
    # 220-229: post-quantum suite (spec/protocol.md section 4.1)
    COSE_PQ_UNAVAILABLE = 220  # this build has no ML-DSA / ML-KEM (cryptography < 50)
    COSE_HPKE_BAD_EK = 221  # COSE-HPKE recipient without a well-sized 'ek'
    COSE_SUITE_DOWNGRADE = 222  # a weaker suite than the one pinned for this peer

    # 3xx: SUIT
    SUIT_MALFORMED = 300
    SUIT_UNSUPPORTED_VERSION = 301
    SUIT_DIGEST_MISMATCH = 302  # manifest digest in the authentication wrapper
    SUIT_AUTH_FAILED = 303
    SUIT_UNSUPPORTED_COMMAND = 304
    SUIT_UNSUPPORTED_PARAMETER = 305
    SUIT_CONDITION_VENDOR = 306
    SUIT_CONDITION_CLASS = 307
    SUIT_CONDITION_IMAGE_DIGEST = 308
    SUIT_CONDITION_COMPONENT = 309
    SUIT_SEQUENCE_ROLLBACK = 310
    SUIT_COMPONENT_UNKNOWN = 311
    SUIT_ENCRYPTION_INFO = 312
    SUIT_DEPENDENCY_FAILED = 313
    SUIT_SEVERABLE_MISMATCH = 314
    SUIT_IMAGE_SIZE = 315
    SUIT_UNSUPPORTED_PROFILE = 316
    SUIT_UNINSTALL_FOREIGN = 325  # suit-uninstall unlinks another manifest's component
    SUIT_CONDITION_SLOT = 326  # condition-component-slot: the component is in another slot
    SUIT_TRY_EACH_FAILED = 327  # directive-try-each: no sequence completed (and no nil)
    SUIT_INVOKE_FAILED = 328  # directive-invoke on a component that holds no image
    SUIT_FETCH_FAILED = 329  # directive-fetch: the payload is not available at the uri
    SUIT_ABORT = 330  # condition-abort, or soft-failure set outside try-each/run-sequence

    # 340-349: Agent-side uninstall (issue 19)
    SUIT_UNINSTALL_STALE = 340  # the installed version is not the one the uninstall names

    # 4xx: TEEP messages and EAT evidence
    TEEP_MALFORMED = 400
    TEEP_UNKNOWN_TYPE = 401
    TEEP_UNSUPPORTED_VERSION = 402
    TEEP_UNSUPPORTED_CIPHER_SUITE = 403
    TEEP_TOKEN_MISMATCH = 404
    TEEP_UNEXPECTED_MESSAGE = 405
    TEEP_BAD_SIGNATURE = 406
    TEEP_UNSUPPORTED_FRESHNESS = 407
    TEEP_EXCHANGE_EXPIRED = 408
    TEEP_AGENT_NONCE_MISMATCH = 409  # the Update echoes another exchange's Agent nonce
    EAT_MALFORMED = 420
    EAT_NONCE_MISMATCH = 421
    EAT_BAD_SIGNATURE = 422
    EAT_MISSING_CLAIM = 423
    EAT_UNKNOWN_DEVICE = 424
    EAT_ENDORSEMENT_INVALID = 425
    EAT_STALE = 426
    EAT_SUITE_DOWNGRADE = 427  # evidence signed below the suite the device enrolled with

    # 5xx: OP-TEE trusted application images (shdr)
    TA_MALFORMED = 500
    TA_BAD_MAGIC = 501
    TA_UNKNOWN_IMG_TYPE = 502
    TA_LEGACY_FORBIDDEN = 503
    TA_UNSUPPORTED_ALGO = 504
    TA_HASH_SIZE = 505
    TA_SIG_SIZE = 506
    TA_KEY_TOO_SMALL = 507
    TA_BAD_SIGNATURE = 508
    TA_HASH_MISMATCH = 509
    TA_SIZE_MISMATCH = 510
    TA_UNKNOWN_ENC_ALGO = 511
    TA_BAD_IV_SIZE = 512
    TA_BAD_TAG_SIZE = 513
    TA_DECRYPT_FAILED = 514
    TA_VERSION_ROLLBACK = 515
    TA_UUID_MISMATCH = 516
    TA_SUBKEY_INVALID = 517
    TA_TRUNCATED = 518
    TA_ENC_KEY_UNAVAILABLE = 519  # encrypted image, but no key of the type its flags name
    TA_SUBKEY_DEPTH = 520  # subkey max_depth not strictly below its parent's
    TA_HEADER_TOO_LARGE = 521  # streaming loader: a header range beyond its read bound

    # 6xx: device Agent (TEE) processing
    AGENT_UNEXPECTED_MESSAGE = 600
    AGENT_BAD_STATE = 601
    AGENT_NOT_FOR_THIS_DEVICE = 602
    AGENT_ROLLBACK = 603
    AGENT_UNTRUSTED_SIGNER = 604
    AGENT_PAYLOAD_FETCH_FAILED = 605
    AGENT_PAYLOAD_MISMATCH = 606
    AGENT_DECRYPT_FAILED = 607
    AGENT_INSTALL_FAILED = 608
    AGENT_STORAGE_CORRUPT = 609
    AGENT_RESOURCE_LIMIT = 610
    AGENT_NO_SUCH_COMPONENT = 611
    AGENT_REPLAY = 612

    # 7xx: TAM, cloud registry, key vault
    TAM_UNKNOWN_DEVICE = 700
    TAM_DEVICE_REVOKED = 701
    TAM_EVIDENCE_INVALID = 702
    TAM_CHALLENGE_MISMATCH = 703
    TAM_CLASS_MISMATCH = 704
    TAM_NO_SUCH_PACKAGE = 705
    TAM_UNEXPECTED_MESSAGE = 706
    TAM_AUDIT_TAMPERED = 707
    TAM_DEVICE_EXISTS = 708
    TAM_STORAGE_FAILED = 709
    KEYVAULT_NO_SUCH_KEY = 720
    KEYVAULT_KEY_EXISTS = 721
    KEYVAULT_OPERATION_FAILED = 722
    KEYVAULT_SEALED_STORE_INVALID = 723
    KEYVAULT_BACKEND_UNAVAILABLE = 724
    KEYVAULT_UNWRAP_FAILED = 725
    KEYVAULT_BAD_KEY_ID = 726
    REGISTRY_NOT_FOUND = 740
    REGISTRY_DIGEST_MISMATCH = 741
    REGISTRY_UNAVAILABLE = 742
    REGISTRY_BAD_REFERENCE = 743

    # 8xx: device adapter protocol and conformance harness
    ADAPTER_MALFORMED_FRAME = 800
    ADAPTER_FRAME_TOO_LARGE = 801
    ADAPTER_UNKNOWN_REQUEST = 802
    ADAPTER_UNSUPPORTED_VERSION = 803
    ADAPTER_TIMEOUT = 804
    ADAPTER_DEVICE_EXITED = 805
    ADAPTER_CAPABILITY_MISSING = 806
    ADAPTER_DEVICE_ERROR = 807
    CONFORMANCE_CONFIG = 820
    CONFORMANCE_SELECTION = 850  # a selection or pin naming nothing the suite holds
    CONFORMANCE_DEPENDENCY_MISSING = 851  # a command needs an extra that is not installed
    CONFORMANCE_SERVE_ADDRESS = 870
    CONFORMANCE_SESSION_TIMEOUT = 871
    CONFORMANCE_DEVICE_FAULT = 872
    CONFORMANCE_POWER_LOST = 873
    CONFORMANCE_SERVER_BUSY = 874

    # 9xx: blueprint profile (CPK files, CPM emulation, key service, twins)
    CPK_BAD_MAGIC = 900
    CPK_BAD_FRAME_VERSION = 901
    CPK_BAD_FLAGS = 902
    CPK_NO_STREAMS = 903
    CPK_BAD_MANIFEST_INDEX = 904
    CPK_BAD_MANIFEST_TYPE = 905
    CPK_BAD_MANIFEST_VERSION = 906
    CPK_STREAM_OUT_OF_BOUNDS = 907
    CPK_STREAM_OVERLAP = 908
    CPK_TRUNCATED = 909
    CPK_MANIFEST_INVALID = 910
    CPK_UNSUPPORTED_SCHEME = 911
    CPK_DIGEST_MISMATCH = 912
    CPK_BAD_SIGNATURE = 913
    CPK_DECRYPT_FAILED = 914
    CPK_STREAM_TOO_LARGE = 915
    CPM_ERROR = 930
    KEYSERVICE_BAD_REQUEST = 950
    KEYSERVICE_NOT_FOUND = 951
    KEYSERVICE_FORBIDDEN = 952
    KEYSERVICE_NO_SUCH_ROUTE = 953
    KEYSERVICE_METHOD_NOT_ALLOWED = 954
    KEYSERVICE_BODY_TOO_LARGE = 955
    KEYSERVICE_INTERNAL = 956
    KEYSERVICE_INSECURE_CONFIG = 957
    KEYSERVICE_CANNOT_LISTEN = 958

    # 10xx: model configuration
    MODEL_BAD_INSTANCE = 1000


#: The TEEP err-code a device reports for each edbp code (draft-ietf-teep-protocol §4.6).
#: Codes not listed map to ERR_PERMANENT_ERROR, or ERR_MANIFEST_PROCESSING_FAILED for the SUIT
#: and Agent installation range.
TEEP_ERR_FOR: dict[Code, TeepErr] = {
    Code.TEEP_UNSUPPORTED_VERSION: TeepErr.ERR_UNSUPPORTED_MSG_VERSION,
    Code.TEEP_UNSUPPORTED_CIPHER_SUITE: TeepErr.ERR_UNSUPPORTED_CIPHER_SUITES,
    Code.TEEP_UNSUPPORTED_FRESHNESS: TeepErr.ERR_UNSUPPORTED_FRESHNESS_MECHANISMS,
    Code.COSE_UNKNOWN_CRITICAL_HEADER: TeepErr.ERR_UNSUPPORTED_EXTENSION,
    Code.AGENT_UNTRUSTED_SIGNER: TeepErr.ERR_BAD_CERTIFICATE,
    Code.AGENT_RESOURCE_LIMIT: TeepErr.ERR_TEMPORARY_ERROR,
    Code.AGENT_PAYLOAD_FETCH_FAILED: TeepErr.ERR_TEMPORARY_ERROR,
    Code.TEEP_EXCHANGE_EXPIRED: TeepErr.ERR_TEMPORARY_ERROR,
}


def teep_err_code(code: Code) -> TeepErr:
    """The TEEP err-code that carries ``code`` on the wire."""
    if code in TEEP_ERR_FOR:
        return TEEP_ERR_FOR[code]
    if 300 <= code < 400 or 500 <= code < 700:
        return TeepErr.ERR_MANIFEST_PROCESSING_FAILED
    return TeepErr.ERR_PERMANENT_ERROR


class EdbpError(Exception):
    """Base of every refusal edbp raises on purpose. ``code`` is the stable integer."""

    code: Code

    def __init__(self, code: Code, detail: str = "") -> None:
        self.code = Code(code)
        self.detail = detail
        # args are (int, str) so that errors pickle across worker processes unchanged
        super().__init__(int(self.code), detail)

    def __str__(self) -> str:
        return f"{self.code.name} ({int(self.code)})" + (f": {self.detail}" if self.detail else "")


class WireError(EdbpError):
    """Bytes that do not decode to the structure expected (CBOR, COSE, SUIT, TEEP, EAT, CPK)."""


class VerificationError(EdbpError):
    """A well-formed structure whose signature, MAC, digest or binding does not check."""


class DecryptionFailed(EdbpError):
    """Decryption failed. Carries nothing: every cause looks the same to the caller."""

    def __init__(self, code: Code = Code.COSE_DECRYPT_FAILED, detail: str = "") -> None:
        # the detail is dropped on purpose: no padding/tag/key oracle
        super().__init__(code)


class TAImageError(EdbpError):
    """An OP-TEE TA image the loader refuses."""


class ProtocolError(EdbpError):
    """A message that does not fit the role's state machine (Agent or TAM)."""


class KeyVaultError(EdbpError):
    """Key vault / HSM refusal or fault."""


class AdapterError(EdbpError):
    """Device adapter protocol fault (framing, timeout, device exit)."""


class BlueprintError(EdbpError):
    """A refusal in the blueprint profile (CPK, CPM, key service)."""


class ConfigError(EdbpError):
    """A bad command-line or instance configuration."""
