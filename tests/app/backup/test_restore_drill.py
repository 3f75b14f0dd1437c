"""The restore drill, on both databases: a service filled through its API is backed up while a
writer keeps sending messages, the backup is restored into a fresh data directory and database,
and a server started on it has everything acknowledged before the backup began, with its audit
chain intact and its message bodies readable (so the keys came back with the data).

The backup is encrypted to a public key (an identity made with `teamwell backup-keygen`): the
source holds only the recipient, the restoring side the identity; passphrase backups have their
round trip in test_backup_cli.py, and the two modes share everything but the sealing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT, Live, base_env, live_server, teamwell_cli
from tests.support import builders
from tests.support.postgres import PostgresServer
from tests.support.server import LiveServer
from tests.support.ws import WsClient

# The writer is bounded: it stops when the backup is done, or after this many messages, fewer
# than the test servers' burst of messages (TEAMWELL_MESSAGE_BURST), so none is refused.
WRITER_MAX_MESSAGES = 150


@pytest.fixture(params=["sqlite", "postgres"])
def source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    with live_server(tmp_path_factory, "backup-source", request=request) as running:
        yield running


def pg_env(request: pytest.FixtureRequest, backend: str) -> dict[str, str]:
    if backend != "postgres":
        return {}
    pg: PostgresServer = request.getfixturevalue("postgres")
    return {"TEAMWELL_PG_BIN": str(pg.bin_dir)}


def fill(live: Live) -> dict[str, Any]:
    """A plan, a measure and a document file, made as people would; returns what to find."""
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    client_id = builders.new_client(therapist, "Dee Restore")
    measure = therapist.post(
        f"/api/v1/clients/{client_id}/measures",
        json={
            "instrument": "gad7",
            "answers": {str(n): 1 for n in range(1, 8)},
            "session_key": "drill-1",
        },
    )
    assert measure.status_code == 201, measure.text
    plan_url = f"/api/v1/clients/{client_id}/plan"
    etag = therapist.get(plan_url).headers["etag"]
    goal = "Restore drill goal: back to part-time work"
    saved = therapist.put(plan_url, json={"goals": [{"text": goal}]}, headers={"If-Match": etag})
    assert saved.status_code == 200, saved.text
    team_id = builders.demo_team_id(keyworker)
    opened = keyworker.post("/api/v1/conversations", json={"kind": "team", "team_id": team_id})
    assert opened.status_code == 200, opened.text
    # The documents folder is backed up with the rest of the data directory, whatever is in it.
    documents = live.data_dir / "documents"
    documents.mkdir()
    (documents / "letter.bin").write_bytes(b"a stored document's bytes")
    # The audit events of the client's record as the supervisors' screen listed them.
    trail = live.as_role("admin").get("/api/v1/audit-events", params={"client_id": client_id})
    assert trail.status_code == 200, trail.text
    assert trail.json()["items"], "the record's creation, measure and plan were audited"
    return {
        "audit_ids": [event["id"] for event in trail.json()["items"]],
        "client_id": client_id,
        "measure_id": measure.json()["id"],
        "goal": goal,
        "conversation_id": str(opened.json()["id"]),
    }


async def write_until(
    ws: WsClient, conversation_id: str, stop: asyncio.Event, started: asyncio.Event, acked: list
) -> None:
    for n in range(WRITER_MAX_MESSAGES):
        if stop.is_set():
            return
        ack = await ws.send_message(conversation_id, f"drill message {n} {uuid.uuid4().hex}")
        assert ack["type"] == "message.ack", ack
        acked.append(ack["message"])
        started.set()


def history(http: httpx.Client, conversation_id: str) -> dict[int, str]:
    bodies: dict[int, str] = {}
    after = 0
    while True:
        page = http.get(
            f"/api/v1/conversations/{conversation_id}/messages", params={"after_seq": after}
        )
        assert page.status_code == 200, page.text
        for message in page.json()["messages"]:
            bodies[message["seq"]] = message["body"]
            after = message["seq"]
        if not page.json()["has_more"]:
            return bodies


async def test_a_backup_taken_during_writes_restores_everything_acknowledged_before_it(
    source: Live,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    made = fill(source)
    keyworker = source.as_role("peer_keyworker")
    extra = pg_env(request, source.backend)
    backups = tmp_path_factory.mktemp("backups")
    archive, identity = backups / "teamwell.backup", backups / "restore-identity.txt"
    made_key = teamwell_cli(source.env, "backup-keygen", str(identity))
    assert made_key.returncode == 0, made_key.stdout + made_key.stderr
    recipient = made_key.stdout.strip().rsplit(" ", 1)[-1]
    secret = identity.read_text().splitlines()[-1]
    env = {**source.env, **extra}

    ws = await WsClient.connect(source.base_url, keyworker.tokens["access_token"])
    await ws.wait_type("ready")
    acked: list[dict[str, Any]] = []
    stop, started = asyncio.Event(), asyncio.Event()
    writer = asyncio.create_task(write_until(ws, made["conversation_id"], stop, started, acked))
    try:
        async with asyncio.timeout(30):
            await started.wait()
        before = list(acked)  # acknowledged before the backup began
        done = await asyncio.to_thread(
            teamwell_cli, env, "backup", str(archive), "--recipient", recipient
        )
        stop.set()
        async with asyncio.timeout(30):
            await writer
    finally:
        writer.cancel()
        await ws.close()
    assert done.returncode == 0, done.stdout + done.stderr
    assert before, "the writer was writing when the backup began"

    # A fresh instance: a new data directory and an empty database, restored, then migrated.
    data_dir = tmp_path_factory.mktemp("restored")
    if source.backend == "sqlite":
        url = f"sqlite:///{data_dir / 'teamwell.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(
            f"restored_{uuid.uuid4().hex[:8]}"
        )
    restored_env = {**base_env(data_dir, url), **extra}
    printed = [made_key.stdout + made_key.stderr, done.stdout + done.stderr]
    for args in (("restore", str(archive), "--identity", str(identity)), ("migrate",)):
        step = teamwell_cli(restored_env, *args)
        assert step.returncode == 0, step.stdout + step.stderr
        printed.append(step.stdout + step.stderr)
    verified = teamwell_cli(restored_env, "verify-audit")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain intact" in verified.stdout
    assert (data_dir / "documents" / "letter.bin").read_bytes() == b"a stored document's bytes"

    server = LiveServer(env=restored_env, cwd=REPO_ROOT).start()
    try:
        # The keyworker's token from before the backup still works: the signing secret and their
        # session came back too.
        with httpx.Client(
            base_url=server.base_url,
            timeout=30,
            headers={"Authorization": keyworker.http.headers["Authorization"]},
        ) as http:
            bodies = history(http, made["conversation_id"])
            # Every message acknowledged before the backup is there, its body decrypted.
            for message in before:
                assert bodies.get(message["seq"]) == message["body"]
        therapist = source.as_role("therapist")
        with httpx.Client(
            base_url=server.base_url,
            timeout=30,
            headers={"Authorization": therapist.http.headers["Authorization"]},
        ) as http:
            plan = http.get(f"/api/v1/clients/{made['client_id']}/plan")
            assert plan.status_code == 200, plan.text
            assert plan.json()["content"]["goals"][0]["text"] == made["goal"]
            measures = http.get(f"/api/v1/clients/{made['client_id']}/measures")
            assert measures.status_code == 200, measures.text
            assert made["measure_id"] in [m["id"] for m in measures.json()]
        with httpx.Client(
            base_url=server.base_url,
            timeout=30,
            headers={"Authorization": source.as_role("admin").http.headers["Authorization"]},
        ) as http:
            trail = http.get("/api/v1/audit-events", params={"client_id": made["client_id"]})
            assert trail.status_code == 200, trail.text
            restored_ids = {event["id"] for event in trail.json()["items"]}
            assert set(made["audit_ids"]) <= restored_ids
    finally:
        server.stop()
    # Now the instance holds data: another restore is refused, unless forced.
    again = teamwell_cli(restored_env, "restore", str(archive), "--identity", str(identity))
    assert again.returncode == 5 and "not empty" in again.stderr, again.stdout + again.stderr
    forced = teamwell_cli(
        restored_env, "restore", "--force", str(archive), "--identity", str(identity)
    )
    assert forced.returncode == 0, forced.stdout + forced.stderr
    printed += [again.stdout + again.stderr, forced.stdout + forced.stderr]
    # The identity's secret key is in its file and nowhere else the commands wrote.
    assert not any(secret in text for text in printed)
    assert secret.encode() not in archive.read_bytes()
    verified = teamwell_cli(restored_env, "verify-audit")
    assert verified.returncode == 0, verified.stdout + verified.stderr
