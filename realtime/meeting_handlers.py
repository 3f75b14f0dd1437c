"""Meeting signalling: one handler per meeting frame. Seats live in the database (shared by
every server process), and what a change of seats announces (app/meetings/events.py) is
published once it is stored; offers, answers and candidates are relayed, never stored, and only
between admitted participants of the same meeting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app import events, metrics
from app.audit import service as audit_service
from app.db import read_only
from app.errors import Forbidden
from app.events import Device
from app.meetings import events as meeting_events
from app.meetings import service as meetings
from app.meetings.ice import ice_servers
from app.meetings.models import GuestLink, Meeting, MeetingParticipant, ParticipantState
from app.users.models import Role, User
from auth.policies import meetings as meeting_policies
from realtime import protocol as p
from realtime.connection import Connection, TokenBucket
from realtime.container import Realtime
from realtime.handlers import Handler, fresh_user, rate_limited
from realtime.protocol import ErrorCode, FrameError

log = logging.getLogger("teamwell.meetings")


class Named(Protocol):
    """Whoever sits in a seat, as a participant list shows them (a person's row, or the
    connection of the person leaving)."""

    @property
    def display_name(self) -> str: ...

    @property
    def role(self) -> Role: ...


def participant_view(seat: MeetingParticipant, user: Named | None) -> p.Participant:
    guest = seat.user_id is None
    return p.Participant(
        participant_id=seat.id,
        user_id=seat.person_id,
        name=seat.guest_name if guest else (user.display_name if user else ""),
        role="guest" if guest else (str(user.role) if user else ""),
        state=str(seat.state),
        guest=seat.guest_kind,
        audio=seat.audio,
        video=seat.video,
        screen=seat.screen,
        hand=seat.hand,
    )


def _people_of(seats: list[MeetingParticipant]) -> set[uuid.UUID]:
    return {s.user_id for s in seats if s.user_id is not None}


async def _views(session: AsyncSession, seats: list[MeetingParticipant]) -> list[p.Participant]:
    people = await meetings.names(session=session, user_ids=_people_of(seats))
    return [participant_view(s, people.get(s.user_id) if s.user_id else None) for s in seats]


async def _lobby_frame(session: AsyncSession, meeting: Meeting) -> p.MeetingLobby:
    seats = await meetings.waiting(session=session, meeting_id=meeting.id)
    people = await meetings.names(session=session, user_ids=_people_of(seats))
    return p.MeetingLobby(
        meeting_id=meeting.id,
        waiting=[
            p.Waiting(
                participant_id=s.id,
                user_id=s.person_id,
                name=(
                    s.guest_name
                    if s.user_id is None
                    else (people[s.user_id].display_name if s.user_id in people else "")
                ),
                guest=s.guest_kind,
                since=s.arrived_at,
            )
            for s in seats
        ],
    )


async def _announce_lobby(session: AsyncSession, meeting: Meeting) -> None:
    """Everyone admitted who may admit hears who is waiting (the web client plays a sound)."""
    frame = await _lobby_frame(session, meeting)
    hosts = []
    for seat in await meetings.active(session=session, meeting_id=meeting.id):
        if seat.user_id is None:
            continue  # a guest admits nobody
        user = await session.get(User, seat.user_id)
        if user is not None and await meeting_policies.runs_meeting(session, user, meeting):
            hosts.append(meeting_events.device_of(seat))
    events.announce(session, meeting_events.LobbyChanged(devices=tuple(hosts), frame=frame))


def _ice_servers(rt: Realtime, person_id: uuid.UUID) -> list[dict[str, Any]]:
    return ice_servers(rt.settings, user_id=person_id, now=rt.runtime.now())


async def _audit_join(session: AsyncSession, connection: Connection, meeting: Meeting) -> None:
    if meeting.client_id is not None:
        # Joining a client's session is an access to their record.
        await audit_service.record(
            session,
            connection.ctx,
            action="meeting.join",
            resource_type="meeting",
            resource_id=meeting.id,
            client_id=meeting.client_id,
        )


def _transaction(rt: Realtime) -> AbstractAsyncContextManager[AsyncSession]:
    """One frame's session: its events are published once the seats are stored."""
    return events.transaction(rt.sessions, rt.hub)


