"""The side-by-side attack of ``edbp demo``: one attacker-signed package against both profiles.

Why this attack: it is the shortest path from the blueprint's published weaknesses to code
running in a TEE, and it needs nothing but what the published system hands out. On the
``blueprint`` profile (the CPM as published, behind the reference key service over HTTP on
loopback) the attacker asks ``WrapKey`` to wrap the class key to its own RSA key (no
attestation), builds its own package, signs it with its own key and self-signed certificate,
and the CPM installs it: the signature is verified against a key the host supplies and its
result is not enforced. On the ``edbp`` profile (the reference device behind the adapter, the
harness's Author, KeyVault and TAM roles) the attacker's package, signed by an Author key the
device does not trust, is refused with ``SUIT_AUTH_FAILED`` even when it reaches the device
in a correctly TAM-signed Update, and nothing is installed.

Both outcomes are checked, not asserted: ``side_by_side`` returns True only if the blueprint
device installed the attacker's payload (its digest is in OP-TEE's store) and the edbp device
refused with that code and kept its state.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
from collections.abc import Iterator
from typing import Any

import attrs

from edbp.errors import Code, EdbpError

__all__ = ["Outcome", "side_by_side"]

APP = "cpk-demo-app"
DATE = "2021-10-05 12:52:37.489525 UTC"
SEED = "edbp-demo-side-by-side"


@attrs.frozen
class Outcome:
    """One profile's row of the comparison."""

    profile: str
    attack_result: str
    expected: str
    ok: bool


def _say(console: Any, ok: bool | None, text: str) -> None:
    mark = "[dim]·[/]" if ok is None else ("[green]✓[/]" if ok else "[bold red]✗[/]")
    console.print(f"  {mark} {text}")


# ----------------------------------------------------------------------------- blueprint


def _blueprint(console: Any) -> Outcome:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from edbp.reference.blueprint import crypto
    from edbp.reference.blueprint.client import KeyServiceClient
    from edbp.reference.blueprint.cpm import Cpm
    from edbp.reference.blueprint.installer import (
        device_public_key_spki,
        install_package,
        sync_keys,
    )
    from edbp.reference.blueprint.keyservice import KeyService
    from edbp.reference.blueprint.keyservice_http import LoopbackKeyService
    from edbp.reference.blueprint.package import CpkReader, build_cpk
    from edbp.reference.blueprint.secret_store import MemorySecretStore
    from edbp.reference.blueprint.twins import TwinStore
    from edbp.reference.rand import SeededRandom

    rng = SeededRandom(SEED).fork("blueprint")
    expected = "attacker's package installed (the published weakness)"
    console.print(
        "\n[bold cyan]blueprint profile[/] — CPM as published, key service on loopback HTTP"
    )

    def unwrap(holder: rsa.RSAPrivateKey, wrapped_b64: str) -> bytes:
        res = crypto.pkcs1v15_decode(holder, base64.b64decode(wrapped_b64), 64)
        if res.ret != 0 or len(res.message) != 32:
            raise EdbpError(Code.CPM_ERROR, "unwrap failed")
        return res.message

    def package(payload: bytes, key: rsa.RSAPrivateKey, class_key: bytes, who: str) -> bytes:
        out = io.BytesIO()
        build_cpk(
            out,
            io.BytesIO(payload),
            class_key=class_key,
            signing_key=key,
            certificate=crypto.self_signed_certificate(key, who, rng=rng.fork(f"cert/{who}")),
            cp_id=APP,
            cp_name="Demo TA",
            cp_vendor=who,
            date=DATE,
            rng=rng.fork(f"cpk/{who}"),
        )
        return out.getvalue()

    service = KeyService(MemorySecretStore(), TwinStore(), rng=rng.fork("keyservice"))
    with _quiet_http(), LoopbackKeyService(service, function_key="demo-function-key") as http:
        ks = KeyServiceClient(http.url, function_key="demo-function-key")
        ks.provision_key(APP)
        _say(
            console, None, f"vendor: ProvisionKey/{APP} on {http.url} (class key for every device)"
        )

        cpm = Cpm("as-published")
        ks.register_twin("board-1")
        ks.report("board-1", {"device_public_key": device_public_key_spki(cpm)})
        ks.distribute()
        desired = ks.get_twin("board-1")["properties"]["desired"]["confidential_package_keys"]
        codes = sync_keys(cpm, desired)
        _say(
            console,
            codes.get(APP) == 0,
            f"board-1: reported its CPM key, DistributeKey, sync → rc {codes.get(APP)}",
        )

        agent = rsa.generate_private_key(65537, 2048)
        vendor = rsa.generate_private_key(65537, 2048)
        vendor_ck = unwrap(agent, ks.wrap_key(APP, _spki(agent)))
        vendor_ta = b"vendor TA v1 " * 200
        try:
            result = install_package(
                cpm, CpkReader(io.BytesIO(package(vendor_ta, vendor, vendor_ck, "Vendor")))
            )
            detail = f"signature_match={result.signature_check}: never set"
        except EdbpError as exc:
            detail = f"refused: {exc}"
        honest = _installed(cpm, vendor_ta)
        _say(console, honest, f"vendor package installed ({detail})")

        attacker = rsa.generate_private_key(65537, 2048)
        stolen = unwrap(attacker, ks.wrap_key(APP, _spki(attacker)))
        _say(
            console, None, "attacker: WrapKey with its own RSA key → the class key (no attestation)"
        )
        evil = b"attacker TA " * 200
        try:
            result = install_package(
                cpm, CpkReader(io.BytesIO(package(evil, attacker, stolen, "attacker")))
            )
            detail = f"installed, signature_match={result.signature_check} ignored"
        except EdbpError as exc:
            detail = f"refused: {exc}"
        attacked = _installed(cpm, evil)
        _say(console, attacked, f"attacker's own package, self-signed: {detail}")
        console.print(
            "    [dim]OP-TEE's own TA signature check is the only gate left; builds that keep"
            " the default development TA key (public) do not stop this either[/]"
        )
    ok = honest and attacked
    got = "attacker's package installed" if attacked else f"not installed ({detail})"
    return Outcome("blueprint (as published)", got, expected, ok)


