"""`edbp ta`: sign -> verify -> decrypt round trips through click's CliRunner and a real
``edbp`` process; refusals exit 1 naming the rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.optee import DecryptionKeys, ta_enc_key, verify_ta

from edbp.cli import cli

UUID = "8aaaf200-2450-11e4-abe2-0002a5d5c51b"
HUK = "00112233445566778899aabbccddeeff"


def _elf_blob(size: int = 200 * 1024) -> bytes:
    # an ELF-sized blob with an ELF ident, like a stripped TA
    body = bytes((i * 31 + 7) & 0xFF for i in range(size - 16))
    return b"\x7fELF\x02\x01\x01" + bytes(9) + body


@pytest.fixture
def files(tmp_path: Path, root_key: rsa.RSAPrivateKey) -> Path:
    (tmp_path / "key.pem").write_bytes(
        root_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "pub.pem").write_bytes(
        root_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "ta.elf").write_bytes(_elf_blob())
    return tmp_path


def _invoke(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("algo", ["pss", "pkcs1v15"])
def test_round_trip_with_huk(files: Path, root_key: rsa.RSAPrivateKey, algo: str) -> None:
    code, out, _ = _invoke(
        [
            "ta",
            "sign",
            "--key",
            str(files / "key.pem"),
            "--uuid",
            UUID,
            "--ta-version",
            "5",
            "--in",
            str(files / "ta.elf"),
            "--out",
            str(files / "ta.ta"),
            "--algo",
            algo,
            "--encrypt",
            "--huk",
            HUK,
        ]
    )
    assert code == 0, out
    image = (files / "ta.ta").read_bytes()
    # the library agrees: the key is OP-TEE's default device key for this HUK and root key
    key = ta_enc_key(bytes.fromhex(HUK), root_key.public_key())
    assert (
        verify_ta(image, root_key.public_key(), keys=DecryptionKeys(enc_key=key)).plaintext
        == _elf_blob()
    )
    code, out, err = _invoke(
        [
            "ta",
            "verify",
            str(files / "ta.ta"),
            "--key",
            str(files / "pub.pem"),
            "--huk",
            HUK,
            "--floor",
            "5",
            "--uuid",
            UUID,
            "--out",
            str(files / "out.elf"),
        ]
    )
    assert code == 0, out + err
    assert (
        f"uuid:       {UUID}" in out
        and "ta_version: 5" in out
        and "img_type:   2 (ENCRYPTED_TA)" in out
    )
    assert (files / "out.elf").read_bytes() == _elf_blob()


def test_fixed_iv_and_salt_reproduce(files: Path) -> None:
    args = [
        "ta",
        "sign",
        "--key",
        str(files / "key.pem"),
        "--uuid",
        UUID,
        "--in",
        str(files / "ta.elf"),
        "--encrypt",
        "--enc-key",
        "11" * 32,
        "--iv",
        "22" * 12,
        "--salt",
        "33" * 32,
    ]
    assert _invoke([*args, "--out", str(files / "a.ta")])[0] == 0
    assert _invoke([*args, "--out", str(files / "b.ta")])[0] == 0
    assert (files / "a.ta").read_bytes() == (files / "b.ta").read_bytes()
    code, out, _ = _invoke(
        [
            "ta",
            "verify",
            str(files / "a.ta"),
            "--key",
            str(files / "key.pem"),
            "--enc-key",
            "11" * 32,
        ]
    )
    assert code == 0 and "iv:         " + "22" * 12 in out


def test_refusals_name_the_rule(files: Path) -> None:
    assert (
        _invoke(
            [
                "ta",
                "sign",
                "--key",
                str(files / "key.pem"),
                "--uuid",
                UUID,
                "--ta-version",
                "3",
                "--in",
                str(files / "ta.elf"),
                "--out",
                str(files / "ta.ta"),
                "--encrypt",
                "--huk",
                HUK,
            ]
        )[0]
        == 0
    )
    verify = ["ta", "verify", str(files / "ta.ta"), "--key", str(files / "pub.pem")]
    code, _, err = _invoke([*verify, "--huk", "ff" * 16])
    assert code == 1 and "TA_DECRYPT_FAILED (514)" in err
    code, _, err = _invoke([*verify, "--huk", HUK, "--floor", "4"])
    assert code == 1 and "TA_VERSION_ROLLBACK (515)" in err
    code, _, err = _invoke(verify)
    assert code == 1 and "TA_ENC_KEY_UNAVAILABLE (519)" in err
    code, _, err = _invoke(
        [*verify, "--huk", HUK, "--uuid", "00000000-0000-0000-0000-000000000001"]
    )
    assert code == 1 and "TA_UUID_MISMATCH (516)" in err
    tampered = bytearray((files / "ta.ta").read_bytes())
    tampered[60] ^= 1
    (files / "bad.ta").write_bytes(bytes(tampered))
    code, _, err = _invoke(
        ["ta", "verify", str(files / "bad.ta"), "--key", str(files / "pub.pem"), "--huk", HUK]
    )
    assert code == 1 and "TA_BAD_SIGNATURE (508)" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "extra",
    [
        ["--enc-key", "00" * 32],
        ["--encrypt"],
        ["--encrypt", "--enc-key", "00" * 32, "--huk", HUK],
        ["--algo", "pkcs1v15", "--salt", "00" * 32],
        ["--encrypt", "--huk", "00"],
        ["--ta-version", "-1"],
        ["--encrypt", "--huk", HUK, "--class-wide"],
    ],
    ids=[
        "key-without-encrypt",
        "encrypt-without-key",
        "both-keys",
        "salt-with-pkcs1",
        "short-huk",
        "negative-version",
        "class-wide-from-huk",
    ],
)
def test_sign_usage_errors(files: Path, extra: list[str]) -> None:
    code, _, _ = _invoke(
        [
            "ta",
            "sign",
            "--key",
            str(files / "key.pem"),
            "--uuid",
            UUID,
            "--in",
            str(files / "ta.elf"),
            "--out",
            str(files / "x.ta"),
            *extra,
        ]
    )
    assert code == 2
    assert not (files / "x.ta").exists()


def test_sign_refuses_non_rsa_key(files: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    (files / "ec.pem").write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    code, _, err = _invoke(
        [
            "ta",
            "sign",
            "--key",
            str(files / "ec.pem"),
            "--uuid",
            UUID,
            "--in",
            str(files / "ta.elf"),
            "--out",
            str(files / "x.ta"),
        ]
    )
    assert code == 2 and "RSA" in err


def _edbp() -> list[str]:
    script = Path(sys.executable).with_name("edbp")
    if script.exists():
        return [str(script)]
    found = shutil.which("edbp")
    return [found] if found else [sys.executable, "-c", "from edbp.cli import main; main()"]


def test_round_trip_in_a_real_process(files: Path) -> None:
    env = {**os.environ, "COLUMNS": "120"}
    sign = subprocess.run(
        [
            *_edbp(),
            "ta",
            "sign",
            "--key",
            str(files / "key.pem"),
            "--uuid",
            UUID,
            "--ta-version",
            "0x10",
            "--in",
            str(files / "ta.elf"),
            "--out",
            str(files / "ta.ta"),
            "--encrypt",
            "--huk",
            HUK,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert sign.returncode == 0, sign.stderr
    verify = subprocess.run(
        [
            *_edbp(),
            "ta",
            "verify",
            str(files / "ta.ta"),
            "--key",
            str(files / "pub.pem"),
            "--huk",
            HUK,
            "--out",
            str(files / "out.elf"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert verify.returncode == 0, verify.stderr
    assert "ta_version: 16" in verify.stdout
    assert (files / "out.elf").read_bytes() == (files / "ta.elf").read_bytes()
    (files / "ta.ta").write_bytes((files / "ta.ta").read_bytes() + b"\x00")
    bad = subprocess.run(
        [
            *_edbp(),
            "ta",
            "verify",
            str(files / "ta.ta"),
            "--key",
            str(files / "pub.pem"),
            "--huk",
            HUK,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert bad.returncode == 1 and "TA_SIZE_MISMATCH (510)" in bad.stderr


def test_verify_prints_a_subkey_chain(
    files: Path, root_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    from edbp.reference.optee import sign_subkey, sign_ta

    chain = sign_subkey(
        root_key, other_key.public_key(), uuid.UUID(UUID), name_size=16, subkey_version=2
    )
    ta_uuid = chain.next_uuid("app")
    (files / "chain.ta").write_bytes(
        sign_ta(_elf_blob(4096), other_key, ta_uuid, 1, chain=chain, name="app")
    )
    code, out, err = _invoke(
        ["ta", "verify", str(files / "chain.ta"), "--key", str(files / "pub.pem")]
    )
    assert code == 0, err
    assert f"subkey {UUID} version 2 max_depth 0 name_size 16" in out
    assert f"uuid:       {ta_uuid}" in out
