"""/metrics through a real server: the token guards it, the counters move with requests, frames
and messages, and no label value names a person, an id or a raw path."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from tests.conftest import DEMO_CLIENT_NAMES, ROLE_EMAILS, Live, demo_team_id, live_server, problem
from tests.support.builders import arrange_meeting, client_id_of
from tests.support.ws import WsClient

TOKEN = "metrics-" + "k" * 40
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(
        tmp_path_factory, "metrics", extra_env={"TEAMWELL_METRICS_TOKEN": TOKEN}
    ) as running:
        yield running


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(live: Live) -> Samples:
    with live.client() as http:
        reply = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_the_endpoint_needs_the_token(served: Live) -> None:
    with served.client() as http:
        missing = http.get("/metrics")
        problem(missing, 401)
        assert missing.headers["www-authenticate"].startswith("Bearer")
        problem(http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}), 401)
        problem(http.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}), 401)
        assert http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_unset_token_means_no_endpoint(live_sqlite: Live) -> None:
    with live_sqlite.client() as http:
        problem(http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}), 404)


def test_the_token_is_as_long_as_the_other_secrets() -> None:
    assert Settings(metrics_token="m" * 32).metrics_token is not None
    with pytest.raises(ValueError, match="at least 32"):
        Settings(metrics_token="m" * 31)


def test_requests_are_counted_by_route_template(served: Live) -> None:
    keyworker = served.as_role("peer_keyworker")
    before = scrape(served)
    missing_client = uuid.uuid4()
    assert keyworker.get(f"/api/v1/clients/{missing_client}").status_code in (403, 404)
    assert keyworker.get("/healthz").status_code == 200
    after = scrape(served)
    route = "/api/v1/clients/{client_id}"
    moved = [
        key
        for key, count in after.items()
        if key[0] == "teamwell_http_requests_total"
        and dict(key[1]).get("route") == route
        and count > before.get(key, 0.0)
    ]
    assert moved, f"no count moved for {route}"
    healthz = {"route": "/healthz", "method": "GET", "status": "200"}
    assert value(after, "teamwell_http_requests_total", **healthz) >= (
        value(before, "teamwell_http_requests_total", **healthz) + 1
    )
    assert value(
        after, "teamwell_http_request_duration_seconds_count", route="/healthz", method="GET"
    ) > value(
        before, "teamwell_http_request_duration_seconds_count", route="/healthz", method="GET"
    )


async def test_frames_and_messages_move_the_counters(served: Live) -> None:
    keyworker = served.as_role("peer_keyworker")
    conversation = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": demo_team_id(keyworker)}
    ).json()["id"]
    before = scrape(served)
    client = await WsClient.connect(served.base_url, keyworker.tokens["access_token"])
    try:
        await client.wait_type("ready")
        during = scrape(served)
        assert (
            value(during, "teamwell_ws_connections") >= value(before, "teamwell_ws_connections") + 1
        )
        await client.send(
            {
                "type": "message.send",
                "id": "m1",
                "conversation_id": conversation,
                "client_msg_id": str(uuid.uuid4()),
                "body": "counted, not named",
            }
        )
        await client.wait_type("message.ack")
        await client.send("{not json")
        await client.wait_type("error")
    finally:
        await client.close()
    # A read of a client's plan is audited through the audit writer's group commit.
    listed = keyworker.get("/api/v1/clients").json()
    first = (listed["items"] if isinstance(listed, dict) else listed)[0]["id"]
    assert keyworker.get(f"/api/v1/clients/{first}/plan").status_code in (200, 404)
    after = scrape(served)

    def grew(name: str, by: float = 1, **labels: str) -> None:
        assert value(after, name, **labels) >= value(before, name, **labels) + by, (name, labels)

    grew("teamwell_ws_frames_received_total", type="message.send")
    grew("teamwell_ws_frames_received_total", type="invalid")
    grew("teamwell_ws_frames_sent_total", type="ready")
    grew("teamwell_ws_frames_sent_total", type="message.ack")
    grew("teamwell_ws_frames_refused_total", code="bad_json")
    grew("teamwell_messages_stored_total")
    grew("teamwell_group_commit_batch_size_count", writer="messages")
    grew("teamwell_group_commit_seconds_count", writer="messages")
    grew("teamwell_audit_events_total")
    grew("teamwell_group_commit_batch_size_count", writer="audit")


def test_no_label_names_a_person_an_id_or_a_path(served: Live) -> None:
    keyworker = served.as_role("peer_keyworker")
    clients = keyworker.get("/api/v1/clients").json()
    items = clients["items"] if isinstance(clients, dict) else clients
    ids = [str(item["id"]) for item in items]
    assert ids, "the scenario reads the demo clients"
    for client_id in ids[:3]:
        keyworker.get(f"/api/v1/clients/{client_id}")
    secret_path = f"/api/v1/nowhere/{ROLE_EMAILS['client']}/{ids[0]}"
    with served.client() as http:
        assert http.get(secret_path).status_code == 404
    values = {label_value for (_name, labels) in scrape(served) for _key, label_value in labels}
    personal = {*ROLE_EMAILS.values(), *DEMO_CLIENT_NAMES, *ids}
    assert not [v for v in values if UUID.search(v)]
    assert not [v for v in values if "@" in v]
    assert not [v for v in values if any(p.lower() in v.lower() for p in personal)]
    assert "unmatched" in values and secret_path not in values


def test_a_refusal_does_not_log_the_token(served: Live) -> None:
    wrong = "wrong-" + "w" * 40
    with httpx.Client(base_url=served.base_url, timeout=30) as http:
        http.get("/metrics", headers={"Authorization": f"Bearer {wrong}"})
    assert served.server.log_path is not None
    assert wrong not in served.server.log_path.read_text(errors="replace")


def test_several_processes_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    """Two processes count into the shared directory; a third's exposition is their sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = (
        "from app import metrics; metrics.messages_stored.inc(2); metrics.WS_CONNECTIONS.inc(); "
        "metrics.process_stopped()"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=60)
    read = (
        "from prometheus_client import generate_latest; from app import metrics; "
        "print(generate_latest(metrics._registry()).decode())"
    )
    shown = subprocess.run(
        [sys.executable, "-c", read], env=env, check=True, timeout=60, capture_output=True
    ).stdout.decode()
    assert "teamwell_messages_stored_total 4.0" in shown, shown


