"""One naming scheme for seeded model flaws, seeded device faults and conformance cases.

The rule (spec/README.md "Names"):

- a **name** is lower-case ASCII letters and digits in words joined by single hyphens:
  ``agent-skips-rollback-check``, ``skip-rollback``, ``test-keys``, ``uint-2pow32``; no
  underscores, capitals, dots or other punctuation. Model flaws (``edbp.model.flaws``) and
  device faults (``edbp.conformance.faults*``, ``builtin:<fault>``) are one name each;
- a **case id** is two or more names joined by dots, the first naming its area (the case
  module's topic, or ``vector`` for a vector replay): ``rollback.preset-floor``,
  ``bp.advisory.padding-oracle``, ``vector.deploy.esp256-a128gcm.valid.honest-install``;
- names are unique within their kind.

Why one scheme: the same words travel between the model's flaw catalogue, ``--fault``,
``--case``, pins, the terminal, JSON, JUnit and HTML reports; one spelling means a name can be
pasted from any of them into any other (and into a shell) unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

__all__ = ["CASE_ID", "NAME", "problems"]

_WORD = r"[a-z0-9]+(?:-[a-z0-9]+)*"
#: a flaw or fault name
NAME = re.compile(_WORD + r"\Z")
#: a case id: area, then one or more names, dot-separated
CASE_ID = re.compile(_WORD + r"(?:\." + _WORD + r")+\Z")


def problems(kind: str, names: Iterable[str]) -> list[str]:
    """What breaks the rule among ``names`` of ``kind`` (``flaw``, ``fault`` or ``case``):
    one line per bad or repeated name, empty when every name is fine."""
    pattern = CASE_ID if kind == "case" else NAME
    listed = list(names)
    out = [
        f"{kind} {name!r} is not a {'case id' if kind == 'case' else 'name'} "
        f"({'area.name[.name...], ' if kind == 'case' else ''}lower-case words joined by '-')"
        for name in listed
        if not pattern.match(name)
    ]
    out += [f"{kind} {name!r} is named {n} times" for name, n in Counter(listed).items() if n > 1]
    return out
