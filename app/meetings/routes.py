"""Meetings over HTTP: schedule, change, cancel (with iCalendar invitations), ICE servers,
attendance, and ad-hoc calls from a conversation. Joining and the call itself go over `/ws`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request, Response, status

from app.audit import service as audit_service
from app.audit.models import Outcome
from app.clients.models import ClientRecord
from app.config import Settings
from app.context import Context
from app.db import SessionDep
from app.errors import Problem
from app.meetings import guests, service
from app.meetings.calendar import invitation_attachment, meeting_ics
from app.meetings.ice import ice_servers
from app.meetings.models import GuestKind, GuestLink, Meeting, MeetingKind
from app.meetings.schemas import (
    AttendancePublic,
    GuestCredential,
    GuestJoin,
    GuestLinkCreate,
    GuestLinkCreated,
    GuestLinkOpened,
    GuestLinkPublic,
    MeetingCreate,
    MeetingPublic,
    MeetingUpdate,
)
from app.messaging.models import ConversationKind
from app.notifications import link_texts
from app.users.models import User
from auth.deps import (
    AnonymousContext,
    ConversationMember,
    CurrentUser,
    GuestInviter,
    ManagedMeeting,
    Principal,
    RunMeeting,
    RuntimeDep,
    VisibleMeeting,
)
from auth.email import EmailMessage, EmailSenderDep
from auth.tokens import guest_token

router = APIRouter(prefix="/meetings", tags=["meetings"])
calls = APIRouter(prefix="/conversations", tags=["meetings"])
# Opened by a guest without an account (app/meetings/guests.py): no bearer token.
guest_links = APIRouter(prefix="/guest-links", tags=["meetings"])

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


# --- guest links (docs/meetings.md, "Guest links") ----------------------------------------------


def _guest_rules(settings: Settings) -> guests.Rules:
    return guests.Rules(
        open_minutes_before=settings.guest_link_open_minutes_before,
        close_minutes_after=settings.guest_link_close_minutes_after,
        max_attempts=settings.guest_link_max_attempts,
        credential_minutes=settings.guest_credential_minutes,
    )


def _guest_view(link: GuestLink, meeting: Meeting, rules: guests.Rules) -> GuestLinkPublic:
    span = guests.window(meeting, rules)
    return GuestLinkPublic(
        id=link.id,
        meeting_id=link.meeting_id,
        kind=link.kind,
        guest_name=link.guest_name,
        created_at=link.created_at,
        opens_at=span.opens_at,
        closes_at=span.closes_at,
        used_at=link.used_at,
        revoked_at=link.revoked_at,
        failed_attempts=link.failed_attempts,
    )


@router.post(
    "/{meeting_id}/guest-links",
    response_model=GuestLinkCreated,
    status_code=status.HTTP_201_CREATED,
)
async def create_guest_link(
    body: GuestLinkCreate,
    meeting: GuestInviter,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    sender: EmailSenderDep,
    sms_sender: link_texts.SmsSenderDep,
) -> GuestLinkCreated:
    """A one-time link into this client session's lobby, for the client without an account,
    an interpreter, or a family member the client asked for (the staff who run the session).
    The link and its short code are returned only here; the link is emailed when an address is
    given (or, for the client, to their login email), and texted to ``sms_to`` (or, with
    ``sms``, to the client's own mobile on record) where the service sends SMS."""
    settings: Settings = request.app.state.settings
    rules = _guest_rules(settings)
    text = None
    if body.sms or body.sms_to is not None:
        if body.sms_to is None and body.kind != GuestKind.client:
            raise link_texts.SmsNumberMissing("Give the mobile number to text the link to.")
        # Checked before the link is made: a text that cannot go leaves no link behind.
        text = await link_texts.plan(
            session=session,
            ctx=principal.ctx,
            settings=settings,
            client=await guests.client_of(session=session, meeting=meeting),
            number=body.sms_to,
            action="guest_link.sms",
        )
    link, token, code = await guests.create(
        session=session,
        ctx=principal.ctx,
        meeting=meeting,
        by=principal.id,
        kind=body.kind,
        guest_name=body.guest_name,
    )
    await principal.audit(
        "guest_link.create",
        resource_type="guest_link",
        resource_id=link.id,
        client_id=meeting.client_id,
        detail=f"{link.kind} for meeting {meeting.id}",
    )
    url = guests.link_url(settings.public_url, token)
    # The text first: should it fail, nothing was emailed with a link that is not kept.
    if text is not None:
        assert meeting.client_id is not None  # a client session
        await link_texts.send(
            session=session,
            ctx=principal.ctx,
            sender=sms_sender,
            text=text,
            client_id=meeting.client_id,
            resource_type="guest_link",
            resource_id=link.id,
            title=link_texts.GUEST_LINK_TITLE,
            link=url,
        )
    to = body.email
    if to is None and body.kind == GuestKind.client:
        to = await guests.client_login_email(session=session, meeting=meeting)
    if to is not None:
        await guests.send(
            sender=sender, to=to, link=link, url=url, span=guests.window(meeting, rules)
        )
    view = _guest_view(link, meeting, rules)
    return GuestLinkCreated(
        **view.model_dump(), link=url, code=code, emailed=to is not None, texted=text is not None
    )


@router.get("/{meeting_id}/guest-links", response_model=list[GuestLinkPublic])
async def list_guest_links(
    meeting: GuestInviter, principal: CurrentUser, session: SessionDep, request: Request
) -> list[GuestLinkPublic]:
    """The session's guest links, oldest first, with whether each was used or revoked."""
    rules = _guest_rules(request.app.state.settings)
    links = await guests.for_meeting(session=session, meeting_id=meeting.id)
    return [_guest_view(link, meeting, rules) for link in links]


@router.delete("/{meeting_id}/guest-links/{link_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_guest_link(
    link_id: uuid.UUID, meeting: GuestInviter, principal: CurrentUser, session: SessionDep
) -> Response:
    """Withdraw a guest link: it stops working at once (revoking twice is the same as once)."""
    link = await guests.get(session=session, meeting_id=meeting.id, link_id=link_id)
    await guests.revoke(session=session, ctx=principal.ctx, link=link)
    await principal.audit(
        "guest_link.revoke",
        resource_type="guest_link",
        resource_id=link.id,
        client_id=meeting.client_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _refuse_guest(
    session: SessionDep,
    ctx: Context,
    problem: Problem,
    *,
    link: GuestLink | None,
    meeting: Meeting | None,
) -> Problem:
    """Audit a refused guest (outcome ``denied``) and keep it, with any failed attempt counted,
    though the request then fails: a refusal is recorded like any join."""
    await audit_service.record(
        session,
        ctx,
        action="guest_link.refused",
        resource_type="guest_link",
        resource_id=link.id if link else None,
        client_id=meeting.client_id if meeting else None,
        outcome=Outcome.denied,
        detail=problem.slug,
    )
    await session.commit()
    return problem


async def _usable_link(
    session: SessionDep, ctx: Context, token: str, rules: guests.Rules
) -> tuple[GuestLink, Meeting, ClientRecord]:
    try:
        link = await guests.by_token(session=session, token=token)
    except guests.GuestLinkNotFound as missing:
        raise await _refuse_guest(session, ctx, missing, link=None, meeting=None) from None
    meeting, client = await guests.meeting_and_client(session=session, link=link)
    refused = guests.refusal(link, meeting, rules, ctx.now())
    if refused is not None:
        raise await _refuse_guest(session, ctx, refused, link=link, meeting=meeting)
    return link, meeting, client


@guest_links.get("/{token}", response_model=GuestLinkOpened)
async def open_guest_link(
    token: str, session: SessionDep, ctx: AnonymousContext, request: Request
) -> GuestLinkOpened:
    """What a guest link is for, before the guest says who they are (no sign-in): its times,
    and no names. Unknown links answer 404; used, revoked, locked or expired ones 410; one not
    yet open 409. Each refusal is audited."""
    rules = _guest_rules(request.app.state.settings)
    link, meeting, _client = await _usable_link(session, ctx, token, rules)
    span = guests.window(meeting, rules)
    return GuestLinkOpened(
        kind=link.kind,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        opens_at=span.opens_at,
        closes_at=span.closes_at,
    )


@guest_links.post("/{token}/join", response_model=GuestCredential)
async def join_as_guest(
    token: str,
    body: GuestJoin,
    session: SessionDep,
    ctx: AnonymousContext,
    request: Request,
    runtime: RuntimeDep,
) -> GuestCredential:
    """Say who you are (first name, or the short code) and get a credential for this one
    meeting's lobby. A wrong name or code answers 403 and counts against the link; after
    ``guest_link_max_attempts`` of them the link is locked (410). The link is then used up."""
    rules = _guest_rules(request.app.state.settings)
    link, meeting, client = await _usable_link(session, ctx, token, rules)
    matched = (
        guests.name_matches(guests.expected_name(link, client), body.name)
        if body.name is not None
        else guests.code_matches(link, body.code or "")
    )
    if not matched:
        failures = await guests.count_failure(session=session, link=link)
        left = max(0, rules.max_attempts - failures)
        refused = guests.GuestNameRefused(
            "That does not match. Check the spelling, or use the code you were sent."
            if left
            else "That does not match, and the link is now locked. Ask for a new one.",
            extra={"attempts_left": left},
        )
        raise await _refuse_guest(session, ctx, refused, link=link, meeting=meeting)
    await guests.spend(session=session, ctx=ctx, link=link)
    await audit_service.record(
        session,
        ctx,
        action="guest_link.use",
        resource_type="meeting",
        resource_id=meeting.id,
        client_id=meeting.client_id,
        detail=f"{link.kind} by link {link.id}",
    )
    now = ctx.now()
    expires = min(
        now + timedelta(minutes=rules.credential_minutes), guests.window(meeting, rules).closes_at
    )
    credential = guest_token(
        runtime.signer, link_id=link.id, meeting_id=meeting.id, now=now, lifetime=expires - now
    )
    return GuestCredential(
        credential=credential,
        expires_at=expires,
        meeting_id=meeting.id,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        kind=link.kind,
        name=guests.guest_label(link, client),
    )
