"""What staff wellbeing announces: an "I'd like to talk" from a check-in, to every current
supervisor of the person, once the check-in is stored (``wellbeing.talk_requested``); and a
check-in fallen due, to the person (``wellbeing.check_in_due``, from a scheduled job)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from app.events import Event
from app.supervision.models import WellbeingCheckIn
from realtime import protocol as p


class TalkRequested(Event):
    frame: p.TalkRequested


def talk_requested(
    *, supervisors: Iterable[uuid.UUID], check_in: WellbeingCheckIn, display_name: str
) -> TalkRequested:
    return TalkRequested(
        to=frozenset(supervisors),
        frame=p.TalkRequested(
            check_in_id=check_in.id,
            user_id=check_in.user_id,
            display_name=display_name,
            at=check_in.at,
        ),
    )


class CheckInDue(Event):
    frame: p.CheckInDue


def check_in_due(*, user_id: uuid.UUID, due_at: datetime) -> CheckInDue:
    return CheckInDue(to=frozenset({user_id}), frame=p.CheckInDue(due_at=due_at))
