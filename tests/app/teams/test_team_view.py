"""The supervisor's team view on a real server: weekly wellbeing withheld below the minimum
number of people (at the edge, and with the minimum raised), the period's bounds, who may see
it, and caseloads, overdue work, open alerts and presence as counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from app.config import Settings
from tests.conftest import Live, live_server, problem
from tests.support import builders
from tests.support.builders import (
    Person,
    arrange_meeting,
    days_from_today,
    edit_plan,
    new_staff,
    today,
)
from tests.support.ws import WsClient


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass
class Team:
    id: str
    supervisor: Person
    members: list[Person]  # not supervisors

    def overview(self, **params: str) -> dict[str, Any]:
        reply = self.supervisor.session.get(f"/api/v1/teams/{self.id}/overview", params=params)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    def this_week(self) -> dict[str, Any]:
        [week] = self.overview(**{"from": days_from_today(0), "to": days_from_today(0)})[
            "wellbeing"
        ]
        assert week["starts_on"] == monday(today()).isoformat()
        return dict(week)


def new_team(live: Live, roles: list[str]) -> Team:
    """A new team of the trust: a supervisor and members of these roles."""
    name = f"Team view {uuid.uuid4().hex[:6]}"
    supervisor = new_staff(live, "supervisor", "Vera Viewer")
    members = [new_staff(live, role, f"Member{n} Person") for n, role in enumerate(roles)]
    people = [person.id for person in (supervisor, *members)]
    team_id = builders.new_team(live, name, members=people, confirmer=supervisor.session)
    return Team(team_id, supervisor, members)


def check_in(person: Person, mood: int, workload: int, stress: int, support: int) -> None:
    made = person.session.post(
        "/api/v1/wellbeing/check-ins",
        json={"mood": mood, "workload": workload, "stress": stress, "support": support},
    )
    assert made.status_code == 201, made.text


FIGURES = ("people", "mood", "workload", "stress", "support")


def withheld(week: dict[str, Any]) -> bool:
    return week["suppressed"] is True and all(week[f] is None for f in FIGURES)


# --- wellbeing with small-number suppression -------------------------------------------------


def test_a_week_is_shown_only_once_three_people_answered(live: Live) -> None:
    team = new_team(live, ["peer_keyworker", "therapist", "employment_specialist"])
    first, second, third = team.members
    assert withheld(team.this_week())

    check_in(first, 1, 1, 1, 1)
    check_in(first, 5, 1, 5, 3)  # only a person's latest check-in in the week counts
    check_in(second, 2, 2, 5, 3)
    # Someone off the team answering does not make up the numbers.
    check_in(new_staff(live, "therapist", "Otis Offteam"), 4, 4, 4, 4)
    two = team.this_week()
    assert withheld(two), two

    check_in(third, 4, 2, 4, 3)
    three = team.this_week()
    assert three["suppressed"] is False
    # Means of the latest answers, one decimal, half up: (5+2+4)/3, (1+2+2)/3, (5+5+4)/3, 3.
    assert {f: three[f] for f in FIGURES} == {
        "people": 3,
        "mood": 3.7,
        "workload": 1.7,
        "stress": 4.7,
        "support": 3.0,
    }
    assert three["week"] == "{}-W{:02d}".format(*today().isocalendar()[:2])
    # The weeks before, when nobody answered, stay withheld too.
    earlier = team.overview()["wellbeing"][:-1]
    assert earlier and all(withheld(w) for w in earlier)


@pytest.fixture(scope="module")
def strict_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server that needs four people before it shows a week."""
    with live_server(
        tmp_path_factory, "live-min-people", extra_env={"TEAMWELL_TEAM_WELLBEING_MIN_PEOPLE": "4"}
    ) as running:
        yield running


def test_a_raised_minimum_withholds_three(strict_live: Live) -> None:
    team = new_team(strict_live, ["peer_keyworker", "therapist", "therapist", "therapist"])
    for person in team.members[:3]:
        check_in(person, 3, 3, 3, 3)
    week = team.this_week()
    assert withheld(week)
    assert team.overview()["min_people"] == 4
    check_in(team.members[3], 5, 5, 5, 5)
    shown = team.this_week()
    assert (shown["suppressed"], shown["people"], shown["mood"]) == (False, 4, 3.5)


@pytest.mark.parametrize(("value", "accepted"), [(2, False), (3, True), (0, False)])
def test_the_minimum_is_never_below_three(value: int, accepted: bool) -> None:
    if accepted:
        assert Settings(team_wellbeing_min_people=value).team_wellbeing_min_people == value
    else:
        with pytest.raises(ValidationError, match="team_wellbeing_min_people"):
            Settings(team_wellbeing_min_people=value)


