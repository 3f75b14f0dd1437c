"""Programme figures by equality group, for one characteristic at a time.

Each client is in exactly one group of the characteristic (``not_recorded`` when they gave no
answer), so the groups add up to the overall figure and the same suppression as the split by
arm applies, complementary suppression included (``definitions.present``). Only these
suppressed counts leave: no group ever names a client.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from pydantic import BaseModel, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients.models import ClientRecord
from app.equality import service as equality_service
from app.messaging.keyring import MessageKeyring
from app.reports import definitions
from app.reports.schemas import (
    CellPublic,
    DefinitionPublic,
    PeriodPublic,
    ScopePublic,
    SuppressionPublic,
)
from app.reports.service import (
    SUPPRESSION_RULE,
    Scope,
    client_facts_by_id,
    definition_public,
)

# The figures shown by group: the programme's headline outcomes (docs/reports.md).
EQUALITY_FIGURES: Final[tuple[str, ...]] = (
    "referrals",
    "engagement",
    "job_entries",
    "sustained_13_weeks",
    "sustained_26_weeks",
    "recovery",
    "reliable_improvement",
)


class EqualityFigure(DefinitionPublic):
    overall: CellPublic
    by_group: dict[str, CellPublic] = Field(
        description="One cell per group of the characteristic, in `groups` order"
    )


class EqualityReport(BaseModel):
    scope: ScopePublic
    period: PeriodPublic
    characteristic: str
    groups: list[str]
    suppression: SuppressionPublic
    generated_at: datetime
    figures: list[EqualityFigure]


def _public(cell: definitions.Cell) -> CellPublic:
    return CellPublic(
        value=cell.value,
        numerator=cell.numerator,
        denominator=cell.denominator,
        suppressed=cell.suppressed,
    )


async def equality_report(
    *,
    session: AsyncSession,
    keyring: MessageKeyring,
    scope: Scope,
    characteristic: str,
    first_day: date,
    last_day: date,
    today: date,
    now: datetime,
    threshold: int,
) -> EqualityReport:
    as_of = definitions.as_of_day(last_day, today)
    in_scope = select(ClientRecord.id).where(col(ClientRecord.team_id).in_(list(scope.team_ids)))
    facts = (
        await client_facts_by_id(
            session=session, in_scope=in_scope, first_day=first_day, as_of=as_of
        )
        if scope.team_ids
        else {}
    )
    answers = await equality_service.answers_of(session=session, keyring=keyring, client_ids=facts)
    groups = equality_service.groups_of(characteristic)
    members: dict[str, list[definitions.ClientFacts]] = {g: [] for g in groups}
    for client_id, fact in facts.items():
        members[equality_service.group_of(answers.get(client_id), characteristic)].append(fact)
    overall = definitions.tally(list(facts.values()), first_day=first_day, as_of=as_of)
    split = {g: definitions.tally(members[g], first_day=first_day, as_of=as_of) for g in groups}
    found = []
    for key in EQUALITY_FIGURES:
        definition = definitions.BY_KEY[key]
        cell, cells = definitions.present(
            definition, overall[key], {g: split[g][key] for g in groups}, threshold=threshold
        )
        found.append(
            EqualityFigure(
                **definition_public(definition).model_dump(),
                overall=_public(cell),
                by_group={g: _public(c) for g, c in (cells or {}).items()},
            )
        )
    return EqualityReport(
        scope=ScopePublic(kind=scope.kind, id=scope.id, name=scope.name),
        period=PeriodPublic.model_validate({"from": first_day, "to": last_day, "as_of": as_of}),
        characteristic=characteristic,
        groups=list(groups),
        suppression=SuppressionPublic(
            threshold=threshold, rule=SUPPRESSION_RULE.format(below=threshold - 1)
        ),
        generated_at=now,
        figures=found,
    )
