"""The committed vectors, as the tests read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def load_all() -> dict[str, dict[str, Any]]:
    """Every vector file listed in the index, by its path."""
    index = json.loads((VECTORS / "index.json").read_text())
    return {e["path"]: json.loads((VECTORS / e["path"]).read_text()) for e in index["files"]}
