"""Meetings: who runs one, who joins it and how (directly or through the lobby), who sees it,
who reads its attendance and who changes it. HTTP routes name these through the dependencies of
``auth.deps`` (``VisibleMeeting``, ``ManagedMeeting``, ``RunMeeting``); the call's frames on
``/ws`` (``realtime/meeting_handlers.py``) and the meeting service ask the same functions."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.meetings import service as meetings_service
from app.meetings.models import Meeting, MeetingKind, MeetingState
from app.teams import service as teams_service
from app.users.models import Role, User
from auth.policies import clients as client_policies
from auth.policies.decision import ALLOW, Decision


async def runs_meeting(session: AsyncSession, user: User, meeting: Meeting) -> bool:
    """Staff who run this meeting: the client's care team (and their supervisors) for a case,
    the team's staff for a team meeting. Supervision is private to those in it: of the team,
    only its host and the people invited (a one-to-one is not open to colleagues)."""
    if not user.is_active or user.role in (Role.client, Role.admin):
        return False
    if meeting.client_id is not None:
        client = await clients_service.get(session=session, client_id=meeting.client_id)
        return bool(await client_policies.can_change_client(session, user, client))
    assert meeting.team_id is not None
    if user.id not in await teams_service.member_ids(session=session, team_id=meeting.team_id):
        return False
    if meeting.kind == MeetingKind.supervision and user.id != meeting.host_id:
        return user.id in await meetings_service.invitee_ids(session=session, meeting_id=meeting.id)
    return True


async def join_mode(
    session: AsyncSession, user: User, meeting: Meeting
) -> meetings_service.JoinMode:
    """How this person joins the call: straight in (they run it), through the lobby (invited,
    or the client at their own session), or not at all (``NotInvited``, 403; ``MeetingEnded``,
    410, once it has ended or was cancelled)."""
    if meeting.state == MeetingState.ended or meeting.cancelled_at is not None:
        raise meetings_service.MeetingEnded()
    if await runs_meeting(session, user, meeting):
        return meetings_service.JoinMode.direct
    invited = user.id in await meetings_service.invitee_ids(session=session, meeting_id=meeting.id)
    if (
        not invited
        and meeting.kind == MeetingKind.client_session
        and meeting.client_id is not None
        and user.role == Role.client
    ):
        # A client is always expected at their own sessions (not at the team's case meetings).
        client = await clients_service.get(session=session, client_id=meeting.client_id)
        invited = client.user_id == user.id
    if not invited or not user.is_active:
        raise meetings_service.NotInvited()
    return meetings_service.JoinMode.lobby


async def require_visible(session: AsyncSession, user: User, meeting: Meeting) -> None:
    """A meeting is seen (its details, its calendar file) by its host, the staff who run it,
    and whoever may join it; once it has ended, by those invited to it too. Raises what
    ``join_mode`` raises for anyone else."""
    if meeting.host_id == user.id or await runs_meeting(session, user, meeting):
        return
    try:
        await join_mode(session, user, meeting)
    except meetings_service.MeetingEnded:
        if user.id in await meetings_service.invitee_ids(session=session, meeting_id=meeting.id):
            return
        raise


async def can_read_attendance(session: AsyncSession, user: User, meeting: Meeting) -> Decision:
    """Attendance is read by the staff who run the meeting with colleagues; of supervision, only
    by the supervisor who arranged it (those supervised join it; its record is theirs)."""
    if not await runs_meeting(session, user, meeting):
        return Decision(False, "Attendance is read by the care team or the team's staff")
    if meeting.kind == MeetingKind.supervision and meeting.host_id != user.id:
        return Decision(
            False, "Attendance at supervision is read by the supervisor who arranged it"
        )
    return ALLOW


def can_change_meeting(user: User, *, host_id: uuid.UUID, runs_it: bool) -> Decision:
    """A meeting is moved, re-invited or cancelled only by the person who arranged it, its host
    (a meeting has one host and no co-hosts): colleagues on the care team join it, admit people
    and may end the call for everyone, but do not rearrange or call off a meeting someone else
    is holding and has sent invitations for in their own name. ``runs_it``: whether the person
    is still among the staff who run it (``runs_meeting``): a host taken off the care
    team, or deactivated, no longer changes the client's meetings."""
    if user.id != host_id:
        return Decision(False, "only the person who arranged the meeting changes or cancels it")
    if not runs_it:
        return Decision(False, "no longer on the care team or the team the meeting belongs to")
    return ALLOW


async def can_arrange(session: AsyncSession, user: User, meeting: Meeting) -> Decision:
    """Whether this person may change or cancel the meeting: ``can_change_meeting``, with
    whether they still run it asked of ``runs_meeting``."""
    return can_change_meeting(
        user, host_id=meeting.host_id, runs_it=await runs_meeting(session, user, meeting)
    )


async def can_invite_guests(session: AsyncSession, user: User, meeting: Meeting) -> Decision:
    """Guest links (the client without an account, an interpreter, a family member the client
    asked for) are made, listed and revoked by the staff who run the session: the client's care
    team and their supervisors, as ``runs_meeting`` says. Only for a client's own session (a case
    meeting or supervision has no guests), and only while it has not ended."""
    if meeting.kind != MeetingKind.client_session or meeting.client_id is None:
        return Decision(False, "guests join only a client's own session")
    if not await runs_meeting(session, user, meeting):
        return Decision(False, "guests are invited by the staff who run the session")
    if meeting.state == MeetingState.ended or meeting.cancelled_at is not None:
        return Decision(False, "the session has ended or was cancelled")
    return ALLOW
