"""Pinned randomness for the `edbp-pq` vectors: what a committed file holds, offered again.

Why: ML-DSA-65 signing is hedged and HPKE draws its encapsulation randomness inside
``cryptography``, with no way to pass either in, so a PQ vector cannot regenerate from its seed
alone (spec/vectors.md, "Randomness that cannot be injected"). Generation therefore runs under
``pq.pinned(PinStore(path))``: every ML-DSA-65 signature the roles make (the TAM's, the Author's,
the MRK's, nested at any depth: an author manifest inside a device envelope inside an Update) is
looked up among the signatures the committed file carries over the same to-be-signed bytes, and
reused when it verifies under the signer's key; every HPKE Seal to a test DAK reuses a committed
``(enc, ct)`` that opens to the same CEK under that DAK and the same ``info``. Generation works
inside out (the author envelope before the device envelope before the Update), so once the
innermost values are pinned every outer to-be-signed is the same as before and its signature is
found too. Nothing is trusted: a pinned signature is verified by ``pq.mldsa65_sign``, a pinned
encapsulation is opened here; anything not found is drawn fresh (a new vector, or a changed
one), and the byte-exact check then reports the file as changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

from edbp.errors import EdbpError
from edbp.reference.wire import cbor, pq
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import sig_structure

__all__ = ["PinStore", "committed_messages"]

_MAX_DEPTH = 64  # an encryption info sits ~30 containers deep in an Update


def committed_messages(path: str) -> Iterator[bytes]:
    """Every message (hex ``cbor``) and ToBeSigned intermediate of the committed file
    ``vectors/<path>.json``."""
    try:
        text = resources.files("edbp.vectors").joinpath(f"{path}.json").read_text("utf-8")
        doc = json.loads(text)
    except (FileNotFoundError, ModuleNotFoundError, OSError, ValueError):
        return

    def walk(node: Any) -> Iterator[bytes]:
        if isinstance(node, dict):
            # messages, and the ToBeSigned intermediates (which carry the device's own signed
            # evidence and reports: the replies themselves are not part of a vector)
            for k, v in node.items():
                if isinstance(v, str) and (k == "cbor" or k.endswith("ToBeSigned")):
                    try:
                        yield bytes.fromhex(v)
                    except ValueError:
                        pass
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    yield from walk(doc)


class PinStore:
    """The ML-DSA-65 signatures and HPKE encapsulations of the committed files ``paths``."""

    def __init__(self, *paths: str) -> None:
        self._by_tbs: dict[bytes, list[bytes]] = {}
        self._detached: list[bytes] = []  # signatures whose payload travels elsewhere
        self._encs: dict[bytes, list[tuple[bytes, bytes]]] = {}  # recipient protected -> (enc, ct)
        self._seeds: dict[bytes, bytes] = {}  # DAK public -> test seed
        for path in paths:
            for data in committed_messages(path):
                self._visit_bytes(data, 0)

    def add_key(self, dak: CoseKey) -> None:
        """A test DAK (private): encapsulations to it can be checked and pinned."""
        if dak.x is not None and dak.d is not None:
            self._seeds[dak.x] = dak.d

    def pins(self) -> pq.Pins:
        return pq.Pins(self.signature, self.encapsulation)

    # ------------------------------------------------------------------ lookups

    def signature(self, public: bytes, tbs: bytes) -> bytes | None:
        for sig in (*self._by_tbs.get(tbs, ()), *self._detached):
            try:
                pq.mldsa65_verify(public, tbs, sig)
            except EdbpError:
                continue
            return sig
        return None

    def encapsulation(
        self, public: bytes, info: bytes, plaintext: bytes
    ) -> tuple[bytes, bytes] | None:
        seed = self._seeds.get(public)
        if seed is None:
            return None
        try:
            protected = cbor.loads(info)[2]
        except (EdbpError, IndexError, TypeError, KeyError):
            return None
        for enc, ct in self._encs.get(protected, ()):
            try:
                if pq.hpke_open(seed, enc, info, ct) == plaintext:
                    return enc, ct
            except EdbpError:
                continue
        return None

    # ------------------------------------------------------------------ indexing

    def _visit_bytes(self, data: bytes, depth: int) -> None:
        if depth > _MAX_DEPTH or len(data) < 2:
            return
        try:
            obj = cbor.loads(data)
        except EdbpError:
            return
        self._visit(obj, depth + 1)

    def _visit(self, obj: Any, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        if isinstance(obj, cbor.Tag):
            self._visit(obj.value, depth + 1)
        elif isinstance(obj, dict):
            for v in obj.values():
                self._visit(v, depth + 1)
        elif isinstance(obj, list):
            self._record(obj)
            for v in obj:
                self._visit(v, depth + 1)
        elif isinstance(obj, bytes):
            self._visit_bytes(obj, depth + 1)

    def _record(self, parts: list[Any]) -> None:
        # COSE_Sign1 [protected, unprotected, payload / nil, signature]
        if (len(parts) == 4 and isinstance(parts[0], bytes) and isinstance(parts[1], dict)
                and isinstance(parts[3], bytes) and len(parts[3]) == pq.MLDSA65_SIGNATURE_BYTES):
            if isinstance(parts[2], bytes):
                tbs = sig_structure(parts[0], b"", parts[2])
                self._by_tbs.setdefault(tbs, []).append(parts[3])
            else:
                self._detached.append(parts[3])
        # COSE_recipient [protected, {..., ek}, ciphertext]
        ek = parts[1].get(-4) if len(parts) == 3 and isinstance(parts[1], dict) else None
        if isinstance(ek, bytes) and isinstance(parts[0], bytes) and isinstance(parts[2], bytes):
            self._encs.setdefault(parts[0], []).append((ek, parts[2]))
