"""The supervisees overview: for each of a supervisor's current supervisees, whether
supervision and a check-in are due, their open actions and talk requests (docs/supervision.md).
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.context import Context
from app.supervision import rules
from app.supervision.cadence import cadence
from app.supervision.check_ins import last_check_in_at, talk_requests
from app.supervision.models import SupervisionAction, SupervisionRecord
from app.supervision.records import action_overdue, last_supervision_on
from app.supervision.schemas import SuperviseeOverview, TalkRequestPublic
from app.supervision.service import SupervisionSettings, today_of
from app.users.models import SupervisionLink, User
from auth.policies import supervision as supervision_policies


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
