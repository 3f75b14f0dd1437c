"""Job brokerage: the employer directory, vacancies and applications."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from app.brokerage import service as brokerage_service
from app.users.models import Role, User
from auth.policies import ips as ips_policies
from auth.policies.decision import ALLOW, Decision


def can_manage_employers(user: User) -> Decision:
    """Job development is the employment specialist's: they keep their organisation's employer
    directory and its vacancies."""
    if user.role == Role.employment_specialist and user.is_active:
        return ALLOW
    return Decision(False, "employment specialists keep the employer directory")


def can_read_employers(user: User) -> Decision:
    """Specialists read their organisation's directory; supervisors read it too (the IPS-25
    employer items are judged on it). Employers are businesses, not clients."""
    if user.role in (Role.employment_specialist, Role.supervisor) and user.is_active:
        return ALLOW
    return Decision(False, "the employer directory is for employment specialists and supervisors")


async def directory_organisations(session: AsyncSession, reader: User) -> set[uuid.UUID]:
    """Whose directories this person reads: their own organisation's, and a supervisor also
    those of the employment specialists they supervise (who may work for a partner)."""
    if not can_read_employers(reader):
        return set()
    found = {reader.organisation_id}
    if reader.role == Role.supervisor:
        found |= await _supervised_organisations(session, reader)
    return found


async def _supervised_organisations(session: AsyncSession, reader: User) -> set[uuid.UUID]:
    owners = await ips_policies.employer_contact_log_owners(session, reader)
    return await brokerage_service.organisations_of(session=session, user_ids=owners)


def can_record_applications(user: User) -> Decision:
    """Applications to vacancies are recorded by the employment specialist on the care team
    (who must also be allowed to change the client's record)."""
    if user.role == Role.employment_specialist and user.is_active:
        return ALLOW
    return Decision(False, "employment specialists record applications to vacancies")
