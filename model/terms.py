"""Symbolic (Dolev-Yao) terms and the attacker's deduction rules.

A term is a plain nested tuple whose first element is its constructor tag: tuples hash fast and
compare structurally, which is what an explicit-state search over hundreds of thousands of
states needs. Cryptography is perfect here: a ciphertext reveals its body only to a holder of
the right key, a signature cannot be made without the signing key, a digest is one-way.

Constructors (tag, fields):

- atoms: ``("cek", c, v)``, ``("ck", cls)``, ``("dak", d)``, ``("dsk", d)``, ``("ask",)``,
  ``("tsk",)``, ``("atk",)`` (the attacker's own key), ``("nonce", i)``, ``("pt", c, v)``
  (plaintext of a package), ``("pt_att", c)`` (the attacker's own code), ``("anonce", d, k)``
  (device d's k-th Agent nonce, protocol.md 8.3.1), ints and strings
  (public constants);
- ``("pub", k)``: the public half of private key ``k`` (public knowledge);
- ``("enc", k, m)``: authenticated encryption of ``m`` under symmetric key ``k`` (AES-GCM);
- ``("wrap", kek, m)``: key wrap of ``m`` under ``kek``; ``kek`` is a symmetric key (A256KW) or
  ``("pub", x)`` (ECDH-ES / RSA transport to the holder of ``x``);
- ``("sig", s, m)``: ``m`` signed with private key ``s`` (the body stays readable);
- ``("h", m)``: a digest of ``m``;
- ``("tup", a, b, ...)``: concatenation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Term = tuple[Any, ...]

ATTACKER_KEY: Term = ("atk",)

#: tags of atoms that are secrets (keys and plaintexts) rather than public data
SECRET_TAGS = frozenset({"cek", "ck", "dak", "dsk", "ask", "tsk", "atk", "pt", "kid"})

#: constructors with cryptographic meaning; every other non-atom tag is a plain record
#: (a message body such as ``("upd", ...)``) that splits into its fields like ``tup``
CRYPTO_TAGS = frozenset({"pub", "enc", "wrap", "sig", "h"})
ATOM_TAGS = frozenset({"cek", "ck", "dak", "dsk", "ask", "tsk", "atk", "ak", "nonce", "pt",
                       "pt_att", "kid", "nothing", "ver", "app", "anonce"})


def pub(k: Term) -> Term:
    """Public half of ``k``."""
    return ("pub", k)


def enc(k: Term, m: Term) -> Term:
    """AEAD ciphertext of ``m`` under ``k``."""
    return ("enc", k, m)


def wrap(kek: Term, m: Term) -> Term:
    """Key wrap of ``m`` under ``kek`` (symmetric key or public key)."""
    return ("wrap", kek, m)


def sig(s: Term, m: Term) -> Term:
    """``m`` signed with ``s``."""
    return ("sig", s, m)


def tup(*items: object) -> Term:
    """Concatenation of ``items``."""
    return ("tup", *items)


def h(m: Term) -> Term:
    """Digest of ``m``."""
    return ("h", m)


def _opens(kek: Term, known: set[Term] | frozenset[Term]) -> bool:
    """Whether a holder of ``known`` can unwrap/decrypt something protected by ``kek``."""
    if kek[0] == "pub":
        return kek[1] in known
    return kek in known


def analyze(known: Iterable[Term]) -> frozenset[Term]:
    """Close ``known`` under the decompositions its keys allow (the attacker's analysis rules).

    Tuples split, signatures reveal their body, ciphertexts and wraps open when their key is
    known. Iterated to a fixpoint because a newly learned key can open an older ciphertext.
    """
    out: set[Term] = set(known)
    pending = list(out)
    locked: list[Term] = []
    while pending or locked:
        if not pending:
            opened = [lt for lt in locked if _opens(lt[1], out)]
            if not opened:
                break
            locked = [lt for lt in locked if lt not in opened]
            pending.extend(opened)
            continue
        t = pending.pop()
        tag = t[0]
        new: tuple[object, ...] = ()
        if tag in ATOM_TAGS:
            continue
        if tag == "sig":
            new = (t[2],)
        elif tag in ("enc", "wrap"):
            if _opens(t[1], out):
                new = (t[2],)
            else:
                locked.append(t)
        elif tag not in CRYPTO_TAGS:
            new = t[1:]  # "tup" and message records
        for n in new:
            if isinstance(n, tuple) and n and n not in out:
                out.add(n)
                pending.append(n)
    return frozenset(out)


def can_build(t: object, known: frozenset[Term]) -> bool:
    """Whether the attacker can synthesise ``t`` from ``known`` (composition rules)."""
    if not isinstance(t, tuple):
        return True  # public constants (ints, strings)
    if t in known:
        return True
    tag = t[0]
    if tag == "pub":
        return True  # public keys are public
    if tag not in CRYPTO_TAGS and tag not in ATOM_TAGS:
        return all(can_build(x, known) for x in t[1:])
    if tag in ("enc",):
        return t[1] in known and can_build(t[2], known)
    if tag == "wrap":
        return (t[1][0] == "pub" or t[1] in known) and can_build(t[2], known)
    if tag == "sig":
        return t[1] in known and can_build(t[2], known)
    if tag == "h":
        return can_build(t[1], known)
    if tag == "nonce":
        return False  # nonces are fresh: known only once seen
    return False


def secrets_in(known: Iterable[Term], tag: str) -> set[Term]:
    """The atoms with constructor ``tag`` in ``known``."""
    return {t for t in known if isinstance(t, tuple) and t and t[0] == tag}


def render(t: object) -> str:
    """A short human-readable rendering for traces and diagrams."""
    if not isinstance(t, tuple):
        return str(t)
    if not t:
        return "()"
    tag, rest = t[0], t[1:]
    if tag in ("cek", "ck", "dak", "dsk", "pt", "pt_att", "nonce", "kid", "ver", "anonce"):
        names = {"cek": "CEK", "ck": "CK", "dak": "DAK", "dsk": "DSK", "pt": "P",
                 "pt_att": "P_att", "nonce": "n", "kid": "DK", "ver": "v", "anonce": "a"}
        return f"{names[tag]}{'.'.join(str(x) for x in rest)}"
    if tag in ("ask", "tsk", "atk"):
        return {"ask": "ASK", "tsk": "TSK", "atk": "ATK"}[tag]
    if tag == "pub":
        return f"pub({render(rest[0])})"
    if tag == "enc":
        return f"enc[{render(rest[0])}]({render(rest[1])})"
    if tag == "wrap":
        return f"wrap[{render(rest[0])}]({render(rest[1])})"
    if tag == "sig":
        return f"sig[{render(rest[0])}]({render(rest[1])})"
    if tag == "h":
        return f"h({render(rest[0])})"
    if tag == "tup":
        return "<" + ", ".join(render(x) for x in rest) + ">"
    return f"{tag}(" + ", ".join(render(x) for x in rest) + ")"
