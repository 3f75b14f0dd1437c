"""Meeting signalling: one handler per meeting frame. Seats live in the database (shared by
every server process); offers, answers and candidates are relayed, never stored, and only
between admitted participants of the same meeting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.db import read_only
from app.errors import Forbidden
from app.meetings import service as meetings
from app.meetings.ice import ice_servers
from app.meetings.models import Meeting, MeetingParticipant, ParticipantState
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


def participant_view(seat: MeetingParticipant, user: Named | None) -> dict[str, Any]:
    return {
        "participant_id": str(seat.id),
        "user_id": str(seat.user_id),
        "name": user.display_name if user else "",
        "role": str(user.role) if user else "",
        "state": str(seat.state),
        "audio": seat.audio,
        "video": seat.video,
        "screen": seat.screen,
        "hand": seat.hand,
    }


async def _views(session: AsyncSession, seats: list[MeetingParticipant]) -> list[dict[str, Any]]:
    people = await meetings.names(session=session, user_ids={s.user_id for s in seats})
    return [participant_view(s, people.get(s.user_id)) for s in seats]


async def _broadcast(
    rt: Realtime,
    seats: list[MeetingParticipant],
    frame: dict[str, Any],
    *,
    skip: uuid.UUID | None = None,
) -> None:
    """To each listed participant's own device (not every device of the person)."""
    for seat in seats:
        if seat.id != skip and seat.state == ParticipantState.admitted:
            await rt.hub.send_to_connection(seat.user_id, seat.connection_id, frame)


async def _lobby_frame(session: AsyncSession, meeting: Meeting) -> dict[str, Any]:
    seats = await meetings.waiting(session=session, meeting_id=meeting.id)
    people = await meetings.names(session=session, user_ids={s.user_id for s in seats})
    return {
        "type": "meeting.lobby",
        "meeting_id": str(meeting.id),
        "waiting": [
            {
                "participant_id": str(s.id),
                "user_id": str(s.user_id),
                "name": people[s.user_id].display_name if s.user_id in people else "",
                "since": s.arrived_at.isoformat(),
            }
            for s in seats
        ],
    }


async def _tell_hosts_about_lobby(rt: Realtime, session: AsyncSession, meeting: Meeting) -> None:
    """Everyone admitted who may admit hears who is waiting (the web client plays a sound)."""
    frame = await _lobby_frame(session, meeting)
    for seat in await meetings.active(session=session, meeting_id=meeting.id):
        user = await session.get(User, seat.user_id)
        if user is not None and await meeting_policies.runs_meeting(session, user, meeting):
            await rt.hub.send_to_connection(seat.user_id, seat.connection_id, frame)


def _room_frame(
    rt: Realtime,
    meeting: Meeting,
    seat: MeetingParticipant,
    user: User,
    others: list[dict[str, Any]],
    *,
    reply_type: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": reply_type,
        "meeting_id": str(meeting.id),
        "participant_id": str(seat.id),
        "participants": others,
        "host_id": str(meeting.host_id),
        "ice_servers": ice_servers(rt.settings, user_id=user.id, now=rt.runtime.now()),
    }
    if request_id is not None:
        frame["id"] = request_id
    return frame


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


# --- handlers ------------------------------------------------------------------------------------


async def on_join(rt: Realtime, connection: Connection, frame: p.MeetingJoin) -> None:
    async with rt.sessions() as session:
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
        everyone = await meetings.active(session=session, meeting_id=meeting.id)
        others = [s for s in everyone if s.id != seat.participant.id]
        views = await _views(session, others)
        mine = participant_view(seat.participant, user)
        await session.commit()
        if seat.moved_from is not None:
            # The device that held the seat is out of the call: say so, rather than let its
            # meeting frames be refused without a word.
            moved = p.MeetingMoved(meeting_id=meeting.id, participant_id=seat.participant.id)
            await rt.hub.send_to_connection(user.id, seat.moved_from, moved.model_dump(mode="json"))
        if seat.mode == meetings.JoinMode.lobby and seat.participant.state == "lobby":
            connection.send(
                {
                    "type": "meeting.waiting",
                    "id": frame.id,
                    "meeting_id": str(meeting.id),
                    "participant_id": str(seat.participant.id),
                }
            )
            await _tell_hosts_about_lobby(rt, session, meeting)
            return
        connection.send(
            _room_frame(
                rt,
                meeting,
                seat.participant,
                user,
                views,
                reply_type="meeting.joined",
                request_id=frame.id,
            )
        )
        event = "meeting.participant" if seat.rejoined else "meeting.participant_joined"
        await _broadcast(
            rt, others, {"type": event, "meeting_id": str(meeting.id), "participant": mine}
        )
        if await meeting_policies.runs_meeting(session, user, meeting):
            waiting = await _lobby_frame(session, meeting)
            if waiting["waiting"]:
                connection.send(waiting)


