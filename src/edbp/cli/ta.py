"""`edbp ta`: sign, encrypt and verify OP-TEE trusted application images as OP-TEE does.

``sign`` writes what optee_os ``scripts/sign_encrypt.py sign-enc`` writes; ``verify`` runs the
loader's checks (``edbp.reference.optee.verify``) in OP-TEE's order, prints the header fields
and, with ``--out``, writes the decrypted ELF. A refusal prints the rule's code and exits 1.
"""

from __future__ import annotations

import os
import sys
import uuid as uuidlib
from contextlib import ExitStack
from pathlib import Path

import click
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from edbp.errors import EdbpError

_ALGOS = {"pss": 0x70414930, "pkcs1v15": 0x70004830}


def _hex(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise click.BadParameter("not hexadecimal") from None


def _uuid(ctx: click.Context, param: click.Parameter, value: str | None) -> uuidlib.UUID | None:
    if value is None:
        return None
    try:
        return uuidlib.UUID(value)
    except ValueError:
        raise click.BadParameter("not a UUID") from None


def _u32(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        n = int(value, 0)
    except ValueError:
        raise click.BadParameter("not an integer") from None
    if not 0 <= n <= 0xFFFFFFFF:
        raise click.BadParameter("must fit in 32 bits")
    return n


def _load_private(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise click.BadParameter(
            f"cannot load a PEM private key: {exc}", param_hint="--key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise click.BadParameter("the TA signing key must be RSA", param_hint="--key")
    return key


def _load_public(path: Path) -> rsa.RSAPublicKey:
    data = path.read_bytes()
    try:
        key: object = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):  # a PEM of an algorithm nobody knows, too
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise click.BadParameter("cannot load a PEM key", param_hint="--key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise click.BadParameter("the TA signing key must be RSA", param_hint="--key")
    return key


@click.group(name="ta")
def command() -> None:
    """Sign, encrypt and verify OP-TEE trusted application images as OP-TEE does."""


@command.command("sign")
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM RSA private key (>= 2048 bits).",
)
@click.option("--uuid", "ta_uuid", required=True, callback=_uuid, help="UUID of the TA.")
@click.option(
    "--ta-version",
    default="0",
    callback=_u32,
    show_default=True,
    help="TA version (u32) for rollback.",
)
@click.option(
    "--in",
    "in_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The stripped ELF.",
)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--algo",
    type=click.Choice(sorted(_ALGOS)),
    default="pss",
    show_default=True,
    help="RSASSA-PSS-MGF1-SHA256 (salt 32) or RSASSA-PKCS1-v1_5-SHA256.",
)
@click.option("--encrypt", is_flag=True, help="Encrypt the ELF with AES-256-GCM (img_type 2).")
@click.option("--enc-key", callback=_hex, help="The 32-byte TA encryption key, hex.")
@click.option(
    "--huk",
    callback=_hex,
    help="Derive the device-specific key from this 16-byte HUK (OP-TEE default).",
)
@click.option(
    "--class-wide", is_flag=True, help="Mark the key as class-wide (flags bit 0); needs --enc-key."
)
@click.option(
    "--iv", callback=_hex, help="Fixed 12-byte IV (vectors only: never reuse one under a key)."
)
@click.option("--salt", callback=_hex, help="Fixed 32-byte PSS salt (vectors only).")
def sign(
    key_path: Path,
    ta_uuid: uuidlib.UUID,
    ta_version: int,
    in_path: Path,
    out_path: Path,
    algo: str,
    encrypt: bool,
    enc_key: bytes | None,
    huk: bytes | None,
    class_wide: bool,
    iv: bytes | None,
    salt: bytes | None,
) -> None:
    """Sign (and optionally encrypt) a TA as optee_os scripts/sign_encrypt.py does."""
    from edbp.reference.optee import EncKeyType, Encryption, ta_enc_key

    if not encrypt and (enc_key is not None or huk is not None or iv is not None or class_wide):
        raise click.UsageError("--enc-key, --huk, --iv and --class-wide need --encrypt")
    if encrypt and (enc_key is None) == (huk is None):
        raise click.UsageError("--encrypt needs exactly one of --enc-key or --huk")
    if class_wide and enc_key is None:
        raise click.UsageError("a class-wide key cannot be derived from the HUK: give --enc-key")
    if huk is not None and len(huk) != 16:
        raise click.BadParameter("the HUK is 16 bytes", param_hint="--huk")
    if salt is not None and algo != "pss":
        raise click.UsageError("--salt applies to --algo pss only")
    key = _load_private(key_path)
    encryption = None
    if encrypt:
        aes_key = enc_key if enc_key is not None else ta_enc_key(huk or b"", key.public_key())
        key_type = EncKeyType.CLASS_WIDE if class_wide else EncKeyType.DEV_SPECIFIC
        encryption = Encryption(aes_key, key_type, iv)
    from edbp.reference.optee.stream import sign_ta_file

    # streamed file to file (constant memory); the output appears only once complete
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        with in_path.open("rb") as src, tmp.open("wb") as dst:
            signed = sign_ta_file(
                src,
                dst,
                key,
                ta_uuid,
                ta_version,
                algo=_ALGOS[algo],
                encryption=encryption,
                salt=salt,
            )
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    kind = "encrypted" if encrypt else "bootstrap"
    click.echo(
        f"signed {kind} TA {ta_uuid} version {ta_version}: {signed.size} bytes "
        f"(image digest {signed.digest.hex()})"
    )


@command.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM RSA key the device trusts (public or private).",
)
@click.option("--enc-key", callback=_hex, help="The 32-byte TA encryption key, hex.")
@click.option("--huk", callback=_hex, help="Derive the device-specific key from this 16-byte HUK.")
@click.option(
    "--floor",
    default=None,
    callback=_u32,
    help="Stored TA version: a lower image version is refused.",
)
@click.option("--uuid", "ta_uuid", callback=_uuid, help="The UUID the TA is requested by.")
@click.option(
    "--allow-legacy", is_flag=True, help="Accept legacy img_type 0 (no UUID, no version)."
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the decrypted ELF here.",
)
def verify(
    file: Path,
    key_path: Path,
    enc_key: bytes | None,
    huk: bytes | None,
    floor: int | None,
    ta_uuid: uuidlib.UUID | None,
    allow_legacy: bool,
    out_path: Path | None,
) -> None:
    """Check a TA image as OP-TEE's loader does, print its headers, optionally decrypt it."""
    from edbp.reference.optee import DecryptionKeys, LoaderPolicy
    from edbp.reference.optee.constants import EncKeyType, ImgType, SigAlgo
    from edbp.reference.optee.floors import check_floor

    if enc_key is not None and huk is not None:
        raise click.UsageError("give --enc-key or --huk, not both")
    if huk is not None and len(huk) != 16:
        raise click.BadParameter("the HUK is 16 bytes", param_hint="--huk")
    root = _load_public(key_path)
    from edbp.reference.optee.stream import verify_ta_file

    # streamed: the decrypted ELF goes to a temporary file, renamed only once every check
    # passed (until then it is unauthenticated plaintext)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp") if out_path else None
    try:
        with ExitStack() as stack:
            src = stack.enter_context(file.open("rb"))
            sink = stack.enter_context(tmp.open("wb")) if tmp is not None else None
            result = verify_ta_file(
                src,
                root,
                out=sink,
                keys=DecryptionKeys(enc_key, huk),
                expected_uuid=ta_uuid,
                policy=LoaderPolicy(allow_legacy=allow_legacy),
            )
        if floor is not None and result.bootstrap is None:
            click.echo("note: a legacy image has no TA version; --floor does not apply", err=True)
        if floor is not None and result.bootstrap is not None:
            # the floor check is the loader's last step, so running it here keeps the order
            check_floor(
                {result.bootstrap.uuid: floor},
                result.bootstrap.uuid,
                result.bootstrap.ta_version,
                "TA",
            )
        if tmp is not None and out_path is not None:
            os.replace(tmp, out_path)
    except EdbpError as exc:
        detail = f": {exc.detail}" if exc.detail else ""
        click.echo(f"REJECTED {exc.code.name} ({int(exc.code)}){detail}", err=True)
        sys.exit(1)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)

    def name_of(enum: type, value: int) -> str:
        try:
            return str(enum(value).name)
        except ValueError:
            return "?"

    for sub in result.chain:
        click.echo(
            f"subkey {sub.uuid} version {sub.subkey_version} max_depth {sub.max_depth} "
            f"name_size {sub.name_size}"
        )
    s = result.shdr
    click.echo(f"magic:      {s.magic:#010x}")
    click.echo(f"img_type:   {s.img_type} ({name_of(ImgType, s.img_type)})")
    click.echo(f"img_size:   {s.img_size}")
    click.echo(f"algo:       {s.algo:#010x} ({name_of(SigAlgo, s.algo)})")
    click.echo(f"hash_size:  {s.hash_size}")
    click.echo(f"sig_size:   {s.sig_size}")
    click.echo(f"hash:       {result.digest.hex()}")
    if result.bootstrap is not None:
        click.echo(f"uuid:       {result.bootstrap.uuid}")
        click.echo(f"ta_version: {result.bootstrap.ta_version}")
    if result.ehdr is not None:
        e = result.ehdr
        click.echo(f"enc_algo:   {e.enc_algo:#010x} (TEE_ALG_AES_GCM)")
        click.echo(f"flags:      {e.flags:#x} ({name_of(EncKeyType, e.flags & 1)})")
        click.echo(f"iv:         {e.iv.hex()}")
        click.echo(f"tag:        {e.tag.hex()}")
    click.echo(f"OK: {s.img_size} bytes of ELF verified")
