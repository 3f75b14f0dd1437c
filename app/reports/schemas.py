"""What the programme-report API returns. Only aggregates: no field names a client."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Unit = Literal["count", "proportion", "days", "hours"]
ScopeKindName = Literal["team", "organisation", "area_cluster"]


class DefinitionPublic(BaseModel):
    """A figure's definition, shown beside it."""

    key: str
    label: str
    unit: Unit = Field(
        description="count: a number of things; proportion: a share from 0 to 1; "
        "days: a median number of days; hours: a median number of hours a week"
    )
    definition: str
    numerator_label: str
    denominator_label: str | None = Field(description="None for a plain count")


class CellPublic(BaseModel):
    """One figure for one group. A withheld part is null and ``suppressed`` is true."""

    value: float | int | None = Field(
        description="The count, the proportion (0-1, 4 decimals), the median days or the "
        "median hours a week"
    )
    numerator: int | None
    denominator: int | None
    suppressed: bool


class FigurePublic(DefinitionPublic):
    overall: CellPublic
    by_arm: dict[Literal["ips", "treatment_as_usual", "not_allocated"], CellPublic] | None = Field(
        description="Present when the report is split by evaluation arm"
    )


class ScopePublic(BaseModel):
    kind: ScopeKindName
    id: str = Field(description="The team's or organisation's id, or the area cluster's name")
    name: str


class PeriodPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    first_day: date = Field(alias="from")
    last_day: date = Field(alias="to")
    as_of: date = Field(description="Figures are counted to this day: the period's end or today")


class SuppressionPublic(BaseModel):
    threshold: int = Field(description="The smallest count shown besides zero")
    rule: str


class ProgrammeReport(BaseModel):
    scope: ScopePublic
    period: PeriodPublic
    split: Literal["arm"] | None
    suppression: SuppressionPublic
    generated_at: datetime
    figures: list[FigurePublic]


class ScopeOption(BaseModel):
    kind: ScopeKindName
    id: str
    name: str


class ReportScopes(BaseModel):
    """The scopes the reader may ask a report for."""

    teams: list[ScopeOption]
    organisations: list[ScopeOption]
    area_clusters: list[ScopeOption]
