"""Dolev-Yao terms and instance parameters."""

from __future__ import annotations

import pytest
from edbp.model.instance import Instance, parse_instance
from edbp.model.terms import analyze, can_build, enc, pub, render, sig, wrap

from edbp.errors import Code, ConfigError


def test_analysis_opens_only_with_the_right_key() -> None:
    cek, dak = ("cek", 0, 1), ("dak", 0)
    msg = sig(("tsk",), ("upd", 0, ("nonce", 0), wrap(pub(dak), cek)))
    know = analyze({msg})
    assert ("upd", 0, ("nonce", 0), wrap(pub(dak), cek)) in know
    assert cek not in know
    assert cek in analyze({msg, dak})


def test_analysis_reaches_a_fixpoint_through_nested_keys() -> None:
    ck, cek = ("ck", 0), ("cek", 0, 1)
    ct = enc(cek, ("pt", 0, 1))
    know = analyze({ct, wrap(ck, cek), wrap(pub(("atk",)), ck), ("atk",)})
    assert {ck, cek, ("pt", 0, 1)} <= know


def test_synthesis_needs_the_signing_key() -> None:
    know = analyze({("atk",), ("nonce", 3)})
    assert can_build(sig(("atk",), ("ev", ("nonce", 3), 0)), know)
    assert not can_build(sig(("dsk", 0), ("ev", ("nonce", 3), 0)), know)
    assert not can_build(("nonce", 4), know)  # nonces are fresh
    assert can_build(wrap(pub(("dak", 1)), ("atk",)), know)  # anyone encrypts to a public key


def test_render_is_readable() -> None:
    assert render(wrap(pub(("dak", 1)), ("cek", 0, 2))) == "wrap[pub(DAK1)](CEK0.2)"


def test_instance_parsing() -> None:
    assert parse_instance("devices=3, versions=3") == Instance(devices=3, versions=3)
    assert parse_instance(None) == Instance()
    for bad in ("devices=9", "nope=1", "devices=x", "devices"):
        with pytest.raises(ConfigError) as exc:
            parse_instance(bad)
        assert exc.value.code is Code.MODEL_BAD_INSTANCE
