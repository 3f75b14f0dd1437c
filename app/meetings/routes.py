"""Meetings over HTTP: schedule, change, cancel (with iCalendar invitations), ICE servers,
attendance, and ad-hoc calls from a conversation. Joining and the call itself go over `/ws`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request, Response, status

from app.db import SessionDep
from app.meetings import service
from app.meetings.calendar import invitation_attachment, meeting_ics
from app.meetings.ice import ice_servers
from app.meetings.models import Meeting, MeetingKind
from app.meetings.schemas import (
    AttendancePublic,
    MeetingCreate,
    MeetingPublic,
    MeetingUpdate,
)
from app.messaging.models import ConversationKind
from app.users.models import User
from auth.deps import (
    ConversationMember,
    CurrentUser,
    ManagedMeeting,
    Principal,
    RunMeeting,
    VisibleMeeting,
)
from auth.email import EmailMessage, EmailSenderDep

router = APIRouter(prefix="/meetings", tags=["meetings"])
calls = APIRouter(prefix="/conversations", tags=["meetings"])

# A neutral title in calendars and email: the meeting's own title may name a client.
CALENDAR_TITLE = "Teamwell meeting"


async def _audit(principal: Principal, meeting: Meeting, action: str) -> None:
    """Meetings about a client are part of their record: each change is audited against it."""
    await principal.audit(
        action, resource_type="meeting", resource_id=meeting.id, client_id=meeting.client_id
    )


def _ics(
    request: Request,
    meeting: Meeting,
    host: User,
    people: list[User],
    method: Literal["REQUEST", "CANCEL"],
) -> bytes:
    settings = request.app.state.settings
    return meeting_ics(
        uid=meeting.ical_uid,
        sequence=meeting.ical_sequence,
        title=CALENDAR_TITLE,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        organiser_email=host.email,
        organiser_name=host.display_name,
        attendees=[(p.email, p.display_name) for p in people],
        url=f"{settings.public_url}/#/meetings/{meeting.id}",
        description="Join from Teamwell at the time of the meeting.",
        method=method,
        now=request.app.state.clock.now(),
    )


async def _send_invitations(
    request: Request,
    session: SessionDep,
    sender: EmailSenderDep,
    meeting: Meeting,
    method: Literal["REQUEST", "CANCEL"],
) -> None:
    host = await session.get(User, meeting.host_id)
    assert host is not None
    people = list(
        (
            await service.names(
                session=session,
                user_ids=await service.invitee_ids(session=session, meeting_id=meeting.id),
            )
        ).values()
    )
    ics = _ics(request, meeting, host, people, method)
    verb = (
        "cancelled" if method == "CANCEL" else ("updated" if meeting.ical_sequence else "arranged")
    )
    for person in people:
        await sender.send(
            EmailMessage(
                to=person.email,
                subject=f"{CALENDAR_TITLE} {verb}",
                text=(
                    f"Hello {person.display_name},\n\nA meeting in Teamwell was {verb} by "
                    f"{host.display_name}. The calendar entry is attached; join from Teamwell "
                    f"at the time of the meeting.\n"
                ),
                attachments=(invitation_attachment(ics, method=method),),
            )
        )


async def _send_uninvitations(
    request: Request,
    session: SessionDep,
    sender: EmailSenderDep,
    meeting: Meeting,
    user_ids: set[uuid.UUID],
) -> None:
    """Those taken off a meeting's list get the event cancelled in their calendars (the same
    UID and SEQUENCE as the others' update), each named alone as its attendee."""
    if not user_ids:
        return
    host = await session.get(User, meeting.host_id)
    assert host is not None
    people = await service.names(session=session, user_ids=user_ids)
    for person in people.values():
        await sender.send(
            EmailMessage(
                to=person.email,
                subject=f"{CALENDAR_TITLE} cancelled",
                text=(
                    f"Hello {person.display_name},\n\n{host.display_name} changed a meeting in "
                    f"Teamwell, and you are no longer invited to it. The calendar entry attached "
                    f"removes it from your calendar.\n"
                ),
                attachments=(
                    invitation_attachment(
                        _ics(request, meeting, host, [person], "CANCEL"), method="CANCEL"
                    ),
                ),
            )
        )


@router.get("/ice-servers")
async def get_ice_servers(principal: CurrentUser, request: Request) -> list[dict[str, Any]]:
    """STUN and TURN servers for WebRTC, with short-lived TURN credentials for this person."""
    return ice_servers(
        request.app.state.settings, user_id=principal.id, now=request.app.state.clock.now()
    )


