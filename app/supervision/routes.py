"""Staff wellbeing check-ins, supervision and the supervisor's team view (docs/supervision.md).

A single person's check-ins are read by that person and their current supervisors only; a
supervision record by the supervisor who holds it and its attendees only. Every read of either
is audited, and so is every refusal. The team view shows aggregates: a week's wellbeing only when
enough people answered, and counts where clients would otherwise be named.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from app import events, versions
from app.audit.service import AuditEntry
from app.db import SessionDep
from app.ips.routes import CaseloadSettingsDep
from app.messaging.keyring import MessageKeyring
from app.pagination import Page, PageDep, page_of
from app.supervision import cadence, check_ins, links, service, team_view
from app.supervision import records as supervision_records
from app.supervision.events import talk_requested
from app.supervision.models import SupervisionRecord
from app.supervision.schemas import (
    ActionCreate,
    ActionPublic,
    ActionUpdate,
    CadencePublic,
    CadenceSet,
    CheckInCreate,
    CheckInCreated,
    CheckInPrompt,
    CheckInPublic,
    RecordCreate,
    RecordPublic,
    RecordUpdate,
    SuperviseeOverview,
    TalkRequestPublic,
    TeamOverview,
)
from app.supervision.service import SupervisionSettings
from app.supervision.supervisees import supervisees_overview
from app.users import service as users_service
from app.users.schemas import SupervisionPublic
from auth.deps import (
    CadenceSubject,
    LinkToAccept,
    LinkToDecline,
    MarkableAction,
    Principal,
    ReadableRecord,
    RecordToAddActionTo,
    RecordToUpdate,
    Staff,
    Supervisor,
    TalkToAcknowledge,
    ViewableTeam,
    WellbeingReporter,
    WellbeingSubject,
    refuse,
)

router = APIRouter(tags=["supervision"])


def supervision_settings(request: Request) -> SupervisionSettings:
    return SupervisionSettings.of(request.app.state.settings)


def keyring_of(request: Request) -> MessageKeyring:
    keyring: MessageKeyring = request.app.state.keyring
    return keyring


SettingsDep = Annotated[SupervisionSettings, Depends(supervision_settings)]
KeyringDep = Annotated[MessageKeyring, Depends(keyring_of)]
PeriodFrom = Annotated[
    date | None,
    Query(
        alias="from",
        description="First day (default: TEAMWELL_TEAM_VIEW_DEFAULT_WEEKS weeks up to `to`)",
    ),
]
PeriodTo = Annotated[date | None, Query(alias="to", description="Last day (default: today)")]


# --- check-ins -------------------------------------------------------------------------------


@router.post(
    "/wellbeing/check-ins", response_model=CheckInCreated, status_code=status.HTTP_201_CREATED
)
async def submit_check_in(
    body: CheckInCreate,
    principal: WellbeingReporter,
    session: SessionDep,
    keyring: KeyringDep,
    settings: SettingsDep,
) -> CheckInCreated:
    """Record how you are: mood, workload, stress and support, each 1-5, optional text (stored
    encrypted). With ``wants_to_talk`` every current supervisor of yours is told at once
    (``wellbeing.talk_requested`` over ``/ws``) and the request waits in their list until one
    acknowledges it."""
    row = await check_ins.record_check_in(
        session=session,
        ctx=principal.ctx,
        keyring=keyring,
        user=principal.user,
        data=body,
        settings=settings,
    )
    await principal.audit(
        "wellbeing.check_in",
        resource_type="wellbeing",
        resource_id=row.id,
        detail="wants to talk" if row.wants_to_talk else None,
    )
    supervisors: set[uuid.UUID] = set()
    if row.wants_to_talk:
        supervisors = await links.supervisor_ids(session=session, supervisee_id=principal.id)
    view = CheckInCreated(
        **check_ins.check_in_public(row, keyring, {}).model_dump(),
        supervisors_notified=len(supervisors),
    )
    if supervisors:
        events.announce(
            session,
            talk_requested(
                supervisors=supervisors, check_in=row, display_name=principal.user.display_name
            ),
        )
    return view


@router.get("/wellbeing/check-ins", response_model=Page[CheckInPublic])
async def my_check_ins(
    principal: WellbeingReporter, session: SessionDep, page: PageDep, keyring: KeyringDep
) -> Page[CheckInPublic]:
    """Your own check-ins, newest first."""
    rows, total = await check_ins.check_ins_of(
        session=session, user_id=principal.id, limit=page.limit, offset=page.offset
    )
    await principal.audit("wellbeing.read", resource_type="wellbeing", resource_id=principal.id)
    items = await check_ins.check_ins_public(session=session, keyring=keyring, rows=rows)
    return page_of(page, items, total)


@router.get("/wellbeing/prompt", response_model=CheckInPrompt)
async def check_in_prompt(
    principal: WellbeingReporter, session: SessionDep, settings: SettingsDep
) -> CheckInPrompt:
    """Whether you are due to check in: ``cadence_days`` after your last check-in (the cadence
    your supervisor set, or the default), at once if you never have."""
    return await check_ins.prompt(
        session=session, ctx=principal.ctx, user_id=principal.id, settings=settings
    )


@router.get("/wellbeing/people/{user_id}/check-ins", response_model=Page[CheckInPublic])
async def check_ins_of_person(
    principal: WellbeingReporter,
    user_id: WellbeingSubject,
    session: SessionDep,
    page: PageDep,
    keyring: KeyringDep,
) -> Page[CheckInPublic]:
    """One person's check-ins, newest first: for that person and their current supervisors
    only. Anyone else is refused (403, audited) whether or not the person exists."""
    rows, total = await check_ins.check_ins_of(
        session=session, user_id=user_id, limit=page.limit, offset=page.offset
    )
    await principal.audit("wellbeing.read", resource_type="wellbeing", resource_id=user_id)
    items = await check_ins.check_ins_public(session=session, keyring=keyring, rows=rows)
    return page_of(page, items, total)


@router.get("/wellbeing/talk-requests", response_model=list[TalkRequestPublic])
async def talk_requests(
    principal: Supervisor, session: SessionDep, include_acknowledged: bool = False
) -> list[TalkRequestPublic]:
    """'I'd like to talk' requests from your current supervisees, oldest first (open ones
    only unless ``include_acknowledged``)."""
    return await check_ins.supervisees_talk_requests(
        session=session,
        ctx=principal.ctx,
        supervisor_id=principal.id,
        include_acknowledged=include_acknowledged,
    )


@router.post("/wellbeing/talk-requests/{check_in_id}/acknowledge", response_model=TalkRequestPublic)
async def acknowledge_talk_request(
    principal: Supervisor, check_in: TalkToAcknowledge, session: SessionDep
) -> TalkRequestPublic:
    """Say you have picked up a supervisee's 'I'd like to talk' (409 if another supervisor
    already did)."""
    view = await check_ins.acknowledge_talk(session=session, ctx=principal.ctx, check_in=check_in)
    await principal.audit(
        "wellbeing.talk_acknowledge",
        resource_type="wellbeing",
        resource_id=check_in.user_id,
        detail=f"check-in {check_in.id}",
    )
    return view


# --- supervisees and cadence -----------------------------------------------------------------


# --- who supervises whom: proposals and their acceptance -------------------------------------


@router.get("/supervision/links", response_model=list[SupervisionPublic])
async def my_supervision_links(principal: Staff, session: SessionDep) -> list[SupervisionPublic]:
    """The supervision links naming you, as supervisee or as supervisor, that are ``pending``
    (proposed by an admin, waiting for the supervisee) or ``active``; oldest first."""
    links = await users_service.supervision_links_of(session=session, user_id=principal.id)
    return await users_service.links_public(session=session, links=links)


@router.post("/supervision/links/{link_id}/accept", response_model=SupervisionPublic)
async def accept_supervisor(
    principal: Staff, link: LinkToAccept, session: SessionDep
) -> SupervisionPublic:
    """Accept a proposed supervisor (the supervisee only; anyone else 403, audited). From now
    on they are your supervisor: they see your check-ins and your clients' records, and your
    previous supervisor's link ends. 409 ``supervision-link-not-pending`` once decided."""
    link = await users_service.accept_supervisor(session=session, ctx=principal.ctx, link=link)
    await principal.audit(
        "supervision.link_accept",
        resource_type="supervision_link",
        resource_id=link.id,
        detail=f"supervisor {link.supervisor_id}",
    )
    return (await users_service.links_public(session=session, links=[link]))[0]


