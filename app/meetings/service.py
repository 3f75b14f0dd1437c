"""Meetings: scheduling, who may join and how (directly or through the lobby), the seats of a
live call shared by every server process through the database, and attendance."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.context import Context
from app.db import found
from app.errors import Conflict, Forbidden, Gone, NotFound, Problem
from app.meetings import jobs as meeting_jobs
from app.meetings.models import (
    ACTIVE_STATES,
    GuestLink,
    Meeting,
    MeetingInvitee,
    MeetingKind,
    MeetingParticipant,
    MeetingState,
    ParticipantState,
)
from app.meetings.schemas import AttendancePublic, MeetingCreate, MeetingPublic, MeetingUpdate
from app.teams import service as teams_service
from app.users.models import User
from auth.policies import clients as client_policies
from auth.policies import meetings as meeting_policies


class MeetingNotFound(NotFound):
    title = "Meeting not found"


class ParticipantNotFound(NotFound):
    title = "Participant not found"


class NotInvited(Forbidden):
    slug, title = "not-invited", "You are not invited to this meeting"


class MeetingFull(Conflict):
    slug, title = "meeting-full", "The meeting is full"


class MeetingEnded(Gone):
    slug, title = "meeting-ended", "The meeting has ended"


class NotAdmitted(Forbidden):
    slug, title = "not-admitted", "Only admitted participants take part in the call"


class JoinMode(StrEnum):
    direct = "direct"  # staff on the care team (or the team): straight in, and may admit others
    lobby = "lobby"  # clients and other invitees wait to be admitted


async def get(*, session: AsyncSession, meeting_id: uuid.UUID) -> Meeting:
    return await found(session, Meeting, meeting_id, missing=MeetingNotFound)


async def invitee_ids(*, session: AsyncSession, meeting_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.exec(
        select(MeetingInvitee.user_id).where(MeetingInvitee.meeting_id == meeting_id)
    )
    return set(rows.all())


# --- scheduling ------------------------------------------------------------------------------


async def create(
    *,
    session: AsyncSession,
    ctx: Context,
    host: User,
    data: MeetingCreate,
    conversation_id: uuid.UUID | None = None,
) -> Meeting:
    meeting = Meeting(
        kind=data.kind,
        title=data.title,
        client_id=data.client_id,
        team_id=data.team_id,
        conversation_id=conversation_id,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        host_id=host.id,
        ical_uid=f"{uuid.uuid4()}@teamwell",
        created_at=ctx.now(),
    )
    if not await meeting_policies.runs_meeting(session, host, meeting):
        raise Forbidden("Meetings are arranged by the client's care team or the team's staff.")
    session.add(meeting)
    await session.flush()
    await _set_invitees(session, ctx, meeting, set(data.invitee_ids) - {host.id})
    await meeting_jobs.schedule_reminders(session, meeting, ctx.now())
    return meeting


async def _set_invitees(
    session: AsyncSession, ctx: Context, meeting: Meeting, wanted: set[uuid.UUID]
) -> None:
    for user_id in wanted:
        user = await session.get(User, user_id)
        if user is None or not user.is_active:
            raise NotFound(f"No active person {user_id}.")
    current = await invitee_ids(session=session, meeting_id=meeting.id)
    rows = await session.exec(select(MeetingInvitee).where(MeetingInvitee.meeting_id == meeting.id))
    for row in rows.all():
        if row.user_id not in wanted:
            await session.delete(row)
    session.add_all(
        MeetingInvitee(meeting_id=meeting.id, user_id=uid, added_at=ctx.now())
        for uid in wanted - current
    )
    await session.flush()


async def update(
    *, session: AsyncSession, ctx: Context, meeting: Meeting, data: MeetingUpdate
) -> Meeting:
    if meeting.cancelled_at is not None or meeting.state == MeetingState.ended:
        raise MeetingEnded()
    for name in ("title", "starts_at", "ends_at"):
        value = getattr(data, name)
        if value is not None:
            setattr(meeting, name, value)
    if meeting.ends_at <= meeting.starts_at:
        raise Problem("ends_at must be after starts_at")
    if data.invitee_ids is not None:
        await _set_invitees(session, ctx, meeting, set(data.invitee_ids) - {meeting.host_id})
    meeting.ical_sequence += 1  # calendars replace the event with the same UID
    session.add(meeting)
    await session.flush()
    # A new time has reminders of its own (those for the old time find it moved and stay quiet).
    await meeting_jobs.schedule_reminders(session, meeting, ctx.now())
    return meeting


async def cancel(*, session: AsyncSession, ctx: Context, meeting: Meeting) -> Meeting:
    if meeting.cancelled_at is not None:
        raise Conflict("The meeting was already cancelled.")
    meeting.cancelled_at = ctx.now()
    meeting.state = MeetingState.ended
    meeting.ical_sequence += 1
    session.add(meeting)
    await session.flush()
    return meeting


async def public(*, session: AsyncSession, meeting: Meeting) -> MeetingPublic:
    view = MeetingPublic.model_validate(meeting)
    view.invitee_ids = sorted(await invitee_ids(session=session, meeting_id=meeting.id), key=str)
    return view


async def meetings_for(
    *, session: AsyncSession, user: User, client_id: uuid.UUID | None = None
) -> list[Meeting]:
    """Meetings the person hosts or is invited to, their teams' meetings, and (for staff who
    may read it, or the client themselves) a client's meetings."""
    invited = select(MeetingInvitee.meeting_id).where(MeetingInvitee.user_id == user.id)
    teams = teams_service.teams_in_force_of(user.id)
    query = select(Meeting).where(
        (col(Meeting.host_id) == user.id)
        | col(Meeting.id).in_(invited)
        # The team's meetings, but not supervision, which only its host and invitees see.
        | (col(Meeting.team_id).in_(teams) & (col(Meeting.kind) != MeetingKind.supervision))
    )
    found = {m.id: m for m in (await session.exec(query)).all()}
    related = await clients_service.related_clients(
        session=session, user_id=user.id, query=clients_service.ClientQuery()
    )
    readable = {c.id for c in await client_policies.readable_clients(session, user, related)}
    if readable:
        rows = await session.exec(select(Meeting).where(col(Meeting.client_id).in_(readable)))
        for meeting in rows.all():
            found[meeting.id] = meeting
    chosen = [m for m in found.values() if client_id is None or m.client_id == client_id]
    return sorted(chosen, key=lambda m: m.starts_at)


