"""Client records, their care teams and referrals. Callers check the policy; this runs the SQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, TypeVar

from sqlalchemy import CompoundSelect, Executable, Exists, bindparam, exists, func, or_, union
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select, SelectOfScalar

from app.clients import eligibility
from app.clients.models import (
    CareTeamMember,
    ClientRecord,
    EligibilityAnswer,
    ProgrammeStatus,
    Referral,
)
from app.clients.schemas import (
    CareTeamMemberAdd,
    CareTeamMemberPublic,
    ClientCreate,
    ClientUpdate,
    EligibilityAnswerPublic,
    ReferralCreate,
    ReferralPublic,
)
from app.context import Context
from app.db import found
from app.errors import Conflict, NotFound, Unprocessable
from app.organisations.models import Organisation
from app.teams.models import Team
from app.users.models import SupervisionLink, User
from auth.policies import clients as client_policies
from auth.policies import supervision as supervision_policies


class ClientNotFound(NotFound):
    title = "Client not found"


class CareTeamMemberNotFound(NotFound):
    title = "Care-team member not found"


class EligibilityAnswersDoNotFit(Unprocessable):
    slug, title = (
        "eligibility-answers-do-not-fit",
        "Answer every eligibility question, and only those",
    )


class NotClinicalStaff(Unprocessable):
    slug, title = "not-clinical-staff", "Only clinical staff join a care team"


async def get(*, session: AsyncSession, client_id: uuid.UUID) -> ClientRecord:
    return await found(session, ClientRecord, client_id, missing=ClientNotFound)


class OfAClient(Protocol):
    """A record kept about one client (a job, a benefit claim, an application)."""

    client_id: uuid.UUID


R = TypeVar("R", bound=OfAClient)


async def record_of(
    session: AsyncSession,
    model: type[R],
    record_id: uuid.UUID,
    client: ClientRecord,
    *,
    missing: type[NotFound],
) -> R:
    """The client's record of this kind with this id. Another client's is ``missing`` (404) as
    one that does not exist is: the path names the client, and the record must be theirs."""
    record = await session.get(model, record_id)
    if record is None or record.client_id != client.id:
        raise missing()
    return record


async def care_team_user_ids(*, session: AsyncSession, client_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.exec(
        select(CareTeamMember.user_id).where(
            CareTeamMember.client_id == client_id, col(CareTeamMember.until).is_(None)
        )
    )
    return set(rows.all())


def _care_relation_exists(client_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Exists, Exists]:
    on_care_team = exists().where(
        col(CareTeamMember.client_id) == client_id,
        col(CareTeamMember.user_id) == user_id,
        col(CareTeamMember.until).is_(None),
    )
    supervising = exists().where(
        col(SupervisionLink.supervisor_id) == user_id,
        *supervision_policies.link_in_force(),
        col(CareTeamMember.user_id) == col(SupervisionLink.supervisee_id),
        col(CareTeamMember.client_id) == client_id,
        col(CareTeamMember.until).is_(None),
    )
    return on_care_team, supervising


# Built once with bound parameters: every access to a client's record runs one of these, and
# building the statement and its cache key anew each time cost as much as running it. (Built
# on first use: the policies they use import this module. The parameters are typed as the ids
# they stand for, which the statement compares them with.)
@cache
def _care_relation_statement() -> Select[bool, bool]:
    client_id: Any = bindparam("client_id")
    user_id: Any = bindparam("user_id")
    return select(*_care_relation_exists(client_id, user_id))


@cache
def _with_relation_statement() -> Select[ClientRecord, bool, bool]:
    client_id: Any = bindparam("client_id")
    user_id: Any = bindparam("user_id")
    return select(ClientRecord, *_care_relation_exists(client_id, user_id)).where(
        col(ClientRecord.id) == client_id
    )


@cache
def _audience_statement() -> Select[User, bool, bool]:
    client_id: Any = bindparam("client_id")
    care_team = select(CareTeamMember.user_id).where(
        col(CareTeamMember.client_id) == client_id, col(CareTeamMember.until).is_(None)
    )
    supervisors = select(SupervisionLink.supervisor_id).where(
        col(SupervisionLink.supervisee_id).in_(care_team), *supervision_policies.link_in_force()
    )
    # The relation flags are ``care_relation``'s, correlated to each person found.
    person: Any = col(User.id)
    return select(User, *_care_relation_exists(client_id, person)).where(
        or_(
            col(User.id).in_(union(care_team, supervisors)),
            col(User.id) == bindparam("client_user_id"),
        )
    )


async def audience_candidates(
    *, session: AsyncSession, client: ClientRecord
) -> list[tuple[User, bool, bool]]:
    """The people who may read this client's record, before the policy's rules (the client,
    the current care team, the supervisors of its members under a link in force), each with
    their ``care_relation`` to the client: one query (every plan save and case-thread message
    decides its audience)."""
    rows = await session.exec(
        _audience_statement(), params={"client_id": client.id, "client_user_id": client.user_id}
    )
    return [(user, bool(on_team), bool(supervises)) for user, on_team, supervises in rows.all()]


# Built once: the client's organisation and team names for the summary, in one query rather
# than a load of each whole row (both are the client's foreign keys, so the row is there).
_PLACE_NAMES = select(Organisation.name, Team.name).where(
    col(Organisation.id) == bindparam("organisation_id"), col(Team.id) == bindparam("team_id")
)


async def place_names(*, session: AsyncSession, client: ClientRecord) -> tuple[str, str]:
    """The names of the client's organisation and team."""
    rows = await session.exec(
        _PLACE_NAMES, params={"organisation_id": client.organisation_id, "team_id": client.team_id}
    )
    organisation, team = rows.one()
    return organisation, team


