"""Wellbeing check-ins, supervision cadence and records, and the supervisor's views.

Callers check who may act (``auth.policies.supervision``); this runs the SQL.
"Today" is the UTC date of the request's clock (``ctx.now()``). Free text (a check-in's text,
supervision notes) is sealed with the message keyring, its associated data binding it to its
row, so a ciphertext copied onto another row, or another person's row, does not open.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.alerts.models import Alert, AlertKind
from app.audit import service as audit_service
from app.audit.service import AuditEntry
from app.clients.models import ClientRecord, ProgrammeStatus
from app.config import Settings
from app.context import Context
from app.errors import Conflict, NotFound, Problem
from app.ips import rules as ips_rules
from app.ips import service as ips_service
from app.meetings import service as meetings_service
from app.meetings.models import Meeting, MeetingKind
from app.messaging.keyring import MessageKeyring
from app.pagination import paginate
from app.supervision import rules
from app.supervision.models import (
    SupervisionAction,
    SupervisionAttendee,
    SupervisionCadence,
    SupervisionRecord,
    WellbeingCheckIn,
)
from app.supervision.schemas import (
    ActionCreate,
    ActionPublic,
    AlertCount,
    AttendeePublic,
    CadencePublic,
    CadenceSet,
    CheckInCreate,
    CheckInPrompt,
    CheckInPublic,
    MemberPresence,
    OverdueWork,
    RecordCreate,
    RecordPublic,
    SuperviseeOverview,
    TalkRequestPublic,
    TeamOverview,
    WellbeingWeek,
)
from app.teams import service as teams_service
from app.teams.models import Team
from app.users import service as users_service
from app.users.models import Role, SupervisionLink, User
from auth.policies import meetings as meeting_policies
from auth.policies import supervision as supervision_policies
from realtime.presence_store import PresenceStore, PresenceUnavailable


@dataclass(frozen=True)
class SupervisionSettings:
    """The settings this domain uses (``app.config.Settings``; docs/supervision.md)."""

    check_in_days: int = 7
    supervision_days: int = 28
    text_max_chars: int = 2000
    notes_max_chars: int = 20_000
    min_people: int = rules.MIN_PEOPLE_FLOOR
    default_weeks: int = 12
    max_weeks: int = 52

    @classmethod
    def of(cls, settings: Settings) -> SupervisionSettings:
        return cls(
            check_in_days=settings.check_in_cadence_days,
            supervision_days=settings.supervision_cadence_days,
            text_max_chars=settings.wellbeing_text_max_chars,
            notes_max_chars=settings.supervision_notes_max_chars,
            min_people=settings.team_wellbeing_min_people,
            default_weeks=settings.team_view_default_weeks,
            max_weeks=settings.team_view_max_weeks,
        )


# --- problems --------------------------------------------------------------------------------


def _field_problem(cls: type[Problem], field: str, detail: str, message: str) -> Problem:
    return cls(detail, extra={"errors": [{"field": field, "message": message}]})


class TextTooLong(Problem):
    status, slug, title = 422, "text-too-long", "The text is too long"


class InvalidCheckIn(Problem):
    status, slug, title = 422, "invalid-check-in", "The check-in is not valid"


class InvalidSupervisionMeeting(Problem):
    status, slug, title = 422, "invalid-supervision-meeting", "Not a supervision meeting of yours"


class InvalidActionOwner(Problem):
    status, slug, title = 422, "invalid-action-owner", "The action's owner was not there"


class InvalidPeriod(Problem):
    status, slug, title = 422, "invalid-period", "The period cannot be shown"


class CheckInNotFound(NotFound):
    title = "Check-in not found"


class RecordNotFound(NotFound):
    title = "Supervision record not found"


class ActionNotFound(NotFound):
    title = "Action not found"


class NotATalkRequest(Conflict):
    slug, title = "not-a-talk-request", "This check-in did not ask to talk"


class TalkAlreadyAcknowledged(Conflict):
    slug, title = "talk-already-acknowledged", "Someone has already acknowledged this"


def today_of(ctx: Context) -> date:
    return ctx.now().date()


def _actor(ctx: Context) -> uuid.UUID:
    assert ctx.actor.user_id is not None
    return ctx.actor.user_id


# --- who supervises whom ---------------------------------------------------------------------


async def supervisee_ids(*, session: AsyncSession, supervisor_id: uuid.UUID) -> set[uuid.UUID]:
    """The supervisor's current supervisees."""
    return await users_service.supervisee_ids(session=session, supervisor_id=supervisor_id)


