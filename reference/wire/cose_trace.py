"""An optional collector for COSE intermediates, so vectors can publish what cose-wg publishes.

Why a mutable object passed in rather than return values: the normal API returns messages and
plaintexts only; a caller that wants Sig_structure, Enc_structure, KDF contexts, shared secrets,
KEKs and the CEK (the vector generator, the interop tests) passes a ``Trace`` and reads it after.
It holds secrets: none of them is in its repr, and it must never be logged or kept by a role.
"""

from __future__ import annotations

import attrs

from .cose_key import CoseKey

__all__ = ["RecipientTrace", "Trace"]


@attrs.define
class RecipientTrace:
    """Intermediates of one recipient layer (cose-wg ``intermediates.recipients[i]``)."""

    alg: int | None = None
    kdf_context: bytes | None = None  # COSE_KDF_Context bytes (cose-wg Context_hex)
    shared_secret: bytes | None = attrs.field(default=None, repr=False)  # ECDH Z (Secret_hex)
    kek: bytes | None = attrs.field(default=None, repr=False)  # derived KEK (KEK_hex)
    ephemeral_key: CoseKey | None = attrs.field(default=None, repr=False)  # ECDH-ES private
    wrapped_cek: bytes | None = None
    # COSE-HPKE recipients (draft-ietf-cose-hpke key encryption; edbp.reference.wire.cose_hpke)
    hpke_info: bytes | None = None  # the Recipient_structure bytes (HPKE info)
    hpke_enc: bytes | None = None  # the encapsulated key ('ek')
    hpke_key_schedule_context: bytes | None = None
    hpke_key: bytes | None = attrs.field(default=None, repr=False)
    hpke_base_nonce: bytes | None = attrs.field(default=None, repr=False)


@attrs.define
class Trace:
    """Intermediates of one COSE operation (sign/verify, encrypt/decrypt)."""

    to_be_signed: bytes | None = None  # Sig_structure (cose-wg ToBeSign_hex)
    enc_structure: bytes | None = None  # Enc_structure, the AEAD AAD (cose-wg AAD_hex)
    to_be_maced: bytes | None = None  # MAC_structure of a COSE_Mac (cose-wg ToMac_hex)
    cek: bytes | None = attrs.field(default=None, repr=False)  # cose-wg CEK_hex
    iv: bytes | None = None
    recipients: list[RecipientTrace] = attrs.field(factory=list)
