"""The team view: the team's wellbeing over time (withheld when too few answered), caseloads,
overdue work, open alerts and presence, as aggregates and counts (docs/supervision.md).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.alerts.models import Alert, AlertKind
from app.clients.models import ClientRecord, ProgrammeStatus
from app.context import Context
from app.errors import Unprocessable
from app.ips import service as ips_service
from app.supervision import rules
from app.supervision.models import WellbeingCheckIn
from app.supervision.schemas import (
    AlertCount,
    MemberPresence,
    OverdueWork,
    TeamOverview,
    WellbeingWeek,
)
from app.supervision.service import SupervisionSettings, field_problem, today_of
from app.teams import service as teams_service
from app.teams.models import Team
from app.users.models import Role, User
from realtime.presence_store import PresenceStore, PresenceUnavailable


class InvalidPeriod(Unprocessable):
    slug, title = "invalid-period", "The period cannot be shown"


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def team_period(
    today: date, period_from: date | None, period_to: date | None, settings: SupervisionSettings
) -> tuple[date, date]:
    """The days the team view covers: by default the last ``default_weeks`` ISO weeks up to
    today; never after today, never more than ``max_weeks`` weeks."""
    last = period_to or today
    if last > today:
        raise field_problem(
            InvalidPeriod,
            "query.to",
            f"to is {last.isoformat()}, after today ({today.isoformat()}).",
            "after today",
        )
    default_weeks = min(settings.default_weeks, settings.max_weeks)
    first = period_from or _monday(last) - timedelta(weeks=default_weeks - 1)
    if first > last:
        raise field_problem(InvalidPeriod, "query.from", "from must not be after to.", "after to")
    weeks = (_monday(last) - _monday(first)).days // 7 + 1
    if weeks > settings.max_weeks:
        raise field_problem(
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
