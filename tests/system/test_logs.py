"""The service's logs (app/logs.py, docs/operations.md "Logs"): one JSON line per request with its
id, route template, status, duration and acting user's id; the id kept from X-Request-ID when
well formed, echoed, and the problem answers' ``instance``; and nothing a person typed, no secret
and no one's name or email anywhere in the log of a whole session."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import DEMO_PASSWORD, ROLE_EMAILS, Live, live_server, problem
from tests.realtime.test_realtime import team_conversation
from tests.support.builders import client_id_of, edit_plan
from tests.support.leaks import assert_nothing_leaked, demo_identities
from tests.support.smtp import Mailbox, SmtpServer
from tests.support.ws import WsClient

# Well above the setting's floor, so a test can send one at the edge and one past it.
MAX_CHARS = 40
INSTANCE = "urn:teamwell:request:"


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server writing JSON at debug level (frame lines too) and sending mail by SMTP, as in
    production: the log email backend is a development aid that writes each email out."""
    smtp = SmtpServer(Mailbox()).start()
    try:
        with live_server(
            tmp_path_factory,
            "logs",
            extra_env={
                "TEAMWELL_LOG_FORMAT": "json",
                "TEAMWELL_LOG_LEVEL": "DEBUG",
                "TEAMWELL_REQUEST_ID_MAX_CHARS": str(MAX_CHARS),
                "TEAMWELL_EMAIL_BACKEND": "smtp",
                "TEAMWELL_SMTP_HOST": "127.0.0.1",
                "TEAMWELL_SMTP_PORT": str(smtp.port),
            },
        ) as live:
            yield live
    finally:
        smtp.stop()


def log_text(live: Live) -> str:
    assert live.server.log_path is not None
    return live.server.log_path.read_text(errors="replace")


def json_lines(live: Live) -> list[dict[str, Any]]:
    """The log's JSON lines (uvicorn's few lines before the app is imported are plain)."""
    lines = []
    for line in log_text(live).splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def request_line(live: Live, request_id: str) -> dict[str, Any]:
    found = [
        line
        for line in json_lines(live)
        if line.get("request_id") == request_id and line["message"] == "request"
    ]
    assert len(found) == 1, found
    return found[0]


def test_a_well_formed_request_id_is_kept_echoed_and_logged_with_the_route(logged: Live) -> None:
    therapist = logged.as_role("therapist")
    client_id = client_id_of(logged, "Alex Morgan")
    given = "edge-" + "x" * (MAX_CHARS - 5)  # exactly the limit
    reply = therapist.get(f"/api/v1/clients/{client_id}/plan", headers={"X-Request-ID": given})
    assert reply.status_code == 200 and reply.headers["x-request-id"] == given
    line = request_line(logged, given)
    assert line["route"] == "/api/v1/clients/{client_id}/plan"  # the template, not the path
    assert (line["method"], line["status"]) == ("GET", 200)
    assert line["user_id"] == therapist.user["id"]
    assert isinstance(line["duration_ms"], float) and line["level"] == "info"
    assert client_id not in json.dumps(line)


@pytest.mark.parametrize(
    "header",
    [
        "x" * (MAX_CHARS + 1),  # one past the limit
        "has space",
        'quote"and{brace}',
        "line\tbreak",
    ],
)
def test_a_malformed_request_id_is_replaced(logged: Live, header: str) -> None:
    reply = logged.client().get("/api/v1/meta", headers={"X-Request-ID": header})
    made = reply.headers["x-request-id"]
    assert made != header and re.fullmatch(r"[0-9a-f]{32}", made)
    line = request_line(logged, made)
    assert (line["route"], line["status"], line.get("user_id")) == ("/api/v1/meta", 200, None)
    assert header not in log_text(logged)


def test_an_id_is_made_when_none_is_given(logged: Live) -> None:
    first = logged.client().get("/healthz").headers["x-request-id"]
    second = logged.client().get("/healthz").headers["x-request-id"]
    assert first != second and request_line(logged, first)["route"] == "/healthz"


