from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.dbtypes import enum_field, id_field, timestamp_field


class AlertKind(StrEnum):
    # Thoughts of self-harm: urgent, at once, to the care team's clinicians; never to nobody
    # (auth.policies.clients.risk_alert_audience).
    phq9_item9 = "phq9_item9"
    # The IPS journey (app/ips): overdue items, to the care team.
    first_employer_contact_overdue = "first_employer_contact_overdue"
    support_review_overdue = "support_review_overdue"
    plan_action_overdue = "plan_action_overdue"
    # A job's 13, 26 or 52-week sustainment check falls due (raised on its due day).
    sustainment_check_due = "sustainment_check_due"


# Alerts that carry clinical risk (what a questionnaire answer said): seen only by those who may
# see item answers (auth.policies.clients.can_see_item_answers), never by the whole care team.
RISK_ALERT_KINDS = frozenset({AlertKind.phq9_item9})


class Alert(SQLModel, table=True):
    """An alert to one member of staff, kept until they acknowledge it."""

    id: uuid.UUID = id_field()
    kind: AlertKind = enum_field()
    urgent: bool = False
    client_id: uuid.UUID = Field(foreign_key="client_record.id", index=True)
    recipient_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    source_id: uuid.UUID | None = None  # e.g. the questionnaire that raised it
    detail: str = Field(max_length=500)
    # Sent to the organisation's supervisors because nobody on or over the care team may see it
    # (auth.policies.clients.risk_alert_audience): they keep it while they are such supervisors.
    escalated: bool = False
    raised_at: datetime = timestamp_field(index=True)
    acknowledged_at: datetime | None = timestamp_field(nullable=True)
    acknowledgement_note: str | None = Field(default=None, max_length=1000)