async def supervisor_ids(*, session: AsyncSession, supervisee_id: uuid.UUID) -> set[uuid.UUID]:
    """Everyone who currently supervises this person (active supervisors only)."""
    rows = await session.exec(
        select(SupervisionLink.supervisor_id)
        .join(User, col(User.id) == SupervisionLink.supervisor_id)
        .where(
            SupervisionLink.supervisee_id == supervisee_id,
            *supervision_policies.link_in_force(),
            col(User.is_active).is_(True),
            User.role == Role.supervisor,
        )
    )
    return set(rows.all())


# --- check-ins -------------------------------------------------------------------------------


def check_in_aad(check_in_id: uuid.UUID, user_id: uuid.UUID) -> bytes:
    """Binds a check-in's text to its row and its person."""
    return f"wellbeing_check_in:{check_in_id}:{user_id}".encode()


def _given_text(text: str | None) -> str | None:
    """Text that is only whitespace is no text."""
    return text if text is not None and text.strip() else None


async def record_check_in(
    *,
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    user: User,
    data: CheckInCreate,
    settings: SupervisionSettings,
) -> WellbeingCheckIn:
    text = _given_text(data.text)
    if text is not None and len(text) > settings.text_max_chars:
        raise _field_problem(
            TextTooLong,
            "body.text",
            f"The text is {len(text)} characters; at most {settings.text_max_chars} are kept.",
            f"at most {settings.text_max_chars} characters",
        )
    now = ctx.now()
    try:
        # The scale rules, whatever the schema already checked.
        rules.CheckIn(
            data.mood, data.workload, data.stress, data.support, data.wants_to_talk, text, now
        )
    except rules.InvalidCheckIn as exc:
        raise InvalidCheckIn(str(exc)) from None
    row = WellbeingCheckIn(
        user_id=user.id,
        mood=data.mood,
        workload=data.workload,
        stress=data.stress,
        support=data.support,
        wants_to_talk=data.wants_to_talk,
        at=now,
    )
    if text is not None:
        row.text_key_id, row.text_ciphertext = keyring.encrypt(
            text, aad=check_in_aad(row.id, user.id)
        )
    session.add(row)
    await session.flush()
    return row


def check_in_public(
    row: WellbeingCheckIn, keyring: MessageKeyring, names: dict[uuid.UUID, str]
) -> CheckInPublic:
    text = None
    if row.text_key_id is not None and row.text_ciphertext is not None:
        text = keyring.decrypt(
            row.text_key_id, row.text_ciphertext, aad=check_in_aad(row.id, row.user_id)
        )
    by = row.talk_acknowledged_by
    return CheckInPublic(
        id=row.id,
        user_id=row.user_id,
        at=row.at,
        mood=row.mood,
        workload=row.workload,
        stress=row.stress,
        support=row.support,
        wants_to_talk=row.wants_to_talk,
        text=text,
        talk_acknowledged_at=row.talk_acknowledged_at,
        talk_acknowledged_by=by,
        talk_acknowledged_by_name=names.get(by) if by else None,
    )


async def check_ins_public(
    *, session: AsyncSession, keyring: MessageKeyring, rows: Sequence[WellbeingCheckIn]
) -> list[CheckInPublic]:
    ids = {r.talk_acknowledged_by for r in rows if r.talk_acknowledged_by}
    names = await users_service.names(session=session, ids=ids)
    return [check_in_public(r, keyring, names) for r in rows]


