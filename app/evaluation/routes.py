"""Randomised evaluation of IPS against treatment as usual (``docs/evaluation.md``).

A supervisor opens a trial for their organisation; from then on each new client whose
evaluation consent is recorded is allocated in that transaction (``POST
/clients/{id}/consents``). The seed is generated and sealed on the server and no answer carries
it. Every trial operation and every reading of an allocation is audited.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from app.db import SessionDep
from app.evaluation import extract as evaluation_extract
from app.evaluation import service
from app.evaluation.models import EvaluationTrial
from app.evaluation.schemas import (
    AllocationPublic,
    AllocationStatus,
    ArmFigures,
    ConsentCounts,
    StratumVerification,
    TrialCreate,
    TrialFigures,
    TrialPublic,
    TrialVerification,
)
from app.messaging.keyring import MessageKeyring
from auth.deps import AllocationFiguresReader, EvaluationManager, ReadableClient

router = APIRouter(tags=["evaluation"])


def get_keyring(request: Request) -> MessageKeyring:
    keyring: MessageKeyring = request.app.state.keyring
    return keyring


KeyringDep = Annotated[MessageKeyring, Depends(get_keyring)]


def _public(trial: EvaluationTrial, allocations: int) -> TrialPublic:
    return TrialPublic(
        id=trial.id,
        organisation_id=trial.organisation_id,
        name=trial.name,
        stratify_by=service.StratifyBy(trial.stratify_by),
        block_sizes=list(trial.block_sizes),
        algorithm=service.algorithm_of(trial),
        open=trial.closed_at is None,
        opened_at=trial.opened_at,
        closed_at=trial.closed_at,
        created_by=trial.created_by,
        allocations=allocations,
    )


async def _with_count(session: SessionDep, trial: EvaluationTrial) -> TrialPublic:
    counts = await service.allocation_counts(session=session, trial_ids=[trial.id])
    return _public(trial, counts.get(trial.id, 0))


@router.post("/evaluation/trials", response_model=TrialPublic, status_code=status.HTTP_201_CREATED)
async def open_trial(
    body: TrialCreate,
    principal: EvaluationManager,
    session: SessionDep,
    keyring: KeyringDep,
    request: Request,
) -> TrialPublic:
    """Open a randomised evaluation for the supervisor's organisation: block randomisation
    stratified by `stratify_by`, with block sizes drawn from `block_sizes`. The seed is
    generated here and stored sealed; it is never returned. An organisation runs one trial at a
    time (409 while another is open)."""
    trial = await service.open_trial(
        session=session,
        ctx=principal.ctx,
        keyring=keyring,
        organisation_id=principal.user.organisation_id,
        created_by=principal.id,
        data=body,
        max_block_size=request.app.state.settings.evaluation_max_block_size,
    )
    await principal.audit(
        "evaluation.trial_open",
        resource_type="evaluation_trial",
        resource_id=trial.id,
        detail=f"stratified by {trial.stratify_by}, block sizes {trial.block_sizes}",
    )
    return _public(trial, 0)


@router.get("/evaluation/trials", response_model=list[TrialPublic])
async def list_trials(principal: EvaluationManager, session: SessionDep) -> list[TrialPublic]:
    """The organisation's trials, newest first, with how many clients each has allocated."""
    trials = await service.list_trials(
        session=session, organisation_id=principal.user.organisation_id
    )
    counts = await service.allocation_counts(session=session, trial_ids=[t.id for t in trials])
    await principal.audit("evaluation.trial_list", resource_type="evaluation_trial")
    return [_public(t, counts.get(t.id, 0)) for t in trials]


@router.get("/evaluation/trials/{trial_id}", response_model=TrialPublic)
async def get_trial(
    trial_id: uuid.UUID, principal: EvaluationManager, session: SessionDep
) -> TrialPublic:
    """One trial of the organisation (404 for another organisation's)."""
    trial = await service.get_trial(
        session=session, trial_id=trial_id, organisation_id=principal.user.organisation_id
    )
    await principal.audit(
        "evaluation.trial_read", resource_type="evaluation_trial", resource_id=trial.id
    )
    return await _with_count(session, trial)


@router.post("/evaluation/trials/{trial_id}/close", response_model=TrialPublic)
async def close_trial(
    trial_id: uuid.UUID, principal: EvaluationManager, session: SessionDep
) -> TrialPublic:
    """Close the trial: no further clients are allocated. Allocations made stay as they are
    (intention to treat) and can still be verified. 409 if it is already closed."""
    trial = await service.get_trial(
        session=session, trial_id=trial_id, organisation_id=principal.user.organisation_id
    )
    trial = await service.close_trial(session=session, ctx=principal.ctx, trial=trial)
    await principal.audit(
        "evaluation.trial_close", resource_type="evaluation_trial", resource_id=trial.id
    )
    return await _with_count(session, trial)


