"""COSE-HPKE recipients (draft-ietf-cose-hpke, "HPKE Key Encryption Mode") for the `edbp-pq` suite.

Why its own module: the recipient layer of a COSE_Encrypt that delivers the CEK to the DAK by
HPKE instead of ECDH-ES+A128KW. ``cose_encrypt`` dispatches here for the ``hpke`` family, so
SUIT encryption info, the TAM's re-wrap and the Agent's unwrap keep one code path.

Construction (the draft's, with edbp's choices said):

- protected ``{1: alg, 4: kid(DAK)}``: the kid is protected so it enters the HPKE ``info``;
- unprotected ``{-4 (ek): enc}``;
- ciphertext: HPKE Seal of the CEK with ``info`` = the deterministic CBOR
  ``Recipient_structure = ["HPKE Recipient", next_layer_alg, recipient_protected, h'']`` and
  an empty ``aad``; ``next_layer_alg`` is the content algorithm of the COSE_Encrypt, which
  binds the CEK to it (the role COSE_KDF_Context's AlgorithmID plays for ECDH-ES).

Every cryptographic failure is ``DecryptionFailed``; a missing or mis-sized ``ek`` is
``COSE_HPKE_BAD_EK`` (221), raised before any key operation.
"""

from __future__ import annotations

from typing import Any

from edbp.errors import Code, WireError

from . import cbor, pq
from .cose_algs import Alg, HeaderLabel
from .cose_headers import Headers, Label
from .cose_key import CoseKey
from .cose_trace import RecipientTrace

__all__ = ["RECIPIENT_CONTEXT", "open_recipient", "recipient_structure", "seal_recipient"]

RECIPIENT_CONTEXT = "HPKE Recipient"


def recipient_structure(next_layer_alg: int, protected: bytes, extra_info: bytes = b"") -> bytes:
    """The HPKE ``info``: deterministic CBOR of the draft's Recipient_structure."""
    return cbor.dumps([RECIPIENT_CONTEXT, int(next_layer_alg), protected, extra_info])


def seal_recipient(
    alg: Alg,
    key: CoseKey,
    content_alg: Alg,
    cek: bytes,
    protected: dict[Label, Any],
    unprotected: dict[Label, Any],
    rtrace: RecipientTrace | None = None,
) -> tuple[Headers, bytes]:
    """Headers and ciphertext of a COSE-HPKE recipient delivering ``cek`` to ``key`` (public)."""
    key.check_alg(alg)
    assert key.x is not None
    prot = dict(protected)
    prot.setdefault(HeaderLabel.ALG.value, int(alg))
    if key.kid is not None:
        prot.setdefault(HeaderLabel.KID.value, key.kid)
    probe = Headers.make(prot, unprotected)
    info = recipient_structure(int(content_alg), probe.protected_for_crypto)
    enc, ct = pq.hpke_seal(key.x, info, cek)
    headers = Headers.make(prot, {**unprotected, HeaderLabel.EK.value: enc})
    if rtrace is not None:
        rtrace.hpke_info, rtrace.hpke_enc, rtrace.wrapped_cek = info, enc, ct
    return headers, ct


def _ek(headers: Headers) -> bytes:
    if headers.protected.get(HeaderLabel.EK) is not None:
        raise WireError(Code.COSE_HPKE_BAD_EK, "ek belongs in the unprotected bucket")
    enc = headers.get(HeaderLabel.EK)
    if not isinstance(enc, bytes) or len(enc) != pq.XWING_ENC_BYTES:
        raise WireError(Code.COSE_HPKE_BAD_EK, "ek missing or not an MLKEM768-X25519 encapsulation")
    return enc


def open_recipient(
    headers: Headers,
    ciphertext: bytes,
    key: CoseKey,
    content_alg: Alg,
    rtrace: RecipientTrace | None = None,
) -> bytes:
    """The CEK from a COSE-HPKE recipient, with ``key`` (private). ``DecryptionFailed`` on any
    cryptographic miss."""
    enc = _ek(headers)
    if key.d is None:
        raise WireError(Code.COSE_BAD_KEY, "HPKE needs the recipient's private key")
    info = recipient_structure(int(content_alg), headers.protected_for_crypto)
    if rtrace is not None:
        inter = pq.hpke_intermediates(key.d, enc, info)
        rtrace.hpke_info, rtrace.hpke_enc, rtrace.wrapped_cek = info, enc, ciphertext
        rtrace.shared_secret = inter.shared_secret
        rtrace.hpke_key_schedule_context = inter.key_schedule_context
        rtrace.hpke_key, rtrace.hpke_base_nonce = inter.key, inter.base_nonce
    return pq.hpke_open(key.d, enc, info, ciphertext)