async def check_ins_of(
    *, session: AsyncSession, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[WellbeingCheckIn], int]:
    """One person's check-ins, newest first."""
    query = select(WellbeingCheckIn).where(WellbeingCheckIn.user_id == user_id)
    return await paginate(
        session,
        query,
        col(WellbeingCheckIn.at).desc(),
        col(WellbeingCheckIn.id),
        limit=limit,
        offset=offset,
    )


async def get_check_in(*, session: AsyncSession, check_in_id: uuid.UUID) -> WellbeingCheckIn:
    row = await session.get(WellbeingCheckIn, check_in_id)
    if row is None:
        raise CheckInNotFound()
    return row


async def last_check_in_at(*, session: AsyncSession, user_id: uuid.UUID) -> datetime | None:
    rows = await session.exec(
        select(WellbeingCheckIn.at)
        .where(WellbeingCheckIn.user_id == user_id)
        .order_by(col(WellbeingCheckIn.at).desc())
        .limit(1)
    )
    return rows.first()


# --- cadence ---------------------------------------------------------------------------------


def _cadence_public(
    supervisee_id: uuid.UUID, row: SupervisionCadence | None, settings: SupervisionSettings
) -> CadencePublic:
    if row is None:
        return CadencePublic(
            supervisee_id=supervisee_id,
            check_in_days=settings.check_in_days,
            supervision_days=settings.supervision_days,
            is_default=True,
            set_by=None,
            set_at=None,
        )
    return CadencePublic(
        supervisee_id=supervisee_id,
        check_in_days=row.check_in_days,
        supervision_days=row.supervision_days,
        is_default=False,
        set_by=row.set_by,
        set_at=row.set_at,
    )


async def cadence(
    *, session: AsyncSession, supervisee_id: uuid.UUID, settings: SupervisionSettings
) -> CadencePublic:
    """The cadence a supervisor set for this person, or the settings' defaults."""
    row = await session.get(SupervisionCadence, supervisee_id)
    return _cadence_public(supervisee_id, row, settings)


async def set_cadence(
    *,
    session: AsyncSession,
    ctx: Context,
    supervisee_id: uuid.UUID,
    data: CadenceSet,
    settings: SupervisionSettings,
) -> CadencePublic:
    row = await session.get(SupervisionCadence, supervisee_id)
    if row is None:
        row = SupervisionCadence(
            supervisee_id=supervisee_id,
            check_in_days=data.check_in_days,
            supervision_days=data.supervision_days,
            set_by=_actor(ctx),
            set_at=ctx.now(),
        )
    else:
        row.check_in_days = data.check_in_days
        row.supervision_days = data.supervision_days
        row.set_by = _actor(ctx)
        row.set_at = ctx.now()
    session.add(row)
    await session.flush()
    return _cadence_public(supervisee_id, row, settings)


async def prompt(
    *, session: AsyncSession, ctx: Context, user_id: uuid.UUID, settings: SupervisionSettings
) -> CheckInPrompt:
    chosen = await cadence(session=session, supervisee_id=user_id, settings=settings)
    last = await last_check_in_at(session=session, user_id=user_id)
    now = ctx.now()
    return CheckInPrompt(
        cadence_days=chosen.check_in_days,
        cadence_set_by_supervisor=not chosen.is_default,
        last_check_in_at=last,
        next_due_at=rules.next_prompt_due(last, chosen.check_in_days, now),
        due=rules.check_in_due(last, chosen.check_in_days, now),
    )


# --- "I'd like to talk" ----------------------------------------------------------------------


def _talk_public(
    row: WellbeingCheckIn, display_name: str, names: dict[uuid.UUID, str]
) -> TalkRequestPublic:
    by = row.talk_acknowledged_by
    return TalkRequestPublic(
        check_in_id=row.id,
        user_id=row.user_id,
        display_name=display_name,
        at=row.at,
        acknowledged_at=row.talk_acknowledged_at,
        acknowledged_by=by,
        acknowledged_by_name=names.get(by) if by else None,
    )


