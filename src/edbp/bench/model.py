"""Model benchmarks (states explored per second, z3 proof time); defined beside the model."""

import edbp.model.benchmarks  # noqa: F401  (registers model.explore[...] and model.z3_prove[...])
