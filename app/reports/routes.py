"""Programme reports for a team, an organisation or an area cluster over a period: referrals,
engagement, job entries and sustainment, time to first employer contact, recovery and reliable
improvement, and diversion-pathway uptake, each with its definition; split by evaluation arm
when asked; exported as CSV or JSON. Only aggregates leave, with small numbers suppressed
(``docs/reports.md``). Every report read and export is audited.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from app.db import SessionDep
from app.reports import definitions, service
from app.reports.schemas import DefinitionPublic, ProgrammeReport, ReportScopes
from app.reports.service import ScopeKind
from auth.deps import Principal, ReportReader, refuse_unless
from auth.policies import reports as report_policies

router = APIRouter(prefix="/reports", tags=["reports"])

ScopeQuery = Annotated[ScopeKind, Query(description="team, organisation or area_cluster")]
ScopeIdQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=100,
        description="The team's id, the organisation's id or slug, or the area cluster's name",
    ),
]
FromQuery = Annotated[date, Query(alias="from", description="First day of the period")]
ToQuery = Annotated[date, Query(alias="to", description="Last day of the period (inclusive)")]
SplitQuery = Annotated[
    Literal["arm"] | None, Query(description="arm: also give each figure by evaluation arm")
]


async def _report(
    request: Request,
    session: SessionDep,
    principal: Principal,
    *,
    action: str,
    kind: ScopeKind,
    scope_id: str,
    first_day: date,
    last_day: date,
    split: str | None,
    detail: str = "",
) -> ProgrammeReport:
    settings = request.app.state.settings
    today = principal.ctx.now().date()
    service.check_period(first_day, last_day, max_days=settings.report_max_period_days, today=today)
    scope = await service.resolve_scope(session=session, kind=kind, scope_id=scope_id)
    decision = await report_policies.can_read_report_scope(
        session,
        principal.user,
        kind=scope.kind,
        organisation_ids=scope.organisation_ids,
        team_ids=scope.team_ids,
    )
    await refuse_unless(
        decision,
        session,
        principal,
        action=action,
        resource_type="report",
        resource_id=f"{scope.kind}:{scope.id}",
    )
    report = await service.programme_report(
        session=session,
        scope=scope,
        first_day=first_day,
        last_day=last_day,
        today=today,
        now=principal.ctx.now(),
        threshold=settings.report_suppression_threshold,
        by_arm=split == "arm",
        window_days=settings.benefit_restart_window_days,
        competitive_only=settings.sustainment_competitive_only,
    )
    await principal.audit(
        action,
        resource_type="report",
        resource_id=f"{scope.kind}:{scope.id}",
        detail=f"{first_day.isoformat()} to {last_day.isoformat()}"
        + (", by arm" if split == "arm" else "")
        + detail,
    )
    return report


@router.get("/definitions", response_model=list[DefinitionPublic])
async def list_definitions(principal: ReportReader) -> list[DefinitionPublic]:
    """Every programme-report figure with its definition, in report order."""
    return [service.definition_public(d) for d in definitions.DEFINITIONS]


@router.get("/scopes", response_model=ReportScopes)
async def list_scopes(principal: ReportReader, session: SessionDep) -> ReportScopes:
    """The teams, organisation and area clusters you may report on: a supervisor's own teams
    and their clusters, an admin's organisation and its teams; and your own organisation."""
    return await service.readable_scopes(session=session, reader=principal.user)


@router.get("/programme", response_model=ProgrammeReport)
async def programme_report(
    request: Request,
    principal: ReportReader,
    session: SessionDep,
    scope: ScopeQuery,
    scope_id: ScopeIdQuery,
    first_day: FromQuery,
    last_day: ToQuery,
    split: SplitQuery = None,
) -> ProgrammeReport:
    """The programme report for a scope over the period ``from``..``to`` (both inclusive;
    figures are counted to ``to`` or today, whichever is earlier), with each figure's
    definition, numerator and denominator; ``split=arm`` adds each figure by evaluation arm.
    Small numbers are withheld (see ``suppression``)."""
    return await _report(
        request,
        session,
        principal,
        action="report.read",
        kind=scope,
        scope_id=scope_id,
        first_day=first_day,
        last_day=last_day,
        split=split,
    )


@router.get(
    "/programme/export",
    responses={
        200: {
            "content": {"text/csv": {}, "application/json": {}},
            "description": "The report as a file (Content-Disposition names it)",
        }
    },
)
async def export_programme_report(
    request: Request,
    principal: ReportReader,
    session: SessionDep,
    scope: ScopeQuery,
    scope_id: ScopeIdQuery,
    first_day: FromQuery,
    last_day: ToQuery,
    split: SplitQuery = None,
    export_format: Annotated[Literal["csv", "json"], Query(alias="format")] = "csv",
) -> Response:
    """The same report as a file to download: ``format=csv`` (one row per figure and group,
    withheld cells empty) or ``format=json`` (the report's JSON). Aggregates only, with the
    same suppression."""
    report = await _report(
        request,
        session,
        principal,
        action="report.export",
        kind=scope,
        scope_id=scope_id,
        first_day=first_day,
        last_day=last_day,
        split=split,
        detail=f", {export_format}",
    )
    if export_format == "csv":
        body, media_type = service.to_csv(report), "text/csv; charset=utf-8"
    else:
        body = json.dumps(report.model_dump(mode="json", by_alias=True), indent=2)
        media_type = "application/json"
    name = service.filename(report, export_format)
    return Response(
        content=body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
