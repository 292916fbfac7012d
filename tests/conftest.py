"""Project-wide test settings: Hypothesis runs derandomized and database-free under CI."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, max_examples=60, database=None)
settings.load_profile(
    os.environ.get("EDBP_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)