OFFER = {"kind": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}


async def test_presence_meetings_and_send_queues_are_counted(served: Live) -> None:
    keyworker, therapist = served.as_role("peer_keyworker"), served.as_role("therapist")
    alex = client_id_of(served, "Alex Morgan")
    meeting_id = arrange_meeting(keyworker, title="Counted, not named", client_id=alex)["id"]
    before = scrape(served)
    priya = await WsClient.connect(served.base_url, keyworker.tokens["access_token"])
    tom = await WsClient.connect(served.base_url, therapist.tokens["access_token"])
    try:
        await priya.wait_type("ready")
        await tom.wait_type("ready")
        priya_id = keyworker.user["id"]
        await priya.request({"type": "presence.set", "state": "busy"})
        await tom.wait_for(
            lambda f: (
                f.get("type") == "presence" and f["user_id"] == priya_id and f["state"] == "busy"
            )
        )
        joined = await priya.request({"type": "meeting.join", "meeting_id": meeting_id})
        assert joined["type"] == "meeting.joined", joined
        await tom.request({"type": "meeting.join", "meeting_id": meeting_id})
        await tom.send(
            {
                "type": "meeting.signal",
                "meeting_id": meeting_id,
                "to": joined["participant_id"],
                "signal": OFFER,
            }
        )
        await priya.wait_type("meeting.signal")
        during = scrape(served)
    finally:
        await priya.close()
        await tom.close()

    def grew(name: str, by: float = 1, **labels: str) -> None:
        assert value(during, name, **labels) >= value(before, name, **labels) + by, (name, labels)

    grew("teamwell_presence_changes_published_total")
    grew("teamwell_meeting_signals_relayed_total", kind="offer")
    assert value(during, "teamwell_meeting_participants", state="admitted") >= 2
    # Read at the scrape from the sockets of the process: present, whatever their depth.
    assert ("teamwell_ws_send_queue_frames", frozenset()) in during
    assert ("teamwell_ws_send_queue_max_frames", frozenset()) in during


def test_without_a_token_nothing_is_counted(tmp_path: Path) -> None:
    """No token, nothing may scrape: the service counts nothing and times no request, so the
    hot paths pay nothing (and the benchmark's "metrics off" is that)."""
    from prometheus_client import REGISTRY

    from app import metrics
    from app.main import create_app

    def counted() -> tuple[float | None, ...]:
        return (
            REGISTRY.get_sample_value("teamwell_messages_stored_total"),
            REGISTRY.get_sample_value("teamwell_ws_frames_sent_total", {"type": "ready"}),
            REGISTRY.get_sample_value("teamwell_group_commit_batch_size_count", {"writer": "t"}),
        )

    app = create_app(Settings(data_dir=tmp_path))
    try:
        assert app.edge is not None and not app.edge.counted
        before = counted()
        metrics.messages_stored.inc()
        metrics.frames_out["ready"].inc()
        metrics.GroupCommitMetrics("t").batch.observe(3)
        assert counted() == before
        with_token = create_app(Settings(data_dir=tmp_path, metrics_token=TOKEN))
        assert with_token.edge is not None and with_token.edge.counted
        metrics.messages_stored.inc()
        metrics.GroupCommitMetrics("t").batch.observe(3)
        metrics.flush()  # what a scrape does first
        after = counted()
        assert after[0] == (before[0] or 0) + 1 and after[2] == (before[2] or 0) + 1
    finally:
        metrics.configure(on=True)


async def test_tallied_counts_reach_the_registry_without_a_scrape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With several processes, a scrape of one reads the others' counts from the shared
    directory: each process hands its tallied counts over every ``FLUSH_SECONDS``, whether it
    is scraped itself or not."""
    from prometheus_client import REGISTRY

    from app import metrics

    def stored() -> float:
        return REGISTRY.get_sample_value("teamwell_messages_stored_total") or 0.0

    metrics.configure(on=True)
    metrics.flush()
    before = stored()
    metrics.messages_stored.inc(3)
    assert stored() == before  # tallied, not yet handed over
    flushed = asyncio.Event()
    handed_over = metrics.flush

    def flush_and_tell() -> None:
        handed_over()
        flushed.set()

    monkeypatch.setattr(metrics, "flush", flush_and_tell)
    flusher = asyncio.create_task(metrics.flush_every(0.01))
    try:
        async with asyncio.timeout(10):
            await flushed.wait()
    finally:
        flusher.cancel()
    assert stored() == before + 3