@router.post("/supervision/links/{link_id}/decline", response_model=SupervisionPublic)
async def decline_supervisor(
    principal: Staff, link: LinkToDecline, session: SessionDep
) -> SupervisionPublic:
    """Decline a proposed supervisor (the supervisee only; anyone else 403, audited). Nothing
    changes for your current supervisor. 409 ``supervision-link-not-pending`` once decided."""
    link = await users_service.decline_supervisor(session=session, ctx=principal.ctx, link=link)
    await principal.audit(
        "supervision.link_decline",
        resource_type="supervision_link",
        resource_id=link.id,
        detail=f"supervisor {link.supervisor_id}",
    )
    return (await users_service.links_public(session=session, links=[link]))[0]


@router.get("/supervision/supervisees", response_model=list[SuperviseeOverview])
async def supervisees(
    principal: Supervisor, session: SessionDep, settings: SettingsDep
) -> list[SuperviseeOverview]:
    """Your current supervisees: last supervision, when the next is due and whether it is
    overdue by their cadence, whether a check-in is due, the actions they own from your
    sessions (open and overdue), and any open 'I'd like to talk'."""
    overview = await supervisees_overview(
        session=session, ctx=principal.ctx, supervisor=principal.user, settings=settings
    )
    await principal.audit_many(
        [
            AuditEntry(
                action="wellbeing.read",
                resource_type="wellbeing",
                resource_id=item.user_id,
                detail="supervisees overview",
            )
            for item in overview
        ]
    )
    return overview


