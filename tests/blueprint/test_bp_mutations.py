"""The public mutation catalogues: every expectation is checked by running it."""

from __future__ import annotations

import pytest
from edbp.reference.blueprint import cpm as C
from edbp.reference.blueprint.mutations import (
    CPK_MUTATIONS,
    WRAPPED_KEY_MUTATIONS,
    expected_lines,
    run_cpk,
    run_wrapped_key,
)


@pytest.mark.parametrize("behaviour", C.BEHAVIOURS)
@pytest.mark.parametrize("name", list(CPK_MUTATIONS))
def test_cpk_mutation_outcome(ctx, name: str, behaviour: str) -> None:
    m = CPK_MUTATIONS[name]
    cpk = m.apply(ctx, behaviour)
    if name != "valid" and name != "padding_between_streams":
        assert cpk != ctx.base(behaviour)
    assert run_cpk(ctx, behaviour, cpk) == m.expect[behaviour]


def test_catalogue_covers_the_brief() -> None:
    names = set(CPK_MUTATIONS)
    for must in (
        "bad_magic",
        "frame_version_2",
        "flags_nonzero",
        "zero_streams",
        "manifest_index_out_of_range",
        "manifest_type_2",
        "manifest_version_2",
        "nonce_overlaps_tag",
        "payload_size_beyond_file",
        "manifest_not_json",
        "manifest_missing_payload",
        "manifest_nonce_index_out_of_range",
        "tag_bitflip",
        "nonce_bitflip",
        "digest_bitflip",
        "signature_bitflip",
        "certificate_not_pem",
    ):
        assert must in names
    differ = [n for n, m in CPK_MUTATIONS.items() if m.expect["as-published"] != m.expect["fixed"]]
    assert "attacker_built_package" in differ and "manifest_cp_id_substituted" in differ


@pytest.mark.parametrize("behaviour", C.BEHAVIOURS)
@pytest.mark.parametrize("name", list(WRAPPED_KEY_MUTATIONS))
def test_wrapped_key_mutation_outcome(ctx, name: str, behaviour: str) -> None:
    cpm = ctx.cpm(behaviour)
    cpm.handle(C.Ping())
    m = WRAPPED_KEY_MUTATIONS[name]
    wrapped = m.apply(cpm.device_public_key, ctx.class_key, ctx.rng.fork(f"wk/{name}"))
    assert run_wrapped_key(cpm, wrapped) == expected_lines(m.expect[behaviour], wrapped)


def _observations(ctx, behaviour: str) -> dict[str, tuple]:
    out = {}
    for name, m in WRAPPED_KEY_MUTATIONS.items():
        if name == "valid":
            continue
        cpm = ctx.cpm(behaviour)
        cpm.handle(C.Ping())
        wrapped = m.apply(cpm.device_public_key, ctx.class_key, ctx.rng.fork(f"obs/{name}"))
        out[name] = run_wrapped_key(cpm, wrapped)
    return out


def test_bleichenbacher_oracle_as_published_uniform_when_fixed(ctx) -> None:
    published = _observations(ctx, "as-published")
    # a conformant block and a bad padding look different to the REE: that is the oracle
    assert published["key_16_bytes"] != published["block_type_1"]
    assert published["empty_message"] != published["padding_string_too_short"]
    assert len({obs for obs in published.values()}) >= 4
    fixed = _observations(ctx, "fixed")
    assert len(set(fixed.values())) == 1  # every failure looks the same
