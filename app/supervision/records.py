"""Supervision records: the sessions that took place, their attendees, sealed notes and agreed
actions (docs/supervision.md).

Callers check who may act (``auth.policies.supervision``); this runs the SQL. "Today" is the UTC
date of the request's clock. Notes are sealed with the message keyring, their associated data
binding them to the record, so a ciphertext copied onto another record does not open.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import versions
from app.context import Context
from app.db import found
from app.errors import NotFound, Problem, Unprocessable
from app.ips import rules as ips_rules
from app.ips import service as ips_service
from app.meetings import service as meetings_service
from app.meetings.models import Meeting, MeetingKind
from app.messaging.keyring import MessageKeyring
from app.pagination import paginate
from app.supervision.models import SupervisionAction, SupervisionAttendee, SupervisionRecord
from app.supervision.schemas import (
    ActionCreate,
    ActionPublic,
    AttendeePublic,
    RecordCreate,
    RecordPublic,
)
from app.supervision.service import (
    SupervisionSettings,
    TextTooLong,
    field_problem,
    given_text,
    today_of,
)
from app.users import service as users_service
from app.users.models import User
from auth.policies import meetings as meeting_policies


class InvalidSupervisionMeeting(Unprocessable):
    slug, title = "invalid-supervision-meeting", "Not a supervision meeting of yours"


class InvalidActionOwner(Unprocessable):
    slug, title = "invalid-action-owner", "The action's owner was not there"


class RecordNotFound(NotFound):
    title = "Supervision record not found"


class ActionNotFound(NotFound):
    title = "Action not found"


class RecordChanged(Problem):
    status, slug, title = 412, "record-changed", "The notes were changed by someone else"


# --- supervision records ---------------------------------------------------------------------


def notes_aad(record_id: uuid.UUID) -> bytes:
    """Binds a record's notes to the record."""
    return f"supervision_record:{record_id}".encode()


def _check_notes(notes: str | None, settings: SupervisionSettings) -> str | None:
    notes = given_text(notes)
    if notes is not None and len(notes) > settings.notes_max_chars:
        raise field_problem(
            TextTooLong,
            "body.notes",
            f"The notes are {len(notes)} characters; at most {settings.notes_max_chars} are kept.",
            f"at most {settings.notes_max_chars} characters",
        )
    return notes


def _seal_notes(record: SupervisionRecord, notes: str | None, keyring: MessageKeyring) -> None:
    if notes is None:
        record.notes_key_id, record.notes_ciphertext = None, None
    else:
        record.notes_key_id, record.notes_ciphertext = keyring.encrypt(
            notes, aad=notes_aad(record.id)
        )


async def _check_meeting(session: AsyncSession, supervisor: User, meeting_id: uuid.UUID) -> None:
    """The meeting must be of the kind "supervision" and one the supervisor hosts, was invited
    to, or runs as a member of its team. Anything else reads as not found, so a meeting's
    existence is not revealed."""
    meeting = await session.get(Meeting, meeting_id)
    known = meeting is not None and (
        meeting.host_id == supervisor.id
        or supervisor.id
        in await meetings_service.invitee_ids(session=session, meeting_id=meeting.id)
        or await meeting_policies.runs_meeting(session, supervisor, meeting)
    )
    if meeting is None or not known:
        raise field_problem(
            InvalidSupervisionMeeting,
            "body.meeting_id",
            "meeting_id names no meeting you host or were invited to.",
            "no such meeting of yours",
        )
    if meeting.kind != MeetingKind.supervision:
        raise field_problem(
            InvalidSupervisionMeeting,
            "body.meeting_id",
            f"That meeting is a {meeting.kind}; a supervision record is linked to a meeting of "
            'the kind "supervision".',
            "not a supervision meeting",
        )


def _check_owner(owner_id: uuid.UUID, allowed: set[uuid.UUID], index: int | None = None) -> None:
    if owner_id not in allowed:
        field = f"body.actions.{index}.owner_id" if index is not None else "body.owner_id"
        raise field_problem(
            InvalidActionOwner,
            field,
            "An action is owned by someone who was at the session: an attendee or the supervisor.",
            "not at the session",
        )


def _not_after_today(ctx: Context, held_on: date) -> None:
    ips_service.refuse_future(
        held_on,
        today_of(ctx),
        field="body.held_on",
        advice="record a session once it has taken place.",
    )


