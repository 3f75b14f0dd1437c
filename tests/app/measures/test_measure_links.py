"""Questionnaires completed remotely from a one-time link: made by the care team, opened and
answered without signing in, once, raising the same item-9 alert as answers given signed in."""

from __future__ import annotations

from tests.app.measures.test_measures import answers
from tests.conftest import Live, problem
from tests.support.builders import client_id_of


def token_of(link: str) -> str:
    assert "/#/q/" in link, link
    return link.rsplit("/#/q/", 1)[1]


def test_a_link_is_answered_once_and_raises_the_item_nine_alert(live: Live) -> None:
    alex = client_id_of(live, "Alex Morgan")
    keyworker, therapist = live.as_role("peer_keyworker"), live.as_role("therapist")
    before = {a["id"] for a in therapist.get("/api/v1/alerts").json()}
    made = keyworker.post(f"/api/v1/clients/{alex}/measure-links", json={"instrument": "phq9"})
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["instrument"] == "phq9" and created["expires_at"]
    assert created["emailed"] is True  # Alex has a login, so the link went to his email
    token = token_of(created["link"])

    with live.client() as anonymous:
        opened = anonymous.get(f"/api/v1/measure-links/{token}")
        assert opened.status_code == 200, opened.text
        shown = opened.json()
        assert shown["client_first_name"] == "Alex"
        assert shown["instrument"]["code"] == "phq9" and len(shown["instrument"]["items"]) == 9
        assert "Morgan" not in opened.text

        sent = anonymous.post(
            f"/api/v1/measure-links/{token}",
            json={"answers": answers(1, 1, 1, 1, 1, 1, 1, 1, 1)},
        )
        assert sent.status_code == 201, sent.text
        assert sent.json() == {"total": 9, "band": "mild"}

        problem(anonymous.get(f"/api/v1/measure-links/{token}"), 410)
        problem(
            anonymous.post(
                f"/api/v1/measure-links/{token}",
                json={"answers": answers(0, 0, 0, 0, 0, 0, 0, 0, 0)},
            ),
            410,
        )
        problem(anonymous.get("/api/v1/measure-links/not-a-real-token"), 404)
        problem(
            anonymous.post(
                "/api/v1/measure-links/not-a-real-token",
                json={"answers": answers(0, 0, 0, 0, 0, 0, 0, 0, 0)},
            ),
            404,
        )

    raised = [a for a in therapist.get("/api/v1/alerts").json() if a["id"] not in before]
    assert any(a["kind"] == "phq9_item9" and a["client_id"] == alex for a in raised), raised
    recorded = therapist.get(f"/api/v1/clients/{alex}/measures").json()[-1]
    me = live.as_role("client").user["id"]
    assert (recorded["total"], recorded["mode"], recorded["completed_by"]) == (9, "remote", me)


def test_without_a_login_the_link_is_recorded_as_remote_by_its_maker(live: Live) -> None:
    bea = client_id_of(live, "Bea Collins")
    keyworker = live.as_role("peer_keyworker")
    made = keyworker.post(f"/api/v1/clients/{bea}/measure-links", json={"instrument": "gad7"})
    assert made.status_code == 201, made.text
    assert made.json()["emailed"] is False
    with live.client() as anonymous:
        sent = anonymous.post(
            f"/api/v1/measure-links/{token_of(made.json()['link'])}",
            json={"answers": answers(0, 0, 0, 0, 0, 0, 0)},
        )
        assert sent.status_code == 201, sent.text
    recorded = keyworker.get(f"/api/v1/clients/{bea}/measures").json()[-1]
    assert recorded["mode"] == "remote" and recorded["completed_by"] == keyworker.user["id"]
    events = (
        live.as_role("supervisor")
        .get("/api/v1/audit-events", params={"client_id": bea, "action": "measure.record"})
        .json()["items"]
    )
    assert events


def test_the_link_is_emailed_to_an_address_given_without_saying_what_it_measures(
    live: Live,
) -> None:
    bea = client_id_of(live, "Bea Collins")  # no login: only an address given reaches her
    address = "bea.collins@example.net"
    made = live.as_role("peer_keyworker").post(
        f"/api/v1/clients/{bea}/measure-links", json={"instrument": "gad7", "email": address}
    )
    assert made.status_code == 201, made.text
    assert made.json()["emailed"] is True
    assert live.server.log_path is not None
    log = live.server.log_path.read_text(errors="replace")
    sent = log[log.rfind(f"email to {address}:") :]
    assert made.json()["link"] in sent
    body = sent[: sent.find("expires on")]
    for clinical in ("GAD", "anxiety", "Anxiety", "Collins"):
        assert clinical not in body
    for bad in (
        {"instrument": "gad7", "email": "not-an-address"},
        {"instrument": "gad7", "email": 7},
    ):
        problem(
            live.as_role("peer_keyworker").post(f"/api/v1/clients/{bea}/measure-links", json=bad),
            422,
        )


def test_links_are_made_only_by_the_care_team(live: Live) -> None:
    alex = client_id_of(live, "Alex Morgan")
    problem(
        live.as_role("client").post(
            f"/api/v1/clients/{alex}/measure-links", json={"instrument": "phq9"}
        ),
        403,
    )
    problem(
        live.as_role("peer_keyworker").post(
            f"/api/v1/clients/{alex}/measure-links", json={"instrument": "bdi"}
        ),
        422,
    )
