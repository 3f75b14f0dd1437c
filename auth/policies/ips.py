"""IPS: the employment specialist's own work (employer contacts) and caseloads."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from app.ips import service as ips_service
from app.users import service as users_service
from app.users.models import CLINICAL_ROLES, Role, User
from auth.policies.decision import ALLOW, Decision


def can_log_employer_contacts(user: User) -> Decision:
    """Job development is the employment specialist's: they log their own employer contacts."""
    if user.role == Role.employment_specialist:
        return ALLOW
    return Decision(False, "employment specialists log their own employer contacts")


def can_change_employer_contact(user: User, specialist_id: uuid.UUID) -> Decision:
    """A logged contact is corrected by the specialist who logged it, and only while they are
    one (the same policy that lets them log it): a supervisor reads the log but does not rewrite
    their specialists' work."""
    allowed = can_log_employer_contacts(user)
    if not allowed:
        return allowed
    if user.id != specialist_id:
        return Decision(False, "only the specialist who logged an employer contact changes it")
    return ALLOW


def can_read_employer_contacts(user: User) -> Decision:
    """A specialist reads their own log; a supervisor the logs of the specialists they supervise
    (the IPS-25 job-development items are judged on them)."""
    if user.role in (Role.employment_specialist, Role.supervisor):
        return ALLOW
    return Decision(False, "employer contacts are read by the specialists and their supervisors")


async def employer_contact_log_owners(session: AsyncSession, reader: User) -> set[uuid.UUID]:
    """Whose employer contacts this person reads (``can_read_employer_contacts``): a
    specialist their own; a supervisor those of the employment specialists they supervise."""
    if reader.role == Role.employment_specialist:
        return {reader.id}
    if reader.role != Role.supervisor:
        return set()
    supervisees = await users_service.supervisee_ids(session=session, supervisor_id=reader.id)
    return await ips_service.employment_specialists_among(session=session, user_ids=supervisees)


def can_read_caseloads(user: User) -> Decision:
    """Caseload sizes (counts, no client names) are open to the clinical team."""
    if user.role in CLINICAL_ROLES:
        return ALLOW
    return Decision(False, "caseloads are for the clinical team and its supervisors")


def can_override_caseload(user: User) -> Decision:
    """Assigning beyond the caseload limit is a supervisor's decision."""
    if user.role == Role.supervisor:
        return ALLOW
    return Decision(False, "only a supervisor may assign beyond the caseload limit")
