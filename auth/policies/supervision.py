"""Supervision and staff wellbeing: supervision links, check-ins, supervision records and their
actions.

A supervision link opens the supervisee's clients' records to the supervisor, their check-ins
and their supervision. It does so only while it is in force, and that rule is written twice
below, side by side: as a Python predicate (``link_is_in_force``) for a link in hand, and as a
SQL condition (``link_in_force``) for the services that find links in a query.
``tests/auth/policies/test_policy_sql.py`` holds the two to the same answer on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.supervision import records as supervision_records
from app.supervision.models import SupervisionAction, SupervisionRecord
from app.users import service as users_service
from app.users.models import Role, SupervisionLink, User
from auth.policies.decision import ALLOW, Decision


def link_is_in_force(link: SupervisionLink) -> bool:
    """A supervision link in force: accepted by the supervisee and not ended. A proposal nobody
    accepted, a declined one and an ended one open nothing."""
    return link.accepted_at is not None and link.until is None


def link_in_force() -> list[ColumnElement[bool]]:
    """``link_is_in_force`` as the conditions of a query. Every reader of links that grants
    anything (records, check-ins, supervision) uses these."""
    return [
        col(SupervisionLink.accepted_at).is_not(None),
        col(SupervisionLink.until).is_(None),
    ]


def can_be_supervisor(user: User) -> Decision:
    """Only an account of the supervisor role is proposed as someone's supervisor
    (``NotASupervisor`` otherwise): a link opens the supervisee's clients' records to it."""
    if user.role == Role.supervisor:
        return ALLOW
    return Decision(False, "only a supervisor supervises")


def can_decide_supervision(user: User, supervisee_id: uuid.UUID) -> Decision:
    """A proposed supervisor is accepted or declined by the supervisee alone: the one person who
    already holds the clinical relationships the link would open, and whom an admin does not
    control."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.id == supervisee_id:
        return ALLOW
    return Decision(False, "only the person to be supervised accepts or declines a supervisor")


def can_check_in(user: User) -> Decision:
    """Every member of staff may record how they are; clients have their own measures."""
    if user.is_staff and user.is_active:
        return ALLOW
    return Decision(False, "wellbeing check-ins are for staff")


def can_supervise(user: User) -> Decision:
    """Supervision, team wellbeing, the team view and fidelity reviews are the supervisor's."""
    if user.role == Role.supervisor and user.is_active:
        return ALLOW
    return Decision(False, "only supervisors hold supervision and see the team's wellbeing")


async def can_read_wellbeing_of(
    session: AsyncSession, user: User, person_id: uuid.UUID
) -> Decision:
    """A single person's check-ins are read by that person and their current supervisors, no one
    else (not colleagues, not admins, not other supervisors)."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.id == person_id:
        return ALLOW
    if user.role == Role.supervisor:
        supervisees = await users_service.supervisee_ids(session=session, supervisor_id=user.id)
        if person_id in supervisees:
            return ALLOW
    return Decision(False, "check-ins are seen only by the person and their supervisor")


async def can_acknowledge_talk(session: AsyncSession, user: User, person_id: uuid.UUID) -> Decision:
    """An 'I'd like to talk' is picked up by a current supervisor of the person who asked."""
    if person_id in await users_service.supervisee_ids(session=session, supervisor_id=user.id):
        return ALLOW
    return Decision(False, "only a current supervisor of the person acknowledges their request")


async def can_set_cadence(session: AsyncSession, user: User, person_id: uuid.UUID) -> Decision:
    """How often someone checks in and is supervised is set by their current supervisor."""
    if person_id in await users_service.supervisee_ids(session=session, supervisor_id=user.id):
        return ALLOW
    return Decision(False, "the cadence is set by the person's own supervisor")


async def can_read_supervision_record(
    session: AsyncSession, user: User, record: SupervisionRecord
) -> Decision:
    """A record (its notes above all) is read by the supervisor who holds it and the people who
    attended: not colleagues, not other supervisors, not admins."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.id == record.supervisor_id:
        return ALLOW
    if user.id in await supervision_records.attendee_ids(session=session, record_id=record.id):
        return ALLOW
    return Decision(False, "supervision records are seen only by their supervisor and attendees")


def can_change_supervision_record(user: User, record: SupervisionRecord) -> Decision:
    if user.is_active and user.id == record.supervisor_id:
        return ALLOW
    return Decision(False, "only the supervisor who holds the record changes it")


def can_mark_supervision_action(
    user: User, record: SupervisionRecord, action: SupervisionAction
) -> Decision:
    if user.is_active and user.id in (record.supervisor_id, action.owner_id):
        return ALLOW
    return Decision(False, "an action is marked by its owner or the record's supervisor")
