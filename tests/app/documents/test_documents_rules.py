"""The documents' pure parts, at their edges and without a server: download tokens (with ``now``
given), envelope sealing and what its associated data binds, the local folder store, and the
documents settings refused at start when they cannot work."""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.documents import sealing, service, tokens
from app.documents.models import DocumentUpload, DocumentVersion
from app.documents.storage import LocalFolderStore, StoredObjectMissing
from app.messaging.keyring import MessageKeyring

SECRET = "a-document-token-secret-of-32-characters-or-more"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
KEYRING = MessageKeyring({"k1": bytes(range(32))}, "k1")


def grant(**changes: object) -> tokens.DownloadGrant:
    values: dict[str, object] = {
        "version_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "expires_at": NOW + timedelta(minutes=5),
        "inline": False,
        **changes,
    }
    return tokens.DownloadGrant(**values)  # type: ignore[arg-type]


# --- download tokens ------------------------------------------------------------------------------


def test_a_token_carries_its_grant_until_the_second_it_expires() -> None:
    given = grant(inline=True)
    token = tokens.mint(SECRET, given)
    assert tokens.read(SECRET, token, now=NOW) == given
    last_moment = given.expires_at - timedelta(microseconds=1)
    assert tokens.read(SECRET, token, now=last_moment) == given
    with pytest.raises(tokens.TokenRefused) as expired:
        tokens.read(SECRET, token, now=given.expires_at)
    assert expired.value.reason == "expired" and expired.value.grant == given


def test_a_token_under_another_secret_or_altered_is_refused_naming_nobody() -> None:
    token = tokens.mint(SECRET, grant())
    with pytest.raises(tokens.TokenRefused) as forged:
        tokens.read(SECRET + "x", token, now=NOW)
    assert forged.value.grant is None and "signature" in forged.value.reason
    payload, mac = token.split(".")
    for altered in (payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + mac, token + "A"):
        with pytest.raises(tokens.TokenRefused):
            tokens.read(SECRET, altered, now=NOW)


@pytest.mark.parametrize("junk", ["", ".", "a.b.c", "not base64!.x", "x" * 401, "ab.cd"])
def test_junk_is_not_a_token(junk: str) -> None:
    with pytest.raises(tokens.TokenRefused):
        tokens.read(SECRET, junk, now=NOW)


# --- sealing --------------------------------------------------------------------------------------


def test_a_sealed_object_opens_only_where_it_belongs() -> None:
    key = sealing.new_data_key()
    document, version = uuid.uuid4(), uuid.uuid4()
    aad = sealing.object_aad(document, version)
    blob = sealing.seal(b"Dear employer", key, aad=aad)
    assert b"Dear employer" not in blob
    assert sealing.open_sealed(blob, key, aad=aad) == b"Dear employer"
    with pytest.raises(sealing.UndecryptableDocument):
        sealing.open_sealed(blob, key, aad=sealing.object_aad(document, uuid.uuid4()))
    with pytest.raises(sealing.UndecryptableDocument):
        sealing.open_sealed(blob, sealing.new_data_key(), aad=aad)
    with pytest.raises(sealing.UndecryptableDocument):
        sealing.open_sealed(blob[:-1] + bytes([blob[-1] ^ 1]), key, aad=aad)
    # Two seals of the same content differ (a fresh nonce each time).
    assert sealing.seal(b"same", key, aad=aad) != sealing.seal(b"same", key, aad=aad)


def test_a_wrapped_data_key_opens_only_on_its_row_and_after_rotation() -> None:
    key, row = sealing.new_data_key(), uuid.uuid4()
    key_id, wrapped = sealing.wrap(KEYRING, key, row_id=row)
    assert key not in wrapped and key_id == "k1"
    assert sealing.unwrap(KEYRING, key_id, wrapped, row_id=row) == key
    with pytest.raises(sealing.UndecryptableDocument):
        sealing.unwrap(KEYRING, key_id, wrapped, row_id=uuid.uuid4())
    rotated = MessageKeyring({"k1": bytes(range(32)), "k2": bytes(32)}, "k2")
    assert sealing.unwrap(rotated, key_id, wrapped, row_id=row) == key  # old key still opens
    new_id, rewrapped = sealing.wrap(rotated, key, row_id=row)
    assert new_id == "k2" and sealing.unwrap(rotated, new_id, rewrapped, row_id=row) == key


