"""`edbp demo`: the whole protocol end to end on the reference roles, with the attacks refused.

Why a scripted scenario with checked outcomes rather than a walkthrough: the demo is the
project's first proof that the pieces fit (Author → KeyVault → Registry → TAM → Broker →
Agent), so every step states what it expects, the run checks it, and the exit status is 0 only
if every expected outcome happened. "Who saw what" is measured, not asserted: the registry's
files, every byte each Broker handled or stored, and the Agents' sealed storage are searched for
every CEK and every plaintext image (the CEKs are obtained from the vault by an auditor).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import click

from edbp.errors import Code, EdbpError

HELP = """Run the end-to-end demonstration on embedded defaults.

Enrols two devices of one class and one of another, publishes v1 and v2 of a TA, deploys
them, shows an attacker's replay of v1 and a delivery for device A given to device B being
refused, revokes a device, rotates the class key, and prints each step with who saw what
(ciphertext or plaintext) and the final state. Exit status 0 only if every expected outcome
happened. `--hsm pkcs11` keeps the class keys in a SoftHSM2 token, `--registry oci` publishes
to a local docker-registry over the OCI distribution API."""


@attrs.define
class _Check:
    step: str
    expected: str
    got: str
    ok: bool


@attrs.define
class _Run:
    console: Any
    checks: list[_Check] = attrs.field(factory=list)

    def expect(self, step: str, expected: str, got: str, ok: bool) -> bool:
        self.checks.append(_Check(step, expected, got, ok))
        mark = "[green]✓[/]" if ok else "[bold red]✗[/]"
        self.console.print(f"  {mark} [bold]{step}[/]: expected {expected}; got {got}")
        return ok


@contextlib.contextmanager
def _backends(hsm: str, registry: str, root: Path) -> Iterator[tuple[Any, Any, Path | None]]:
    """(vault, registry, folder holding the registry's bytes) for the chosen backends."""
    vault = reg = None
    server = None
    reg_root: Path | None = None
    try:
        if hsm == "pkcs11":
            from edbp.reference.cloud.softhsm import process_token

            # one SoftHSM2 token per process (see softhsm); a fresh namespace per run
            vault = process_token(root / "softhsm").open_vault(
                namespace=f"demo-{uuid.uuid4().hex[:8]}"
            )
        if registry == "oci":
            from edbp.reference.build.registry_oci import OciDistributionRegistry
            from edbp.reference.build.registry_server import LocalDockerRegistry

            server = LocalDockerRegistry(root / "oci").start()
            reg = OciDistributionRegistry(server.url)
            reg_root = root / "oci" / "storage"
        else:
            reg_root = root / "registry"
        yield vault, reg, reg_root
    finally:
        if server is not None:
            server.stop()
        if vault is not None:
            vault.close()


def _folder_bytes(folder: Path | None) -> bytes:
    if folder is None or not folder.exists():
        return b""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _image(name: str, version: int, size: int = 24 * 1024) -> bytes:
    """A stand-in TA body: distinct, incompressible-looking bytes per (name, version)."""
    import hashlib

    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{name}/v{version}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def run_demo(
    console: Any,
    hsm: str = "software",
    registry: str = "dir",
    seed: str = "edbp-demo",
    workdir: Path | None = None,
) -> bool:
    """The scenario; returns True when every expected outcome happened."""
    from rich.table import Table

    from edbp.reference.build.package import ta_component
    from edbp.reference.device.world import World, contains

    run = _Run(console)
    with contextlib.ExitStack() as stack:
        root = workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="edbp-demo-"))
        )
        vault, reg, reg_root = stack.enter_context(_backends(hsm, registry, root))
        w = World(root, seed=seed, vault=vault, registry=reg)
        console.rule(f"[bold]edbp demo[/] — vault: {w.vault.backend}, registry: {registry}")
        ta = uuid.uuid5(uuid.NAMESPACE_URL, "urn:edbp:demo:ta").bytes
        cam_ta = uuid.uuid5(uuid.NAMESPACE_URL, "urn:edbp:demo:camera-ta").bytes
        comp, cam_comp = ta_component(ta), ta_component(cam_ta)
        # publish.build: OP-TEE TA images (bootstrap, RSA-PSS by the TA Signing Key); the TA
        # version is OP-TEE's own counter, distinct from the SUIT sequence number
        images = {
            ("gateway", v): w.build_ta(_image("gateway-ta", v), ta, ta_version=10 + v)
            for v in (1, 2, 3)
        }
        images[("camera", 1)] = w.build_ta(_image("camera-ta", 1), cam_ta, ta_version=1)

        console.print(
            "\n[bold cyan]1. Enrol[/] (enrol.keygen in each TEE → enrol.endorse → enrol.register)"
        )
        a = w.enrol("gateway-A", "gateway")
        b = w.enrol("gateway-B", "gateway")
        c = w.enrol("camera-C", "camera")
        for d in (a, b, c):
            console.print(
                f"    {d.name}: class {d.class_name}, UEID {d.ueid.hex()[:16]}…,"
                " DAK/DSK made in the TEE"
            )
        run.expect(
            "enrol",
            "3 devices registered, active",
            f"{len(w.device_registry.devices())} registered",
            len(w.device_registry.devices()) == 3
            and all(w.device_registry.get(d.ueid).active for d in (a, b, c)),
        )

        console.print(
            "\n[bold cyan]2. Publish[/] (Author: fresh CEK, encrypt, KeyVault wraps under the"
            " class key, sign, push)"
        )
        p1 = w.publish(images[("gateway", 1)], ta_uuid=ta, sequence=1, class_name="gateway")
        p2 = w.publish(images[("gateway", 2)], ta_uuid=ta, sequence=2, class_name="gateway")
        pc = w.publish(images[("camera", 1)], ta_uuid=cam_ta, sequence=1, class_name="camera")
        for step in p1.steps:
            console.print(f"    {step.step:<18} {step.actor:<22} saw: {step.saw}")
        ceks = {key: w.cek_of(p.package) for key, p in (("g1", p1), ("g2", p2), ("c1", pc))}

        console.print(
            "\n[bold cyan]3. Deploy[/] (QueryRequest → EAT evidence → per-device Update →"
            " Agent verifies, decrypts, installs)"
        )
        r = w.deploy(a, ta, 1)
        run.expect(
            "deploy v1 → gateway-A",
            "installed",
            r.detail,
            r.ok and a.agent.installed_image(comp) == images[("gateway", 1)],
        )
        v1_update_for_a = r.messages[-1]
        r = w.deploy(b, ta, 1)
        run.expect("deploy v1 → gateway-B", "installed", r.detail, r.ok)
        v1_update_for_b = r.messages[-1]
        r = w.deploy(a, ta, 2)
        run.expect(
            "deploy v2 → gateway-A",
            "installed, v1 kept as previous",
            r.detail,
            r.ok
            and a.agent.installed_image(comp) == images[("gateway", 2)]
            and a.agent.installed_image(comp, previous=True) == images[("gateway", 1)],
        )
        v2_update_for_a = r.messages[-1]

        console.print("\n[bold cyan]4. Attacks[/] (the attacker controls the network and the REE)")
        r = w.deploy(b, ta, 2, intercept=_swap_update(v2_update_for_a))
        run.expect(
            "A's v2 delivery given to gateway-B",
            "refused AGENT_NOT_FOR_THIS_DEVICE",
            r.detail,
            r.code == Code.AGENT_NOT_FOR_THIS_DEVICE and b.agent.floor(comp) == 1,
        )
        r = w.deploy(b, ta, 2, intercept=_swap_update(v1_update_for_b))
        run.expect(
            "replay of B's recorded v1 Update in a fresh exchange",
            "refused AGENT_REPLAY",
            r.detail,
            r.code == Code.AGENT_REPLAY and b.agent.floor(comp) == 1,
        )
        replies = a.broker.deliver(v1_update_for_a)  # straight into A's REE, no exchange open
        code = _code_of(replies)
        run.expect(
            "replay of A's v1 Update into A's REE",
            "refused AGENT_REPLAY, v2 stays",
            Code(code).name if code else "no error",
            code == Code.AGENT_REPLAY
            and a.agent.installed_image(comp) == images[("gateway", 2)]
            and a.agent.floor(comp) == 2,
        )
        r = w.deploy(b, ta, 2)
        run.expect(
            "honest deploy v2 → gateway-B", "installed", r.detail, r.ok and b.agent.floor(comp) == 2
        )
        r = w.deploy(c, ta, 2)
        run.expect(
            "gateway TA → camera-C (other class)",
            "refused TAM_CLASS_MISMATCH",
            r.detail,
            r.code == Code.TAM_CLASS_MISMATCH,
        )
        r = w.deploy(c, cam_ta, 1)
        run.expect(
            "camera TA → camera-C",
            "installed",
            r.detail,
            r.ok and c.agent.installed_image(cam_comp) == images[("camera", 1)],
        )

        console.print("\n[bold cyan]5. Revoke and rotate[/]")
        w.tam.revoke(b.ueid)
        version = w.tam.rotate_class_key(w.class_key_id("gateway"))
        run.expect("rotate the gateway class key", "version 2", f"version {version}", version == 2)
        p3 = w.publish(images[("gateway", 3)], ta_uuid=ta, sequence=3, class_name="gateway")
        ceks["g3"] = w.cek_of(p3.package)
        run.expect(
            "v3 wrapped under the new class-key version",
            "class-gateway#2",
            f"{p3.package.wrapped_cek.key_id}#{p3.package.wrapped_cek.version}",
            p3.package.wrapped_cek.version == 2,
        )
        r = w.deploy(b, ta, 3)
        run.expect(
            "deploy v3 → revoked gateway-B",
            "refused TAM_DEVICE_REVOKED",
            r.detail,
            r.code == Code.TAM_DEVICE_REVOKED and b.agent.floor(comp) == 2,
        )
        r = w.deploy(a, ta, 3)
        run.expect(
            "deploy v3 → gateway-A",
            "installed",
            r.detail,
            r.ok and a.agent.installed_image(comp) == images[("gateway", 3)],
        )
        r = w.deploy(a, ta, 1)
        run.expect(
            "TAM asked to deploy v1 → gateway-A",
            "nothing sent (already newer)",
            r.detail,
            a.agent.floor(comp) == 3,
        )
        old_ta = w.build_ta(
            _image("gateway-ta", 4), ta, ta_version=11
        )  # a TA build older than v3's
        p4 = w.publish(old_ta, ta_uuid=ta, sequence=4, class_name="gateway")
        images[("gateway", 4)], ceks["g4"] = old_ta, w.cek_of(p4.package)
        r = w.deploy(a, ta, 4)
        run.expect(
            "SUIT seq 4 carrying an older TA build (TA version 11 < 13)",
            "refused TA_VERSION_ROLLBACK",
            r.detail,
            r.code == Code.TA_VERSION_ROLLBACK and a.agent.floor(comp) == 3,
        )
        from cryptography.hazmat.primitives.asymmetric import rsa

        from edbp.reference.optee.sign import sign_ta

        rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = sign_ta(_image("gateway-ta", 5), rogue, uuid.UUID(bytes=ta), 15)
        p5 = w.publish(forged, ta_uuid=ta, sequence=5, class_name="gateway")
        images[("gateway", 5)], ceks["g5"] = forged, w.cek_of(p5.package)
        r = w.deploy(a, ta, 5)
        run.expect(
            "TA image signed by an unknown TA key",
            "refused TA_BAD_SIGNATURE, v3 stays",
            r.detail,
            r.code == Code.TA_BAD_SIGNATURE
            and a.agent.installed_image(comp) == images[("gateway", 3)],
        )

        console.print(
            "\n[bold cyan]6. Who saw what[/] (measured: every CEK and plaintext searched for)"
        )
        seen = Table("party", "holds", "CEK found", "plaintext found")
        registry_bytes = _folder_bytes(reg_root)
        secrets_ok = True
        parties: list[tuple[str, str, bytes]] = [
            ("Registry", "envelopes + ciphertext", registry_bytes)
        ]
        for d in (a, b, c):
            parties.append(
                (f"Broker {d.name}", "signed TEEP messages + ciphertext", w.broker_bytes(d))
            )
        tee_bytes = {d.name: _folder_bytes(root / "devices" / d.name / "tee") for d in (a, b, c)}
        for d in (a, b, c):
            parties.append(
                (f"Agent {d.name} storage", "sealed files (REE-kept)", tee_bytes[d.name])
            )
        tam_db = b"".join(p.read_bytes() for p in sorted(root.glob("tam.sqlite*")))
        parties.append(("TAM registry + audit log", "keys (public), bindings, receipts", tam_db))
        for party, holds, data in parties:
            cek_hit = any(contains(data, k) for k in ceks.values())
            pt_hit = any(contains(data, img) for img in images.values())
            secrets_ok &= not cek_hit and not pt_hit
            seen.add_row(
                party, holds, "[red]yes[/]" if cek_hit else "no", "[red]yes[/]" if pt_hit else "no"
            )
        seen.add_row(
            "Agent (inside the TEE)",
            "CEK while installing, then wiped; plaintext in sealed storage",
            "wiped",
            "only in the TEE",
        )
        console.print(seen)
        run.expect(
            "no CEK or plaintext outside the Author, KeyVault and the TEEs",
            "none found",
            "none found" if secrets_ok else "FOUND",
            secrets_ok,
        )
        wiped = all(not any(buf) for d in (a, b, c) for buf in d.agent.erased_ceks)
        run.expect(
            "every CEK the Agents held is wiped",
            "all zero",
            "all zero" if wiped else "not wiped",
            wiped,
        )
        entries = w.device_registry.verify()
        run.expect("TAM audit log hash chain", "verifies", f"{entries} entries verify", entries > 0)

        console.print("\n[bold cyan]7. Final state[/]")
        final = Table(
            "device", "class", "status", "SUIT floor", "TA version", "previous", "installed image"
        )
        for d, cid, key in (
            (a, comp, ("gateway", 3)),
            (b, comp, ("gateway", 2)),
            (c, cam_comp, ("camera", 1)),
        ):
            rec = w.device_registry.get(d.ueid)
            comp_state = next(iter(d.agent.record().components.values()))
            good = d.agent.installed_image(cid) == images[key]
            final.add_row(
                d.name,
                d.class_name,
                rec.status.value,
                str(comp_state.floor),
                str(comp_state.current.ta_version),
                f"seq {comp_state.previous.sequence}" if comp_state.previous else "-",
                f"v{key[1]} [green]matches[/]" if good else "[red]differs[/]",
            )
        console.print(final)

    failed = [c for c in run.checks if not c.ok]
    console.rule(f"{len(run.checks) - len(failed)}/{len(run.checks)} expected outcomes happened")
    return not failed


