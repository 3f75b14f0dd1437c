"""The S3 store on a real SeaweedFS (tests/support/seaweedfs.py): round trip, a missing object,
idempotent deletion, a wrong secret refused by the server's signature check, a 20 MB object."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from app.documents.s3 import S3Store
from app.documents.storage import StoredObjectMissing
from tests.support.seaweedfs import SeaweedFSServer


@pytest.fixture
async def store(seaweedfs: SeaweedFSServer) -> AsyncIterator[S3Store]:
    s3 = seaweedfs.store()
    await s3.ensure_bucket()
    try:
        yield s3
    finally:
        await s3.close()


def a_key() -> str:
    return f"documents/{secrets.token_hex(8)}/{secrets.token_hex(8)}"


async def test_put_get_delete_round_trip(store: S3Store) -> None:
    key, sealed = a_key(), os.urandom(4096)
    await store.put(key, sealed)
    assert await store.get(key) == sealed
    await store.put(key, b"a newer version")  # an overwrite replaces it whole
    assert await store.get(key) == b"a newer version"
    await store.delete(key)
    with pytest.raises(StoredObjectMissing):
        await store.get(key)


async def test_a_missing_object_and_deleting_it_again(store: S3Store) -> None:
    key = a_key()
    with pytest.raises(StoredObjectMissing):
        await store.get(key)
    await store.delete(key)  # missing is fine
    await store.delete(key)


async def test_a_new_bucket_is_made_before_the_first_request(seaweedfs: SeaweedFSServer) -> None:
    bucket = f"teamwell-other-{secrets.token_hex(4)}"
    first = seaweedfs.store(bucket=bucket)
    try:
        await first.put("documents/one", b"in the other bucket")  # no ensure_bucket before
        assert await first.get("documents/one") == b"in the other bucket"
    finally:
        await first.close()
    # Another process: the bucket exists, and ensure_bucket is idempotent.
    second = seaweedfs.store(bucket=bucket)
    try:
        await second.ensure_bucket()
        await second.ensure_bucket()
        assert await second.get("documents/one") == b"in the other bucket"
    finally:
        await second.close()


async def test_a_wrong_secret_is_refused(seaweedfs: SeaweedFSServer, store: S3Store) -> None:
    key = a_key()
    await store.put(key, b"sealed bytes")
    forged = seaweedfs.store(secret_access_key="not-" + seaweedfs.secret_access_key)
    try:
        for attempt in (forged.get(key), forged.put(key, b"overwritten"), forged.delete(key)):
            with pytest.raises(ClientError) as refused:
                await attempt
            # The first request is the bucket check (HEAD, whose refusal has no body to name
            # the reason); each is refused by the signature check.
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    finally:
        await forged.close()
    # And past the bucket check, each object request is refused by the signature check too.
    async with get_session().create_client(
        "s3",
        endpoint_url=seaweedfs.endpoint_url,
        region_name=seaweedfs.region,
        aws_access_key_id=seaweedfs.access_key_id,
        aws_secret_access_key="not-" + seaweedfs.secret_access_key,
        config=AioConfig(s3={"addressing_style": "path"}),
    ) as raw:
        for request in (
            raw.get_object(Bucket=seaweedfs.bucket, Key=key),
            raw.put_object(Bucket=seaweedfs.bucket, Key=key, Body=b"overwritten"),
            raw.delete_object(Bucket=seaweedfs.bucket, Key=key),
        ):
            with pytest.raises(ClientError) as refused:
                await request
            assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert await store.get(key) == b"sealed bytes"  # untouched


async def test_a_20_mb_object(store: S3Store) -> None:
    key, sealed = a_key(), os.urandom(20 * 1024 * 1024)
    await store.put(key, sealed)
    assert await store.get(key) == sealed
    await store.delete(key)


async def test_keys_are_checked_before_any_request(store: S3Store) -> None:
    for bad in ("../escape", "/absolute", "a//b", "spaces in it"):
        with pytest.raises(ValueError):
            await store.put(bad, b"x")


def test_the_secret_is_not_in_its_repr() -> None:
    s3 = S3Store(
        endpoint_url="http://127.0.0.1:1",
        bucket="b",
        region="",
        access_key_id="AK",
        secret_access_key="very-secret-value",
    )
    assert "very-secret-value" not in repr(s3)