@contextlib.contextmanager
def _quiet_http() -> Iterator[None]:
    """The loopback server's request log would interleave with the demo's output."""
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _spki(key: Any) -> str:
    from edbp.reference.blueprint import crypto

    return base64.b64encode(crypto.rsa_public_to_spki_der(key.public_key())).decode()


def _installed(cpm: Any, image: bytes) -> bool:
    digest = hashlib.sha256(image).digest()
    return any(d == digest for _, d in cpm.ta_store.installed.values())


# ----------------------------------------------------------------------------- edbp


def _edbp(console: Any) -> Outcome:
    from edbp.conformance.adapter import DeviceClient, open_transport
    from edbp.conformance.harness import Cloud, Harness
    from edbp.conformance.outcome import CaseFailure

    expected = f"refused with {Code.SUIT_AUTH_FAILED.name}, nothing installed"
    console.print("\n[bold cyan]edbp profile[/] — reference device (Agent) behind the adapter")
    cloud = Cloud(seed=SEED)
    try:
        with DeviceClient(open_transport("builtin")) as device:
            device.hello()
            device.call("reset")
            h = Harness(device, cloud, label="demo")
            h.provision()
            h.deploy(1, step="vendor v1")
            _say(
                console,
                h.installed() == 1,
                "vendor package v1 installed (Author-signed, TAM-delivered)",
            )
            before = h.state()
            rogue = h.publish(2, signer="rogue-author")
            _say(
                console,
                None,
                "attacker: its own package v2, signed by an Author key no device trusts",
            )
            q = h.query(step="attack: deploy.query_request")
            got = h.deliver(h.update(rogue, q), "attack: deploy.update")
            code = Code(got.code).name if got.code is not None else "accepted"
            unchanged = h.state().get("components") == before.get("components")
            refused = got.code == int(Code.SUIT_AUTH_FAILED) and unchanged and h.installed() == 1
            _say(
                console,
                refused,
                f"even in a TAM-signed Update the device answers {code}; v1 kept: {unchanged}",
            )
    except (CaseFailure, EdbpError) as exc:
        _say(console, False, f"edbp run failed: {exc}")
        return Outcome("edbp", f"run failed: {exc}", expected, False)
    finally:
        cloud.close()
    return Outcome("edbp", f"refused with {code}", expected, refused)


# ----------------------------------------------------------------------------- both


def side_by_side(console: Any) -> bool:
    """Run the attacker-signed package against both profiles, print each step and a table;
    True iff the blueprint device installed it and the edbp device refused it."""
    from rich.table import Table

    console.rule("[bold]side by side[/] — an attacker-signed package, blueprint vs edbp")
    try:
        blueprint = _blueprint(console)
    except EdbpError as exc:
        _say(console, False, f"blueprint run failed: {exc}")
        blueprint = Outcome("blueprint (as published)", f"run failed: {exc}", "-", False)
    outcomes = [blueprint, _edbp(console)]
    table = Table(title="attacker-signed package")
    for col in ("profile", "result", "expected", ""):
        table.add_column(col)
    for o in outcomes:
        table.add_row(
            o.profile, o.attack_result, o.expected, "[green]✓[/]" if o.ok else "[bold red]✗[/]"
        )
    console.print(table)
    return all(o.ok for o in outcomes)
