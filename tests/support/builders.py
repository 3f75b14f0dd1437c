"""What tests set up before they look: staff, teams, clients and care teams, made through the
API as people make them (an admin invites and places staff, a keyworker takes a referral), so
the set-up goes through the same rules and audit as the real thing.

A builder asserts that each step it takes succeeded (a set-up that fails says where), and
returns ids or records for the test to use. The running service and its signed-in people are
``tests.conftest.Live`` and ``Session``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.conftest import Live, Session

DEMO_TEAM = "Newcastle IPS Team"


# --- days, as the server counts them --------------------------------------------------------


def today() -> date:
    """The server's "today": the UTC date of its clock."""
    return datetime.now(UTC).date()


def days_from_today(n: int) -> str:
    return (today() + timedelta(days=n)).isoformat()


def days_ago(n: int) -> str:
    return days_from_today(-n)


# --- people ---------------------------------------------------------------------------------


@dataclass
class Person:
    """A member of staff made for a test, signed in."""

    id: str
    name: str
    session: Session


def new_staff(live: Live, role: str, name: str) -> Person:
    """A new member of the trust's staff, invited and signed in (second factor enrolled)."""
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@tyneside.example"
    made = live.new_account(email, name, role)
    return Person(str(made["id"]), name, live.as_email(email))


def supervise(live: Live, supervisor: Person, supervisee: Person) -> None:
    """The admin proposes the supervisor; the supervisee accepts, which puts it in force."""
    linked = live.as_role("admin").put(
        f"/api/v1/users/{supervisee.id}/supervisor", json={"supervisor_id": supervisor.id}
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["status"] == "pending"
    accepted = supervisee.session.post(f"/api/v1/supervision/links/{linked.json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "active"


# --- teams ----------------------------------------------------------------------------------


def demo_team_id(session: Session) -> str:
    """The demo team (other tests may add teams to the same organisation)."""
    teams = session.get("/api/v1/teams", params={"limit": 200}).json()["items"]
    return str(next(t["id"] for t in teams if t["name"] == DEMO_TEAM))


def new_team(
    live: Live,
    name: str,
    area_cluster: str = "Tyne and Wear",
    members: Sequence[str] = (),
    *,
    confirmer: Session | None = None,
    admin: Session | None = None,
) -> str:
    """A new team made by an admin (the trust's unless another is given), with these people
    (user ids) put on it in order: the first is in force at once, ``confirmer`` (one of the
    team by then) confirms the others. Returns the team's id."""
    admin = admin or live.as_role("admin")
    made = admin.post("/api/v1/teams", json={"name": name, "area_cluster": area_cluster})
    assert made.status_code == 201, made.text
    team_id = str(made.json()["id"])
    for user_id in members:
        live.join_team(team_id, user_id, confirmer=confirmer, admin=admin)
    return team_id


# --- clients and their care teams -----------------------------------------------------------


def refer_client(
    by: Session,
    name: str,
    *,
    team_id: str | None = None,
    source: str = "self",
    referred_on: str | None = None,
    reason: str = "Wants work",
) -> dict[str, Any]:
    """A client referred to a team (the demo team unless another is given) by this member of
    staff, who is then their care team; referred today unless ``referred_on``. Returns the
    record as created."""
    made = by.post(
        "/api/v1/clients",
        json={
            "display_name": name,
            "team_id": team_id or demo_team_id(by),
            "referral": {
                "source": source,
                "referred_on": referred_on or today().isoformat(),
                "reason": reason,
            },
        },
    )
    assert made.status_code == 201, made.text
    record: dict[str, Any] = made.json()
    return record


def new_client(by: Session, name: str, **referral: Any) -> str:
    """The id of a client referred as ``refer_client`` does."""
    return str(refer_client(by, name, **referral)["id"])


def client_id_of(live: Live, name: str, *, as_role: str = "peer_keyworker") -> str:
    """The id of the one client with this display name (a demo client, say "Alex Morgan"),
    looked up by name as the demo person with ``as_role`` would (the keyworker, on every demo
    client's care team, unless another is given); a name that is not exactly one client's is a
    set-up error."""
    listed = live.as_role(as_role).get("/api/v1/clients", params={"q": name, "limit": 200})
    assert listed.status_code == 200, listed.text
    [found] = [c["id"] for c in listed.json()["items"] if c["display_name"] == name]
    return str(found)


def add_to_care_team(by: Session, client_id: str, user_id: str) -> None:
    added = by.post(f"/api/v1/clients/{client_id}/care-team", json={"user_id": user_id})
    assert added.status_code in (200, 201), added.text


def consent(
    by: Session, client_id: str, organisation_id: str, purpose: str, state: str = "granted"
) -> dict[str, Any]:
    """The client's decision on sharing with an organisation for a purpose, as recorded by a
    member of their care team."""
    made = by.post(
        f"/api/v1/clients/{client_id}/consents",
        json={"organisation_id": organisation_id, "purpose": purpose, "state": state},
    )
    assert made.status_code == 201, made.text
    record: dict[str, Any] = made.json()
    return record


def share_with_specialist(
    live: Live, client_id: str, *, by: Session | None = None, specialist: Session | None = None
) -> None:
    """The client agrees to share with the employment provider, and its specialist (Erin of the
    demo unless another is given) joins the care team; done by the keyworker unless ``by``."""
    by = by or live.as_role("peer_keyworker")
    specialist = specialist or live.as_role("employment_specialist")
    consent(by, client_id, specialist.user["organisation_id"], "employment_sharing")
    assigned = by.post(
        f"/api/v1/clients/{client_id}/employment-specialist",
        json={"user_id": specialist.user["id"]},
    )
    assert assigned.status_code == 201, assigned.text


# --- plans and meetings ---------------------------------------------------------------------


def edit_plan(
    by: Session, client_id: str, change: Callable[[dict[str, Any]], object]
) -> dict[str, Any]:
    """The client's plan as the plan editor saves it: read (its ETag), ``change`` edits the
    content in place, saved with that ETag as If-Match. Returns the plan as saved."""
    path = f"/api/v1/clients/{client_id}/plan"
    read = by.get(path)
    assert read.status_code == 200, read.text
    content = read.json()["content"]
    change(content)
    saved = by.put(path, json=content, headers={"If-Match": read.headers["etag"]})
    assert saved.status_code == 200, saved.text
    plan: dict[str, Any] = saved.json()
    return plan


def arrange_meeting(
    by: Session,
    *,
    kind: str = "client_session",
    title: str = "Session",
    starts_at: str | datetime = "2030-03-04T10:00:00Z",
    ends_at: str | datetime = "2030-03-04T10:45:00Z",
    **about: Any,
) -> dict[str, Any]:
    """A meeting arranged by this member of staff (its host) over the API, by default on a day
    far enough ahead that it is never over; ``about`` goes into the request as it is (the
    ``client_id`` or ``team_id`` it is about, ``invitee_ids``). Returns it as made."""
    made = by.post(
        "/api/v1/meetings",
        json={
            "kind": kind,
            "title": title,
            "starts_at": starts_at.isoformat() if isinstance(starts_at, datetime) else starts_at,
            "ends_at": ends_at.isoformat() if isinstance(ends_at, datetime) else ends_at,
            **about,
        },
    )
    assert made.status_code == 201, made.text
    meeting: dict[str, Any] = made.json()
    return meeting
