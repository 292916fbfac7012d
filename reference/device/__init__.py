"""edbp.reference.device: the device roles — Broker (REE, untrusted) and Agent (TEE).

Modules: ``storage`` (the pluggable storage edge, with failure injection), ``sealed_storage``
(files encrypted and authenticated under a key derived from the HUK as OP-TEE derives it),
``keys`` (DAK/DSK made and kept inside the Agent), ``update`` (the SUIT processor that turns
a TEEP Update's two-layer manifests into an install plan, checking every signature and
condition first), ``install`` (streaming verify/decrypt and atomic install with
per-component floors), ``ta_check`` (OP-TEE's loader checks on a TA payload), ``agent`` (the
sans-I/O TEEP Agent core and its transition table), ``broker`` (the REE relay that only ever
handles ciphertext), ``world`` (cloud + simulated devices on the embedded defaults, for the
demo and integration tests) and ``bench_memory`` (the Agent's peak-memory benchmark).
"""
