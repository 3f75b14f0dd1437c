"""The classic authorization breaks, each tried on a real server: refused, and audited.

Beside the route x role table (tests/auth/policies/test_permissions.py), these try what an attacker
would:
another client's id in the path, a token of another organisation, expired, tampered, unsigned
and wrongly signed tokens, a refresh token replayed, access after consent is withdrawn or after
leaving the care team, and signalling into a meeting one was not admitted to. Every refusal must
also be in the audit trail, read back through the API as a supervisor would. Each attempt
carries a user agent of its own, so its audit event is found among everything else the shared
server recorded.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import pyotp

from app.clock import SystemClock
from auth.tokens import TokenSigner
from tests.conftest import DEMO_PASSWORD, PARTNER_ADMIN_EMAIL, Live, Session, problem
from tests.support.builders import arrange_meeting, client_id_of
from tests.support.ws import WsClient

ONE_MINUTE = timedelta(minutes=1)


def attacker(label: str) -> str:
    """A user agent naming this attempt alone."""
    return f"attack-{label}-{uuid.uuid4().hex[:10]}"


def audit_events(reader: Session, **params: str) -> list[dict[str, Any]]:
    """The audit trail as ``reader`` (a supervisor or an admin) sees it: their organisation's."""
    reply = reader.get("/api/v1/audit-events", params={"limit": "200", **params})
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def events_from(live: Live, user_agent: str, **params: str) -> list[dict[str, Any]]:
    """What the trust's supervisor sees of one attempt."""
    found = audit_events(live.as_role("supervisor"), **params)
    return [e for e in found if e["user_agent"] == user_agent]


def fresh_therapist(live: Live) -> tuple[str, str]:
    """A new therapist of the trust: (email, user id)."""
    email = f"attack-therapist-{uuid.uuid4().hex[:8]}@tyneside.example"
    made = live.new_account(email, "Casey Temp", "therapist")
    return email, str(made["id"])


async def connect(live: Live, token: str) -> WsClient:
    client = await WsClient.connect(live.base_url, token)
    await client.wait_type("ready")
    return client


# --- another client's id in the path (IDOR) ----------------------------------------------------


def test_another_clients_records_are_refused_and_audited(live: Live) -> None:
    bea, alex = client_id_of(live, "Bea Collins"), client_id_of(live, "Alex Morgan")
    client = live.as_role("client")  # Alex
    ua = attacker("idor")
    attempts = [
        ("GET", f"/api/v1/clients/{bea}", None),
        ("GET", f"/api/v1/clients/{bea}/plan", None),
        ("GET", f"/api/v1/clients/{bea}/measures", None),
        ("GET", f"/api/v1/clients/{bea}/consents", None),
        ("GET", f"/api/v1/clients/{bea}/journey", None),
        ("GET", f"/api/v1/clients/{bea}/fhir", None),
        ("GET", f"/api/v1/clients/{bea}/care-team", None),
        ("PATCH", f"/api/v1/clients/{bea}", {"status": "closed"}),
        (
            "POST",
            f"/api/v1/clients/{bea}/measures",
            {"instrument": "gad7", "answers": {str(n): 0 for n in range(1, 8)}},
        ),
    ]
    for method, path, body in attempts:
        problem(client.http.request(method, path, json=body, headers={"User-Agent": ua}), 403)
    refused = events_from(live, ua, client_id=bea, actor_id=client.user["id"])
    assert len(refused) == len(attempts)
    assert {e["outcome"] for e in refused} == {"denied"}
    # Nothing about Bea was changed by the attempts.
    assert live.as_role("peer_keyworker").get(f"/api/v1/clients/{bea}").json()["status"] != (
        "closed"
    )
    # His own record still opens.
    assert client.get(f"/api/v1/clients/{alex}").status_code == 200


def test_other_peoples_conversations_and_meetings_are_refused_and_audited(live: Live) -> None:
    """Refusals decided deep in a service (not by a permission dependency) are audited too."""
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, "Alex Morgan")
    team = keyworker.get(f"/api/v1/clients/{alex}").json()["team_id"]
    conversation = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": team}
    ).json()["id"]
    meeting = arrange_meeting(
        keyworker, kind="case_meeting", title="Review without Alex", client_id=alex
    )["id"]
    client = live.as_role("client")
    ua = attacker("deep")
    paths = [
        f"/api/v1/conversations/{conversation}/messages",
        f"/api/v1/meetings/{meeting}",
        f"/api/v1/meetings/{meeting}/invite.ics",
    ]
    for path in paths:
        problem(client.get(path, headers={"User-Agent": ua}), 403)
    refused = events_from(live, ua, actor_id=client.user["id"], action="route.refused")
    assert sorted(e["resource_id"] for e in refused) == sorted(f"GET {p}" for p in paths)
    assert {e["outcome"] for e in refused} == {"denied"}


