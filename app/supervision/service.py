"""What the supervision modules share: the settings they read, today, the acting person, the
text-too-long problem and how a problem names its field (docs/supervision.md).

The domain is split by what a person works with: ``links`` (who supervises whom),
``check_ins`` (wellbeing check-ins, the prompt and "I'd like to talk"), ``cadence``,
``records`` (supervision records and their agreed actions), ``supervisees`` (the supervisor's
overview of their supervisees) and ``team_view``. Callers check who may act
(``auth.policies.supervision``); those modules run the SQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from app.config import Settings
from app.context import Context
from app.errors import Problem, Unprocessable
from app.supervision import rules


@dataclass(frozen=True)
class SupervisionSettings:
    """The settings this domain uses (``app.config.Settings``; docs/supervision.md)."""

    check_in_days: int = 7
    supervision_days: int = 28
    text_max_chars: int = 2000
    notes_max_chars: int = 20_000
    min_people: int = rules.MIN_PEOPLE_FLOOR
    default_weeks: int = 12
    max_weeks: int = 52

    @classmethod
    def of(cls, settings: Settings) -> SupervisionSettings:
        return cls(
            check_in_days=settings.check_in_cadence_days,
            supervision_days=settings.supervision_cadence_days,
            text_max_chars=settings.wellbeing_text_max_chars,
            notes_max_chars=settings.supervision_notes_max_chars,
            min_people=settings.team_wellbeing_min_people,
            default_weeks=settings.team_view_default_weeks,
            max_weeks=settings.team_view_max_weeks,
        )


# --- shared by the modules ------------------------------------------------------------------


def field_problem(cls: type[Problem], field: str, detail: str, message: str) -> Problem:
    """The problem, naming the field at fault and what is wrong with it."""
    return cls(detail, extra={"errors": [{"field": field, "message": message}]})


class TextTooLong(Unprocessable):
    slug, title = "text-too-long", "The text is too long"


def today_of(ctx: Context) -> date:
    return ctx.now().date()


def actor_id(ctx: Context) -> uuid.UUID:
    assert ctx.actor.user_id is not None
    return ctx.actor.user_id


def given_text(text: str | None) -> str | None:
    """Text that is only whitespace is no text."""
    return text if text is not None and text.strip() else None