async def create_record(
    *,
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    supervisor: User,
    data: RecordCreate,
    settings: SupervisionSettings,
) -> SupervisionRecord:
    """A session held by ``supervisor`` with these supervisees (the caller has checked they
    are the supervisor's own), its notes and agreed actions."""
    _not_after_today(ctx, data.held_on)
    notes = _check_notes(data.notes, settings)
    if data.meeting_id is not None:
        await _check_meeting(session, supervisor, data.meeting_id)
    present = set(data.supervisee_ids) | {supervisor.id}
    for index, action in enumerate(data.actions):
        _check_owner(action.owner_id, present, index)
    now = ctx.now()
    record = SupervisionRecord(
        supervisor_id=supervisor.id,
        meeting_id=data.meeting_id,
        kind=data.kind,
        held_on=data.held_on,
        created_at=now,
        updated_at=now,
    )
    _seal_notes(record, notes, keyring)
    session.add(record)
    await session.flush()
    session.add_all(
        SupervisionAttendee(record_id=record.id, supervisee_id=uid) for uid in data.supervisee_ids
    )
    session.add_all(
        SupervisionAction(
            record_id=record.id,
            owner_id=action.owner_id,
            text=action.text,
            due_on=action.due_on,
            created_at=now,
        )
        for action in data.actions
    )
    await session.flush()
    return record


async def get_record(*, session: AsyncSession, record_id: uuid.UUID) -> SupervisionRecord:
    return await found(session, SupervisionRecord, record_id, missing=RecordNotFound)