# --- the period ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_team(live: Live) -> Team:
    return new_team(live, ["peer_keyworker"])


def test_the_default_period_is_twelve_weeks_to_today(small_team: Team) -> None:
    body = small_team.overview()
    assert body["period_to"] == body["today"] == days_from_today(0)
    weeks = body["wellbeing"]
    assert len(weeks) == 12
    assert weeks[-1]["starts_on"] == monday(today()).isoformat()
    assert weeks[0]["starts_on"] == (monday(today()) - timedelta(weeks=11)).isoformat()
    assert all(
        date.fromisoformat(w["ends_on"]) - date.fromisoformat(w["starts_on"]) == timedelta(days=6)
        for w in weeks
    )


def test_the_period_is_bounded(small_team: Team) -> None:
    path = f"/api/v1/teams/{small_team.id}/overview"
    session = small_team.supervisor.session
    first_of_52 = monday(today()) - timedelta(weeks=51)
    longest = small_team.overview(**{"from": first_of_52.isoformat()})
    assert len(longest["wellbeing"]) == 52
    too_long = problem(
        session.get(path, params={"from": (first_of_52 - timedelta(days=1)).isoformat()}), 422
    )
    assert too_long["errors"] == [{"field": "query.from", "message": "at most 52 weeks"}]
    future = problem(session.get(path, params={"to": days_from_today(1)}), 422)
    assert future["errors"][0]["field"] == "query.to"
    backwards = problem(
        session.get(path, params={"from": days_from_today(-1), "to": days_from_today(-2)}), 422
    )
    assert backwards["errors"][0]["field"] == "query.from"
    nonsense = problem(session.get(path, params={"from": "last-tuesday"}), 422)
    assert nonsense["errors"][0]["field"] == "query.from"


# --- who sees it -----------------------------------------------------------------------------


def test_only_supervisors_on_the_team_see_it(live: Live, small_team: Team) -> None:
    path = f"/api/v1/teams/{small_team.id}/overview"
    for session in (
        small_team.members[0].session,  # on the team, not a supervisor
        live.as_role("supervisor"),  # a supervisor, not on this team
        live.as_role("admin"),
        live.as_role("client"),
    ):
        problem(session.get(path), 403)
    problem(small_team.supervisor.session.get(f"/api/v1/teams/{uuid.uuid4()}/overview"), 403)
    events = (
        live.as_role("admin")
        .get(
            "/api/v1/audit-events",
            params={
                "actor_id": live.as_role("supervisor").user["id"],
                "action": "team.overview",
            },
        )
        .json()["items"]
    )
    assert events[0]["outcome"] == "denied" and events[0]["resource_id"] == small_team.id
    small_team.overview()
    seen = (
        live.as_role("admin")
        .get(
            "/api/v1/audit-events",
            params={"actor_id": small_team.supervisor.id, "action": "team.overview"},
        )
        .json()["items"]
    )
    assert seen[0]["outcome"] == "success" and seen[0]["resource_id"] == small_team.id


# --- caseloads, overdue work, alerts and presence ----------------------------------------------


def new_client(keyworker: Person, team: Team, name: str) -> str:
    return builders.new_client(keyworker.session, name, team_id=team.id, reason="Work")


def ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def alerts_of(person: Person, client_id: str) -> list[dict[str, Any]]:
    return [a for a in ok(person.session.get("/api/v1/alerts")) if a["client_id"] == client_id]


