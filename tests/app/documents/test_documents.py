"""Documents on a real server (its own, with small limits so their edges are cheap to reach):
round trip through chunked uploads and download tokens, what is at rest in the store, resuming
after a dropped chunk, the limits at their edges, attacks refused and audited, versions,
deletion, retention, and re-keying with the old objects still opening."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db import create_engine, session_factory
from app.documents import service
from tests.app.documents.test_content import bomb, pdf, png
from tests.conftest import Live, Session, live_server, problem, teamwell_cli
from tests.support.builders import arrange_meeting, client_id_of
from tests.support.ws import WsClient

CHUNK = 1024
MAX_BYTES = 8192
DAILY = 12 * MAX_BYTES  # the keyworker uploads about 50 KB here; the limit test is apart


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    env = {
        "TEAMWELL_DOCUMENT_CHUNK_BYTES": str(CHUNK),
        "TEAMWELL_DOCUMENT_MAX_BYTES": str(MAX_BYTES),
        "TEAMWELL_DOCUMENT_DAILY_BYTES_PER_PERSON": str(DAILY),
        "TEAMWELL_DOCUMENT_RETENTION_DAYS": json.dumps({"letters": 30}),
    }
    with live_server(tmp_path_factory, "documents", extra_env=env) as running:
        yield running


# --- helpers -------------------------------------------------------------------------------------


def start(who: Session, data: bytes, **fields: Any) -> dict[str, Any]:
    body = {"filename": "file.pdf", "size": len(data), **fields}
    started = who.post("/api/v1/documents/uploads", json=body)
    assert started.status_code == 201, started.text
    upload: dict[str, Any] = started.json()
    return upload


def send(who: Session, upload: dict[str, Any], data: bytes, offset: int) -> httpx.Response:
    part = data[offset : offset + upload["chunk_bytes"]]
    return who.put(
        f"/api/v1/documents/uploads/{upload['id']}/chunks/{offset}",
        content=part,
        headers={"Content-Type": "application/octet-stream"},
    )


def complete(who: Session, upload: dict[str, Any]) -> httpx.Response:
    return who.post(f"/api/v1/documents/uploads/{upload['id']}/complete")


def upload(who: Session, data: bytes, **fields: Any) -> dict[str, Any]:
    """Upload a whole file, chunk by chunk, and complete it: the document."""
    started = start(who, data, **fields)
    for offset in range(0, len(data), started["chunk_bytes"]):
        sent = send(who, started, data, offset)
        assert sent.status_code == 200, sent.text
    done = complete(who, started)
    assert done.status_code == 201, done.text
    document: dict[str, Any] = done.json()
    return document


def link(who: Session, document: dict[str, Any], number: int = 1, **body: Any) -> httpx.Response:
    return who.post(f"/api/v1/documents/{document['id']}/versions/{number}/download", json=body)


def fetch(live: Live, url: str, **kw: Any) -> httpx.Response:
    """GET a file by its token with no signed-in session at all."""
    with live.client() as http:
        return http.get(url, **kw)


def a_pdf(size: int = 3000) -> bytes:
    """A real PDF, padded with a comment to ``size`` bytes (several chunks)."""
    body = pdf()
    return body + b"%" + b"x" * (size - len(body) - 2) + b"\n"


def audit(live: Live, action: str) -> list[dict[str, Any]]:
    """The audit events of this action, newest first, read from the server's database."""
    with sqlite3.connect(live.data_dir / "teamwell.db") as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT * FROM audit_event WHERE action = ? ORDER BY id DESC", (action,)
        ).fetchall()
    return [dict(row) for row in rows]


def stored_id(who: Session) -> str:
    """A person's id as SQLite stores a UUID (32 hex digits)."""
    return str(who.user["id"]).replace("-", "")


def stored_files(live: Live) -> list[Path]:
    root = live.data_dir / "documents"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def provider_id(live: Live) -> str:
    organisations = live.as_role("therapist").get("/api/v1/organisations").json()["items"]
    return str(next(o["id"] for o in organisations if o["slug"] == "northern-employment"))


# --- round trip ----------------------------------------------------------------------------------


