"""Sealed storage streaming: any piece sizes seal to the same chunk layout, and the seekable
reader the TA check uses returns exactly the plaintext, forwards and after backward seeks."""

from __future__ import annotations

import io

import pytest
from edbp.reference.device.sealed_storage import SealedStorage, StorageKeys
from edbp.reference.device.storage import MemoryStorage
from edbp.reference.rand import SeededRandom

from edbp.errors import Code, DecryptionFailed

DATA = bytes((i * 7 + 3) & 0xFF for i in range(10_000))


def _sealed(seed: str = "s") -> SealedStorage:
    return SealedStorage(
        MemoryStorage(), StorageKeys.from_huk(bytes(16)), SeededRandom(seed), chunk_size=1000
    )


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 5000, 10_000])
@pytest.mark.parametrize("piece", [1, 333, 1000, 1500, 20_000])
def test_any_piece_size_gives_the_same_file(size: int, piece: int) -> None:
    ref, got = _sealed(), _sealed()
    ref.write_stream("f", [DATA[:size]])
    data = DATA[:size]
    got.write_stream("f", [data[i : i + piece] for i in range(0, size, piece)])
    assert got.storage.read("f") == ref.storage.read("f")
    assert b"".join(got.read_stream("f")) == DATA[:size]
    assert got.plaintext_size("f") == size


def test_reader_seeks_and_reads_exactly() -> None:
    sealed = _sealed()
    sealed.write_stream("f", [DATA])
    with sealed.open("f") as f:
        assert f.seek(0, io.SEEK_END) == len(DATA)
        f.seek(2500)
        assert f.read(1700) == DATA[2500:4200]
        f.seek(10)  # backwards: the stream restarts
        assert f.read(20) == DATA[10:30]
        f.seek(0)
        assert f.read() == DATA


def test_reader_refuses_a_tampered_file() -> None:
    sealed = _sealed()
    sealed.write_stream("f", [DATA])
    raw = bytearray(sealed.storage.read("f"))
    raw[-5] ^= 1
    sealed.storage.write("f", [bytes(raw)])
    with sealed.open("f") as f, pytest.raises(DecryptionFailed) as info:
        f.read()
    assert info.value.code is Code.AGENT_STORAGE_CORRUPT
    sealed.storage.write("g", [bytes(raw[:40])])  # a size no sealed file has
    with pytest.raises(DecryptionFailed):
        sealed.open("g")
