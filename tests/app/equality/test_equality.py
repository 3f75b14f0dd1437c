"""Equality monitoring on a real server: a client's own answers, entry by staff only on the
client's consent, answers never returned to any member of staff by any route, sealed at rest,
and figures by group with the programme report's suppression."""

from __future__ import annotations

import re
import uuid
from typing import Any

import sqlalchemy as sa

from app.equality.schemas import CHARACTERISTICS
from app.equality.service import groups_of
from tests.conftest import Live, Session, problem
from tests.support import builders
from tests.support.builders import client_id_of

MINE = "/api/v1/me/equality"
# Answers no other part of the service ever says, so finding one in a reply means a leak.
TELLTALE = {
    "ethnicity": "white_gypsy_irish_traveller",
    "gender_identity": "different_from_sex_at_birth",
    "disability": "limited_a_lot",
}


def staff_entry(by: Session, client_id: str, **answers: Any) -> Any:
    return by.put(
        f"/api/v1/clients/{client_id}/equality",
        json={"client_consents": True, "answers": answers},
    )


def test_a_client_gives_changes_reads_and_withdraws_their_own_answers(live: Live) -> None:
    client = live.as_role("client")
    given = client.put(MINE, json={"age_band": "25_34", "sex": "prefer_not_to_say"})
    assert given.status_code == 200, given.text
    body = given.json()
    assert body["entered_by"] == "client"
    assert body["answers"]["age_band"] == "25_34"
    assert body["answers"]["sex"] == "prefer_not_to_say"
    assert body["answers"]["ethnicity"] is None  # not answered
    changed = client.put(MINE, json={"conviction": "no"})
    assert changed.json()["answers"]["age_band"] is None  # what is sent replaces what was
    assert client.get(MINE).json()["answers"]["conviction"] == "no"
    assert client.delete(MINE).status_code == 204
    nothing = client.get(MINE).json()
    assert nothing["entered_by"] is None and nothing["updated_at"] is None
    assert set(nothing["answers"].values()) == {None}
    assert client.delete(MINE).status_code == 204  # nothing left to withdraw is not an error


def test_answers_are_checked_strictly(live: Live) -> None:
    client = live.as_role("client")
    for bad in (
        {"ethnicity": "british"},  # not an ONS category
        {"age_band": 30},  # not a string
        {"sex": "female", "name": "Alex"},  # no other field
        {"conviction": True},
    ):
        assert problem(client.put(MINE, json=bad), 422), bad


def test_staff_enter_answers_only_with_consent_and_get_nothing_back(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    client_id = client_id_of(live, "Alex Morgan")
    entered = staff_entry(keyworker, client_id, **TELLTALE)
    assert entered.status_code == 204, entered.text
    assert entered.content == b""
    for consent in (False, "true", 1, None):
        refused = keyworker.put(
            f"/api/v1/clients/{client_id}/equality",
            json={"client_consents": consent, "answers": {"sex": "male"}},
        )
        assert problem(refused, 422), consent
    missing = keyworker.put(
        f"/api/v1/clients/{client_id}/equality", json={"answers": {"sex": "male"}}
    )
    assert problem(missing, 422)
    # The client sees what was entered for them, and that staff entered it.
    mine = live.as_role("client").get(MINE).json()
    assert mine["entered_by"] == "staff"
    assert mine["answers"]["ethnicity"] == TELLTALE["ethnicity"]
    # A colleague outside the care team may not write them either.
    outsider = live.new_account(
        f"eq-outsider-{uuid.uuid4().hex[:6]}@tyneside.example", "Olive Outside", "therapist"
    )
    assert problem(staff_entry(live.as_email(outsider["email"]), client_id, sex="male"), 403)


def test_no_route_shows_a_client_s_answers_to_any_member_of_staff(live: Live) -> None:
    """Every GET in the API, with the client's id wherever a path takes an id, as each staff
    role: no reply carries an answer. The staff's own /me/equality is refused."""
    client_id = client_id_of(live, "Alex Morgan")
    assert staff_entry(live.as_role("peer_keyworker"), client_id, **TELLTALE).status_code == 204
    with live.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    gets = [p for p, ops in paths.items() if "get" in ops]
    assert any("{client_id}" in p for p in gets)
    for role in ("peer_keyworker", "therapist", "employment_specialist", "supervisor", "admin"):
        staff = live.as_role(role)
        assert problem(staff.get(MINE), 403)
        for path in gets:
            if "/equality" in path and path.startswith("/api/v1/reports"):
                continue  # aggregates only: tested below
            reply = staff.get(re.sub(r"\{[a-z_]*\}", client_id, path))
            for value in TELLTALE.values():
                assert value not in reply.text, (role, path)


def test_answers_are_sealed_at_rest(live: Live) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    assert staff_entry(live.as_role("peer_keyworker"), client_id, **TELLTALE).status_code == 204
    url = live.env["TEAMWELL_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT * FROM equality_profile")).all()
    finally:
        engine.dispose()
    assert rows
    stored = repr(rows)
    for value in TELLTALE.values():
        assert value not in stored


def test_every_characteristic_has_prefer_not_to_say_and_not_recorded() -> None:
    for characteristic in CHARACTERISTICS:
        groups = groups_of(characteristic)
        assert groups[-2:] == ("prefer_not_to_say", "not_recorded"), characteristic
    assert groups_of("ethnicity")[:5] == ("asian", "black", "mixed", "white", "other")


def test_figures_by_group_are_suppressed_like_the_programme_report(live: Live) -> None:
    """Seven clients referred today to a team of their own: three female, three male, one who
    gave no answer. Referrals: 7 overall; "not recorded" (1) is withheld, and then so is the
    smallest other part (female, 3, first in order), or it could be worked out by subtraction."""
    admin = live.as_role("admin")
    keyworker = live.as_role("peer_keyworker")
    team = builders.new_team(
        live, f"Equality team {uuid.uuid4().hex[:6]}", members=[keyworker.user["id"]]
    )
    for n, sex in enumerate(["female"] * 3 + ["male"] * 3 + [None]):
        client_id = builders.new_client(keyworker, f"Equality client {n}", team_id=team)
        if sex:
            assert staff_entry(keyworker, client_id, sex=sex).status_code == 204
    today = builders.today().isoformat()
    params = {"scope": "team", "scope_id": team, "from": today, "to": today}
    reply = admin.get("/api/v1/reports/equality", params={**params, "characteristic": "sex"})
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["groups"] == ["female", "male", "prefer_not_to_say", "not_recorded"]
    referrals = next(f for f in report["figures"] if f["key"] == "referrals")
    assert referrals["overall"]["value"] == 7
    by = referrals["by_group"]
    assert by["male"]["value"] == 3
    assert by["prefer_not_to_say"]["value"] == 0
    assert by["not_recorded"]["suppressed"] and by["not_recorded"]["value"] is None
    assert by["female"]["suppressed"] and by["female"]["value"] is None
    assert "Equality client" not in reply.text
    # Clinical staff do not read reports; a bad characteristic is a problem.
    assert problem(
        keyworker.get("/api/v1/reports/equality", params={**params, "characteristic": "sex"}), 403
    )
    assert problem(
        admin.get("/api/v1/reports/equality", params={**params, "characteristic": "religion"}), 422
    )
