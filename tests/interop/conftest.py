"""tests/interop reuses the vector tests' loader (``vector_docs``) and its own helpers
(``draft_delivery``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "vectors"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