async def _leave_as(
    rt: Realtime,
    session: AsyncSession,
    connection: Connection,
    seat: MeetingParticipant,
    state: ParticipantState,
    reason: str,
) -> None:
    await meetings.finish(session=session, ctx=connection.ctx, seat=seat, state=state)
    meeting = await meetings.get(session=session, meeting_id=seat.meeting_id)
    others = await meetings.active(session=session, meeting_id=seat.meeting_id)
    await session.commit()
    await _broadcast(
        rt,
        others,
        {
            "type": "meeting.participant_left",
            "meeting_id": str(seat.meeting_id),
            "participant_id": str(seat.id),
            "reason": reason,
        },
    )
    await _tell_hosts_about_lobby(rt, session, meeting)


async def on_leave(rt: Realtime, connection: Connection, frame: p.MeetingLeave) -> None:
    async with rt.sessions() as session:
        seat = await meetings.seat_of(
            session=session, meeting_id=frame.meeting_id, connection_id=connection.id
        )
        if seat is None:
            raise FrameError(ErrorCode.not_found, "You are not in that meeting.", frame.id)
        await _leave_as(rt, session, connection, seat, ParticipantState.left, "left")
    if frame.id is not None:
        connection.send({"type": "ack", "id": frame.id})


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
    await rt.hub.send_to_connection(
        target.user_id,
        target.connection_id,
        {
            "type": "meeting.signal",
            "meeting_id": str(frame.meeting_id),
            "from": str(sender.id),
            "signal": frame.signal.model_dump(exclude_none=True),
        },
    )


async def on_media(rt: Realtime, connection: Connection, frame: p.MeetingMedia) -> None:
    async with rt.sessions() as session:
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
        view = participant_view(seat, await session.get(User, seat.user_id))
        await session.commit()
    await _broadcast(
        rt,
        everyone,
        {"type": "meeting.participant", "meeting_id": str(frame.meeting_id), "participant": view},
    )


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
    async with rt.sessions() as session:
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
        admitted_user = await session.get(User, seat.user_id)
        assert admitted_user is not None
        everyone = await meetings.active(session=session, meeting_id=meeting.id)
        others = [s for s in everyone if s.id != seat.id]
        views = await _views(session, others)
        mine = participant_view(seat, admitted_user)
        await session.commit()
    connection.send({"type": "ack", "id": frame.id})
    await rt.hub.send_to_connection(
        seat.user_id,
        seat.connection_id,
        _room_frame(rt, meeting, seat, admitted_user, views, reply_type="meeting.admitted"),
    )
    await _broadcast(
        rt,
        others,
        {"type": "meeting.participant_joined", "meeting_id": str(meeting.id), "participant": mine},
    )
    async with rt.sessions() as session:
        await _tell_hosts_about_lobby(rt, session, meeting)


async def _turn_away(
    rt: Realtime,
    connection: Connection,
    meeting_id: uuid.UUID,
    participant_id: uuid.UUID,
    state: ParticipantState,
    event: str,
    request_id: str,
) -> None:
    async with rt.sessions() as session:
        meeting, _ = await _as_care_staff(session, connection, meeting_id)
        seat = await meetings.participant(
            session=session, meeting_id=meeting.id, participant_id=participant_id
        )
        if state == ParticipantState.declined and seat.state != ParticipantState.lobby:
            raise FrameError(ErrorCode.conflict, "That person is not in the lobby.", request_id)
        if seat.state not in (ParticipantState.lobby, *meetings.ACTIVE_STATES):
            raise FrameError(ErrorCode.conflict, "That person is not in the meeting.", request_id)
        target_connection = seat.connection_id
        await rt.hub.send_to_connection(
            seat.user_id, target_connection, {"type": event, "meeting_id": str(meeting.id)}
        )
        await _leave_as(
            rt,
            session,
            connection,
            seat,
            state,
            "removed" if state == ParticipantState.removed else "left",
        )
    connection.send({"type": "ack", "id": request_id})


