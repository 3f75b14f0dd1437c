"""Wellbeing check-ins, the check-in prompt and "I'd like to talk" (docs/supervision.md).

Callers check who may act (``auth.policies.supervision``); this runs the SQL. A check-in's text
is sealed with the message keyring, its associated data binding it to its row and its person,
so a ciphertext copied onto another row, or another person's row, does not open.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.audit.service import AuditEntry
from app.context import Context
from app.db import found
from app.errors import Conflict, NotFound, Unprocessable
from app.messaging.keyring import MessageKeyring
from app.pagination import paginate
from app.supervision import rules
from app.supervision.cadence import cadence
from app.supervision.links import supervisee_ids
from app.supervision.models import WellbeingCheckIn
from app.supervision.schemas import CheckInCreate, CheckInPrompt, CheckInPublic, TalkRequestPublic
from app.supervision.service import (
    SupervisionSettings,
    TextTooLong,
    actor_id,
    field_problem,
    given_text,
)
from app.users import service as users_service
from app.users.models import User
from auth.policies import supervision as supervision_policies


class InvalidCheckIn(Unprocessable):
    slug, title = "invalid-check-in", "The check-in is not valid"


class CheckInNotFound(NotFound):
    title = "Check-in not found"


class NotATalkRequest(Conflict):
    slug, title = "not-a-talk-request", "This check-in did not ask to talk"


class TalkAlreadyAcknowledged(Conflict):
    slug, title = "talk-already-acknowledged", "Someone has already acknowledged this"


# --- check-ins -------------------------------------------------------------------------------


def check_in_aad(check_in_id: uuid.UUID, user_id: uuid.UUID) -> bytes:
    """Binds a check-in's text to its row and its person."""
    return f"wellbeing_check_in:{check_in_id}:{user_id}".encode()


async def record_check_in(
    *,
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    user: User,
    data: CheckInCreate,
    settings: SupervisionSettings,
) -> WellbeingCheckIn:
    text = given_text(data.text)
    if text is not None and len(text) > settings.text_max_chars:
        raise field_problem(
            TextTooLong,
            "body.text",
            f"The text is {len(text)} characters; at most {settings.text_max_chars} are kept.",
            f"at most {settings.text_max_chars} characters",
        )
    now = ctx.now()
    try:
        # The scale rules, whatever the schema already checked.
        rules.CheckIn(
            data.mood, data.workload, data.stress, data.support, data.wants_to_talk, text, now
        )
    except rules.InvalidCheckIn as exc:
        raise InvalidCheckIn(str(exc)) from None
    row = WellbeingCheckIn(
        user_id=user.id,
        mood=data.mood,
        workload=data.workload,
        stress=data.stress,
        support=data.support,
        wants_to_talk=data.wants_to_talk,
        at=now,
    )
    if text is not None:
        row.text_key_id, row.text_ciphertext = keyring.encrypt(
            text, aad=check_in_aad(row.id, user.id)
        )
    session.add(row)
    await session.flush()
    return row


def check_in_public(
    row: WellbeingCheckIn, keyring: MessageKeyring, names: dict[uuid.UUID, str]
) -> CheckInPublic:
    text = None
    if row.text_key_id is not None and row.text_ciphertext is not None:
        text = keyring.decrypt(
            row.text_key_id, row.text_ciphertext, aad=check_in_aad(row.id, row.user_id)
        )
    by = row.talk_acknowledged_by
    return CheckInPublic(
        id=row.id,
        user_id=row.user_id,
        at=row.at,
        mood=row.mood,
        workload=row.workload,
        stress=row.stress,
        support=row.support,
        wants_to_talk=row.wants_to_talk,
        text=text,
        talk_acknowledged_at=row.talk_acknowledged_at,
        talk_acknowledged_by=by,
        talk_acknowledged_by_name=names.get(by) if by else None,
    )


async def check_ins_public(
    *, session: AsyncSession, keyring: MessageKeyring, rows: Sequence[WellbeingCheckIn]
) -> list[CheckInPublic]:
    ids = {r.talk_acknowledged_by for r in rows if r.talk_acknowledged_by}
    names = await users_service.names(session=session, ids=ids)
    return [check_in_public(r, keyring, names) for r in rows]


async def check_ins_of(
    *, session: AsyncSession, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[WellbeingCheckIn], int]:
    """One person's check-ins, newest first."""
    query = select(WellbeingCheckIn).where(WellbeingCheckIn.user_id == user_id)
    return await paginate(
        session,
        query,
        col(WellbeingCheckIn.at).desc(),
        col(WellbeingCheckIn.id),
        limit=limit,
        offset=offset,
    )


async def get_check_in(*, session: AsyncSession, check_in_id: uuid.UUID) -> WellbeingCheckIn:
    return await found(session, WellbeingCheckIn, check_in_id, missing=CheckInNotFound)


async def last_check_in_at(*, session: AsyncSession, user_id: uuid.UUID) -> datetime | None:
    rows = await session.exec(
        select(WellbeingCheckIn.at)
        .where(WellbeingCheckIn.user_id == user_id)
        .order_by(col(WellbeingCheckIn.at).desc())
        .limit(1)
    )
    return rows.first()