async def talk_requests(
    *, session: AsyncSession, person_ids: set[uuid.UUID], include_acknowledged: bool
) -> list[TalkRequestPublic]:
    """Check-ins of these people that asked to talk, oldest first (open ones only unless
    asked)."""
    if not person_ids:
        return []
    query = (
        select(WellbeingCheckIn, User.display_name)
        .join(User, col(User.id) == WellbeingCheckIn.user_id)
        .where(
            col(WellbeingCheckIn.user_id).in_(person_ids),
            col(WellbeingCheckIn.wants_to_talk).is_(True),
        )
    )
    if not include_acknowledged:
        query = query.where(col(WellbeingCheckIn.talk_acknowledged_at).is_(None))
    rows = list(
        await session.exec(query.order_by(col(WellbeingCheckIn.at), col(WellbeingCheckIn.id)))
    )
    ids = {row.talk_acknowledged_by for row, _ in rows if row.talk_acknowledged_by}
    names = await users_service.names(session=session, ids=ids)
    return [_talk_public(row, name, names) for row, name in rows]


async def supervisees_talk_requests(
    *, session: AsyncSession, ctx: Context, supervisor_id: uuid.UUID, include_acknowledged: bool
) -> list[TalkRequestPublic]:
    """The talk requests of a supervisor's current supervisees (``talk_requests``), each person's
    read audited (``wellbeing.read``): the supervision page and the home page show the same."""
    people = await supervisee_ids(session=session, supervisor_id=supervisor_id)
    found = await talk_requests(
        session=session, person_ids=people, include_acknowledged=include_acknowledged
    )
    await audit_service.record_many(
        session,
        ctx,
        [
            AuditEntry(
                action="wellbeing.read",
                resource_type="wellbeing",
                resource_id=person,
                detail="talk requests",
            )
            for person in sorted({t.user_id for t in found}, key=str)
        ],
    )
    return found


def talk_request_of(row: WellbeingCheckIn, display_name: str) -> TalkRequestPublic:
    return _talk_public(row, display_name, {})


async def acknowledge_talk(
    *, session: AsyncSession, ctx: Context, check_in: WellbeingCheckIn
) -> TalkRequestPublic:
    """Mark the request answered. Two supervisors acknowledging at once: one wins, the other
    is told who did (the update is conditional on it still being open)."""
    if not check_in.wants_to_talk:
        raise NotATalkRequest()
    claimed = await session.exec(
        update(WellbeingCheckIn)
        .where(
            col(WellbeingCheckIn.id) == check_in.id,
            col(WellbeingCheckIn.talk_acknowledged_at).is_(None),
        )
        .values(talk_acknowledged_at=ctx.now(), talk_acknowledged_by=_actor(ctx))
    )
    await session.refresh(check_in)
    by, at = check_in.talk_acknowledged_by, check_in.talk_acknowledged_at
    people = {check_in.user_id, by} if by else {check_in.user_id}
    names = await users_service.names(session=session, ids=people)
    if claimed.rowcount != 1:
        who = names.get(by, "Another supervisor") if by else "Another supervisor"
        when = f" at {at:%d %b %Y %H:%M} UTC" if at else ""
        raise TalkAlreadyAcknowledged(f"{who} acknowledged this{when}.")
    return _talk_public(check_in, names.get(check_in.user_id, ""), names)


# --- supervision records ---------------------------------------------------------------------


def notes_aad(record_id: uuid.UUID) -> bytes:
    """Binds a record's notes to the record."""
    return f"supervision_record:{record_id}".encode()


