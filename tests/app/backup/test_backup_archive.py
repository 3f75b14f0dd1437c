"""The backup archive's encryption: what goes in comes out, and a wrong passphrase or any change
to the file (a flipped byte, a chunk cut off or added, the header) is refused."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from app.backup import archive
from app.backup.archive import (
    ArchiveError,
    Damaged,
    WrongKey,
    decrypt_file,
    encrypt_file,
    is_encrypted,
)

PASSPHRASE = "a test passphrase"


@pytest.fixture(autouse=True)
def small_chunks_and_cheap_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small chunks so a small file spans several; a cheap key stretch to keep the tests quick
    # (the header carries the cost, so decryption follows whatever encryption used).
    monkeypatch.setattr(archive, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(archive, "SCRYPT_LOG2_N", 10)


def sealed(tmp_path: Path, data: bytes) -> bytes:
    plain = tmp_path / "plain"
    plain.write_bytes(data)
    out = io.BytesIO()
    encrypt_file(plain, out, PASSPHRASE)
    return out.getvalue()


def opened(tmp_path: Path, blob: bytes, passphrase: str = PASSPHRASE) -> bytes:
    target = tmp_path / "opened"
    decrypt_file(io.BytesIO(blob), target, passphrase)
    return target.read_bytes()


@pytest.mark.parametrize("size", [0, 1, 1024, 1025, 5000])
def test_what_is_sealed_opens_with_the_passphrase(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    blob = sealed(tmp_path, data)
    # (A byte or two of plaintext may turn up in random ciphertext by chance.)
    assert data not in blob or size < 16
    assert opened(tmp_path, blob) == data


def test_the_sealed_file_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "backup"
    path.write_bytes(sealed(tmp_path, b"x"))
    assert is_encrypted(path)
    path.write_bytes(b"\x1f\x8b not sealed")
    assert not is_encrypted(path)


def test_a_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    blob = sealed(tmp_path, os.urandom(3000))
    with pytest.raises(WrongKey, match="passphrase is wrong"):
        opened(tmp_path, blob, "another passphrase")


HEADER_END = len(archive.MAGIC) + archive._HEADER.size
SEALED_CHUNK = 4 + 1024 + archive.TAG_BYTES  # a length, 1024 bytes sealed, the tag
LAST_CHUNK = 4 + 3000 - 2 * 1024 + archive.TAG_BYTES


def flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1 :]


def chunk(blob: bytes, n: int) -> bytes:
    return blob[HEADER_END + n * SEALED_CHUNK : HEADER_END + (n + 1) * SEALED_CHUNK]


# Each change, the message it is refused with, and its kind: a damaged archive, except where
# the change cannot be told from a wrong passphrase (the first chunk does not open).
CHANGES: dict[str, tuple[Callable[[bytes], bytes], str, type[ArchiveError]]] = {
    "a byte flipped in the second chunk": (
        lambda b: flip(b, HEADER_END + SEALED_CHUNK + 100),
        "chunk 1 does not verify",
        Damaged,
    ),
    "the last chunk cut off at a chunk boundary": (
        lambda b: b[: HEADER_END + 2 * SEALED_CHUNK],
        "cut off",
        Damaged,
    ),
    "cut in the middle of a chunk": (lambda b: b[:-5], "cut off", Damaged),
    "the salt changed (another key)": (
        lambda b: flip(b, len(archive.MAGIC)),
        "passphrase is wrong",
        WrongKey,
    ),
    "the last chunk appended again": (
        lambda b: b + b[-LAST_CHUNK:],
        "after its last chunk",
        Damaged,
    ),
    "two chunks swapped": (
        lambda b: b[:HEADER_END] + chunk(b, 1) + chunk(b, 0) + b[HEADER_END + 2 * SEALED_CHUNK :],
        "altered",
        WrongKey,  # chunk 0 is where a wrong key shows; a chunk moved there looks the same
    ),
    "not a sealed backup at all": (
        lambda b: b"PK\x03\x04" + b[4:],
        "not an encrypted Teamwell backup",
        Damaged,
    ),
}


@pytest.mark.parametrize("what", list(CHANGES))
def test_a_changed_file_is_refused(tmp_path: Path, what: str) -> None:
    change, reason, kind = CHANGES[what]
    blob = sealed(tmp_path, os.urandom(3000))  # chunks of 1024, 1024 and 952 bytes
    assert len(blob) == HEADER_END + 2 * SEALED_CHUNK + LAST_CHUNK
    with pytest.raises(kind, match=reason):
        opened(tmp_path, change(blob))
