"""A client's benefit history: who reads it and who records it.

Benefits are part of the record, so reading follows the record's rule (the care team, the
supervisors of its members, the client themselves). Recording is welfare-benefits counselling,
the work of the employment specialist and the peer keyworker on the care team: therapists and
supervisors read it, the client sees their own history but does not change it.
"""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients.models import ClientRecord
from app.users.models import Role, User
from auth.policies import clients as client_policies
from auth.policies.decision import Decision

BENEFIT_RECORDERS = frozenset({Role.employment_specialist, Role.peer_keyworker})


async def can_read_benefits(session: AsyncSession, user: User, client: ClientRecord) -> Decision:
    """The record's readers: the care team, its members' supervisors and the client."""
    return await client_policies.can_read_client(session, user, client)


async def can_record_benefits(session: AsyncSession, user: User, client: ClientRecord) -> Decision:
    """Employment specialists and peer keyworkers on the client's care team record claims and
    better-off calculations."""
    if user.role not in BENEFIT_RECORDERS:
        return Decision(False, "benefits are recorded by the employment specialists and keyworkers")
    return await client_policies.can_change_client(session, user, client)


async def benefits_audience(session: AsyncSession, client: ClientRecord) -> set[uuid.UUID]:
    """Who is told live that the benefit history changed: everyone :func:`can_read_benefits`
    lets read it now (the record's readers, decided at once for all of them)."""
    return await client_policies.record_audience(session, client)
