"""Case metadata and the failure a case raises when a device diverges from the spec."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from edbp.errors import Code


@attrs.frozen
class CaseMeta:
    """Stable identity and classification of one conformance case."""

    id: str
    properties: tuple[str, ...] = ()
    flow: str = "-"
    suite: str = "-"
    tags: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # device capabilities; missing ones skip the case
    profile: str = "edbp"
    advisory: bool = False  # reports a published weakness; never a conformance failure
    clauses: tuple[str, ...] = ()


def case_meta(item: pytest.Item) -> CaseMeta | None:
    marker = item.get_closest_marker("edbp_case")
    if marker is None:
        return None
    kwargs = dict(marker.kwargs)
    for key in ("properties", "tags", "needs", "clauses"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "case" in callspec.params:
        extra = callspec.params["case"]
        if isinstance(extra, CaseMeta):
            return extra
    return CaseMeta(**kwargs)


#: in ``CaseFailure.clauses``: the clauses the case itself names (its ``edbp_case`` marker)
CASE = "case"


class CaseFailure(AssertionError):
    """The device diverged: ``step`` names the first diverging step of the case.

    ``clauses`` says which spec clauses the failed check enforces, so a report names the
    requirement broken and not only the case that noticed: a check the case itself asked for
    (an expected refusal, an expected install) breaks the case's own clauses (``CASE``, the
    default); a check the harness makes in every case on the way (the evidence, the reports,
    the algorithms the device emits, no secret on the wire) names its own clause, whatever
    case it ran in. The mutation score relies on it: a seeded fault counts as caught only by
    a failure naming a clause the fault breaks, not by an unrelated check it trips first.
    """

    def __init__(
        self,
        step: str,
        expected: Any,
        actual: Any,
        code: int | None = None,
        *,
        clauses: tuple[str, ...] = (CASE,),
    ) -> None:
        self.step = step
        self.expected = _show(expected)
        self.actual = _show(actual)
        self.code = code  # the device's error code, when it answered with one
        self.clauses = clauses
        super().__init__(f"step {step}: expected {self.expected}, got {self.actual}")

    def violates(self, case_clauses: tuple[str, ...]) -> list[str]:
        """The clauses this failure shows broken, ``CASE`` replaced by the case's own."""
        out: list[str] = []
        for clause in self.clauses:
            for c in case_clauses if clause == CASE else (clause,):
                if c not in out:
                    out.append(c)
        return out


def _show(value: Any) -> str:
    if isinstance(value, Code):
        return f"error {int(value)} {value.name}"
    if isinstance(value, bytes):
        from edbp.reference.wire import cbor

        try:
            return cbor.diag(cbor.loads(value, cbor.LENIENT))
        except Exception:
            return "h'" + value.hex() + "'"
    return str(value)


class Advisory(Exception):
    """A published weakness found on the device (blueprint profile), reported apart from failures.

    Raised only by cases marked ``advisory=True``; the case then counts as ``advisory``, not
    ``failed``, and the finding goes to the report's advisory section.
    """

    def __init__(self, finding: str, evidence: str = "") -> None:
        self.finding = finding
        self.evidence = evidence
        super().__init__(finding)
