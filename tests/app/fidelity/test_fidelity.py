"""IPS-25 fidelity self-reviews: the suggested scores at their anchors, then recording, listing
and the pre-filled draft on a real server, with a team seeded so the measured figures are known.

The team (D is today; every person is new, so no other test's data reaches these figures):

    E1, E2  its employment specialists. E1 logs 10 employer contacts from D-9 to D and one on
            D-28; E2 logs 6 from D-5 to D. Over the 4 weeks D-27..D: 16 contacts, 2 a week each.
    c1  met D-100, employer contact logged by E1 for them on D-90 (10 days); on E1's caseload
    c2  met D-80, first employer contact D-20 (60 days); on E1's caseload
    c3  met D-60, no employer contact (waiting more than 30 days); on E2's caseload
    c4  met D-400 (outside the 365-day window), contact D-380; on E2's caseload
    c5  never met (joined the day the record was made, D); on E2's caseload
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.fidelity.service import employer_contact_score, rapid_job_search_score, score_problems
from app.supervision.rules import FIDELITY_ITEMS
from tests.conftest import Live, Session, demo_team_id, problem
from tests.support import builders
from tests.support.builders import new_team

CASELOAD, RAPID, CONTACTS = (
    "caseload size",
    "rapid job search",
    "job development - frequent employer contact",
)


# --- suggested scores at the IPS-25 anchors ----------------------------------------------------


@pytest.mark.parametrize(
    ("mean_days", "score"),
    [
        (0, 5),
        (30, 5),
        (Fraction(61, 2), 4),  # 30.5 days is more than "within 30"
        (60, 4),
        (Fraction(121, 2), 3),
        (150, 3),
        (Fraction(301, 2), 2),
        (270, 2),
        (Fraction(541, 2), 1),
        (271, 1),
        (900, 1),
    ],
)
def test_rapid_job_search_score(mean_days: Fraction | int, score: int) -> None:
    assert rapid_job_search_score(mean_days) == score


@pytest.mark.parametrize(
    ("per_week", "score"),
    [
        (0, 1),
        (Fraction(199, 100), 1),
        (2, 2),
        (3, 2),  # between the anchors 2 and 4: "at least 2"
        (Fraction(399, 100), 2),
        (4, 3),
        (Fraction(499, 100), 3),
        (5, 4),
        (Fraction(599, 100), 4),
        (6, 5),
        (12, 5),
    ],
)
def test_employer_contact_score(per_week: Fraction | int, score: int) -> None:
    assert employer_contact_score(per_week) == score


def test_negative_measures_are_refused() -> None:
    with pytest.raises(ValueError):
        rapid_job_search_score(-1)
    with pytest.raises(ValueError):
        employer_contact_score(-1)


def test_score_problems_names_every_fault() -> None:
    scores: dict[str, Any] = {item: 3 for item in FIDELITY_ITEMS}
    assert score_problems(scores) == []
    del scores["disclosure"]
    scores["caseload size"] = 0
    scores["rapid job search"] = 6
    scores["zero exclusion"] = True
    scores["vocational unit"] = 2.5
    scores["team spirit"] = 5
    fields = {p["field"] for p in score_problems(scores)}
    assert fields == {
        f"body.scores.{name}"
        for name in (
            "disclosure",
            "caseload size",
            "rapid job search",
            "zero exclusion",
            "vocational unit",
            "team spirit",
        )
    }


def test_fidelity_windows_are_settings() -> None:
    assert Settings().fidelity_contact_weeks == 4
    assert Settings().fidelity_rapid_search_days == 365
    with pytest.raises(ValidationError):
        Settings(fidelity_contact_weeks=0)
    with pytest.raises(ValidationError):
        Settings(fidelity_rapid_search_days=30)


# --- the API ---------------------------------------------------------------------------------


@dataclass
class FidelityTeam:
    live: Live
    team_id: str
    today: str
    emails: dict[str, str] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)

    def day(self, back: int) -> str:
        return str(datetime.fromisoformat(self.today).date() - timedelta(days=back))

    def as_(self, who: str) -> Session:
        if who in self.emails:
            return self.live.as_email(self.emails[who])
        return self.live.as_role(who)

    @property
    def path(self) -> str:
        return f"/api/v1/teams/{self.team_id}/fidelity-reviews"


def ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def scores_totalling(total: int) -> dict[str, int]:
    """All 25 items, starting from 5 each and lowered item by item until they sum to total."""
    scores = {item: 5 for item in FIDELITY_ITEMS}
    excess = 125 - total
    for item in FIDELITY_ITEMS:
        cut = min(4, excess)
        scores[item] -= cut
        excess -= cut
    assert excess == 0 and sum(scores.values()) == total
    return scores


@pytest.fixture(scope="module")
def team(live: Live) -> FidelityTeam:
    admin = live.as_role("admin")
    suffix = uuid.uuid4().hex[:8]
    emails = {
        who: f"{who}-{suffix}@tyneside.example"
        for who in ("lead", "clinician", "specialist1", "specialist2")
    }
    roles = {
        "lead": "supervisor",
        "clinician": "therapist",
        "specialist1": "employment_specialist",
        "specialist2": "employment_specialist",
    }
    user_ids = {
        who: live.new_account(email, f"{who.title()} {suffix}", roles[who])["id"]
        for who, email in emails.items()
    }
    # The lead, first on the new team, confirms the others.
    team_id = new_team(
        live,
        f"Fidelity Team {suffix}",
        f"Fidelity {suffix}",
        list(user_ids.values()),
        confirmer=live.as_email(emails["lead"]),
        admin=admin,
    )
    t = FidelityTeam(live, team_id, datetime.now(UTC).date().isoformat(), emails)
    clinician = t.as_("clinician")

    def new_client(name: str, referred_back: int, met_back: int | None, specialist: str) -> str:
        client = builders.new_client(
            clinician,
            f"Fidelity client {name}",
            team_id=t.team_id,
            referred_on=t.day(referred_back),
        )
        if met_back is not None:
            ok(
                clinician.post(
                    f"/api/v1/clients/{client}/milestones",
                    json={"kind": "first_meeting", "occurred_on": t.day(met_back)},
                ),
                201,
            )
        ok(
            clinician.post(
                f"/api/v1/clients/{client}/employment-specialist",
                json={"user_id": user_ids[specialist]},
            ),
            201,
        )
        t.clients[name] = client
        return str(client)

    new_client("c1", 120, 100, "specialist1")
    assert ok(clinician.get(f"/api/v1/clients/{t.clients['c1']}/journey"))["today"] == t.today
    new_client("c2", 85, 80, "specialist1")
    new_client("c3", 70, 60, "specialist2")
    new_client("c4", 420, 400, "specialist2")
    new_client("c5", 5, None, "specialist2")
    for name, back in (("c2", 20), ("c4", 380)):
        ok(
            clinician.post(
                f"/api/v1/clients/{t.clients[name]}/milestones",
                json={"kind": "first_employer_contact", "occurred_on": t.day(back)},
            ),
            201,
        )

    def contact(specialist: str, back: int, client: str | None = None) -> None:
        body = {"employer": "Tyne Foods", "contacted_on": t.day(back), "outcome": "Spoke to HR"}
        if client:
            body["client_id"] = t.clients[client]
        ok(t.as_(specialist).post("/api/v1/employer-contacts", json=body), 201)

    contact("specialist1", 90, "c1")
    contact("specialist1", 28)  # the day before the 4-week window
    for back in range(10):
        contact("specialist1", back)
    for back in range(6):
        contact("specialist2", back)
    return t


def test_draft_prefills_the_measured_items(team: FidelityTeam) -> None:
    draft = ok(team.as_("lead").get(f"{team.path}/draft"))
    assert draft["team_id"] == team.team_id and draft["reviewed_on"] == team.today
    assert draft["items"] == list(FIDELITY_ITEMS)
    assert draft["scores"] == {CASELOAD: 5, RAPID: 4, CONTACTS: 2}
    measured = draft["measured"]
    caseload = measured[CASELOAD]
    assert {k: caseload[k] for k in caseload if k != "basis"} == {
        "specialists": 2,
        "fte": 2.0,
        "fte_source": "one_per_specialist",
        "clients": 5,
        "clients_per_fte": 2.5,
        "suggested_score": 5,
    }
    rapid = measured[RAPID]
    assert {k: rapid[k] for k in rapid if k != "basis"} == {
        "window_from": team.day(364),
        "window_to": team.today,
        "clients_joined": 4,  # c1, c2, c3 and c5 (joined today); c4 joined before the window
        "clients_contacted": 2,  # 10 and 60 days
        "mean_days": 35.0,
        "median_days": 35.0,
        "waiting_over_30_days": 1,  # c3
        "suggested_score": 4,
    }
    contacts = measured[CONTACTS]
    assert {k: contacts[k] for k in contacts if k != "basis"} == {
        "window_from": team.day(27),
        "window_to": team.today,
        "weeks": 4,
        "specialists": 2,
        "contacts": 16,
        "contacts_per_specialist_per_week": 2.0,
        "suggested_score": 2,
    }
    assert all(measured[item]["basis"] for item in (CASELOAD, RAPID, CONTACTS))


@pytest.mark.parametrize(("fte", "score"), [("0.25", 5), ("0.2", 4), ("0.125", 2), ("0.1", 1)])
def test_draft_caseload_with_the_teams_full_time_equivalents(
    team: FidelityTeam, fte: str, score: int
) -> None:
    draft = ok(team.as_("lead").get(f"{team.path}/draft", params={"specialist_fte": fte}))
    caseload = draft["measured"][CASELOAD]
    assert (caseload["fte"], caseload["fte_source"], caseload["suggested_score"]) == (
        float(fte),
        "given",
        score,
    )
    assert draft["scores"][CASELOAD] == score


def test_draft_for_an_earlier_day_counts_what_was_known_then(team: FidelityTeam) -> None:
    draft = ok(team.as_("lead").get(f"{team.path}/draft", params={"reviewed_on": team.day(28)}))
    contacts = draft["measured"][CONTACTS]
    assert (contacts["window_from"], contacts["contacts"]) == (team.day(55), 1)
    assert contacts["suggested_score"] == 1  # 1 contact over 2 specialists and 4 weeks
    rapid = draft["measured"][RAPID]
    # c1 (10 days); c2 and c3 still waiting on D-28; c4 before the window; c5 not yet joined.
    assert (rapid["clients_joined"], rapid["clients_contacted"], rapid["mean_days"]) == (3, 1, 10.0)
    assert (rapid["waiting_over_30_days"], rapid["suggested_score"]) == (2, 5)


def test_record_a_review_keeps_what_was_measured(team: FidelityTeam) -> None:
    lead = team.as_("lead")
    draft = ok(lead.get(f"{team.path}/draft", params={"specialist_fte": "0.2"}))
    scores = {item: 4 for item in FIDELITY_ITEMS} | draft["scores"]  # 22 x 4 + 4 + 4 + 2
    made = ok(
        lead.post(
            team.path,
            json={
                "reviewed_on": team.today,
                "scores": scores,
                "note": "Job development needs more time in the diary.",
                "specialist_fte": 0.2,
            },
        ),
        201,
    )
    assert (made["total"], made["band"]) == (98, "fair")
    assert list(made["scores"]) == list(FIDELITY_ITEMS) and made["scores"] == scores
    assert made["measured"] == draft["measured"]
    assert made["measured"][CASELOAD]["fte_source"] == "given"
    assert made["reviewer_id"] == lead.user["id"] and made["reviewer_name"]
    assert made["note"] == "Job development needs more time in the diary."
    again = ok(team.as_("clinician").get(f"{team.path}/{made['id']}"))
    assert again == made
    body = problem(lead.post(team.path, json={"reviewed_on": team.today, "scores": scores}), 409)
    assert team.today in body["detail"]


@pytest.mark.parametrize(
    ("back", "total", "band"),
    [
        (1, 125, "exemplary"),
        (2, 115, "exemplary"),
        (3, 114, "good"),
        (4, 100, "good"),
        (5, 99, "fair"),
        (6, 74, "fair"),
        (7, 73, "not_ips"),
        (8, 25, "not_ips"),
    ],
)
def test_bands_at_their_edges(team: FidelityTeam, back: int, total: int, band: str) -> None:
    made = ok(
        team.as_("lead").post(
            team.path,
            json={"reviewed_on": team.day(back), "scores": scores_totalling(total)},
        ),
        201,
    )
    assert (made["total"], made["band"], made["note"]) == (total, band, None)


def test_reviews_are_listed_oldest_first_for_the_team(team: FidelityTeam) -> None:
    for back, total in ((40, 80), (20, 90)):
        ok(
            team.as_("lead").post(
                team.path,
                json={"reviewed_on": team.day(back), "scores": scores_totalling(total)},
            ),
            201,
        )
    listed = ok(team.as_("clinician").get(team.path))
    days = [r["reviewed_on"] for r in listed]
    assert days == sorted(days) and {team.day(40), team.day(20)} <= set(days)
    by_day = {r["reviewed_on"]: r for r in listed}
    assert (by_day[team.day(40)]["total"], by_day[team.day(40)]["band"]) == (80, "fair")
    assert all(r["team_id"] == team.team_id for r in listed)
    # A review is found only under its own team.
    demo = demo_team_id(team.as_("supervisor"))
    problem(
        team.as_("supervisor").get(
            f"/api/v1/teams/{demo}/fidelity-reviews/{by_day[team.day(40)]['id']}"
        ),
        404,
    )
    problem(team.as_("clinician").get(f"{team.path}/{uuid.uuid4()}"), 404)


def test_invalid_reviews_are_problems_naming_the_field(team: FidelityTeam) -> None:
    lead = team.as_("lead")
    good = scores_totalling(100)

    def post(**changes: Any) -> Any:
        return lead.post(team.path, json={"reviewed_on": team.day(60), "scores": good} | changes)

    missing = dict(good)
    del missing["disclosure"]
    body = problem(post(scores=missing), 422)
    assert body["errors"] == [
        {"field": "body.scores.disclosure", "message": "missing: every IPS-25 item is scored"}
    ]
    body = problem(post(scores=good | {"team spirit": 5}), 422)
    assert body["errors"][0]["field"] == "body.scores.team spirit"
    for bad in (0, 6):
        body = problem(post(scores=good | {"zero exclusion": bad}), 422)
        assert body["errors"][0]["field"] == "body.scores.zero exclusion"
    for bad in ("3", 3.5, True, None):
        body = problem(post(scores=good | {"zero exclusion": bad}), 422)
        assert body["errors"][0]["field"] == "body.scores.zero exclusion"
    body = problem(post(reviewed_on=team.day(-1)), 422)
    assert body["errors"][0]["field"] == "body.reviewed_on"
    problem(post(note="x" * 2001), 422)
    ok(post(note="x" * 2000, reviewed_on=team.day(61)), 201)
    problem(post(specialist_fte=0), 422)
    problem(post(specialist_fte=100.5), 422)
    problem(post(colour="green"), 422)
    problem(lead.get(f"{team.path}/draft", params={"reviewed_on": team.day(-1)}), 422)
    problem(lead.get(f"{team.path}/draft", params={"specialist_fte": "0"}), 422)
    # Nothing was stored for the refused requests.
    assert team.day(60) not in {r["reviewed_on"] for r in ok(lead.get(team.path))}


def test_who_may_record_and_read_reviews(team: FidelityTeam) -> None:
    body = {"reviewed_on": team.day(70), "scores": scores_totalling(100)}
    # The team's clinical members read; only its supervisors draft and record.
    for who in ("clinician", "specialist1"):
        ok(team.as_(who).get(team.path))
        problem(team.as_(who).get(f"{team.path}/draft"), 403)
        problem(team.as_(who).post(team.path, json=body), 403)
    # A supervisor of another team, a clinician of another team, an admin and a client: none.
    for who in ("supervisor", "therapist", "admin", "client"):
        problem(team.as_(who).get(team.path), 403)
        problem(team.as_(who).get(f"{team.path}/draft"), 403)
        problem(team.as_(who).post(team.path, json=body), 403)
    problem(team.as_("lead").get(f"/api/v1/teams/{uuid.uuid4()}/fidelity-reviews"), 404)
    assert team.day(70) not in {r["reviewed_on"] for r in ok(team.as_("lead").get(team.path))}


def test_fidelity_work_is_audited(team: FidelityTeam) -> None:
    lead = team.as_("lead")
    ok(lead.get(f"{team.path}/draft"))
    problem(team.as_("supervisor").get(f"{team.path}/draft"), 403)
    events = ok(
        lead.get(
            "/api/v1/audit-events",
            params={"actor_id": lead.user["id"], "action": "fidelity_review.draft"},
        )
    )["items"]
    assert events and events[0]["resource_id"] == team.team_id
    refused = ok(
        lead.get(
            "/api/v1/audit-events",
            params={
                "actor_id": team.as_("supervisor").user["id"],
                "action": "fidelity_review.write",
            },
        )
    )["items"]
    assert refused and refused[0]["outcome"] == "denied"
