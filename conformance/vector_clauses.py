"""The spec clauses a vector's flags name: what a failed vector replay shows broken.

Why: a vector's ``flags`` (Wycheproof's bug classes, spec/vectors.md) say what kind of defect
a device that fails it has, not which requirement it breaks; a lab reports requirements, and
``edbp conformance specificity`` attributes a failure by the clauses it names
(``CaseFailure.violates``). This is the one table from a flag to the clause ids (spec/README.md,
"Clause ids") of the requirement its vectors check. It lives in code, not in the vector files:
a vector's ``notes`` have no place for it (spec/vectors.schema.json), and the vectors' bytes
stay as generated.

A vector replay case names the clauses of its flags (those of its layer's documents: ``B-``
for a ``blueprint`` vector, ``T-`` for a TA image, ``P-``/``A-``/``E-`` otherwise) and, as
every case expecting a refusal does, the clauses whose text names each code the vector expects
(``coverage.code_clauses``).

Most flags name one clause. A flag used by vectors of several layers (``ChangeSignature``: a
TEEP message, a SUIT manifest, an author envelope) is too coarse for one clause and names the
set, marked "coarse" below. A few flags mark library-level vectors (the TAM's enrolment, the
KeyVault) whose requirement the spec states without a clause id; they are in ``UNCLAUSED``
with the reason, and no device-replayed vector carries one (``tests/conformance``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

__all__ = ["FLAG_CLAUSES", "UNCLAUSED", "expected_codes", "flag_clauses", "vector_clauses"]

#: flag -> the clause ids its vectors check (coarse: a set, several layers or checks)
FLAG_CLAUSES: dict[str, tuple[str, ...]] = {
    # -- CBOR receive rule (protocol.md section 5) and limits (section 6)
    "ChunkBomb": ("P-5b", "P-5c"),  # coarse: the chunk bound, reached only by a receiver
    # that takes indefinite-length strings as the receive rule says
    "Deterministic": ("P-5c",),
    "DuplicateMapKey": ("P-5b",),
    "IndefiniteLength": ("P-5c",),
    "InvalidUtf8": ("P-5b",),
    "NonCanonicalCBOR": ("P-5c",),
    "ReservedEncoding": ("P-5b",),
    "TaggedMapKey": ("P-5b",),
    "TooDeep": ("P-5b", "P-6a"),  # coarse: the receive rule's row and the limits' table
    "TrailingBytes": ("P-5b",),
    "UnsortedMapKeys": ("P-5c",),
    "WrongTag": ("P-5b",),  # a SUIT envelope under another tag: CBOR_UNEXPECTED_TAG's row
    "Truncated": ("P-5b", "T-6a"),  # coarse: a CBOR item, or an OP-TEE TA image
    "MalformedMessage": ("P-5b", "P-9.3a"),  # coarse: not CBOR, or not a TEEP Update's shape
    # -- COSE layers (section 4, section 9 steps 1-2, 4)
    "AlgDowngrade": ("P-4a", "P-4c"),
    "ChangeAuthTag": ("P-9.9a",),
    "ChangeEk": ("P-9.9a",),
    "ChangeProtected": ("P-5a",),
    # coarse: a TEEP message, a device or author manifest (an enrolment endorsement, which it
    # also flags, is a TAM duty without a clause id)
    "ChangeSignature": ("P-9.2a", "P-9.4a", "P-9.5a"),
    "ChangeTag": ("P-9.1a",),
    "IvWrongSize": ("P-9.4b",),
    "TamperedProtected": ("P-9.2a",),
    "TruncatedCiphertext": ("P-9.9a",),
    "TruncatedSignature": ("P-9.2a",),
    "UnknownCriticalHeader": ("P-9.1a", "P-9.4a"),  # coarse: TEEP message or SUIT block
    "ValidEncrypt": ("P-4a",),
    "ValidSign1": ("P-4a",),
    "WrappedCekFlipped": ("P-9.9a",),
    "WrongKey": ("P-9.2a", "B-9d"),  # coarse: a COSE signature key; a CPM's RSA unwrap key
    "WrongRecipient": ("P-9.6a", "P-9.9a"),  # coarse: the recipient's kid, or its key
    # -- edbp-pq downgrade rules (section 4.1)
    "BadEk": ("P-4.1c",),
    "ClassicalAlgOnPqKey": ("P-4.1c",),
    "ClassicalEndorsement": ("P-4.1a",),
    "ClassicalManifestSignature": ("P-4.1c",),
    "ClassicalTeepSignature": ("P-4.1c",),
    "MixedSuiteKeys": ("P-4.1a",),
    "RecipientDowngrade": ("P-4.1c", "P-4c"),  # coarse: the recipient alg and the profile
    "ValidEndorsement": ("P-4.1a",),
    # -- the QueryRequest and the evidence (section 8.3)
    "EvidenceWrongSigner": ("P-8.3b",),
    "HonestEvidence": ("P-8.3a", "P-8.3b"),  # coarse: what the device sends, what the TAM takes
    "MissingClaim": ("P-8.3b",),
    "RevokedDevice": ("P-8.3b",),
    "StaleNonce": ("P-8.3b",),
    "UnsupportedVersion": ("P-8.3a",),
    "WeakChallenge": ("P-8.3a", "P-6a"),  # coarse: the offer's freshness, the challenge size
    "WrongCnf": ("P-8.3b",),
    "WrongUeid": ("P-8.3b",),
    # -- the Update, in section 9 order
    "UnexpectedMessage": ("P-9.3a",),
    "UntrustedTam": ("P-9.2a",),
    "RevokedTamKey": ("P-9.2a", "A-4d"),  # coarse: the signer, the anchors provision replaced
    "TamKeyRotation": ("P-9.2a", "A-4d"),  # coarse: as RevokedTamKey, the accepting side
    "BootInDelivery": ("P-9.4b",),
    "TwoRecipients": ("P-9.4b",),
    "UnknownMember": ("P-9.4b",),
    "TamperedManifest": ("P-9.4a",),  # and an endorsement's body (no clause id, as above)
    "AuthorEnvelope": ("P-9.5a",),
    "TamKeyAsAuthor": ("P-9.5a",),
    "TamperedAuthorSignature": ("P-9.5a",),
    "UntrustedAuthor": ("P-9.5a",),
    "WrongSigner": ("P-9.5a",),  # and an endorsement's signer (no clause id, as above)
    "AuthorOfAnotherTa": ("P-9.5b",),
    "ClassKeyRecipient": ("P-9.5b",),
    "WrongClass": ("P-9.5b",),
    "WrongVendor": ("P-9.5b",),
    "TwoDevices": ("P-9.6a",),
    "NoChallenge": ("P-9.7a",),
    "Replay": ("P-9.7a",),
    "StaleChallenge": ("P-9.7a",),
    "MissingAgentNonce": ("P-9.7c", "P-8.3b"),  # coarse: the Agent's Update, the TAM's reply
    "ReplayedQueryRequest": ("P-9.7c", "P-8.3f"),  # coarse: the nonce check and its freshness
    "EqualSequence": ("P-9.8a",),
    "Rollback": ("P-9.8a", "T-7a"),  # coarse: the SUIT floor, or OP-TEE's TA-version floor
    "RollbackAfterUninstall": ("P-13a",),
    "Upgrade": ("P-9.8a", "P-13a"),  # coarse: a higher sequence installs and raises the floor
    "FetchFailed": ("P-9.9a",),
    "PlaintextPayload": ("P-9.9a",),
    "SwappedPayload": ("P-9.9a",),
    "TamperedPayload": ("P-9.9a",),
    "TruncatedPayload": ("P-9.9a",),
    "FailedUpgradeKeepsOld": ("P-9a",),
    "RetryAfterError": ("P-9a", "P-10.1a"),  # coarse: back to IDLE, and nothing kept there
    "HonestDeploy": ("P-8.3a", "P-9.9a", "P-8.5a"),  # coarse: the whole honest flow
    # -- uninstall (section 9, step 10)
    "Uninstall": ("P-9.10a", "P-13a"),  # coarse: the component goes, its floor stays
    "UninstallSequence": ("P-9.10b",),
    "UninstallSequenceCondition": ("P-9.10b",),
    "StaleUninstall": ("P-9.10c",),
    "OtherDeviceUninstall": ("P-9.10d",),
    # -- the SUIT processor (section 5.1 has no clause of its own: the delivery's clauses)
    "LoadInvoke": ("P-9.9a",),
    "SoftFailureMisuse": ("P-9.4b",),
    "TryEach": ("P-9.4b",),
    "Unauthenticated": ("P-9.4a",),
    # -- OP-TEE TA images (ta-image.md sections 6-7)
    "Encryption": ("T-6a",),
    "Header": ("T-6a",),
    "Identity": ("T-6b",),
    "SignatureOrHash": ("T-6a",),
    "Subkey": ("T-6a",),
    "ValidImage": ("T-6a",),
    "WeakAlgorithm": ("T-6a",),
    # -- blueprint CPK/CPM (blueprint.md sections 7 and 9)
    "AeadInput": ("B-7a",),
    "FrameHeader": ("B-7a",),
    "ManifestJson": ("B-7a",),
    "PaddingClass": ("B-7a", "B-9d"),  # coarse: the code table, the uniform unwrap error
    "PublishedWeakness": ("B-7a",),
    "Signature": ("B-7a", "B-9a"),  # coarse: the code table, the enforced signature
    "StreamTable": ("B-7a",),
    "Substitution": ("B-7a", "B-9b"),  # coarse: the code table, the manifest bound as AAD
    "ValidPackage": ("B-7a",),
    "ValidWrappedKey": ("B-7a",),
}

#: flags whose vectors exercise a library duty the spec states without a clause id (never a
#: device-replayed vector's): flag -> why no clause
UNCLAUSED: dict[str, str] = {
    "Endorsement": "enrol.register (protocol.md 8.1 step 3), a TAM duty with no clause id",
    "ClassKeyUnwrap": "the KeyVault's class-key unwrap, a KeyVault duty with no clause id",
    "TamperedWrappedCek": "the KeyVault's class-key unwrap, a KeyVault duty with no clause id",
    "WrongClassKey": "the KeyVault's class-key unwrap, a KeyVault duty with no clause id",
}


def _letters(profile: str, flow: str) -> str:
    """The clause letters of the documents a vector's layer answers to: ``B`` for the
    blueprint profile, ``T`` for an OP-TEE TA image, the protocol, adapter and error rules
    (``P``, ``A``, ``E``) for every other edbp vector."""
    if profile == "blueprint":
        return "B"
    return "T" if flow == "ta-image" else "PAE"


def flag_clauses(flags: Iterable[str], profile: str = "edbp", flow: str = "-") -> tuple[str, ...]:
    """The clauses ``flags`` name, in table order, kept to the documents of the vector's layer
    (``_letters``: a flag shared by layers, like ``Rollback``, names the SUIT floor in a deploy
    vector and OP-TEE's TA-version floor in a TA-image one); an unknown flag names none."""
    letters = _letters(profile, flow)
    out: list[str] = []
    for flag in flags:
        for cid in FLAG_CLAUSES.get(flag, ()):
            if cid[0] in letters and cid not in out:
                out.append(cid)
    return tuple(out)


def expected_codes(test: dict[str, Any]) -> tuple[int, ...]:
    """The error codes a vector test expects, step by step."""
    out: list[int] = []
    for step in test.get("steps", ()):
        expect = step.get("expect") if isinstance(step, dict) else None
        if isinstance(expect, dict) and "error" in expect:
            code = int(expect["error"])
            if code not in out:
                out.append(code)
    return tuple(out)


def vector_clauses(test: dict[str, Any], profile: str = "edbp", flow: str = "-") -> tuple[str, ...]:
    """What a failure of vector ``test`` shows broken: its flags' clauses (``flag_clauses``),
    then every clause whose text names a code it expects (``coverage.code_clauses``, as for
    any case expecting a refusal; a blueprint vector keeps the ``B-`` ones)."""
    by_code = _code_clauses()
    out = list(flag_clauses(test.get("flags", ()), profile, flow))
    for code in expected_codes(test):
        for cid in by_code.get(code, ()):
            if (cid[0] == "B") == (profile == "blueprint") and cid not in out:
                out.append(cid)
    return tuple(out)


@functools.cache
def _code_clauses() -> dict[int, tuple[str, ...]]:
    """``coverage.code_clauses`` read once (every vector case asks, the spec text is fixed)."""
    from edbp.conformance.coverage import code_clauses

    return code_clauses()
