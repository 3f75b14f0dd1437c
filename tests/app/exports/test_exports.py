"""Exports of a client's record against a real server: the FHIR R4 bundle, re-validated here as
R4B models with its references resolved, and the subject-access archive as the client and as a
supervisor, each export audited; other staff are refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from tests.conftest import Live, Session, problem
from tests.support.builders import client_id_of, edit_plan
from tests.support.ws import WsClient

PHQ9 = {"1": 2, "2": 2, "3": 1, "4": 1, "5": 1, "6": 1, "7": 0, "8": 0, "9": 0}  # 8, mild
GAD7 = {"1": 2, "2": 2, "3": 2, "4": 1, "5": 1, "6": 1, "7": 1}  # 10, moderate
ARCHIVE_SECTIONS = {
    "about",
    "record",
    "plan",
    "measures",
    "alerts",
    "journey",
    "other_records",
    "messages",
    "meetings",
    "documents",
    "audit_events",
    "benefits",
    "applications",
    "equality",
}


def save_plan(live: Live, client_id: str, marker: str) -> dict[str, Any]:
    """Put a plan with two goals and an open and a done action (GET for the ETag, PUT with
    If-Match)."""
    specialist = live.as_role("employment_specialist").user["id"]

    def change(content: dict[str, Any]) -> None:
        content["goals"] = [
            {"text": f"Back to warehouse work by summer {marker}"},
            {"text": f"Sleep better {marker}"},
        ]
        content["actions"] = [
            {"text": f"Update the CV {marker}", "owner_id": specialist, "due_on": "2030-02-01"},
            {"text": f"Visit the job centre {marker}", "status": "done"},
        ]

    return dict(edit_plan(live.as_role("peer_keyworker"), client_id, change)["content"])


def record(live: Live, client_id: str, instrument: str, answers: dict[str, int]) -> str:
    done = live.as_role("therapist").post(
        f"/api/v1/clients/{client_id}/measures",
        json={"instrument": instrument, "answers": answers},
    )
    assert done.status_code == 201, done.text
    return str(done.json()["id"])


def references(node: Any) -> Iterator[str]:
    """Every ``reference`` anywhere in a resource."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def audit_actions(live: Live, client_id: str, actor: Session) -> list[dict[str, Any]]:
    reply = live.as_role("supervisor").get(
        "/api/v1/audit-events",
        params={"client_id": client_id, "actor_id": actor.user["id"], "limit": 200},
    )
    assert reply.status_code == 200, reply.text
    return list(reply.json()["items"])


