"""Envelope encryption of documents: each upload has a random 256-bit data key, which becomes
the key of the version it makes; the content is sealed with it (AES-256-GCM, a fresh 96-bit
nonce for each seal), and the data key is sealed with the service keyring
(``app/messaging/keyring.py``), whose key id and ciphertext the row keeps. The content is sealed
in segments, one per chunk as it arrives; versions stored before segments were sealed whole.
The associated data binds each sealed thing to where it belongs: a segment to its document,
version, index and whether it is the last, a whole object to its document and version, a data
key to its row. So a segment moved, reordered or cut short, an object copied under another
version's key, or a wrapped key copied onto another row, does not open.

Nonces are random rather than counted from the segment's index: a part sent again could differ,
and the same nonce under the same key for two different plaintexts would break AES-GCM.

Rotating the keyring re-wraps the data keys only (``teamwell reencrypt-messages``): objects are
never rewritten, and a store never sees a key or plaintext."""

from __future__ import annotations

import base64
import secrets
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.messaging.keyring import MessageKeyring, UndecryptableMessage

DATA_KEY_BYTES = 32
NONCE_BYTES = 12


class UndecryptableDocument(Exception):
    """A sealed object or data key does not open: altered, or under another document's key."""


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def object_aad(document_id: uuid.UUID, version_id: uuid.UUID) -> bytes:
    return f"document:{document_id}:{version_id}".encode()


def segment_aad(document_id: uuid.UUID, version_id: uuid.UUID, index: int, *, last: bool) -> bytes:
    """The associated data of one segment of a version: its document, version, place in the
    file and whether it is the last. A segment moved to another place (reordered), copied to
    another version, or a file cut short after a segment that does not say it is the last
    (truncated), fails to open."""
    return f"segment:{document_id}:{version_id}:{index}:{'last' if last else 'more'}".encode()


def data_key_aad(row_id: uuid.UUID) -> bytes:
    """The associated data of a wrapped data key: its row (a version's or an upload's)."""
    return f"document-key:{row_id}".encode()


def seal(data: bytes, key: bytes, *, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, data, aad)


def open_sealed(blob: bytes, key: bytes, *, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise UndecryptableDocument("the object was altered or belongs elsewhere") from None


def wrap(keyring: MessageKeyring, key: bytes, *, row_id: uuid.UUID) -> tuple[str, bytes]:
    """Seal a data key with the keyring's current key: (key id, sealed data key). The keyring
    seals text, so the key goes in as base64; ``reencrypt_column`` re-wraps it the same way."""
    return keyring.encrypt(base64.b64encode(key).decode(), aad=data_key_aad(row_id))


def unwrap(keyring: MessageKeyring, key_id: str, wrapped: bytes, *, row_id: uuid.UUID) -> bytes:
    try:
        return base64.b64decode(keyring.decrypt(key_id, wrapped, aad=data_key_aad(row_id)))
    except UndecryptableMessage as exc:
        raise UndecryptableDocument(str(exc)) from None
