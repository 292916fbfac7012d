"""Blueprint-profile vectors: CPK packages and wrapped class keys, each with the outcome the
CPM must give in both behaviours (spec/blueprint.md): ``as-published`` (the public code's,
weaknesses included) and ``fixed`` (signature enforced, manifest bound, uniform unwrap errors).

Sources: ``edbp.reference.blueprint.mutations`` (``CPK_MUTATIONS``, ``WRAPPED_KEY_MUTATIONS``).
Every package and key is replayed on a fresh reference CPM of each behaviour while generating.
A mutated input that the as-published CPM installs is ``acceptable`` for that behaviour, flagged
``PublishedWeakness`` (its expectation pins the weakness; the fixed CPM refuses it).
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from edbp.reference.blueprint import crypto
from edbp.reference.blueprint.mutations import (
    APP,
    CPK_MUTATIONS,
    WRAPPED_KEY_MUTATIONS,
    expected_lines,
    make_context,
)
from edbp.reference.rand import SeededRandom
from edbp.vectorgen.format import Note, Step, TestCase, TestGroup, VectorFile
from edbp.vectorgen.registry import source
from edbp.vectorgen.replay import replay_test
from edbp.vectorgen.replay_ops import _outcome_result
from edbp.vectorgen.rsa_keys import rsa_private_key

BEHAVIOURS = ("as-published", "fixed")

NOTES = {
    "ValidPackage": Note("Functionality", "a CPK as the prototype builds it", ("P5", "P9")),
    "ValidWrappedKey": Note(
        "Functionality", "the class key wrapped RSAES-PKCS1-v1_5 to the device key", ("P1",)
    ),
    "FrameHeader": Note("ModifiedInput", "a frame-header field changed", ("P10",)),
    "StreamTable": Note(
        "MemorySafety", "stream table entries out of range, overlapping or truncated", ("P10",)
    ),
    "ManifestJson": Note(
        "ModifiedInput",
        "the JSON manifest malformed, incomplete or with wrong stream indexes",
        ("P10",),
    ),
    "Substitution": Note(
        "ModifiedInput",
        "manifest metadata or ciphertext not bound to what was signed",
        ("P5", "P7"),
    ),
    "AeadInput": Note(
        "ModifiedInput", "ciphertext, nonce or tag changed: GCM refuses", ("P9", "P10")
    ),
    "Signature": Note(
        "SignatureMalleability",
        "digest, signature or certificate changed, or signed by the attacker",
        ("P5",),
    ),
    "PublishedWeakness": Note(
        "PublishedWeakness",
        "the as-published CPM installs this: the "
        "weakness spec/blueprint.md documents (the fixed CPM refuses it)",
        ("P5",),
    ),
    "PaddingClass": Note(
        "PaddingOracle",
        "a PKCS#1 v1.5 block malformed in one class; "
        "as-published logs differ by class (a Bleichenbacher oracle), fixed answers "
        "uniformly",
        ("P1", "P10"),
    ),
    "WrongKey": Note("RecipientBinding", "the class key wrapped to another RSA key", ("P1", "P4")),
}


def _cpk_flag(name: str) -> str:
    if name in ("valid", "padding_between_streams"):
        return "ValidPackage"
    if name in (
        "bad_magic",
        "frame_version_2",
        "flags_nonzero",
        "zero_streams",
        "manifest_index_out_of_range",
        "manifest_type_2",
        "manifest_version_2",
        "truncated_header",
    ):
        return "FrameHeader"
    if name in (
        "truncated_table",
        "payload_size_beyond_file",
        "manifest_offset_beyond_file",
        "nonce_overlaps_tag",
    ):
        return "StreamTable"
    if "substituted" in name or "spliced" in name:
        return "Substitution"
    if name.startswith(("ciphertext", "nonce", "tag")):
        return "AeadInput"
    if name.startswith(("digest", "signature", "certificate", "attacker")) or "resigned" in name:
        return "Signature"
    return "ManifestJson"


def _der_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).hex()


def _der_public(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ).hex()


def _check(vf: VectorFile) -> VectorFile:
    problems = []
    for g in vf.groups:
        gj = g.to_json()
        for t in gj["tests"]:
            o = replay_test(t, gj)
            if not o.passed:
                problems.append(f"{t['tcId']}: {o.skipped or '; '.join(o.failures)}")
    if problems:
        raise AssertionError(f"{vf.path}: the reference disagrees:\n  " + "\n  ".join(problems))
    return vf


def _context(rng: SeededRandom) -> Any:
    """The blueprint files share one context (one signer, attacker and device key), drawn from
    the seed's "blueprint" stream: both files describe the same fleet."""
    rng = SeededRandom(rng._seed, ("blueprint",))
    return make_context(
        rng.fork("context").random_bytes(16).hex(),
        signer=rsa_private_key(rng.fork("signer")),
        attacker=rsa_private_key(rng.fork("attacker")),
        device_key=rsa_private_key(rng.fork("device")),
    )