async def test_counts_stand_in_for_clients(live: Live) -> None:
    team = new_team(live, ["peer_keyworker", "therapist", "employment_specialist"])
    keyworker, therapist, specialist = team.members
    quiet = team.overview()
    assert quiet["overdue"] == {
        "open_clients": 0,
        "plan_actions_overdue": 0,
        "support_reviews_overdue": 0,
        "first_employer_contacts_overdue": 0,
        "clients_with_overdue_work": 0,
    }
    assert (quiet["open_alerts"], quiet["open_alerts_total"]) == ([], 0)
    [caseload] = quiet["caseloads"]
    assert (caseload["specialist_id"], caseload["active_clients"]) == (specialist.id, 0)
    assert (caseload["limit"], caseload["state"]) == (30, "ok")

    # Xan joined 40 days ago and no employer has been contacted yet.
    xan = new_client(keyworker, team, "Xan Waiting")
    ok(
        keyworker.session.post(
            f"/api/v1/clients/{xan}/milestones",
            json={"kind": "first_meeting", "occurred_on": days_from_today(-40)},
        ),
        201,
    )
    ok(
        keyworker.session.post(f"/api/v1/clients/{xan}/care-team", json={"user_id": therapist.id}),
        201,
    )
    # Yas started a job 30 days ago with no in-work review since, and a plan action is late.
    yas = new_client(keyworker, team, "Yas Working")
    ok(
        keyworker.session.post(
            f"/api/v1/clients/{yas}/employment-specialist", json={"user_id": specialist.id}
        ),
        201,
    )
    ok(
        keyworker.session.post(
            f"/api/v1/clients/{yas}/jobs",
            json={
                "employer": "Tyne Foods",
                "role": "Packer",
                "hours_per_week": 16,
                "started_on": days_from_today(-30),
            },
        ),
        201,
    )
    actions = [
        {"text": "Update the CV", "due_on": days_from_today(-3)},
        {"text": "Call the college", "due_on": days_from_today(0)},
    ]
    edit_plan(keyworker.session, yas, lambda content: content.update(actions=actions))
    # Reading a journey raises its overdue items as alerts to each member of the care team.
    for client_id in (xan, yas):
        ok(keyworker.session.get(f"/api/v1/clients/{client_id}/journey"))

    socket = await WsClient.connect(live.base_url, therapist.session.tokens["access_token"])
    try:
        await socket.wait_type("ready")
        reply = team.supervisor.session.get(f"/api/v1/teams/{team.id}/overview")
    finally:
        await socket.close()
    busy = ok(reply)
    assert busy["overdue"] == {
        "open_clients": 2,
        "plan_actions_overdue": 1,
        "support_reviews_overdue": 1,
        "first_employer_contacts_overdue": 1,
        "clients_with_overdue_work": 2,
    }
    # Xan's alert went to two people (keyworker and therapist); it is one open alert.
    assert busy["open_alerts"] == [
        {"kind": "first_employer_contact_overdue", "open": 1},
        {"kind": "plan_action_overdue", "open": 1},
        {"kind": "support_review_overdue", "open": 1},
    ]
    assert busy["open_alerts_total"] == 3
    [caseload] = busy["caseloads"]
    assert caseload["active_clients"] == 1
    presence = {p["user_id"]: p for p in busy["presence"]}
    assert busy["presence_available"] is True
    assert set(presence) == {team.supervisor.id, keyworker.id, therapist.id, specialist.id}
    assert presence[therapist.id]["state"] == "online"
    assert presence[specialist.id]["state"] == "offline"
    # No client is named anywhere in the view.
    assert "Xan" not in reply.text and "Yas" not in reply.text
    assert xan not in reply.text and yas not in reply.text

    # An alert stays open until everyone who holds it has acknowledged it.
    for person, remaining in ((keyworker, 1), (therapist, 0)):
        [alert] = [
            a for a in alerts_of(person, xan) if a["kind"] == "first_employer_contact_overdue"
        ]
        ok(person.session.post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={}))
        counts = {a["kind"]: a["open"] for a in team.overview()["open_alerts"]}
        assert counts.get("first_employer_contact_overdue", 0) == remaining


def test_supervision_meetings_are_private_to_those_in_them(live: Live) -> None:
    """A team's case meetings are the whole team's; its supervision is not: a one-to-one is
    seen and joined by the supervisor and the person supervised only, and only the supervisor
    who arranged it moves or cancels it."""
    team = new_team(live, ["peer_keyworker", "therapist"])
    supervisee, colleague = team.members
    starts = datetime.now(UTC) + timedelta(days=1)
    when = {"starts_at": starts, "ends_at": starts + timedelta(hours=1)}
    supervision = arrange_meeting(
        team.supervisor.session,
        kind="supervision",
        title="Supervision",
        team_id=team.id,
        invitee_ids=[supervisee.id],
        **when,
    )
    team_meeting = arrange_meeting(
        team.supervisor.session, kind="case_meeting", title="Team huddle", team_id=team.id, **when
    )
    path = f"/api/v1/meetings/{supervision['id']}"

    def listed(person: Person) -> set[str]:
        return {m["id"] for m in ok(person.session.get("/api/v1/meetings"))}

    assert {supervision["id"], team_meeting["id"]} <= listed(team.supervisor)
    assert {supervision["id"], team_meeting["id"]} <= listed(supervisee)
    assert ok(supervisee.session.get(path))["invitee_ids"] == [supervisee.id]

    assert team_meeting["id"] in listed(colleague)
    assert supervision["id"] not in listed(colleague)
    problem(colleague.session.get(path), 403)
    problem(colleague.session.post(f"{path}/cancel"), 403)
    problem(supervisee.session.post(f"{path}/cancel"), 403)
    assert ok(team.supervisor.session.post(f"{path}/cancel"))["cancelled_at"] is not None
