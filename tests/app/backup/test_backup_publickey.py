"""Backups encrypted to public keys (age X25519 recipients): what goes in comes out with the
matching identity, another identity is refused as a wrong key, any change to the file as damage,
and identity files are written private, never overwritten, and never echoed in a message."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.backup import publickey
from app.backup.archive import ArchiveError, Damaged, WrongKey
from app.backup.publickey import KeyFileError

NOW = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
# age seals its payload in chunks of this many bytes.
AGE_CHUNK = 64 * 1024


@pytest.fixture
def identity_file(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "keys" / "backup-identity.txt"
    return path, publickey.generate_identity(path, NOW)


def sealed(tmp_path: Path, data: bytes, recipients: list[str]) -> bytes:
    plain = tmp_path / "plain"
    plain.write_bytes(data)
    out = io.BytesIO()
    publickey.encrypt_file(plain, out, publickey.parse_recipients(recipients))
    return out.getvalue()


def opened(tmp_path: Path, blob: bytes, identities: list[Path]) -> bytes:
    target = tmp_path / "opened"
    publickey.decrypt_file(io.BytesIO(blob), target, publickey.read_identities(identities))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    return target.read_bytes()


def test_the_identity_file_is_private_and_as_age_keygen_writes_it(
    identity_file: tuple[Path, str],
) -> None:
    path, recipient = identity_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert lines[0] == "# created: 2026-12-07T20:00:00+00:00"
    assert lines[1] == f"# public key: {recipient}"
    assert lines[2].startswith("AGE-SECRET-KEY-1") and len(lines) == 3
    assert recipient.startswith("age1")
    with pytest.raises(KeyFileError, match="never overwritten"):
        publickey.generate_identity(path, NOW)
    assert path.read_text().splitlines() == lines


@pytest.mark.parametrize("size", [0, 1, AGE_CHUNK, AGE_CHUNK + 1, 3 * AGE_CHUNK + 5])
def test_what_is_sealed_opens_with_the_identity(
    tmp_path: Path, identity_file: tuple[Path, str], size: int
) -> None:
    path, recipient = identity_file
    data = os.urandom(size)
    blob = sealed(tmp_path, data, [recipient])
    assert blob.startswith(publickey.AGE_MAGIC)
    assert path.read_text().splitlines()[2].encode() not in blob
    assert opened(tmp_path, blob, [path]) == data


def test_any_of_several_recipients_opens_it(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    recipients = [publickey.generate_identity(p, NOW) for p in (first, second)]
    blob = sealed(tmp_path, b"for either", recipients)
    assert opened(tmp_path, blob, [first]) == b"for either"
    assert opened(tmp_path, blob, [second]) == b"for either"


def test_another_identity_is_a_wrong_key(tmp_path: Path, identity_file: tuple[Path, str]) -> None:
    _path, recipient = identity_file
    other = tmp_path / "other"
    publickey.generate_identity(other, NOW)
    blob = sealed(tmp_path, os.urandom(1000), [recipient])
    with pytest.raises(WrongKey, match="no identity given opens the backup"):
        opened(tmp_path, blob, [other])


def flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1 :]


def header_end(blob: bytes) -> int:
    """Where the payload begins: after the ``---`` line that carries the header's MAC."""
    mac_line = blob.index(b"\n---") + 1
    return blob.index(b"\n", mac_line) + 1


CHANGES: dict[str, Callable[[bytes], bytes]] = {
    "a byte flipped in the second chunk": lambda b: flip(b, header_end(b) + 16 + AGE_CHUNK + 9),
    "a byte flipped in the header's MAC": lambda b: flip(b, header_end(b) - 5),
    "the version line changed": lambda b: flip(b, 5),
    "cut off at a chunk boundary": lambda b: b[: header_end(b) + 16 + AGE_CHUNK + 16],
    "cut in the middle of a chunk": lambda b: b[:-5],
    "cut in the header": lambda b: b[:40],
    "data appended": lambda b: b + b"more",
}


@pytest.mark.parametrize("what", list(CHANGES))
def test_a_changed_file_is_damaged(
    tmp_path: Path, identity_file: tuple[Path, str], what: str
) -> None:
    path, recipient = identity_file
    blob = sealed(tmp_path, os.urandom(2 * AGE_CHUNK + 100), [recipient])
    with pytest.raises(Damaged, match="damaged or altered"):
        opened(tmp_path, CHANGES[what](blob), [path])


def test_recipients_and_identities_files_skip_comments_and_blank_lines(
    tmp_path: Path, identity_file: tuple[Path, str]
) -> None:
    path, recipient = identity_file
    listed = tmp_path / "recipients.txt"
    listed.write_text(f"# the records team's restore key\n\n{recipient}\n")
    assert [str(r) for r in publickey.read_recipients_file(listed)] == [recipient]
    assert len(publickey.read_identities([path])) == 1


def test_a_key_that_is_not_one_is_refused_without_repeating_a_secret(
    tmp_path: Path, identity_file: tuple[Path, str]
) -> None:
    path, recipient = identity_file
    secret = path.read_text().splitlines()[2]
    # An identity pasted where a recipient belongs: refused, and not echoed.
    with pytest.raises(KeyFileError) as refused:
        publickey.parse_recipients([secret])
    assert secret not in str(refused.value) and "not an age1" in str(refused.value)
    with pytest.raises(KeyFileError, match="age1nope"):
        publickey.parse_recipients(["age1nope"])
    # A recipient, or a damaged identity, where an identity belongs.
    for text in (recipient, secret[:-3] + "QQQ"):
        wrong = tmp_path / "wrong"
        wrong.write_text(f"# a comment\n{text}\n")
        with pytest.raises(KeyFileError, match="key line 1 is not an age identity") as refused:
            publickey.read_identities([wrong])
        assert text not in str(refused.value)
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    with pytest.raises(KeyFileError, match="holds no identity"):
        publickey.read_identities([empty])
    with pytest.raises(KeyFileError, match="cannot read"):
        publickey.read_identities([tmp_path / "absent"])
    with pytest.raises(KeyFileError, match="no recipient"):
        publickey.encrypt_file(path, io.BytesIO(), [])


def test_key_file_errors_are_archive_errors() -> None:
    # The service maps every ArchiveError to a refusal the operator reads.
    assert issubclass(KeyFileError, ArchiveError)