# --- handlers ------------------------------------------------------------------------------------


def _answer_join(
    rt: Realtime,
    connection: Connection,
    frame: p.MeetingJoin,
    meeting: Meeting,
    seat: MeetingParticipant,
    views: list[p.Participant],
    in_lobby: bool,
    ice_for: uuid.UUID,
) -> bool:
    """Answer a join: waiting in the lobby, or joined with the others and the ICE servers (TURN
    credentials for ``ice_for``); whether the seat joined."""
    if in_lobby:
        connection.send(
            p.MeetingWaiting(id=frame.id, meeting_id=meeting.id, participant_id=seat.id)
        )
        return False
    connection.send(
        p.MeetingJoined(
            id=frame.id,
            meeting_id=meeting.id,
            participant_id=seat.id,
            participants=views,
            host_id=meeting.host_id,
            ice_servers=_ice_servers(rt, ice_for),
        )
    )
    return True


def _announce_seat_moved(session: AsyncSession, owner_id: uuid.UUID, seat: meetings.Seat) -> None:
    """The device that held the seat is out of the call: say so, rather than let its meeting
    frames be refused without a word. ``owner_id``: the person's id, or a guest's link id."""
    if seat.moved_from is None:
        return
    events.announce(
        session,
        meeting_events.SeatMoved(
            devices=(Device(owner_id, seat.moved_from),),
            frame=p.MeetingMoved(
                meeting_id=seat.participant.meeting_id, participant_id=seat.participant.id
            ),
        ),
    )


async def _others_in(
    session: AsyncSession, participant: MeetingParticipant
) -> list[MeetingParticipant]:
    """Everyone in the participant's meeting but the participant."""
    everyone = await meetings.active(session=session, meeting_id=participant.meeting_id)
    return [s for s in everyone if s.id != participant.id]


def _tell_joined(
    session: AsyncSession,
    seats: list[MeetingParticipant],
    meeting_id: uuid.UUID,
    view: p.Participant,
) -> None:
    """Tell those of ``seats`` who are in the call that this participant joined it."""
    events.announce(
        session,
        meeting_events.ParticipantJoined(
            devices=meeting_events.admitted(seats),
            frame=p.MeetingParticipantJoined(meeting_id=meeting_id, participant=view),
        ),
    )


def _tell_changed(
    session: AsyncSession,
    seats: list[MeetingParticipant],
    meeting_id: uuid.UUID,
    view: p.Participant,
    *,
    skip: uuid.UUID | None = None,
) -> None:
    """Tell those of ``seats`` who are in the call (but ``skip``) how this participant is now."""
    events.announce(
        session,
        meeting_events.ParticipantChanged(
            devices=meeting_events.admitted(seats, skip=skip),
            frame=p.MeetingParticipantChanged(meeting_id=meeting_id, participant=view),
        ),
    )


async def _guest_join(rt: Realtime, connection: Connection, frame: p.MeetingJoin) -> None:
    """A guest (app/meetings/guests.py) joins their one meeting's lobby, audited as any join;
    staff who run the session admit them."""
    guest = connection.guest
    assert guest is not None
    async with _transaction(rt) as session:
        meeting = await meetings.get(session=session, meeting_id=frame.meeting_id)
        link = await session.get(GuestLink, guest.link_id)
        if link is None:
            raise meetings.NotInvited("This guest link no longer exists.")
        seat = await meetings.join_as_guest(
            session=session,
            ctx=connection.ctx,
            meeting=meeting,
            link=link,
            label=guest.name,
            connection_id=connection.id,
            audio=frame.audio,
            video=frame.video,
        )
        await _audit_join(session, connection, meeting)
        _announce_seat_moved(session, guest.link_id, seat)
        views: list[p.Participant] = []  # a guest in the lobby is told of nobody yet
        if seat.participant.state == ParticipantState.lobby:
            await _announce_lobby(session, meeting)
        else:
            others = await _others_in(session, seat.participant)
            views = await _views(session, others)
            _tell_changed(session, others, meeting.id, participant_view(seat.participant, None))
    in_lobby = seat.participant.state == ParticipantState.lobby
    _answer_join(rt, connection, frame, meeting, seat.participant, views, in_lobby, guest.link_id)