@router.put("/supervision/supervisees/{user_id}/cadence", response_model=CadencePublic)
async def set_cadence(
    body: CadenceSet,
    principal: Supervisor,
    user_id: CadenceSubject,
    session: SessionDep,
    settings: SettingsDep,
) -> CadencePublic:
    """How often your supervisee is prompted to check in, and how often they should have
    supervision. Only for your own current supervisees."""
    chosen = await cadence.set_cadence(
        session=session, ctx=principal.ctx, supervisee_id=user_id, data=body, settings=settings
    )
    await principal.audit(
        "supervision.cadence_set",
        resource_type="supervision_cadence",
        resource_id=user_id,
        detail=f"check-in every {body.check_in_days} days, "
        f"supervision every {body.supervision_days} days",
    )
    return chosen


# --- supervision records ---------------------------------------------------------------------


async def _record_view(
    session: SessionDep, principal: Principal, keyring: MessageKeyring, record: SupervisionRecord
) -> RecordPublic:
    views = await supervision_records.records_public(
        session=session, keyring=keyring, records=[record], today=service.today_of(principal.ctx)
    )
    return views[0]


@router.post(
    "/supervision/records", response_model=RecordPublic, status_code=status.HTTP_201_CREATED
)
async def create_record(
    body: RecordCreate,
    principal: Supervisor,
    session: SessionDep,
    keyring: KeyringDep,
    settings: SettingsDep,
) -> RecordPublic:
    """Record a one-to-one or group supervision session with your own supervisees: the day it
    was held, optionally the supervision meeting it was held in, notes (stored encrypted, seen
    only by you and the attendees) and agreed actions with owner and due date."""
    own = await links.supervisee_ids(session=session, supervisor_id=principal.id)
    others = [uid for uid in body.supervisee_ids if uid not in own]
    if others:
        raise await refuse(
            session,
            principal,
            action="supervision.create",
            resource_type="supervision_record",
            resource_id=",".join(str(uid) for uid in others),
            reason="supervision is recorded only with your own supervisees",
        )
    record = await supervision_records.create_record(
        session=session,
        ctx=principal.ctx,
        keyring=keyring,
        supervisor=principal.user,
        data=body,
        settings=settings,
    )
    await principal.audit(
        "supervision.create", resource_type="supervision_record", resource_id=record.id
    )
    return await _record_view(session, principal, keyring, record)


@router.get("/supervision/records", response_model=Page[RecordPublic])
async def my_records(
    principal: Staff, session: SessionDep, page: PageDep, keyring: KeyringDep
) -> Page[RecordPublic]:
    """Supervision records you hold as supervisor or attended, latest session first."""
    records, total = await supervision_records.records_for(
        session=session, user_id=principal.id, limit=page.limit, offset=page.offset
    )
    await principal.audit_many(
        [
            AuditEntry(
                action="supervision.read", resource_type="supervision_record", resource_id=r.id
            )
            for r in records
        ]
    )
    items = await supervision_records.records_public(
        session=session, keyring=keyring, records=records, today=service.today_of(principal.ctx)
    )
    return page_of(page, items, total)


