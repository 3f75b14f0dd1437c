"""The home page's one read: the caller's day."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.db import SessionDep
from app.home import service
from app.home.schemas import Today
from auth.deps import CurrentUser

router = APIRouter(prefix="/me", tags=["home"])


@router.get("/today", response_model=Today)
async def my_day(principal: CurrentUser, session: SessionDep, request: Request) -> Today:
    """What the caller starts the day from, by role: the meetings of the next
    ``TEAMWELL_HOME_MEETINGS_HOURS`` with unread conversations for everyone signed in but
    admins (who get the conversations and counts of what they administer); for staff their
    open alerts (risk alerts only while ``can_see_item_answers`` allows), overdue journey work
    on their care teams and whether a wellbeing check-in is due; for supervisors their
    supervisees' talk requests; for a client their next session and the questionnaires asked
    of them. Each part is decided by the policy of the page it comes from, and reads of client
    records and of wellbeing are audited as there."""
    return await service.today(
        session=session,
        ctx=principal.ctx,
        user=principal.user,
        settings=request.app.state.settings,
    )