# --- the live call ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Seat:
    participant: MeetingParticipant
    mode: JoinMode
    rejoined: bool = False
    # The socket that held the seat before this join, when it was another one: it is to be told
    # that the seat moved.
    moved_from: str | None = None


async def _expire_reconnecting(
    session: AsyncSession, meeting_id: uuid.UUID, now: datetime
) -> list[MeetingParticipant]:
    """Seats kept for a dropped participant past the grace time are given up (also when the
    process that held the socket is gone and cannot do it itself)."""
    rows = await session.exec(
        select(MeetingParticipant).where(
            MeetingParticipant.meeting_id == meeting_id,
            MeetingParticipant.state == ParticipantState.reconnecting,
            col(MeetingParticipant.reconnect_deadline) <= now,
        )
    )
    expired = list(rows.all())
    for row in expired:
        row.state = ParticipantState.left
        row.left_at = row.reconnect_deadline
        session.add(row)
    if expired:
        await session.flush()
    return expired


async def active(*, session: AsyncSession, meeting_id: uuid.UUID) -> list[MeetingParticipant]:
    rows = await session.exec(
        select(MeetingParticipant)
        .where(
            MeetingParticipant.meeting_id == meeting_id,
            col(MeetingParticipant.state).in_(ACTIVE_STATES),
        )
        .order_by(col(MeetingParticipant.joined_at))
    )
    return list(rows.all())


