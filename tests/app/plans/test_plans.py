"""The shared plan: versions and ETags, conflicts refused with 412, the client's part, history,
comments, and live updates to everyone viewing it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Live, problem
from tests.support.builders import client_id_of
from tests.support.ws import WsClient


def a_plan(live: Live) -> dict[str, Any]:
    tom = live.as_role("therapist").user["id"]
    return {
        "goals": [{"text": "Get back into warehouse work, mornings only"}],
        "vocational_profile": {
            "preferences": {
                "types": ["warehouse", "retail"],
                "locations": ["Gateshead"],
                "hours_per_week": 20,
            },
            "work_history": "Eight years as a picker until the site closed.",
            "skills": ["forklift licence"],
            "what_helps": "A phone call the day before appointments.",
            "what_gets_in_the_way": "Crowded buses.",
        },
        "actions": [
            {"text": "Contact two local warehouses", "due_on": "2030-01-20"},
            {"text": "Review sleep diary", "owner_id": tom},
        ],
        "support_needs": [
            {
                "kind": "debt_advice",
                "description": "Council tax arrears",
                "referral_status": "referred",
            }
        ],
        "diversion": [
            {
                "kind": "vocational_skills",
                "activity": "Forklift refresher",
                "sessions_offered": 4,
                "sessions_attended": 1,
            }
        ],
    }


def test_save_with_the_version_read_and_refuse_a_stale_one(live: Live) -> None:
    client_id = client_id_of(live, "Bea Collins")
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    first = keyworker.get(f"/api/v1/clients/{client_id}/plan")
    assert first.status_code == 200 and first.json()["version"] == 0
    etag = first.headers["etag"]
    saved = keyworker.put(
        f"/api/v1/clients/{client_id}/plan", json=a_plan(live), headers={"If-Match": etag}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 1 and saved.headers["etag"] == '"1"'
    # The therapist edited the version they read before the keyworker saved: refused.
    stale = therapist.put(
        f"/api/v1/clients/{client_id}/plan", json={"goals": []}, headers={"If-Match": etag}
    )
    body = problem(stale, 412)
    assert body["current"]["version"] == 1 and stale.headers["etag"] == '"1"'
    assert body["current"]["content"]["goals"][0]["text"].startswith("Get back")
    problem(therapist.put(f"/api/v1/clients/{client_id}/plan", json={"goals": []}), 428)
    kept = therapist.get(f"/api/v1/clients/{client_id}/plan").json()
    assert kept["version"] == 1 and kept["updated_by_name"] == "Priya Shah"
    # Saving what is already there makes no new version.
    same = therapist.put(
        f"/api/v1/clients/{client_id}/plan", json=kept["content"], headers={"If-Match": '"1"'}
    )
    assert same.json()["version"] == 1


def test_the_client_shapes_their_goals_and_comments_and_history_shows_who(live: Live) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    keyworker, me = live.as_role("peer_keyworker"), live.as_role("client")
    current = keyworker.get(f"/api/v1/clients/{client_id}/plan")
    plan = a_plan(live)
    saved = keyworker.put(
        f"/api/v1/clients/{client_id}/plan",
        json=plan,
        headers={"If-Match": current.headers["etag"]},
    )
    assert saved.status_code == 200, saved.text
    version = saved.json()["version"]
    content = saved.json()["content"]
    content["goals"].append({"text": "Be able to take the bus again"})
    mine = me.put(
        f"/api/v1/clients/{client_id}/plan", json=content, headers={"If-Match": f'"{version}"'}
    )
    assert mine.status_code == 200, mine.text
    content = mine.json()["content"]
    content["actions"] = []
    problem(
        me.put(
            f"/api/v1/clients/{client_id}/plan",
            json=content,
            headers={"If-Match": f'"{version + 1}"'},
        ),
        403,
    )
    history = keyworker.get(f"/api/v1/clients/{client_id}/plan/history").json()
    assert [(h["changed_by_name"], h["sections"]) for h in history[-2:]] == [
        ("Priya Shah", history[-2]["sections"]),
        ("Alex Morgan", ["goals"]),
    ]
    assert "actions" in history[-2]["sections"]

    note = me.post(
        f"/api/v1/clients/{client_id}/plan/comments",
        json={"item_id": content["goals"][-1]["id"], "text": "Short trips first"},
    )
    assert note.status_code == 201, note.text
    listed = keyworker.get(f"/api/v1/clients/{client_id}/plan/comments").json()
    assert listed[-1]["author_name"] == "Alex Morgan" and listed[-1]["text"] == "Short trips first"


def test_validation_names_the_field(live: Live) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    reply = live.as_role("peer_keyworker").put(
        f"/api/v1/clients/{client_id}/plan",
        json={"actions": [{"text": "x", "due_on": "someday"}], "surprise": 1},
        headers={"If-Match": '"0"'},
    )
    fields = {e["field"] for e in problem(reply, 422)["errors"]}
    assert {"body.actions.0.due_on", "body.surprise"} <= fields


def test_only_the_care_relationship_sees_the_plan(live: Live) -> None:
    problem(
        live.as_role("admin").get(f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/plan"), 403
    )
    partner = live.as_email("admin@northern-employment.example")
    problem(partner.get(f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/plan"), 403)


@pytest.mark.parametrize("role", ["therapist", "client"])
async def test_viewers_see_changes_live(live: Live, role: str) -> None:
    client_id = client_id_of(live, "Alex Morgan")
    viewer = await WsClient.connect(live.base_url, live.as_role(role).tokens["access_token"])
    try:
        await viewer.wait_type("ready")
        keyworker = live.as_role("peer_keyworker")
        current = keyworker.get(f"/api/v1/clients/{client_id}/plan")
        content = current.json()["content"]
        content["goals"] = [*content["goals"], {"text": f"Seen live by the {role}"}]
        saved = keyworker.put(
            f"/api/v1/clients/{client_id}/plan",
            json=content,
            headers={"If-Match": current.headers["etag"]},
        )
        assert saved.status_code == 200, saved.text
        update = await viewer.wait_type("plan.updated", client_id=client_id)
        assert update["version"] == saved.json()["version"] and update["sections"] == ["goals"]
        assert update["content"]["goals"][-1]["text"] == f"Seen live by the {role}"
    finally:
        await viewer.close()


async def test_a_save_is_readable_by_the_time_its_frame_arrives(live: Live) -> None:
    """The frame is published by the request's session after its commit (app/events.py), so
    whoever is told of a save can read it at once. The save runs in a thread of its own, so the
    frame is looked at as it arrives, not after the save's answer."""
    client_id = client_id_of(live, "Alex Morgan")
    therapist = live.as_role("therapist")
    viewer = await WsClient.connect(live.base_url, therapist.tokens["access_token"])
    try:
        await viewer.wait_type("ready")
        keyworker = live.as_role("peer_keyworker")
        current = keyworker.get(f"/api/v1/clients/{client_id}/plan")
        content = current.json()["content"]
        content["goals"] = [*content["goals"], {"text": "Readable when told"}]
        saving = asyncio.create_task(
            asyncio.to_thread(
                keyworker.put,
                f"/api/v1/clients/{client_id}/plan",
                json=content,
                headers={"If-Match": current.headers["etag"]},
            )
        )
        update = await viewer.wait_type("plan.updated", client_id=client_id)
        read = await asyncio.to_thread(therapist.get, f"/api/v1/clients/{client_id}/plan")
        assert read.json()["version"] >= update["version"]
        assert read.json()["content"]["goals"][-1]["text"] == "Readable when told"
        saved = await saving
        assert saved.status_code == 200 and saved.json()["version"] == update["version"]
    finally:
        await viewer.close()