async def on_join(rt: Realtime, connection: Connection, frame: p.MeetingJoin) -> None:
    connection.joined_meeting = True  # see on_disconnect
    if connection.guest is not None:
        await _guest_join(rt, connection, frame)
        return
    lobby: p.MeetingLobby | None = None
    async with _transaction(rt) as session:
        user = await fresh_user(session, connection)
        meeting = await meetings.get(session=session, meeting_id=frame.meeting_id)
        seat = await meetings.join(
            session=session,
            ctx=connection.ctx,
            meeting=meeting,
            user=user,
            connection_id=connection.id,
            audio=frame.audio,
            video=frame.video,
            limit=rt.settings.meeting_max_participants,
        )
        await _audit_join(session, connection, meeting)
        others = await _others_in(session, seat.participant)
        views = await _views(session, others)
        mine = participant_view(seat.participant, user)
        _announce_seat_moved(session, user.id, seat)
        in_lobby = seat.mode == meetings.JoinMode.lobby and seat.participant.state == "lobby"
        if in_lobby:
            await _announce_lobby(session, meeting)
        else:
            if seat.rejoined:
                _tell_changed(session, others, meeting.id, mine)
            else:
                _tell_joined(session, others, meeting.id, mine)
            if await meeting_policies.runs_meeting(session, user, meeting):
                lobby = await _lobby_frame(session, meeting)
    if not _answer_join(rt, connection, frame, meeting, seat.participant, views, in_lobby, user.id):
        return
    if lobby is not None and lobby.waiting:
        connection.send(lobby)


async def _leave_as(
    session: AsyncSession,
    connection: Connection,
    seat: MeetingParticipant,
    state: ParticipantState,
    reason: Literal["left", "removed"],
) -> None:
    await meetings.finish(session=session, ctx=connection.ctx, seat=seat, state=state)
    meeting = await meetings.get(session=session, meeting_id=seat.meeting_id)
    others = await meetings.active(session=session, meeting_id=seat.meeting_id)
    events.announce(
        session,
        meeting_events.ParticipantLeft(
            devices=meeting_events.admitted(others),
            frame=p.MeetingParticipantLeft(
                meeting_id=seat.meeting_id, participant_id=seat.id, reason=reason
            ),
        ),
    )
    await _announce_lobby(session, meeting)


async def on_leave(rt: Realtime, connection: Connection, frame: p.MeetingLeave) -> None:
    async with _transaction(rt) as session:
        seat = await meetings.seat_of(
            session=session, meeting_id=frame.meeting_id, connection_id=connection.id
        )
        if seat is None:
            raise FrameError(ErrorCode.not_found, "You are not in that meeting.", frame.id)
        await _leave_as(session, connection, seat, ParticipantState.left, "left")
    if frame.id is not None:
        connection.send(p.Ack(id=frame.id))


