"""Documents with every real part in place: a server whose store is SeaweedFS (S3) and whose
scanner is a real clamd with the EICAR signature. A clean file is found clean and shown to the
care team; the EICAR file is quarantined, never stored, and its uploader told; with clamd
stopped a file waits "pending", seen by its uploader alone, until the scan job finds clamd back
and the others are told live. On S3 too: the stored object is not the plaintext, deletion
removes it, and re-keying keeps it opening."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from app.documents.storage import StoredObjectMissing
from tests.app.documents.test_documents import (
    a_pdf,
    complete,
    fetch,
    link,
    send,
    start,
    upload,
)
from tests.conftest import Live, live_server, problem
from tests.support.builders import client_id_of
from tests.support.clamd import EICAR, EICAR_SIGNATURE, ClamdServer
from tests.support.net import wait_until
from tests.support.seaweedfs import SeaweedFSServer
from tests.support.ws import WsClient


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, clamd: ClamdServer, seaweedfs: SeaweedFSServer
) -> Iterator[Live]:
    env = {
        **seaweedfs.settings_env(),
        **clamd.settings_env(),
        # This server runs its scheduled work (the others of the suite do not): the scan job is
        # claimed soon after it is due and retried soon after it fails.
        "TEAMWELL_JOBS_IN_SERVICE": "true",
        "TEAMWELL_JOBS_POLL_SECONDS": "0.2",
        "TEAMWELL_JOBS_RETRY_BASE_SECONDS": "0.5",
        "TEAMWELL_JOBS_RETRY_MAX_SECONDS": "1",
        "TEAMWELL_JOBS_MAX_ATTEMPTS": "50",
        "TEAMWELL_DOCUMENT_CHUNK_BYTES": "1024",
    }
    with live_server(tmp_path_factory, "documents-scanned", extra_env=env) as running:
        yield running


def object_key(live: Live, document: dict[str, Any], number: int = 1) -> str | None:
    with sqlite3.connect(live.data_dir / "teamwell.db") as db:
        row = db.execute(
            "SELECT object_key FROM document_version WHERE document_id = ? AND number = ?",
            (uuid.UUID(document["id"]).hex, number),
        ).fetchone()
    return None if row is None else row[0]


def s3_object(seaweedfs: SeaweedFSServer, key: str) -> bytes:
    async def get() -> bytes:
        store = seaweedfs.store()
        try:
            return await store.get(key)
        finally:
            await store.close()

    return asyncio.run(get())


def test_a_clean_file_on_s3_round_trips_sealed(live: Live, seaweedfs: SeaweedFSServer) -> None:
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    data = a_pdf(2500)
    document = upload(keyworker, data, client_id=client_id_of(live, "Alex Morgan"), kind="cv")
    assert document["current"]["scan_status"] == "clean"
    assert document["id"] in [
        d["id"]
        for d in therapist.get(
            f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/documents"
        ).json()
    ]
    key = object_key(live, document)
    assert key is not None
    # Sealed in segments of a chunk each (a nonce and a tag more), under the version's key.
    segments = [s3_object(seaweedfs, f"{key}/{index}") for index in range(3)]
    assert [len(s) for s in segments] == [1024 + 28, 1024 + 28, 2500 - 2048 + 28]
    assert all(data[i : i + 100] not in s for s in segments for i in range(0, 2500, 100))
    got = fetch(live, link(therapist, document).json()["url"])
    assert got.status_code == 200 and got.content == data
    # Deleted: the object leaves the bucket.
    deleted = keyworker.http.request(
        "DELETE", f"/api/v1/documents/{document['id']}", json={"reason": "Test of deletion"}
    )
    assert deleted.status_code == 200, deleted.text
    for index in range(3):
        with pytest.raises(StoredObjectMissing):
            s3_object(seaweedfs, f"{key}/{index}")


def test_the_eicar_file_is_quarantined_and_its_uploader_told(live: Live) -> None:
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    alex = client_id_of(live, "Alex Morgan")
    started = start(keyworker, EICAR, client_id=alex, filename="harmless.txt", kind="letters")
    assert send(keyworker, started, EICAR, 0).status_code == 200
    done = complete(keyworker, started)
    assert done.status_code == 201, done.text
    document = done.json()
    version = document["current"]
    assert version["scan_status"] == "infected" and version["available"] is False
    assert version["scan_detail"] == f"malware found: {EICAR_SIGNATURE}.UNOFFICIAL"
    assert object_key(live, document) is None  # never stored
    # The uploader sees it in their list; nobody else does.
    mine = keyworker.get(f"/api/v1/clients/{alex}/documents").json()
    assert document["id"] in [d["id"] for d in mine]
    theirs = therapist.get(f"/api/v1/clients/{alex}/documents").json()
    assert document["id"] not in [d["id"] for d in theirs]
    problem(therapist.get(f"/api/v1/documents/{document['id']}"), 404)
    problem(link(keyworker, document), 410)
    with sqlite3.connect(live.data_dir / "teamwell.db") as db:
        notices = db.execute(
            "SELECT notice FROM notification_delivery WHERE user_id = ?",
            (uuid.UUID(keyworker.user["id"]).hex,),
        ).fetchall()
        quarantined = db.execute(
            "SELECT outcome, detail FROM audit_event WHERE action = 'document.quarantined'"
        ).fetchall()
    assert ("document_quarantined",) in notices
    assert quarantined and quarantined[-1] == ("denied", "malware found")


async def test_with_clamd_away_a_file_waits_then_the_job_scans_it(
    live: Live, clamd: ClamdServer
) -> None:
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    alex = client_id_of(live, "Alex Morgan")
    viewer = await WsClient.connect(live.base_url, therapist.tokens["access_token"])
    try:
        await viewer.wait_type("ready")
        clamd.halt()
        try:
            data = a_pdf(1500)
            document = await asyncio.to_thread(
                upload, keyworker, data, client_id=alex, kind="forms"
            )
            assert document["current"]["scan_status"] == "pending"  # never "clean" unscanned
            listed = therapist.get(f"/api/v1/clients/{alex}/documents").json()
            assert document["id"] not in [d["id"] for d in listed]
            problem(therapist.get(f"/api/v1/documents/{document['id']}"), 404)
            own = fetch(live, link(keyworker, document).json()["url"])  # the uploader's own
            assert own.status_code == 200 and own.content == data

            stored = object_key(live, document)
            assert stored is not None
            job_key = f"documents.scan:{stored.rsplit('/', 1)[-1]}"

            def attempted() -> bool:
                """The scan job ran and failed once (clamd away): it waits for its retry."""
                with sqlite3.connect(live.data_dir / "teamwell.db") as db:
                    row = db.execute(
                        "SELECT attempts, status FROM scheduled_job WHERE key = ?", (job_key,)
                    ).fetchone()
                return row is not None and row[0] >= 1 and row[1] == "queued"

            assert await asyncio.to_thread(wait_until, attempted, timeout=30)
            assert (
                keyworker.get(f"/api/v1/documents/{document['id']}").json()["current"][
                    "scan_status"
                ]
                == "pending"
            )
        finally:
            clamd.resume()
        added = await viewer.wait_type("document.added", timeout=30)
        assert added["document"]["document_id"] == document["id"]
        seen = therapist.get(f"/api/v1/documents/{document['id']}").json()
        assert seen["current"]["scan_status"] == "clean"
    finally:
        await viewer.close()
