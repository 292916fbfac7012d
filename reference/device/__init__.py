"""edbp.reference.device: the device roles — Broker (REE, untrusted) and Agent (TEE).

Layout: ``storage`` (the pluggable storage edge, with failure injection), ``sealed_storage``
(files encrypted and authenticated under a key derived from the HUK as OP-TEE derives it),
``keys`` (DAK/DSK made and kept inside the Agent), ``install`` (streaming verify/decrypt and
atomic install with per-component floors), ``agent`` (the sans-I/O TEEP Agent core and its
transition table) and ``broker`` (the REE relay that only ever handles ciphertext).
"""
