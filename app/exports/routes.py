"""Exports of a client's record: a FHIR R4 bundle, and the subject-access archive. Each export
is audited, and the audit event is committed before the export leaves."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.brokerage.routes import wage_threshold
from app.db import SessionDep
from app.exports import fhir, sar
from app.messaging.keyring import MessageKeyring
from auth.deps import ClientAccess, ReadableClient, client_access
from auth.policies import clients as client_policies

router = APIRouter(prefix="/clients/{client_id}", tags=["exports"])

SubjectAccessRequester = Annotated[
    ClientAccess,
    Depends(
        client_access(client_policies.can_request_subject_access, "client.subject_access_export")
    ),
]


@router.get(
    "/fhir",
    response_class=Response,
    responses={
        200: {
            "description": "A FHIR R4 Bundle (type collection)",
            "content": {fhir.FHIR_MEDIA_TYPE: {"schema": {"type": "object"}}},
        }
    },
)
async def fhir_export(access: ReadableClient, session: SessionDep) -> Response:
    """The record as a FHIR R4 (UK Core) Bundle of type collection: Patient, CarePlan with its
    Goals, CareTeam, a QuestionnaireResponse per completed questionnaire, an Observation per
    score (LOINC 44261-6 PHQ-9, 70274-6 GAD-7; derivedFrom its QuestionnaireResponse), and a
    Consent per current consent decision. Entries and references are ``urn:uuid:`` URLs.
    Readers who see only scores (not the care team's therapists or the supervisors of its
    staff) get no QuestionnaireResponse: the Observations carry the totals alone."""
    items = await client_policies.can_see_item_answers(
        session, access.principal.user, access.client
    )
    await access.audit(
        "client.fhir_export", detail=None if items else f"item answers withheld: {items.reason}"
    )
    record = await fhir.collect(session=session, client=access.client, item_answers=bool(items))
    bundle = fhir.bundle_of(record, now=access.ctx.now(), bundle_id=uuid.uuid4())
    await session.commit()
    return Response(content=bundle.model_dump_json(), media_type=fhir.FHIR_MEDIA_TYPE)


@router.get("/subject-access", response_model=sar.SubjectAccessArchive)
async def subject_access_export(
    access: SubjectAccessRequester, session: SessionDep, request: Request
) -> Response:
    """Everything held about the client, as a JSON file to download (a subject-access request):
    the record with its care-team, referral and consent history; the plan with its versions and
    comments; measures; journey records; case-thread messages, decrypted; meetings and
    attendance; the audit trail about them, this export included; the benefit history with
    the better-off calculations and off-flow status; job applications with their vacancies;
    and, in the client's own export only, their equality-monitoring answers. For the client
    themselves and the supervisors of their care team."""
    await access.audit("client.subject_access_export")
    keyring: MessageKeyring = request.app.state.keyring
    archive = await sar.archive(
        session=session,
        ctx=access.ctx,
        client=access.client,
        requester=access.principal.user,
        keyring=keyring,
        window_days=request.app.state.settings.benefit_restart_window_days,
        threshold=wage_threshold(request),
    )
    await session.commit()
    return Response(
        content=archive.model_dump_json(indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": (
                f'attachment; filename="subject-access-{access.client.id}.json"'
            )
        },
    )