@router.post("/evaluation/trials/{trial_id}/verify", response_model=TrialVerification)
async def verify_trial(
    trial_id: uuid.UUID, principal: EvaluationManager, session: SessionDep, keyring: KeyringDep
) -> TrialVerification:
    """Audit the randomisation: recompute every allocation from the recorded seed and say
    whether each stored arm matches. Answers with counts per stratum, never the seed."""
    trial = await service.get_trial(
        session=session, trial_id=trial_id, organisation_id=principal.user.organisation_id
    )
    result = await service.verify(
        session=session, keyring=keyring, trial=trial, now=principal.ctx.now()
    )
    labels = await service.stratum_labels(
        session=session, stratify_by=trial.stratify_by, strata={s.stratum for s in result.strata}
    )
    await principal.audit(
        "evaluation.verify",
        resource_type="evaluation_trial",
        resource_id=trial.id,
        detail=f"{result.matched} of {result.allocations} allocations match"
        + ("" if result.all_match else "; MISMATCH"),
    )
    return TrialVerification(
        trial_id=result.trial_id,
        algorithm=result.algorithm,
        algorithm_matches=result.algorithm_matches,
        allocations=result.allocations,
        matched=result.matched,
        mismatched_allocation_ids=result.mismatched_allocation_ids,
        strata=[
            StratumVerification(
                stratum=s.stratum,
                stratum_label=labels[s.stratum],
                allocations=s.allocations,
                matched=s.matched,
                missing_positions=s.missing_positions,
            )
            for s in result.strata
        ],
        all_match=result.all_match,
        verified_at=result.verified_at,
    )


def _arm_figures(counts: service.ArmCounts, labels: dict[str, str]) -> ArmFigures:
    return ArmFigures(
        stratum=counts.stratum,
        stratum_label=labels.get(counts.stratum, counts.stratum),
        ips=counts.ips,
        treatment_as_usual=counts.treatment_as_usual,
        total=counts.ips + counts.treatment_as_usual,
    )


@router.get("/evaluation/trials/{trial_id}/figures", response_model=TrialFigures)
async def trial_figures(
    trial_id: uuid.UUID, principal: AllocationFiguresReader, session: SessionDep
) -> TrialFigures:
    """The programme lead's figures: the entrants' evaluation consent decisions (consented,
    declined, withdrawn, not asked) and the allocations by arm, overall and per stratum. Each
    reading is audited (`evaluation.figures_read`); docs/evaluation.md says who may see them
    and why."""
    trial = await service.get_trial(
        session=session, trial_id=trial_id, organisation_id=principal.user.organisation_id
    )
    found = await service.figures(session=session, trial=trial)
    labels = await service.stratum_labels(
        session=session, stratify_by=trial.stratify_by, strata={s.stratum for s in found.strata}
    )
    await principal.audit(
        "evaluation.figures_read", resource_type="evaluation_trial", resource_id=trial.id
    )
    return TrialFigures(
        trial_id=trial.id,
        open=trial.closed_at is None,
        consents=ConsentCounts(
            entrants=found.entrants,
            consented=found.consented,
            declined=found.declined,
            withdrawn=found.withdrawn,
            not_asked=found.not_asked,
        ),
        allocations=_arm_figures(found.overall, labels),
        strata=[_arm_figures(s, labels) for s in found.strata],
        as_of=principal.ctx.now(),
    )


@router.get(
    "/evaluation/trials/{trial_id}/extract",
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "The evaluators' extract as CSV (Content-Disposition names it)",
        }
    },
)
async def evaluation_extract_csv(
    trial_id: uuid.UUID, principal: EvaluationManager, session: SessionDep, request: Request
) -> Response:
    """The evaluators' extract (docs/evaluation.md): one row per participant whose evaluation
    consent stands today, with a pseudonymous id under a key made for this extract and thrown
    away (two downloads share no id), arm, stratum (coarsened to `other` below the suppression
    threshold), months from randomisation, PHQ-9/GAD-7 at baseline and latest, recovery, job
    starts and sustainment, and the benefit columns. No name, contact, NHS number, free text or
    exact date."""
    trial = await service.get_trial(
        session=session, trial_id=trial_id, organisation_id=principal.user.organisation_id
    )
    rows = await evaluation_extract.extract(
        session=session,
        trial=trial,
        key=evaluation_extract.new_key(),
        as_of=principal.ctx.now().date(),
        threshold=request.app.state.settings.report_suppression_threshold,
        window_days=request.app.state.settings.benefit_restart_window_days,
    )
    await principal.audit(
        "evaluation.extract",
        resource_type="evaluation_trial",
        resource_id=trial.id,
        detail=f"{len(rows)} participants",
    )
    name = f"evaluation-extract-{principal.ctx.now().date().isoformat()}.csv"
    return Response(
        content=evaluation_extract.to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/clients/{client_id}/allocation", response_model=AllocationPublic)
async def get_allocation(access: ReadableClient, session: SessionDep) -> AllocationPublic:
    """The client's place in the evaluation: their arm once their evaluation consent is
    recorded; `awaiting_consent` (with no arm, for none exists yet) while they could still join
    the open trial; 404 when they are in no trial and cannot join one."""
    client = access.client
    found = await service.allocation_of(session=session, client_id=client.id)
    if found is not None:
        allocation, trial = found
        labels = await service.stratum_labels(
            session=session, stratify_by=trial.stratify_by, strata={allocation.stratum}
        )
        view = AllocationPublic(
            client_id=client.id,
            trial_id=trial.id,
            trial_name=trial.name,
            status=AllocationStatus.allocated,
            arm=allocation.arm,
            stratum=allocation.stratum,
            stratum_label=labels[allocation.stratum],
            allocated_at=allocation.allocated_at,
            consent_record_id=allocation.consent_record_id,
        )
    else:
        pending = await service.awaiting_trial(session=session, client=client)
        if pending is None:
            raise service.AllocationNotFound("The client is in no evaluation trial.")
        view = AllocationPublic(
            client_id=client.id,
            trial_id=pending.id,
            trial_name=pending.name,
            status=AllocationStatus.awaiting_consent,
            arm=None,
            stratum=None,
            stratum_label=None,
            allocated_at=None,
            consent_record_id=None,
        )
    await access.audit(
        "evaluation.allocation_read",
        resource_id=client.id,
        client_id=client.id,
        detail=f"trial {view.trial_id}: {view.status}",
    )
    return view
