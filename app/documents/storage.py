"""Where sealed document objects are kept: the ``ObjectStore`` interface, the local folder that
is the embedded default, and the store the settings choose.

A store only ever holds ciphertext (``app.documents.sealing``): it is handed sealed bytes and
gives them back. Keys are made by Teamwell from ids (``documents/<document>/<version>``,
``uploads/<upload>/<offset>``), never from a filename a person gave."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path
from typing import Protocol

from app.config import Settings

# Keys are ids joined by "/": no "..", no leading "/", nothing a path could escape with.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")


class StoredObjectMissing(Exception):
    """The store has no object under this key."""


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes: ...  # raises StoredObjectMissing
    async def delete(self, key: str) -> None: ...  # idempotent: missing is fine
    async def close(self) -> None: ...


def checked_key(key: str) -> str:
    if len(key) > 200 or not KEY_PATTERN.fullmatch(key):
        raise ValueError(f"not an object key: {key!r}")
    return key


class LocalFolderStore:
    """Objects as files under a folder (mode 0700), written atomically: to a temporary file in
    the same folder, flushed to disk, then renamed over the key's path, so a reader sees the
    whole object or none."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StoredObjectMissing(key) from None

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def close(self) -> None:
        return None


def store_from_settings(settings: Settings) -> ObjectStore:
    """The store ``TEAMWELL_DOCUMENT_STORE`` names: the local folder (the default), or S3."""
    if settings.document_store == "s3":
        from app.documents.s3 import S3Store  # only a deployment on S3 needs its client

        secret = settings.s3_secret_access_key
        return S3Store(
            endpoint_url=settings.s3_endpoint_url,
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else "",
        )
    return LocalFolderStore(settings.document_dir or settings.data_dir / "documents")
