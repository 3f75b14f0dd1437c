"""A file of one chunk uploaded in one request (``POST /documents``), with every real part: the
store is SeaweedFS (S3), the scanner a real clamd with the EICAR signature. The same rules as the
chunked upload hold: the limits at their edges, the type judged by the bytes, the EICAR file
quarantined and its uploader told, "pending" while clamd is away, the place's permissions, the
audit. The chunk here (4096) is larger than a file may be (2048), so both limits are reached."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.app.documents.test_documents import a_pdf, audit, fetch, link
from tests.conftest import Live, Session, live_server, problem
from tests.support.builders import client_id_of
from tests.support.clamd import EICAR, EICAR_SIGNATURE, ClamdServer
from tests.support.seaweedfs import SeaweedFSServer

CHUNK = 4096
MAX_BYTES = 2048
DAILY = 6 * MAX_BYTES


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, clamd: ClamdServer, seaweedfs: SeaweedFSServer
) -> Iterator[Live]:
    env = {
        **seaweedfs.settings_env(),
        **clamd.settings_env(),
        "TEAMWELL_DOCUMENT_CHUNK_BYTES": str(CHUNK),
        "TEAMWELL_DOCUMENT_MAX_BYTES": str(MAX_BYTES),
        "TEAMWELL_DOCUMENT_DAILY_BYTES_PER_PERSON": str(DAILY),
    }
    with live_server(tmp_path_factory, "documents-whole", extra_env=env) as running:
        yield running


def send_whole(who: Session, data: bytes, **query: Any) -> httpx.Response:
    return who.post(
        "/api/v1/documents",
        params={"filename": "file.pdf", **query},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def whole(who: Session, data: bytes, **query: Any) -> dict[str, Any]:
    sent = send_whole(who, data, **query)
    assert sent.status_code == 201, sent.text
    document: dict[str, Any] = sent.json()
    return document


def stored_key(live: Live, document: dict[str, Any]) -> str | None:
    with sqlite3.connect(live.data_dir / "teamwell.db") as db:
        row = db.execute(
            "SELECT object_key FROM document_version WHERE document_id = ?",
            (uuid.UUID(document["id"]).hex,),
        ).fetchone()
    return None if row is None else row[0]


def test_one_request_keeps_a_clean_file_sealed_and_shows_it(
    live: Live, seaweedfs: SeaweedFSServer
) -> None:
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    alex = client_id_of(live, "Alex Morgan")
    data = a_pdf(MAX_BYTES)  # at the per-file limit: allowed
    document = whole(keyworker, data, client_id=alex, kind="cv", filename="../../My CV.pdf")
    version = document["current"]
    assert version["scan_status"] == "clean" and version["size"] == MAX_BYTES
    assert version["filename"] == "My CV.pdf" and version["media_type"] == "application/pdf"
    assert document["kind"] == "cv" and document["title"] == "../../My CV.pdf"
    listed = therapist.get(f"/api/v1/clients/{alex}/documents").json()
    assert document["id"] in [d["id"] for d in listed]
    key = stored_key(live, document)
    assert key is not None

    async def stored() -> bytes:
        store = seaweedfs.store()
        try:
            return await store.get(f"{key}/0")
        finally:
            await store.close()

    sealed = asyncio.run(stored())
    assert len(sealed) == MAX_BYTES + 28 and data[:200] not in sealed
    got = fetch(live, link(therapist, document).json()["url"])
    assert got.status_code == 200 and got.content == data
    [event] = [e for e in audit(live, "document.upload") if e["resource_id"] == document["id"]]
    assert event["outcome"] == "success" and "scan clean" in event["detail"]
    # A new version, in one request too.
    again = whole(keyworker, a_pdf(1500), document_id=document["id"])
    assert [v["number"] for v in again["versions"]] == [1, 2]


def test_the_limits_hold_at_their_edges(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, "Alex Morgan")
    over = send_whole(keyworker, a_pdf(MAX_BYTES + 1), client_id=alex)
    assert problem(over, 413)["type"].endswith("/document-too-large")
    # A body over the chunk size is refused before it is read.
    beyond = send_whole(keyworker, a_pdf(CHUNK + 1), client_id=alex)
    assert problem(beyond, 413)["type"].endswith("/payload-too-large")
    empty = problem(send_whole(keyworker, b"", client_id=alex), 422)
    assert empty["code"] == "empty-file"


def test_the_daily_limit_counts_files_sent_whole(live: Live) -> None:
    supervisor = live.as_role("supervisor")  # uploads nowhere else in this module
    alex = client_id_of(live, "Alex Morgan")
    for _ in range(DAILY // MAX_BYTES):
        whole(supervisor, a_pdf(MAX_BYTES), client_id=alex)
    refused = send_whole(supervisor, a_pdf(100), client_id=alex)
    assert problem(refused, 429)["type"].endswith("/document-daily-limit")
    assert 0 < int(refused.headers["retry-after"]) <= 24 * 3600


def test_a_lying_extension_is_refused_and_audited(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    liar = b"MZ\x90\x00" + bytes(200)  # a Windows program calling itself a PDF
    refused = problem(
        send_whole(keyworker, liar, client_id=client_id_of(live, "Alex Morgan"), filename="cv.pdf"),
        422,
    )
    assert refused["code"] == "type-not-allowed"
    assert audit(live, "document.upload_refused")[0]["detail"] == "type-not-allowed"


def test_the_eicar_file_sent_whole_is_quarantined_and_its_uploader_told(live: Live) -> None:
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    alex = client_id_of(live, "Alex Morgan")
    document = whole(keyworker, EICAR, client_id=alex, filename="harmless.txt", kind="letters")
    version = document["current"]
    assert version["scan_status"] == "infected" and version["available"] is False
    assert version["scan_detail"] == f"malware found: {EICAR_SIGNATURE}.UNOFFICIAL"
    assert stored_key(live, document) is None  # never kept
    theirs = therapist.get(f"/api/v1/clients/{alex}/documents").json()
    assert document["id"] not in [d["id"] for d in theirs]
    with sqlite3.connect(live.data_dir / "teamwell.db") as db:
        notices = db.execute(
            "SELECT notice FROM notification_delivery WHERE user_id = ?",
            (uuid.UUID(keyworker.user["id"]).hex,),
        ).fetchall()
    assert ("document_quarantined",) in notices
    assert audit(live, "document.quarantined")[0]["outcome"] == "denied"


def test_with_clamd_away_a_file_sent_whole_waits_unseen(live: Live, clamd: ClamdServer) -> None:
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    alex = client_id_of(live, "Alex Morgan")
    clamd.halt()
    try:
        document = whole(keyworker, a_pdf(1200), client_id=alex, kind="forms")
    finally:
        clamd.resume()
    assert document["current"]["scan_status"] == "pending"  # never "clean" unscanned
    problem(therapist.get(f"/api/v1/documents/{document['id']}"), 404)
    stored = stored_key(live, document)
    assert stored is not None  # kept, sealed, for the scan job to read
    with sqlite3.connect(live.data_dir / "teamwell.db") as db:
        job = db.execute(
            "SELECT status FROM scheduled_job WHERE key = ?",
            (f"documents.scan:{stored.rsplit('/', 1)[-1]}",),
        ).fetchone()
    assert job is not None


def test_the_place_is_checked_and_input_is_strict(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, "Alex Morgan")
    data = a_pdf(500)
    no_place = problem(send_whole(keyworker, data), 422)
    assert no_place["type"].endswith("/document-place")
    problem(send_whole(keyworker, data, client_id=alex, shared_with_client="1"), 422)
    problem(send_whole(keyworker, data, client_id=alex, kind="agenda"), 422)
    # Another organisation's staff without the client's consent: refused, audited.
    dana = client_id_of(live, "Dana Evans")
    specialist = live.as_role("employment_specialist")
    problem(send_whole(specialist, data, client_id=dana), 403)
    event = audit(live, "document.upload")[0]
    assert event["outcome"] == "denied" and event["actor_id"] == str(specialist.user["id"]).replace(
        "-", ""
    )