async def attendee_ids(*, session: AsyncSession, record_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.exec(
        select(SupervisionAttendee.supervisee_id).where(SupervisionAttendee.record_id == record_id)
    )
    return set(rows.all())


def _open_notes(record: SupervisionRecord, keyring: MessageKeyring) -> str | None:
    if record.notes_key_id is None or record.notes_ciphertext is None:
        return None
    return keyring.decrypt(record.notes_key_id, record.notes_ciphertext, aad=notes_aad(record.id))


def _changed(record: SupervisionRecord, keyring: MessageKeyring) -> RecordChanged:
    # As a plan's 412 (app/plans/service.py): the current version and content, so the
    # supervisor can compare and choose without another read.
    return RecordChanged(
        f"The notes are at version {record.version} now; reload them, re-apply your change and "
        "save again.",
        headers={"ETag": versions.etag(record.version)},
        extra={"current": {"version": record.version, "notes": _open_notes(record, keyring)}},
    )


async def update_notes(
    *,
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    record: SupervisionRecord,
    notes: str | None,
    settings: SupervisionSettings,
    based_on: int,
) -> SupervisionRecord:
    """Replace the notes, or refuse with 412 when they moved on since version ``based_on``."""
    checked = _check_notes(notes, settings)
    if record.version != based_on:
        raise _changed(record, keyring)
    # Conditional on the version read, so two concurrent saves cannot both win.
    claimed = await session.exec(
        update(SupervisionRecord)
        .where(col(SupervisionRecord.id) == record.id, col(SupervisionRecord.version) == based_on)
        .values(version=based_on + 1)
    )
    await session.refresh(record)
    if claimed.rowcount != 1:
        raise _changed(record, keyring)
    _seal_notes(record, checked, keyring)
    record.updated_at = ctx.now()
    session.add(record)
    await session.flush()
    return record


async def add_action(
    *, session: AsyncSession, ctx: Context, record: SupervisionRecord, data: ActionCreate
) -> SupervisionAction:
    present = await attendee_ids(session=session, record_id=record.id) | {record.supervisor_id}
    _check_owner(data.owner_id, present)
    action = SupervisionAction(
        record_id=record.id,
        owner_id=data.owner_id,
        text=data.text,
        due_on=data.due_on,
        created_at=ctx.now(),
    )
    session.add(action)
    record.updated_at = ctx.now()
    session.add(record)
    await session.flush()
    return action


async def get_action(*, session: AsyncSession, action_id: uuid.UUID) -> SupervisionAction:
    return await found(session, SupervisionAction, action_id, missing=ActionNotFound)


async def set_action_done(
    *, session: AsyncSession, ctx: Context, action: SupervisionAction, done: bool
) -> SupervisionAction:
    """Done (keeping the first time it was marked) or open again."""
    if not done:
        action.done_at = None
    elif action.done_at is None:
        action.done_at = ctx.now()
    session.add(action)
    await session.flush()
    return action


def action_overdue(action: SupervisionAction, today: date) -> bool:
    """Overdue from the day after it was due, unless done (the plan-action rule)."""
    return ips_rules.action_overdue(
        action.due_on, "done" if action.done_at is not None else "open", today
    )


def action_public(
    action: SupervisionAction, names: dict[uuid.UUID, str], today: date
) -> ActionPublic:
    return ActionPublic(
        id=action.id,
        record_id=action.record_id,
        owner_id=action.owner_id,
        owner_name=names.get(action.owner_id),
        text=action.text,
        due_on=action.due_on,
        done_at=action.done_at,
        overdue=action_overdue(action, today),
        created_at=action.created_at,
    )


async def action_view(
    *, session: AsyncSession, action: SupervisionAction, today: date
) -> ActionPublic:
    names = await users_service.names(session=session, ids={action.owner_id})
    return action_public(action, names, today)


async def records_for(
    *, session: AsyncSession, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[SupervisionRecord], int]:
    """Records this person holds as supervisor or attended, latest session first."""
    attended = select(SupervisionAttendee.record_id).where(
        SupervisionAttendee.supervisee_id == user_id
    )
    query = select(SupervisionRecord).where(
        or_(
            col(SupervisionRecord.supervisor_id) == user_id,
            col(SupervisionRecord.id).in_(attended),
        )
    )
    return await paginate(
        session,
        query,
        col(SupervisionRecord.held_on).desc(),
        col(SupervisionRecord.created_at).desc(),
        col(SupervisionRecord.id),
        limit=limit,
        offset=offset,
    )


async def records_public(
    *,
    session: AsyncSession,
    keyring: MessageKeyring,
    records: Sequence[SupervisionRecord],
    today: date,
) -> list[RecordPublic]:
    """The records with their attendees and actions, read in a few queries for the page."""
    ids = [r.id for r in records]
    attendees: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    actions: dict[uuid.UUID, list[SupervisionAction]] = defaultdict(list)
    if ids:
        for record_id, supervisee_id in await session.exec(
            select(SupervisionAttendee.record_id, SupervisionAttendee.supervisee_id).where(
                col(SupervisionAttendee.record_id).in_(ids)
            )
        ):
            attendees[record_id].append(supervisee_id)
        for action in await session.exec(
            select(SupervisionAction)
            .where(col(SupervisionAction.record_id).in_(ids))
            # Actions agreed together share a time; then alphabetical, so the order is stable.
            .order_by(
                col(SupervisionAction.created_at),
                col(SupervisionAction.text),
                col(SupervisionAction.id),
            )
        ):
            actions[action.record_id].append(action)
    people = {r.supervisor_id for r in records}
    people |= {uid for found in attendees.values() for uid in found}
    people |= {a.owner_id for found in actions.values() for a in found}
    names = await users_service.names(session=session, ids=people)
    views = []
    for record in records:
        notes = _open_notes(record, keyring)
        present = sorted(attendees[record.id], key=lambda uid: (names.get(uid, ""), str(uid)))
        views.append(
            RecordPublic(
                id=record.id,
                kind=record.kind,
                held_on=record.held_on,
                supervisor_id=record.supervisor_id,
                supervisor_name=names.get(record.supervisor_id),
                meeting_id=record.meeting_id,
                attendees=[AttendeePublic(user_id=u, display_name=names.get(u)) for u in present],
                notes=notes,
                actions=[action_public(a, names, today) for a in actions[record.id]],
                version=record.version,
                created_at=record.created_at,
                updated_at=record.updated_at,
            )
        )
    return views


async def last_supervision_on(
    *, session: AsyncSession, supervisee_id: uuid.UUID, today: date
) -> date | None:
    """The latest session the person attended, with any supervisor, up to today."""
    rows = await session.exec(
        select(col(SupervisionRecord.held_on))
        .join(SupervisionAttendee, col(SupervisionAttendee.record_id) == SupervisionRecord.id)
        .where(
            SupervisionAttendee.supervisee_id == supervisee_id,
            col(SupervisionRecord.held_on) <= today,
        )
        .order_by(col(SupervisionRecord.held_on).desc())
        .limit(1)
    )
    return rows.first()
