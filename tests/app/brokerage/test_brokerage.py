"""Job brokerage through the API: an employment specialist's employer directory and vacancies,
a supervisor reading them, a client's preferences matched to vacancies with reasons, and an
application moving from applied to a job start on the journey; employer contacts logged
against a directory employer; refusals and bad input as problems, every step audited."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Live, Session, problem
from tests.support.builders import days_ago, edit_plan, new_client, share_with_specialist


def ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def set_preferences(session: Session, client_id: str, **preferences: Any) -> None:
    edit_plan(session, client_id, lambda c: c["vocational_profile"].update(preferences=preferences))


def test_directory_vacancies_matching_and_an_application_to_a_job_start(live: Live) -> None:
    specialist = live.as_role("employment_specialist")
    keyworker = live.as_role("peer_keyworker")
    supervisor = live.as_role("supervisor")
    name = f"Quayside Hotel {uuid.uuid4().hex[:6]}"
    employer = ok(
        specialist.post(
            "/api/v1/employers", json={"name": name, "sector": "I", "location": "Newcastle"}
        ),
        201,
    )
    assert employer["organisation_id"] == specialist.user["organisation_id"]
    assert (employer["open_vacancies"], employer["contacts"], employer["vacancies"]) == (0, 0, [])
    path = f"/api/v1/employers/{employer['id']}/vacancies"
    good = ok(
        specialist.post(
            path,
            json={
                "title": "Kitchen assistant",
                "hours_per_week": 16,
                "hourly_pay_pence": 1350,
                "location": "Newcastle Quayside",
                "closing_on": days_ago(-14),
            },
        ),
        201,
    )
    assert good["meets_wage_threshold"] is True and good["live"] is True
    assert good["status"] == "open" and good["employer_name"] == name and good["sector"] == "I"
    far = ok(
        specialist.post(
            path, json={"title": "Night porter", "hours_per_week": 40, "location": "Sunderland"}
        ),
        201,
    )
    filled = ok(specialist.post(path, json={"title": "Kitchen porter", "hours_per_week": 16}), 201)
    ok(specialist.patch(f"/api/v1/vacancies/{filled['id']}", json={"status": "filled"}))
    # Strict input: pay in whole pence, hours a number, a known sector.
    for bad in ({"hourly_pay_pence": "1350"}, {"hourly_pay_pence": 13.5}, {"hours_per_week": "16"}):
        problem(specialist.post(path, json={"title": "X", "hours_per_week": 10, **bad}), 422)
    problem(specialist.post("/api/v1/employers", json={"name": "X", "sector": "Z"}), 422)

    # The directory: the specialist's, and Sofia's as Erin's supervisor; not a keyworker's.
    listed = {e["id"]: e for e in ok(specialist.get("/api/v1/employers"))}
    assert listed[employer["id"]]["open_vacancies"] == 2
    assert employer["id"] in {e["id"] for e in ok(supervisor.get("/api/v1/employers"))}
    detail = ok(supervisor.get(f"/api/v1/employers/{employer['id']}"))
    assert {v["title"] for v in detail["vacancies"]} == {
        "Kitchen assistant",
        "Night porter",
        "Kitchen porter",
    }
    problem(keyworker.get("/api/v1/employers"), 403)
    problem(supervisor.post("/api/v1/employers", json={"name": "Not mine"}), 403)
    problem(specialist.get(f"/api/v1/employers/{uuid.uuid4()}"), 404)

    # A contact logged against the employer counts on the directory.
    ok(
        specialist.post(
            "/api/v1/employer-contacts",
            json={
                "employer": name,
                "employer_id": employer["id"],
                "contacted_on": days_ago(2),
                "contact_type": "face_to_face",
                "outcome": "Met the head chef about kitchen roles",
            },
        ),
        201,
    )
    after = ok(specialist.get(f"/api/v1/employers/{employer['id']}"))
    assert (after["contacts"], after["last_contact_on"]) == (1, days_ago(2))
    # The contact log narrowed to this employer: the contact, for Erin and for her supervisor;
    # a contact with no directory employer is not among them.
    unlinked = ok(
        specialist.post(
            "/api/v1/employer-contacts",
            json={"employer": name, "contacted_on": days_ago(1), "outcome": "Not linked"},
        ),
        201,
    )
    for reader in (specialist, supervisor):
        against = ok(
            reader.get("/api/v1/employer-contacts", params={"employer_id": employer["id"]})
        )
        assert against["total"] == 1, against
        assert [c["outcome"] for c in against["items"]] == ["Met the head chef about kitchen roles"]
        assert against["items"][0]["employer_id"] == employer["id"]
    nobody = ok(specialist.get("/api/v1/employer-contacts", params={"employer_id": uuid.uuid4()}))
    assert (nobody["total"], nobody["items"]) == (0, [])
    problem(
        specialist.post(
            "/api/v1/employer-contacts",
            json={
                "employer": "Elsewhere",
                "employer_id": str(uuid.uuid4()),
                "contacted_on": days_ago(1),
                "outcome": "x",
            },
        ),
        404,
    )

    # A logged contact's link is corrected: to the directory employer, and back to none; an
    # employer outside the specialist's directory is not found and changes nothing.
    contact_path = f"/api/v1/employer-contacts/{unlinked['id']}"

    def linked_outcomes() -> list[str]:
        page = ok(
            specialist.get("/api/v1/employer-contacts", params={"employer_id": employer["id"]})
        )
        return sorted(c["outcome"] for c in page["items"])

    problem(specialist.patch(contact_path, json={"employer_id": str(uuid.uuid4())}), 404)
    assert linked_outcomes() == ["Met the head chef about kitchen roles"]
    relinked = ok(specialist.patch(contact_path, json={"employer_id": employer["id"]}))
    assert relinked["employer_id"] == employer["id"]
    assert linked_outcomes() == ["Met the head chef about kitchen roles", "Not linked"]
    cleared = ok(specialist.patch(contact_path, json={"employer_id": None}))
    assert cleared["employer_id"] is None
    assert linked_outcomes() == ["Met the head chef about kitchen roles"]

    # A client who wants kitchen work in Newcastle, about 16 hours a week.
    client_id = new_client(keyworker, "Kit Chen")
    share_with_specialist(live, client_id)
    set_preferences(
        keyworker, client_id, types=["kitchen"], locations=["Newcastle"], hours_per_week=16
    )
    matched = ok(keyworker.get(f"/api/v1/clients/{client_id}/vacancy-matches"))
    mine = [m for m in matched if m["vacancy"]["employer_id"] == employer["id"]]
    # The night porter in Sunderland is ruled out; the filled vacancy is not live.
    assert [m["vacancy"]["id"] for m in mine] == [good["id"]]
    assert mine[0]["met"] == 4 and mine[0]["application_id"] is None
    assert {c["name"]: c["outcome"] for c in mine[0]["criteria"]} == {
        "type": "met",
        "location": "met",
        "hours": "met",
        "pay": "met",
        "sector": "unknown",
        "minimum_pay": "unknown",
    }
    assert far["id"] not in {m["vacancy"]["id"] for m in matched}

    # Applied, interview, offer, then the start: a job on the journey with its quality.
    base = f"/api/v1/clients/{client_id}/applications"
    problem(keyworker.post(base, json={"vacancy_id": good["id"], "applied_on": days_ago(3)}), 403)
    applied = ok(
        specialist.post(base, json={"vacancy_id": good["id"], "applied_on": days_ago(3)}), 201
    )
    assert applied["status"] == "applied" and applied["job_id"] is None
    problem(specialist.post(base, json={"vacancy_id": good["id"], "applied_on": days_ago(3)}), 409)
    problem(
        specialist.post(base, json={"vacancy_id": filled["id"], "applied_on": days_ago(1)}), 422
    )
    one = f"{base}/{applied['id']}"
    # Not straight to a start: only an accepted offer becomes one.
    problem(
        specialist.patch(one, json={"status": "started", "status_on": days_ago(1), "job": {}}), 422
    )
    ok(specialist.patch(one, json={"status": "interview", "status_on": days_ago(2)}))
    ok(specialist.patch(one, json={"status": "offer", "status_on": days_ago(1)}))
    problem(specialist.patch(one, json={"status": "started", "status_on": days_ago(0)}), 422)
    started = ok(
        specialist.patch(
            one,
            json={
                "status": "started",
                "status_on": days_ago(0),
                "job": {"contract_type": "permanent", "competitive": True},
            },
        )
    )
    assert started["status"] == "started" and started["job_id"]
    problem(specialist.patch(one, json={"status": "withdrawn", "status_on": days_ago(0)}), 422)
    journey = ok(keyworker.get(f"/api/v1/clients/{client_id}/journey"))
    job = next(j for j in journey["jobs"] if j["id"] == started["job_id"])
    assert (job["employer"], job["role"], job["hours_per_week"]) == (name, "Kitchen assistant", 16)
    assert (job["hourly_pay_pence"], job["sector"], job["contract_type"]) == (
        1350,
        "I",
        "permanent",
    )
    assert job["meets_wage_threshold"] is True and job["started_on"] == days_ago(0)
    # The care team reads the applications; the match now names the application.
    listed_apps = ok(keyworker.get(base))
    assert [(a["id"], a["status"]) for a in listed_apps] == [(applied["id"], "started")]
    rematched = ok(keyworker.get(f"/api/v1/clients/{client_id}/vacancy-matches"))
    assert any(m["application_id"] == applied["id"] for m in rematched)

    # Audited: the directory read, the application and the job start it made.
    events = ok(
        live.as_role("admin").get(
            "/api/v1/audit-events", params={"client_id": client_id, "limit": 200}
        )
    )
    actions = {e["action"] for e in events["items"]}
    assert {"application.create", "application.update", "journey.job_start"} <= actions
    assert "application.list" in actions and "vacancy.match" in actions


def test_the_fidelity_draft_fills_diversity_of_employers_from_jobs_and_the_directory(
    live: Live,
) -> None:
    specialist = live.as_role("employment_specialist")
    made = specialist.post("/api/v1/employers", json={"name": f"Draft {uuid.uuid4().hex[:6]}"})
    assert made.status_code == 201, made.text
    ok(
        specialist.post(
            "/api/v1/employer-contacts",
            json={
                "employer": made.json()["name"],
                "employer_id": made.json()["id"],
                "contacted_on": days_ago(0),
                "outcome": "Introduced the service",
            },
        ),
        201,
    )
    supervisor = live.as_role("supervisor")
    listed = supervisor.get("/api/v1/teams").json()
    teams = listed["items"] if isinstance(listed, dict) else listed
    team_id = next(t["id"] for t in teams if t["name"] == "Newcastle IPS Team")
    draft = ok(supervisor.get(f"/api/v1/teams/{team_id}/fidelity-reviews/draft"))
    measured = draft["measured"]["diversity of employers"]
    # The demo's four job starts with four employers, and whatever other tests have added.
    assert measured["jobs"] >= 4 and 1 <= measured["employers"] <= measured["jobs"]
    assert measured["share_different"] == round(measured["employers"] / measured["jobs"], 4)
    assert measured["directory_employers"] >= 1 and measured["directory_employers_contacted"] >= 1
    assert draft["scores"]["diversity of employers"] == measured["suggested_score"]


def test_preferred_sectors_and_minimum_pay_narrow_the_matches(live: Live) -> None:
    specialist, keyworker = live.as_role("employment_specialist"), live.as_role("peer_keyworker")
    mark = uuid.uuid4().hex[:6]
    made = {}
    for sector, title, pay in (("I", "Cook", 1500), ("G", "Shop assistant", 1360)):
        employer = ok(
            specialist.post(
                "/api/v1/employers", json={"name": f"{title} {mark}", "sector": sector}
            ),
            201,
        )
        made[title] = ok(
            specialist.post(
                f"/api/v1/employers/{employer['id']}/vacancies",
                json={"title": f"{title} {mark}", "hours_per_week": 20, "hourly_pay_pence": pay},
            ),
            201,
        )["id"]
    client_id = new_client(keyworker, "Sam Sector")
    share_with_specialist(live, client_id)

    def shown() -> set[str]:
        found = ok(keyworker.get(f"/api/v1/clients/{client_id}/vacancy-matches"))
        return {m["vacancy"]["id"] for m in found} & set(made.values())

    assert shown() == set(made.values())
    set_preferences(keyworker, client_id, sectors=["I", "G"], min_hourly_pay_pence=1361)
    assert shown() == {made["Cook"]}  # the shop pays a penny under the client's minimum
    set_preferences(keyworker, client_id, sectors=["G"], min_hourly_pay_pence=1360)
    assert shown() == {made["Shop assistant"]}  # at the minimum, in the one sector
    kept = ok(keyworker.get(f"/api/v1/clients/{client_id}/plan"))["content"]
    assert kept["vocational_profile"]["preferences"]["sectors"] == ["G"]
    assert kept["vocational_profile"]["preferences"]["min_hourly_pay_pence"] == 1360

    # Strict: pay in whole pence as a JSON integer, a known sector letter; nothing stored.
    read = keyworker.get(f"/api/v1/clients/{client_id}/plan")
    for bad in (
        {"min_hourly_pay_pence": "1360"},
        {"min_hourly_pay_pence": 13.6},
        {"min_hourly_pay_pence": True},
        {"min_hourly_pay_pence": 0},
        {"min_hourly_pay_pence": 100_001},
        {"sectors": ["Z"]},
        {"sectors": "G"},
    ):
        content = read.json()["content"]
        content["vocational_profile"]["preferences"] |= bad
        refused = problem(
            keyworker.put(
                f"/api/v1/clients/{client_id}/plan",
                json=content,
                headers={"If-Match": read.headers["etag"]},
            ),
            422,
        )
        field = f"body.vocational_profile.preferences.{next(iter(bad))}"
        assert any(e["field"].startswith(field) for e in refused["errors"]), (bad, refused)
    assert (
        ok(keyworker.get(f"/api/v1/clients/{client_id}/plan"))["version"] == read.json()["version"]
    )