@router.get("/supervision/records/{record_id}", response_model=RecordPublic)
async def get_record(
    principal: Staff,
    record: ReadableRecord,
    session: SessionDep,
    keyring: KeyringDep,
    response: Response,
) -> RecordPublic:
    """One record: for the supervisor who holds it and its attendees only. Its version is the
    ETag to send back in If-Match when saving the notes."""
    await principal.audit(
        "supervision.read", resource_type="supervision_record", resource_id=record.id
    )
    response.headers["ETag"] = versions.etag(record.version)
    return await _record_view(session, principal, keyring, record)


@router.patch("/supervision/records/{record_id}", response_model=RecordPublic)
async def update_record(
    body: RecordUpdate,
    principal: Staff,
    record: RecordToUpdate,
    session: SessionDep,
    keyring: KeyringDep,
    settings: SettingsDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> RecordPublic:
    """Replace the notes (the supervisor who holds the record), based on the version in
    If-Match. If they were saved in between, the answer is 412 with the current version and
    notes: nothing is overwritten silently."""
    await supervision_records.update_notes(
        session=session,
        ctx=principal.ctx,
        keyring=keyring,
        record=record,
        notes=body.notes,
        settings=settings,
        based_on=versions.parse_if_match(if_match, "the record"),
    )
    await principal.audit(
        "supervision.update", resource_type="supervision_record", resource_id=record.id
    )
    response.headers["ETag"] = versions.etag(record.version)
    return await _record_view(session, principal, keyring, record)


@router.post(
    "/supervision/records/{record_id}/actions",
    response_model=ActionPublic,
    status_code=status.HTTP_201_CREATED,
)
async def add_action(
    body: ActionCreate, principal: Staff, record: RecordToAddActionTo, session: SessionDep
) -> ActionPublic:
    """Add an agreed action, owned by an attendee or by you (the record's supervisor)."""
    action = await supervision_records.add_action(
        session=session, ctx=principal.ctx, record=record, data=body
    )
    await principal.audit(
        "supervision.action_create", resource_type="supervision_record", resource_id=record.id
    )
    return await supervision_records.action_view(
        session=session, action=action, today=service.today_of(principal.ctx)
    )


@router.patch("/supervision/actions/{action_id}", response_model=ActionPublic)
async def update_action(
    body: ActionUpdate, principal: Staff, action: MarkableAction, session: SessionDep
) -> ActionPublic:
    """Mark an action done (or open again): its owner or the record's supervisor."""
    await supervision_records.set_action_done(
        session=session, ctx=principal.ctx, action=action, done=body.done
    )
    await principal.audit(
        "supervision.action_update",
        resource_type="supervision_action",
        resource_id=action.id,
        detail="done" if body.done else "reopened",
    )
    return await supervision_records.action_view(
        session=session, action=action, today=service.today_of(principal.ctx)
    )


# --- the team view ---------------------------------------------------------------------------


@router.get("/teams/{team_id}/overview", response_model=TeamOverview)
async def team_overview(
    access: ViewableTeam,
    session: SessionDep,
    request: Request,
    settings: SettingsDep,
    caseload_settings: CaseloadSettingsDep,
    period_from: PeriodFrom = None,
    period_to: PeriodTo = None,
) -> TeamOverview:
    """The team now and over a period, for the supervisors on it: weekly wellbeing as
    aggregates (a week is withheld when fewer than TEAMWELL_TEAM_WELLBEING_MIN_PEOPLE answered),
    caseloads against the limits, overdue plan actions and reviews, open alerts by kind, and
    who is present. Counts only where clients would otherwise be named."""
    principal = access.principal
    period = team_view.team_period(
        service.today_of(principal.ctx), period_from, period_to, settings
    )
    overview = await team_view.team_overview(
        session=session,
        ctx=principal.ctx,
        team=access.team,
        period=period,
        settings=settings,
        caseload_settings=caseload_settings,
        presence=request.app.state.realtime.presence.store,
    )
    await access.audit(
        "team.overview",
        detail=f"{period[0].isoformat()}..{period[1].isoformat()}",
    )
    return overview
