"""SUIT uninstall (manifest member 24, draft-ietf-suit-trust-domains): the Agent runs the
installed manifest's ``suit-uninstall`` sequence when the TAM lists the component as unneeded
(spec/protocol.md section 8.4 step 4, [P-9.10b])."""

from __future__ import annotations

import pytest
from edbp.conformance.harness import Harness
from edbp.conformance.harness.session import STATE
from edbp.conformance.outcome import CASE, CaseFailure
from edbp.reference.build.author import UNINSTALL_UNLINK
from edbp.reference.wire import teep
from edbp.reference.wire.cbor import loads
from edbp.reference.wire.suit_commands import Command, CommandSequence, Parameters
from edbp.reference.wire.suit_labels import SuitCommand

from edbp.errors import Code

case = pytest.mark.edbp_case

_OTHER_CLASS = bytes.fromhex("0badc1a55e5000000000000000000000")


def _install(harness: Harness, sequence: int, uninstall: CommandSequence) -> None:
    published = harness.publish(sequence, uninstall=uninstall)
    q = harness.query(step="install: deploy.query_request")
    got = harness.deliver(harness.update(published, q), "install: deploy.update")
    harness.expect_success(got, q, published, step="install: deploy.success")


@case(
    id="uninstall.sequence",
    clauses=("P-9.10a", "P-9.10b", "P-13a"),
    properties=("P7",),
    flow="lifecycle",
    tags=("uninstall",),
)
def test_uninstall_sequence_runs(harness: Harness) -> None:
    """The manifest's suit-uninstall (select the TA, unlink) is run: Success whose report
    records the unlink in section 24; the component is gone, its floor kept."""
    _install(harness, 2, UNINSTALL_UNLINK)
    q = harness.query(step="uninstall: deploy.query_request")
    got = harness.deliver(harness.uninstall(q), "uninstall.run_sequence")
    if got.code is not None or len(got.replies) != 1:
        raise CaseFailure("uninstall.run_sequence", "one Success", got.code, got.code)
    success = harness.open_reply(got.replies[0], "uninstall.run_sequence")
    if not isinstance(success, teep.Success) or not success.suit_reports:
        raise CaseFailure("uninstall.run_sequence", "Success with a report", "another message")
    # open_reply verified the report's signature; its records name the unlink it ran
    records = loads(loads(success.suit_reports[0]).value[2])[3]
    # one section-24 record at the unlink's offset, after the shared sequence's steps
    if [r[1] for r in records] != [24] or records[0][2] == 0:
        raise CaseFailure("uninstall.run_sequence (report)", "the unlink's record", records)
    if harness.installed() is not None:
        raise CaseFailure("uninstall.run_sequence (state)", "no component", harness.installed())
    if harness.floor() != 2:
        # read from ``state``: a floor missing there is either lowered (P-13a) or kept but not
        # reported for the uninstalled component (adapter.md, A-4b)
        raise CaseFailure(
            "uninstall.run_sequence (floor kept)", 2, harness.floor(), clauses=(CASE, *STATE)
        )


@case(
    id="uninstall.sequence-condition",
    clauses=("P-9.10b",),
    properties=("P7",),
    flow="lifecycle",
    tags=("uninstall",),
)
def test_uninstall_sequence_condition_refused(harness: Harness) -> None:
    """A suit-uninstall whose class condition does not hold on this device: refused with
    SUIT_CONDITION_CLASS (307) and nothing removed."""
    sequence = CommandSequence(
        [
            Command(int(SuitCommand.DIRECTIVE_SET_COMPONENT_INDEX), 0),
            Command(
                int(SuitCommand.DIRECTIVE_OVERRIDE_PARAMETERS),
                Parameters.of(class_id=_OTHER_CLASS),
            ),
            Command(int(SuitCommand.CONDITION_CLASS_IDENTIFIER), 15),
            Command(int(SuitCommand.DIRECTIVE_UNLINK), 15),
        ]
    )
    _install(harness, 2, sequence)
    before = harness.state()
    q = harness.query(step="uninstall: deploy.query_request")
    got = harness.deliver(harness.uninstall(q), "uninstall.run_sequence")
    harness.expect_refusal(got, Code.SUIT_CONDITION_CLASS, "uninstall.run_sequence")
    harness.expect_unchanged(before, "uninstall.run_sequence")
    if harness.installed() != 2:
        raise CaseFailure("uninstall.run_sequence (kept)", 2, harness.installed())
