"""The EAT / CWT claim keys edbp uses (RFC 9711, RFC 8392) and the UEID type byte.

Why a module of their own: ``edbp inspect`` and the name tables (``names``) need only these
numbers, and ``eat`` itself pulls in COSE signing and with it ``cryptography``; ``eat``
re-exports them (as ``suit_labels`` is kept apart for SUIT).
"""

from __future__ import annotations

import enum

__all__ = ["Claim", "UeidType"]


class Claim(enum.IntEnum):
    """CWT/EAT claim keys edbp uses."""

    CNF = 8
    IAT = 6
    EAT_NONCE = 10
    UEID = 256
    OEMID = 258
    HWMODEL = 259
    HWVERSION = 260
    EAT_PROFILE = 265
    MANIFESTS = 272  # RFC 9711 §4.2.15 (273 is measurements)


class UeidType(enum.IntEnum):
    """First byte of a UEID (RFC 9711 §4.2.1)."""

    RAND = 0x01
    EUI = 0x02
    IMEI = 0x03
