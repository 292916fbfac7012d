"""The error-code table: stable, unique, in range; refusals carry no oracle."""

import pickle

import pytest

from edbp.errors import (
    Code,
    DecryptionFailed,
    EdbpError,
    TeepErr,
    WireError,
    teep_err_code,
)

RANGES = {
    "CBOR_": (100, 200),
    "COSE_": (200, 300),
    "SUIT_": (300, 400),
    "TEEP_": (400, 420),
    "EAT_": (420, 500),
    "TA_": (500, 600),
    "AGENT_": (600, 700),
    "TAM_": (700, 720),
    "KEYVAULT_": (720, 740),
    "REGISTRY_": (740, 800),
    "ADAPTER_": (800, 820),
    "CONFORMANCE_": (820, 900),
    "CPK_": (900, 930),
    "CPM_": (930, 950),
    "KEYSERVICE_": (950, 1000),
    "MODEL_": (1000, 1100),
}


def test_codes_are_unique_integers() -> None:
    values = [int(c) for c in Code]
    assert len(values) == len(set(values))  # IntEnum would alias a repeat silently


@pytest.mark.parametrize("code", list(Code), ids=lambda c: c.name)
def test_code_sits_in_its_area_range(code: Code) -> None:
    for prefix, (lo, hi) in RANGES.items():
        if code.name.startswith(prefix):
            assert lo <= code < hi
            return
    pytest.fail(f"{code.name} has no area prefix")


def test_teep_mapping_covers_every_code() -> None:
    for code in Code:
        assert isinstance(teep_err_code(code), TeepErr)
    assert teep_err_code(Code.SUIT_SEQUENCE_ROLLBACK) is TeepErr.ERR_MANIFEST_PROCESSING_FAILED
    assert teep_err_code(Code.CBOR_MALFORMED) is TeepErr.ERR_PERMANENT_ERROR
    assert teep_err_code(Code.TEEP_UNSUPPORTED_VERSION) is TeepErr.ERR_UNSUPPORTED_MSG_VERSION


def test_error_text_names_code() -> None:
    err = WireError(Code.CBOR_DUPLICATE_KEY, "at 3")
    assert err.code is Code.CBOR_DUPLICATE_KEY
    assert str(err) == "CBOR_DUPLICATE_KEY (103): at 3"
    assert isinstance(err, EdbpError)


def test_decryption_failures_are_indistinguishable() -> None:
    a = DecryptionFailed(Code.COSE_DECRYPT_FAILED, "tag mismatch")
    b = DecryptionFailed(Code.COSE_DECRYPT_FAILED, "bad padding")
    assert str(a) == str(b) == "COSE_DECRYPT_FAILED (207)"
    assert a.detail == b.detail == ""
    assert a.args == b.args


def test_errors_survive_pickling_for_worker_processes() -> None:
    err = pickle.loads(pickle.dumps(WireError(Code.CBOR_TRUNCATED, "x")))
    assert isinstance(err, WireError)
