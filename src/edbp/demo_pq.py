"""`edbp demo --suite pq`: the post-quantum suite `edbp-pq` end to end, its downgrade refusals,
and its message sizes beside the classical suite's, on the reference roles.

Why a scenario of its own: the classical demo's story (replay, rotation, revocation) does not
change with the suite; what does is key delivery (COSE-HPKE MLKEM768-X25519 instead of
ECDH-ES), the signatures (ML-DSA-65), the downgrade rules of spec/protocol.md 4.1 and the
sizes. One TAM serves a PQ device and a classical one side by side, every outcome is checked,
and the exit status is 0 only if every expected outcome happened.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from pathlib import Path
from typing import Any

from edbp.errors import Code

__all__ = ["run_pq_demo"]


def _sizes(messages: tuple[bytes, ...], replies: tuple[bytes, ...]) -> dict[str, int]:
    from edbp.reference.wire import teep
    from edbp.reference.wire.cose_sign import Sign1

    query, update = messages[0], messages[-1]
    response = replies[0]
    evidence = getattr(teep.peek(response), "attestation_payload", None) or b""
    msg = teep.decode(Sign1.decode(update).payload or b"")
    envelope = getattr(msg, "manifest_list", None) or (b"",)
    return {
        "QueryRequest": len(query),
        "QueryResponse": len(response),
        "evidence (EAT)": len(evidence),
        "Update": len(update),
        "device envelope": len(envelope[0]),
    }


def run_pq_demo(console: Any, seed: str = "edbp-demo-pq", workdir: Path | None = None) -> bool:
    """The scenario; returns True when every expected outcome happened."""
    from rich.table import Table

    from edbp.cli.demo import _image, _Run
    from edbp.reference.build.package import ta_component
    from edbp.reference.device.keys import KeySuite
    from edbp.reference.device.world import World, contains
    from edbp.reference.wire import pq, teep
    from edbp.reference.wire.cose_sign import Sign1

    run = _Run(console)
    if not pq.available():
        run.expect("edbp-pq available", "ML-DSA and ML-KEM", str(pq.unavailable_reason()), False)
        return False
    with contextlib.ExitStack() as stack:
        root = workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="edbp-demo-pq-"))
        )
        w = World(root, seed=seed, pq=True)
        console.rule("[bold]edbp demo --suite pq[/] — ML-DSA-65 + COSE-HPKE MLKEM768-X25519")
        ta = uuid.uuid5(uuid.NAMESPACE_URL, "urn:edbp:demo:pq-ta").bytes
        comp = ta_component(ta)
        image = w.build_ta(_image("pq-ta", 1), ta, ta_version=1)

        console.print(
            "\n[bold cyan]1. Enrol[/] (PQ keys made in the TEE, endorsed by the ML-DSA MRK)"
        )
        a = w.enrol("pq-A", "gateway", suite=KeySuite.PQ)
        b = w.enrol("pq-B", "gateway", suite=KeySuite.PQ)
        c = w.enrol("classic-C", "sensor", suite=KeySuite.P256)
        rec = w.device_registry.get(a.ueid)
        run.expect(
            "enrol pq-A",
            "AKP DAK (MLKEM768-X25519) and ML-DSA-65 DSK on record",
            f"DAK alg {rec.dak.alg}, DSK alg {rec.dsk.alg}",
            rec.dak.alg == -70768 and rec.dsk.alg == -49,
        )

        console.print("\n[bold cyan]2. Publish[/] (author envelope signed by the ML-DSA-65 ASK)")
        pub = w.publish(image, ta_uuid=ta, sequence=1, class_name="gateway", pq=True)
        classic_ta = uuid.uuid5(uuid.NAMESPACE_URL, "urn:edbp:demo:classic-ta").bytes
        classic_image = w.build_ta(_image("classic-ta", 1), classic_ta, ta_version=1)
        classic_pub = w.publish(classic_image, ta_uuid=classic_ta, sequence=1, class_name="sensor")
        ceks = [w.cek_of(pub.package), w.cek_of(classic_pub.package)]

        console.print("\n[bold cyan]3. Deploy[/] (one TAM, the suite each endorsement pins)")
        r = w.deploy(a, ta, 1)
        run.expect(
            "deploy → pq-A", "installed", r.detail, r.ok and a.agent.installed_image(comp) == image
        )
        pq_sizes = _sizes(r.messages, r.replies)
        update_for_a = r.messages[-1]
        r = w.deploy(c, classic_ta, 1)
        run.expect("deploy → classic-C (ESP256, ECDH-ES)", "installed", r.detail, r.ok)
        classic_sizes = _sizes(r.messages, r.replies)

        console.print("\n[bold cyan]4. Downgrade and misdelivery[/] (attacker on the network/REE)")
        assert w.tsk is not None

        def classical_resign(message: bytes) -> bytes:
            # what an attacker who can forge classical signatures (here: holds the classical
            # TSK) sends: the same TEEP message, signed ESP256
            payload = Sign1.decode(message).payload or b""
            return teep.sign(teep.decode(payload), w.tsk, -9)

        r = w.deploy(b, ta, 1, intercept=classical_resign)
        run.expect(
            "TAM messages to pq-B re-signed ESP256",
            "refused COSE_SUITE_DOWNGRADE",
            r.detail,
            r.code == Code.COSE_SUITE_DOWNGRADE and b.agent.floor(comp) is None,
        )

        def swap_update(message: bytes) -> bytes | None:
            msg = teep.peek(message)
            return update_for_a if isinstance(msg, teep.Update) else None

        r = w.deploy(b, ta, 1, intercept=swap_update)
        run.expect(
            "pq-A's Update given to pq-B",
            "refused AGENT_REPLAY or AGENT_NOT_FOR_THIS_DEVICE",
            r.detail,
            r.code in (Code.AGENT_REPLAY, Code.AGENT_NOT_FOR_THIS_DEVICE)
            and b.agent.floor(comp) is None,
        )
        r = w.deploy(b, ta, 1)
        run.expect("honest deploy → pq-B", "installed", r.detail, r.ok)

        console.print("\n[bold cyan]5. Who saw what[/] and [bold cyan]sizes[/] (bytes)")
        leaked = any(
            contains(data, k)
            for data in (w.registry_bytes(), w.broker_bytes(a), w.broker_bytes(b))
            for k in ceks
        )
        run.expect("no CEK in the registry or any Broker", "none found",
                   "FOUND" if leaked else "none found", not leaked)
        table = Table("message", "classical (ESP256, ECDH-ES+A128KW)", "edbp-pq", "growth")
        for name, size in pq_sizes.items():
            base = classic_sizes[name]
            table.add_row(name, str(base), str(size), f"×{size / base:.1f}" if base else "-")
        console.print(table)
        fits = pq_sizes["device envelope"] <= 32 * 1024 and max(
            pq_sizes["QueryResponse"], pq_sizes["Update"]
        ) <= 64 * 1024
        run.expect(
            "edbp-pq messages within protocol.md §6 limits",
            "envelope ≤ 32 KiB, TEEP ≤ 64 KiB",
            f"envelope {pq_sizes['device envelope']}, Update {pq_sizes['Update']}",
            fits,
        )
    failed = [c for c in run.checks if not c.ok]
    console.rule(f"{len(run.checks) - len(failed)}/{len(run.checks)} expected outcomes happened")
    return not failed
