"""`edbp cpk`: build, inspect and verify blueprint .cpk packages; run the blueprint key service.

``build`` streams the payload (constant memory), takes the class key from a key file (32 raw
bytes or base64 of them, as a Key Vault secret holds it) or from a key service (WrapKey to a
fresh RSA key, unwrapped here), and signs with an RSA-2048 key and certificate given as PEM
files or generated (then written next to the output for use as a trust anchor).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from edbp.errors import BlueprintError, Code

if TYPE_CHECKING:
    from edbp.reference.blueprint.package import Binding

BINDINGS = click.Choice(["as-published", "fixed"])


def _read_class_key(path: str) -> bytes:
    raw = Path(path).read_bytes()
    if len(raw) == 32:
        return raw
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise click.BadParameter("key file: 32 raw bytes or base64 of 32 bytes")
    return key


def _class_key_from_service(url: str, key_name: str, function_key: str | None) -> bytes:
    from edbp.reference.blueprint import crypto
    from edbp.reference.blueprint.client import KeyServiceClient

    ephemeral = rsa.generate_private_key(65537, 2048)
    spki = base64.b64encode(crypto.rsa_public_to_spki_der(ephemeral.public_key())).decode()
    wrapped = base64.b64decode(KeyServiceClient(url, function_key).wrap_key(key_name, spki))
    result = crypto.pkcs1v15_decode(ephemeral, wrapped, 32)
    if result.ret != 0 or len(result.message) != 32:
        raise BlueprintError(
            Code.KEYSERVICE_BAD_REQUEST, "key service returned an unusable wrapped key"
        )
    return result.message


def _parse_version(text: str) -> tuple[int, int, int]:
    try:
        a, b, c = (int(x) for x in text.split("."))
    except ValueError:
        raise click.BadParameter("version: MAJ.MIN.REV") from None
    if not all(0 <= x <= 0xFFFFFFFF for x in (a, b, c)):
        raise click.BadParameter("version parts are u32")
    return a, b, c


@click.group(name="cpk")
def command() -> None:
    """Build, inspect and verify blueprint .cpk confidential packages; run the key service."""


@command.command()
@click.argument("payload", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="the .cpk to write"
)
@click.option("--app-id", required=True, help="cp-id; also the key name and the CPM application id")
@click.option("--name", "cp_name", default="Confidential Application", show_default=True)
@click.option("--vendor", default="Confidential Packaging Contributors", show_default=True)
@click.option("--version", "version", default="1.0.0", show_default=True, help="MAJ.MIN.REV")
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False), help="class key file")
@click.option("--key-service", help="key service URL (WrapKey)")
@click.option("--function-key", envvar="EDBP_FUNCTION_KEY", help="key service function key")
@click.option(
    "--signing-key", type=click.Path(exists=True, dir_okay=False), help="RSA private key PEM"
)
@click.option("--cert", type=click.Path(exists=True, dir_okay=False), help="signer certificate PEM")
@click.option("--binding", type=BINDINGS, default="as-published", show_default=True)
@click.option(
    "--align", type=click.IntRange(1, 4096), default=1, help="pad streams to this alignment"
)
def build(
    payload: str,
    output: str,
    app_id: str,
    cp_name: str,
    vendor: str,
    version: str,
    key_file: str | None,
    key_service: str | None,
    function_key: str | None,
    signing_key: str | None,
    cert: str | None,
    binding: Binding,  # click.Choice(BINDINGS) admits only these
    align: int,
) -> None:
    """Encrypt, sign and frame PAYLOAD as a 7-stream CPK (streamed, constant memory)."""
    from edbp.reference.blueprint import crypto
    from edbp.reference.blueprint.manifest import chrono_utc_string
    from edbp.reference.blueprint.package import build_cpk

    if (key_file is None) == (key_service is None):
        raise click.UsageError("give exactly one of --key-file and --key-service")
    if (signing_key is None) != (cert is None):
        raise click.UsageError("give --signing-key and --cert together, or neither (generated)")
    class_key = (
        _read_class_key(key_file)
        if key_file
        else _class_key_from_service(str(key_service), app_id, function_key)
    )
    out = Path(output)
    if signing_key and cert:
        key = serialization.load_pem_private_key(Path(signing_key).read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise click.UsageError("--signing-key must be an RSA key")
        certificate = x509.load_pem_x509_certificate(Path(cert).read_bytes())
    else:
        key = rsa.generate_private_key(65537, 2048)
        certificate = crypto.self_signed_certificate(key, vendor[:64] or "cpk signer")
        key_path, cert_path = out.with_suffix(".signing-key.pem"), out.with_suffix(".cert.pem")
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        click.echo(f"generated signing key {key_path.name} and certificate {cert_path.name}")
    tmp = out.with_name(f".{out.name}.partial")
    try:
        with open(payload, "rb") as src, open(tmp, "wb") as dst:
            manifest = build_cpk(
                dst,
                src,
                class_key=class_key,
                signing_key=key,
                certificate=certificate,
                cp_id=app_id,
                cp_name=cp_name,
                cp_vendor=vendor,
                date=chrono_utc_string(dt.datetime.now(dt.UTC)),
                ver=_parse_version(version),
                binding=binding,
                align=align,
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    click.echo(
        f"wrote {out} ({out.stat().st_size} bytes, cp-id {manifest.cp_id}, binding {binding})"
    )


@command.command()
@click.argument("cpk", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--strict/--lenient", default=False, help="strict adds bounds, overlap and size checks"
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def inspect(cpk: str, strict: bool, as_json: bool) -> None:
    """Show the frame header, stream table and manifest of CPK."""
    from edbp.reference.blueprint.package import CpkReader

    with open(cpk, "rb") as f:
        r = CpkReader(f, strict=strict)
        h = r.frame.header
        doc: dict[str, Any] = {
            "frame": {
                "magic": f"{h.magic:#010x}",
                "frame_version": h.frame_version,
                "flags": h.flags,
                "stream_count": h.stream_count,
                "manifest_index": h.manifest_index,
                "manifest_type": h.manifest_type,
                "manifest_version": h.manifest_version,
                "origin": h.origin,
                "file_size": r.frame.file_size,
            },
            "streams": [
                {"index": i, "offset": e.offset, "size": e.size}
                for i, e in enumerate(r.frame.streams)
            ],
            "manifest": r.manifest.to_obj(),
        }
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    fr = doc["frame"]
    click.echo("frame: " + ", ".join(f"{k}={v}" for k, v in fr.items()))
    roles = {v: k for k, v in r.manifest.stream_indexes().items()}
    roles[h.manifest_index] = "manifest"
    for e in doc["streams"]:
        click.echo(
            f"  stream {e['index']}: offset {e['offset']:>10} size {e['size']:>10}"
            f"  {roles.get(e['index'], '')}"
        )
    click.echo("manifest:")
    click.echo(json.dumps(doc["manifest"], indent=2))


@command.command()
@click.argument("cpk", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--trust-anchor",
    type=click.Path(exists=True, dir_okay=False),
    help="certificate PEM the signer must be or chain to",
)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False),
    help="class key: also decrypt and check the digest",
)
@click.option("--binding", type=BINDINGS, default="as-published", show_default=True)
@click.option("--strict/--lenient", default=True, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="write the verified plaintext here")
@click.option(
    "--max-payload",
    type=click.IntRange(0),
    default=1 << 32,
    show_default=True,
    help="strict mode's payload cap in bytes (a blueprint CPM holds 12 MiB)",
)
def verify(
    cpk: str,
    trust_anchor: str | None,
    key_file: str | None,
    binding: Binding,  # click.Choice(BINDINGS) admits only these
    strict: bool,
    output: str | None,
    max_payload: int,
) -> None:
    """Check CPK's signature (embedded certificate, optional trust anchor); with a class key,
    decrypt (streamed) and check the tag and the digest."""
    from edbp.reference.blueprint import crypto
    from edbp.reference.blueprint.frame import Limits
    from edbp.reference.blueprint.package import CpkReader, verify_cpk

    anchor = crypto.load_certificate_pem(Path(trust_anchor).read_bytes()) if trust_anchor else None
    class_key = _read_class_key(key_file) if key_file else None
    if output and class_key is None:
        raise click.UsageError("--output needs --key-file")
    out = Path(output) if output else None
    tmp = out.with_name(f".{out.name}.partial") if out else None
    try:
        with open(cpk, "rb") as f, open(tmp, "wb") if tmp else open(os.devnull, "wb") as sink:
            report = verify_cpk(
                CpkReader(f, strict=strict, limits=Limits(max_payload=max_payload)),
                class_key=class_key,
                trust_anchor=anchor,
                binding=binding,
                plaintext_sink=sink.write if tmp else None,
            )
        if out and tmp:
            os.replace(tmp, out)
    finally:
        if tmp:
            tmp.unlink(missing_ok=True)
    click.echo("signature: OK (embedded certificate)")
    if report.trust_anchor:
        click.echo("trust anchor: OK")
    if report.decrypted:
        click.echo(f"decrypt: OK, tag OK, digest OK ({report.plaintext_size} bytes)")


@command.group()
def keyservice() -> None:
    """The blueprint key service (ProvisionKey, WrapKey, DistributeKey) over HTTP on loopback."""


@keyservice.command()
@click.option(
    "--store",
    required=True,
    type=click.Path(file_okay=False),
    help="directory of the sealed stores",
)
@click.option(
    "--master-key-file",
    required=True,
    type=click.Path(dir_okay=False),
    help="32-byte master key of the software vault (created if absent)",
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0: an ephemeral port")
@click.option(
    "--function-key",
    envvar="EDBP_FUNCTION_KEY",
    help="the function key every request must carry (required unless --insecure-as-published)",
)
@click.option(
    "--insecure-as-published",
    is_flag=True,
    help="serve as the blueprint published it: no key needed on the twin routes, none at all "
    "without --function-key (for the attack demonstrations only)",
)
def serve(
    store: str,
    master_key_file: str,
    port: int,
    function_key: str | None,
    insecure_as_published: bool,
) -> None:
    """Serve on http://127.0.0.1:PORT until interrupted. Every route needs the function key."""
    from edbp.reference.blueprint.keyservice import KeyService
    from edbp.reference.blueprint.keyservice_http import LoopbackKeyService, check_auth_config
    from edbp.reference.blueprint.secret_store import KeyVaultSecretStore
    from edbp.reference.blueprint.twins import TwinStore
    from edbp.reference.cloud.keyvault_software import SoftwareKeyVault

    check_auth_config(function_key, insecure_as_published)  # before any file is made
    mk = Path(master_key_file)
    if not mk.exists():
        fd = os.open(mk, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    root = Path(store)
    root.mkdir(parents=True, exist_ok=True)
    vault = SoftwareKeyVault(root / "vault.sealed", mk.read_bytes())
    service = KeyService(
        KeyVaultSecretStore(vault, root / "secrets.json"),
        TwinStore(),
        log=lambda s: click.echo(s, err=True),
    )
    server = LoopbackKeyService(
        service, port, function_key, insecure_as_published=insecure_as_published
    )

    def ready(url: str) -> None:
        click.echo(f"key service on {url} (Ctrl-C stops it)")
        if insecure_as_published:
            what = "no authentication at all" if not function_key else "no authentication"
            click.echo(
                f"WARNING: INSECURE as published: {what} on the twin routes"
                + ("" if function_key else " and the function routes")
                + "; anyone who reaches this port can obtain every class key",
                err=True,
            )

    try:
        server.serve_forever(on_ready=ready)
    except KeyboardInterrupt:
        pass
    finally:
        vault.close()


@keyservice.command()
@click.option("--url", required=True)
@click.option("--function-key", envvar="EDBP_FUNCTION_KEY")
def distribute(url: str, function_key: str | None) -> None:
    """Run one DistributeKey timer tick on a running key service."""
    from edbp.reference.blueprint.client import KeyServiceClient

    click.echo(json.dumps(KeyServiceClient(url, function_key).distribute(), indent=2))


@keyservice.command()
@click.argument("key_name")
@click.option("--url", required=True)
@click.option("--function-key", envvar="EDBP_FUNCTION_KEY")
def provision(key_name: str, url: str, function_key: str | None) -> None:
    """ProvisionKey/KEY_NAME on a running key service (overwrites silently, as published)."""
    from edbp.reference.blueprint.client import KeyServiceClient

    click.echo(KeyServiceClient(url, function_key).provision_key(key_name))
