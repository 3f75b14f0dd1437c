"""A client's shared plan: read, edit with optimistic concurrency, history and comments.
People viewing the plan hear about each saved change over `/ws` (``plan.updated``), once it is
stored (app/plans/events.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from app import events
from app.audit.writer import AuditedRead
from app.db import SessionDep
from app.plans import events as plan_events
from app.plans import service
from app.plans.schemas import (
    CommentCreate,
    CommentPublic,
    PlanContent,
    PlanPublic,
    PlanVersionPublic,
)
from app.users import service as users_service
from auth.deps import ClientAccess, ReadableClient
from auth.policies import clients as client_policies

router = APIRouter(prefix="/clients/{client_id}/plan", tags=["plans"])


async def _view(session: SessionDep, access: ClientAccess) -> PlanPublic:
    plan, editor = await service.find_with_editor(session=session, client_id=access.client.id)
    return _public(access, plan, editor)


def _public(access: ClientAccess, plan: service.PlanRow | None, editor: str | None) -> PlanPublic:
    return PlanPublic(
        client_id=access.client.id,
        version=plan.version if plan else 0,
        content=service.content_of(plan),
        updated_at=plan.updated_at if plan else None,
        updated_by=plan.updated_by if plan else None,
        updated_by_name=editor if plan and plan.updated_by else None,
    )


# Reading routes append their audit events through the audit writer (app/audit/writer.py).
@router.get("", response_model=PlanPublic, dependencies=[AuditedRead])
async def get_plan(access: ReadableClient, session: SessionDep, response: Response) -> PlanPublic:
    """The plan, with its version as the ETag to send back in If-Match when saving."""
    await access.audit("plan.read", resource_type="plan")
    view = await _view(session, access)
    response.headers["ETag"] = service.etag(view.version)
    return view


@router.put("", response_model=PlanPublic)
async def save_plan(
    body: PlanContent,
    access: ReadableClient,
    session: SessionDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> PlanPublic:
    """Save the whole plan, based on the version in If-Match. If someone saved in between, the
    answer is 412 with the current version and content: nothing is overwritten silently. The
    client may change their goals; the care team and supervisors everything."""
    based_on = service.parse_if_match(if_match)
    plan, sections = await service.save(
        session=session,
        ctx=access.ctx,
        client=access.client,
        editor=access.principal.user,
        content=body,
        based_on=based_on,
    )
    if not sections:  # nothing changed: the plan as stored (its last editor may be another)
        view = await _view(session, access)
        response.headers["ETag"] = service.etag(view.version)
        return view
    # Saved just now by this person: the view needs no second read.
    view = _public(access, plan, access.principal.user.display_name)
    events.announce(
        session,
        plan_events.plan_updated(
            audience=await client_policies.record_audience(session, access.client),
            plan=view,
            sections=sections,
            by=access.principal.id,
            by_name=access.principal.user.display_name,
        ),
    )
    # Audited last: on PostgreSQL the event takes the audit chain's lock until the commit, and
    # every audited write of every process waits for it (app/audit/service.py, _chain_tail).
    await access.audit(
        "plan.update",
        resource_type="plan",
        detail=f"version {plan.version}: {', '.join(sections)}",
    )
    response.headers["ETag"] = service.etag(view.version)
    return view


@router.get("/history", response_model=list[PlanVersionPublic], dependencies=[AuditedRead])
async def plan_history(access: ReadableClient, session: SessionDep) -> list[PlanVersionPublic]:
    """Every saved version: who, when, which sections changed, and the content then."""
    await access.audit("plan.history_read", resource_type="plan")
    plan = await service.find(session=session, client_id=access.client.id)
    if plan is None:
        return []
    versions = await service.history(session=session, plan=plan)
    names = await users_service.names(session=session, ids={v.changed_by for v in versions})
    return [
        PlanVersionPublic(
            version=v.version,
            changed_at=v.changed_at,
            changed_by=v.changed_by,
            changed_by_name=names.get(v.changed_by),
            sections=v.sections,
            content=v.content,
        )
        for v in versions
    ]


@router.get("/comments", response_model=list[CommentPublic], dependencies=[AuditedRead])
async def list_comments(access: ReadableClient, session: SessionDep) -> list[CommentPublic]:
    """Comments on plan items, oldest first."""
    plan = await service.find(session=session, client_id=access.client.id)
    found = await service.comments(session=session, plan=plan) if plan else []
    names = await users_service.names(session=session, ids={c.author_id for c in found})
    return [
        CommentPublic(
            id=c.id,
            item_id=c.item_id,
            text=c.text,
            author_id=c.author_id,
            author_name=names.get(c.author_id),
            created_at=c.created_at,
        )
        for c in found
    ]


@router.post("/comments", response_model=CommentPublic, status_code=status.HTTP_201_CREATED)
async def add_comment(
    body: CommentCreate, access: ReadableClient, session: SessionDep
) -> CommentPublic:
    """Comment on an item (or a section) so the team discusses in place; the client too."""
    plan = await service.ensure(session=session, client=access.client)
    comment = await service.add_comment(
        session=session, ctx=access.ctx, plan=plan, author=access.principal.user, data=body
    )
    await access.audit("plan.comment", resource_type="plan")
    view = CommentPublic(
        id=comment.id,
        item_id=comment.item_id,
        text=comment.text,
        author_id=comment.author_id,
        author_name=access.principal.user.display_name,
        created_at=comment.created_at,
    )
    events.announce(
        session,
        plan_events.plan_commented(
            audience=await client_policies.record_audience(session, access.client),
            client_id=access.client.id,
            comment=view,
        ),
    )
    return view
