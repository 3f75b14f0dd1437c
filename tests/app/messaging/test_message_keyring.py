"""Message bodies at rest: AES-GCM under rotatable keys, bound to their rows."""

from __future__ import annotations

import argparse
import base64
import json
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.cli import cmd_rotate_message_key
from app.config import Settings
from app.messaging.keyring import (
    KEY_FILE_NAME,
    MessageKeyError,
    MessageKeyring,
    UndecryptableMessage,
    keyring_from_settings,
    message_aad,
    reencrypt_messages,
    rotate_key,
)

BODY = "Alex has an interview at the bakery on Tuesday — SECRET-BODY-MARKER"
AAD = message_aad(uuid.UUID(int=1), 7)


def a_keyring(*key_ids: str, current: str | None = None) -> MessageKeyring:
    keys = {key_id: bytes([n]) * 32 for n, key_id in enumerate(key_ids or ("k1",), start=1)}
    return MessageKeyring(keys, current or next(iter(keys)))


def key_file(data_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((data_dir / KEY_FILE_NAME).read_text())
    return data


# --- sealing and opening ---------------------------------------------------------------------


def test_a_body_round_trips_under_the_current_key() -> None:
    keyring = a_keyring("k1", "k2", current="k2")
    key_id, blob = keyring.encrypt(BODY, aad=AAD)
    assert key_id == "k2"
    assert BODY.encode() not in blob
    assert keyring.decrypt(key_id, blob, aad=AAD) == BODY
    # A fresh nonce each time: the same body never seals to the same bytes.
    assert keyring.encrypt(BODY, aad=AAD)[1] != blob
    assert len(blob) == 12 + len(BODY.encode()) + 16


def test_a_ciphertext_moved_to_another_row_does_not_open() -> None:
    keyring = a_keyring()
    key_id, blob = keyring.encrypt(BODY, aad=message_aad(uuid.UUID(int=1), 7))
    for other in (message_aad(uuid.UUID(int=1), 8), message_aad(uuid.UUID(int=2), 7)):
        with pytest.raises(UndecryptableMessage, match="another row"):
            keyring.decrypt(key_id, blob, aad=other)


@pytest.mark.parametrize("where", [0, 11, 12, 20, -1])
def test_a_tampered_ciphertext_does_not_open(where: int) -> None:
    keyring = a_keyring()
    key_id, blob = keyring.encrypt(BODY, aad=AAD)
    tampered = bytearray(blob)
    tampered[where] ^= 0x01
    with pytest.raises(UndecryptableMessage, match="altered"):
        keyring.decrypt(key_id, bytes(tampered), aad=AAD)


def test_a_truncated_ciphertext_does_not_open() -> None:
    keyring = a_keyring()
    key_id, blob = keyring.encrypt("", aad=AAD)
    assert keyring.decrypt(key_id, blob, aad=AAD) == ""
    with pytest.raises(UndecryptableMessage, match="truncated"):
        keyring.decrypt(key_id, blob[:-1], aad=AAD)


def test_an_unknown_key_or_the_wrong_key_does_not_open() -> None:
    keyring = a_keyring("k1", "k2")
    _, blob = keyring.encrypt(BODY, aad=AAD)
    with pytest.raises(UndecryptableMessage, match="'k9' is not known"):
        keyring.decrypt("k9", blob, aad=AAD)
    with pytest.raises(UndecryptableMessage):
        keyring.decrypt("k2", blob, aad=AAD)


def test_the_keyring_never_shows_its_keys() -> None:
    keyring = a_keyring("k1")
    assert repr(keyring) == "MessageKeyring(key_ids=['k1'], current='k1')"


# --- the key file ----------------------------------------------------------------------------


def test_the_key_file_is_created_once_owner_only_and_reused(tmp_path: Path) -> None:
    first = keyring_from_settings(Settings(data_dir=tmp_path))
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.current_key_id == "k1"
    key_id, blob = first.encrypt(BODY, aad=AAD)

    again = keyring_from_settings(Settings(data_dir=tmp_path))
    assert again.key_ids == {"k1"}
    assert again.decrypt(key_id, blob, aad=AAD) == BODY
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / "message-keys.tmp").exists()


