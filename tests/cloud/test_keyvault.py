"""KeyVault: one suite, both backends (software; SoftHSM2 through PKCS#11)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from edbp.reference.cloud.keyvault import KeyVault, WrappedCek
from edbp.reference.cloud.keyvault_software import SoftwareKeyVault
from edbp.reference.rand import SeededRandom

from edbp.errors import Code, DecryptionFailed, KeyVaultError

CEK = bytes(range(16))


def unwrap(vault: KeyVault, wrapped: WrappedCek) -> bytes:
    """The CEK as the re-wrap sees it (copied out of the seal on purpose, test only)."""
    return vault.rewrap(wrapped, bytes)


def test_create_wrap_and_rewrap_round_trip(vault: KeyVault) -> None:
    assert vault.create_class_key("app1/classA") == 1
    assert vault.exists("app1/classA") and vault.versions("app1/classA") == (1,)
    for cek in (CEK, os.urandom(24), bytearray(os.urandom(32))):
        w = vault.wrap_cek("app1/classA", cek)
        assert w.version == 1 and len(w.wrapped) == len(cek) + 8
        assert bytes(cek) not in w.wrapped
        assert unwrap(vault, w) == bytes(cek)


def test_seal_gets_a_buffer_that_is_wiped_afterwards(vault: KeyVault) -> None:
    vault.create_class_key("k")
    w = vault.wrap_cek("k", CEK)
    seen: list[bytearray] = []

    def seal(cek: bytearray) -> int:
        seen.append(cek)  # a misbehaving seal keeps a reference: it must find zeros
        return len(cek)

    assert vault.rewrap(w, seal) == 16
    assert seen[0] == bytearray(16)


def test_seal_failure_still_wipes(vault: KeyVault) -> None:
    vault.create_class_key("k")
    w = vault.wrap_cek("k", CEK)
    seen: list[bytearray] = []

    def seal(cek: bytearray) -> None:
        seen.append(cek)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        vault.rewrap(w, seal)
    assert seen[0] == bytearray(16)


def test_create_refuses_to_overwrite(vault: KeyVault) -> None:
    vault.create_class_key("k")
    w = vault.wrap_cek("k", CEK)
    with pytest.raises(KeyVaultError) as e:
        vault.create_class_key("k")
    assert e.value.code == Code.KEYVAULT_KEY_EXISTS
    assert unwrap(vault, w) == CEK  # the original key is still the one in use


def test_unknown_key_and_bad_ids(vault: KeyVault) -> None:
    with pytest.raises(KeyVaultError) as e:
        vault.wrap_cek("nope", CEK)
    assert e.value.code == Code.KEYVAULT_NO_SUCH_KEY
    for bad in ("", "a b", "x" * 129, "é", 5):
        with pytest.raises(KeyVaultError) as e:
            vault.create_class_key(bad)  # type: ignore[arg-type]
        assert e.value.code == Code.KEYVAULT_BAD_KEY_ID
    vault.create_class_key("k")
    for cek in (b"", b"x" * 15, b"x" * 33, "text"):
        with pytest.raises(KeyVaultError) as e:
            vault.wrap_cek("k", cek)  # type: ignore[arg-type]
        assert e.value.code == Code.KEYVAULT_OPERATION_FAILED
    with pytest.raises(KeyVaultError) as e:
        vault.rewrap(WrappedCek("k", 7, b"\x00" * 24), bytes)
    assert e.value.code == Code.KEYVAULT_NO_SUCH_KEY


def test_tampered_or_foreign_wrapped_cek_is_refused_without_detail(vault: KeyVault) -> None:
    vault.create_class_key("a")
    vault.create_class_key("b")
    w = vault.wrap_cek("a", CEK)
    flipped = WrappedCek("a", 1, w.wrapped[:-1] + bytes([w.wrapped[-1] ^ 1]))
    foreign = WrappedCek("b", 1, w.wrapped)  # wrapped under a, presented as b
    outside = WrappedCek("a", 1, aes_key_wrap(b"\x07" * 32, CEK))
    messages = set()
    for bad in (flipped, foreign, outside):
        with pytest.raises(DecryptionFailed) as e:
            vault.rewrap(bad, bytes)
        assert e.value.code == Code.KEYVAULT_UNWRAP_FAILED
        messages.add(str(e.value))
    assert len(messages) == 1  # every cause looks the same


def test_wrapped_cek_shape_is_checked() -> None:
    for args in (("k", 0, b"\x00" * 24), ("bad id", 1, b"\x00" * 24)):
        with pytest.raises(KeyVaultError):
            WrappedCek(*args)


def test_short_wrapped_cek_looks_like_any_other_unwrap_failure(vault: KeyVault) -> None:
    """A wrapped CEK of the wrong length (8 bytes short, one byte long) is 725 with no detail,
    exactly as a changed one: its length is no oracle (issue 16)."""
    vault.create_class_key("a")
    w = vault.wrap_cek("a", CEK)
    flipped = WrappedCek("a", 1, w.wrapped[:-1] + bytes([w.wrapped[-1] ^ 1]))
    with pytest.raises(DecryptionFailed) as changed:
        vault.rewrap(flipped, bytes)
    for wrong in (w.wrapped[:-8], w.wrapped + b"\x00", b"\x00" * 23):
        with pytest.raises(DecryptionFailed) as e:
            vault.rewrap(WrappedCek("a", 1, wrong), bytes)  # refused as it is built
        assert e.value.code == Code.KEYVAULT_UNWRAP_FAILED and e.value.detail == ""
        assert str(e.value) == str(changed.value)


def test_rotate_keeps_old_versions_for_unwrap(vault: KeyVault) -> None:
    vault.create_class_key("k")
    old = vault.wrap_cek("k", CEK)
    assert vault.rotate("k") == 2 and vault.current_version("k") == 2
    new = vault.wrap_cek("k", CEK)
    assert new.version == 2 and new.wrapped != old.wrapped
    assert unwrap(vault, old) == CEK and unwrap(vault, new) == CEK
    moved = vault.rewrap_to_current(old)
    assert moved.version == 2 and unwrap(vault, moved) == CEK
    vault.delete("k", version=1)
    assert vault.versions("k") == (2,)
    with pytest.raises(KeyVaultError) as e:
        vault.rewrap(old, bytes)
    assert e.value.code == Code.KEYVAULT_NO_SUCH_KEY
    assert unwrap(vault, moved) == CEK
    with pytest.raises(KeyVaultError):
        vault.rotate("missing")


def test_delete_destroys_every_version(vault: KeyVault) -> None:
    vault.create_class_key("k")
    vault.rotate("k")
    w = vault.wrap_cek("k", CEK)
    vault.delete("k")
    assert not vault.exists("k") and vault.versions("k") == ()
    with pytest.raises(KeyVaultError) as e:
        vault.rewrap(w, bytes)
    assert e.value.code == Code.KEYVAULT_NO_SUCH_KEY
    with pytest.raises(KeyVaultError):
        vault.delete("k")
    # the name is free again, with a different key
    vault.create_class_key("k")
    with pytest.raises(DecryptionFailed):
        vault.rewrap(WrappedCek("k", 1, w.wrapped), bytes)


def test_keys_are_independent(vault: KeyVault) -> None:
    vault.create_class_key("a")
    vault.create_class_key("b")
    wa, wb = vault.wrap_cek("a", CEK), vault.wrap_cek("b", CEK)
    assert wa.wrapped != wb.wrapped
    vault.delete("a")
    assert unwrap(vault, wb) == CEK


def test_repr_names_no_secret(vault: KeyVault) -> None:
    assert "M" * 32 not in repr(vault) and "pin" not in repr(vault).lower()


# ------------------------------------------------------------------ software backend only


def test_software_store_persists_and_never_holds_the_key_in_clear(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "store"
    master = os.urandom(32)
    kv = SoftwareKeyVault(path, master, rng=SeededRandom("proof"))
    kv.create_class_key("k")
    kv.rotate("k")
    w1 = WrappedCek("k", 1, kv.wrap_cek("k", CEK).wrapped)  # wrapped under v2 but named v1 ...
    w2 = kv.wrap_cek("k", CEK)
    kv.close()
    # recompute the class keys from the seed the vault drew them from, and prove they are right
    keys = [SeededRandom("proof").fork(f"class-key/k/{v}").random_bytes(32) for v in (1, 2)]
    assert aes_key_unwrap(keys[1], w2.wrapped) == CEK
    blob = path.read_bytes()
    for key in keys:
        assert key not in blob
        for i in range(0, 32 - 8):
            assert key[i : i + 8] not in blob  # not even an 8-byte piece
    assert master not in blob and CEK not in blob
    # a new process with the same master key reads it back
    kv2 = SoftwareKeyVault(path, master)
    assert kv2.versions("k") == (1, 2)
    assert unwrap(kv2, w2) == CEK
    with pytest.raises(DecryptionFailed) as e:
        kv2.rewrap(w1, bytes)  # ... so v1 cannot unwrap it: the versions are distinct keys
    assert e.value.code == Code.KEYVAULT_UNWRAP_FAILED
    assert not list(tmp_path.glob(".store.tmp*"))  # atomic write left no temporary behind


def test_software_store_refuses_wrong_master_key_and_tampering(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "store"
    SoftwareKeyVault(path, b"A" * 32).create_class_key("k")
    with pytest.raises(KeyVaultError) as e:
        SoftwareKeyVault(path, b"B" * 32)
    assert e.value.code == Code.KEYVAULT_SEALED_STORE_INVALID
    blob = bytearray(path.read_bytes())
    for i in (0, 9, 30, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        path.write_bytes(bytes(bad))
        with pytest.raises(KeyVaultError) as e:
            SoftwareKeyVault(path, b"A" * 32)
        assert e.value.code == Code.KEYVAULT_SEALED_STORE_INVALID
    path.write_bytes(bytes(blob[:20]))
    with pytest.raises(KeyVaultError):
        SoftwareKeyVault(path, b"A" * 32)
    with pytest.raises(KeyVaultError) as e:
        SoftwareKeyVault(path, b"short")
    assert e.value.code == Code.KEYVAULT_BACKEND_UNAVAILABLE


# ------------------------------------------------------------------ PKCS#11 backend only


@pytest.mark.softhsm
def test_pkcs11_class_key_cannot_be_read_or_exported(softhsm_token) -> None:  # type: ignore[no-untyped-def]
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

    kv = softhsm_token.open_vault(namespace="readtest")
    kv.create_class_key("secret")
    w = kv.wrap_cek("secret", CEK)
    # go around the vault: a raw PKCS#11 session on the same token, as an insider would
    token = pkcs11.lib(softhsm_token.module).get_token(token_label=softhsm_token.label)
    with token.open(
        rw=True
    ) as s:  # the vault logged this process in (PKCS#11 login is per process)
        (ck,) = s.get_objects({Attribute.LABEL: "edbp-ck:readtest:secret#v1"})
        assert ck[Attribute.EXTRACTABLE] is False
        assert ck[Attribute.SENSITIVE] is True
        assert ck[Attribute.NEVER_EXTRACTABLE] is True
        assert ck[Attribute.ALWAYS_SENSITIVE] is True
        assert ck[Attribute.ENCRYPT] is False and ck[Attribute.DECRYPT] is False
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            ck[Attribute.VALUE]
        other = s.generate_key(KeyType.AES, 256, store=False, template={Attribute.WRAP: True})
        with pytest.raises(pkcs11.PKCS11Error):  # C_WrapKey of the class key is refused
            other.wrap_key(ck, mechanism=Mechanism.AES_KEY_WRAP)
        with pytest.raises(pkcs11.PKCS11Error):  # and it cannot be made extractable
            ck[Attribute.EXTRACTABLE] = True
        # the wrap is real RFC 3394: the token unwraps what the vault returned
        cek = ck.unwrap_key(
            ObjectClass.SECRET_KEY,
            KeyType.AES,
            w.wrapped,
            mechanism=Mechanism.AES_KEY_WRAP,
            store=False,
            template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False},
        )
        assert cek[Attribute.VALUE] == CEK
        # no transient CEK object was left behind by wrap/rewrap
        unwrap(kv, w)
        leftovers = [
            o for o in s.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}) if not o.label
        ]
        assert all(not o[Attribute.TOKEN] for o in leftovers)
    kv.close()


@pytest.mark.softhsm
def test_pkcs11_class_key_survives_reopen(softhsm_token) -> None:  # type: ignore[no-untyped-def]
    kv = softhsm_token.open_vault(namespace="reopen")
    kv.create_class_key("k")
    w = kv.wrap_cek("k", CEK)
    kv.close()
    kv2 = softhsm_token.open_vault(namespace="reopen")
    assert unwrap(kv2, w) == CEK
    kv2.close()
    assert softhsm_token.open_vault(namespace="elsewhere").versions("k") == ()


def test_pkcs11_unavailable_backend_is_a_typed_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pkcs11")
    from edbp.reference.cloud.keyvault_pkcs11 import Pkcs11KeyVault

    with pytest.raises(KeyVaultError) as e:
        Pkcs11KeyVault(str(tmp_path / "no-such-module.so"), "x", "1234")
    assert e.value.code == Code.KEYVAULT_BACKEND_UNAVAILABLE


def test_has_version_answers_as_versions(vault: KeyVault) -> None:
    """``rewrap``'s version check (``_has_version``, answered directly by a backend) says what
    ``versions`` says, before and after a rotation and a deletion, for a key that is absent."""
    vault.create_class_key("hv")
    vault.rotate("hv")
    vault.delete("hv", 1)
    for key_id in ("hv", "absent"):
        for version in (1, 2, 3):
            assert vault._has_version(key_id, version) == (version in vault.versions(key_id))
    w = vault.wrap_cek("hv", CEK)
    with pytest.raises(KeyVaultError) as e:
        vault.rewrap(WrappedCek("hv", 1, w.wrapped), bytes)
    assert e.value.code is Code.KEYVAULT_NO_SUCH_KEY
