"""What the wellbeing, supervision and team-view API accepts and returns.

Nothing here carries ciphertext or key ids: free text leaves the service only decrypted, and
only to the people allowed to read it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Final, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.ips.schemas import Caseload
from app.supervision.models import SupervisionKind
from app.supervision.rules import CHECK_IN_MAX, CHECK_IN_MIN
from app.users.models import Role

CADENCE_MAX_DAYS: Final = 365
"""Longest cadence a supervisor may set (a year), for check-ins and supervision alike."""
ATTENDEES_MAX: Final = 50
ACTIONS_MAX: Final = 50

# Strict: a JSON "3", 3.0 or true is refused rather than quietly read as 3 (or 1).
Scale = Annotated[int, Field(ge=CHECK_IN_MIN, le=CHECK_IN_MAX, strict=True)]
CadenceDays = Annotated[int, Field(ge=1, le=CADENCE_MAX_DAYS, strict=True)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- check-ins -------------------------------------------------------------------------------


class CheckInCreate(Strict):
    """A wellbeing check-in: four measures on a fixed 1-5 scale (docs/supervision.md)."""

    mood: Scale = Field(description="1 very low ... 5 very good")
    workload: Scale = Field(description="1 very light ... 5 unmanageable")
    stress: Scale = Field(description="1 none ... 5 severe")
    support: Scale = Field(description="1 unsupported ... 5 well supported")
    wants_to_talk: bool = Field(
        default=False, strict=True, description="I'd like to talk: tells my supervisor at once"
    )
    text: str | None = Field(
        default=None,
        description="Optional free text, at most TEAMWELL_WELLBEING_TEXT_MAX_CHARS characters",
    )


class CheckInPublic(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    at: datetime
    mood: int
    workload: int
    stress: int
    support: int
    wants_to_talk: bool
    text: str | None
    talk_acknowledged_at: datetime | None
    talk_acknowledged_by: uuid.UUID | None
    talk_acknowledged_by_name: str | None


class CheckInCreated(CheckInPublic):
    supervisors_notified: int = Field(
        description="How many supervisors were told at once (0 when none is assigned, or the "
        "check-in did not ask to talk)"
    )


class CheckInPrompt(BaseModel):
    """Whether the signed-in person is due to check in, by the cadence their supervisor set."""

    cadence_days: int
    cadence_set_by_supervisor: bool
    last_check_in_at: datetime | None
    next_due_at: datetime = Field(description="Now, when the person has never checked in")
    due: bool


class TalkRequestPublic(BaseModel):
    check_in_id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    acknowledged_by_name: str | None


# --- cadence ---------------------------------------------------------------------------------


class CadenceSet(Strict):
    check_in_days: CadenceDays = Field(description="Prompt to check in this many days apart")
    supervision_days: CadenceDays = Field(
        description="Supervision is due this many days after the last session"
    )


class CadencePublic(BaseModel):
    supervisee_id: uuid.UUID
    check_in_days: int
    supervision_days: int
    is_default: bool = Field(description="True when no supervisor has set it (the settings)")
    set_by: uuid.UUID | None
    set_at: datetime | None


# --- supervision records ---------------------------------------------------------------------


class ActionCreate(Strict):
    text: str = Field(min_length=1, max_length=1000)
    owner_id: uuid.UUID = Field(description="An attendee, or the supervisor holding the record")
    due_on: date | None = None


class ActionUpdate(Strict):
    done: bool = Field(strict=True)


class ActionPublic(BaseModel):
    id: uuid.UUID
    record_id: uuid.UUID
    owner_id: uuid.UUID
    owner_name: str | None
    text: str
    due_on: date | None
    done_at: datetime | None
    overdue: bool = Field(description="Not done, and today is after due_on")
    created_at: datetime


class RecordCreate(Strict):
    kind: SupervisionKind
    held_on: date = Field(description="The day the session took place (not after today)")
    supervisee_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=ATTENDEES_MAX,
        description="Who attended: your own current supervisees only; exactly one for one_to_one",
    )
    meeting_id: uuid.UUID | None = Field(
        default=None, description='The meeting of the kind "supervision" it was held in'
    )
    notes: str | None = Field(
        default=None,
        description="At most TEAMWELL_SUPERVISION_NOTES_MAX_CHARS characters; stored encrypted",
    )
    actions: list[ActionCreate] = Field(default_factory=list, max_length=ACTIONS_MAX)

    @model_validator(mode="after")
    def attendees_fit_the_kind(self) -> Self:
        if len(set(self.supervisee_ids)) != len(self.supervisee_ids):
            raise ValueError("supervisee_ids names someone twice")
        if self.kind == SupervisionKind.one_to_one and len(self.supervisee_ids) != 1:
            raise ValueError("a one_to_one session has exactly one supervisee")
        return self


class RecordUpdate(Strict):
    notes: str | None = Field(description="The notes in full (null clears them)")


class AttendeePublic(BaseModel):
    user_id: uuid.UUID
    display_name: str | None


class RecordPublic(BaseModel):
    id: uuid.UUID
    kind: SupervisionKind
    held_on: date
    supervisor_id: uuid.UUID
    supervisor_name: str | None
    meeting_id: uuid.UUID | None
    attendees: list[AttendeePublic]
    notes: str | None
    actions: list[ActionPublic]
    version: int = Field(description="The notes' version, also the ETag to send in If-Match")
    created_at: datetime
    updated_at: datetime


# --- the supervisor's views ------------------------------------------------------------------


class SuperviseeOverview(BaseModel):
    user_id: uuid.UUID
    display_name: str
    role: Role
    supervised_since: datetime
    cadence: CadencePublic
    last_supervision_on: date | None = Field(
        description="The latest session they attended, with any supervisor"
    )
    supervision_due_on: date
    supervision_overdue: bool
    last_check_in_at: datetime | None
    next_check_in_due_at: datetime
    check_in_due: bool
    open_actions: int = Field(description="Actions they own from your sessions, not done")
    overdue_actions: int
    open_talk_request: TalkRequestPublic | None = Field(
        description="Their oldest unacknowledged 'I'd like to talk'"
    )
    open_talk_requests: int


class WellbeingWeek(BaseModel):
    """One ISO week of team wellbeing. When ``suppressed`` every figure, the head-count too, is
    null: fewer than ``min_people`` answered."""

    week: str = Field(examples=["2026-W10"])
    starts_on: date = Field(description="Monday")
    ends_on: date = Field(description="Sunday")
    suppressed: bool
    people: int | None
    mood: float | None
    workload: float | None
    stress: float | None
    support: float | None


class OverdueWork(BaseModel):
    """Counts over the team's open clients; no client is named."""

    open_clients: int
    plan_actions_overdue: int
    support_reviews_overdue: int
    first_employer_contacts_overdue: int
    clients_with_overdue_work: int


class AlertCount(BaseModel):
    kind: str
    open: int = Field(description="Distinct open alerts (one per client and cause)")


class MemberPresence(BaseModel):
    user_id: uuid.UUID
    display_name: str
    role: Role
    state: str = Field(examples=["online", "away", "busy", "in_session", "offline"])
    last_seen: datetime | None


class TeamOverview(BaseModel):
    team_id: uuid.UUID
    team_name: str
    today: date
    period_from: date
    period_to: date
    min_people: int
    wellbeing: list[WellbeingWeek]
    caseloads: list[Caseload]
    overdue: OverdueWork
    open_alerts: list[AlertCount]
    open_alerts_total: int
    presence_available: bool = Field(description="False when presence cannot be read just now")
    presence: list[MemberPresence]
