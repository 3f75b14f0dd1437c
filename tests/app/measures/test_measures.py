"""Outcome measures through the API: completing questionnaires, scores and outcomes, and the
urgent PHQ-9 item-9 alert reaching the therapist live, to be acknowledged."""

from __future__ import annotations

from tests.conftest import Live, problem
from tests.support import builders
from tests.support.builders import client_id_of
from tests.support.ws import WsClient


def answers(*values: int | str | None) -> dict[str, int | str | None]:
    return {str(n): v for n, v in enumerate(values, start=1)}


def new_client(live: Live) -> str:
    """A client of the therapist's own with no measures yet (others' tests use Alex's)."""
    return builders.new_client(
        live.as_role("therapist"),
        "Cal Dunn",
        source="talking_therapies",
        referred_on="2026-01-05",
        reason="Low mood; wants to return to work",
    )


def test_scores_and_outcome_between_the_first_and_latest_pair(live: Live) -> None:
    client_id = new_client(live)
    therapist = live.as_role("therapist")
    start = {"phq9": answers(2, 2, 2, 2, 1, 1, 1, 1, 0), "gad7": answers(2, 2, 1, 1, 1, 1, 1)}
    later = {"phq9": answers(1, 1, 0, 1, 0, 0, 0, 0, 0), "gad7": answers(1, 0, 1, 0, 0, 1, 0)}
    for key, sitting in (("s1", start), ("s2", later)):
        for code, given in sitting.items():
            done = therapist.post(
                f"/api/v1/clients/{client_id}/measures",
                json={"instrument": code, "answers": given, "session_key": key},
            )
            assert done.status_code == 201, done.text
    listed = therapist.get(f"/api/v1/clients/{client_id}/measures").json()
    first_phq = next(m for m in listed if m["session_key"] == "s1" and m["instrument"] == "phq9")
    assert (first_phq["total"], first_phq["band"], first_phq["mode"]) == (
        12,
        "moderate",
        "in_session",
    )
    outcome = therapist.get(f"/api/v1/clients/{client_id}/outcomes").json()
    assert outcome["pairs"] == 2
    change = outcome["change"]
    assert (outcome["first_session"], outcome["last_session"]) == ("s1", "s2")
    # PHQ-9 12 -> 3 and GAD-7 9 -> 3: a case that recovered, reliably.
    assert change["caseness"] and change["recovery"] and change["reliable_improvement"]
    assert change["reliable_recovery"] and not change["reliable_deterioration"]
    assert change["phq9_delta"] == -9 and change["anxiety_delta"] == -6


def test_a_client_completes_a_measure_with_their_own_login(live: Live) -> None:
    done = live.as_role("client").post(
        f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/measures",
        json={"instrument": "gad7", "answers": answers(0, 1, 0, 1, 0, 1, 0)},
    )
    assert done.status_code == 201, done.text
    assert (done.json()["total"], done.json()["mode"]) == (3, "remote")


def test_wsas_prorates_one_not_applicable_item(live: Live) -> None:
    reply = live.as_role("therapist").post(
        f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/measures",
        json={"instrument": "wsas", "answers": answers("not_applicable", 4, 5, 4, 5)},
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["total"] == 23 and reply.json()["prorated"] is True  # 4.5 x 5 = 22.5


def test_invalid_answers_are_refused_clearly(live: Live) -> None:
    body = problem(
        live.as_role("therapist").post(
            f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/measures",
            json={"instrument": "phq9", "answers": answers(4, 0, 0, 0, 0, 0, 0, 0)},
        ),
        422,
    )
    assert "item" in body["detail"].lower()
    problem(
        live.as_role("therapist").post(
            f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/measures",
            json={"instrument": "bdi", "answers": {}},
        ),
        422,
    )


async def test_item_nine_alerts_the_therapist_at_once(live: Live) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    tom = await WsClient.connect(live.base_url, live.as_role("therapist").tokens["access_token"])
    try:
        await tom.wait_type("ready")
        done = live.as_role("client").post(
            f"/api/v1/clients/{client_id}/measures",
            json={"instrument": "phq9", "answers": answers(1, 1, 1, 1, 1, 1, 1, 1, 1)},
        )
        assert done.status_code == 201, done.text
        raised = await tom.wait_type("alert.raised")
        alert = raised["alert"]
        assert alert["urgent"] and alert["kind"] == "phq9_item9"
        assert alert["client_name"] == "Alex Morgan"
    finally:
        await tom.close()
    therapist = live.as_role("therapist")
    pending = therapist.get("/api/v1/alerts").json()
    assert alert["id"] in [a["id"] for a in pending]
    # Only the therapists are alerted; the keyworker's list does not hold it.
    assert alert["id"] not in [
        a["id"] for a in live.as_role("peer_keyworker").get("/api/v1/alerts").json()
    ]
    problem(
        live.as_role("peer_keyworker").post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={}),
        404,
    )
    acked = therapist.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge",
        json={"note": "Called Alex; safety plan reviewed."},
    )
    assert acked.status_code == 200 and acked.json()["acknowledged_at"]
    assert alert["id"] not in [a["id"] for a in therapist.get("/api/v1/alerts").json()]
    kept = therapist.get("/api/v1/alerts", params={"include_acknowledged": True}).json()
    assert next(a for a in kept if a["id"] == alert["id"])["acknowledgement_note"].startswith(
        "Called Alex"
    )
    events = (
        live.as_role("supervisor")
        .get("/api/v1/audit-events", params={"client_id": client_id, "action": "alert.acknowledge"})
        .json()["items"]
    )
    assert events and events[0]["actor_name"] == "Tom Okafor"
