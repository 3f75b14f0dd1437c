"""A person's day: what each role starts from after signing in (``GET /api/v1/me/today``).

Nothing here decides anew who may see what: each part comes from the service (and the named
policy) that answers it elsewhere, so the home page never shows more than the page it links
to. Admins get counts of what they administer and no clinical content."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.audit.service import AuditEntry
from app.clients import service as clients_service
from app.clients.models import ClientRecord, ProgrammeStatus
from app.config import Settings
from app.context import Context
from app.home.schemas import (
    AdminDay,
    ClientDay,
    DueWork,
    QuestionnaireDue,
    Today,
    UnreadConversation,
)
from app.ips import service as ips_service
from app.measures import links as measure_links
from app.measures import service as measures_service
from app.measures.instruments import REGISTRY
from app.meetings import service as meetings_service
from app.meetings.models import Meeting, MeetingKind, MeetingState
from app.meetings.schemas import MeetingPublic
from app.messaging import service as messaging_service
from app.supervision import check_ins as supervision_check_ins
from app.supervision.service import SupervisionSettings
from app.teams import service as teams_service
from app.users import service as users_service
from app.users.models import CLINICAL_ROLES, Role, User
from auth.invitations import service as invitations_service
from auth.policies import accounts as account_policies
from auth.policies import clients as client_policies
from auth.policies import supervision as supervision_policies


def upcoming(meetings: list[Meeting], now: datetime, until: datetime | None) -> list[Meeting]:
    """Meetings still to come or under way (not cancelled, not ended), starting before
    ``until`` (``None``: whenever), soonest first."""
    return [
        m
        for m in meetings
        if m.cancelled_at is None
        and m.state != MeetingState.ended
        and m.ends_at > now
        and (until is None or m.starts_at < until)
    ]


async def _meetings(
    session: AsyncSession, user: User, now: datetime, hours: int
) -> tuple[list[MeetingPublic], Meeting | None]:
    """The meetings of the next ``hours`` and (for a client) their next session, whenever."""
    found = await meetings_service.meetings_for(session=session, user=user)
    if user.role == Role.client:
        # A client joins their sessions and what they are invited to, not the care team's
        # meetings about them (as "Your sessions" on their record).
        found = [
            m
            for m in found
            if m.kind == MeetingKind.client_session
            or user.id in await meetings_service.invitee_ids(session=session, meeting_id=m.id)
        ]
    coming = upcoming(found, now, None)
    soon = [m for m in coming if m.starts_at < now + timedelta(hours=hours)]
    sessions = [m for m in coming if m.kind == MeetingKind.client_session]
    views = [await meetings_service.public(session=session, meeting=m) for m in soon]
    return views, sessions[0] if sessions else None


async def _unread(session: AsyncSession, user: User) -> list[UnreadConversation]:
    conversations = await messaging_service.conversations_of(session=session, user=user)
    counts = await messaging_service.unread_counts(
        session=session, user_id=user.id, conversations=conversations
    )
    waiting = {c.conversation_id: c.unread for c in counts if c.unread > 0}
    with_unread = [c for c in conversations if c.id in waiting]
    titles = await messaging_service.titles(session=session, user=user, conversations=with_unread)
    return [
        UnreadConversation(conversation_id=c.id, title=titles[c.id], unread=waiting[c.id])
        for c in with_unread
    ]


async def _due_work(session: AsyncSession, ctx: Context, user: User) -> list[DueWork]:
    """What is due or overdue on the journeys of the open cases on the person's own care teams
    (the work the journey alerts go to them for; supervisors see their supervisees' cases on
    the supervision page). Each client listed is an audited read of their record."""
    mine = await clients_service.on_care_team_of(session=session, user_id=user.id)
    open_cases = [c for c in mine if c.status != ProgrammeStatus.closed]
    readable = await client_policies.readable_clients(session, user, open_cases)
    today = ips_service.today_of(ctx)
    work: list[DueWork] = []
    shown: list[ClientRecord] = []
    for client in readable:
        due = ips_service.due_alerts(await ips_service.facts(session=session, client=client), today)
        if due:
            shown.append(client)
        work.extend(
            DueWork(
                client_id=client.id,
                client_name=client.display_name,
                kind=item.kind,
                due_on=item.due_on,
                days_past_due=item.days_past_due,
                overdue=item.overdue,
                detail=item.detail,
            )
            for item in due
        )
    await audit_service.record_many(
        session,
        ctx,
        [
            AuditEntry(
                action="home.due_work",
                resource_type="client",
                resource_id=client.id,
                client_id=client.id,
            )
            for client in shown
        ],
    )
    work.sort(key=lambda w: (not w.overdue, w.due_on, w.client_name))
    return work


async def _client_day(
    session: AsyncSession, ctx: Context, user: User, next_session: Meeting | None
) -> ClientDay | None:
    record = await clients_service.own_record(session=session, user_id=user.id)
    if record is None:
        return None
    waiting = await measure_links.open_for_client(
        session=session, client_id=record.id, now=ctx.now()
    )
    await audit_service.record(
        session,
        ctx,
        action="home.read",
        resource_type="client",
        resource_id=record.id,
        client_id=record.id,
    )
    seen: set[str] = set()
    due = []
    for link in waiting:  # one per questionnaire: the care team may have asked twice
        if link.instrument in seen or link.instrument not in REGISTRY:
            continue
        seen.add(link.instrument)
        due.append(
            QuestionnaireDue(
                instrument=link.instrument,
                name=REGISTRY[link.instrument].name,
                expires_at=link.expires_at,
            )
        )
    return ClientDay(
        client_id=record.id,
        display_name=record.display_name,
        next_session=(
            await meetings_service.public(session=session, meeting=next_session)
            if next_session is not None
            else None
        ),
        questionnaires_due=due,
    )


async def _admin_day(session: AsyncSession, ctx: Context, user: User) -> AdminDay:
    active, inactive = await users_service.count_accounts(
        session=session, organisation_id=user.organisation_id
    )
    return AdminDay(
        pending_invitations=await invitations_service.count_pending(
            session=session, organisation_id=user.organisation_id, now=ctx.now()
        ),
        active_accounts=active,
        inactive_accounts=inactive,
        teams=await teams_service.count_for_organisation(
            session=session, organisation_id=user.organisation_id
        ),
    )


async def today(*, session: AsyncSession, ctx: Context, user: User, settings: Settings) -> Today:
    """The caller's day, by role (see ``docs/api.md``, "Home: my day")."""
    now = ctx.now()
    clinical = bool(client_policies.sees_clinical_content(user))
    meetings: list[MeetingPublic] | None = None
    next_session: Meeting | None = None
    if clinical:
        meetings, next_session = await _meetings(session, user, now, settings.home_meetings_hours)
    alerts = None
    if clinical and account_policies.is_staff(user):
        visible = await measures_service.visible_alerts(
            session=session, user=user, include_acknowledged=False
        )
        alerts = [measures_service.alert_public(alert, client) for alert, client in visible]
    check_in = None
    if supervision_policies.can_check_in(user):
        check_in = await supervision_check_ins.prompt(
            session=session,
            ctx=ctx,
            user_id=user.id,
            settings=SupervisionSettings.of(settings),
        )
    talk_requests = None
    if supervision_policies.can_supervise(user):
        talk_requests = await supervision_check_ins.supervisees_talk_requests(
            session=session, ctx=ctx, supervisor_id=user.id, include_acknowledged=False
        )
    return Today(
        role=user.role,
        now=now,
        meetings=meetings,
        unread=await _unread(session, user),
        alerts=alerts,
        due_work=(await _due_work(session, ctx, user) if user.role in CLINICAL_ROLES else None),
        check_in=check_in,
        talk_requests=talk_requests,
        client=(
            await _client_day(session, ctx, user, next_session)
            if user.role == Role.client
            else None
        ),
        admin=(
            await _admin_day(session, ctx, user)
            if account_policies.can_manage_accounts(user)
            else None
        ),
    )
