"""Equality monitoring (docs/equality.md): the client's own optional answers, and programme
figures by group for report readers. No route returns one client's answers to a member of
staff: staff may enter them, on the client's consent, and get nothing back but 204. Every
read, change and refusal is audited, never with the answers in the detail."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.db import SessionDep
from app.equality import service
from app.equality.schemas import EqualityAnswers, EqualityPublic, StaffEqualityEntry
from app.evaluation.routes import KeyringDep
from app.reports import service as reports_service
from app.reports.equality import EqualityReport, equality_report
from app.reports.service import ScopeKind
from auth.deps import ChangeableClient, Principal, ReportReader, refuse, require
from auth.policies import equality as equality_policies
from auth.policies import reports as report_policies

router = APIRouter(tags=["equality"])

OwnAnswerer = Annotated[
    Principal, Depends(require(equality_policies.can_answer_own, "equality.own"))
]

Characteristic = Literal[
    "age_band",
    "sex",
    "gender_identity",
    "ethnicity",
    "disability",
    "young_not_in_education_employment_training",
    "conviction",
    "insecure_housing",
]


async def _own_record(session: SessionDep, principal: Principal) -> ClientRecord:
    record = await clients_service.own_record(session=session, user_id=principal.id)
    if record is None:
        raise service.NoClientRecord("Your login has no client record.")
    return record


@router.get("/me/equality", response_model=EqualityPublic)
async def my_equality(
    principal: OwnAnswerer, session: SessionDep, keyring: KeyringDep
) -> EqualityPublic:
    """The signed-in client's own equality answers (every one null while none are given)."""
    record = await _own_record(session, principal)
    found = await service.own_answers(session=session, keyring=keyring, client_id=record.id)
    await principal.audit(
        "equality.read_own",
        resource_type="client",
        resource_id=record.id,
        client_id=record.id,
    )
    return found


@router.put("/me/equality", response_model=EqualityPublic)
async def answer_my_equality(
    body: EqualityAnswers, principal: OwnAnswerer, session: SessionDep, keyring: KeyringDep
) -> EqualityPublic:
    """Give or change one's own answers: every question optional, each with
    `prefer_not_to_say`; what is sent replaces what was there. Giving them is the consent."""
    record = await _own_record(session, principal)
    await service.save(
        session=session,
        keyring=keyring,
        client_id=record.id,
        answers=body,
        entered_by="client",
        consent_by=principal.id,
        now=principal.ctx.now(),
    )
    await principal.audit(
        "equality.answer",
        resource_type="client",
        resource_id=record.id,
        client_id=record.id,
        detail="by the client",
    )
    return await service.own_answers(session=session, keyring=keyring, client_id=record.id)


@router.delete("/me/equality", status_code=status.HTTP_204_NO_CONTENT)
async def withdraw_my_equality(principal: OwnAnswerer, session: SessionDep) -> Response:
    """Withdraw: the answers are deleted (no copy is kept); later reports count the client as
    `not_recorded`. 204 whether or not there were any."""
    record = await _own_record(session, principal)
    removed = await service.withdraw(session=session, client_id=record.id)
    await principal.audit(
        "equality.withdraw",
        resource_type="client",
        resource_id=record.id,
        client_id=record.id,
        detail="answers deleted" if removed else "none held",
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/clients/{client_id}/equality", status_code=status.HTTP_204_NO_CONTENT)
async def enter_client_equality(
    body: StaffEqualityEntry, access: ChangeableClient, session: SessionDep, keyring: KeyringDep
) -> Response:
    """A member of the care team enters the client's answers for them, with the client's consent
    (`client_consents: true`, recorded with who and when). Write-only: the answers are never
    returned to staff, here or anywhere (204 with no body)."""
    await service.save(
        session=session,
        keyring=keyring,
        client_id=access.client.id,
        answers=body.answers,
        entered_by="staff",
        consent_by=access.principal.id,
        now=access.ctx.now(),
    )
    await access.audit(
        "equality.answer",
        resource_type="client",
        resource_id=access.client.id,
        client_id=access.client.id,
        detail="by staff, on the client's consent",
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/reports/equality", response_model=EqualityReport)
async def report_by_equality_group(
    request: Request,
    principal: ReportReader,
    session: SessionDep,
    keyring: KeyringDep,
    scope: Annotated[ScopeKind, Query(description="team, organisation or area_cluster")],
    scope_id: Annotated[str, Query(min_length=1, max_length=100)],
    characteristic: Characteristic,
    first_day: Annotated[date, Query(alias="from", description="First day of the period")],
    last_day: Annotated[date, Query(alias="to", description="Last day (inclusive)")],
) -> EqualityReport:
    """The headline figures for a scope and period by the groups of one characteristic (plus
    `prefer_not_to_say` and `not_recorded`), with the programme report's suppression,
    complementary suppression across groups included. Same scopes and readers as
    `/reports/programme`."""
    settings = request.app.state.settings
    today = principal.ctx.now().date()
    reports_service.check_period(
        first_day, last_day, max_days=settings.report_max_period_days, today=today
    )
    found = await reports_service.resolve_scope(session=session, kind=scope, scope_id=scope_id)
    decision = await report_policies.can_read_report_scope(
        session,
        principal.user,
        kind=found.kind,
        organisation_ids=found.organisation_ids,
        team_ids=found.team_ids,
    )
    if not decision:
        raise await refuse(
            session,
            principal,
            action="report.equality",
            resource_type="report",
            resource_id=f"{found.kind}:{found.id}",
            reason=decision.reason,
        )
    report = await equality_report(
        session=session,
        keyring=keyring,
        scope=found,
        characteristic=characteristic,
        first_day=first_day,
        last_day=last_day,
        today=today,
        now=principal.ctx.now(),
        threshold=settings.report_suppression_threshold,
    )
    await principal.audit(
        "report.equality",
        resource_type="report",
        resource_id=f"{found.kind}:{found.id}",
        detail=f"{characteristic}, {first_day.isoformat()} to {last_day.isoformat()}",
    )
    return report