def test_the_fhir_bundle_is_valid_r4_and_its_references_resolve(live: Live) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    marker = uuid.uuid4().hex[:8]
    plan = save_plan(live, client_id, marker)
    phq_id = record(live, client_id, "phq9", PHQ9)
    gad_id = record(live, client_id, "gad7", GAD7)
    therapist = live.as_role("therapist")

    reply = therapist.get(f"/api/v1/clients/{client_id}/fhir")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/fhir+json")
    raw = reply.json()
    bundle = Bundle.model_validate(raw)  # the R4B model validates on parsing
    assert bundle.type == "collection" and bundle.entry

    by_url: dict[str, dict[str, Any]] = {}
    for entry in raw["entry"]:
        url, resource = entry["fullUrl"], entry["resource"]
        assert url == f"urn:uuid:{resource['id']}" and url not in by_url
        by_url[url] = resource
    for resource in by_url.values():
        for reference in references(resource):
            assert reference in by_url, f"{resource['resourceType']} -> {reference} unresolved"

    def of_type(kind: str) -> list[dict[str, Any]]:
        return [r for r in by_url.values() if r["resourceType"] == kind]

    (patient,) = of_type("Patient")
    assert patient["id"] == client_id and patient["name"] == [{"text": "Alex Morgan"}]
    assert "identifier" not in patient and "birthDate" not in patient

    (care_plan,) = of_type("CarePlan")
    assert (care_plan["status"], care_plan["intent"]) == ("active", "plan")
    assert care_plan["subject"]["reference"] == f"urn:uuid:{client_id}"
    goals = [by_url[g["reference"]] for g in care_plan["goal"]]
    assert all(g["resourceType"] == "Goal" and g["lifecycleStatus"] == "active" for g in goals)
    assert [g["description"]["text"] for g in goals] == [g["text"] for g in plan["goals"]]
    assert [(a["detail"]["description"], a["detail"]["status"]) for a in care_plan["activity"]] == [
        (f"Update the CV {marker}", "not-started"),
        (f"Visit the job centre {marker}", "completed"),
    ]
    assert care_plan["activity"][0]["detail"]["scheduledPeriod"]["end"] == "2030-02-01"
    assert by_url[care_plan["careTeam"][0]["reference"]]["resourceType"] == "CareTeam"

    (care_team,) = of_type("CareTeam")
    roles = {p["member"]["display"]: p["role"][0]["text"] for p in care_team["participant"]}
    assert roles["Tom Okafor"].startswith("Therapist")
    assert roles["Erin Walsh"].startswith("Employment specialist")

    observations = {
        by_url[o["derivedFrom"][0]["reference"]]["id"]: o for o in of_type("Observation")
    }
    for measure_id, loinc, total, answers in (
        (phq_id, "44261-6", 8, PHQ9),
        (gad_id, "70274-6", 10, GAD7),
    ):
        observation = observations[measure_id]
        assert observation["status"] == "final"
        assert observation["code"]["coding"] == [{"system": "http://loinc.org", "code": loinc}]
        assert observation["valueInteger"] == total and observation["effectiveDateTime"]
        response = by_url[f"urn:uuid:{measure_id}"]
        assert response["resourceType"] == "QuestionnaireResponse"
        assert response["status"] == "completed" and response["authored"]
        assert {i["linkId"]: i["answer"][0]["valueInteger"] for i in response["item"]} == answers

    consents = of_type("Consent")
    assert consents and {c["status"] for c in consents} <= {"active", "inactive"}
    for consent in consents:
        assert consent["scope"] and consent["category"][0]["text"]
        (organisation,) = consent["organization"]
        assert by_url[organisation["reference"]]["resourceType"] == "Organization"
    assert "Northern Employment Partners" in {
        c["organization"][0]["display"] for c in consents if c["status"] == "active"
    }

    assert "client.fhir_export" in {e["action"] for e in audit_actions(live, client_id, therapist)}


async def send_case_message(live: Live, client_id: str, includes_client: bool, body: str) -> None:
    keyworker = live.as_role("peer_keyworker")
    opened = keyworker.post(
        "/api/v1/conversations",
        json={"kind": "case", "client_id": client_id, "includes_client": includes_client},
    )
    assert opened.status_code == 200, opened.text
    socket = await WsClient.connect(live.base_url, keyworker.tokens["access_token"])
    try:
        await socket.wait_type("ready")
        ack = await socket.send_message(opened.json()["id"], body)
        assert ack["type"] == "message.ack", ack
    finally:
        await socket.close()


def bodies(archive: dict[str, Any]) -> set[str]:
    return {m["body"] for t in archive["messages"] for m in t["messages"]}


def export(live: Live, session: Session, client_id: str) -> dict[str, Any]:
    reply = session.get(f"/api/v1/clients/{client_id}/subject-access")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-disposition"] == (
        f'attachment; filename="subject-access-{client_id}.json"'
    )
    archive: dict[str, Any] = reply.json()
    assert set(archive) == ARCHIVE_SECTIONS
    # Its own audit event was written in the same transaction, before the trail was read.
    own = archive["audit_events"][-1]
    assert own["action"] == "client.subject_access_export"
    assert own["actor_id"] == session.user["id"]
    return archive