# Kept in a session's ``info`` by ``get_with_relation`` for the one ``care_relation`` that
# follows it: (client id, person id, the relation).
_KNOWN_RELATION = "teamwell_known_care_relation"


async def care_relation(
    *, session: AsyncSession, client_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[bool, bool]:
    """Whether the person is on the client's current care team, and whether they currently
    supervise someone who is: one query (it decides every access to a client's record), or none
    just after ``get_with_relation`` read it with the client."""
    known = session.info.pop(_KNOWN_RELATION, None)
    if known is not None and known[:2] == (client_id, user_id):
        return known[2]
    rows = await session.exec(
        _care_relation_statement(), params={"client_id": client_id, "user_id": user_id}
    )
    on_team, supervises = rows.one()
    return bool(on_team), bool(supervises)


async def get_with_relation(
    *, session: AsyncSession, client_id: uuid.UUID, user_id: uuid.UUID
) -> ClientRecord:
    """``get``, with the person's care relation to the client read in the same query: the next
    ``care_relation`` of this person and client in this session answers from it (the access
    decision made straight after; it is then forgotten, so nothing later reads it stale)."""
    row = (
        await session.exec(
            _with_relation_statement(), params={"client_id": client_id, "user_id": user_id}
        )
    ).first()
    if row is None:
        raise ClientNotFound()
    client, on_team, supervises = row
    session.info[_KNOWN_RELATION] = (client_id, user_id, (bool(on_team), bool(supervises)))
    return client


def forget_relation(session: AsyncSession) -> None:
    session.info.pop(_KNOWN_RELATION, None)


def known_relation(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID, tuple[bool, bool]] | None:
    """What ``get_with_relation`` read and no ``care_relation`` has used yet: (client id,
    person id, the relation)."""
    known: tuple[uuid.UUID, uuid.UUID, tuple[bool, bool]] | None = session.info.get(_KNOWN_RELATION)
    return known


def remember_relation(
    session: AsyncSession, client_id: uuid.UUID, user_id: uuid.UUID, relation: tuple[bool, bool]
) -> None:
    """Have the next ``care_relation`` of this person and client answer ``relation`` (read
    earlier in the same transaction) instead of asking the database again."""
    session.info[_KNOWN_RELATION] = (client_id, user_id, relation)


@dataclass(frozen=True)
class ClientQuery:
    status: ProgrammeStatus | None = None
    text: str | None = None
    team_id: uuid.UUID | None = None


async def related_clients(
    *, session: AsyncSession, user_id: uuid.UUID, query: ClientQuery
) -> list[ClientRecord]:
    """The clients this person is connected to (``auth.policies.clients.related_to``); the
    caller applies the role and consent rules (``readable_clients``)."""
    stmt = select(ClientRecord).where(client_policies.related_to(user_id))
    if query.status:
        stmt = stmt.where(ClientRecord.status == query.status)
    if query.team_id:
        stmt = stmt.where(ClientRecord.team_id == query.team_id)
    if query.text:
        stmt = stmt.where(func.lower(ClientRecord.display_name).contains(query.text.lower()))
    rows = await session.exec(stmt.order_by(col(ClientRecord.display_name), col(ClientRecord.id)))
    return list(rows.all())


async def create(
    *,
    session: AsyncSession,
    ctx: Context,
    team: Team,
    creator: User,
    data: ClientCreate,
    questions: Sequence[eligibility.Question] = eligibility.TRAILBLAZER_QUESTIONS,
) -> ClientRecord:
    now = ctx.now()
    client = ClientRecord(
        organisation_id=team.organisation_id,
        team_id=team.id,
        display_name=data.display_name,
        status=ProgrammeStatus.referred,
        created_at=now,
        updated_at=now,
        created_by=creator.id,
    )
    session.add(client)
    await session.flush()
    # Whoever takes the referral is on the care team from the start, so the record is never
    # left without anyone responsible for it.
    session.add(
        CareTeamMember(
            client_id=client.id,
            user_id=creator.id,
            role_on_team=creator.role,
            since=now,
            added_by=creator.id,
        )
    )
    await add_referral(
        session=session, ctx=ctx, client=client, data=data.referral, questions=questions
    )
    return client


async def update(
    *, session: AsyncSession, ctx: Context, client: ClientRecord, data: ClientUpdate
) -> ClientRecord:
    for name, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(client, name, value)
    client.updated_at = ctx.now()
    session.add(client)
    await session.flush()
    return client


@cache
def _care_team_statement(include_past: bool) -> Executable:
    stmt = (
        sa_select(
            col(CareTeamMember.id),
            col(CareTeamMember.user_id),
            col(User.display_name),
            col(CareTeamMember.role_on_team),
            col(CareTeamMember.since),
            col(CareTeamMember.until),
        )
        .join(User, col(User.id) == col(CareTeamMember.user_id))
        .where(col(CareTeamMember.client_id) == bindparam("client_id"))
    )
    if not include_past:
        stmt = stmt.where(col(CareTeamMember.until).is_(None))
    return stmt.order_by(col(CareTeamMember.since), col(User.display_name))


async def care_team(
    *, session: AsyncSession, client_id: uuid.UUID, include_past: bool = False
) -> list[CareTeamMemberPublic]:
    """The care team (current, or everyone who was on it), as rows on the driver: built once
    for each, and only shown."""
    connection = await session.connection()
    rows = await connection.execute(_care_team_statement(include_past), {"client_id": client_id})
    return [CareTeamMemberPublic.model_validate(row._mapping) for row in rows]


async def add_care_team_member(
    *,
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    user: User,
    data: CareTeamMemberAdd,
) -> CareTeamMember:
    if not client_policies.can_join_care_team(user):
        raise NotClinicalStaff()
    if user.id in await care_team_user_ids(session=session, client_id=client.id):
        raise Conflict("That person is already on this client's care team.")
    member = CareTeamMember(
        client_id=client.id,
        user_id=user.id,
        role_on_team=data.role_on_team or user.role,
        since=ctx.now(),
        added_by=ctx.actor.user_id,
    )
    session.add(member)
    await session.flush()
    return member


async def end_care_team_membership(
    *, session: AsyncSession, ctx: Context, client: ClientRecord, member_id: uuid.UUID
) -> CareTeamMember:
    member = await session.get(CareTeamMember, member_id)
    if member is None or member.client_id != client.id or member.until is not None:
        raise CareTeamMemberNotFound()
    member.until = ctx.now()
    session.add(member)
    await session.flush()
    return member


def _assess(questions: Sequence[eligibility.Question], answers: dict[str, bool]) -> list[str]:
    try:
        return eligibility.assess(questions, answers)
    except eligibility.AnswersDoNotFit as wrong:
        errors = [
            {"field": f"body.referral.eligibility.{key}", "message": "not answered"}
            for key in wrong.missing
        ] + [
            {"field": f"body.referral.eligibility.{key}", "message": "not a question asked"}
            for key in wrong.unknown
        ]
        raise EligibilityAnswersDoNotFit(
            "Answer each question of GET /api/v1/eligibility-questions once, by its key.",
            extra={"errors": errors},
        ) from None


async def add_referral(
    *,
    session: AsyncSession,
    ctx: Context,
    client: ClientRecord,
    data: ReferralCreate,
    questions: Sequence[eligibility.Question] = eligibility.TRAILBLAZER_QUESTIONS,
) -> Referral:
    """Store the referral; with eligibility answers, each answer (with the question's wording)
    and the verdict. An ineligible referral is kept, with its reasons, never dropped."""
    reasons = _assess(questions, data.eligibility) if data.eligibility is not None else None
    now = ctx.now()
    referral = Referral(
        client_id=client.id,
        source=data.source,
        referred_on=data.referred_on,
        reason=data.reason,
        recorded_by=ctx.actor.user_id,
        recorded_at=now,
        eligible=None if reasons is None else not reasons,
        ineligible_reason="; ".join(reasons) if reasons else None,
    )
    session.add(referral)
    await session.flush()
    if data.eligibility is not None:
        for question in questions:
            session.add(
                EligibilityAnswer(
                    referral_id=referral.id,
                    question_key=question.key,
                    question_text=question.text,
                    answer=data.eligibility[question.key],
                    recorded_by=ctx.actor.user_id,
                    recorded_at=now,
                )
            )
        await session.flush()
    return referral


# Built once: the client's referrals with their eligibility answers, in one statement (every
# summary shows them), as rows on the driver.
_REFERRALS: Executable = (
    sa_select(
        col(Referral.id),
        col(Referral.source),
        col(Referral.referred_on),
        col(Referral.reason),
        col(Referral.recorded_at),
        col(Referral.eligible),
        col(Referral.ineligible_reason),
        col(EligibilityAnswer.id).label("answer_id"),
        col(EligibilityAnswer.question_key),
        col(EligibilityAnswer.question_text),
        col(EligibilityAnswer.answer),
        col(EligibilityAnswer.recorded_by).label("answer_recorded_by"),
        col(EligibilityAnswer.recorded_at).label("answer_recorded_at"),
    )
    .outerjoin(EligibilityAnswer, col(EligibilityAnswer.referral_id) == col(Referral.id))
    .where(col(Referral.client_id) == bindparam("client_id"))
    .order_by(
        col(Referral.referred_on),
        col(Referral.recorded_at),
        col(Referral.id),
        col(EligibilityAnswer.recorded_at),
        col(EligibilityAnswer.id),
    )
)


async def referrals(*, session: AsyncSession, client_id: uuid.UUID) -> list[ReferralPublic]:
    connection = await session.connection()
    found: dict[uuid.UUID, ReferralPublic] = {}
    for row in await connection.execute(_REFERRALS, {"client_id": client_id}):
        referral = found.get(row.id)
        if referral is None:
            referral = found[row.id] = ReferralPublic(
                id=row.id,
                source=row.source,
                referred_on=row.referred_on,
                reason=row.reason,
                recorded_at=row.recorded_at,
                eligible=row.eligible,
                ineligible_reason=row.ineligible_reason,
                eligibility=[],
            )
        if row.answer_id is not None:
            referral.eligibility.append(
                EligibilityAnswerPublic(
                    question_key=row.question_key,
                    question_text=row.question_text,
                    answer=row.answer,
                    recorded_by=row.answer_recorded_by,
                    recorded_at=row.answer_recorded_at,
                )
            )
    return list(found.values())


async def link_login(*, session: AsyncSession, client: ClientRecord, user: User) -> None:
    if client.user_id is not None:
        raise Conflict("This client already has a login.")
    client.user_id = user.id
    session.add(client)
    await session.flush()


def _care_relationship_queries(
    user_id: Any,
) -> tuple[SelectOfScalar[uuid.UUID], SelectOfScalar[Any]]:
    my_clients = select(CareTeamMember.client_id).where(
        CareTeamMember.user_id == user_id, col(CareTeamMember.until).is_(None)
    )
    own_record = select(ClientRecord.id).where(ClientRecord.user_id == user_id)
    clients = or_(
        col(CareTeamMember.client_id).in_(my_clients), col(CareTeamMember.client_id).in_(own_record)
    )
    staff = select(CareTeamMember.user_id).where(clients, col(CareTeamMember.until).is_(None))
    logins = select(ClientRecord.user_id).where(
        col(ClientRecord.id).in_(my_clients), col(ClientRecord.user_id).is_not(None)
    )
    return staff, logins


# What other services add to a person's care relationships: a query of further ids, built from
# the person's id (a bound parameter), such as ``teams_service.colleagues_of``.
AlsoRelated = Callable[[Any], SelectOfScalar[uuid.UUID]]


# Built once per kind of ``also`` with the person's id bound: every socket reads this as it
# connects, and building the union and its cache key anew took about as long as running it.
@cache
def _care_relationships_statement(also: tuple[AlsoRelated, ...]) -> CompoundSelect[Any]:
    user_id: Any = bindparam("user_id")
    staff, logins = _care_relationship_queries(user_id)
    return union(staff, logins, *(query(user_id) for query in also))


async def care_relationship_ids(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    also: Sequence[AlsoRelated] = (),
) -> set[uuid.UUID]:
    """People this person meets through a client's care: for staff, the others on the care teams
    they are on and those clients' own logins; for a client, their own care team. ``also``: the
    ids other queries name (a person's colleagues, say), read in the same statement, one round
    trip however many there are (every socket's presence reads them as it connects)."""
    statement = _care_relationships_statement(tuple(also))
    # Through the session, not on its connection: what the session holds unflushed (a care team
    # just joined, a login just linked to its record) is flushed first and counted.
    rows = await session.execute(statement, {"user_id": user_id})
    return {u for u in rows.scalars() if u is not None} - {user_id}


async def supervisors_of(*, session: AsyncSession, user_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not user_ids:
        return set()
    rows = await session.exec(
        select(SupervisionLink.supervisor_id).where(
            col(SupervisionLink.supervisee_id).in_(user_ids), *supervision_policies.link_in_force()
        )
    )
    return set(rows.all())


async def own_record(*, session: AsyncSession, user_id: uuid.UUID) -> ClientRecord | None:
    """The client record this login belongs to, if any."""
    rows = await session.exec(select(ClientRecord).where(ClientRecord.user_id == user_id))
    return rows.first()


async def on_care_team_of(*, session: AsyncSession, user_id: uuid.UUID) -> list[ClientRecord]:
    """The clients on whose care team the person is now (not those they only supervise)."""
    current = select(CareTeamMember.client_id).where(
        CareTeamMember.user_id == user_id, col(CareTeamMember.until).is_(None)
    )
    rows = await session.exec(
        select(ClientRecord)
        .where(col(ClientRecord.id).in_(current))
        .order_by(col(ClientRecord.display_name), col(ClientRecord.id))
    )
    return list(rows.all())