# --- segments: each chunk sealed on arrival, opened in order ------------------------------------

SEGMENT = 1024


def stored_version(tmp_path: Path, data: bytes) -> tuple[service.Runtime, DocumentVersion]:
    """``data`` sent as an upload's chunks (sealed and stored as they arrive), and the version
    it becomes, as completion would make it: the upload's id, key and segments."""
    runtime = service.Runtime(
        settings=Settings(data_dir=tmp_path),
        store=LocalFolderStore(tmp_path / "documents"),
        scanner=None,
        keyring=KEYRING,
    )
    upload = DocumentUpload(
        id=uuid.uuid4(), size_bytes=len(data), chunk_bytes=SEGMENT, segmented=True
    )
    upload.key_id, upload.wrapped_key = sealing.wrap(
        KEYRING, sealing.new_data_key(), row_id=upload.id
    )
    for offset in range(0, len(data), SEGMENT):
        asyncio.run(service.store_chunk(runtime, upload, offset, data[offset : offset + SEGMENT]))
    version = DocumentVersion(
        id=upload.id,
        document_id=upload.id,
        size_bytes=len(data),
        segment_bytes=SEGMENT,
        object_key=f"documents/{upload.id}/{upload.id}",
        key_id=upload.key_id,
        wrapped_key=upload.wrapped_key,
    )
    return runtime, version


def segment_file(tmp_path: Path, version: DocumentVersion, index: int) -> Path:
    return tmp_path / "documents" / f"{version.object_key}/{index}"


def opened(runtime: service.Runtime, version: DocumentVersion) -> bytes:
    return asyncio.run(service.open_version(runtime, version))


def test_segments_open_in_order_and_stream_one_at_a_time(tmp_path: Path) -> None:
    data = os.urandom(3 * SEGMENT + 10)
    runtime, version = stored_version(tmp_path, data)
    assert opened(runtime, version) == data

    async def parts() -> list[bytes]:
        return [part async for part in service.segments(runtime, version)]

    assert [len(p) for p in asyncio.run(parts())] == [SEGMENT, SEGMENT, SEGMENT, 10]
    for index in range(4):  # the store holds ciphertext only
        assert (
            data[index * SEGMENT : index * SEGMENT + 64]
            not in segment_file(tmp_path, version, index).read_bytes()
        )


def test_an_altered_segment_does_not_open(tmp_path: Path) -> None:
    runtime, version = stored_version(tmp_path, os.urandom(3 * SEGMENT))
    path = segment_file(tmp_path, version, 1)
    blob = path.read_bytes()
    path.write_bytes(blob[:100] + bytes([blob[100] ^ 1]) + blob[101:])
    with pytest.raises(sealing.UndecryptableDocument):
        opened(runtime, version)


def test_reordered_segments_do_not_open(tmp_path: Path) -> None:
    runtime, version = stored_version(tmp_path, os.urandom(3 * SEGMENT))
    first, second = segment_file(tmp_path, version, 0), segment_file(tmp_path, version, 1)
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    with pytest.raises(sealing.UndecryptableDocument):
        opened(runtime, version)


def test_a_truncated_file_does_not_open(tmp_path: Path) -> None:
    runtime, version = stored_version(tmp_path, os.urandom(3 * SEGMENT))
    # Read as if it ended a segment early: the segment read as the last was sealed as "more".
    version.size_bytes = 2 * SEGMENT
    with pytest.raises(sealing.UndecryptableDocument):
        opened(runtime, version)
    # Its last segment removed from the store: missing, not opened short.
    version.size_bytes = 3 * SEGMENT
    segment_file(tmp_path, version, 2).unlink()
    with pytest.raises(service.VersionUnavailable):
        opened(runtime, version)


