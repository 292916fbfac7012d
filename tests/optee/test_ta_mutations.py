"""Every named negative case is refused with its own code; the unmutated bases are accepted."""

from __future__ import annotations

import inspect

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.optee import VersionFloors
from edbp.reference.optee.mutations import MUTATIONS, MutationContext, subkey_chain_base

from edbp.errors import Code, DecryptionFailed, EdbpError, TAImageError


def test_bases_are_accepted(ctx: MutationContext) -> None:
    for image in (ctx.bootstrap(), ctx.encrypted()):
        result = ctx.case(image).run()
        assert result.plaintext == ctx.elf
        assert result.ta_floor == (ctx.uuid, ctx.ta_version)
    image, ta_uuid = subkey_chain_base(ctx)
    result = ctx.case(image, expected_uuid=ta_uuid).run()
    assert result.uuid == ta_uuid and len(result.chain) == 2


def test_small_key_fails_on_the_size_rule_alone(
    ctx: MutationContext, small_key: rsa.RSAPrivateKey
) -> None:
    # the same image passes every other check: its signature verifies with the small key
    from edbp.reference.optee.rsa_sig import verify_digest

    image = ctx.bootstrap(key=small_key)
    assert verify_digest(small_key.public_key(), 0x70414930, image[20:52], image[52:180])


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_is_refused_with_its_code(ctx: MutationContext, name: str) -> None:
    func, code = MUTATIONS[name]
    mutated = func(ctx)
    with pytest.raises(EdbpError) as info:
        mutated.run()
    assert info.value.code is code, f"{name}: {info.value}"
    if code is Code.TA_DECRYPT_FAILED:
        assert isinstance(info.value, DecryptionFailed)
        assert info.value.detail == ""  # no oracle
    else:
        assert isinstance(info.value, TAImageError)


def test_catalogue_shape() -> None:
    for name, (func, code) in MUTATIONS.items():
        assert callable(func) and inspect.signature(func).parameters
        assert func.__name__ == name, "each mutation is a named function under its own name"
        assert 500 <= int(code) < 600
    issue_cases = {
        "wrong_magic",
        "unknown_img_type",
        "legacy_type0_forbidden",
        "weak_algo_pkcs1_sha1",
        "non_rsa_algo_ecdsa",
        "hash_size_sha1_length",
        "sig_size_short",
        "key_under_2048_bits",
        "pss_labelled_pkcs1",
        "pkcs1_labelled_pss",
        "trailing_byte",
        "img_size_plus_one",
        "img_size_minus_one",
        "unknown_enc_algo_ccm",
        "iv_size_0",
        "iv_size_8",
        "iv_size_16",
        "iv_size_17",
        "tag_size_0",
        "tag_size_8",
        "tag_size_17",
        "flip_ciphertext",
        "flip_tag",
        "flip_iv",
        "another_devices_key",
        "hash_over_ciphertext",
        "version_below_floor",
        "uuid_mismatch",
        "subkey_depth_not_decreasing",
    }
    assert issue_cases <= set(MUTATIONS)
    assert sum(n.startswith("truncate_") for n in MUTATIONS) >= 14
    assert sum(n.startswith("xtest1008_") for n in MUTATIONS) == 10


def test_mutations_replay_byte_for_byte(ctx: MutationContext) -> None:
    for name, (func, _code) in MUTATIONS.items():
        assert func(ctx).image == func(ctx).image, name


def test_floor_semantics(ctx: MutationContext) -> None:
    image = ctx.encrypted()
    v = ctx.ta_version
    ctx.case(image, floors=VersionFloors({ctx.uuid: v - 1})).run()  # stored lower: accepted
    ctx.case(image, floors=VersionFloors({ctx.uuid: v})).run()  # equal: accepted
    with pytest.raises(TAImageError) as info:
        ctx.case(image, floors=VersionFloors({ctx.uuid: v + 1})).run()
    assert info.value.code is Code.TA_VERSION_ROLLBACK
    result = ctx.case(image, floors=VersionFloors()).run()
    floors = VersionFloors({ctx.uuid: v + 5}).raised(result.ta_floor, result.subkey_floors)
    assert floors.ta[ctx.uuid] == v + 5  # never lowered
    assert VersionFloors().raised(result.ta_floor).ta[ctx.uuid] == v