async def test_subject_access_archive_for_the_client_and_a_supervisor(live: Live) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    marker = uuid.uuid4().hex[:8]
    save_plan(live, client_id, marker)
    phq_id = record(live, client_id, "phq9", PHQ9)
    shared, staff_only = f"See you Tuesday {marker}", f"Staff note {marker}"
    await send_case_message(live, client_id, True, shared)
    await send_case_message(live, client_id, False, staff_only)
    me, supervisor = live.as_role("client"), live.as_role("supervisor")
    answered = me.put(
        "/api/v1/me/equality", json={"age_band": "35_49", "conviction": "prefer_not_to_say"}
    )
    assert answered.status_code == 200, answered.text

    mine = export(live, me, client_id)
    assert mine["about"]["client_id"] == client_id
    assert mine["about"]["generated_by"]["role"] == "client"
    record_section = mine["record"]
    assert record_section["display_name"] == "Alex Morgan"
    assert record_section["account"]["email"] == "alex.morgan@example.org"
    assert {"Tom Okafor", "Erin Walsh", "Priya Shah"} <= {
        m["display_name"] for m in record_section["care_team"]
    }
    assert record_section["referrals"] and record_section["consents"]
    assert any(marker in g["text"] for g in mine["plan"]["current"]["content"]["goals"])
    assert mine["plan"]["history"] and mine["plan"]["history"][-1]["changed_by_name"]
    assert phq_id in {m["id"] for m in mine["measures"]}
    assert isinstance(mine["journey"], dict) and isinstance(mine["other_records"], dict)
    assert shared in bodies(mine) and staff_only not in bodies(mine)
    # Staff-only notes are withheld from the client (with a reason); other tests may also have
    # raised staff alerts about Alex, which are withheld the same way.
    withheld = [w["section"] for w in mine["about"]["withheld"]]
    assert "messages" in withheld and set(withheld) <= {"messages", "alerts"}
    assert mine["alerts"] == []
    # Benefits, counselling, eligibility, applications (the demo's) and his own equality answers.
    assert [c["benefit"] for c in mine["benefits"]["claims"]][:1] == ["universal_credit"]
    assert mine["benefits"]["better_off_calculations"]
    assert mine["benefits"]["off_flow"]["restart_window_days"] == 28
    eligibility = record_section["referrals"][0]["eligibility"]
    assert eligibility and all(q["recorded_by"] for q in eligibility)
    assert "Warehouse operative" in {a["vacancy"]["title"] for a in mine["applications"]}
    assert {a["vacancy"]["employer_name"] for a in mine["applications"]} >= {"Metro Logistics"}
    assert mine["equality"]["answers"]["age_band"] == "35_49"
    assert mine["equality"]["answers"]["conviction"] == "prefer_not_to_say"
    # Nothing of his equality answers, nor the tables behind these sections, in other_records.
    assert not {"benefit_claim", "vacancy_application", "equality_profile"} & set(
        mine["other_records"]
    )

    theirs = export(live, supervisor, client_id)
    # Never on a colleague's screen: the supervisor's export says they are withheld, not what.
    assert theirs["equality"] is None
    assert [w["section"] for w in theirs["about"]["withheld"]] == ["equality"]
    assert theirs["benefits"]["claims"] == mine["benefits"]["claims"]
    assert theirs["applications"] == mine["applications"]
    assert {shared, staff_only} <= bodies(theirs)
    assert {t["includes_client"] for t in theirs["messages"] if t["kind"] == "case"} == {
        True,
        False,
    }
    assert theirs["record"]["care_team"] == mine["record"]["care_team"]
    # The client's own export is in the trail the supervisor's export reads.
    assert "client.subject_access_export" in {
        e["action"] for e in theirs["audit_events"] if e["actor_id"] == me.user["id"]
    }
    # Staff addresses are left out; the client's own are theirs.
    assert all(e["ip"] is None for e in theirs["audit_events"] if e["actor_id"] != me.user["id"])

    for session in (me, supervisor):
        exports = [
            e
            for e in audit_actions(live, client_id, session)
            if e["action"] == "client.subject_access_export"
        ]
        assert exports and exports[0]["outcome"] == "success"


def test_other_staff_cannot_take_a_subject_access_export(live: Live) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    for role in ("therapist", "admin", "peer_keyworker"):
        session = live.as_role(role)
        problem(session.get(f"/api/v1/clients/{client_id}/subject-access"), 403)
    therapist = live.as_role("therapist")
    refused = [
        e
        for e in audit_actions(live, client_id, therapist)
        if e["action"] == "client.subject_access_export"
    ]
    assert refused and {e["outcome"] for e in refused} == {"denied"}


def test_admins_cannot_export_fhir(live: Live) -> None:
    problem(
        live.as_role("admin").get(f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/fhir"), 403
    )
