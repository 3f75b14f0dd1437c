"""Message bodies encrypted at rest: AES-256-GCM under named, rotatable keys.

Every stored body is ``nonce (12 bytes) + ciphertext + tag`` sealed with one key of the keyring,
and the row keeps that key's id. The associated data binds a ciphertext to its row
(``message_aad(conversation_id, seq)``), so a ciphertext copied onto another row does not open.
The database alone never reveals a body: the keys live elsewhere.

Where the keys come from:

* ``TEAMWELL_MESSAGE_KEYS`` — a JSON object ``{"k1": "<base64 of 32 bytes>", ...}`` — with
  ``TEAMWELL_MESSAGE_KEY_CURRENT`` naming the key new bodies are sealed with (it may be left out
  when there is one key). To rotate, first give every instance the new key, then make it current.
* otherwise ``<data_dir>/message-keys.json`` (mode 0600), created with one generated key on first
  use. ``rotate_key`` adds a key and makes it current; old keys stay so old rows still open.
  Running processes notice the change without a restart: ``refresh()`` re-reads the file when it
  has changed (one ``stat``), encryption refreshes first, and decryption refreshes once when it
  meets a key id it does not know.

``reencrypt_messages`` (the ``teamwell reencrypt-messages`` command) moves old rows to the current
key, after which a retired key could be removed from the file.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings

KEY_FILE_NAME = "message-keys.json"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
TAG_BYTES = 16
# Key ids are stored with every row (``message.key_id`` is at most 16 characters).
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,16}")


class UndecryptableMessage(Exception):
    """A stored body cannot be opened: its key is unknown, or the ciphertext or its row changed."""


class MessageKeyError(ValueError):
    """The message keys are misconfigured (bad JSON, wrong key length, no current key...)."""


def message_aad(conversation_id: uuid.UUID, seq: int) -> bytes:
    """The associated data that binds a message body to its row."""
    return f"{conversation_id}:{seq}".encode()


def _decode_key(key_id: str, encoded: object) -> bytes:
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise MessageKeyError(f"message key id {key_id!r} is not 1-16 letters, digits, '-' or '_'")
    if not isinstance(encoded, str):
        raise MessageKeyError(f"message key {key_id} must be a base64 string")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MessageKeyError(f"message key {key_id} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise MessageKeyError(
            f"message key {key_id} is {len(key)} bytes; it must be {KEY_BYTES} bytes "
            "(AES-256), base64-encoded"
        )
    return key


def _decode_keys(raw: Mapping[str, object]) -> dict[str, bytes]:
    if not raw:
        raise MessageKeyError("no message keys are configured")
    return {key_id: _decode_key(key_id, encoded) for key_id, encoded in raw.items()}


class MessageKeyring:
    """Keys by id and the id of the current one; seals and opens message bodies."""

    def __init__(
        self, keys: Mapping[str, bytes], current: str, *, source: Path | None = None
    ) -> None:
        if current not in keys:
            raise MessageKeyError(f"the current message key {current!r} is not among the keys")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise MessageKeyError(f"message key {key_id} must be {KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._current = current
        # The key file this keyring follows, and the (mtime, inode, size) it was last read at.
        self._source = source
        self._seen: tuple[int, int, int] | None = None

    @classmethod
    def from_file(cls, path: Path) -> MessageKeyring:
        """A keyring that follows the key file at ``path`` (see ``refresh``)."""
        keys, current, stamp = _read_key_file(path)
        keyring = cls(keys, current, source=path)
        keyring._seen = stamp
        return keyring

    def __repr__(self) -> str:
        return f"MessageKeyring(key_ids={sorted(self._keys)}, current={self._current!r})"

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def encrypt(self, plaintext: str, *, aad: bytes) -> tuple[str, bytes]:
        """Seal ``plaintext`` with the current key; returns (key id, nonce + ciphertext + tag)."""
        self.refresh()
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self._keys[self._current]).encrypt(nonce, plaintext.encode(), aad)
        return self._current, nonce + sealed

    def decrypt(self, key_id: str, blob: bytes, *, aad: bytes) -> str:
        """Open a body sealed by ``encrypt`` for the same ``aad``, or raise UndecryptableMessage."""
        key = self._keys.get(key_id)
        if key is None:
            # Another process may have rotated the keys since this one read them.
            self.refresh()
            key = self._keys.get(key_id)
        if key is None:
            raise UndecryptableMessage(f"message key {key_id!r} is not known")
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise UndecryptableMessage(f"ciphertext under key {key_id!r} is truncated")
        nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        try:
            plaintext = AESGCM(key).decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise UndecryptableMessage(
                f"ciphertext under key {key_id!r} was altered or belongs to another row"
            ) from None
        return plaintext.decode()

    def refresh(self) -> bool:
        """Re-read the key file if it changed since it was read; True if it was re-read.

        Keys this process already holds are kept even if they leave the file, so rows sealed
        with them still open here; a key id whose bytes changed is refused.
        """
        if self._source is None:
            return False
        stamp = _file_stamp(self._source)
        if stamp is None or stamp == self._seen:
            return False
        keys, current, stamp = _read_key_file(self._source)
        for key_id, key in keys.items():
            known = self._keys.get(key_id)
            if known is not None and not secrets.compare_digest(known, key):
                raise MessageKeyError(
                    f"message key {key_id} changed in {self._source}; keys must never be replaced"
                )
        self._keys.update(keys)
        self._current = current
        self._seen = stamp
        return True


def keyring_from_settings(settings: Settings) -> MessageKeyring:
    """The keyring from ``TEAMWELL_MESSAGE_KEYS``, or from the key file (created if absent)."""
    if settings.message_keys is not None:
        try:
            raw = json.loads(settings.message_keys.get_secret_value())
        except json.JSONDecodeError:
            raise MessageKeyError(
                'TEAMWELL_MESSAGE_KEYS must be a JSON object {"k1": "<base64 of 32 bytes>", ...}'
            ) from None
        if not isinstance(raw, dict):
            raise MessageKeyError(
                'TEAMWELL_MESSAGE_KEYS must be a JSON object {"k1": "<base64 of 32 bytes>", ...}'
            )
        keys = _decode_keys(raw)
        current = settings.message_key_current
        if current is None:
            if len(keys) != 1:
                raise MessageKeyError(
                    "TEAMWELL_MESSAGE_KEY_CURRENT must name the current key when "
                    "TEAMWELL_MESSAGE_KEYS holds more than one"
                )
            (current,) = keys
        return MessageKeyring(keys, current)
    path = settings.data_dir / KEY_FILE_NAME
    with _locked(settings.data_dir):
        if not path.exists():
            first = _next_key_id(())
            _write_key_file(path, {first: _new_key()}, current=first)
        os.chmod(path, 0o600)
    return MessageKeyring.from_file(path)


def rotate_key(data_dir: Path) -> str:
    """Add a generated key to ``<data_dir>/message-keys.json`` and make it current; its id."""
    path = data_dir / KEY_FILE_NAME
    with _locked(data_dir):
        keys: dict[str, bytes] = {}
        if path.exists():
            keys, _current, _stamp = _read_key_file(path)
        key_id = _next_key_id(keys)
        keys[key_id] = _new_key()
        _write_key_file(path, keys, current=key_id)
    return key_id


async def reencrypt_messages(
    session: AsyncSession, keyring: MessageKeyring, table: sa.Table, *, batch: int = 500
) -> int:
    """Re-seal every row of ``table`` not under the current key with it; how many were moved.

    Rows are walked once in id order, a batch per transaction, so the work can be interrupted and
    run again. A row changed between reading and writing (an edit) is left alone: whoever changed
    it sealed it afresh.
    """
    c = table.c

    def rows(current: str) -> sa.Select[Any]:
        return sa.select(c.id, c.key_id, c.body_ciphertext, c.conversation_id, c.seq).where(
            c.key_id != current
        )

    return await _reencrypt(session, keyring, table, rows, message_aad, batch=batch)


async def reencrypt_revisions(
    session: AsyncSession,
    keyring: MessageKeyring,
    revisions: sa.Table,
    messages: sa.Table,
    *,
    batch: int = 500,
) -> int:
    """The same for the kept earlier versions of messages: each is sealed to its message's row
    (conversation and sequence number), so old keys can be retired once both passes ran."""
    r, m = revisions.c, messages.c

    def rows(current: str) -> sa.Select[Any]:
        return (
            sa.select(r.id, r.key_id, r.body_ciphertext, m.conversation_id, m.seq)
            .join(messages, m.id == r.message_id)
            .where(r.key_id != current)
        )

    return await _reencrypt(session, keyring, revisions, rows, message_aad, batch=batch)


async def reencrypt_column(
    session: AsyncSession,
    keyring: MessageKeyring,
    table: sa.Table,
    *,
    key_column: str,
    blob_column: str,
    aad_columns: tuple[str, ...],
    aad: Callable[..., bytes],
    batch: int = 500,
) -> int:
    """The same pass for any other column sealed with the keyring (check-in text, supervision
    notes, a trial's seed): ``aad`` rebuilds a row's associated data from ``aad_columns``.
    Rows with nothing sealed (a null key id) are not touched."""
    c = table.c

    def rows(current: str) -> sa.Select[Any]:
        return sa.select(
            c.id, c[key_column], c[blob_column], *(c[name] for name in aad_columns)
        ).where(c[key_column] != current)

    return await _reencrypt(
        session,
        keyring,
        table,
        rows,
        aad,
        key_column=key_column,
        blob_column=blob_column,
        batch=batch,
    )


async def _reencrypt(
    session: AsyncSession,
    keyring: MessageKeyring,
    table: sa.Table,
    rows_under_old_keys: Callable[[str], sa.Select[Any]],
    aad_of: Callable[..., bytes],
    *,
    key_column: str = "key_id",
    blob_column: str = "body_ciphertext",
    batch: int,
) -> int:
    """Rows come as (id, key id, ciphertext, *the values ``aad_of`` takes)."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    keyring.refresh()
    current = keyring.current_key_id
    c = table.c
    moved = 0
    after: Any = None
    while True:
        query = rows_under_old_keys(current)
        if after is not None:
            query = query.where(c.id > after)
        # Core statements on a core table: run them on the session's connection (its transaction).
        connection = await session.connection()
        found = (await connection.execute(query.order_by(c.id).limit(batch))).all()
        if not found:
            return moved
        for row_id, key_id, blob, *aad_parts in found:
            aad = aad_of(*aad_parts)
            new_key_id, new_blob = keyring.encrypt(keyring.decrypt(key_id, blob, aad=aad), aad=aad)
            result = await connection.execute(
                sa.update(table)
                .where(c.id == row_id, c[key_column] == key_id, c[blob_column] == blob)
                .values({key_column: new_key_id, blob_column: new_blob})
            )
            moved += result.rowcount
        await session.commit()
        after = found[-1][0]


def _new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def _next_key_id(existing: Iterable[str]) -> str:
    """``k<n+1>`` after the highest ``k<n>`` already used."""
    numbers = [int(k[1:]) for k in existing if re.fullmatch(r"k[0-9]+", k)]
    return f"k{max(numbers, default=0) + 1}"


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)


