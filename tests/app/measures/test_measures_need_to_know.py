"""Who sees questionnaire answers item by item, over real HTTP.

Answers are taken strictly, on every way in (staff entry, the client signed in, the
questionnaire link): "2" or true is refused naming the item, and nothing is stored.

Item answers (PHQ-9 item 9 among them) and the risk alerts they raise are for the client and the
care team's clinicians: its therapists and the supervisors of its staff. The employment
specialist of the partner provider, who reads Alex's record with his consent, and the peer
keyworker see totals, bands and outcomes only: in the measures list, in what a save answers,
in the FHIR bundle, in the alert list and in a subject-access archive.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.app.exports.test_exports import references
from tests.conftest import Live, Session, problem
from tests.support.builders import add_to_care_team, client_id_of, new_client

PHQ9_ITEM9 = {"1": 1, "2": 1, "3": 0, "4": 1, "5": 0, "6": 1, "7": 0, "8": 0, "9": 1}  # 5, mild


def measures(reader: Session, client_id: str) -> list[dict[str, Any]]:
    reply = reader.get(f"/api/v1/clients/{client_id}/measures")
    assert reply.status_code == 200, reply.text
    return list(reply.json())


def refused_naming_item(reply: Any, item: str) -> None:
    body = problem(reply, 422)
    fields = [e["field"] for e in body["errors"]]
    assert fields == [f"body.answers.{item}"], body


# --- strict answers ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["2", True, False, 2.0, "1e0", [1]])
def test_staff_and_client_answers_take_integers_only(live: Live, bad: Any) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    therapist = live.as_role("therapist")
    before = len(measures(therapist, client_id))
    for who in ("therapist", "client"):
        given = {**PHQ9_ITEM9, "3": bad}
        refused_naming_item(
            live.as_role(who).post(
                f"/api/v1/clients/{client_id}/measures",
                json={"instrument": "phq9", "answers": given},
            ),
            "3",
        )
    assert len(measures(therapist, client_id)) == before  # nothing stored


@pytest.mark.parametrize("bad", ["2", True])
def test_questionnaire_link_answers_take_integers_only(live: Live, bad: Any) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    therapist = live.as_role("therapist")
    made = live.as_role("peer_keyworker").post(
        f"/api/v1/clients/{client_id}/measure-links", json={"instrument": "gad7"}
    )
    assert made.status_code == 201, made.text
    token = made.json()["link"].rsplit("/", 1)[-1]
    before = len(measures(therapist, client_id))
    with live.client() as anonymous:
        given = {"1": 1, "2": bad, "3": 0, "4": 0, "5": 0, "6": 0, "7": 0}
        refused_naming_item(
            anonymous.post(f"/api/v1/measure-links/{token}", json={"answers": given}), "2"
        )
        assert len(measures(therapist, client_id)) == before  # nothing stored
        # The link was not used up: the same answers, typed right, are taken.
        given["2"] = 2
        taken = anonymous.post(f"/api/v1/measure-links/{token}", json={"answers": given})
        assert taken.status_code == 201, taken.text
    assert len(measures(therapist, client_id)) == before + 1


# --- need to know --------------------------------------------------------------------------


def test_the_employment_specialist_sees_scores_but_no_answers_or_risk_alerts(live: Live) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    therapist = live.as_role("therapist")
    specialist = live.as_role("employment_specialist")
    saved = therapist.post(
        f"/api/v1/clients/{client_id}/measures", json={"instrument": "phq9", "answers": PHQ9_ITEM9}
    )
    assert saved.status_code == 201, saved.text
    measure_id = saved.json()["id"]
    assert saved.json()["answers"] == PHQ9_ITEM9

    # The list: the same response, with its total and band, and without its answers.
    for role, sees in (
        ("employment_specialist", False),
        ("peer_keyworker", False),
        ("therapist", True),
        ("supervisor", True),
        ("client", True),
    ):
        found = next(m for m in measures(live.as_role(role), client_id) if m["id"] == measure_id)
        assert (found["total"], found["band"]) == (5, "mild"), role
        assert found["answers"] == (PHQ9_ITEM9 if sees else None), role
    # What a save answers follows the same rule (the specialist recording a GAD-7 in session).
    own = specialist.post(
        f"/api/v1/clients/{client_id}/measures",
        json={"instrument": "gad7", "answers": {str(n): 1 for n in range(1, 8)}},
    )
    assert own.status_code == 201, own.text
    assert own.json()["answers"] is None and own.json()["total"] == 7
    # Outcomes (recovery, reliable change) are open to the specialist as before.
    assert specialist.get(f"/api/v1/clients/{client_id}/outcomes").status_code == 200

    # The risk alert went to the therapist only, and is listed for them only.
    risk = [
        a
        for a in therapist.get("/api/v1/alerts").json()
        if a["kind"] == "phq9_item9" and a["client_id"] == client_id
    ]
    assert risk
    for role in ("employment_specialist", "peer_keyworker"):
        listed = live.as_role(role).get("/api/v1/alerts", params={"include_acknowledged": True})
        assert not [a for a in listed.json() if a["kind"] == "phq9_item9"], role

    # FHIR: the specialist gets Observations with the totals and no QuestionnaireResponse.
    def bundle(reader: Session) -> dict[str, dict[str, Any]]:
        reply = reader.get(f"/api/v1/clients/{client_id}/fhir")
        assert reply.status_code == 200, reply.text
        return {e["fullUrl"]: e["resource"] for e in reply.json()["entry"]}

    theirs = bundle(specialist)
    assert not [r for r in theirs.values() if r["resourceType"] == "QuestionnaireResponse"]
    observations = [r for r in theirs.values() if r["resourceType"] == "Observation"]
    assert any(o["valueInteger"] == 5 for o in observations)
    assert all("derivedFrom" not in o for o in observations)
    for resource in theirs.values():
        for reference in references(resource):
            assert reference in theirs, reference
    assert '"linkId"' not in str(theirs).replace("'", '"')
    clinical = bundle(therapist)
    response = clinical[f"urn:uuid:{measure_id}"]
    assert response["resourceType"] == "QuestionnaireResponse"
    assert {i["linkId"]: i["answer"][0]["valueInteger"] for i in response["item"]} == PHQ9_ITEM9

    # Each read that held the answers back says so in the audit trail.
    events = live.as_role("supervisor").get(
        "/api/v1/audit-events",
        params={"client_id": client_id, "actor_id": specialist.user["id"], "limit": 50},
    )
    details = {(e["action"], e["detail"]) for e in events.json()["items"]}
    assert any(
        a == "measure.read" and (d or "").startswith("item answers withheld") for a, d in details
    )
    assert any(
        a == "client.fhir_export" and (d or "").startswith("item answers withheld")
        for a, d in details
    )


def test_subject_access_archives_carry_the_answers_for_the_client_and_the_supervisor(
    live: Live,
) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    saved = live.as_role("therapist").post(
        f"/api/v1/clients/{client_id}/measures", json={"instrument": "phq9", "answers": PHQ9_ITEM9}
    )
    assert saved.status_code == 201, saved.text
    for role in ("client", "supervisor"):
        reply = live.as_role(role).get(f"/api/v1/clients/{client_id}/subject-access")
        assert reply.status_code == 200, reply.text
        archive = reply.json()
        entry = next(m for m in archive["measures"] if m["id"] == saved.json()["id"])
        assert entry["answers"] == PHQ9_ITEM9, role
        assert not [w for w in archive["about"]["withheld"] if w["section"] == "measures.answers"]
    supervisor = live.as_role("supervisor").get(f"/api/v1/clients/{client_id}/subject-access")
    assert [a for a in supervisor.json()["alerts"] if a["kind"] == "phq9_item9"]


def test_a_therapist_taken_off_the_care_team_no_longer_sees_the_risk_alert(live: Live) -> None:
    therapist = live.as_role("therapist")
    client_id = new_client(therapist, "Rae Quinn", referred_on="2026-01-05", reason="Low mood")
    keyworker = live.as_role("peer_keyworker")
    add_to_care_team(therapist, client_id, keyworker.user["id"])
    saved = therapist.post(
        f"/api/v1/clients/{client_id}/measures", json={"instrument": "phq9", "answers": PHQ9_ITEM9}
    )
    assert saved.status_code == 201, saved.text
    (alert,) = [a for a in therapist.get("/api/v1/alerts").json() if a["client_id"] == client_id]
    membership = next(
        m
        for m in therapist.get(f"/api/v1/clients/{client_id}/care-team").json()
        if m["user_id"] == therapist.user["id"]
    )
    ended = keyworker.delete(f"/api/v1/clients/{client_id}/care-team/{membership['id']}")
    assert ended.status_code == 204, ended.text

    assert alert["id"] not in [a["id"] for a in therapist.get("/api/v1/alerts").json()]
    problem(therapist.post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={}), 403)
    events = live.as_role("supervisor").get(
        "/api/v1/audit-events",
        params={"client_id": client_id, "actor_id": therapist.user["id"], "limit": 50},
    )
    assert any(
        e["action"] == "alert.acknowledge" and e["outcome"] == "denied"
        for e in events.json()["items"]
    )