async def waiting(*, session: AsyncSession, meeting_id: uuid.UUID) -> list[MeetingParticipant]:
    rows = await session.exec(
        select(MeetingParticipant)
        .where(
            MeetingParticipant.meeting_id == meeting_id,
            MeetingParticipant.state == ParticipantState.lobby,
        )
        .order_by(col(MeetingParticipant.arrived_at))
    )
    return list(rows.all())


async def _current_seat(
    session: AsyncSession,
    meeting_id: uuid.UUID,
    user_id: uuid.UUID | None,
    guest_link_id: uuid.UUID | None = None,
) -> MeetingParticipant | None:
    who = (
        MeetingParticipant.user_id == user_id
        if user_id is not None
        else MeetingParticipant.guest_link_id == guest_link_id
    )
    rows = await session.exec(
        select(MeetingParticipant).where(
            MeetingParticipant.meeting_id == meeting_id,
            who,
            col(MeetingParticipant.state).in_((*ACTIVE_STATES, ParticipantState.lobby)),
        )
    )
    return rows.first()


async def _ensure_room(session: AsyncSession, meeting_id: uuid.UUID, limit: int) -> None:
    if len(await active(session=session, meeting_id=meeting_id)) >= limit:
        raise MeetingFull(f"The meeting is full: at most {limit} people take part.")


async def _take_seat_again(
    session: AsyncSession,
    seat: MeetingParticipant,
    mode: JoinMode,
    connection_id: str,
    audio: bool,
    video: bool,
) -> Seat:
    """A person or guest who holds a seat joins again (a new socket after a drop, or a second
    join): the seat moves to this socket, and one still in the call is back in it at once."""
    moved_from = seat.connection_id if seat.connection_id != connection_id else None
    seat.connection_id = connection_id
    seat.audio, seat.video = audio, video
    rejoined = seat.state in ACTIVE_STATES
    if rejoined:
        seat.state = ParticipantState.admitted
        seat.reconnect_deadline = None
    session.add(seat)
    await session.flush()
    return Seat(seat, mode, rejoined=rejoined, moved_from=moved_from)


async def join(
    *,
    session: AsyncSession,
    ctx: Context,
    meeting: Meeting,
    user: User,
    connection_id: str,
    audio: bool,
    video: bool,
    limit: int,
) -> Seat:
    mode = await meeting_policies.join_mode(session, user, meeting)
    now = ctx.now()
    await _expire_reconnecting(session, meeting.id, now)
    seat = await _current_seat(session, meeting.id, user.id)
    if seat is not None:
        # The same person again (a new socket after a drop, or a second join): same seat.
        return await _take_seat_again(session, seat, mode, connection_id, audio, video)
    if mode == JoinMode.direct:
        await _ensure_room(session, meeting.id, limit)
    seat = MeetingParticipant(
        meeting_id=meeting.id,
        user_id=user.id,
        connection_id=connection_id,
        state=ParticipantState.admitted if mode == JoinMode.direct else ParticipantState.lobby,
        audio=audio,
        video=video,
        arrived_at=now,
        joined_at=now if mode == JoinMode.direct else None,
    )
    session.add(seat)
    if mode == JoinMode.direct and meeting.state == MeetingState.scheduled:
        meeting.state = MeetingState.open
        session.add(meeting)
    await session.flush()
    return Seat(seat, mode)


async def join_as_guest(
    *,
    session: AsyncSession,
    ctx: Context,
    meeting: Meeting,
    link: GuestLink,
    label: str,
    connection_id: str,
    audio: bool,
    video: bool,
) -> Seat:
    """A guest (app/meetings/guests.py) always waits in the lobby to be admitted; the same link
    again (a new socket after a drop) takes the same seat."""
    if meeting.state == MeetingState.ended or meeting.cancelled_at is not None:
        raise MeetingEnded()
    if link.meeting_id != meeting.id or link.revoked_at is not None:
        raise NotInvited("This guest link is not for that meeting, or was withdrawn.")
    now = ctx.now()
    await _expire_reconnecting(session, meeting.id, now)
    seat = await _current_seat(session, meeting.id, None, link.id)
    if seat is not None:
        return await _take_seat_again(session, seat, JoinMode.lobby, connection_id, audio, video)
    seat = MeetingParticipant(
        meeting_id=meeting.id,
        guest_link_id=link.id,
        guest_kind=str(link.kind),
        guest_name=label,
        connection_id=connection_id,
        state=ParticipantState.lobby,
        audio=audio,
        video=video,
        arrived_at=now,
    )
    session.add(seat)
    await session.flush()
    return Seat(seat, JoinMode.lobby)


