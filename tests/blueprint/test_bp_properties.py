"""Hypothesis: untrusted bytes only ever give EdbpError; manifests round-trip; spec agrees."""

from __future__ import annotations

import io
import re
from pathlib import Path

from edbp.reference.blueprint import cpm as C
from edbp.reference.blueprint.manifest import Manifest, Variant, parse_manifest
from edbp.reference.blueprint.mutations import CPK_MUTATIONS, WRAPPED_KEY_MUTATIONS
from edbp.reference.blueprint.package import CpkReader
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import EdbpError

SPEC = (Path(__file__).resolve().parents[2] / "spec" / "blueprint.md").read_text("utf-8")


@given(st.binary(max_size=400), st.booleans())
def test_random_bytes_give_only_edbp_errors(data: bytes, strict: bool) -> None:
    try:
        CpkReader(io.BytesIO(data), strict=strict).parts()
    except EdbpError:
        pass


@given(st.integers(0, 1 << 16), st.integers(0, 255))
def test_mutated_valid_package_gives_only_edbp_errors(pos: int, byte: int) -> None:
    base = bytearray(_BASE)
    base[pos % len(base)] = byte
    for strict in (False, True):
        try:
            CpkReader(io.BytesIO(bytes(base)), strict=strict).parts()
        except EdbpError:
            pass


_BASE = b""


def setup_module() -> None:
    global _BASE
    from edbp.reference.blueprint.mutations import make_context

    _BASE = make_context(3).build("as-published")


u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
text = st.text(max_size=20)


@given(text, text, text, u16, u32, u32, u32, text, u16, u16, st.lists(u16, max_size=8, unique=True))
def test_manifest_round_trip(cp_id, name, vendor, data, a, b, c, date, n, t, pmap) -> None:
    m = Manifest(
        cp_id=cp_id,
        cp_name=name,
        cp_vendor=vendor,
        payload_data=data,
        ver=(a, b, c),
        date=date,
        enc=Variant.make("enc", "aes-gcm", key_name=cp_id, key_strength=256, nonce=n, tag=t),
        dig=Variant.make("dig", "sha256", data=n),
        sig=Variant("none"),
        cert=Variant.make("cert", "url", url=vendor),
        package_map=tuple(pmap),
    )
    assert parse_manifest(m.to_bytes(), strict=True) == m


def test_spec_names_exist_in_the_reference() -> None:
    for name in re.findall(r"mutations? `([a-z0-9_]+)`", SPEC) + re.findall(
        r"`(attacker_[a-z_]+|manifest_[a-z_]+_substituted|ciphertext_spliced_from_other_package)`",
        SPEC,
    ):
        assert name in CPK_MUTATIONS, name
    for rc, const in (
        (-5, C.RC_BAD_STATE),
        (-6, C.RC_NO_KEY),
        (-7, C.RC_NOT_VERIFIED),
        (-8, C.RC_ROLLBACK),
        (-9, C.RC_SIZE),
    ):
        assert rc == const
        assert f"{rc}".replace("-", "−") in SPEC
    assert C.CPM_TA_UUID in SPEC
    for line in ("ffffbf00", "ffffbc00", "ffffbf80", "ffffbcfc", "ffffc180"):
        assert line in SPEC
    assert "valid" in WRAPPED_KEY_MUTATIONS