async def prompt(
    *, session: AsyncSession, ctx: Context, user_id: uuid.UUID, settings: SupervisionSettings
) -> CheckInPrompt:
    chosen = await cadence(session=session, supervisee_id=user_id, settings=settings)
    last = await last_check_in_at(session=session, user_id=user_id)
    now = ctx.now()
    return CheckInPrompt(
        cadence_days=chosen.check_in_days,
        cadence_set_by_supervisor=not chosen.is_default,
        last_check_in_at=last,
        next_due_at=rules.next_prompt_due(last, chosen.check_in_days, now),
        due=rules.check_in_due(last, chosen.check_in_days, now),
    )


@dataclass(frozen=True)
class DueCheckIn:
    """A member of staff whose check-in has fallen due: since ``last`` (None: never checked
    in), due from ``due_at``."""

    user_id: uuid.UUID
    organisation_id: uuid.UUID
    last: datetime | None
    due_at: datetime


async def due_check_ins(
    *, session: AsyncSession, ctx: Context, settings: SupervisionSettings
) -> list[DueCheckIn]:
    """Everyone who may check in (``can_check_in``) and whose check-in is due now, by their
    cadence (``prompt``'s rule)."""
    now = ctx.now()
    rows = await session.exec(select(User).where(col(User.is_active)).order_by(col(User.id)))
    due = []
    for user in rows.all():
        if not supervision_policies.can_check_in(user):
            continue
        chosen = await cadence(session=session, supervisee_id=user.id, settings=settings)
        last = await last_check_in_at(session=session, user_id=user.id)
        if rules.check_in_due(last, chosen.check_in_days, now):
            due_at = rules.next_prompt_due(last, chosen.check_in_days, now)
            due.append(
                DueCheckIn(
                    user_id=user.id,
                    organisation_id=user.organisation_id,
                    last=last,
                    due_at=due_at,
                )
            )
    return due


# --- "I'd like to talk" ----------------------------------------------------------------------


def _talk_public(
    row: WellbeingCheckIn, display_name: str, names: dict[uuid.UUID, str]
) -> TalkRequestPublic:
    by = row.talk_acknowledged_by
    return TalkRequestPublic(
        check_in_id=row.id,
        user_id=row.user_id,
        display_name=display_name,
        at=row.at,
        acknowledged_at=row.talk_acknowledged_at,
        acknowledged_by=by,
        acknowledged_by_name=names.get(by) if by else None,
    )


async def talk_requests(
    *, session: AsyncSession, person_ids: set[uuid.UUID], include_acknowledged: bool
) -> list[TalkRequestPublic]:
    """Check-ins of these people that asked to talk, oldest first (open ones only unless
    asked)."""
    if not person_ids:
        return []
    query = (
        select(WellbeingCheckIn, User.display_name)
        .join(User, col(User.id) == WellbeingCheckIn.user_id)
        .where(
            col(WellbeingCheckIn.user_id).in_(person_ids),
            col(WellbeingCheckIn.wants_to_talk).is_(True),
        )
    )
    if not include_acknowledged:
        query = query.where(col(WellbeingCheckIn.talk_acknowledged_at).is_(None))
    rows = list(
        await session.exec(query.order_by(col(WellbeingCheckIn.at), col(WellbeingCheckIn.id)))
    )
    ids = {row.talk_acknowledged_by for row, _ in rows if row.talk_acknowledged_by}
    names = await users_service.names(session=session, ids=ids)
    return [_talk_public(row, name, names) for row, name in rows]


async def supervisees_talk_requests(
    *, session: AsyncSession, ctx: Context, supervisor_id: uuid.UUID, include_acknowledged: bool
) -> list[TalkRequestPublic]:
    """The talk requests of a supervisor's current supervisees (``talk_requests``), each person's
    read audited (``wellbeing.read``): the supervision page and the home page show the same."""
    people = await supervisee_ids(session=session, supervisor_id=supervisor_id)
    found = await talk_requests(
        session=session, person_ids=people, include_acknowledged=include_acknowledged
    )
    await audit_service.record_many(
        session,
        ctx,
        [
            AuditEntry(
                action="wellbeing.read",
                resource_type="wellbeing",
                resource_id=person,
                detail="talk requests",
            )
            for person in sorted({t.user_id for t in found}, key=str)
        ],
    )
    return found


def talk_request_of(row: WellbeingCheckIn, display_name: str) -> TalkRequestPublic:
    return _talk_public(row, display_name, {})


async def acknowledge_talk(
    *, session: AsyncSession, ctx: Context, check_in: WellbeingCheckIn
) -> TalkRequestPublic:
    """Mark the request answered. Two supervisors acknowledging at once: one wins, the other
    is told who did (the update is conditional on it still being open)."""
    if not check_in.wants_to_talk:
        raise NotATalkRequest()
    claimed = await session.exec(
        update(WellbeingCheckIn)
        .where(
            col(WellbeingCheckIn.id) == check_in.id,
            col(WellbeingCheckIn.talk_acknowledged_at).is_(None),
        )
        .values(talk_acknowledged_at=ctx.now(), talk_acknowledged_by=actor_id(ctx))
    )
    await session.refresh(check_in)
    by, at = check_in.talk_acknowledged_by, check_in.talk_acknowledged_at
    people = {check_in.user_id, by} if by else {check_in.user_id}
    names = await users_service.names(session=session, ids=people)
    if claimed.rowcount != 1:
        who = names.get(by, "Another supervisor") if by else "Another supervisor"
        when = f" at {at:%d %b %Y %H:%M} UTC" if at else ""
        raise TalkAlreadyAcknowledged(f"{who} acknowledged this{when}.")
    return _talk_public(check_in, names.get(check_in.user_id, ""), names)
