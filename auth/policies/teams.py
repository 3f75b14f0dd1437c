"""Teams: who may be a member, who confirms a proposed member, who reads a team's view and its
fidelity reviews.

A team membership grants the team's conversation, its meetings, colleagues' presence, the team
view and fidelity reviews, but only once it is in force. That rule is written twice below, side
by side: as a Python predicate (``membership_is_in_force``) and as a SQL condition
(``membership_in_force``) for the services that find members in a query (and, as text, in the
group commit's statement: ``auth.policies.messaging``). ``tests/auth/policies/test_policy_sql.py``
holds them to
the same answer on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.teams import service as teams_service
from app.teams.models import TeamMembership
from app.users.models import CLINICAL_ROLES, Role, User
from auth.policies import supervision as supervision_policies
from auth.policies.decision import ALLOW, Decision


def membership_is_in_force(membership: TeamMembership) -> bool:
    """A team membership in force: confirmed. A proposal nobody confirmed opens nothing."""
    return membership.confirmed_at is not None


def membership_in_force() -> list[ColumnElement[bool]]:
    """``membership_is_in_force`` as the conditions of a query. Every reader of memberships
    that grants anything (the team's conversation and meetings, colleagues' presence, the team
    view, fidelity reviews, reports) goes through the team service's readers, which use it."""
    return [col(TeamMembership.confirmed_at).is_not(None)]


def confirmers_among(members: Iterable[tuple[uuid.UUID, str]]) -> set[uuid.UUID]:
    """Who of a team's active clinical members in force confirms a proposed member: its
    supervisors, or, when it has none, all of them. Each already reads what the new member
    would; none is an admin (admins are never members)."""
    people = list(members)
    supervisors = {uid for uid, role in people if role == Role.supervisor}
    return supervisors or {uid for uid, _ in people}


def can_join_team(user: User) -> Decision:
    """Teams are clinical staff: their members read the team's conversation and meetings, so
    an admin (who may put people on teams) is never one, nor is a client (care teams instead)."""
    if user.role == Role.client:
        return Decision(False, "teams are made of staff; clients have care teams instead")
    if user.role not in CLINICAL_ROLES:
        return Decision(False, "admins manage teams and are not their members")
    return ALLOW


def can_confirm_team_member(
    user: User, *, candidate_id: uuid.UUID, confirmers: set[uuid.UUID]
) -> Decision:
    """A member an admin proposes for a team is confirmed (or declined) by someone already on it
    in force: its supervisors, or any of its clinical members when it has no supervisor
    (``teams.confirmer_ids``). They already read what the new member would, and the admin, who
    controls every account it makes, is none of them (admins are never members)."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.role not in CLINICAL_ROLES:
        return Decision(False, "a team's own clinical staff confirm who joins it")
    if user.id == candidate_id:
        return Decision(False, "nobody confirms their own place on a team")
    if user.id in confirmers:
        return ALLOW
    return Decision(
        False,
        "a team's supervisors confirm who joins it (its clinical members, when it has no "
        "supervisor)",
    )


async def can_view_team(session: AsyncSession, user: User, team_id: uuid.UUID) -> Decision:
    """A team's view (aggregate wellbeing, caseloads, overdue work, alerts, presence) is for the
    supervisors who are members of that team."""
    decision = supervision_policies.can_supervise(user)
    if not decision:
        return decision
    if team_id in await teams_service.team_ids_of(session=session, user_id=user.id):
        return ALLOW
    return Decision(False, "not a supervisor of this team")


async def can_read_fidelity(session: AsyncSession, user: User, team_id: uuid.UUID) -> Decision:
    """A team's IPS-25 reviews are read by its clinical members, supervisors included: the scores
    describe the service they all give, and improving them is the whole team's work. Admins and
    staff of other teams do not read them; only the team's supervisors record them."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.role not in CLINICAL_ROLES:
        return Decision(False, "fidelity reviews are read by the team's clinical staff")
    if team_id in await teams_service.team_ids_of(session=session, user_id=user.id):
        return ALLOW
    return Decision(False, "not a member of this team")
