"""edbp.reference.wire: every byte edbp emits or accepts (CBOR, COSE, SUIT, TEEP, EAT)."""
