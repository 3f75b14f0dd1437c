"""The shared plan: optimistic concurrency (a write names the version it was based on), a
version kept for every change, and comments on any item."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients.models import ClientRecord
from app.context import Context
from app.errors import Forbidden, Problem
from app.plans.models import CarePlan, CarePlanVersion, PlanComment
from app.plans.schemas import (
    SECTIONS,
    CommentCreate,
    PlanContent,
)
from app.users.models import User
from auth.policies import plans as plan_policies


class PlanChanged(Problem):
    status, slug, title = 412, "plan-changed", "The plan was changed by someone else"


class VersionRequired(Problem):
    status, slug, title = 428, "if-match-required", "Say which version you edited"


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int:
    """The version an edit was based on, from ``If-Match: "<version>"``."""
    if header is None:
        raise VersionRequired('Send If-Match with the ETag you read, e.g. If-Match: "3".')
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise VersionRequired("If-Match must be the plan's ETag.")
    return int(value)


def changed_sections(before: PlanContent, after: PlanContent) -> list[str]:
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    return [name for name in SECTIONS if old[name] != new[name]]


# Built once with a bound parameter (every save reads the plan first).
_FIND = select(CarePlan).where(col(CarePlan.client_id) == bindparam("client_id"))


async def find(*, session: AsyncSession, client_id: uuid.UUID) -> CarePlan | None:
    rows = await session.exec(_FIND, params={"client_id": client_id})
    return rows.first()


# Built once with a bound parameter (every plan read runs it; see clients.get_with_relation).
_WITH_EDITOR = (
    sa_select(
        col(CarePlan.version),
        col(CarePlan.content),
        col(CarePlan.updated_at),
        col(CarePlan.updated_by),
        col(User.display_name).label("editor"),
    )
    .outerjoin(User, col(User.id) == col(CarePlan.updated_by))
    .where(col(CarePlan.client_id) == bindparam("client_id"))
)


class PlanRow(Protocol):
    """What a plan's view shows of it (a row of ``find_with_editor``, or the plan itself)."""

    version: int
    content: dict[str, Any]
    updated_at: datetime | None
    updated_by: uuid.UUID | None


async def find_with_editor(
    *, session: AsyncSession, client_id: uuid.UUID
) -> tuple[PlanRow | None, str | None]:
    """The plan as stored and the name of who saved it last, in one query: a row on the
    driver, not an object in the session (every plan read runs it, and changes nothing)."""
    connection = await session.connection()
    found = (await connection.execute(_WITH_EDITOR, {"client_id": client_id})).first()
    if found is None:
        return None, None
    row: PlanRow = found
    return row, found.editor


def content_of(plan: PlanRow | None) -> PlanContent:
    return PlanContent.model_validate(plan.content) if plan and plan.content else PlanContent()


async def save(
    *,
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    editor: User,
    content: PlanContent,
    based_on: int,
) -> tuple[CarePlan, list[str]]:
    """Store a new version, or refuse with 412 when the plan moved on since ``based_on``.

    A client may change only their own goals; staff on the care team change everything.
    """
    plan = await find(session=session, client_id=client.id)
    if plan is None:
        plan = CarePlan(client_id=client.id, version=0, content={})
        session.add(plan)
        await session.flush()
    if plan.version != based_on:
        raise _conflict(plan)
    sections = changed_sections(content_of(plan), content)
    decision = plan_policies.can_change_plan_sections(editor, sections)
    if not decision:
        raise Forbidden(f"{decision.reason}.")
    if not sections:
        return plan, []
    now = ctx.now()
    dumped = content.model_dump(mode="json")
    # Conditional on the version read, so two concurrent saves cannot both win; what was stored
    # comes back with the update instead of a second read of the row. On the driver: the ORM's
    # update would first look for the row among the session's objects.
    connection = await session.connection()
    claimed = (
        await connection.execute(
            _CLAIM,
            {
                "plan_id": plan.id,
                "based_on": based_on,
                "new_version": based_on + 1,
                "new_content": dumped,
                "new_updated_at": now,
                "new_updated_by": editor.id,
            },
        )
    ).first()
    if claimed is None:
        await session.refresh(plan)
        raise _conflict(plan)
    for key, value in claimed._mapping.items():
        set_committed_value(plan, key, value)  # as stored, and not a change to flush
    # Inserted on the driver too: a version is only ever added, and nothing in the request reads
    # it back.
    await connection.execute(
        _ADD_VERSION,
        {
            "id": uuid.uuid4(),
            "plan_id": plan.id,
            "version": plan.version,
            "content": dumped,
            "sections": sections,
            "changed_by": editor.id,
            "changed_at": now,
        },
    )
    return plan, sections


# Built once with bound parameters (every save runs them; see clients.get_with_relation).
_CLAIM = (
    update(CarePlan)
    .where(col(CarePlan.id) == bindparam("plan_id"), col(CarePlan.version) == bindparam("based_on"))
    .values(
        version=bindparam("new_version"),
        content=bindparam("new_content"),
        updated_at=bindparam("new_updated_at"),
        updated_by=bindparam("new_updated_by"),
    )
    .returning(
        col(CarePlan.version),
        col(CarePlan.content),
        col(CarePlan.updated_at),
        col(CarePlan.updated_by),
    )
)
_ADD_VERSION = insert(CarePlanVersion)


def _conflict(plan: CarePlan) -> PlanChanged:
    return PlanChanged(
        f"The plan is at version {plan.version} now; reload it, re-apply your change and "
        "save again.",
        headers={"ETag": etag(plan.version)},
        extra={"current": {"version": plan.version, "content": plan.content}},
    )


async def history(*, session: AsyncSession, plan: CarePlan) -> list[CarePlanVersion]:
    rows = await session.exec(
        select(CarePlanVersion)
        .where(CarePlanVersion.plan_id == plan.id)
        .order_by(col(CarePlanVersion.version))
    )
    return list(rows.all())


async def add_comment(
    *, session: AsyncSession, ctx: Context, plan: CarePlan, author: User, data: CommentCreate
) -> PlanComment:
    comment = PlanComment(
        plan_id=plan.id,
        item_id=data.item_id,
        text=data.text,
        author_id=author.id,
        created_at=ctx.now(),
    )
    session.add(comment)
    await session.flush()
    return comment


async def comments(*, session: AsyncSession, plan: CarePlan) -> list[PlanComment]:
    rows = await session.exec(
        select(PlanComment)
        .where(PlanComment.plan_id == plan.id)
        .order_by(col(PlanComment.created_at), col(PlanComment.id))
    )
    return list(rows.all())


async def ensure(*, session: AsyncSession, client: ClientRecord) -> CarePlan:
    plan = await find(session=session, client_id=client.id)
    if plan is None:
        plan = CarePlan(client_id=client.id, version=0, content={})
        session.add(plan)
        await session.flush()
    return plan


def public_content(plan: CarePlan | None) -> dict[str, Any]:
    return content_of(plan).model_dump(mode="json")
