"""The notifications API on a running server: defaults, strict input (RFC 9457 problems naming
each field), the rules a clinician keeps, push subscriptions up to their limit and their
removal, the VAPID key handed out, and what an admin sees of a bounced address. Every change
is audited."""

from __future__ import annotations

import base64
import copy
import uuid
from typing import Any

import pytest

from app.config import Settings
from tests.auth.policies.test_permissions import NOTIFICATION_SETTINGS
from tests.conftest import Live, problem

PREFS = "/api/v1/me/notifications"
DEVICES = f"{PREFS}/push-subscriptions"


def settings_body(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(NOTIFICATION_SETTINGS)
    body.update(changes)
    return body


def device(endpoint: str | None = None) -> dict[str, Any]:
    return {
        "endpoint": endpoint or f"https://push.example.org/{uuid.uuid4().hex}",
        "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22},
        "expirationTime": None,
    }


def test_everyone_starts_with_sensible_defaults(live_sqlite: Live) -> None:
    reply = live_sqlite.as_role("employment_specialist").get(PREFS)
    assert reply.status_code == 200, reply.text
    prefs = reply.json()
    assert prefs["time_zone"] == "Europe/London"
    assert prefs["quiet_hours"] == {"start": "21:00", "end": "08:00"}
    assert prefs["urgent_alerts_required"] is True
    assert prefs["kinds"]["urgent_alerts"] == {"email": True, "push": True, "sms": True}
    assert prefs["kinds"]["messages"] == {"email": True, "push": True, "sms": False}
    assert prefs["email_bounced"] is False and prefs["sms_number"] is None
    key = base64.urlsafe_b64decode(prefs["push_public_key"] + "=")
    assert len(key) == 65 and key[0] == 4
    client = live_sqlite.as_role("client").get(PREFS).json()
    assert client["urgent_alerts_required"] is False
    assert client["kinds"]["urgent_alerts"]["sms"] is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": 0}, "time_zone"),
        ({"quiet_hours": {"start": "24:00", "end": "08:00"}}, "start"),
        ({"quiet_hours": {"start": "9:00", "end": "08:00"}}, "start"),
        ({"quiet_hours": {"start": "21:00"}}, "end"),
        ({"sms_number": "07700 900123"}, "sms_number"),
        ({"sms_number": 447700900123}, "sms_number"),
        ({"kinds": {"messages": {"email": "true", "push": True, "sms": False}}}, "email"),
        ({"kinds": {"gossip": {"email": True, "push": True, "sms": False}}}, "kinds"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_settings_are_typed_strictly(
    live_sqlite: Live, changes: dict[str, Any], field: str
) -> None:
    body = settings_body()
    if "kinds" in changes:
        body["kinds"] = {**body["kinds"], **changes.pop("kinds")}
    body.update(changes)
    found = problem(live_sqlite.as_role("client").put(PREFS, json=body), 422)
    assert any(field in error["field"] for error in found["errors"]), found


def test_every_kind_must_be_given(live_sqlite: Live) -> None:
    body = settings_body()
    del body["kinds"]["check_ins"]
    found = problem(live_sqlite.as_role("client").put(PREFS, json=body), 400)
    assert "check_ins" in found["detail"]


def test_a_clinician_keeps_urgent_alerts_on_some_channel(live_sqlite: Live) -> None:
    off = {"email": False, "push": False, "sms": False}
    body = settings_body()
    body["kinds"] = {**body["kinds"], "urgent_alerts": off}
    found = problem(live_sqlite.as_role("therapist").put(PREFS, json=body), 422)
    assert found["type"].endswith("/urgent-alerts-required")
    # A client may switch them off (they are never sent one).
    assert live_sqlite.as_role("client").put(PREFS, json=body).status_code == 200
    # One channel is enough.
    body["kinds"]["urgent_alerts"] = {**off, "push": True}
    assert live_sqlite.as_role("therapist").put(PREFS, json=body).status_code == 200
    live_sqlite.as_role("client").put(PREFS, json=settings_body())
    live_sqlite.as_role("therapist").put(PREFS, json=settings_body())


def test_sms_needs_a_number_and_saving_is_audited(live_sqlite: Live) -> None:
    supervisor = live_sqlite.as_role("supervisor")
    body = settings_body()
    body["kinds"] = {**body["kinds"], "urgent_alerts": {"email": True, "push": True, "sms": True}}
    found = problem(supervisor.put(PREFS, json=body), 422)
    assert found["type"].endswith("/sms-number-required")
    body.update(sms_number="+447700900123", quiet_hours=None, time_zone="Europe/Paris")
    saved = supervisor.put(PREFS, json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["sms_number"] == "+447700900123"
    assert saved.json()["quiet_hours"] is None and saved.json()["time_zone"] == "Europe/Paris"
    assert supervisor.get(PREFS).json()["kinds"]["urgent_alerts"]["sms"] is True
    events = supervisor.get(
        "/api/v1/audit-events",
        params={"actor_id": supervisor.user["id"], "action": "notification.preferences_update"},
    ).json()["items"]
    assert events and events[0]["outcome"] == "success"
    supervisor.put(PREFS, json=settings_body())


def test_push_subscriptions_up_to_the_limit_and_removed_by_their_owner(live_sqlite: Live) -> None:
    limit = Settings().push_subscriptions_per_person
    keyworker = live_sqlite.as_role("peer_keyworker")
    made = []
    for _ in range(limit):
        reply = keyworker.post(DEVICES, json=device())
        assert reply.status_code == 201, reply.text
        made.append(reply.json())
    over = problem(keyworker.post(DEVICES, json=device()), 409)
    assert over["type"].endswith("/too-many-push-subscriptions")
    # The same endpoint again is the same device, not one more.
    again = keyworker.post(DEVICES, json=device(made[0]["endpoint"]))
    assert again.status_code == 201 and again.json()["id"] == made[0]["id"]
    listed = keyworker.get(PREFS).json()["push_subscriptions"]
    assert {d["id"] for d in listed} == {d["id"] for d in made}
    # Someone else cannot remove it (it is not theirs to see: 404).
    problem(live_sqlite.as_role("therapist").delete(f"{DEVICES}/{made[0]['id']}"), 404)
    for one in made:
        assert keyworker.delete(f"{DEVICES}/{one['id']}").status_code == 204
    assert keyworker.get(PREFS).json()["push_subscriptions"] == []
    problem(keyworker.delete(f"{DEVICES}/{made[0]['id']}"), 404)


def test_a_device_signed_in_by_someone_else_moves_to_them(live_sqlite: Live) -> None:
    shared = device()
    first = live_sqlite.as_role("client").post(DEVICES, json=shared)
    assert first.status_code == 201, first.text
    second = live_sqlite.as_role("therapist").post(DEVICES, json=shared)
    assert second.status_code == 201, second.text
    assert live_sqlite.as_role("client").get(PREFS).json()["push_subscriptions"] == []
    live_sqlite.as_role("therapist").delete(f"{DEVICES}/{second.json()['id']}")


@pytest.mark.parametrize(
    ("endpoint", "keys", "status"),
    [
        ("http://push.example.org/abc", None, 422),  # not https
        ("https://user:pw@push.example.org/abc", None, 422),
        ("https://push.example.org/" + "a" * 2048, None, 422),
        (None, {"p256dh": "B" + "A" * 85, "auth": "A" * 22}, 422),  # 64 bytes, not 65
        (None, {"p256dh": "B" + "A" * 86, "auth": "A" * 21}, 422),
        (None, {"p256dh": "B" + "A" * 86, "auth": "A" * 22, "extra": "x"}, 422),
    ],
)
def test_a_push_subscription_is_checked(
    live_sqlite: Live, endpoint: str | None, keys: dict[str, str] | None, status: int
) -> None:
    body = device(endpoint)
    if keys is not None:
        body["keys"] = keys
    problem(live_sqlite.as_role("client").post(DEVICES, json=body), status)


def test_an_admin_reads_a_persons_notification_status(live_sqlite: Live) -> None:
    admin = live_sqlite.as_role("admin")
    therapist = live_sqlite.as_role("therapist").user["id"]
    reply = admin.get(f"/api/v1/users/{therapist}/notification-status")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"email_bounced_at": None, "email_bounced_address": None, "failed": []}
    problem(admin.get(f"/api/v1/users/{uuid.uuid4()}/notification-status"), 404)
