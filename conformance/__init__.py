"""edbp.conformance: the conformance harness, device adapters, cases and reports."""