# --- a token of another organisation -------------------------------------------------------------


def test_a_token_of_another_organisation_is_refused_and_audited(live: Live) -> None:
    partner_admin = live.as_email(PARTNER_ADMIN_EMAIL)
    trust = live.as_role("admin")
    trust_id = trust.user["organisation_id"]
    alex = client_id_of(live, "Alex Morgan")
    ua = attacker("tenant")
    headers = {"User-Agent": ua}
    problem(
        partner_admin.patch(
            f"/api/v1/organisations/{trust_id}", json={"name": "Taken over"}, headers=headers
        ),
        403,
    )
    problem(partner_admin.get(f"/api/v1/clients/{alex}", headers=headers), 403)
    # People and teams of another organisation are not even confirmed to exist.
    therapist = live.as_role("therapist").user["id"]
    problem(partner_admin.get(f"/api/v1/users/{therapist}", headers=headers), 404)

    # The trust sees the attempt on its client's record; the attempt on the organisation itself
    # is in the trail of the organisation whose admin made it.
    on_the_record = events_from(live, ua, client_id=alex, actor_id=partner_admin.user["id"])
    assert [(e["action"], e["outcome"]) for e in on_the_record] == [("client.read", "denied")]
    own_trail = audit_events(partner_admin, actor_id=partner_admin.user["id"])
    on_the_organisation = [e for e in own_trail if e["user_agent"] == ua]
    assert {(e["action"], e["resource_id"], e["outcome"]) for e in on_the_organisation} == {
        ("organisation.update", trust_id, "denied"),
        ("client.read", alex, "denied"),
    }
    assert trust.get(f"/api/v1/organisations/{trust_id}").json()["name"] != "Taken over"
    # Nor can they read the trust's audit trail: only their own organisation's.
    theirs = partner_admin.get("/api/v1/audit-events", params={"limit": 200}).json()["items"]
    assert therapist not in {e["actor_id"] for e in theirs}


# --- expired, tampered, unsigned and wrongly signed tokens ---------------------------------------


def _segment(data: dict[str, Any]) -> str:
    return _segment_bytes(json.dumps(data).encode())


def _segment_bytes(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def forged_tokens(live: Live) -> dict[str, str]:
    """Tokens naming the demo therapist and their real session."""
    token = live.as_role("therapist").tokens["access_token"]
    header, _payload, signature = token.split(".")
    claims = _claims(token)
    secret = json.loads((live.data_dir / "secrets.json").read_text())["jwt_secret"]
    identity = {
        "user_id": uuid.UUID(claims["sub"]),
        "session_id": uuid.UUID(claims["sid"]),
        "role": claims["role"],
        "mfa": True,
    }
    long_ago = SystemClock().now() - timedelta(hours=2)
    as_admin = {**claims, "role": "admin"}
    return {
        "expired": TokenSigner(secret).access_token(**identity, now=long_ago, lifetime=ONE_MINUTE),
        "tampered": f"{header}.{_segment(as_admin)}.{signature}",
        "alg-none": f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(as_admin)}.",
        "other-key": TokenSigner("another-key-" + "k" * 40).access_token(
            **identity, now=SystemClock().now(), lifetime=ONE_MINUTE
        ),
    }


async def test_bad_tokens_are_refused_over_http_and_ws_and_audited(live: Live) -> None:
    therapist = live.as_role("therapist").user["id"]
    for kind, token in forged_tokens(live).items():
        ua = attacker(kind)
        with live.client() as http:
            refused = http.get(
                "/api/v1/clients", headers={"Authorization": f"Bearer {token}", "User-Agent": ua}
            )
        problem(refused, 401)
        socket = await WsClient.connect(live.base_url, token)
        assert await socket.wait_closed() == 4401, kind

        events = events_from(live, ua, action="auth.token_refused")
        assert len(events) == 1, (kind, events)
        (event,) = events
        assert event["outcome"] == "denied" and event["resource_id"] == therapist
        if kind == "expired":
            # Signed by Teamwell: it was the therapist's, so they are the actor.
            assert event["actor_id"] == therapist and "expired" in event["detail"]
        else:
            # A forgery only claims to be theirs: no actor, but their organisation sees it.
            assert event["actor_id"] is None and "not issued by Teamwell" in event["detail"]
    # The real token still works.
    assert live.as_role("therapist").get("/api/v1/auth/me").status_code == 200


