"""Client records, care teams, referrals and consent, through the API of a real server."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.config import Settings
from tests.conftest import Live, Session, demo_team_id, problem


def clients_by_name(session: Session) -> dict[str, dict[str, Any]]:
    items = session.get("/api/v1/clients", params={"limit": 200}).json()["items"]
    return {c["display_name"]: c for c in items}


def provider_id(live: Live) -> str:
    organisations = live.as_role("therapist").get("/api/v1/organisations").json()["items"]
    return next(o["id"] for o in organisations if o["slug"] == "northern-employment")


def test_take_a_referral_and_build_the_care_team(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    team_id = demo_team_id(keyworker)
    created = keyworker.post(
        "/api/v1/clients",
        json={
            "display_name": "Hana Ito",
            "team_id": team_id,
            "referral": {
                "source": "talking_therapies",
                "referred_on": str(date.today()),
                "reason": "Finished a course of CBT; wants to get back to nursing.",
            },
        },
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["status"] == "referred"
    assert [m["display_name"] for m in record["care_team"]] == ["Priya Shah"]
    assert record["referrals"][0]["source"] == "talking_therapies"

    # Not yet on the care team: the therapist cannot see Hana.
    therapist = live.as_role("therapist")
    problem(therapist.get(f"/api/v1/clients/{record['id']}"), 403)
    added = keyworker.post(
        f"/api/v1/clients/{record['id']}/care-team", json={"user_id": therapist.user["id"]}
    )
    assert added.status_code == 201
    assert therapist.get(f"/api/v1/clients/{record['id']}").status_code == 200
    problem(
        keyworker.post(
            f"/api/v1/clients/{record['id']}/care-team", json={"user_id": therapist.user["id"]}
        ),
        409,
    )

    # The supervisor of the care team sees Hana through supervision.
    assert "Hana Ito" in clients_by_name(live.as_role("supervisor"))

    # Taken off the care team: access ends at once, the history stays.
    member = next(m for m in added.json() if m["user_id"] == therapist.user["id"])
    removed = keyworker.delete(f"/api/v1/clients/{record['id']}/care-team/{member['id']}")
    assert removed.status_code == 204
    problem(therapist.get(f"/api/v1/clients/{record['id']}"), 403)
    history = keyworker.get(
        f"/api/v1/clients/{record['id']}/care-team", params={"include_past": True}
    ).json()
    assert any(m["user_id"] == therapist.user["id"] and m["until"] for m in history)

    moved = keyworker.patch(f"/api/v1/clients/{record['id']}", json={"status": "active"})
    assert moved.json()["status"] == "active"


def test_consent_governs_access_across_organisations(live: Live) -> None:
    specialist = live.as_role("employment_specialist")  # employed by the partner provider
    keyworker = live.as_role("peer_keyworker")
    mine = clients_by_name(specialist)
    everyone = clients_by_name(keyworker)
    # Dana withdrew her consent to share with the provider; the others granted it.
    assert "Dana Evans" in everyone and "Dana Evans" not in mine
    assert "Alex Morgan" in mine
    problem(specialist.get(f"/api/v1/clients/{everyone['Dana Evans']['id']}"), 403)

    alex = everyone["Alex Morgan"]["id"]
    client = live.as_role("client")
    decision = {"organisation_id": provider_id(live), "purpose": "employment_sharing"}
    withdrawn = client.post(
        f"/api/v1/clients/{alex}/consents", json={**decision, "state": "withdrawn"}
    )
    assert withdrawn.status_code == 201 and withdrawn.json()["recorded_by_name"] == "Alex Morgan"
    try:
        problem(specialist.get(f"/api/v1/clients/{alex}"), 403)
        assert "Alex Morgan" not in clients_by_name(specialist)
    finally:
        regranted = client.post(
            f"/api/v1/clients/{alex}/consents", json={**decision, "state": "granted"}
        )
        assert regranted.status_code == 201
    assert specialist.get(f"/api/v1/clients/{alex}").status_code == 200

    history = keyworker.get(f"/api/v1/clients/{alex}/consents").json()
    sharing = [h["state"] for h in history if h["purpose"] == "employment_sharing"]
    assert sharing[-3:] == ["granted", "withdrawn", "granted"]
    current = keyworker.get(f"/api/v1/clients/{alex}").json()["consents"]
    assert {(c["purpose"], c["state"]) for c in current} >= {("employment_sharing", "granted")}


def test_a_client_sees_only_their_own_record(live: Live) -> None:
    client = live.as_role("client")
    listing = client.get("/api/v1/clients").json()
    assert [c["display_name"] for c in listing["items"]] == ["Alex Morgan"]
    other = clients_by_name(live.as_role("peer_keyworker"))["Bea Collins"]["id"]
    problem(client.get(f"/api/v1/clients/{other}"), 403)
    problem(
        client.patch(f"/api/v1/clients/{listing['items'][0]['id']}", json={"status": "closed"}), 403
    )


def test_validation_errors_name_the_field(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    team_id = demo_team_id(keyworker)
    body = problem(
        keyworker.post(
            "/api/v1/clients",
            json={
                "display_name": "",
                "team_id": team_id,
                "referral": {"source": "carrier-pigeon", "referred_on": "yesterday", "reason": "x"},
            },
        ),
        422,
    )
    fields = {e["field"] for e in body["errors"]}
    assert {"body.display_name", "body.referral.source", "body.referral.referred_on"} <= fields
    problem(keyworker.get("/api/v1/clients/not-a-uuid"), 422)
    problem(keyworker.get("/api/v1/clients/00000000-0000-0000-0000-000000000000"), 404)


def test_request_body_limit_is_enforced_at_its_edge(live: Live) -> None:
    limit = Settings().max_request_bytes
    keyworker = live.as_role("peer_keyworker")
    headers = {"content-type": "application/json"}
    at_limit = keyworker.post("/api/v1/clients", content=b" " * limit, headers=headers)
    assert at_limit.status_code == 422  # read and parsed (and found empty), not refused
    over = keyworker.post("/api/v1/clients", content=b" " * (limit + 1), headers=headers)
    problem(over, 413)


def test_page_size_is_capped(live: Live) -> None:
    page = live.as_role("admin").get("/api/v1/users", params={"limit": 10_000}).json()
    assert page["limit"] == Settings().page_size_max
    problem(live.as_role("admin").get("/api/v1/users", params={"limit": 0}), 422)