def test_rotation_keeps_old_keys_and_running_keyrings_pick_it_up(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    running = keyring_from_settings(settings)  # a process started before the rotation
    old_id, old_blob = running.encrypt(BODY, aad=AAD)
    assert old_id == "k1"

    assert rotate_key(tmp_path) == "k2"
    assert key_file(tmp_path)["current"] == "k2"
    assert stat.S_IMODE((tmp_path / KEY_FILE_NAME).stat().st_mode) == 0o600

    # Another process, started after the rotation, seals with k2 ...
    rotated = keyring_from_settings(settings)
    new_id, new_blob = rotated.encrypt(BODY, aad=AAD)
    assert new_id == "k2"
    assert rotated.decrypt(old_id, old_blob, aad=AAD) == BODY
    # ... and the running one opens it by re-reading the file when it meets the new key id.
    assert running.key_ids == {"k1"}
    assert running.decrypt(new_id, new_blob, aad=AAD) == BODY
    assert running.key_ids == {"k1", "k2"}
    assert running.current_key_id == "k2"
    assert running.refresh() is False  # nothing changed since


def test_a_running_keyring_seals_with_the_new_key_after_rotation(tmp_path: Path) -> None:
    running = keyring_from_settings(Settings(data_dir=tmp_path))
    assert rotate_key(tmp_path) == "k2"
    assert rotate_key(tmp_path) == "k3"
    key_id, blob = running.encrypt(BODY, aad=AAD)
    assert key_id == "k3"
    assert keyring_from_settings(Settings(data_dir=tmp_path)).decrypt(key_id, blob, aad=AAD) == BODY


def test_a_key_replaced_under_the_same_id_is_refused(tmp_path: Path) -> None:
    running = keyring_from_settings(Settings(data_dir=tmp_path))
    data = key_file(tmp_path)
    data["keys"] = {"k1": base64.b64encode(b"\x09" * 32).decode()}
    (tmp_path / KEY_FILE_NAME).write_text(json.dumps(data) + " ")
    with pytest.raises(MessageKeyError, match="never be replaced"):
        running.refresh()


def test_the_rotate_command_prints_the_key_id_and_never_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=tmp_path)
    keyring_from_settings(settings)
    assert cmd_rotate_message_key(settings, argparse.Namespace()) == 0
    out = capsys.readouterr().out
    assert "k2" in out
    for encoded in key_file(tmp_path)["keys"].values():  # type: ignore[attr-defined]
        assert encoded not in out


# --- keys from the environment ---------------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_keys_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMWELL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(
        "TEAMWELL_MESSAGE_KEYS", json.dumps({"k1": b64(b"\x01" * 32), "k2": b64(b"\x02" * 32)})
    )
    monkeypatch.setenv("TEAMWELL_MESSAGE_KEY_CURRENT", "k2")
    settings = Settings()
    assert "\x02" * 4 not in repr(settings) and b64(b"\x02" * 32) not in repr(settings)

    keyring = keyring_from_settings(settings)
    assert keyring.key_ids == {"k1", "k2"} and keyring.current_key_id == "k2"
    key_id, blob = keyring.encrypt(BODY, aad=AAD)
    assert key_id == "k2"
    by_hand = MessageKeyring({"k2": b"\x02" * 32}, "k2")
    assert by_hand.decrypt(key_id, blob, aad=AAD) == BODY
    assert not (tmp_path / KEY_FILE_NAME).exists()

    # Rotating is done in the environment, not by the command.
    assert cmd_rotate_message_key(settings, argparse.Namespace()) == 1
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_one_environment_key_needs_no_current(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, message_keys=json.dumps({"k7": b64(b"\x07" * 32)}))
    assert keyring_from_settings(settings).current_key_id == "k7"


@pytest.mark.parametrize(
    ("keys", "current", "complaint"),
    [
        ({"k1": b64(b"\x01" * 16)}, None, "k1 is 16 bytes; it must be 32 bytes"),
        ({"k1": b64(b"\x01" * 33)}, None, "k1 is 33 bytes; it must be 32 bytes"),
        ({"k1": "not base64!"}, None, "k1 is not valid base64"),
        ({"k1": b64(b"\x01" * 32), "k2": b64(b"\x02" * 32)}, None, "MESSAGE_KEY_CURRENT"),
        ({"k1": b64(b"\x01" * 32)}, "k2", "'k2' is not among the keys"),
        ({"a key id that is far too long": b64(b"\x01" * 32)}, None, "1-16 letters"),
        ({}, None, "no message keys"),
        (["k1"], None, "JSON object"),
    ],
)
def test_bad_environment_keys_are_refused_clearly(
    tmp_path: Path, keys: object, current: str | None, complaint: str
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        message_keys=SecretStr(json.dumps(keys)),
        message_key_current=current,
    )
    with pytest.raises(MessageKeyError, match=complaint) as refused:
        keyring_from_settings(settings)
    assert b64(b"\x01" * 16) not in str(refused.value)