def _check_signal(rt: Realtime, frame: p.MeetingSignal) -> None:
    """Each kind carries its own fields only: what is relayed is bounded by the limit of its
    kind, never by the frame size alone (a candidate riding on an offer escaped its limit)."""
    signal = frame.signal
    if signal.kind in ("offer", "answer"):
        if not signal.sdp:
            raise FrameError(ErrorCode.invalid_frame, "An offer or answer carries sdp.")
        if (signal.candidate, signal.sdp_mid, signal.sdp_mline_index) != (None, None, None):
            raise FrameError(
                ErrorCode.invalid_frame,
                "An offer or answer carries sdp only (candidate, sdp_mid and sdp_mline_index "
                "belong to a candidate).",
            )
        if len(signal.sdp.encode()) > rt.settings.sdp_max_bytes:
            raise FrameError(
                ErrorCode.invalid_frame, f"SDP is limited to {rt.settings.sdp_max_bytes} bytes."
            )
    elif signal.sdp is not None:
        raise FrameError(ErrorCode.invalid_frame, "A candidate carries no sdp.")
    elif signal.candidate is not None:
        limit = rt.settings.ice_candidate_max_chars
        if len(signal.candidate) > limit:
            raise FrameError(
                ErrorCode.invalid_frame, f"ICE candidates are limited to {limit} characters."
            )


def _signal_bucket(rt: Realtime, connection: Connection) -> TokenBucket:
    bucket = rt.signal_buckets.get(connection.id)
    if bucket is None:
        bucket = TokenBucket(rt.settings.signals_per_second, rt.settings.signal_burst)
        rt.signal_buckets[connection.id] = bucket
    return bucket


async def on_signal(rt: Realtime, connection: Connection, frame: p.MeetingSignal) -> None:
    _check_signal(rt, frame)
    bucket = _signal_bucket(rt, connection)
    if not bucket.take():
        raise rate_limited(bucket, "Too much signalling; slow down.", frame.id)
    async with rt.sessions() as session:
        # Only reads: on SQLite it need not queue for the write lock behind stored messages.
        read_only(session)
        sender, target = await meetings.signalling_seats(
            session=session, meeting_id=frame.meeting_id, connection_id=connection.id, to=frame.to
        )
        if target.state != ParticipantState.admitted:
            # Not audited: candidates still trickling to someone who has just left are a race,
            # not a refusal of the sender (who is admitted).
            raise FrameError(ErrorCode.not_admitted, "That participant is not in the call.")
    # Relayed, never stored: sent now, not as an event after a commit.
    await rt.hub.send_to_connection(
        target.person_id,
        target.connection_id,
        p.MeetingSignalled(
            meeting_id=frame.meeting_id,
            from_=sender.id,
            signal=frame.signal.model_dump(exclude_none=True),
        ),
    )
    metrics.signals_relayed[frame.signal.kind].inc()


async def on_media(rt: Realtime, connection: Connection, frame: p.MeetingMedia) -> None:
    async with _transaction(rt) as session:
        seat = await meetings.require_admitted(
            session=session, meeting_id=frame.meeting_id, connection_id=connection.id
        )
        seat.audio, seat.video, seat.screen, seat.hand = (
            frame.audio,
            frame.video,
            frame.screen,
            frame.hand,
        )
        session.add(seat)
        await session.flush()
        everyone = await meetings.active(session=session, meeting_id=frame.meeting_id)
        view = participant_view(
            seat, await session.get(User, seat.user_id) if seat.user_id is not None else None
        )
        _tell_changed(session, everyone, frame.meeting_id, view)


async def _as_care_staff(
    session: AsyncSession, connection: Connection, meeting_id: uuid.UUID
) -> tuple[Meeting, User]:
    user = await fresh_user(session, connection)
    meeting = await meetings.get(session=session, meeting_id=meeting_id)
    await meetings.require_admitted(
        session=session, meeting_id=meeting.id, connection_id=connection.id
    )
    if not await meeting_policies.runs_meeting(session, user, meeting):
        raise Forbidden("Only staff on the care team (or the team) can do that.")
    return meeting, user