def test_segments_copied_under_another_version_do_not_open(tmp_path: Path) -> None:
    runtime, version = stored_version(tmp_path, os.urandom(2 * SEGMENT))
    other = uuid.uuid4()
    version.document_id = other  # the same segments and key, read as another document's
    with pytest.raises(sealing.UndecryptableDocument):
        opened(runtime, version)


def test_a_version_stored_whole_before_segments_still_opens(tmp_path: Path) -> None:
    runtime, version = stored_version(tmp_path, b"unused")
    key = sealing.unwrap(KEYRING, "k1", version.wrapped_key or b"", row_id=version.id)
    data = os.urandom(3 * SEGMENT)
    whole = sealing.seal(data, key, aad=sealing.object_aad(version.document_id, version.id))
    version.object_key, version.segment_bytes = f"documents/old/{version.id}", None
    asyncio.run(runtime.store.put(version.object_key, whole))
    version.size_bytes = len(data)
    assert opened(runtime, version) == data


# --- the local folder store -----------------------------------------------------------------------


def test_the_local_store_keeps_objects_privately_and_atomically(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "documents")

    async def run() -> None:
        await store.put("documents/a/b", b"sealed bytes")
        assert await store.get("documents/a/b") == b"sealed bytes"
        await store.put("documents/a/b", b"replaced")
        assert await store.get("documents/a/b") == b"replaced"
        await store.delete("documents/a/b")
        await store.delete("documents/a/b")  # missing is fine
        with pytest.raises(StoredObjectMissing):
            await store.get("documents/a/b")

    asyncio.run(run())
    for folder in (tmp_path / "documents", tmp_path / "documents" / "documents"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no temporary file left


def test_the_local_store_writes_files_only_the_service_reads(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    asyncio.run(store.put("uploads/x/0", b"chunk"))
    assert stat.S_IMODE(os.stat(tmp_path / "uploads" / "x" / "0").st_mode) == 0o600


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../b", "a//b", "a/", "a b", ""])
def test_the_local_store_refuses_keys_that_could_escape(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        asyncio.run(LocalFolderStore(tmp_path).put(key, b"x"))


# --- settings -------------------------------------------------------------------------------------


def test_a_chunk_is_between_1024_bytes_and_64_mib(tmp_path: Path) -> None:
    # A chunk may be larger than other request bodies (the body limit lets it through).
    Settings(data_dir=tmp_path, max_request_bytes=2048, document_chunk_bytes=64 * 1024 * 1024)
    Settings(data_dir=tmp_path, document_chunk_bytes=1024)
    assert Settings(data_dir=tmp_path).document_chunk_bytes == 8 * 1024 * 1024
    with pytest.raises(ValidationError, match="document_chunk_bytes"):
        Settings(data_dir=tmp_path, document_chunk_bytes=64 * 1024 * 1024 + 1)
    with pytest.raises(ValidationError, match="document_chunk_bytes"):
        Settings(data_dir=tmp_path, document_chunk_bytes=1023)


def test_retention_is_set_for_known_kinds_of_at_least_a_day(tmp_path: Path) -> None:
    Settings(data_dir=tmp_path, document_retention_days={"cv": 1, "attachment": 365})
    with pytest.raises(ValidationError, match="not a document kind"):
        Settings(data_dir=tmp_path, document_retention_days={"photos": 30})
    with pytest.raises(ValidationError, match="at least a day"):
        Settings(data_dir=tmp_path, document_retention_days={"cv": 0})


def test_the_download_token_lifetime_and_secret_are_bounded(tmp_path: Path) -> None:
    Settings(data_dir=tmp_path, document_download_token_seconds=10)
    Settings(data_dir=tmp_path, document_download_token_seconds=3600)
    for seconds in (9, 3601):
        with pytest.raises(ValidationError):
            Settings(data_dir=tmp_path, document_download_token_seconds=seconds)
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, document_token_secret="too short")  # type: ignore[arg-type]