async def on_decline(rt: Realtime, connection: Connection, frame: p.MeetingDecline) -> None:
    await _turn_away(
        rt,
        connection,
        frame.meeting_id,
        frame.participant_id,
        ParticipantState.declined,
        "meeting.declined",
        frame.id,
    )


async def on_remove(rt: Realtime, connection: Connection, frame: p.MeetingRemove) -> None:
    await _turn_away(
        rt,
        connection,
        frame.meeting_id,
        frame.participant_id,
        ParticipantState.removed,
        "meeting.removed",
        frame.id,
    )


async def on_end(rt: Realtime, connection: Connection, frame: p.MeetingEnd) -> None:
    async with rt.sessions() as session:
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
        await session.commit()
    connection.send({"type": "ack", "id": frame.id})
    for seat in seats:
        await rt.hub.send_to_connection(
            seat.user_id,
            seat.connection_id,
            {"type": "meeting.ended", "meeting_id": str(meeting.id)},
        )


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
        user = await fresh_user(session, connection)
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
                if (u := await session.get(User, s.user_id)) is not None
                and await meeting_policies.runs_meeting(session, u, meeting)
            ]
            recipients = staff
        elif await meeting_policies.runs_meeting(session, user, meeting):
            recipients = await meetings.waiting(session=session, meeting_id=meeting.id)
        else:
            raise Forbidden("Only staff write to the lobby.")
    message = {
        "type": "meeting.lobby_message",
        "meeting_id": str(meeting.id),
        "from_user_id": str(user.id),
        "from_name": user.display_name,
        "text": frame.text,
        "at": rt.runtime.now().isoformat(),
    }
    for seat_to in recipients:
        await rt.hub.send_to_connection(seat_to.user_id, seat_to.connection_id, message)
    connection.send({"type": "ack", "id": frame.id})


# --- sockets that drop ---------------------------------------------------------------------------


async def on_disconnect(rt: Realtime, connection: Connection) -> None:
    """The seat waits for a rejoin for the grace time; then the others are told."""
    grace = timedelta(seconds=rt.settings.meeting_rejoin_grace_seconds)
    async with rt.sessions() as session:
        changed = await meetings.dropped(
            session=session, ctx=connection.ctx, connection_id=connection.id, grace=grace
        )
        notices = []
        for seat in changed:
            others = await meetings.active(session=session, meeting_id=seat.meeting_id)
            meeting = await meetings.get(session=session, meeting_id=seat.meeting_id)
            view = participant_view(seat, connection)
            notices.append((seat, others, meeting, view))
        await session.commit()
    for seat, others, meeting, view in notices:
        if seat.state == ParticipantState.reconnecting:
            await _broadcast(
                rt,
                others,
                {
                    "type": "meeting.participant",
                    "meeting_id": str(seat.meeting_id),
                    "participant": view,
                },
                skip=seat.id,
            )
            assert seat.reconnect_deadline is not None
            task = asyncio.create_task(_give_up_later(rt, seat.id, seat.reconnect_deadline, grace))
            rt.background.add(task)
            task.add_done_callback(rt.background.discard)
        else:
            async with rt.sessions() as session:
                await _tell_hosts_about_lobby(rt, session, meeting)


async def _give_up_later(
    rt: Realtime, participant_id: uuid.UUID, deadline: datetime, grace: timedelta
) -> None:
    await asyncio.sleep(grace.total_seconds())
    with contextlib.suppress(Exception):
        async with rt.sessions() as session:
            seat = await meetings.give_up_seat(
                session=session, participant_id=participant_id, deadline=deadline
            )
            if seat is None:
                return  # they came back
            others = await meetings.active(session=session, meeting_id=seat.meeting_id)
            await session.commit()
        await _broadcast(
            rt,
            others,
            {
                "type": "meeting.participant_left",
                "meeting_id": str(seat.meeting_id),
                "participant_id": str(seat.id),
                "reason": "timeout",
            },
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