async def seat_of(
    *, session: AsyncSession, meeting_id: uuid.UUID, connection_id: str
) -> MeetingParticipant | None:
    rows = await session.exec(
        select(MeetingParticipant).where(
            MeetingParticipant.meeting_id == meeting_id,
            MeetingParticipant.connection_id == connection_id,
            col(MeetingParticipant.state).in_((*ACTIVE_STATES, ParticipantState.lobby)),
        )
    )
    return rows.first()


async def participant(
    *, session: AsyncSession, meeting_id: uuid.UUID, participant_id: uuid.UUID
) -> MeetingParticipant:
    found = await session.get(MeetingParticipant, participant_id)
    if found is None or found.meeting_id != meeting_id:
        raise ParticipantNotFound()
    return found


async def signalling_seats(
    *, session: AsyncSession, meeting_id: uuid.UUID, connection_id: str, to: uuid.UUID
) -> tuple[MeetingParticipant, MeetingParticipant]:
    """The sender's seat (this socket's, admitted) and the target's, read in one query as
    every relayed offer, answer and candidate needs both. Raises as ``require_admitted`` and
    ``participant`` would, in that order."""
    rows = await session.exec(
        select(MeetingParticipant).where(
            MeetingParticipant.meeting_id == meeting_id,
            or_(
                (col(MeetingParticipant.connection_id) == connection_id)
                & col(MeetingParticipant.state).in_((*ACTIVE_STATES, ParticipantState.lobby)),
                col(MeetingParticipant.id) == to,
            ),
        )
    )
    sender = target = None
    for seat in rows.all():
        if (
            sender is None
            and seat.connection_id == connection_id
            and seat.state in (*ACTIVE_STATES, ParticipantState.lobby)
        ):
            sender = seat
        if seat.id == to:
            target = seat
    if sender is None or sender.state != ParticipantState.admitted:
        raise NotAdmitted()
    if target is None:
        raise ParticipantNotFound()
    return sender, target


async def require_admitted(
    *, session: AsyncSession, meeting_id: uuid.UUID, connection_id: str
) -> MeetingParticipant:
    seat = await seat_of(session=session, meeting_id=meeting_id, connection_id=connection_id)
    if seat is None or seat.state != ParticipantState.admitted:
        raise NotAdmitted()
    return seat


async def admit(
    *,
    session: AsyncSession,
    ctx: Context,
    meeting: Meeting,
    seat: MeetingParticipant,
    limit: int,
) -> MeetingParticipant:
    if seat.state != ParticipantState.lobby:
        raise Conflict("That person is not waiting in the lobby.")
    await _ensure_room(session, meeting.id, limit)
    seat.state = ParticipantState.admitted
    seat.joined_at = ctx.now()
    session.add(seat)
    if meeting.state == MeetingState.scheduled:
        meeting.state = MeetingState.open
        session.add(meeting)
    await session.flush()
    return seat


async def finish(
    *, session: AsyncSession, ctx: Context, seat: MeetingParticipant, state: ParticipantState
) -> MeetingParticipant:
    """Leave, be declined or be removed: the seat is given up and attendance closes."""
    seat.state = state
    seat.left_at = ctx.now()
    seat.reconnect_deadline = None
    session.add(seat)
    await session.flush()
    return seat


