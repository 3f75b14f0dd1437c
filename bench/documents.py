"""Benchmark 5, documents: uploads and downloads of 1 MB and 20 MB files through the API, against
a bare ``aiobotocore`` put and get of the same sizes to the same S3 store in the same run.

The rig is its own: a SeaweedFS S3 server and a clamd (tests/support: the EICAR signature only,
so a scan costs clamd's reading and hashing of the file, not a real signature set's matching),
and one Teamwell process on SQLite keeping its documents in that SeaweedFS and scanning with
that clamd, migrated and seeded like the embedded deployment (bench/deploy.py).

* An **upload** is what the web client does. A file of one chunk (``TEAMWELL_DOCUMENT_CHUNK_BYTES``,
  the default: 8 MiB; the 1 MB file) goes whole in one request (``POST /documents``): scanned
  while it is sealed (a data key per file) and stored, answered once it is kept and found clean.
  A larger one (20 MB) starts an upload, sends its chunks one after another, each sealed and
  stored as it arrives, then completes it: completing reads the sealed segments back, scans
  them and identifies the content, and answers once the document is kept and found clean.
  Timed from the first request to that answer. The limits (``GET /documents/limits``) are read
  once, before the rounds, as the web client reads them once.
* A **download** asks for a download link and fetches ``/files/{token}``: the token checked,
  the permissions checked again, the segments fetched from the store and opened as they are
  sent. Timed from the link request to the last byte; the bytes are compared with what was
  uploaded. The file is fetched with aiohttp, the HTTP client under the bare get (aiobotocore),
  in one session without cookies or credentials kept for the run (the link alone is the
  authority, as for a browser, which also keeps its connections). A new httpx client per
  download spent about 0.14 s making its TLS context before a plain-HTTP request, and httpx read
  20 MB at about half aiohttp's speed: 1 MB took 0.18 s with httpx and 0.03 s with aiohttp from
  the same server, so the figure measured the client more than the service.
* The **bare** figures are ``put_object`` and ``get_object`` of the same sizes with aiobotocore,
  path-style like the app's store, nothing else.

One round of each is run first and not counted. Every round sends new random bytes (behind a PDF
header, so the content check passes): clamd keeps the answers for content it has seen, and a
repeated file would skip the scan.
"""

from __future__ import annotations

import os
import secrets
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from bench.deploy import REPO_ROOT, SERVER_ARGS, _env, _migrate, _settings
from bench.seed import Person, seed
from tests.support.clamd import ClamdServer
from tests.support.seaweedfs import SeaweedFSServer
from tests.support.server import LiveServer

MB = 1_000_000
SIZES = (1 * MB, 20 * MB)
ROUNDS = {1 * MB: 10, 20 * MB: 4}
QUICK_ROUNDS = 1
# Rounds run first and not counted, for each target and size: the first request of a kind pays
# for connections, imports and caches that a running service has long paid for.
WARM_UP_ROUNDS = 1
BARE = "bare aiobotocore"
TARGET = "embedded, SeaweedFS + clamd"
PDF_HEADER = b"%PDF-1.7\n"
HTTP_TIMEOUT_SECONDS = 120.0

# Settings changed for this benchmark, and why (beside bench/deploy.py's).
DOCUMENT_SETTINGS = {
    # One person uploads every round: a day's allowance (200 MB by default) is for people.
    "TEAMWELL_DOCUMENT_DAILY_BYTES_PER_PERSON": str(100_000 * MB),
    # Scans run while the upload completes; the scheduled work (retention, rescans) would only
    # add noise.
    "TEAMWELL_JOBS_IN_SERVICE": "false",
}


@dataclass
class DocumentResult:
    target: str
    direction: str  # "upload" or "download"
    size: int
    seconds: list[float] = field(default_factory=list)
    errors: int = 0
    last_error: str = ""

    @property
    def rounds(self) -> int:
        return len(self.seconds)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds) if self.seconds else 0.0

    @property
    def mb_per_second(self) -> float:
        median = self.median_seconds
        return self.size / MB / median if median else 0.0


def _payload(size: int) -> bytes:
    return PDF_HEADER + os.urandom(size - len(PDF_HEADER))