# --- re-encryption on a real database --------------------------------------------------------

metadata = sa.MetaData()
message = sa.Table(
    "message",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("conversation_id", sa.Uuid, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("body_ciphertext", sa.LargeBinary, nullable=False),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'messages.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


def bodies(n: int) -> list[str]:
    return [f"message {i}: SECRET-BODY-MARKER {'é' * i}" for i in range(n)]


CONVERSATION = uuid.uuid4()


async def store(
    engine: AsyncEngine, keyring: MessageKeyring, texts: list[str], *, first_seq: int = 1
) -> None:
    """Messages of one conversation, numbered from ``first_seq``."""
    conversation = CONVERSATION
    rows = []
    for seq, text in enumerate(texts, start=first_seq):
        key_id, blob = keyring.encrypt(text, aad=message_aad(conversation, seq))
        rows.append(
            {
                "id": uuid.uuid4(),
                "conversation_id": conversation,
                "seq": seq,
                "key_id": key_id,
                "body_ciphertext": blob,
            }
        )
    async with engine.begin() as connection:
        await connection.execute(message.insert(), rows)


async def read_back(engine: AsyncEngine, keyring: MessageKeyring) -> list[tuple[str, str]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.select(message).order_by(message.c.seq))).all()
    return [
        (
            row.key_id,
            keyring.decrypt(
                row.key_id, row.body_ciphertext, aad=message_aad(row.conversation_id, row.seq)
            ),
        )
        for row in rows
    ]


def database_bytes(directory: Path) -> bytes:
    """Everything SQLite wrote: the database file and any journal beside it."""
    return b"".join(path.read_bytes() for path in directory.glob("messages.db*"))


async def test_reencryption_moves_every_row_to_the_current_key(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    data_dir = tmp_path / "data"
    keyring = keyring_from_settings(Settings(data_dir=data_dir))
    texts = bodies(11)
    await store(engine, keyring, texts[:7])
    assert rotate_key(data_dir) == "k2"
    await store(engine, keyring, texts[7:], first_seq=8)  # sealed with k2 already: left alone

    async with AsyncSession(engine) as session:
        moved = await reencrypt_messages(session, keyring, message, batch=3)
    assert moved == 7
    assert await read_back(engine, keyring) == [("k2", text) for text in texts]

    async with AsyncSession(engine) as session:
        assert await reencrypt_messages(session, keyring, message, batch=3) == 0

    # Once everything is under k2, k1 is no longer needed to read any body.
    encoded_k2 = key_file(data_dir)["keys"]["k2"]  # type: ignore[index]
    only_k2 = MessageKeyring({"k2": base64.b64decode(encoded_k2)}, "k2")
    assert [text for _, text in await read_back(engine, only_k2)] == texts

    await engine.dispose()
    stored = database_bytes(tmp_path)
    assert b"SECRET-BODY-MARKER" not in stored
    assert not any(text.encode() in stored for text in texts)


async def test_reencryption_stops_at_a_row_it_cannot_open(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    keyring = keyring_from_settings(Settings(data_dir=tmp_path / "data"))
    await store(engine, keyring, bodies(2))
    async with engine.begin() as connection:
        # Swap the two ciphertexts: each is now on a row it was not sealed for.
        blobs = (await connection.execute(sa.select(message.c.id, message.c.body_ciphertext))).all()
        for (row_id, _), (_, blob) in zip(blobs, reversed(blobs), strict=True):
            await connection.execute(
                message.update().where(message.c.id == row_id).values(body_ciphertext=blob)
            )
    rotate_key(tmp_path / "data")
    async with AsyncSession(engine) as session:
        with pytest.raises(UndecryptableMessage, match="another row"):
            await reencrypt_messages(session, keyring, message)
