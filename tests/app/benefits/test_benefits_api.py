"""A client's benefit history, better-off calculations and computed off-flow, and eligibility
at referral, through the API of a real server."""

from __future__ import annotations

from tests.conftest import Live, problem
from tests.support.builders import (
    add_to_care_team,
    client_id_of,
    days_ago,
    days_from_today,
    new_client,
    new_staff,
    refer_client,
)
from tests.support.ws import WsClient


def test_history_off_flow_and_audit(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    client_id = new_client(keyworker, "Bea Benefits", referred_on=days_ago(90))
    url = f"/api/v1/clients/{client_id}/benefits"

    esa = keyworker.post(
        f"{url}/claims",
        json={
            "benefit": "esa",
            "esa_group": "work_related_activity",
            "started_on": days_ago(400),
            "source": "verified",
        },
    )
    assert esa.status_code == 201, esa.text
    assert esa.json()["out_of_work"] is True
    pip = keyworker.post(
        f"{url}/claims",
        json={"benefit": "pip", "started_on": days_ago(300), "source": "client_reported"},
    )
    assert pip.status_code == 201 and pip.json()["out_of_work"] is False

    view = keyworker.get(url).json()
    assert view["off_flow"]["state"] == "on_benefits"
    assert view["off_flow"]["on_out_of_work_benefit_at_baseline"] is True
    assert view["off_flow"]["baseline_on"] == days_ago(90)

    # ESA ends 40 days ago (beyond the 28-day window): off, for 40 days; PIP carries on.
    ended = keyworker.post(f"{url}/claims/{esa.json()['id']}/end", json={"ended_on": days_ago(40)})
    assert ended.status_code == 200, ended.text
    problem(
        keyworker.post(f"{url}/claims/{esa.json()['id']}/end", json={"ended_on": days_ago(1)}),
        409,
    )
    off = keyworker.get(url).json()["off_flow"]
    assert off["state"] == "off" and off["days_off"] == 40
    assert off["off_since"] == days_ago(40) and off["off_flows"] == [days_ago(40)]
    assert off["restart_window_days"] == 28

    done = keyworker.post(
        f"{url}/better-off-calculations",
        json={"done_on": days_ago(50), "outcome": "better_off_in_work", "hours_modelled": 16.0},
    )
    assert done.status_code == 201, done.text
    assert keyworker.get(url).json()["better_off_calculations"][0]["outcome"] == (
        "better_off_in_work"
    )

    actions = {
        e["action"]
        for e in live.as_role("supervisor")
        .get("/api/v1/audit-events", params={"client_id": client_id, "limit": 200})
        .json()["items"]
    }
    assert {
        "benefits.read",
        "benefits.claim_add",
        "benefits.claim_end",
        "benefits.better_off_add",
    } <= actions


def test_bad_claims_are_refused(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    url = f"/api/v1/clients/{new_client(keyworker, 'Cal Claims')}/benefits/claims"
    base = {"benefit": "universal_credit", "started_on": days_ago(10), "source": "verified"}
    problem(keyworker.post(url, json=base), 422)  # no conditionality regime
    problem(
        keyworker.post(url, json={**base, "uc_regime": "light_touch", "esa_group": "support"}), 422
    )
    problem(keyworker.post(url, json={**base, "uc_regime": "nonsense"}), 422)
    future = days_from_today(1)
    refused = keyworker.post(url, json={**base, "uc_regime": "light_touch", "started_on": future})
    assert problem(refused, 422)["type"].endswith("date-in-future")
    same_day = {**base, "uc_regime": "light_touch", "ended_on": base["started_on"]}
    problem(keyworker.post(url, json=same_day), 422)
    problem(
        keyworker.post(
            url.replace("/claims", "/better-off-calculations"),
            json={"done_on": days_ago(1), "outcome": "better_off_in_work", "hours_modelled": "16"},
        ),
        422,
    )


def test_the_client_reads_their_own_history_and_the_therapist_does_not_record(
    live: Live,
) -> None:
    url = f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}/benefits"
    assert live.as_role("client").get(url).status_code == 200
    claim = {"benefit": "jsa", "started_on": days_ago(5), "source": "client_reported"}
    problem(live.as_role("client").post(f"{url}/claims", json=claim), 403)
    problem(live.as_role("therapist").post(f"{url}/claims", json=claim), 403)
    assert live.as_role("employment_specialist").post(f"{url}/claims", json=claim).status_code == (
        201
    )


def _answers(**override: bool) -> dict[str, bool]:
    answers = {
        "claims_out_of_work_benefit": True,
        "seeking_mental_health_treatment": True,
        "on_mandatory_dwp_programme": False,
    }
    return {**answers, **override}


def test_eligibility_is_stored_and_an_ineligible_referral_still_counts(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    questions = keyworker.get("/api/v1/eligibility-questions").json()
    assert [q["key"] for q in questions] == list(_answers())
    problem(live.as_role("client").get("/api/v1/eligibility-questions"), 403)

    client_id = new_client(keyworker, "Eli Gible")
    url = f"/api/v1/clients/{client_id}/referrals"
    referral = {"source": "jobcentre", "referred_on": days_ago(1), "reason": "Wants work"}
    eligible = keyworker.post(url, json={**referral, "eligibility": _answers()})
    assert eligible.status_code == 201, eligible.text
    assert eligible.json()["eligible"] is True and eligible.json()["ineligible_reason"] is None
    assert len(eligible.json()["eligibility"]) == 3
    assert eligible.json()["eligibility"][0]["recorded_by"] == keyworker.user["id"]

    ineligible = keyworker.post(
        url, json={**referral, "eligibility": _answers(on_mandatory_dwp_programme=True)}
    )
    assert ineligible.status_code == 201, ineligible.text
    assert ineligible.json()["eligible"] is False
    assert ineligible.json()["ineligible_reason"] == "on a mandatory DWP programme"

    # Missing, unknown and non-boolean answers are refused, never guessed.
    missing = dict(_answers())
    del missing["seeking_mental_health_treatment"]
    problem(keyworker.post(url, json={**referral, "eligibility": missing}), 422)
    unknown = {**_answers(), "lives_in_area": True}
    problem(keyworker.post(url, json={**referral, "eligibility": unknown}), 422)
    problem(
        keyworker.post(
            url,
            json={**referral, "eligibility": {**_answers(), "on_mandatory_dwp_programme": "no"}},
        ),
        422,
    )

    stored = keyworker.get(url).json()
    # Oldest first: the two dated yesterday, then the first referral (today).
    assert [r["eligible"] for r in stored] == [True, False, None]


def test_referral_with_eligibility_at_intake(live: Live) -> None:
    keyworker = live.as_role("peer_keyworker")
    record = keyworker.post(
        "/api/v1/clients",
        json={
            "display_name": "Ina Take",
            "team_id": refer_client(keyworker, "Team Finder")["team_id"],
            "referral": {
                "source": "self",
                "referred_on": days_ago(0),
                "reason": "Wants work",
                "eligibility": _answers(claims_out_of_work_benefit=False),
            },
        },
    )
    assert record.status_code == 201, record.text
    assert record.json()["referrals"][0]["eligible"] is False
    assert record.json()["referrals"][0]["ineligible_reason"] == (
        "not claiming an out-of-work benefit"
    )


async def test_changes_are_announced_to_the_history_s_readers_only(live: Live) -> None:
    """benefits.updated reaches the care team once each change is stored, naming the change and
    who made it but no benefit; a colleague off the care team hears nothing, nor does anyone of
    a change refused."""
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    client_id = new_client(keyworker, "Bo Broadcast", referred_on=days_ago(30))
    add_to_care_team(keyworker, client_id, therapist.user["id"])
    outsider = new_staff(live, "therapist", "Olu Outside")
    url = f"/api/v1/clients/{client_id}/benefits"
    reader = await WsClient.connect(live.base_url, therapist.tokens["access_token"])
    other = await WsClient.connect(live.base_url, outsider.session.tokens["access_token"])
    try:
        await reader.wait_type("ready")
        await other.wait_type("ready")
        claim = keyworker.post(
            f"{url}/claims",
            json={"benefit": "jsa", "started_on": days_ago(60), "source": "verified"},
        )
        assert claim.status_code == 201, claim.text
        added = await reader.wait_type("benefits.updated", client_id=client_id)
        assert added == {
            "type": "benefits.updated",
            "client_id": client_id,
            "change": "claim_added",
            "updated_by": keyworker.user["id"],
            "updated_by_name": keyworker.user["display_name"],
        }
        ended = keyworker.post(
            f"{url}/claims/{claim.json()['id']}/end", json={"ended_on": days_ago(5)}
        )
        assert ended.status_code == 200, ended.text
        assert (await reader.wait_type("benefits.updated", client_id=client_id))[
            "change"
        ] == "claim_ended"
        done = keyworker.post(
            f"{url}/better-off-calculations",
            json={"done_on": days_ago(4), "outcome": "about_the_same"},
        )
        assert done.status_code == 201, done.text
        assert (await reader.wait_type("benefits.updated", client_id=client_id))[
            "change"
        ] == "calculation_added"

        # Refused (a therapist does not record benefits): stored nothing, so announces nothing.
        problem(
            therapist.post(
                f"{url}/claims",
                json={"benefit": "pip", "started_on": days_ago(9), "source": "verified"},
            ),
            403,
        )
        # Frames reach a socket in order, and each change's frame is sent before its answer:
        # once a pong arrives after the last answer, nothing more about these changes is due.
        for socket in (reader, other):
            await socket.request({"type": "ping"})
        told = [f for f in reader.frames if f.get("type") == "benefits.updated"]
        assert [f["change"] for f in told if f["client_id"] == client_id] == [
            "claim_added",
            "claim_ended",
            "calculation_added",
        ]
        assert not [f for f in other.frames if f.get("type") == "benefits.updated"]
    finally:
        await reader.close()
        await other.close()
