"""Quarterly targets per team and area cluster, and progress against them (docs/reports.md,
"Targets"). Set by the scope's report readers (its supervisors and admins); every setting and
reading is audited."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from app.db import SessionDep
from app.reports import service as reports_service
from app.reports import targets
from app.reports.service import Scope, ScopeKind
from auth.deps import Principal, ReportReader, refuse
from auth.policies import reports as report_policies

router = APIRouter(prefix="/reports/targets", tags=["reports"])


async def _scope(
    session: SessionDep, principal: Principal, kind: str, scope_id: str, action: str
) -> Scope:
    scope = await reports_service.resolve_scope(
        session=session, kind=ScopeKind(kind), scope_id=scope_id
    )
    decision = await report_policies.can_read_report_scope(
        session,
        principal.user,
        kind=scope.kind,
        organisation_ids=scope.organisation_ids,
        team_ids=scope.team_ids,
    )
    if not decision:
        raise await refuse(
            session,
            principal,
            action=action,
            resource_type="report",
            resource_id=f"{scope.kind}:{scope.id}",
            reason=decision.reason,
        )
    return scope


@router.put("", response_model=targets.TargetsReport)
async def set_target(
    body: targets.TargetSet, principal: ReportReader, session: SessionDep, request: Request
) -> targets.TargetsReport:
    """Set (or replace) one measure's target for a team or an area cluster and a quarter; answers
    the scope's progress for that quarter. A target of 0 is a target of nothing; an off-flow
    target is stored before the figure exists."""
    scope = await _scope(session, principal, body.scope, body.scope_id, "report.target_set")
    targets.quarter_days(body.quarter)
    await targets.set_target(
        session=session, body=body, scope=scope, user_id=principal.id, now=principal.ctx.now()
    )
    await principal.audit(
        "report.target_set",
        resource_type="report",
        resource_id=f"{scope.kind}:{scope.id}",
        detail=f"{body.quarter} {body.measure.value}: {body.target}",
    )
    return await targets.progress(
        session=session,
        scope=scope,
        kind=body.scope,
        quarter=body.quarter,
        today=principal.ctx.now().date(),
        threshold=request.app.state.settings.report_suppression_threshold,
        window_days=request.app.state.settings.benefit_restart_window_days,
    )


@router.get("", response_model=targets.TargetsReport)
async def target_progress(
    principal: ReportReader,
    session: SessionDep,
    request: Request,
    scope: Annotated[Literal["team", "area_cluster"], Query(description="team or area_cluster")],
    scope_id: Annotated[str, Query(min_length=1, max_length=100)],
    quarter: Annotated[str, Query(min_length=7, max_length=7, description="YYYY-Qn")],
) -> targets.TargetsReport:
    """Each measure's target for the quarter (null when none is set) beside the count so far,
    with the programme report's suppression; off-flow counts the report's benefit off-flows."""
    found = await _scope(session, principal, scope, scope_id, "report.targets")
    report = await targets.progress(
        session=session,
        scope=found,
        kind=scope,
        quarter=quarter,
        today=principal.ctx.now().date(),
        threshold=request.app.state.settings.report_suppression_threshold,
        window_days=request.app.state.settings.benefit_restart_window_days,
    )
    await principal.audit(
        "report.targets",
        resource_type="report",
        resource_id=f"{found.kind}:{found.id}",
        detail=quarter,
    )
    return report