def test_round_trip_on_a_record_with_a_download_token(live: Live) -> None:
    alex = client_id_of(live, "Alex Morgan")
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    data = a_pdf()
    document = upload(
        keyworker,
        data,
        client_id=alex,
        kind="cv",
        title="CV, December",
        filename="Alex CV.pdf",
        shared_with_client=True,
    )
    assert document["place"] == "client_record" and document["kind"] == "cv"
    current = document["current"]
    assert current["number"] == 1 and current["media_type"] == "application/pdf"
    assert current["size"] == len(data) and current["sha256"] == hashlib.sha256(data).hexdigest()
    assert current["scan_status"] == "not_scanned" and current["previewable"] is True
    assert current["filename"] == "Alex CV.pdf"

    listed = therapist.get(f"/api/v1/clients/{alex}/documents").json()
    assert document["id"] in [d["id"] for d in listed]

    made = link(therapist, document)
    assert made.status_code == 201, made.text
    got = fetch(live, made.json()["url"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"].startswith("sandbox")
    assert got.headers["cache-control"] == "no-store"
    assert got.headers["content-disposition"].startswith("attachment;")

    inline = fetch(live, link(therapist, document, inline=True).json()["url"])
    assert inline.status_code == 200 and inline.headers["content-disposition"].startswith("inline;")
    used = audit(live, "document.download")
    assert used[0]["outcome"] == "success" and used[0]["actor_id"] == stored_id(therapist)

    # The client sees it (shared), on their own record.
    mine = live.as_role("client").get(f"/api/v1/clients/{alex}/documents").json()
    assert document["id"] in [d["id"] for d in mine]


def test_text_is_not_previewed_inline_and_images_are(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, "Alex Morgan")
    text = upload(keyworker, b"Notes from the call.\n", client_id=alex, filename="notes.txt")
    assert text["current"]["media_type"].startswith("text/plain")
    problem(link(keyworker, text, inline=True), 422)
    image = upload(keyworker, png(), client_id=alex, kind="forms", filename="form.png")
    got = fetch(live, link(keyworker, image, inline=True).json()["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith("inline;")


def test_stored_objects_are_not_the_plaintext_and_chunks_go(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    marker = b"UNMISTAKABLE-PLAINTEXT-" + uuid.uuid4().hex.encode()
    data = (marker + b"\n") * 100
    document = upload(
        keyworker, data, client_id=client_id_of(live, "Bea Collins"), filename="letter.txt"
    )
    files = stored_files(live)
    # One sealed segment per chunk (a nonce and a tag more than the chunk), kept where the
    # chunk was stored as it arrived; nothing else of the upload stays.
    mine = sorted((p for p in files if document["id"] in p.parts), key=lambda p: int(p.name))
    assert [p.name for p in mine] == [str(i) for i in range(math.ceil(len(data) / CHUNK))]
    assert [len(p.read_bytes()) for p in mine] == [
        len(data[i : i + CHUNK]) + 12 + 16 for i in range(0, len(data), CHUNK)
    ]
    assert all(marker not in p.read_bytes() for p in files)
    assert not [p for p in files if "uploads" in p.parts]


def open_case_thread(live: Live, name: str, *, includes_client: bool) -> str:
    opened = live.as_role("peer_keyworker").post(
        "/api/v1/conversations",
        json={
            "kind": "case",
            "client_id": client_id_of(live, name),
            "includes_client": includes_client,
        },
    )
    assert opened.status_code in (200, 201), opened.text
    return str(opened.json()["id"])


def test_a_case_thread_attachment_is_read_by_whoever_reads_the_thread(live: Live) -> None:
    keyworker, client = live.as_role("peer_keyworker"), live.as_role("client")
    with_client = open_case_thread(live, "Alex Morgan", includes_client=True)
    staff_only = open_case_thread(live, "Alex Morgan", includes_client=False)
    shared = upload(client, a_pdf(), conversation_id=with_client, filename="offer.pdf")
    assert shared["place"] == "conversation" and shared["kind"] == "attachment"
    among_staff = upload(keyworker, a_pdf(), conversation_id=staff_only)
    listed = live.as_role("therapist").get(f"/api/v1/conversations/{with_client}/documents")
    assert shared["id"] in [d["id"] for d in listed.json()]
    assert (
        live.as_role("therapist").get(f"/api/v1/documents/{among_staff['id']}").status_code == 200
    )
    # The client is in the thread with them, not in the care team's own.
    assert client.get(f"/api/v1/documents/{shared['id']}").status_code == 200
    problem(client.get(f"/api/v1/conversations/{staff_only}/documents"), 403)
    problem(client.get(f"/api/v1/documents/{among_staff['id']}"), 403)
    problem(
        client.post(
            "/api/v1/documents/uploads",
            json={"conversation_id": staff_only, "filename": "a.pdf", "size": 10},
        ),
        403,
    )
    assert audit(live, "document.upload")[0]["outcome"] == "denied"
    # Consent governs another organisation's staff in a case thread too.
    dana_thread = open_case_thread(live, "Dana Evans", includes_client=False)
    problem(
        live.as_role("employment_specialist").get(f"/api/v1/conversations/{dana_thread}/documents"),
        403,
    )


def test_a_meetings_papers_are_added_by_those_who_run_it(live: Live) -> None:
    keyworker, client = live.as_role("peer_keyworker"), live.as_role("client")
    alex = client_id_of(live, "Alex Morgan")
    meeting = arrange_meeting(keyworker, kind="case_meeting", title="Review", client_id=alex)["id"]
    agenda = upload(
        keyworker, b"1. Progress\n2. Next steps\n", meeting_id=meeting, filename="a.txt"
    )
    assert agenda["place"] == "meeting" and agenda["kind"] == "agenda"
    notes = upload(
        live.as_role("therapist"), b"Agreed: two applications.\n", meeting_id=meeting, kind="notes"
    )
    papers = live.as_role("employment_specialist").get(f"/api/v1/meetings/{meeting}/documents")
    assert {agenda["id"], notes["id"]} <= {d["id"] for d in papers.json()}
    # The client is not at the team's case meeting: neither its papers nor adding to them.
    problem(client.get(f"/api/v1/meetings/{meeting}/documents"), 403)
    problem(
        client.post(
            "/api/v1/documents/uploads",
            json={"meeting_id": meeting, "filename": "a.txt", "size": 10},
        ),
        403,
    )


async def test_the_people_who_may_read_it_are_told_live(live: Live) -> None:
    keyworker, therapist, client = (
        live.as_role("peer_keyworker"),
        live.as_role("therapist"),
        live.as_role("client"),
    )
    alex = client_id_of(live, "Alex Morgan")
    staff_view = await WsClient.connect(live.base_url, therapist.tokens["access_token"])
    client_view = await WsClient.connect(live.base_url, client.tokens["access_token"])
    try:
        await staff_view.wait_type("ready")
        await client_view.wait_type("ready")
        unshared = await asyncio.to_thread(upload, keyworker, a_pdf(), client_id=alex)
        added = await staff_view.wait_type("document.added")
        assert added["document"]["document_id"] == unshared["id"]
        assert added["document"]["client_id"] == alex and added["document"]["version"] == 1
        shared = await asyncio.to_thread(
            keyworker.patch,
            f"/api/v1/documents/{unshared['id']}",
            json={"shared_with_client": True},
        )
        assert shared.status_code == 200
        # The client hears of it first when it is shared with them, not when it was added.
        told = await client_view.wait_type("document.changed")
        assert told["document"]["document_id"] == unshared["id"]
        assert told["change"] == "shared_with_client"
        assert not [
            f
            for f in client_view.frames
            if f.get("type") == "document.added" and f["document"]["document_id"] == unshared["id"]
        ]
    finally:
        await staff_view.close()
        await client_view.close()


# --- resuming -------------------------------------------------------------------------------------


def test_a_dropped_chunk_is_resumed_from_what_arrived(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    data = a_pdf(3 * CHUNK + 100)
    started = start(keyworker, data, client_id=client_id_of(live, "Alex Morgan"), kind="letters")
    assert started["chunk_bytes"] == CHUNK and started["received_bytes"] == 0
    assert send(keyworker, started, data, 0).status_code == 200
    # The second chunk is lost on the way; the third arrives and is refused with where to resume.
    skipped = send(keyworker, started, data, 2 * CHUNK)
    assert problem(skipped, 409)["received_bytes"] == CHUNK
    problem(complete(keyworker, started), 409)
    status = keyworker.get(f"/api/v1/documents/uploads/{started['id']}").json()
    assert status["received_bytes"] == CHUNK and not status["completed"]
    # The first chunk again (its answer was lost): harmless, and what was stored stays, even
    # when the bytes sent again differ (a stored segment is never replaced: what is scanned at
    # completion is what is kept).
    again = send(keyworker, started, data, 0)
    assert again.status_code == 200 and again.json()["received_bytes"] == CHUNK
    other = keyworker.put(
        f"/api/v1/documents/uploads/{started['id']}/chunks/0",
        content=b"X" * CHUNK,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert other.status_code == 200 and other.json()["received_bytes"] == CHUNK
    for offset in (CHUNK, 2 * CHUNK, 3 * CHUNK):
        assert send(keyworker, started, data, offset).status_code == 200
    done = complete(keyworker, started)
    assert done.status_code == 201, done.text
    assert done.json()["current"]["sha256"] == hashlib.sha256(data).hexdigest()
    problem(complete(keyworker, started), 410)  # completed once only
    got = fetch(live, link(keyworker, done.json()).json()["url"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-length"] == str(len(data))


def test_an_upload_started_before_segments_is_closed(live: Live) -> None:
    """An upload left open across the upgrade to segments kept its chunks elsewhere: it cannot
    be continued or completed (410, start again); retention removes what it stored."""
    keyworker = live.as_role("peer_keyworker")
    data = a_pdf(CHUNK + 10)
    started = start(keyworker, data, client_id=client_id_of(live, "Alex Morgan"))
    with sqlite3.connect(live.data_dir / "teamwell.db") as db:
        db.execute(
            "UPDATE document_upload SET segmented = NULL WHERE id = ?",
            (started["id"].replace("-", ""),),
        )
    assert problem(send(keyworker, started, data, 0), 410)["type"].endswith("/upload-closed")
    assert problem(complete(keyworker, started), 410)["type"].endswith("/upload-closed")


def test_chunks_of_the_wrong_size_or_place_are_refused(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    data = a_pdf(2 * CHUNK + 10)
    started = start(keyworker, data, client_id=client_id_of(live, "Alex Morgan"))
    short = keyworker.put(
        f"/api/v1/documents/uploads/{started['id']}/chunks/0", content=data[: CHUNK - 1]
    )
    problem(short, 422)
    problem(keyworker.put(f"/api/v1/documents/uploads/{started['id']}/chunks/5", content=b"x"), 409)
    # The upload is its starter's: another person is refused, and that is audited.
    other = live.as_role("therapist")
    problem(other.get(f"/api/v1/documents/uploads/{started['id']}"), 403)
    assert audit(live, "document.upload")[0]["outcome"] == "denied"


def test_a_chunk_body_is_limited_to_the_chunk_size_at_its_edge(live: Live) -> None:
    """A chunk is the one body allowed past TEAMWELL_MAX_REQUEST_BYTES, up to
    TEAMWELL_DOCUMENT_CHUNK_BYTES (here 1024, below the request limit): one byte more is
    refused before it is read, as any body over its limit is."""
    keyworker = live.as_role("peer_keyworker")
    data = a_pdf(2 * CHUNK)
    started = start(keyworker, data, client_id=client_id_of(live, "Alex Morgan"))
    url = f"/api/v1/documents/uploads/{started['id']}/chunks/0"
    headers = {"Content-Type": "application/octet-stream"}
    over = keyworker.put(url, content=data[:CHUNK] + b"x", headers=headers)
    assert problem(over, 413)["type"].endswith("/payload-too-large")
    assert keyworker.put(url, content=data[:CHUNK], headers=headers).status_code == 200


# --- limits ---------------------------------------------------------------------------------------


def test_file_size_limit_at_its_edge(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, "Alex Morgan")
    largest = upload(keyworker, a_pdf(MAX_BYTES), client_id=alex)
    assert largest["current"]["size"] == MAX_BYTES
    over = keyworker.post(
        "/api/v1/documents/uploads",
        json={"client_id": alex, "filename": "big.pdf", "size": MAX_BYTES + 1},
    )
    assert problem(over, 413)["type"].endswith("/document-too-large")


def test_daily_limit_per_person_at_its_edge(live: Live) -> None:
    supervisor = live.as_role("supervisor")  # uploads nowhere else in this module
    alex = client_id_of(live, "Alex Morgan")
    for _ in range(DAILY // MAX_BYTES):
        start(supervisor, a_pdf(MAX_BYTES), client_id=alex)  # declared counts, sent or not
    refused = supervisor.post(
        "/api/v1/documents/uploads", json={"client_id": alex, "filename": "x.pdf", "size": 1}
    )
    assert problem(refused, 429)["type"].endswith("/document-daily-limit")
    assert 0 < int(refused.headers["retry-after"]) <= 24 * 3600


def test_strict_input_no_coercion(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, "Alex Morgan")
    problem(
        keyworker.post(
            "/api/v1/documents/uploads", json={"client_id": alex, "filename": "a", "size": "10"}
        ),
        422,
    )
    problem(
        keyworker.post(
            "/api/v1/documents/uploads",
            json={"client_id": alex, "filename": "a", "size": 10, "shared_with_client": "yes"},
        ),
        422,
    )
    # No place, or two places.
    problem(keyworker.post("/api/v1/documents/uploads", json={"filename": "a", "size": 10}), 422)
    # A kind that does not go on a record.
    problem(
        keyworker.post(
            "/api/v1/documents/uploads",
            json={"client_id": alex, "filename": "a", "size": 10, "kind": "agenda"},
        ),
        422,
    )


def test_content_is_judged_by_its_bytes_not_its_name(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    liar = b"MZ\x90\x00" + bytes(200)  # a Windows program calling itself a PDF
    started = start(keyworker, liar, client_id=client_id_of(live, "Alex Morgan"), filename="cv.pdf")
    assert send(keyworker, started, liar, 0).status_code == 200
    refused = problem(complete(keyworker, started), 422)
    assert refused["code"] == "type-not-allowed"
    assert audit(live, "document.upload_refused")[0]["outcome"] == "denied"
    problem(complete(keyworker, started), 410)


def test_a_zip_bomb_within_the_size_limit_is_refused_and_audited(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    data = bomb(1024 * 1024)  # a .docx of a few KB that opens to a megabyte of zeros
    assert len(data) <= MAX_BYTES  # so the size limit alone would let it through
    started = start(
        keyworker, data, client_id=client_id_of(live, "Alex Morgan"), filename="letter.docx"
    )
    for offset in range(0, len(data), started["chunk_bytes"]):
        assert send(keyworker, started, data, offset).status_code == 200
    refused = problem(complete(keyworker, started), 422)
    assert refused["code"] == "archive-bomb"
    event = audit(live, "document.upload_refused")[0]
    assert event["outcome"] == "denied" and event["detail"] == "archive-bomb"
    assert event["actor_id"] == stored_id(keyworker)
    assert not [p for p in stored_files(live) if started["id"] in p.parts]  # its parts are gone


# --- attacks -------------------------------------------------------------------------------------


def test_another_organisation_without_consent_is_refused_and_audited(live: Live) -> None:
    dana = client_id_of(live, "Dana Evans")  # no consent to share with the employment provider
    document = upload(live.as_role("therapist"), a_pdf(), client_id=dana, kind="letters")
    specialist = live.as_role("employment_specialist")
    problem(specialist.get(f"/api/v1/clients/{dana}/documents"), 403)
    refused = problem(specialist.get(f"/api/v1/documents/{document['id']}"), 403)
    assert "consent" in refused["detail"]
    problem(link(specialist, document), 403)
    event = audit(live, "document.read")[0]
    assert event["outcome"] == "denied" and "consent" in event["detail"]


def test_consent_withdrawn_removes_access_and_spends_no_token(live: Live) -> None:
    bea = client_id_of(live, "Bea Collins")
    document = upload(live.as_role("peer_keyworker"), a_pdf(), client_id=bea, kind="cv")
    specialist = live.as_role("employment_specialist")
    assert specialist.get(f"/api/v1/documents/{document['id']}").status_code == 200
    minted = link(specialist, document).json()["url"]
    decision = {"organisation_id": provider_id(live), "purpose": "employment_sharing"}
    keyworker = live.as_role("peer_keyworker")
    withdrawn = keyworker.post(
        f"/api/v1/clients/{bea}/consents", json={**decision, "state": "withdrawn"}
    )
    assert withdrawn.status_code == 201, withdrawn.text
    try:
        problem(specialist.get(f"/api/v1/documents/{document['id']}"), 403)
        read = audit(live, "document.read")[0]
        assert read["outcome"] == "denied" and read["actor_id"] == stored_id(specialist)
        assert read["resource_id"] == document["id"]
        problem(fetch(live, minted), 403)  # the link minted before is asked again
        assert audit(live, "document.download")[0]["outcome"] == "denied"
    finally:
        regranted = keyworker.post(
            f"/api/v1/clients/{bea}/consents", json={**decision, "state": "granted"}
        )
        assert regranted.status_code == 201


def test_a_client_reads_neither_another_clients_file_nor_an_unshared_one(live: Live) -> None:
    keyworker, client = live.as_role("peer_keyworker"), live.as_role("client")
    bea_file = upload(keyworker, a_pdf(), client_id=client_id_of(live, "Bea Collins"))
    problem(client.get(f"/api/v1/documents/{bea_file['id']}"), 403)
    read = audit(live, "document.read")[0]
    assert read["outcome"] == "denied" and read["actor_id"] == stored_id(client)
    assert read["resource_id"] == bea_file["id"]
    problem(link(client, bea_file), 403)
    refusals = [
        e
        for e in audit(live, "document.read")
        if e["resource_id"] == bea_file["id"] and e["actor_id"] == stored_id(client)
    ]
    assert [e["outcome"] for e in refusals] == ["denied", "denied"]  # the read, then the link
    alex = client_id_of(live, "Alex Morgan")
    unshared = upload(keyworker, a_pdf(), client_id=alex, kind="forms", title="Staff notes")
    assert unshared["shared_with_client"] is False
    assert unshared["id"] not in [
        d["id"] for d in client.get(f"/api/v1/clients/{alex}/documents").json()
    ]
    problem(client.get(f"/api/v1/documents/{unshared['id']}"), 403)
    assert audit(live, "document.read")[0]["actor_id"] == stored_id(client)
    # Staff share it: now the client sees it. A client does not share or unshare.
    shared = keyworker.patch(
        f"/api/v1/documents/{unshared['id']}", json={"shared_with_client": True}
    )
    assert shared.status_code == 200 and shared.json()["shared_with_client"] is True
    assert client.get(f"/api/v1/documents/{unshared['id']}").status_code == 200
    own = upload(client, a_pdf(), client_id=alex, kind="cv", filename="my cv.pdf")
    assert own["shared_with_client"] is True
    problem(client.patch(f"/api/v1/documents/{own['id']}", json={"shared_with_client": False}), 403)


def secret(live: Live) -> str:
    secrets = json.loads((live.data_dir / "secrets.json").read_text())
    return str(secrets["document_token_secret"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_forged_altered_and_expired_tokens_are_refused_and_audited(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    document = upload(keyworker, a_pdf(), client_id=client_id_of(live, "Alex Morgan"))
    url = link(keyworker, document).json()["url"]
    token = url.removeprefix("/files/")
    payload, mac = token.split(".")
    # Altered: the same signature over another expiry.
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split("|")
    decoded[3] = str(int(decoded[3]) + 3600)
    altered = _b64("|".join(decoded).encode()) + "." + mac
    # Forged: signed with a key that is not the server's.
    forged_mac = hmac.new(b"not-the-key", "|".join(decoded).encode(), hashlib.sha256).digest()
    forged = _b64("|".join(decoded).encode()) + "." + _b64(forged_mac)
    # Expired: signed with the server's own key, an expiry already past.
    decoded[3] = str(int((datetime.now(UTC) - timedelta(seconds=1)).timestamp()))
    expired_payload = "|".join(decoded).encode()
    expired_mac = hmac.new(secret(live).encode(), expired_payload, hashlib.sha256).digest()
    expired = _b64(expired_payload) + "." + _b64(expired_mac)
    # A bearer token and a session cookie of someone who may read it lend no authority.
    authority = {"Authorization": keyworker.http.headers["Authorization"]}
    for bad in (altered, forged, "garbage", expired):
        body = problem(fetch(live, f"/files/{bad}", headers=authority), 403)
        assert body["type"].endswith("/download-refused")
    refusals = audit(live, "document.download")[:4]
    assert [e["outcome"] for e in refusals] == ["denied"] * 4
    assert "expired" in refusals[0]["detail"] and refusals[0]["actor_id"] is not None
    assert refusals[1]["actor_id"] is None and "not a download token" in refusals[1]["detail"]
    assert "signature" in refusals[2]["detail"]
    # The good token still works, whatever credentials come with it.
    good = fetch(
        live,
        url,
        headers={"Authorization": "Bearer nonsense"},
        cookies={"teamwell_sso": "nonsense"},
    )
    assert good.status_code == 200


def test_a_path_traversal_filename_is_made_safe(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    document = upload(
        keyworker,
        a_pdf(),
        client_id=client_id_of(live, "Alex Morgan"),
        filename="../../../etc/passwd.pdf",
    )
    name = document["current"]["filename"]
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert name.endswith(".pdf")
    got = fetch(live, link(keyworker, document).json()["url"])
    assert ".." not in got.headers["content-disposition"].split("filename*=")[0]
    outside = [
        p for p in stored_files(live) if "documents" not in p.relative_to(live.data_dir).parts
    ]
    assert not outside
    # Audited as the upload it is, naming the document, not the path it pretended to be.
    event = audit(live, "document.upload")[0]
    assert event["resource_id"] == document["id"] and ".." not in (event["detail"] or "")


# --- versions, deletion ------------------------------------------------------------------------


def test_versions_keep_who_changed_what(live: Live) -> None:
    keyworker, specialist = live.as_role("peer_keyworker"), live.as_role("employment_specialist")
    alex = client_id_of(live, "Alex Morgan")
    first = upload(keyworker, a_pdf(2000), client_id=alex, kind="cv", title="CV")
    second = upload(specialist, a_pdf(2500), document_id=first["id"], filename="cv-v2.pdf")
    assert second["id"] == first["id"] and second["current"]["number"] == 2
    history = keyworker.get(f"/api/v1/documents/{first['id']}").json()["versions"]
    assert [(v["number"], v["uploaded_by"]) for v in history] == [
        (1, keyworker.user["id"]),
        (2, specialist.user["id"]),
    ]
    assert history[1]["uploaded_by_name"] == "Erin Walsh"
    old = fetch(live, link(keyworker, first, 1).json()["url"])
    assert old.status_code == 200 and len(old.content) == 2000


def test_delete_with_a_reason_removes_the_content_and_keeps_the_record(live: Live) -> None:
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    alex = client_id_of(live, "Alex Morgan")
    document = upload(keyworker, a_pdf(), client_id=alex, kind="letters")
    minted = link(therapist, document).json()["url"]
    objects = [p for p in stored_files(live) if document["id"] in p.parts]
    assert objects
    too_short = {"reason": "x"}
    problem(
        keyworker.http.request("DELETE", f"/api/v1/documents/{document['id']}", json=too_short),
        422,
    )
    deleted = keyworker.http.request(
        "DELETE",
        f"/api/v1/documents/{document['id']}",
        json={"reason": "Uploaded to the wrong record"},
    )
    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert body["deleted_at"] and body["delete_reason"] == "Uploaded to the wrong record"
    assert body["versions"][0]["available"] is False
    assert not any(p.exists() for p in objects)
    assert document["id"] not in [
        d["id"] for d in therapist.get(f"/api/v1/clients/{alex}/documents").json()
    ]
    problem(fetch(live, minted), 403)
    problem(link(therapist, document), 410)
    assert audit(live, "document.delete")[0]["detail"] == "Uploaded to the wrong record"


def test_the_subject_access_archive_lists_the_documents(live: Live) -> None:
    keyworker, client = live.as_role("peer_keyworker"), live.as_role("client")
    alex = client_id_of(live, "Alex Morgan")
    shared = upload(keyworker, a_pdf(), client_id=alex, kind="letters", shared_with_client=True)
    staff_only = upload(keyworker, a_pdf(), client_id=alex, kind="forms")
    supervisor = live.as_role("supervisor").get(f"/api/v1/clients/{alex}/subject-access").json()
    listed = {d["id"]: d for d in supervisor["documents"]}
    assert {shared["id"], staff_only["id"]} <= set(listed)
    version = listed[shared["id"]]["versions"][0]
    assert version["sha256"] == shared["current"]["sha256"] and "content" not in version
    own = client.get(f"/api/v1/clients/{alex}/subject-access").json()
    mine = {d["id"] for d in own["documents"]}
    assert shared["id"] in mine and staff_only["id"] not in mine
    withheld = {w["section"]: w["items"] for w in own["about"]["withheld"]}
    assert withheld["documents"] >= 1
    assert "document" not in own["other_records"]


# --- retention, rotation --------------------------------------------------------------------------


def _settings(live: Live) -> Settings:
    return Settings(
        data_dir=live.data_dir,
        database_url=live.env["TEAMWELL_DATABASE_URL"],
        document_retention_days={"letters": 30},
    )


def test_retention_removes_the_objects_of_a_kind_past_its_period(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, "Alex Morgan")
    letter = upload(keyworker, a_pdf(), client_id=alex, kind="letters")
    cv = upload(keyworker, a_pdf(), client_id=alex, kind="cv")
    letter_objects = [p for p in stored_files(live) if letter["id"] in p.parts]

    async def run(now: datetime) -> list[str]:
        settings = _settings(live)
        engine = create_engine(settings)
        try:
            async with session_factory(engine)() as session:
                runtime = service.runtime_from_settings(settings)
                done = await service.apply_retention(session=session, runtime=runtime, now=now)
                await session.commit()
                return [str(d.id) for d in done.documents]
        finally:
            await engine.dispose()

    now = datetime.now(UTC)
    assert letter["id"] not in asyncio.run(run(now + timedelta(days=29)))  # kept the period
    removed = asyncio.run(run(now + timedelta(days=31)))
    assert letter["id"] in removed and cv["id"] not in removed  # cv: no period, kept
    assert not any(p.exists() for p in letter_objects)
    gone = keyworker.get(f"/api/v1/documents/{letter['id']}").json()
    assert gone["delete_reason"].startswith("retention") and gone["deleted_at"]
    assert keyworker.get(f"/api/v1/documents/{cv['id']}").json()["deleted_at"] is None


def test_the_retention_command_removes_documents_as_the_job_does(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    letter = upload(keyworker, a_pdf(), client_id=client_id_of(live, "Alex Morgan"), kind="letters")
    objects = [p for p in stored_files(live) if letter["id"] in p.parts]
    assert objects
    long_ago = (datetime.now(UTC) - timedelta(days=31)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(live.data_dir / "teamwell.db") as db:
        db.execute(
            "UPDATE document_version SET uploaded_at = ? WHERE document_id = ?",
            (long_ago, letter["id"].replace("-", "")),
        )
    dry = teamwell_cli(live.env, "retention", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would remove:" in dry.stdout and "document=1" in dry.stdout
    assert all(p.exists() for p in objects)  # a dry run deletes nothing from the store
    assert keyworker.get(f"/api/v1/documents/{letter['id']}").json()["deleted_at"] is None
    done = teamwell_cli(live.env, "retention")
    assert done.returncode == 0, done.stderr
    assert "removed:" in done.stdout and "document=1" in done.stdout
    assert not any(p.exists() for p in objects)
    gone = keyworker.get(f"/api/v1/documents/{letter['id']}").json()
    assert gone["delete_reason"].startswith("retention") and gone["deleted_at"]
    assert audit(live, "document.retention")[0]["detail"].startswith("documents=1 ")


def test_rotation_rewraps_data_keys_and_old_objects_still_open(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    data = a_pdf(2222)
    document = upload(keyworker, data, client_id=client_id_of(live, "Alex Morgan"), kind="forms")
    objects = {p: p.read_bytes() for p in stored_files(live) if document["id"] in p.parts}
    rotated = teamwell_cli(live.env, "rotate-message-key")
    assert rotated.returncode == 0, rotated.stderr
    rewrapped = teamwell_cli(live.env, "reencrypt-messages")
    assert rewrapped.returncode == 0, rewrapped.stderr
    assert "document keys" in rewrapped.stdout
    keys = json.loads((live.data_dir / "message-keys.json").read_text())
    with sqlite3.connect(live.data_dir / "teamwell.db") as db:
        key_ids = {
            row[0]
            for row in db.execute(
                "SELECT key_id FROM document_version WHERE key_id IS NOT NULL"
            ).fetchall()
        }
    assert key_ids == {keys["current"]}
    # The objects were not rewritten, and they open under the re-wrapped keys.
    assert all(p.read_bytes() == blob for p, blob in objects.items())
    got = fetch(live, link(keyworker, document).json()["url"])
    assert got.status_code == 200 and got.content == data