async def on_admit(rt: Realtime, connection: Connection, frame: p.MeetingAdmit) -> None:
    async with _transaction(rt) as session:
        meeting, _ = await _as_care_staff(session, connection, frame.meeting_id)
        seat = await meetings.participant(
            session=session, meeting_id=meeting.id, participant_id=frame.participant_id
        )
        await meetings.admit(
            session=session,
            ctx=connection.ctx,
            meeting=meeting,
            seat=seat,
            limit=rt.settings.meeting_max_participants,
        )
        admitted_user = await session.get(User, seat.user_id) if seat.user_id else None
        assert admitted_user is not None or seat.guest_link_id is not None
        everyone = await meetings.active(session=session, meeting_id=meeting.id)
        others = [s for s in everyone if s.id != seat.id]
        events.announce(
            session,
            meeting_events.Admitted(
                devices=(meeting_events.device_of(seat),),
                frame=p.MeetingAdmitted(
                    meeting_id=meeting.id,
                    participant_id=seat.id,
                    participants=await _views(session, others),
                    host_id=meeting.host_id,
                    ice_servers=_ice_servers(rt, seat.person_id),
                ),
            ),
        )
        _tell_joined(session, others, meeting.id, participant_view(seat, admitted_user))
        await _announce_lobby(session, meeting)
    connection.send(p.Ack(id=frame.id))


async def _turn_away(
    rt: Realtime,
    connection: Connection,
    meeting_id: uuid.UUID,
    participant_id: uuid.UUID,
    state: ParticipantState,
    request_id: str,
) -> None:
    async with _transaction(rt) as session:
        meeting, _ = await _as_care_staff(session, connection, meeting_id)
        seat = await meetings.participant(
            session=session, meeting_id=meeting.id, participant_id=participant_id
        )
        if state == ParticipantState.declined and seat.state != ParticipantState.lobby:
            raise FrameError(ErrorCode.conflict, "That person is not in the lobby.", request_id)
        if seat.state not in (ParticipantState.lobby, *meetings.ACTIVE_STATES):
            raise FrameError(ErrorCode.conflict, "That person is not in the meeting.", request_id)
        removed = state == ParticipantState.removed
        told: p.MeetingDeclined | p.MeetingRemoved = (
            p.MeetingRemoved(meeting_id=meeting.id)
            if removed
            else p.MeetingDeclined(meeting_id=meeting.id)
        )
        # The seat's own device, first: before it hears anything else of the meeting.
        events.announce(
            session,
            meeting_events.TurnedAway(devices=(meeting_events.device_of(seat),), frame=told),
        )
        await _leave_as(session, connection, seat, state, "removed" if removed else "left")
    connection.send(p.Ack(id=request_id))


async def on_decline(rt: Realtime, connection: Connection, frame: p.MeetingDecline) -> None:
    await _turn_away(
        rt,
        connection,
        frame.meeting_id,
        frame.participant_id,
        ParticipantState.declined,
        frame.id,
    )


async def on_remove(rt: Realtime, connection: Connection, frame: p.MeetingRemove) -> None:
    await _turn_away(
        rt,
        connection,
        frame.meeting_id,
        frame.participant_id,
        ParticipantState.removed,
        frame.id,
    )


async def on_end(rt: Realtime, connection: Connection, frame: p.MeetingEnd) -> None:
    async with _transaction(rt) as session:
        meeting, _ = await _as_care_staff(session, connection, frame.meeting_id)
        seats = await meetings.end(session=session, ctx=connection.ctx, meeting=meeting)
        await audit_service.record(
            session,
            connection.ctx,
            action="meeting.end",
            resource_type="meeting",
            resource_id=meeting.id,
            client_id=meeting.client_id,
        )
        events.announce(
            session,
            meeting_events.MeetingEnded(
                devices=tuple(meeting_events.device_of(seat) for seat in seats),
                frame=p.MeetingEnded(meeting_id=meeting.id),
            ),
        )
    connection.send(p.Ack(id=frame.id))