async def test_a_token_made_to_crash_the_parser_is_refused_like_any_other(live: Live) -> None:
    """A header or claims nested deeper than the JSON parser recurses (yet short enough for the
    4096 characters an auth frame allows) once escaped the token check as a 500."""
    nested = _segment_bytes(b"[" * 1400 + b"]" * 1400)
    header = _segment({"alg": "HS256", "typ": "JWT"})
    for token in (f"{header}.{nested}.c2ln", f"{nested}.{header}.c2ln"):
        assert len(token) < 4096
        with live.client() as http:
            problem(http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}), 401)
        for first_frame_auth in (False, True):
            socket = await WsClient.connect(live.base_url, token, first_frame_auth=first_frame_auth)
            assert await socket.wait_closed() == 4401
    assert live.as_role("therapist").get("/api/v1/auth/me").status_code == 200


# --- a session that still owes the second factor --------------------------------------------------


async def test_a_session_without_the_second_factor_is_refused_and_audited(live: Live) -> None:
    """Staff signed in with a password only reach enrolment and nothing else; each refusal (an
    API route, the socket, a wrong enrolment code) is in the trail as theirs."""
    email, user_id = fresh_therapist(live)
    with live.client() as http:
        signed_in = http.post(
            "/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD}
        ).json()
        assert signed_in["mfa_enrolment_required"] is True
        auth = {"Authorization": f"Bearer {signed_in['access_token']}"}
        refused = problem(http.get("/api/v1/clients", headers=auth), 403)
        assert refused["type"].endswith("mfa-enrolment-required")
        secret = http.post("/api/v1/auth/mfa/enrol", headers=auth).json()["secret"]
        wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
        problem(http.post("/api/v1/auth/mfa/verify", headers=auth, json={"code": wrong}), 401)
    socket = await WsClient.connect(live.base_url, signed_in["access_token"])
    assert await socket.wait_closed() == 4401

    events = audit_events(live.as_role("supervisor"), actor_id=user_id)
    denied = {(e["action"], e["resource_id"]) for e in events if e["outcome"] == "denied"}
    assert ("auth.mfa_enrolment_required", "GET /api/v1/clients") in denied
    assert ("auth.mfa_enrolment_required", "/ws") in denied
    assert ("auth.mfa_verify", user_id) in denied


# --- a refresh token replayed --------------------------------------------------------------------


