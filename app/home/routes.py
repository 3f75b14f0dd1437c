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
    """What the caller starts the day from, by role (docs/api.md, "Home: my day"): for everyone
    but admins the meetings of the next ``TEAMWELL_HOME_MEETINGS_HOURS``; for everyone their
    unread conversations; for staff their open alerts (a risk alert only while
    ``can_see_item_answers`` allows it), overdue journey work on their own care teams and
    whether a wellbeing check-in is due; for supervisors their supervisees' talk requests;
    for a client their next session and the questionnaires asked of them; for admins counts of
    what they administer. Each part is decided by the policy of the page it comes from, and
    reads of client records and of wellbeing are audited as there."""
    return await service.today(
        session=session,
        ctx=principal.ctx,
        user=principal.user,
        settings=request.app.state.settings,
    )