def _check_notes(notes: str | None, settings: SupervisionSettings) -> str | None:
    notes = _given_text(notes)
    if notes is not None and len(notes) > settings.notes_max_chars:
        raise _field_problem(
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
        raise _field_problem(
            InvalidSupervisionMeeting,
            "body.meeting_id",
            "meeting_id names no meeting you host or were invited to.",
            "no such meeting of yours",
        )
    if meeting.kind != MeetingKind.supervision:
        raise _field_problem(
            InvalidSupervisionMeeting,
            "body.meeting_id",
            f"That meeting is a {meeting.kind}; a supervision record is linked to a meeting of "
            'the kind "supervision".',
            "not a supervision meeting",
        )


def _check_owner(owner_id: uuid.UUID, allowed: set[uuid.UUID], index: int | None = None) -> None:
    if owner_id not in allowed:
        field = f"body.actions.{index}.owner_id" if index is not None else "body.owner_id"
        raise _field_problem(
            InvalidActionOwner,
            field,
            "An action is owned by someone who was at the session: an attendee or the supervisor.",
            "not at the session",
        )


def _not_after_today(ctx: Context, held_on: date) -> None:
    if held_on > today_of(ctx):
        raise _field_problem(
            ips_service.DateInFuture,
            "body.held_on",
            f"held_on is {held_on.isoformat()}, after today ({today_of(ctx).isoformat()}); "
            "record a session once it has taken place.",
            "after today",
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
    record = await session.get(SupervisionRecord, record_id)
    if record is None:
        raise RecordNotFound()
    return record


async def attendee_ids(*, session: AsyncSession, record_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.exec(
        select(SupervisionAttendee.supervisee_id).where(SupervisionAttendee.record_id == record_id)
    )
    return set(rows.all())


async def update_notes(
    *,
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    record: SupervisionRecord,
    notes: str | None,
    settings: SupervisionSettings,
) -> SupervisionRecord:
    _seal_notes(record, _check_notes(notes, settings), keyring)
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
    action = await session.get(SupervisionAction, action_id)
    if action is None:
        raise ActionNotFound()
    return action


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
        notes = None
        if record.notes_key_id is not None and record.notes_ciphertext is not None:
            notes = keyring.decrypt(
                record.notes_key_id, record.notes_ciphertext, aad=notes_aad(record.id)
            )
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
                created_at=record.created_at,
                updated_at=record.updated_at,
            )
        )
    return views


# --- the supervisor's overview of their supervisees -----------------------------------------


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


async def supervisees_overview(
    *, session: AsyncSession, ctx: Context, supervisor: User, settings: SupervisionSettings
) -> list[SuperviseeOverview]:
    """Each current supervisee: supervision due or overdue by their cadence (from the link's
    start when they have had none), check-in due, the actions they own from this supervisor's
    sessions, and their open "I'd like to talk" requests."""
    rows = await session.exec(
        select(SupervisionLink, User)
        .join(User, col(User.id) == SupervisionLink.supervisee_id)
        .where(
            SupervisionLink.supervisor_id == supervisor.id, *supervision_policies.link_in_force()
        )
        .order_by(col(User.display_name), col(User.id), col(SupervisionLink.since))
    )
    links: dict[uuid.UUID, tuple[SupervisionLink, User]] = {}
    for link, user in rows.all():
        links.setdefault(user.id, (link, user))
    if not links:
        return []
    now, today = ctx.now(), today_of(ctx)
    owned: dict[uuid.UUID, list[SupervisionAction]] = defaultdict(list)
    for action in await session.exec(
        select(SupervisionAction)
        .join(SupervisionRecord, col(SupervisionRecord.id) == SupervisionAction.record_id)
        .where(
            SupervisionRecord.supervisor_id == supervisor.id,
            col(SupervisionAction.owner_id).in_(set(links)),
        )
    ):
        owned[action.owner_id].append(action)
    open_talks: dict[uuid.UUID, list[TalkRequestPublic]] = defaultdict(list)
    for talk in await talk_requests(
        session=session, person_ids=set(links), include_acknowledged=False
    ):
        open_talks[talk.user_id].append(talk)
    overview = []
    for supervisee_id, (link, user) in links.items():
        chosen = await cadence(session=session, supervisee_id=supervisee_id, settings=settings)
        last_session = await last_supervision_on(
            session=session, supervisee_id=supervisee_id, today=today
        )
        started_on = link.since.date()
        last_check_in = await last_check_in_at(session=session, user_id=supervisee_id)
        open_actions = [a for a in owned[supervisee_id] if a.done_at is None]
        talks = open_talks[supervisee_id]
        overview.append(
            SuperviseeOverview(
                user_id=supervisee_id,
                display_name=user.display_name,
                role=user.role,
                supervised_since=link.since,
                cadence=chosen,
                last_supervision_on=last_session,
                supervision_due_on=rules.supervision_due_on(
                    last_session, chosen.supervision_days, started_on=started_on
                ),
                supervision_overdue=rules.supervision_overdue(
                    last_session, chosen.supervision_days, today, started_on=started_on
                ),
                last_check_in_at=last_check_in,
                next_check_in_due_at=rules.next_prompt_due(
                    last_check_in, chosen.check_in_days, now
                ),
                check_in_due=rules.check_in_due(last_check_in, chosen.check_in_days, now),
                open_actions=len(open_actions),
                overdue_actions=sum(action_overdue(a, today) for a in open_actions),
                open_talk_request=talks[0] if talks else None,
                open_talk_requests=len(talks),
            )
        )
    return overview


# --- the team view ---------------------------------------------------------------------------


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def team_period(
    today: date, period_from: date | None, period_to: date | None, settings: SupervisionSettings
) -> tuple[date, date]:
    """The days the team view covers: by default the last ``default_weeks`` ISO weeks up to
    today; never after today, never more than ``max_weeks`` weeks."""
    last = period_to or today
    if last > today:
        raise _field_problem(
            InvalidPeriod,
            "query.to",
            f"to is {last.isoformat()}, after today ({today.isoformat()}).",
            "after today",
        )
    default_weeks = min(settings.default_weeks, settings.max_weeks)
    first = period_from or _monday(last) - timedelta(weeks=default_weeks - 1)
    if first > last:
        raise _field_problem(InvalidPeriod, "query.from", "from must not be after to.", "after to")
    weeks = (_monday(last) - _monday(first)).days // 7 + 1
    if weeks > settings.max_weeks:
        raise _field_problem(
            InvalidPeriod,
            "query.from",
            f"The period covers {weeks} weeks; at most {settings.max_weeks} are shown at once.",
            f"at most {settings.max_weeks} weeks",
        )
    return first, last


async def _member_users(session: AsyncSession, team_id: uuid.UUID) -> list[User]:
    ids = await teams_service.member_ids(session=session, team_id=team_id)
    if not ids:
        return []
    rows = await session.exec(
        select(User).where(col(User.id).in_(ids)).order_by(col(User.display_name), col(User.id))
    )
    return list(rows.all())


async def team_wellbeing(
    *,
    session: AsyncSession,
    member_ids: Iterable[uuid.UUID],
    first: date,
    last: date,
    min_people: int,
) -> list[WellbeingWeek]:
    """Weekly means of the members' check-ins (each person's latest in the week), withheld in
    any week fewer than ``min_people`` answered. Weeks run Monday to Sunday in UTC."""
    ids = set(member_ids)
    by_person: dict[uuid.UUID, list[rules.CheckIn]] = defaultdict(list)
    if ids:
        start = datetime.combine(_monday(first), time(), UTC)
        end = datetime.combine(_monday(last) + timedelta(weeks=1), time(), UTC)
        found = await session.exec(
            select(WellbeingCheckIn).where(
                col(WellbeingCheckIn.user_id).in_(ids),
                col(WellbeingCheckIn.at) >= start,
                col(WellbeingCheckIn.at) < end,
            )
        )
        for row in found:
            # The text is never needed (nor opened) for a team figure.
            by_person[row.user_id].append(
                rules.CheckIn(
                    row.mood, row.workload, row.stress, row.support, row.wants_to_talk, None, row.at
                )
            )
    series = rules.weekly_series(by_person, first_day=first, last_day=last, min_people=min_people)
    weeks = []
    for week in series:
        iso = week.period_start.isocalendar()
        weeks.append(
            WellbeingWeek(
                week=f"{iso.year}-W{iso.week:02d}",
                starts_on=week.period_start.date(),
                ends_on=(week.period_end - timedelta(days=1)).date(),
                suppressed=week.suppressed,
                people=week.people,
                mood=week.mood,
                workload=week.workload,
                stress=week.stress,
                support=week.support,
            )
        )
    return weeks


async def team_overdue_work(
    *, session: AsyncSession, team_id: uuid.UUID, today: date
) -> OverdueWork:
    """What is overdue on the team's open cases, by the IPS journey rules, as counts."""
    rows = await session.exec(
        select(ClientRecord).where(
            ClientRecord.team_id == team_id, ClientRecord.status != ProgrammeStatus.closed
        )
    )
    clients = list(rows.all())
    counts: dict[str, int] = defaultdict(int)
    with_overdue = 0
    for client in clients:
        due = ips_service.due_alerts(await ips_service.facts(session=session, client=client), today)
        overdue = [item for item in due if item.overdue]
        with_overdue += bool(overdue)
        for item in overdue:
            counts[item.kind] += 1
    return OverdueWork(
        open_clients=len(clients),
        plan_actions_overdue=counts[AlertKind.plan_action_overdue],
        support_reviews_overdue=counts[AlertKind.support_review_overdue],
        first_employer_contacts_overdue=counts[AlertKind.first_employer_contact_overdue],
        clients_with_overdue_work=with_overdue,
    )


async def team_open_alerts(
    *, session: AsyncSession, member_ids: set[uuid.UUID]
) -> list[AlertCount]:
    """Open alerts held by the team's members, by kind. One alert goes to each member of a care
    team, so each is counted once per client and cause, however many still hold it."""
    if not member_ids:
        return []
    rows = await session.exec(
        select(Alert.kind, Alert.client_id, Alert.source_id)
        .where(col(Alert.recipient_id).in_(member_ids), col(Alert.acknowledged_at).is_(None))
        .distinct()
    )
    counts: dict[str, int] = defaultdict(int)
    for kind, _client_id, _source_id in rows.all():
        counts[str(kind)] += 1
    return [AlertCount(kind=kind, open=n) for kind, n in sorted(counts.items())]


async def team_presence(
    store: PresenceStore, members: Sequence[User]
) -> list[MemberPresence] | None:
    """Each member's presence now, or None when the presence store cannot be reached."""
    try:
        found = await store.get_many([m.id for m in members])
    except PresenceUnavailable:
        return None
    views = []
    for member in members:
        presence = found.get(member.id)
        last_seen = presence.last_seen if presence else None
        views.append(
            MemberPresence(
                user_id=member.id,
                display_name=member.display_name,
                role=member.role,
                state=str(presence.state) if presence else "offline",
                last_seen=datetime.fromtimestamp(last_seen, UTC) if last_seen else None,
            )
        )
    return views


async def team_overview(
    *,
    session: AsyncSession,
    ctx: Context,
    team: Team,
    period: tuple[date, date],
    settings: SupervisionSettings,
    caseload_settings: ips_service.CaseloadSettings,
    presence: PresenceStore,
) -> TeamOverview:
    first, last = period
    members = await _member_users(session, team.id)
    member_ids = {m.id for m in members}
    specialists = [m for m in members if m.role == Role.employment_specialist and m.is_active]
    alerts = await team_open_alerts(session=session, member_ids=member_ids)
    presences = await team_presence(presence, [m for m in members if m.is_active])
    return TeamOverview(
        team_id=team.id,
        team_name=team.name,
        today=today_of(ctx),
        period_from=first,
        period_to=last,
        min_people=settings.min_people,
        wellbeing=await team_wellbeing(
            session=session,
            member_ids=member_ids,
            first=first,
            last=last,
            min_people=settings.min_people,
        ),
        caseloads=await ips_service.caseloads(
            session=session, specialists=specialists, settings=caseload_settings
        ),
        overdue=await team_overdue_work(session=session, team_id=team.id, today=today_of(ctx)),
        open_alerts=alerts,
        open_alerts_total=sum(a.open for a in alerts),
        presence_available=presences is not None,
        presence=presences or [],
    )