def test_a_replayed_refresh_token_ends_the_session_and_is_audited(live: Live) -> None:
    email, user_id = fresh_therapist(live)
    signed_in = live.sign_in(email)  # enrols the second factor, as staff must
    ua = attacker("replay")
    with live.client(headers={"User-Agent": ua}) as http:
        first = signed_in.tokens["refresh_token"]
        between = http.post("/api/v1/auth/refresh", json={"refresh_token": first})
        assert between.status_code == 200, between.text
        rotated = http.post(
            "/api/v1/auth/refresh", json={"refresh_token": between.json()["refresh_token"]}
        )
        assert rotated.status_code == 200, rotated.text
        # Older than the token just replaced (which a second tab may present again for a few
        # seconds): a copy.
        problem(http.post("/api/v1/auth/refresh", json={"refresh_token": first}), 401)
        # The whole family is gone: the newest tokens too.
        access = rotated.json()["access_token"]
        problem(http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {access}"}), 401)
        problem(
            http.post(
                "/api/v1/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]}
            ),
            401,
        )
    actions = {(e["action"], e["outcome"]) for e in events_from(live, ua, actor_id=user_id)}
    assert ("auth.refresh_token_reuse", "denied") in actions
    assert ("auth.token_refused", "denied") in actions  # the access token after the reuse


# --- withdrawn consent, and leaving the care team ------------------------------------------------


def test_withdrawn_consent_is_refused_and_audited(live: Live) -> None:
    specialist = live.as_role("employment_specialist")  # of the partner provider
    alex = client_id_of(live, "Alex Morgan")
    provider = specialist.user["organisation_id"]
    client = live.as_role("client")
    decision = {"organisation_id": provider, "purpose": "employment_sharing"}
    assert specialist.get(f"/api/v1/clients/{alex}").status_code == 200
    withdrawn = client.post(
        f"/api/v1/clients/{alex}/consents", json={**decision, "state": "withdrawn"}
    )
    assert withdrawn.status_code == 201, withdrawn.text
    ua = attacker("consent")
    try:
        problem(specialist.get(f"/api/v1/clients/{alex}", headers={"User-Agent": ua}), 403)
        problem(specialist.get(f"/api/v1/clients/{alex}/plan", headers={"User-Agent": ua}), 403)
    finally:
        regranted = client.post(
            f"/api/v1/clients/{alex}/consents", json={**decision, "state": "granted"}
        )
        assert regranted.status_code == 201, regranted.text
    refused = events_from(live, ua, client_id=alex, actor_id=specialist.user["id"])
    assert [e["outcome"] for e in refused] == ["denied", "denied"]
    assert all("consent" in (e["detail"] or "") for e in refused), refused


async def test_a_removed_care_team_member_is_refused_and_audited(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, "Alex Morgan")
    email, user_id = fresh_therapist(live)
    added = keyworker.post(f"/api/v1/clients/{alex}/care-team", json={"user_id": user_id})
    assert added.status_code == 201, added.text
    member = next(m for m in added.json() if m["user_id"] == user_id)
    thread = keyworker.post(
        "/api/v1/conversations", json={"kind": "case", "client_id": alex}
    ).json()["id"]
    casey = live.sign_in(email)
    socket = await connect(live, casey.tokens["access_token"])
    try:
        assert casey.get(f"/api/v1/clients/{alex}").status_code == 200
        synced = await socket.request({"type": "sync", "conversation_id": thread, "after_seq": 0})
        assert synced["type"] == "sync.page", synced

        removed = keyworker.delete(f"/api/v1/clients/{alex}/care-team/{member['id']}")
        assert removed.status_code == 204, removed.text
        ua = attacker("removed")
        problem(casey.get(f"/api/v1/clients/{alex}", headers={"User-Agent": ua}), 403)
        # The open socket loses the case thread at once, without reconnecting.
        refused = await socket.request({"type": "sync", "conversation_id": thread, "after_seq": 0})
        assert refused["type"] == "error" and refused["code"] == "not_a_member", refused
    finally:
        await socket.close()
    assert [e["outcome"] for e in events_from(live, ua, client_id=alex, actor_id=user_id)] == [
        "denied"
    ]
    over_ws = audit_events(live.as_role("supervisor"), actor_id=user_id, action="sync")
    assert [(e["resource_id"], e["outcome"]) for e in over_ws] == [(thread, "denied")]


# --- signalling into a meeting one was not admitted to -------------------------------------------


async def test_signalling_without_admission_is_refused_and_audited(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    alex_client = live.as_role("client")
    alex = client_id_of(live, "Alex Morgan")
    meeting = arrange_meeting(keyworker, title="Weekly check-in", client_id=alex)["id"]
    case_meeting = arrange_meeting(
        keyworker,
        kind="case_meeting",
        title="Case review",
        client_id=alex,
        starts_at="2030-03-05T10:00:00Z",
        ends_at="2030-03-05T11:00:00Z",
    )["id"]
    priya = await connect(live, keyworker.tokens["access_token"])
    lobby = await connect(live, alex_client.tokens["access_token"])
    try:
        joined = await priya.request({"type": "meeting.join", "meeting_id": meeting})
        assert joined["type"] == "meeting.joined", joined
        waiting = await lobby.request({"type": "meeting.join", "meeting_id": meeting})
        assert waiting["type"] == "meeting.waiting", waiting

        offer = {"kind": "offer", "sdp": "v=0\r\ns=-\r\n"}
        signal = {
            "type": "meeting.signal",
            "id": "sneak",
            "meeting_id": meeting,
            "to": joined["participant_id"],
            "signal": offer,
        }
        refused = await lobby.request(signal)
        assert refused["type"] == "error" and refused["code"] == "not_admitted", refused
        admit_self = await lobby.request(
            {
                "type": "meeting.admit",
                "meeting_id": meeting,
                "participant_id": waiting["participant_id"],
            }
        )
        assert admit_self["type"] == "error" and admit_self["code"] == "not_admitted"
        # Not invited to the care team's own case meeting at all.
        uninvited = await lobby.request({"type": "meeting.join", "meeting_id": case_meeting})
        assert uninvited["type"] == "error" and uninvited["code"] == "not_invited", uninvited

        await priya.request({"type": "ping"})
        assert not [f for f in priya.frames if f.get("type") == "meeting.signal"]
    finally:
        await priya.close()
        await lobby.close()
    refused_events = {
        (e["action"], e["resource_id"], e["outcome"])
        for e in audit_events(live.as_role("supervisor"), actor_id=alex_client.user["id"])
        if e["resource_type"] == "meeting"
    }
    assert {
        ("meeting.signal", meeting, "denied"),
        ("meeting.admit", meeting, "denied"),
        ("meeting.join", case_meeting, "denied"),
    } <= refused_events


def test_the_audit_chain_still_verifies(live: Live) -> None:
    """All the refusals above were appended to the hash chain without breaking it."""
    verdict = live.as_role("supervisor").get("/api/v1/audit-events/verify").json()
    assert verdict["ok"], verdict
