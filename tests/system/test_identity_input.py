"""Names and numbers about people are taken as given or refused, over real HTTP.

A name (a client's, a person's, a team's, an organisation's, an employer's, a meeting's title)
with a NUL or another control character is a 422 problem naming the field, and nothing is
stored. Numbers on the record (hours in a job preference or a job, diversion sessions) and an
account's active flag refuse a string or a boolean instead of reading "20" as 20 or true as 1;
a string field refuses a number.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Live, demo_team_id, problem
from tests.support.builders import client_id_of

BAD_NAMES = ["Ann\x00Lee", "Ann\nLee", "Ann\x1bLee", "Ann\u202eeeL", "Ann\x85Lee"]


def refused(reply: Any, field: str) -> None:
    body = problem(reply, 422)
    assert field in [e["field"] for e in body["errors"]], body


def referral() -> dict[str, str]:
    return {"source": "self", "referred_on": "2026-01-05", "reason": "Low mood"}


# (role, method, path, body with the name in, the field): path and body get the live server.
NameCase = tuple[str, str, Callable[[Live], str], Callable[[Live, str], dict[str, Any]], str]
NAME_CASES: dict[str, NameCase] = {
    "client created": (
        "therapist",
        "POST",
        lambda live: "/api/v1/clients",
        lambda live, name: {
            "display_name": name,
            "team_id": demo_team_id(live.as_role("therapist")),
            "referral": referral(),
        },
        "body.display_name",
    ),
    "client renamed": (
        "therapist",
        "PATCH",
        lambda live: f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}",
        lambda live, name: {"display_name": name},
        "body.display_name",
    ),
    "person added": (
        "admin",
        "POST",
        lambda live: "/api/v1/users",
        lambda live, name: {
            "email": f"{uuid.uuid4().hex[:8]}@tyneside.example",
            "display_name": name,
            "role": "peer_keyworker",
        },
        "body.display_name",
    ),
    "person renamed": (
        "admin",
        "PATCH",
        lambda live: f"/api/v1/users/{live.as_role('peer_keyworker').user['id']}",
        lambda live, name: {"display_name": name},
        "body.display_name",
    ),
    "person invited": (
        "admin",
        "POST",
        lambda live: "/api/v1/invitations",
        lambda live, name: {
            "email": f"{uuid.uuid4().hex[:8]}@tyneside.example",
            "role": "therapist",
            "display_name": name,
        },
        "body.display_name",
    ),
    "team created": (
        "admin",
        "POST",
        lambda live: "/api/v1/teams",
        lambda live, name: {"name": name, "area_cluster": "North East"},
        "body.name",
    ),
    "team's area cluster": (
        "admin",
        "POST",
        lambda live: "/api/v1/teams",
        lambda live, name: {"name": "Gateshead IPS", "area_cluster": name},
        "body.area_cluster",
    ),
    "organisation renamed": (
        "admin",
        "PATCH",
        lambda live: f"/api/v1/organisations/{live.as_role('admin').user['organisation_id']}",
        lambda live, name: {"name": name},
        "body.name",
    ),
    "job's employer": (
        "employment_specialist",
        "POST",
        lambda live: f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/jobs",
        lambda live, name: {
            "employer": name,
            "role": "Picker",
            "hours_per_week": 20,
            "started_on": "2026-01-05",
        },
        "body.employer",
    ),
    "employer contact": (
        "employment_specialist",
        "POST",
        lambda live: "/api/v1/employer-contacts",
        lambda live, name: {"employer": name, "contacted_on": "2026-01-05", "outcome": "Met"},
        "body.employer",
    ),
    "trial": (
        "supervisor",
        "POST",
        lambda live: "/api/v1/evaluation/trials",
        lambda live, name: {"name": name, "stratify_by": "team"},
        "body.name",
    ),
}


@pytest.mark.parametrize("case", sorted(NAME_CASES))
def test_a_name_with_a_control_character_is_refused(live: Live, case: str) -> None:
    role, method, path, body, field = NAME_CASES[case]
    session = live.as_role(role)
    for bad in BAD_NAMES:
        refused(session.http.request(method, path(live), json=body(live, bad)), field)
    # A number is not a name either (never read as "5").
    refused(session.http.request(method, path(live), json=body(live, 5)), field)


def test_nothing_is_stored_from_a_refused_name(live: Live) -> None:
    marker = uuid.uuid4().hex[:8]
    therapist, admin = live.as_role("therapist"), live.as_role("admin")
    client_id = client_id_of(live, "Alex Morgan")
    for bad in (f"{marker}\x00", f"{marker}\u202e"):
        refused(
            therapist.post(
                "/api/v1/clients",
                json={
                    "display_name": bad,
                    "team_id": demo_team_id(therapist),
                    "referral": referral(),
                },
            ),
            "body.display_name",
        )
        refused(
            therapist.patch(f"/api/v1/clients/{client_id}", json={"display_name": bad}),
            "body.display_name",
        )
        refused(
            admin.post("/api/v1/teams", json={"name": bad, "area_cluster": "North"}), "body.name"
        )
    clients = therapist.get("/api/v1/clients", params={"limit": 200}).json()["items"]
    teams = admin.get("/api/v1/teams", params={"limit": 200}).json()["items"]
    assert not [c for c in clients if marker in c["display_name"]]
    assert not [t for t in teams if marker in t["name"]]
    assert therapist.get(f"/api/v1/clients/{client_id}").json()["display_name"] == "Alex Morgan"
    # Names in other scripts and with emoji are names.
    fine = admin.post(
        "/api/v1/teams", json={"name": f"Zoë's team 👩‍⚕️ {marker}", "area_cluster": "Tyne & Wear"}
    )
    assert fine.status_code == 201, fine.text


@pytest.mark.parametrize("bad", ["20", True])
def test_numbers_on_the_record_are_not_coerced(live: Live, bad: Any) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    specialist, keyworker = live.as_role("employment_specialist"), live.as_role("peer_keyworker")
    refused(
        specialist.post(
            f"/api/v1/clients/{client_id}/jobs",
            json={
                "employer": "Tesco",
                "role": "Picker",
                "hours_per_week": bad,
                "started_on": "2026-01-05",
            },
        ),
        "body.hours_per_week",
    )
    read = keyworker.get(f"/api/v1/clients/{client_id}/plan")
    assert read.status_code == 200, read.text
    content = read.json()["content"]
    version = read.json()["version"]
    edited = {
        **content,
        "vocational_profile": {
            **content["vocational_profile"],
            "preferences": {**content["vocational_profile"]["preferences"], "hours_per_week": bad},
        },
        "diversion": [{"kind": "life_skills", "activity": "Cooking", "sessions_offered": bad}],
    }
    body = problem(
        keyworker.put(
            f"/api/v1/clients/{client_id}/plan",
            json=edited,
            headers={"If-Match": read.headers["etag"]},
        ),
        422,
    )
    fields = {e["field"] for e in body["errors"]}
    assert "body.vocational_profile.preferences.hours_per_week" in fields, fields
    assert "body.diversion.0.sessions_offered" in fields, fields
    assert keyworker.get(f"/api/v1/clients/{client_id}/plan").json()["version"] == version
    refused(
        live.as_role("admin").patch(
            f"/api/v1/users/{keyworker.user['id']}",
            json={"is_active": "false" if bad == "20" else 0},
        ),
        "body.is_active",
    )
    assert keyworker.get("/api/v1/auth/me").status_code == 200  # still active
