"""edbp's SUIT (draft-ietf-suit-manifest, -firmware-encryption, -trust-domains, -report): the
one public facade of the ``suit_*`` modules.

Import from here (``from edbp.reference.wire import suit``); the split into ``suit_labels``
(numbers), ``suit_core`` (digest, component ids), ``suit_commands`` (sequences, parameters,
encryption info), ``suit_envelope`` (envelope, wrapper, manifest), ``suit_crypto`` (sign, verify,
decrypt through COSE), ``suit_process`` (parameter resolution, sequence walking, conditions,
dependencies) and ``suit_report`` is an implementation detail.

Typical use::

    manifest = suit.Manifest(sequence_number=3, common=suit.Common([[b"ta", uuid]], shared),
                             install=suit.CommandSequence([...]))
    envelope = suit.sign_envelope(manifest, author_key, cose.Alg.ESP256)
    data = envelope.encode()

    received = suit.Envelope.decode(data)             # strict: edbp profile only
    suit.verify_envelope(received, author_public_key)  # digest, then COSE_Sign1
    for step in suit.run(received, suit.ManifestKey.INSTALL): ...

``lenient=True`` on every decoder admits published examples: non-deterministic CBOR and the
drafts' commands outside the edbp profile (kept verbatim, refused by ``run``).
"""

from __future__ import annotations

from .suit_commands import Command, CommandSequence, EncryptionInfo, IndexArg, Parameters
from .suit_core import ComponentId, SuitDigest
from .suit_crypto import (
    SUIT_CONTENT_ALGS,
    SUIT_MAC_ALGS,
    SUIT_RECIPIENT_ALGS,
    SUIT_SIGNATURE_ALGS,
    decrypt_payload,
    mac_envelope,
    sever,
    sign_envelope,
    sign_report,
    verify_envelope,
    verify_report,
)
from .suit_envelope import (
    AuthenticationWrapper,
    Common,
    Dependency,
    Envelope,
    Manifest,
    SuitText,
    untagged_envelope,
)
from .suit_labels import (
    EDBP_COMMANDS,
    EDBP_PARAMETERS,
    SUIT_ENVELOPE_TAG,
    SUIT_MANIFEST_TAG,
    CommonKey,
    EnvelopeKey,
    ManifestKey,
    ReportKey,
    ReportReason,
    SuitCommand,
    SuitParam,
)
from .suit_process import (
    ParameterStore,
    Step,
    check_class,
    check_dependency_integrity,
    check_image,
    check_vendor,
    component_for,
    resolve_uri,
    run,
    steps,
    walk,
)
from .suit_report import SuitRecord, SuitReference, SuitReport, SuitResult, SystemProperties

__all__ = [
    "EDBP_COMMANDS",
    "EDBP_PARAMETERS",
    "SUIT_CONTENT_ALGS",
    "SUIT_ENVELOPE_TAG",
    "SUIT_MAC_ALGS",
    "SUIT_MANIFEST_TAG",
    "SUIT_RECIPIENT_ALGS",
    "SUIT_SIGNATURE_ALGS",
    "AuthenticationWrapper",
    "Command",
    "CommandSequence",
    "Common",
    "CommonKey",
    "ComponentId",
    "Dependency",
    "EncryptionInfo",
    "Envelope",
    "EnvelopeKey",
    "IndexArg",
    "Manifest",
    "ManifestKey",
    "ParameterStore",
    "Parameters",
    "ReportKey",
    "ReportReason",
    "Step",
    "SuitCommand",
    "SuitDigest",
    "SuitParam",
    "SuitRecord",
    "SuitReference",
    "SuitReport",
    "SuitResult",
    "SuitText",
    "SystemProperties",
    "check_class",
    "check_dependency_integrity",
    "check_image",
    "check_vendor",
    "component_for",
    "decrypt_payload",
    "mac_envelope",
    "resolve_uri",
    "run",
    "sever",
    "sign_envelope",
    "sign_report",
    "steps",
    "untagged_envelope",
    "verify_envelope",
    "verify_report",
    "walk",
]
