"""Every table, imported in one place so the metadata that alembic reads is complete."""

import app.ips.models  # noqa: F401  (the IPS journey tables)
from app.alerts.models import Alert
from app.audit.models import AuditEvent
from app.benefits.models import BenefitClaim, BetterOffCalculation
from app.brokerage.models import Application, Employer, Vacancy
from app.clients.models import CareTeamMember, ClientRecord, EligibilityAnswer, Referral
from app.consents.models import ConsentRecord
from app.documents.models import Document, DocumentUpload, DocumentVersion
from app.equality.models import EqualityProfile
from app.evaluation.models import EvaluationTrial, TrialAllocation
from app.fidelity.models import FidelityReview
from app.jobs.models import ScheduledJob
from app.measures.models import MeasureResponse
from app.meetings.models import GuestLink, Meeting, MeetingInvitee, MeetingParticipant
from app.messaging.models import (
    Conversation,
    ConversationParticipant,
    Message,
    MessageRevision,
    ReadMarker,
)
from app.notifications.models import (
    NotificationDelivery,
    NotificationPreference,
    NotificationProfile,
    PushSubscription,
)
from app.organisations.models import Organisation
from app.plans.models import CarePlan, CarePlanVersion, PlanComment
from app.reports.models import ReportTarget
from app.supervision.models import (
    SupervisionAction,
    SupervisionAttendee,
    SupervisionCadence,
    SupervisionRecord,
    WellbeingCheckIn,
)
from app.teams.models import Team, TeamMembership
from app.users.models import SupervisionLink, User
from auth.models import (
    AuthSession,
    ExternalIdentity,
    Invitation,
    RecoveryCode,
    RefreshToken,
    SsoLoginCode,
    SsoProvider,
)

__all__ = [
    "Alert",
    "Application",
    "AuditEvent",
    "AuthSession",
    "BenefitClaim",
    "BetterOffCalculation",
    "CarePlan",
    "CarePlanVersion",
    "CareTeamMember",
    "ClientRecord",
    "ConsentRecord",
    "Conversation",
    "ConversationParticipant",
    "Document",
    "DocumentUpload",
    "DocumentVersion",
    "EligibilityAnswer",
    "Employer",
    "EqualityProfile",
    "EvaluationTrial",
    "ExternalIdentity",
    "FidelityReview",
    "GuestLink",
    "Invitation",
    "MeasureResponse",
    "Meeting",
    "MeetingInvitee",
    "MeetingParticipant",
    "Message",
    "MessageRevision",
    "NotificationDelivery",
    "NotificationPreference",
    "NotificationProfile",
    "Organisation",
    "PlanComment",
    "PushSubscription",
    "ReadMarker",
    "RecoveryCode",
    "Referral",
    "RefreshToken",
    "ReportTarget",
    "ScheduledJob",
    "SsoLoginCode",
    "SsoProvider",
    "SupervisionAction",
    "SupervisionAttendee",
    "SupervisionCadence",
    "SupervisionLink",
    "SupervisionRecord",
    "Team",
    "TeamMembership",
    "TrialAllocation",
    "User",
    "Vacancy",
    "WellbeingCheckIn",
]
