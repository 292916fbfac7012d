"""Sealed storage: OP-TEE's key ladder from the HUK, and tamper evidence of sealed files."""

from __future__ import annotations

import hashlib
import hmac
import struct
import uuid

import pytest
from edbp.reference.device.sealed_storage import (
    AGENT_TA_UUID,
    HUK_SUBKEY_RPMB,
    HUK_SUBKEY_TA_ENC,
    SealedStorage,
    StorageKeys,
    derive_ssk,
    derive_tsk,
    dummy_die_id,
    huk_subkey_derive,
)
from edbp.reference.device.storage import FaultyStorage, FileStorage, InjectedFault, MemoryStorage
from edbp.reference.rand import SeededRandom
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import Code, DecryptionFailed

HUK = bytes(range(16))


def test_ssk_is_optee_compat_derivation() -> None:
    # SSK = HMAC-SHA256(HUK, chip_id[32] || "ONLY_FOR_tee_fs_ssk\0"), chip id "BEEF"*8
    expected = hmac.new(HUK, b"BEEF" * 8 + b"ONLY_FOR_tee_fs_ssk\x00", hashlib.sha256).digest()
    assert dummy_die_id() == b"BEEF" * 8
    assert derive_ssk(HUK) == expected


def test_other_usages_hash_the_le32_usage() -> None:
    modulus = b"\xc3" * 256
    expected = hmac.new(HUK, struct.pack("<I", 4) + modulus, hashlib.sha256).digest()
    assert huk_subkey_derive(HUK, HUK_SUBKEY_TA_ENC, modulus) == expected
    # RPMB in compat mode hashes no usage word at all
    assert huk_subkey_derive(HUK, HUK_SUBKEY_RPMB, b"x") == hmac.new(HUK, b"x", "sha256").digest()
    assert (
        huk_subkey_derive(HUK, HUK_SUBKEY_RPMB, compat=False)
        == hmac.new(HUK, struct.pack("<I", 0), "sha256").digest()
    )


def test_tsk_hashes_the_tee_uuid_struct() -> None:
    u = uuid.UUID("8aaaf200-2450-11e4-abe2-0002a5d5c51b")
    ssk = derive_ssk(HUK)
    # TEE_UUID in memory: timeLow, timeMid, timeHiAndVersion little-endian, then 8 bytes
    raw = bytes.fromhex("00f2aa8a5024e411abe20002a5d5c51b")
    assert derive_tsk(ssk, u) == hmac.new(ssk, raw, hashlib.sha256).digest()


def _store(storage=None, chunk: int = 64, seed: str = "s") -> SealedStorage:
    return SealedStorage(
        storage if storage is not None else MemoryStorage(),
        StorageKeys.from_huk(HUK),
        SeededRandom(seed),
        chunk_size=chunk,
    )


@given(st.binary(max_size=400), st.integers(16, 100))
def test_round_trip(data: bytes, chunk: int) -> None:
    store = _store(chunk=chunk)
    store.put("a/b", data)
    assert store.get("a/b") == data
    assert len(data) < 8 or data not in store.storage.read("a/b")[35:]  # past the header


def test_file_storage_round_trip(tmp_path) -> None:
    store = _store(FileStorage(tmp_path))
    store.write_stream("big", (bytes([i]) * 100 for i in range(50)))
    assert b"".join(store.read_stream("big")) == b"".join(bytes([i]) * 100 for i in range(50))


def _refused(store: SealedStorage, name: str) -> None:
    with pytest.raises(DecryptionFailed) as exc:
        store.get(name)
    assert exc.value.code == Code.AGENT_STORAGE_CORRUPT
    assert str(exc.value) == "AGENT_STORAGE_CORRUPT (609)"  # no detail


def test_every_flipped_byte_is_refused() -> None:
    store = _store()
    store.put("rec", b"x" * 150)
    good = store.storage.read("rec")
    for i in range(len(good)):
        bad = bytearray(good)
        bad[i] ^= 0x01
        store.storage.write("rec", [bytes(bad)])
        _refused(store, "rec")


def test_truncation_extension_swap_and_other_device() -> None:
    store = _store()
    store.put("one", b"1" * 200)
    store.put("two", b"2" * 200)
    one = store.storage.read("one")
    for cut in (1, 16, 17, 63, len(one) - 35):
        store.storage.write("t", [one[:-cut]])
        _refused(store, "t")
    store.storage.write("t", [one + b"\x00"])
    _refused(store, "t")
    store.storage.write("two", [one])  # a file moved under another name
    _refused(store, "two")
    other = SealedStorage(store.storage, StorageKeys.from_huk(b"\x01" * 16), chunk_size=64)
    _refused(other, "one")
    other_ta = SealedStorage(store.storage, StorageKeys.from_huk(HUK, uuid.uuid4()), chunk_size=64)
    _refused(other_ta, "one")
    _refused(store, "missing")


def test_dropping_a_whole_final_chunk_is_refused() -> None:
    store = _store(chunk=64)
    store.put("rec", b"z" * 64 * 3)  # three full chunks, the last one flagged final
    data = store.storage.read("rec")
    store.storage.write("rec", [data[: len(data) - 80]])
    _refused(store, "rec")


def test_failed_put_keeps_the_old_record() -> None:
    for fail_at in range(1, 6):
        inner = MemoryStorage()
        store = _store(inner)
        store.put("rec", b"old")
        faulty = FaultyStorage(inner, fail_at=fail_at)
        store.storage = faulty
        try:
            store.put("rec", b"new" * 100)
        except InjectedFault:
            store.storage = inner
            assert store.get("rec") == b"old"
        else:
            assert store.get("rec") == b"new" * 100


def test_secrets_not_in_repr() -> None:
    keys = StorageKeys.from_huk(HUK)
    assert keys.tsk.hex() not in repr(keys)
    assert AGENT_TA_UUID.version == 5