class Rig:
    """SeaweedFS, clamd and one Teamwell process storing and scanning with them."""

    def __init__(self, work: Path) -> None:
        self.work = work / "documents"
        self.seaweedfs = SeaweedFSServer()
        self.clamd = ClamdServer()
        self.server: LiveServer | None = None
        self.person: Person | None = None
        self.client_id = ""

    async def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.seaweedfs.start()
        self.clamd.start()
        env = _env(
            self.work,
            f"sqlite:///{self.work / 'teamwell.db'}",
            {
                **self.seaweedfs.settings_env(),
                "TEAMWELL_CLAMD_HOST": self.clamd.host,
                "TEAMWELL_CLAMD_PORT": str(self.clamd.port),
                **DOCUMENT_SETTINGS,
            },
        )
        _migrate(env)
        world = await seed(_settings(env), people=10, clients=1)
        self.client_id, self.person = world.clients[0]
        self.server = LiveServer(
            env=env, cwd=REPO_ROOT, startup_timeout=60, extra_args=SERVER_ARGS
        ).start()

    @property
    def description(self) -> str:
        return (
            "1 process, SQLite, documents in SeaweedFS over S3, scanned by clamd, sealed "
            "(a data key per file)"
        )

    @property
    def server_pid(self) -> int:
        proc = self.server._proc if self.server is not None else None
        return proc.pid if proc is not None else 0

    def stop(self, *, keep_logs: bool = False) -> None:
        if self.server is not None:
            self.server.stop(keep_log=keep_logs)
        self.clamd.stop()
        self.seaweedfs.stop()

    def _api(self) -> httpx.AsyncClient:
        assert self.server is not None and self.person is not None
        return httpx.AsyncClient(
            base_url=self.server.base_url,
            headers={"Authorization": f"Bearer {self.person.token}"},
            timeout=HTTP_TIMEOUT_SECONDS,
        )

    async def measure(self, size: int, rounds: int) -> tuple[DocumentResult, DocumentResult]:
        up = DocumentResult(TARGET, "upload", size)
        down = DocumentResult(TARGET, "download", size)
        files = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS),
        )
        async with self._api() as api, files:
            limits = _check(await api.get("/api/v1/documents/limits"), 200, "reading the limits")
            whole = int(str(limits["chunk_bytes"]))

            async def _upload(client_id: str, data: bytes) -> dict[str, object]:
                if len(data) <= whole:
                    return await _upload_whole(api, client_id, data)
                return await _upload_chunked(api, client_id, data)

            for _ in range(WARM_UP_ROUNDS):
                await _download(api, files, await _upload(self.client_id, _payload(size)))
            for _ in range(rounds):
                data = _payload(size)
                try:
                    started = time.perf_counter()
                    document = await _upload(self.client_id, data)
                    up.seconds.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    got = await _download(api, files, document)
                    took = time.perf_counter() - started
                    if got != data:
                        raise RuntimeError("the downloaded bytes differ from the uploaded ones")
                    down.seconds.append(took)
                except (httpx.HTTPError, aiohttp.ClientError, RuntimeError, KeyError) as exc:
                    up.errors += 1
                    up.last_error = f"{type(exc).__name__}: {exc}"[:200]
        return up, down

    async def measure_bare(self, size: int, rounds: int) -> tuple[DocumentResult, DocumentResult]:
        up = DocumentResult(BARE, "upload", size)
        down = DocumentResult(BARE, "download", size)
        config = AioConfig(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        async with get_session().create_client(
            "s3",
            endpoint_url=self.seaweedfs.endpoint_url,
            region_name=self.seaweedfs.region,
            aws_access_key_id=self.seaweedfs.access_key_id,
            aws_secret_access_key=self.seaweedfs.secret_access_key,
            config=config,
        ) as s3:
            for index in range(WARM_UP_ROUNDS + rounds):
                data = _payload(size)
                key = f"bench/{secrets.token_hex(8)}"
                if index < WARM_UP_ROUNDS:
                    await s3.put_object(Bucket=self.seaweedfs.bucket, Key=key, Body=data)
                    await s3.delete_object(Bucket=self.seaweedfs.bucket, Key=key)
                    continue
                started = time.perf_counter()
                await s3.put_object(Bucket=self.seaweedfs.bucket, Key=key, Body=data)
                up.seconds.append(time.perf_counter() - started)
                started = time.perf_counter()
                answer = await s3.get_object(Bucket=self.seaweedfs.bucket, Key=key)
                async with answer["Body"] as body:
                    got = await body.read()
                down.seconds.append(time.perf_counter() - started)
                if got != data:
                    raise RuntimeError("bare get: the bytes differ from those put")
                await s3.delete_object(Bucket=self.seaweedfs.bucket, Key=key)
        return up, down


def _check(reply: httpx.Response, status: int, what: str) -> dict[str, object]:
    if reply.status_code != status:
        raise RuntimeError(f"{what}: {reply.status_code} {reply.text[:200]}")
    body: dict[str, object] = reply.json()
    return body


def _found_clean(document: dict[str, object]) -> dict[str, object]:
    current = document["current"]
    assert isinstance(current, dict)
    if current.get("scan_status") != "clean":
        raise RuntimeError(f"the upload was not found clean: {current.get('scan_status')}")
    return document


async def _upload_whole(api: httpx.AsyncClient, client_id: str, data: bytes) -> dict[str, object]:
    """A file of one chunk, in one request, as the web client sends it."""
    document = _check(
        await api.post(
            "/api/v1/documents",
            params={"client_id": client_id, "kind": "cv", "filename": "cv.pdf"},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        ),
        201,
        "uploading a file whole",
    )
    return _found_clean(document)


async def _upload_chunked(api: httpx.AsyncClient, client_id: str, data: bytes) -> dict[str, object]:
    upload = _check(
        await api.post(
            "/api/v1/documents/uploads",
            json={
                "client_id": client_id,
                "kind": "cv",
                "filename": "cv.pdf",
                "size": len(data),
            },
        ),
        201,
        "starting an upload",
    )
    chunk = int(str(upload["chunk_bytes"]))
    for offset in range(0, len(data), chunk):
        _check(
            await api.put(
                f"/api/v1/documents/uploads/{upload['id']}/chunks/{offset}",
                content=data[offset : offset + chunk],
                headers={"Content-Type": "application/octet-stream"},
            ),
            200,
            "sending a chunk",
        )
    document = _check(
        await api.post(f"/api/v1/documents/uploads/{upload['id']}/complete"),
        201,
        "completing an upload",
    )
    return _found_clean(document)


async def _download(
    api: httpx.AsyncClient, files: aiohttp.ClientSession, document: dict[str, object]
) -> bytes:
    current = document["current"]
    assert isinstance(current, dict)
    link = _check(
        await api.post(
            f"/api/v1/documents/{document['id']}/versions/{current['number']}/download",
            json={"inline": False},
        ),
        201,
        "asking for a download link",
    )
    # The link alone is the authority: fetched without the bearer token, as a browser would.
    async with files.get(f"{str(api.base_url).rstrip('/')}{link['url']}") as reply:
        body = await reply.read()
        if reply.status != 200:
            raise RuntimeError(f"downloading: {reply.status} {body[:200]!r}")
    return body
