"""A PHQ-9 item-9 answer always reaches a clinician, over real HTTP and the live socket.

The alert goes to everyone on the care team who may see item answers (its therapists and
supervisors); a care team with none alerts the supervisors of its staff; with nobody over it
either, the organisation's supervisors, audited as an escalation. The member of staff who entered
the answers is told whom it reached (auth.policies.clients.risk_alert_audience)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Live, Session, demo_team_id, problem
from tests.support.builders import Person, new_staff, refer_client, supervise
from tests.support.ws import WsClient

ITEM9_ABOVE_0 = {"1": 1, "2": 1, "3": 0, "4": 1, "5": 0, "6": 1, "7": 0, "8": 0, "9": 1}


def take_referral(live: Live, keyworker: Person) -> str:
    """A client whose care team is this keyworker alone (no therapist)."""
    made = refer_client(
        keyworker.session,
        "Rowan Pike",
        team_id=demo_team_id(live.as_role("peer_keyworker")),
        referred_on="2026-01-05",
        reason="Wants help finding work",
    )
    assert [m["role_on_team"] for m in made["care_team"]] == ["peer_keyworker"]
    return str(made["id"])


async def enter_item9_and_wait(
    live: Live, by: Person, client_id: str, listener: Person
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keyworker enters a PHQ-9 with item 9 above 0; what they were answered, and the
    alert frame the listener received live."""
    ws = await WsClient.connect(live.base_url, listener.session.tokens["access_token"])
    try:
        await ws.wait_type("ready")
        entered = by.session.post(
            f"/api/v1/clients/{client_id}/measures",
            json={"instrument": "phq9", "answers": ITEM9_ABOVE_0},
        )
        assert entered.status_code == 201, entered.text
        frame = await ws.wait_type("alert.raised")
    finally:
        await ws.close()
    assert frame["alert"]["client_id"] == client_id
    return entered.json(), frame["alert"]


def pending_ids(session: Session) -> list[str]:
    reply = session.get("/api/v1/alerts")
    assert reply.status_code == 200, reply.text
    return [a["id"] for a in reply.json()]


async def test_a_care_team_without_a_clinician_alerts_the_supervisor_of_its_staff(
    live: Live,
) -> None:
    supervisor = new_staff(live, "supervisor", "Skye Supervisor")
    keyworker = new_staff(live, "peer_keyworker", "Kit Keyworker")
    supervise(live, supervisor, keyworker)
    client_id = take_referral(live, keyworker)

    entered, alert = await enter_item9_and_wait(live, keyworker, client_id, supervisor)

    assert entered["risk_alert"] == {
        "sent_to": "supervisors_of_care_team",
        "recipients": 1,
        "message": "The care team has no clinician, so the urgent alert has gone to the "
        "supervisors of the care team's staff.",
    }
    assert alert["kind"] == "phq9_item9" and alert["urgent"] and not alert["escalated"]
    assert alert["client_name"] == "Rowan Pike"
    assert alert["id"] in pending_ids(supervisor.session)
    assert alert["id"] not in pending_ids(keyworker.session)  # a keyworker is not a clinician
    # An organisation supervisor over nobody on this care team is not alerted.
    assert alert["id"] not in pending_ids(live.as_role("supervisor"))
    acknowledged = supervisor.session.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge", json={"note": "Called Rowan today."}
    )
    assert acknowledged.status_code == 200, acknowledged.text


async def test_with_nobody_over_the_care_team_the_organisations_supervisors_are_alerted(
    live: Live,
) -> None:
    keyworker = new_staff(live, "peer_keyworker", "Lee Unsupervised")  # no supervisor
    supervisor = new_staff(live, "supervisor", "Oona Orgsupervisor")  # over nobody here
    client_id = take_referral(live, keyworker)

    entered, alert = await enter_item9_and_wait(live, keyworker, client_id, supervisor)

    notice = entered["risk_alert"]
    assert notice["sent_to"] == "organisation_supervisors"
    assert notice["recipients"] >= 2  # the demo's supervisor and this one, at least
    assert notice["message"] == (
        "The care team has no clinician and nobody supervises its staff, so the urgent alert "
        "has gone to the organisation's supervisors."
    )
    assert alert["escalated"] is True and alert["urgent"]
    assert "the care team has no clinician" in alert["detail"]
    assert alert["id"] in pending_ids(supervisor.session)
    assert client_id in [
        a["client_id"] for a in live.as_role("supervisor").get("/api/v1/alerts").json()
    ]
    assert alert["id"] not in pending_ids(keyworker.session)
    # The alert opens neither the record nor its answers: it asks for a clinician to be found.
    problem(supervisor.session.get(f"/api/v1/clients/{client_id}"), 403)
    acknowledged = supervisor.session.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge",
        json={"note": "Asked the team to add a therapist."},
    )
    assert acknowledged.status_code == 200, acknowledged.text
    events = live.as_role("supervisor").get(
        "/api/v1/audit-events", params={"client_id": client_id, "action": "alert.escalated"}
    )
    assert events.status_code == 200, events.text
    (escalation,) = events.json()["items"]
    assert escalation["outcome"] == "success"
    assert escalation["actor_id"] == keyworker.id
    assert "supervisor(s) of the organisation" in escalation["detail"]
