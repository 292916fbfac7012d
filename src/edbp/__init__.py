"""edbp: the Enclave Device Blueprint Protocol kit.

One import root for the spec data (``edbp.spec``), the formal model (``edbp.model``), the
reference implementation (``edbp.reference``), the conformance suite (``edbp.conformance``)
and the generated vectors (``edbp.vectors``).
"""

__version__ = "0.1.0"