@source("blueprint/cpk")
def cpk_vectors(rng: SeededRandom) -> VectorFile:
    ctx = _context(rng)
    device_pub = ctx.device_key.public_key()
    wrapped = crypto.pkcs1v15_encrypt(device_pub, ctx.class_key, rng.fork("wrap"))
    common = {
        "applicationId": APP,
        "deviceKey": _der_private(ctx.device_key),
        "trustAnchors": [_der_public(ctx.signer.public_key())],
        "wrappedKey": wrapped.hex(),
    }
    groups = []
    for behaviour in BEHAVIOURS:
        tests = []
        for name in sorted(CPK_MUTATIONS):
            mut = CPK_MUTATIONS[name]
            cpk = mut.apply(ctx, behaviour)
            outcome = mut.expect[behaviour]
            flag = _cpk_flag(name)
            honest = flag == "ValidPackage"
            if honest:
                result = "valid"
            elif outcome == "installed":
                result, flag = "acceptable", "PublishedWeakness"
            else:
                result = "invalid"
            flags = (flag,) if flag == _cpk_flag(name) or honest else (_cpk_flag(name), flag)
            props = sorted(
                {p for f in flags for p in NOTES[f].properties}, key=lambda p: int(p[1:])
            )
            tests.append(
                TestCase(
                    f"cpk.{behaviour}.{result}.{name.replace('_', '-')}",
                    mut.description,
                    result,
                    (
                        Step(
                            "cpk.install",
                            {**common, "behaviour": behaviour, "cpk": cpk.hex()},
                            _outcome_result(outcome),
                        ),
                    ),
                    flags,
                    tuple(props),
                    {"classKey": ctx.class_key.hex()} if honest else {},
                )
            )
        groups.append(TestGroup("CpkInstall", "cpk", behaviour, tuple(tests), profile="blueprint"))
    vf = VectorFile(
        path="blueprint/cpk",
        title="Blueprint profile: CPK packages on the CPM (as-published and fixed)",
        header=(
            "op cpk.install: a fresh CPM of `behaviour` with device key `deviceKey` (PKCS#8 "
            "DER, test "
            "material) and signature trust anchors `trustAnchors` receives `wrappedKey` for "
            "`applicationId` (twin sync), then the host installs `cpk` through the CPM contract.",
            "expect.outcome: installed | parse:<CODE> (host parser; lenient as-published, "
            "strict fixed) | "
            "host:<CODE> | cpm:<Call>:<rc> (first CPM call returning non-zero; error CPM_ERROR).",
            "The suite field names the CPM behaviour.",
        ),
        notes=NOTES,
        groups=tuple(groups),
    )
    return _check(vf)


@source("blueprint/wrapped-keys")
def wrapped_key_vectors(rng: SeededRandom) -> VectorFile:
    ctx = _context(rng)
    device_pub = ctx.device_key.public_key()
    other = rsa_private_key(rng.fork("other-device")).public_key()
    groups = []
    for behaviour in BEHAVIOURS:
        tests = []
        for name in sorted(WRAPPED_KEY_MUTATIONS):
            mut = WRAPPED_KEY_MUTATIONS[name]
            draw = rng.fork(f"key/{name}")
            if name == "wrong_key":  # the catalogue's other key is unseeded: use a seeded one
                wrapped = crypto.pkcs1v15_encrypt(other, ctx.class_key, draw)
            else:
                wrapped = mut.apply(device_pub, ctx.class_key, draw)
            rc, lines = expected_lines(mut.expect[behaviour], wrapped)
            flag = (
                "ValidWrappedKey"
                if name == "valid"
                else ("WrongKey" if name == "wrong_key" else "PaddingClass")
            )
            result = "valid" if name == "valid" else "invalid"
            expect: dict[str, Any] = {"rc": rc, "reeLog": list(lines)}
            expect = (
                {"result": "ok", **expect}
                if rc == 0
                else {**_outcome_result(f"cpm:InstallApplicationKey:{rc}"), **expect}
            )
            expect.pop("outcome", None)
            tests.append(
                TestCase(
                    f"cpm.{behaviour}.{result}.{name.replace('_', '-')}",
                    mut.description,
                    result,
                    (
                        Step(
                            "cpm.install_application_key",
                            {
                                "behaviour": behaviour,
                                "applicationId": APP,
                                "deviceKey": _der_private(ctx.device_key),
                                "wrapped": wrapped.hex(),
                            },
                            expect,
                        ),
                    ),
                    (flag,),
                    NOTES[flag].properties,
                    {"classKey": ctx.class_key.hex()} if name == "valid" else {},
                )
            )
        groups.append(
            TestGroup(
                "CpmInstallApplicationKey", "cpk", behaviour, tuple(tests), profile="blueprint"
            )
        )
    vf = VectorFile(
        path="blueprint/wrapped-keys",
        title="Blueprint profile: wrapped class keys on the CPM (as-published and fixed)",
        header=(
            "op cpm.install_application_key: a fresh CPM of `behaviour` holding `deviceKey` "
            "(its RSA-2048 "
            "wrapping key, test material) receives install_application_key(applicationId, "
            "wrapped).",
            "expect.rc is the CPM's return code; expect.reeLog the REE log lines the call "
            "produces. "
            "As-published, the lines differ by padding failure class (the Bleichenbacher oracle); "
            "fixed, every failure reads the same.",
        ),
        notes=NOTES,
        groups=tuple(groups),
    )
    return _check(vf)
