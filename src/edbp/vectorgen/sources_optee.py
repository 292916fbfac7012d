"""OP-TEE TA image vectors: the loader's accepted images (bootstrap, encrypted, PKCS#1 v1.5,
subkey chain) and every named mutation of ``edbp.reference.optee.mutations.MUTATIONS`` with the
code the loader must refuse it with (spec/ta-image.md).

RSA keys come from the seed (``rsa_keys``), so the images replay byte for byte; every other
random byte (HUK, UUID, ELF, PSS salt, IV) comes from the catalogue's seeded context, whose seed
is drawn from this source's stream.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from edbp.reference.optee.constants import SigAlgo
from edbp.reference.optee.mutations import MUTATIONS, Mutated, MutationContext, subkey_chain_base
from edbp.reference.rand import SeededRandom
from edbp.vectorgen.format import Note, Step, TestCase, TestGroup, VectorFile, error
from edbp.vectorgen.registry import source
from edbp.vectorgen.replay import replay_test
from edbp.vectorgen.rsa_keys import rsa_private_key

NOTES = {
    "ValidImage": Note("Functionality", "an image OP-TEE's loader accepts", ("P5", "P7", "P9")),
    "Header": Note(
        "ModifiedInput",
        "a signed-header field changed (magic, type, size, algo, hash/sig sizes)",
        ("P5", "P10"),
    ),
    "SignatureOrHash": Note(
        "SignatureMalleability",
        "hash, signature or signed bytes changed, or signed by another key",
        ("P5",),
    ),
    "WeakAlgorithm": Note(
        "AlgorithmConfusion", "an algorithm or key size below the policy", ("P5",)
    ),
    "Encryption": Note(
        "ModifiedInput",
        "the encrypted header, IV, tag, key or ciphertext is wrong: "
        "refused before anything decrypted is used",
        ("P9", "P10"),
    ),
    "Truncated": Note(
        "MemorySafety", "the image cut at a field boundary or inside a field", ("P10",)
    ),
    "Rollback": Note("Rollback", "a TA or subkey version below the stored floor", ("P7",)),
    "Identity": Note(
        "RecipientBinding",
        "a UUID other than the one requested, or outside the subkey's namespace",
        ("P4", "P5"),
    ),
    "Subkey": Note("ModifiedInput", "a malformed or mis-signed subkey chain", ("P5", "P10")),
}


def _flag(name: str) -> str:
    if name.startswith("truncate_") or name == "subkey_name_truncated":
        return "Truncated"
    if "floor" in name:
        return "Rollback"
    if "uuid" in name or "namespace" in name:
        return "Identity"
    if name.startswith("subkey") or name == "ta_signed_by_root_not_subkey":
        return (
            "Subkey"
            if not name.endswith(("other_key", "2048_bits"))
            else ("SignatureOrHash" if name.endswith("other_key") else "WeakAlgorithm")
        )
    if any(
        k in name
        for k in ("enc", "iv", "tag", "ciphertext", "decryption_key", "devices_key", "hash_over")
    ):
        return "Encryption"
    if any(k in name for k in ("weak", "algo", "2048", "non_rsa")):
        return "WeakAlgorithm"
    if any(k in name for k in ("_hash", "_sig", "payload", "signed_by", "labelled", "flip_ta")):
        return "SignatureOrHash"
    return "Header"


def _der(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ).hex()


def _inputs(m: Mutated) -> dict[str, Any]:
    out: dict[str, Any] = {"image": m.image.hex(), "rootKey": _der(m.root_key)}
    if m.keys.enc_key is not None:
        out["encKey"] = m.keys.enc_key.hex()
    if m.keys.huk is not None:
        out["huk"] = m.keys.huk.hex()
    if m.expected_uuid is not None:
        out["expectedUuid"] = str(m.expected_uuid)
    out["floors"] = {
        "ta": {str(k): v for k, v in sorted(m.floors.ta.items(), key=lambda kv: str(kv[0]))},
        "subkeys": {
            str(k): v for k, v in sorted(m.floors.subkeys.items(), key=lambda kv: str(kv[0]))
        },
    }
    p = m.policy
    out["policy"] = {
        "allowLegacy": p.allow_legacy,
        "minRsaBits": p.min_rsa_bits,
        "algos": sorted(p.algos),
        "ivSize": p.iv_size,
        "tagSize": p.tag_size,
    }
    return out


@source("ta-image/optee")
def optee_vectors(rng: SeededRandom) -> VectorFile:
    root = rsa_private_key(rng.fork("root"), 2048)
    other = rsa_private_key(rng.fork("other"), 2048)
    small = rsa_private_key(rng.fork("small"), 1024)
    ctx = MutationContext.create(
        root, other, small, seed=rng.fork("context").random_bytes(16).hex(), elf_size=8192
    )
    valid_images: list[tuple[str, str, Mutated]] = [
        (
            "bootstrap-pss",
            "signed bootstrap image (img_type 1), RSASSA-PSS SHA-256",
            ctx.case(ctx.bootstrap()),
        ),
        (
            "bootstrap-pkcs1",
            "signed bootstrap image, RSASSA-PKCS1-v1_5 SHA-256",
            ctx.case(ctx.bootstrap(algo=SigAlgo.PKCS1_V1_5_SHA256)),
        ),
        (
            "encrypted-device-key",
            "signed and encrypted image (img_type 2), device-specific key from the HUK",
            ctx.case(ctx.encrypted()),
        ),
    ]
    chain_image, chain_uuid = subkey_chain_base(ctx)
    valid_images.append(
        (
            "subkey-chain",
            "root -> subkey -> subkey -> TA",
            ctx.case(chain_image, expected_uuid=chain_uuid),
        )
    )
    tests = []
    for name, comment, m in valid_images:
        verified = m.run()
        uuid, version = verified.ta_floor if verified.ta_floor else (None, None)
        tests.append(
            TestCase(
                f"ta.valid.{name}",
                comment,
                "valid",
                (
                    Step(
                        "ta.verify",
                        _inputs(m),
                        {
                            "result": "ok",
                            "uuid": None if uuid is None else str(uuid),
                            "taVersion": version,
                            "plaintextSha256": hashlib.sha256(verified.plaintext).hexdigest(),
                        },
                    ),
                ),
                ("ValidImage",),
                NOTES["ValidImage"].properties,
                {"digest": verified.digest.hex()},
            )
        )
    invalid = []
    for name in sorted(MUTATIONS):
        fn, code = MUTATIONS[name]
        flag = _flag(name)
        invalid.append(
            TestCase(
                f"ta.invalid.{name.replace('_', '-')}",
                (fn.__doc__ or name.replace("_", " ")).strip().splitlines()[0],
                "invalid",
                (Step("ta.verify", _inputs(fn(ctx)), error(code)),),
                (flag,),
                NOTES[flag].properties,
            )
        )
    keys = {
        "root": _der(root.public_key()),
        "other": _der(other.public_key()),
        "small": _der(small.public_key()),
        "rootPrivate": root.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).hex(),
    }
    vf = VectorFile(
        path="ta-image/optee",
        title="OP-TEE TA images: loader acceptance and refusals",
        header=(
            "op ta.verify: check `image` as OP-TEE's loader does (spec/ta-image.md), trusting "
            "`rootKey` "
            "(DER SubjectPublicKeyInfo), with the device's `huk` or `encKey`, the requested "
            "`expectedUuid`, stored `floors` and loader `policy`.",
            "Mutations are reference/optee's MUTATIONS catalogue (xtest 1008 and more), by name.",
            "RSA test keys are derived from the seed by a seeded prime search "
            "(keys.rootPrivate is test material).",
        ),
        notes=NOTES,
        groups=(
            TestGroup("TaImage", "ta-image", "rsa2048-sha256", tuple(tests), keys=keys),
            TestGroup("TaImage", "ta-image", "rsa2048-sha256", tuple(invalid)),
        ),
    )
    problems = []
    for g in vf.groups:
        gj = g.to_json()
        for t in gj["tests"]:
            o = replay_test(t, gj)
            if not o.passed:
                problems.append(f"{t['tcId']}: {o.skipped or '; '.join(o.failures)}")
    if problems:
        raise AssertionError("ta-image/optee: the reference disagrees:\n  " + "\n  ".join(problems))
    return vf
