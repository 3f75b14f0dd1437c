"""Sealed document objects in any S3-compatible store (AWS S3, SeaweedFS, Ceph, MinIO...), over
the S3 API with ``aiobotocore``.

The store only ever sees ciphertext (``app.documents.sealing``) under keys Teamwell makes from
ids (``app.documents.storage.checked_key``). One client (one connection pool) serves the
process; it is made at first use, since the store is built from settings outside an event loop,
and closed by ``close``. Before its first request the bucket is checked, and made when missing
(``ensure_bucket``), so a new deployment needs no step of its own and a wrong bucket or key is
reported at once, on the store's first use.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from app.documents.storage import StoredObjectMissing, checked_key

__all__ = ["S3Store"]

# A connection that does not open in this long is a store that is down; a read that stalls this
# long (a 20 MB object arrives in well under a second on a working network) is one that hangs.
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 60.0
# botocore retries throttling and dropped connections itself, with backoff.
MAX_ATTEMPTS = 3
# Concurrent requests one process keeps to the store.
MAX_POOL_CONNECTIONS = 20
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
# The region AWS takes without a location constraint (and refuses with one).
_DEFAULT_REGION = "us-east-1"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Store:
    """An ``ObjectStore`` over the S3 API: one bucket, path-style addressing (what
    S3-compatible stores support everywhere), requests signed with the given key."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        bucket: str,
        region: str,
        access_key_id: str,
        secret_access_key: str,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 store needs a bucket")
        # Empty means AWS itself (botocore finds the endpoint from the region).
        self.endpoint_url = endpoint_url or None
        self.bucket = bucket
        self.region = region or _DEFAULT_REGION
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._ready: Any = None  # the client, once its bucket is known to exist
        self._opening = asyncio.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"S3Store(endpoint_url={self.endpoint_url!r}, bucket={self.bucket!r})"

    async def _s3(self) -> Any:
        """The client, its bucket checked (or made) once per process."""
        if self._ready is not None:
            return self._ready
        async with self._opening:
            if self._ready is None:
                client = await self._open()
                await self._ensure_bucket(client)
                self._ready = client
        return self._ready

    async def _open(self) -> Any:
        if self._client is not None:
            return self._client
        config = AioConfig(
            s3={"addressing_style": "path"},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            max_pool_connections=MAX_POOL_CONNECTIONS,
            # Checksums only where the API requires them: several S3-compatible stores refuse
            # botocore's default CRC headers, and the objects are AES-GCM sealed, so a corrupted
            # one fails to open whatever the transport said.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        stack = AsyncExitStack()
        self._client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=self._access_key_id,
                aws_secret_access_key=self._secret_access_key,
                config=config,
            )
        )
        self._stack = stack
        return self._client

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (and is ours)."""
        await self._s3()

    async def _ensure_bucket(self, s3: Any) -> None:
        try:
            await s3.head_bucket(Bucket=self.bucket)
            return
        except ClientError as error:
            if _code(error) not in _MISSING_CODES | {"NoSuchBucket"}:
                raise
        extra: dict[str, Any] = {}
        if self.region != _DEFAULT_REGION:
            extra["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await s3.create_bucket(Bucket=self.bucket, **extra)
        except ClientError as error:
            if _code(error) not in _BUCKET_EXISTS_CODES:  # made by another process meanwhile
                raise

    async def put(self, key: str, data: bytes) -> None:
        s3 = await self._s3()
        await s3.put_object(Bucket=self.bucket, Key=checked_key(key), Body=data)

    async def get(self, key: str) -> bytes:
        s3 = await self._s3()
        try:
            answer = await s3.get_object(Bucket=self.bucket, Key=checked_key(key))
        except ClientError as error:
            if _code(error) in _MISSING_CODES:
                raise StoredObjectMissing(key) from None
            raise
        async with answer["Body"] as body:
            data: bytes = await body.read()
        return data

    async def delete(self, key: str) -> None:
        # S3 answers 204 for a key that is not there: deleting is idempotent already.
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=checked_key(key))

    async def close(self) -> None:
        stack, self._stack, self._client, self._ready = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()
