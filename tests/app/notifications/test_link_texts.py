"""Guest and questionnaire links sent by text message, over real HTTP to a GOV.UK Notify
stand-in that checks each request as Notify's API documents it: the number (a UK mobile, strictly
read and sent in E.164), the client's own number on record, the fixed text with nothing clinical
in it, the audit with only the number's last three digits and never the link, the daily limit at
its edge, and what happens where SMS is off."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from pydantic import TypeAdapter, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients.models import ClientRecord
from app.clock import FrozenClock
from app.config import Settings
from app.context import Actor, Context
from app.notifications import link_texts
from app.notifications.channels import LogSmsSender, without_tokens
from tests.app.notifications.test_notifications import (
    FORBIDDEN,
    NOTIFY_KEY_NAME,
    NOTIFY_SECRET,
    NOTIFY_SERVICE_ID,
    NOTIFY_TEMPLATE,
    assert_nothing_clinical,
)
from tests.conftest import Live, live_server, problem
from tests.support.builders import arrange_meeting, client_id_of
from tests.support.net import free_port

LIMIT = 3
TITLE = "Anxiety and sleep review"  # a meeting title that would say something clinical


@dataclass
class NotifyStandIn:
    """GOV.UK Notify's ``POST /v2/notifications/sms`` on a thread of the test: a Bearer JWT
    (HS256, ``iss`` the service id, ``iat`` within 30 seconds), the number, the template id and
    its personalisation, and nothing else; anything wrong is answered 400 or 403 as Notify would.
    ``failing`` answers the next requests 500."""

    port: int = field(default_factory=free_port)
    sent: list[dict[str, Any]] = field(default_factory=list)
    failing: int = 0
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def answer(self, authorization: str, raw: bytes) -> int:
        if self.failing:
            self.failing -= 1
            return 500
        scheme, _, token = authorization.partition(" ")
        try:
            decoded = jwt.decode(token, OctKey.import_key(NOTIFY_SECRET.encode()), ["HS256"])
        except Exception:
            return 403
        if scheme != "Bearer" or decoded.header.get("typ") != "JWT":
            return 403
        if decoded.claims.get("iss") != NOTIFY_SERVICE_ID:
            return 403
        if abs(decoded.claims["iat"] - time.time()) > 30:
            return 403
        body = json.loads(raw)
        if set(body) - {"phone_number", "template_id", "personalisation", "reference"}:
            return 400
        if not body.get("phone_number") or body.get("template_id") != NOTIFY_TEMPLATE:
            return 400
        with self.arrived:
            self.sent.append(body)
            self.arrived.notify_all()
        return 201

    def start(self) -> ThreadingHTTPServer:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = (
                    stand_in.answer(self.headers.get("Authorization", ""), raw)
                    if self.path == "/v2/notifications/sms"
                    else 404
                )
                reply = json.dumps({"id": str(uuid.uuid4())} if status == 201 else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture(scope="module")
def notify() -> Iterator[NotifyStandIn]:
    stand_in = NotifyStandIn()
    server = stand_in.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def sms_live(tmp_path_factory: pytest.TempPathFactory, notify: NotifyStandIn) -> Iterator[Live]:
    env = {
        "TEAMWELL_SMS_BACKEND": "notify",
        "TEAMWELL_NOTIFY_API_KEY": f"{NOTIFY_KEY_NAME}-{NOTIFY_SERVICE_ID}-{NOTIFY_SECRET}",
        "TEAMWELL_NOTIFY_SMS_TEMPLATE_ID": NOTIFY_TEMPLATE,
        "TEAMWELL_NOTIFY_BASE_URL": f"http://127.0.0.1:{notify.port}",
        "TEAMWELL_LINK_SMS_PER_CLIENT_PER_DAY": str(LIMIT),
    }
    with live_server(tmp_path_factory, "link-texts", extra_env=env) as running:
        yield running


def client_session(live: Live, name: str) -> dict[str, Any]:
    starts = datetime.now(UTC) + timedelta(hours=2)
    return arrange_meeting(
        live.as_role("peer_keyworker"),
        title=TITLE,
        client_id=client_id_of(live, name),
        starts_at=starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ends_at=(starts + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def audit(live: Live, name: str, action: str) -> list[dict[str, Any]]:
    reply = live.as_role("supervisor").get(
        "/api/v1/audit-events",
        params={"client_id": client_id_of(live, name), "action": action, "limit": "200"},
    )
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def test_a_guest_link_is_texted_to_the_number_given(sms_live: Live, notify: NotifyStandIn) -> None:
    meeting = client_session(sms_live, "Alex Morgan")
    before = len(notify.sent)
    made = sms_live.as_role("peer_keyworker").post(
        f"/api/v1/meetings/{meeting['id']}/guest-links",
        json={"kind": "interpreter", "guest_name": "Dana Price", "sms_to": "07700 900 456"},
    )
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["texted"] is True and link["emailed"] is False
    [sent] = notify.sent[before:]
    assert sent == {
        "phone_number": "+447700900456",
        "template_id": NOTIFY_TEMPLATE,
        "personalisation": {"title": "Your Teamwell video appointment link", "link": link["link"]},
    }
    assert_nothing_clinical(json.dumps(sent))
    assert TITLE not in json.dumps(sent) and "Anxiety" not in json.dumps(sent)

    [texted] = audit(sms_live, "Alex Morgan", "guest_link.sms")
    assert texted["resource_id"] == link["id"] and texted["detail"] == "to …456"
    token = token_of(link["link"])
    for event in [*audit(sms_live, "Alex Morgan", "guest_link.create"), texted]:
        assert token not in json.dumps(event) and "900456" not in json.dumps(event)


def test_a_questionnaire_link_goes_to_the_clients_own_number(
    sms_live: Live, notify: NotifyStandIn
) -> None:
    # Alex gives his mobile in his own notification settings: that is his number on record.
    alex = sms_live.as_role("client")
    prefs = alex.get("/api/v1/me/notifications").json()
    wanted = {
        "kinds": prefs["kinds"],
        "time_zone": prefs["time_zone"],
        "quiet_hours": prefs["quiet_hours"],
        "sms_number": "+447700900123",
    }
    assert alex.put("/api/v1/me/notifications", json=wanted).status_code == 200

    keyworker = sms_live.as_role("peer_keyworker")
    before = len(notify.sent)
    made = keyworker.post(
        f"/api/v1/clients/{client_id_of(sms_live, 'Alex Morgan')}/measure-links",
        json={"instrument": "phq9", "sms": True},
    )
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["texted"] is True
    [sent] = notify.sent[before:]
    assert sent["phone_number"] == "+447700900123"
    assert sent["personalisation"] == {
        "title": "Your Teamwell questionnaire link",
        "link": link["link"],
    }
    # Not which questionnaire, not the client's name: nothing clinical.
    assert_nothing_clinical(json.dumps(sent))
    [texted] = audit(sms_live, "Alex Morgan", "measure_link.sms")
    assert texted["detail"] == "to …123" and token_of(link["link"]) not in json.dumps(texted)


@pytest.mark.parametrize(
    "number",
    [
        "+15551234567",  # not the UK
        "020 7946 0000",  # a landline
        "0770090012",  # a digit short
        "077009001234",  # a digit long
        "+44 07700 900123",  # both prefixes
        "07700-900123x",
        "",
        7700900123,  # a number, not a string
    ],
)
def test_only_a_uk_mobile_is_taken(sms_live: Live, notify: NotifyStandIn, number: Any) -> None:
    before = len(notify.sent)
    reply = sms_live.as_role("peer_keyworker").post(
        f"/api/v1/clients/{client_id_of(sms_live, 'Bea Collins')}/measure-links",
        json={"instrument": "gad7", "sms_to": number},
    )
    problem(reply, 422)
    assert notify.sent[before:] == []


def test_uk_mobiles_are_normalised_to_e164() -> None:
    read = TypeAdapter(link_texts.UkMobile)
    for written in ("07700900123", "07700 900123", "+447700900123", "+44 7700 900 123"):
        assert read.validate_python(written) == "+447700900123"
    for refused in (" 07700900123", "07700  900123", "447700900123", "+447700900123 "):
        with pytest.raises(ValidationError):
            read.validate_python(refused)


def test_without_a_number_nothing_is_made(sms_live: Live, notify: NotifyStandIn) -> None:
    keyworker = sms_live.as_role("peer_keyworker")
    bea = client_id_of(sms_live, "Bea Collins")  # no login, so no number on record
    before = len(notify.sent)
    made = keyworker.post(f"/api/v1/clients/{bea}/measure-links", json={"instrument": "gad7"})
    assert made.status_code == 201  # the same client, without a text, is fine
    missing = keyworker.post(
        f"/api/v1/clients/{bea}/measure-links", json={"instrument": "gad7", "sms": True}
    )
    assert problem(missing, 422)["type"].endswith("/sms-number-missing")
    meeting = client_session(sms_live, "Alex Morgan")
    interpreter = keyworker.post(
        f"/api/v1/meetings/{meeting['id']}/guest-links",
        json={"kind": "interpreter", "guest_name": "Dana Price", "sms": True},
    )
    assert problem(interpreter, 422)["type"].endswith("/sms-number-missing")
    listed = keyworker.get(f"/api/v1/meetings/{meeting['id']}/guest-links").json()
    assert listed == []  # the refused request left no link behind
    assert notify.sent[before:] == []


def test_a_client_gets_at_most_the_limit_of_texts_a_day(
    sms_live: Live, notify: NotifyStandIn
) -> None:
    keyworker = sms_live.as_role("peer_keyworker")
    # A client no other test texts: the count is theirs alone.
    chris = client_id_of(sms_live, "Chris Doyle")
    sends = [
        keyworker.post(
            f"/api/v1/clients/{chris}/measure-links",
            json={"instrument": "gad7", "sms_to": "07700900789"},
        )
        for _ in range(LIMIT)
    ]
    assert [reply.status_code for reply in sends] == [201] * LIMIT
    before = len(notify.sent)
    over = keyworker.post(
        f"/api/v1/clients/{chris}/measure-links",
        json={"instrument": "gad7", "sms_to": "07700900789"},
    )
    body = problem(over, 429)
    assert body["type"].endswith("/too-many-texts") and body["limit"] == LIMIT
    assert notify.sent[before:] == []
    assert len(audit(sms_live, "Chris Doyle", "measure_link.sms")) == LIMIT
    assert len(audit(sms_live, "Chris Doyle", "measure_link.create")) == LIMIT


def test_a_text_notify_refuses_fails_the_request_and_keeps_no_link(
    sms_live: Live, notify: NotifyStandIn
) -> None:
    meeting = client_session(sms_live, "Alex Morgan")
    notify.failing = 1
    made = sms_live.as_role("peer_keyworker").post(
        f"/api/v1/meetings/{meeting['id']}/guest-links",
        json={"kind": "family", "guest_name": "Sam Morgan", "sms_to": "07700900321"},
    )
    assert problem(made, 502)["type"].endswith("/sms-not-sent")
    listed = sms_live.as_role("peer_keyworker").get(f"/api/v1/meetings/{meeting['id']}/guest-links")
    assert listed.json() == []


def test_where_sms_is_off_it_is_not_offered_and_asking_is_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = {"TEAMWELL_SMS_BACKEND": "off"}
    with live_server(tmp_path_factory, "link-texts-off", extra_env=env) as off:
        keyworker = off.as_role("peer_keyworker")
        # What the web forms ask before offering "Text the link".
        assert keyworker.get("/api/v1/me/notifications").json()["sms_available"] is False
        alex = client_id_of(off, "Alex Morgan")
        asked = keyworker.post(
            f"/api/v1/clients/{alex}/measure-links",
            json={"instrument": "phq9", "sms_to": "07700900123"},
        )
        assert problem(asked, 409)["type"].endswith("/sms-off")
        meeting = client_session(off, "Alex Morgan")
        guest = keyworker.post(
            f"/api/v1/meetings/{meeting['id']}/guest-links", json={"kind": "client", "sms": True}
        )
        assert problem(guest, 409)["type"].endswith("/sms-off")
        assert keyworker.get(f"/api/v1/meetings/{meeting['id']}/guest-links").json() == []
        assert audit(off, "Alex Morgan", "measure_link.create") == []


@pytest.mark.parametrize(
    ("value", "ok"), [("0", False), ("1", True), ("100", True), ("101", False)]
)
def test_the_daily_limit_setting_at_its_edges(
    value: str, ok: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAMWELL_LINK_SMS_PER_CLIENT_PER_DAY", value)
    if ok:
        assert Settings(data_dir=tmp_path).link_sms_per_client_per_day == int(value)
    else:
        with pytest.raises(ValueError):
            Settings(data_dir=tmp_path)


async def test_where_sms_is_off_a_text_is_refused_before_anything_else() -> None:
    ctx = Context(
        actor=Actor(user_id=None, role=None, organisation_id=None, user_agent="test"),
        clock=FrozenClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC)),
    )
    with pytest.raises(link_texts.SmsOff):
        await link_texts.plan(
            session=cast(AsyncSession, None),  # refused before any query
            ctx=ctx,
            settings=Settings(sms_backend="off"),
            client=ClientRecord(
                organisation_id=uuid.uuid4(), team_id=uuid.uuid4(), display_name="Alex Morgan"
            ),
            number="+447700900123",
            action="guest_link.sms",
        )


async def test_the_log_sender_logs_no_token_and_no_whole_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-"
    caplog.set_level(logging.INFO, logger="teamwell.notifications")
    await LogSmsSender().send(
        "+447700900123",
        title="Your Teamwell questionnaire link",
        link=f"https://t.example/#/q/{token}",
    )
    assert token not in caplog.text and "900123" not in caplog.text
    assert "...123" in caplog.text and "https://t.example/#/q/…" in caplog.text
    assert without_tokens("https://t.example/#/home") == "https://t.example/#/home"
    assert all(word not in caplog.text for word in FORBIDDEN)