def _read_key_file(path: Path) -> tuple[dict[str, bytes], str, tuple[int, int, int]]:
    """Keys, current key id, and the stamp of the very file read (not of a later replacement)."""
    with path.open() as handle:
        st = os.fstat(handle.fileno())
        text = handle.read()
    stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
    try:
        data = json.loads(text)
        raw, current = data["keys"], data["current"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise MessageKeyError(
            f'{path} must hold {{"current": "<key id>", "keys": {{"<key id>": "<base64>"}}}}'
        ) from None
    if not isinstance(raw, dict) or not isinstance(current, str):
        raise MessageKeyError(f"{path} is not a message key file")
    keys = _decode_keys(raw)
    if current not in keys:
        raise MessageKeyError(f"{path} names current key {current!r}, which it does not hold")
    return keys, current, stamp


def _write_key_file(path: Path, keys: Mapping[str, bytes], *, current: str) -> None:
    """Write the key file atomically, private to the owner from the first byte."""
    data = {
        "current": current,
        "keys": {key_id: base64.b64encode(key).decode() for key_id, key in keys.items()},
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    # Make the rename itself durable: rows may be sealed with a new key as soon as this returns.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialise creating and rotating keys between processes.

    Without it two workers starting at once could each create a different "k1", or two
    rotations could each write a different "k2" — and rows sealed with the losing key would
    never open again.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / (KEY_FILE_NAME + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
