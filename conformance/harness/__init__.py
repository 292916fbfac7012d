"""The harness's side of every case: it plays Author, KeyVault, TAM, Registry and Attacker
around the device under test, built on the reference cloud and build roles.

``Cloud`` holds what a session shares (vault, signing keys, the registry, published packages);
``Harness`` is one case's view of one device (identity, provisioning, TEEP exchanges through
the adapter, and the checks every case repeats, each naming the step it checks).
"""

from edbp.conformance.harness.cloud import TA_UUID, Cloud, MemoryRegistry, TaImage
from edbp.conformance.harness.session import Delivered, Harness, Query

__all__ = ["TA_UUID", "Cloud", "Delivered", "Harness", "MemoryRegistry", "Query", "TaImage"]