async def end(*, session: AsyncSession, ctx: Context, meeting: Meeting) -> list[MeetingParticipant]:
    meeting.state = MeetingState.ended
    session.add(meeting)
    seats = await active(session=session, meeting_id=meeting.id)
    seats += await waiting(session=session, meeting_id=meeting.id)
    for seat in seats:
        await finish(session=session, ctx=ctx, seat=seat, state=ParticipantState.left)
    return seats


async def dropped(
    *, session: AsyncSession, ctx: Context, connection_id: str, grace: timedelta
) -> list[MeetingParticipant]:
    """A socket closed: its admitted seats wait for a rejoin; its lobby places are given up."""
    rows = await session.exec(
        select(MeetingParticipant).where(
            MeetingParticipant.connection_id == connection_id,
            col(MeetingParticipant.state).in_((ParticipantState.admitted, ParticipantState.lobby)),
        )
    )
    changed = list(rows.all())
    for seat in changed:
        if seat.state == ParticipantState.admitted:
            seat.state = ParticipantState.reconnecting
            seat.reconnect_deadline = ctx.now() + grace
        else:
            seat.state = ParticipantState.left
            seat.left_at = ctx.now()
        session.add(seat)
    await session.flush()
    return changed


async def give_up_seat(
    *, session: AsyncSession, participant_id: uuid.UUID, deadline: datetime
) -> MeetingParticipant | None:
    """After the grace time: the seat is given up unless its person came back."""
    seat = await session.get(MeetingParticipant, participant_id)
    if (
        seat is None
        or seat.state != ParticipantState.reconnecting
        or seat.reconnect_deadline != deadline
    ):
        return None
    seat.state = ParticipantState.left
    seat.left_at = deadline
    seat.reconnect_deadline = None
    session.add(seat)
    await session.flush()
    return seat


async def attendance(*, session: AsyncSession, meeting_id: uuid.UUID) -> list[AttendancePublic]:
    rows = await session.exec(
        select(MeetingParticipant, User)
        .outerjoin(User, col(User.id) == MeetingParticipant.user_id)
        .where(MeetingParticipant.meeting_id == meeting_id)
        .order_by(col(MeetingParticipant.arrived_at))
    )
    result = []
    for seat, user in rows.all():
        minutes = None
        if seat.joined_at is not None and seat.left_at is not None:
            minutes = round((seat.left_at - seat.joined_at).total_seconds() / 60, 1)
        result.append(
            AttendancePublic(
                participant_id=seat.id,
                user_id=user.id if user is not None else None,
                guest=seat.guest_kind,
                name=user.display_name if user is not None else seat.guest_name,
                arrived_at=seat.arrived_at,
                joined_at=seat.joined_at,
                left_at=seat.left_at,
                minutes=minutes,
                state=seat.state,
            )
        )
    return result


async def names(*, session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not user_ids:
        return {}
    rows = await session.exec(select(User).where(col(User.id).in_(user_ids)))
    return {u.id: u for u in rows.all()}


async def count_active(*, session: AsyncSession, meeting_id: uuid.UUID) -> int:
    total = await session.exec(
        select(func.count()).where(
            MeetingParticipant.meeting_id == meeting_id,
            col(MeetingParticipant.state).in_(ACTIVE_STATES),
        )
    )
    return int(total.one())


async def seats_by_state(*, session: AsyncSession) -> dict[str, int]:
    """How many seats are taken now, by state (waiting in a lobby, in a call, reconnecting):
    counts only, for the metrics."""
    live = (ParticipantState.lobby, *ACTIVE_STATES)
    rows = await session.exec(
        select(MeetingParticipant.state, func.count())
        .where(col(MeetingParticipant.state).in_(live))
        .group_by(col(MeetingParticipant.state))
    )
    counted = {str(state): int(n) for state, n in rows.all()}
    return {str(state): counted.get(str(state), 0) for state in live}


def is_client_meeting(meeting: Meeting) -> bool:
    return meeting.client_id is not None or meeting.kind == MeetingKind.client_session
