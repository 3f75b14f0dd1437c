"""Quarterly targets and progress against them (docs/reports.md, "Targets").

A target is a number for one figure, one scope (a team or an area cluster) and one calendar
quarter. Progress is the figure counted over the quarter to today, with the programme report's
suppression. Off-flow progress is the report's ``benefit_off_flows`` figure, computed from
the clients' benefit histories with the configured restart window.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.reports import definitions
from app.reports.models import ReportTarget
from app.reports.service import InvalidReportRequest, Scope, client_facts
from app.supervision.rules import suppress

QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
MAX_TARGET: Final = 100_000


class TargetMeasure(StrEnum):
    referrals = "referrals"
    job_entries = "job_entries"
    sustained_13_weeks = "sustained_13_weeks"
    off_flow = "off_flow"


# What each measure counts in the programme report's terms: (figure, which count).
MEASURED: Final[dict[TargetMeasure, tuple[str, Literal["numerator"]]]] = {
    TargetMeasure.referrals: ("referrals", "numerator"),
    TargetMeasure.job_entries: ("job_entries", "numerator"),
    TargetMeasure.sustained_13_weeks: ("sustained_13_weeks", "numerator"),
    TargetMeasure.off_flow: ("benefit_off_flows", "numerator"),
}


def quarter_days(quarter: str) -> tuple[date, date]:
    """The first and last day of ``2026-Q4``-style quarter."""
    found = QUARTER.match(quarter)
    if found is None:
        message = "must be a quarter written YYYY-Qn, n from 1 to 4 (2026-Q4)"
        raise InvalidReportRequest(
            f"quarter: {message}", extra={"errors": [{"field": "quarter", "message": message}]}
        )
    year, number = int(found.group(1)), int(found.group(2))
    first = date(year, 3 * number - 2, 1)
    following = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return first, following - timedelta(days=1)


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


class TargetSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["team", "area_cluster"]
    scope_id: str = Field(min_length=1, max_length=100)
    quarter: str = Field(min_length=7, max_length=7, description="YYYY-Qn, e.g. 2026-Q4")
    measure: TargetMeasure
    target: StrictInt = Field(ge=0, le=MAX_TARGET)


class TargetProgress(BaseModel):
    measure: TargetMeasure
    target: int | None = Field(description="Null when no target is set for this measure")
    actual: int | None = Field(
        description="The count so far in the quarter; null when withheld (1 to threshold - 1)"
    )
    status: Literal["measured", "suppressed"]
    set_by: str | None = None
    set_at: datetime | None = None


class TargetsReport(BaseModel):
    scope: Literal["team", "area_cluster"]
    scope_id: str
    scope_name: str
    quarter: str
    first_day: date
    last_day: date
    as_of: date
    progress: list[TargetProgress]


async def set_target(
    *, session: AsyncSession, body: TargetSet, scope: Scope, user_id: uuid.UUID, now: datetime
) -> ReportTarget:
    quarter_days(body.quarter)
    found = (
        await session.exec(
            select(ReportTarget).where(
                ReportTarget.scope_kind == body.scope,
                ReportTarget.scope_id == scope.id,
                ReportTarget.quarter == body.quarter,
                ReportTarget.measure == body.measure.value,
            )
        )
    ).first()
    if found is None:
        found = ReportTarget(
            scope_kind=body.scope,
            scope_id=scope.id,
            quarter=body.quarter,
            measure=body.measure.value,
            target=body.target,
            set_by=user_id,
            set_at=now,
        )
    else:
        found.target, found.set_by, found.set_at = body.target, user_id, now
    session.add(found)
    await session.commit()
    return found


async def progress(
    *,
    session: AsyncSession,
    scope: Scope,
    kind: Literal["team", "area_cluster"],
    quarter: str,
    today: date,
    threshold: int,
    window_days: int,
) -> TargetsReport:
    first_day, last_day = quarter_days(quarter)
    as_of = max(first_day, definitions.as_of_day(last_day, today))
    rows = {
        t.measure: t
        for t in await session.exec(
            select(ReportTarget).where(
                ReportTarget.scope_kind == kind,
                ReportTarget.scope_id == scope.id,
                ReportTarget.quarter == quarter,
            )
        )
    }
    tallies = (
        definitions.tally(
            await client_facts(
                session=session, team_ids=scope.team_ids, first_day=first_day, as_of=as_of
            ),
            first_day=first_day,
            as_of=as_of,
            window_days=window_days,
        )
        if today >= first_day
        else None
    )
    found = []
    for measure in TargetMeasure:
        row = rows.get(measure.value)
        actual: int | None = 0  # a quarter still ahead: nothing yet
        if tallies is not None:
            count = tallies[MEASURED[measure][0]].numerator or 0
            actual = suppress(count, threshold=threshold)
        status: Literal["measured", "suppressed"] = (
            "measured" if actual is not None else "suppressed"
        )
        found.append(
            TargetProgress(
                measure=measure,
                target=row.target if row else None,
                actual=actual,
                status=status,
                set_by=str(row.set_by) if row else None,
                set_at=row.set_at if row else None,
            )
        )
    return TargetsReport(
        scope=kind,
        scope_id=scope.id,
        scope_name=scope.name,
        quarter=quarter,
        first_day=first_day,
        last_day=last_day,
        as_of=as_of,
        progress=found,
    )
