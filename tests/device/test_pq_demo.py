"""`edbp demo --suite pq` runs its scenario with every expected outcome (spec/protocol.md 4.1)."""

from __future__ import annotations

import io

import pytest
from edbp.reference.wire import pq

pytestmark = pytest.mark.skipif(not pq.available(), reason=f"{pq.unavailable_reason()}")


def test_pq_demo_every_outcome_happens(tmp_path):
    from rich.console import Console

    from edbp.demo_pq import run_pq_demo

    out = io.StringIO()
    assert run_pq_demo(Console(file=out, width=140), workdir=tmp_path)
    text = out.getvalue()
    assert "COSE_SUITE_DOWNGRADE" in text and "8/8 expected outcomes happened" in text