def test_a_problem_names_its_request_as_instance(logged: Live) -> None:
    given = uuid.uuid4().hex
    http = logged.client()
    refused = problem(http.get("/api/v1/clients", headers={"X-Request-ID": given}), 401)
    assert refused["instance"] == INSTANCE + given
    line = request_line(logged, given)
    assert (line["route"], line["status"]) == ("/api/v1/clients", 401)
    # Also a validation error, a route that does not exist, and a refusal before routing.
    too_large = "x" * (int(logged.env.get("TEAMWELL_MAX_REQUEST_BYTES", 1_000_000)) + 1)
    for reply in (
        http.post("/api/v1/auth/login", json={"email": 5}),
        http.get("/api/v1/no-such-thing"),
        http.post("/api/v1/auth/login", content=too_large),  # refused before routing
    ):
        body = reply.json()
        assert body["instance"] == INSTANCE + reply.headers["x-request-id"], body
    unrouted = http.get("/api/v1/no-such-thing").headers["x-request-id"]
    assert "route" not in request_line(logged, unrouted)  # no route matched: none named


async def test_a_whole_session_leaves_no_secret_or_content_in_the_log(logged: Live) -> None:
    """Sign in, message, save a plan with a note, answer a measure, fail a sign-in: then the
    log holds none of what was typed, no password, token or cookie, and nobody's email or name."""
    typed = {
        "message": "Secret-message-" + uuid.uuid4().hex,
        "goal": "Plan-goal-" + uuid.uuid4().hex,
        "note": "Plan-note-" + uuid.uuid4().hex,
        "comment": "Plan-comment-" + uuid.uuid4().hex,
        "wrong password": "Wrong-password-" + uuid.uuid4().hex,
    }
    keyworker = logged.as_role("peer_keyworker")
    therapist = logged.as_role("therapist")
    client = logged.as_role("client")
    client_id = client_id_of(logged, "Alex Morgan")
    conversation = team_conversation(logged)

    priya = await WsClient.connect(logged.base_url, keyworker.tokens["access_token"])
    tom = await WsClient.connect(logged.base_url, therapist.tokens["access_token"])
    try:
        ready = await priya.wait_type("ready")
        await tom.wait_type("ready")
        sent = await priya.send_message(conversation, typed["message"])
        assert sent["type"] == "message.ack", sent
        received = await tom.wait_type("message.new")
        assert received["message"]["body"] == typed["message"]
        refused = await priya.request({"type": "no.such.frame"})
        assert refused["type"] == "error"
    finally:
        await priya.close()
        await tom.close()

    def change(content: dict[str, Any]) -> None:
        content["goals"] = [*content["goals"], {"text": typed["goal"]}]
        content["vocational_profile"]["what_helps"] = typed["note"]

    goal_id = edit_plan(keyworker, client_id, change)["content"]["goals"][-1]["id"]
    noted = client.post(
        f"/api/v1/clients/{client_id}/plan/comments",
        json={"item_id": goal_id, "text": typed["comment"]},
    )
    assert noted.status_code == 201, noted.text
    measured = client.post(
        f"/api/v1/clients/{client_id}/measures",
        json={"instrument": "gad7", "answers": {str(n): 3 for n in range(1, 8)}},
    )
    assert measured.status_code == 201, measured.text
    failed = logged.client().post(
        "/api/v1/auth/login",
        json={"email": ROLE_EMAILS["therapist"], "password": typed["wrong password"]},
    )
    problem(failed, 401)

    text = log_text(logged)
    # The session did reach the log: its requests and its socket's frames, by id and type.
    lines = json_lines(logged)
    assert any(
        line.get("connection_id") == ready["connection_id"]
        and line.get("frame_type") == "message.send"
        for line in lines
    )
    assert any(line.get("route") == "/api/v1/clients/{client_id}/measures" for line in lines)
    assert any(
        line.get("route") == "/api/v1/auth/login" and line.get("status") == 401 for line in lines
    )
    secrets = {
        **typed,
        "demo password": DEMO_PASSWORD,
        "client id": client_id,  # in paths only: the log names routes by their template
    }
    for session in (keyworker, therapist, client):
        secrets[f"access token of {session.email}"] = session.tokens["access_token"]
        if session.tokens.get("refresh_token"):
            secrets[f"refresh token of {session.email}"] = session.tokens["refresh_token"]
        for cookie in session.http.cookies.values():
            secrets[f"cookie of {session.email}"] = cookie
    secrets.update(demo_identities())
    # Nothing shaped like an email address or a bearer token either.
    assert_nothing_leaked(text, secrets)