@router.get("", response_model=list[MeetingPublic])
async def list_meetings(
    principal: CurrentUser, session: SessionDep, client_id: uuid.UUID | None = None
) -> list[MeetingPublic]:
    """The caller's meetings (optionally one client's), soonest first."""
    found = await service.meetings_for(session=session, user=principal.user, client_id=client_id)
    return [await service.public(session=session, meeting=m) for m in found]


@router.post("", response_model=MeetingPublic, status_code=status.HTTP_201_CREATED)
async def create_meeting(
    body: MeetingCreate,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    sender: EmailSenderDep,
) -> MeetingPublic:
    """Arrange a case meeting, a client session or supervision; invitees get an .ics by email."""
    meeting = await service.create(
        session=session, ctx=principal.ctx, host=principal.user, data=body
    )
    await _audit(principal, meeting, "meeting.create")
    await _send_invitations(request, session, sender, meeting, "REQUEST")
    return await service.public(session=session, meeting=meeting)


@router.get("/{meeting_id}", response_model=MeetingPublic)
async def get_meeting(meeting: VisibleMeeting, session: SessionDep) -> MeetingPublic:
    """One meeting the caller may join or runs."""
    return await service.public(session=session, meeting=meeting)


@router.patch("/{meeting_id}", response_model=MeetingPublic)
async def update_meeting(
    meeting: ManagedMeeting,
    body: MeetingUpdate,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    sender: EmailSenderDep,
) -> MeetingPublic:
    """Change a meeting (its host only); calendars update the same event (same UID, higher
    SEQUENCE)."""
    invited = await service.invitee_ids(session=session, meeting_id=meeting.id)
    meeting = await service.update(session=session, ctx=principal.ctx, meeting=meeting, data=body)
    await _audit(principal, meeting, "meeting.update")
    await _send_invitations(request, session, sender, meeting, "REQUEST")
    uninvited = invited - await service.invitee_ids(session=session, meeting_id=meeting.id)
    await _send_uninvitations(request, session, sender, meeting, uninvited)
    return await service.public(session=session, meeting=meeting)


@router.post("/{meeting_id}/cancel", response_model=MeetingPublic)
async def cancel_meeting(
    meeting: ManagedMeeting,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    sender: EmailSenderDep,
) -> MeetingPublic:
    """Cancel a meeting (its host only); invitees' calendars remove the event."""
    meeting = await service.cancel(session=session, ctx=principal.ctx, meeting=meeting)
    await _audit(principal, meeting, "meeting.cancel")
    await _send_invitations(request, session, sender, meeting, "CANCEL")
    return await service.public(session=session, meeting=meeting)


@router.get("/{meeting_id}/invite.ics", response_class=Response)
async def download_ics(
    meeting: VisibleMeeting, principal: CurrentUser, session: SessionDep, request: Request
) -> Response:
    """The meeting as an iCalendar file for the caller's own calendar."""
    host = await session.get(User, meeting.host_id)
    assert host is not None
    method: Literal["REQUEST", "CANCEL"] = "CANCEL" if meeting.cancelled_at else "REQUEST"
    ics = _ics(request, meeting, host, [principal.user], method)
    return Response(
        ics,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="meeting.ics"'},
    )


@router.get("/{meeting_id}/attendance", response_model=list[AttendancePublic])
async def attendance(
    meeting: RunMeeting, principal: CurrentUser, session: SessionDep
) -> list[AttendancePublic]:
    """Who came, when they were admitted and left, and for how long (staff running it)."""
    await _audit(principal, meeting, "meeting.attendance_read")
    return await service.attendance(session=session, meeting_id=meeting.id)


@calls.post(
    "/{conversation_id}/call", response_model=MeetingPublic, status_code=status.HTTP_201_CREATED
)
async def start_call(
    conversation: ConversationMember, principal: CurrentUser, session: SessionDep
) -> MeetingPublic:
    """Start an ad-hoc call from a team conversation or a case thread; its members join."""
    if conversation.kind == ConversationKind.direct:
        raise service.Problem("Calls start from a team conversation or a case thread.")
    now = principal.ctx.now()
    kind = MeetingKind.client_session if conversation.includes_client else MeetingKind.case_meeting
    data = MeetingCreate(
        kind=kind,
        title="Call",
        client_id=conversation.client_id,
        team_id=conversation.team_id if conversation.client_id is None else None,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
    )
    meeting = await service.create(
        session=session,
        ctx=principal.ctx,
        host=principal.user,
        data=data,
        conversation_id=conversation.id,
    )
    await _audit(principal, meeting, "meeting.call")
    return await service.public(session=session, meeting=meeting)