async def on_lobby_message(
    rt: Realtime, connection: Connection, frame: p.MeetingLobbyMessage
) -> None:
    limit = rt.settings.lobby_message_max_chars
    if len(frame.text) > limit:
        raise FrameError(
            ErrorCode.message_too_long,
            f"Lobby messages are limited to {limit} characters.",
            frame.id,
        )
    async with rt.sessions() as session:
        # A guest (no account) writes only from the lobby, to the staff.
        user = await fresh_user(session, connection) if connection.guest is None else None
        meeting = await meetings.get(session=session, meeting_id=frame.meeting_id)
        seat = await meetings.seat_of(
            session=session, meeting_id=meeting.id, connection_id=connection.id
        )
        if seat is None:
            raise FrameError(ErrorCode.not_found, "You are not in that meeting.", frame.id)
        if seat.state == ParticipantState.lobby:
            staff = [
                s
                for s in await meetings.active(session=session, meeting_id=meeting.id)
                if s.user_id is not None
                and (u := await session.get(User, s.user_id)) is not None
                and await meeting_policies.runs_meeting(session, u, meeting)
            ]
            recipients = staff
        elif user is not None and await meeting_policies.runs_meeting(session, user, meeting):
            recipients = await meetings.waiting(session=session, meeting_id=meeting.id)
        else:
            raise Forbidden("Only staff write to the lobby.")
    # Relayed, never stored: sent now, not as an event after a commit.
    message = p.MeetingLobbyNote(
        meeting_id=meeting.id,
        from_user_id=connection.user_id,
        from_name=connection.display_name,
        text=frame.text,
        at=rt.runtime.now(),
    )
    for seat_to in recipients:
        await rt.hub.send_to_connection(seat_to.person_id, seat_to.connection_id, message)
    connection.send(p.Ack(id=frame.id))


# --- sockets that drop ---------------------------------------------------------------------------


async def on_disconnect(rt: Realtime, connection: Connection) -> None:
    """The seat waits for a rejoin for the grace time; then the others are told. A socket that
    never asked to join a meeting has no seat (seats are taken by ``meeting.join`` alone, under
    the joining socket's id), and looks for none."""
    if not connection.joined_meeting:
        return
    grace = timedelta(seconds=rt.settings.meeting_rejoin_grace_seconds)
    async with _transaction(rt) as session:
        changed = await meetings.dropped(
            session=session, ctx=connection.ctx, connection_id=connection.id, grace=grace
        )
        for seat in changed:
            meeting = await meetings.get(session=session, meeting_id=seat.meeting_id)
            if seat.state == ParticipantState.reconnecting:
                others = await meetings.active(session=session, meeting_id=seat.meeting_id)
                view = participant_view(seat, connection)
                _tell_changed(session, others, seat.meeting_id, view, skip=seat.id)
            else:
                await _announce_lobby(session, meeting)
    for seat in changed:
        if seat.state == ParticipantState.reconnecting:
            assert seat.reconnect_deadline is not None
            task = asyncio.create_task(_give_up_later(rt, seat.id, seat.reconnect_deadline, grace))
            rt.background.add(task)
            task.add_done_callback(rt.background.discard)


async def _give_up_later(
    rt: Realtime, participant_id: uuid.UUID, deadline: datetime, grace: timedelta
) -> None:
    await asyncio.sleep(grace.total_seconds())
    with contextlib.suppress(Exception):
        async with _transaction(rt) as session:
            seat = await meetings.give_up_seat(
                session=session, participant_id=participant_id, deadline=deadline
            )
            if seat is None:
                return  # they came back
            others = await meetings.active(session=session, meeting_id=seat.meeting_id)
            events.announce(
                session,
                meeting_events.ParticipantLeft(
                    devices=meeting_events.admitted(others),
                    frame=p.MeetingParticipantLeft(
                        meeting_id=seat.meeting_id, participant_id=seat.id, reason="timeout"
                    ),
                ),
            )


MEETING_HANDLERS: dict[str, Handler] = {
    "meeting.join": on_join,
    "meeting.leave": on_leave,
    "meeting.signal": on_signal,
    "meeting.media": on_media,
    "meeting.admit": on_admit,
    "meeting.decline": on_decline,
    "meeting.remove": on_remove,
    "meeting.end": on_end,
    "meeting.lobby_message": on_lobby_message,
}
