"""Programme reports and randomised evaluations."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from app.teams import service as teams_service
from app.users.models import Role, User
from auth.policies import supervision as supervision_policies
from auth.policies.decision import ALLOW, Decision


def can_read_reports(user: User) -> Decision:
    """Programme reports hold only suppressed aggregates: supervisors and admins read them."""
    if user.role in (Role.supervisor, Role.admin) and user.is_active:
        return ALLOW
    return Decision(False, "programme reports are for supervisors and admins")


def can_manage_evaluation(user: User) -> Decision:
    """Opening or closing a randomised evaluation is a supervisor's decision; the seed is never
    shown to anyone, so managing a trial does not reveal future allocations."""
    return supervision_policies.can_supervise(user)


def can_read_allocation_figures(user: User) -> Decision:
    """A trial's figures by arm are for its programme lead (the organisation's supervisors, who
    manage it), to follow recruitment and balance. Clinicians see only their own clients' arm,
    on the record; knowing where each stratum stands would let whoever enrols guess the next
    allocation (docs/evaluation.md, "Who sees the figures by arm")."""
    decision = can_manage_evaluation(user)
    if not decision:
        return Decision(False, "a trial's figures by arm are for the supervisors who manage it")
    return decision


async def can_read_report_scope(
    session: AsyncSession,
    user: User,
    *,
    kind: str,
    organisation_ids: frozenset[uuid.UUID],
    team_ids: frozenset[uuid.UUID],
) -> Decision:
    """Which programme reports a report reader may see: an organisation's by its own supervisors
    and admins; a team's or an area cluster's by a supervisor who is a member of a team in it,
    or by an admin whose organisation has a team in it. ``organisation_ids`` and ``team_ids``
    are the scope's (for an organisation, that organisation and its teams)."""
    decision = can_read_reports(user)
    if not decision:
        return decision
    if kind == "organisation":
        if user.organisation_id in organisation_ids:
            return ALLOW
        return Decision(False, "an organisation's reports are for its own supervisors and admins")
    if user.role == Role.admin:
        if user.organisation_id in organisation_ids:
            return ALLOW
        return Decision(False, "no team of your organisation is in this scope")
    if await teams_service.team_ids_of(session=session, user_id=user.id) & team_ids:
        return ALLOW
    return Decision(False, "you are not a member of a team in this scope")