def _swap_update(replacement: bytes) -> Callable[[bytes], bytes | None]:
    """An interceptor that replaces the TAM's Update with ``replacement``."""
    from edbp.reference.wire import teep

    def swap(message: bytes) -> bytes | None:
        try:
            msg = teep.peek(message)
        except EdbpError:
            return None
        return replacement if isinstance(msg, teep.Update) else None

    return swap


def _code_of(replies: list[bytes]) -> int | None:
    from edbp.reference.device.agent import error_code_of

    for reply in replies:
        try:
            return error_code_of(reply)[1]
        except EdbpError:
            continue
    return None


@click.command(name="demo", help=HELP)
@click.option(
    "--hsm",
    type=click.Choice(["software", "pkcs11"]),
    default="software",
    show_default=True,
    help="KeyVault backend for the class keys.",
)
@click.option(
    "--registry",
    type=click.Choice(["dir", "oci"]),
    default="dir",
    show_default=True,
    help="Package registry: a content-addressed directory or a local OCI registry.",
)
@click.option("--seed", default="edbp-demo", show_default=True, help="Seed of every random byte.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the run's files here (default: a temporary folder).",
)
@click.option(
    "--no-blueprint",
    is_flag=True,
    help="Skip the side-by-side run of one attack against the blueprint and edbp profiles.",
)
@click.option(
    "--suite",
    type=click.Choice(["classical", "pq"]),
    default="classical",
    show_default=True,
    help="pq: the post-quantum suite edbp-pq (ML-DSA-65, COSE-HPKE MLKEM768-X25519) instead.",
)
def command(
    hsm: str, registry: str, seed: str, workdir: Path | None, no_blueprint: bool, suite: str
) -> None:
    from rich.console import Console

    console = Console()
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    if suite == "pq":
        from edbp.demo_pq import run_pq_demo

        sys.exit(0 if run_pq_demo(console, workdir=workdir) else 1)
    ok = run_demo(console, hsm=hsm, registry=registry, seed=seed, workdir=workdir)
    from edbp.extras import available, install_hint

    if not no_blueprint and not available("flask"):
        console.print(f"[yellow]blueprint side by side skipped: {install_hint('flask')}[/]")
        no_blueprint = True
    if not no_blueprint:
        from edbp.demo_blueprint import side_by_side

        console.rule("one attack, both profiles")
        ok = side_by_side(console) and ok
    sys.exit(0 if ok else 1)
