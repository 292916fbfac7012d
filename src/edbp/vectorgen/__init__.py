"""The vector generator: every file under ``vectors/`` comes from here, byte for byte from a seed.

A *group source* is a function registered with ``@source(path)`` that receives a
``SeededRandom`` forked by its path (so adding a source never shifts another's bytes) and
returns a ``VectorFile``. ``generate`` runs every source, writes JSON (Wycheproof's shape plus
cose-wg's intermediates), the same content as CBOR, and ``index.json`` with the SHA-256 of every
file. ``--check`` regenerates into a temporary folder and compares byte for byte.

The format is specified in ``spec/vectors.md``; ``spec/vectors.schema.json`` is its JSON Schema.
"""

from __future__ import annotations

from edbp.vectorgen.format import (
    FORMAT_VERSION,
    Note,
    Step,
    TestCase,
    TestGroup,
    VectorFile,
    message,
)
from edbp.vectorgen.registry import SOURCES, generate, source

__all__ = [
    "FORMAT_VERSION",
    "SOURCES",
    "Note",
    "Step",
    "TestCase",
    "TestGroup",
    "VectorFile",
    "generate",
    "message",
    "source",
]
