"""OP-TEE's own scripts/sign_encrypt.py as an outside oracle (tests/interop/optee/).

Deterministic outputs must be byte-identical, its `verify` must accept edbp's images and
chains, and edbp's loader must accept the images it writes (including encrypted ones).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.optee import (
    DecryptionKeys,
    EncKeyType,
    Encryption,
    SigAlgo,
    sign_subkey,
    sign_ta,
    verify_ta,
)

SCRIPT = Path(__file__).resolve().parents[1] / "interop" / "optee" / "sign_encrypt.py.txt"
UUID = uuid.UUID("8aaaf200-2450-11e4-abe2-0002a5d5c51b")
SK_UUID = uuid.UUID("f04a0fe7-1f5d-4b9b-abf7-619b85b4ce8c")
PKCS1 = "TEE_ALG_RSASSA_PKCS1_V1_5_SHA256"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return out


def _pem(path: Path, key: rsa.RSAPrivateKey) -> str:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


@pytest.fixture
def elf(tmp_path: Path) -> Path:
    path = tmp_path / "ta.elf"
    path.write_bytes(b"\x7fELF" + bytes((i * 13) & 0xFF for i in range(20000)))
    return path


def test_pkcs1_image_is_byte_identical(
    tmp_path: Path, elf: Path, root_key: rsa.RSAPrivateKey
) -> None:
    key = _pem(tmp_path / "k.pem", root_key)
    _run(
        "sign-enc",
        "--uuid",
        str(UUID),
        "--ta-version",
        "0x1234",
        "--in",
        str(elf),
        "--out",
        str(tmp_path / "theirs.ta"),
        "--key",
        key,
        "--algo",
        PKCS1,
    )
    ours = sign_ta(elf.read_bytes(), root_key, UUID, 0x1234, algo=SigAlgo.PKCS1_V1_5_SHA256)
    assert ours == (tmp_path / "theirs.ta").read_bytes()


@pytest.mark.parametrize("algo", [SigAlgo.PSS_MGF1_SHA256, SigAlgo.PKCS1_V1_5_SHA256])
def test_their_verify_accepts_our_image(
    tmp_path: Path, elf: Path, root_key: rsa.RSAPrivateKey, algo: int
) -> None:
    key = _pem(tmp_path / "k.pem", root_key)
    (tmp_path / "ours.ta").write_bytes(sign_ta(elf.read_bytes(), root_key, UUID, 3, algo=algo))
    out = _run("verify", "--uuid", str(UUID), "--in", str(tmp_path / "ours.ta"), "--key", key)
    assert f"TA UUID: {UUID}" in out.stdout


def test_we_load_their_encrypted_image(
    tmp_path: Path, elf: Path, root_key: rsa.RSAPrivateKey
) -> None:
    key = _pem(tmp_path / "k.pem", root_key)
    enc_key = bytes(range(32))
    _run(
        "sign-enc",
        "--uuid",
        str(UUID),
        "--ta-version",
        "9",
        "--in",
        str(elf),
        "--out",
        str(tmp_path / "theirs.ta"),
        "--key",
        key,
        "--enc-key",
        enc_key.hex(),
    )
    image = (tmp_path / "theirs.ta").read_bytes()
    result = verify_ta(
        image, root_key.public_key(), keys=DecryptionKeys(enc_key=enc_key), expected_uuid=UUID
    )
    assert result.plaintext == elf.read_bytes() and result.ta_version == 9
    # and our encrypted layout differs from theirs only in the random IV, tag and ciphertext
    iv = image[340:352]
    ours = sign_ta(
        elf.read_bytes(),
        root_key,
        UUID,
        9,
        encryption=Encryption(enc_key, EncKeyType.DEV_SPECIFIC, iv),
    )
    assert ours[:52] == image[:52] and ours[308:] == image[308:]


def test_subkey_chain_matches_and_verifies(
    tmp_path: Path, elf: Path, root_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    root = _pem(tmp_path / "root.pem", root_key)
    sub = _pem(tmp_path / "sub.pem", other_key)
    _run(
        "sign-subkey",
        "--uuid",
        str(SK_UUID),
        "--key",
        root,
        "--in",
        sub,
        "--out",
        str(tmp_path / "sk.bin"),
        "--name-size",
        "64",
        "--max-depth",
        "2",
        "--subkey-version",
        "5",
        "--algo",
        PKCS1,
    )
    chain = sign_subkey(
        root_key,
        other_key.public_key(),
        SK_UUID,
        name_size=64,
        max_depth=2,
        subkey_version=5,
        algo=SigAlgo.PKCS1_V1_5_SHA256,
    )
    assert chain.data == (tmp_path / "sk.bin").read_bytes()
    ta_uuid = chain.next_uuid("edbp-app")
    uuid_out = _run("subkey-uuid", "--in", str(tmp_path / "sk.bin"), "--name", "edbp-app")
    assert f"Next subkey UUID: {ta_uuid}" in uuid_out.stdout
    _run(
        "sign-enc",
        "--uuid",
        str(ta_uuid),
        "--ta-version",
        "1",
        "--in",
        str(elf),
        "--out",
        str(tmp_path / "theirs.ta"),
        "--key",
        sub,
        "--subkey",
        str(tmp_path / "sk.bin"),
        "--name",
        "edbp-app",
        "--algo",
        PKCS1,
    )
    ours = sign_ta(
        elf.read_bytes(),
        other_key,
        ta_uuid,
        1,
        chain=chain,
        name="edbp-app",
        algo=SigAlgo.PKCS1_V1_5_SHA256,
    )
    assert ours == (tmp_path / "theirs.ta").read_bytes()
    # PSS chain of ours through their verify, and their file through our loader
    pss_chain = sign_subkey(root_key, other_key.public_key(), SK_UUID, name_size=64, max_depth=2)
    (tmp_path / "ours.ta").write_bytes(
        sign_ta(elf.read_bytes(), other_key, ta_uuid, 1, chain=pss_chain, name="edbp-app")
    )
    _run("verify", "--uuid", str(ta_uuid), "--in", str(tmp_path / "ours.ta"), "--key", root)
    result = verify_ta(ours, root_key.public_key(), expected_uuid=ta_uuid)
    assert result.chain[0].uuid == SK_UUID and result.subkey_floors == ((SK_UUID, 5),)


def test_streamed_pkcs1_image_is_byte_identical(
    tmp_path: Path, elf: Path, root_key: rsa.RSAPrivateKey
) -> None:
    from edbp.reference.optee.stream import sign_ta_file

    key = _pem(tmp_path / "k.pem", root_key)
    theirs = tmp_path / "theirs.ta"
    _run(
        *("sign-enc", "--uuid", str(UUID), "--ta-version", "7", "--in", str(elf)),
        *("--out", str(theirs), "--key", key, "--algo", PKCS1),
    )
    with elf.open("rb") as src, (tmp_path / "ours.ta").open("wb") as dst:
        sign_ta_file(src, dst, root_key, UUID, 7, algo=SigAlgo.PKCS1_V1_5_SHA256, chunk_size=999)
    assert (tmp_path / "ours.ta").read_bytes() == theirs.read_bytes()
