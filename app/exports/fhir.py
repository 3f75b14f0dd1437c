"""A client's record as a FHIR R4 ``Bundle`` (type ``collection``), for UK Core systems.

UK Core is FHIR R4. ``fhir.resources`` ships R5 by default and R4B — the same shape as R4 for
every resource used here — as ``fhir.resources.R4B``; each resource is built as its R4B model,
which checks types and required elements as it is constructed, so what leaves here parses.

What goes in:

* ``Patient`` — the client: id, name (as text) and managing organisation. Nothing we do not
  hold is invented (no NHS number, birth date or address).
* ``CarePlan`` (active, intent plan) — the shared plan: one activity per plan action with its
  status mapped (open: not-started, done: completed, cancelled: cancelled), its goals and the
  care team referenced; and a ``Goal`` (active) per goal, the client's own words as the
  description.
* ``CareTeam`` — the current members by name, each with their role as text.
* ``QuestionnaireResponse`` (completed) per completed questionnaire: linkId = item number,
  ``valueInteger`` answers ("not applicable" as the data-absent-reason code). Only for readers
  who see item answers (``auth.policies.clients.can_see_item_answers``: the client, the care team's
  therapists, the supervisors of its staff); for the others the bundle has none.
* ``Observation`` (final, survey) per scored questionnaire: LOINC 44261-6 (PHQ-9) or 70274-6
  (GAD-7), or a text code when the instrument has no LOINC total (WSAS); ``valueInteger`` total;
  ``derivedFrom`` its QuestionnaireResponse when that is in the bundle.
* ``Consent`` per current consent decision: active when granted, inactive when withdrawn, with
  the organisation it concerns.
* ``Organization`` (id and name) for each organisation named, so references resolve inside.

Every entry's ``fullUrl`` is ``urn:uuid:<id>`` and every reference uses it, so the bundle stands
on its own. Rows with a uuid keep it; the rest (goals, the care team, observations, consents)
get a uuid5 derived from stable ids, so exporting twice gives the same ids. Staff are
referenced by display name only: there is no practitioner directory to point to.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.goal import Goal
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir.resources.R4B.resource import Resource
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clients.models import ClientRecord, ProgrammeStatus
from app.clients.schemas import CareTeamMemberPublic
from app.consents import service as consents_service
from app.consents.models import ConsentPurpose, ConsentRecord, ConsentState
from app.measures import service as measures_service
from app.measures.instruments import REGISTRY
from app.measures.models import MeasureResponse
from app.organisations import service as organisations_service
from app.plans import service as plans_service
from app.plans.schemas import ActionStatus, PlanContent
from app.users import service as users_service
from app.users.models import Role

FHIR_MEDIA_TYPE = "application/fhir+json"
LOINC = "http://loinc.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# Names our questionnaire definitions (``app.measures.instruments``) as canonical URIs.
QUESTIONNAIRE_URN = "urn:teamwell:instrument:"
# Derived ids (uuid5) live in their own namespace.
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://teamwell.invalid/fhir")

ACTION_STATUS = {
    ActionStatus.open: "not-started",
    ActionStatus.done: "completed",
    ActionStatus.cancelled: "cancelled",
}
CONSENT_STATUS = {ConsentState.granted: "active", ConsentState.withdrawn: "inactive"}
CONSENT_PROVISION = {ConsentState.granted: "permit", ConsentState.withdrawn: "deny"}
CONSENT_PURPOSE = {
    ConsentPurpose.care: "Sharing the record with this organisation for the client's care",
    ConsentPurpose.employment_sharing: "Sharing the record with this employment service",
    ConsentPurpose.evaluation: "Use of the record in the programme's evaluation",
}
ROLE_TEXT = {
    Role.peer_keyworker: "Peer keyworker (expert by experience)",
    Role.therapist: "Therapist (NHS Talking Therapies)",
    Role.employment_specialist: "Employment specialist (IPS)",
    Role.supervisor: "Supervisor",
}


@dataclass(frozen=True)
class ClinicalRecord:
    """What the bundle is made from, read in one go."""

    client: ClientRecord
    organisations: dict[uuid.UUID, str]
    care_team: list[CareTeamMemberPublic]
    plan_id: uuid.UUID | None
    plan: PlanContent | None
    staff_names: dict[uuid.UUID, str]
    measures: list[MeasureResponse]
    consents: list[ConsentRecord]
    # Whether the reader sees item answers (auth.policies.clients.can_see_item_answers): when
    # not, no QuestionnaireResponse goes in, only the Observations with the totals.
    item_answers: bool


async def collect(
    *, session: AsyncSession, client: ClientRecord, item_answers: bool
) -> ClinicalRecord:
    """Read what the bundle needs: the current care team, plan, measures and consents."""
    care_team = await clients_service.care_team(session=session, client_id=client.id)
    plan = await plans_service.find(session=session, client_id=client.id)
    content = plans_service.content_of(plan) if plan else None
    measures = await measures_service.history(session=session, client_id=client.id)
    consents = consents_service.current_of(
        await consents_service.history(session=session, client_id=client.id)
    )
    people = {a.owner_id for a in content.actions if a.owner_id} if content else set()
    people |= {m.completed_by for m in measures}
    organisations = {client.organisation_id} | {c.organisation_id for c in consents}
    return ClinicalRecord(
        client=client,
        organisations=await organisations_service.names(session=session, ids=organisations),
        care_team=care_team,
        plan_id=plan.id if plan else None,
        plan=content,
        staff_names=await users_service.names(session=session, ids=people),
        measures=measures,
        consents=consents,
        item_answers=item_answers,
    )


def bundle_of(record: ClinicalRecord, *, now: datetime, bundle_id: uuid.UUID) -> Bundle:
    """The record as a validated R4B collection bundle."""
    builder = _Builder(record)
    resources: list[Resource] = [builder.patient()]
    resources += [builder.organization(org_id) for org_id in sorted(record.organisations, key=str)]
    resources.append(builder.care_team())
    if record.plan is not None and record.plan_id is not None:
        resources.append(builder.care_plan(record.plan_id, record.plan))
        resources += [builder.goal(record.plan_id, g.id, g.text) for g in record.plan.goals]
    for measure in record.measures:
        if record.item_answers:
            resources.append(builder.questionnaire_response(measure))
        if measure.total is not None:
            resources.append(builder.observation(measure))
    resources += [builder.consent(c) for c in record.consents]
    return Bundle.model_validate(
        {
            "id": str(bundle_id),
            "type": "collection",
            "timestamp": now.isoformat(),
            "entry": [{"fullUrl": urn(r.id), "resource": r} for r in resources],
        }
    )


def urn(resource_id: uuid.UUID | str | None) -> str:
    return f"urn:uuid:{resource_id}"


def derived_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(ID_NAMESPACE, ":".join(str(p) for p in parts))


def goal_uuid(plan_id: uuid.UUID, goal_id: str) -> uuid.UUID:
    return derived_id("goal", plan_id, goal_id)


def _ref(resource_id: uuid.UUID | str, display: str | None = None) -> dict[str, Any]:
    reference: dict[str, Any] = {"reference": urn(resource_id)}
    if display:
        reference["display"] = display
    return reference


class _Builder:
    """One resource at a time, each validated as its R4B model."""

    def __init__(self, record: ClinicalRecord) -> None:
        self.record = record
        self.client = record.client
        self.care_team_id = derived_id("care-team", self.client.id)

    def patient_ref(self) -> dict[str, Any]:
        return _ref(self.client.id, self.client.display_name)

    def person_ref(self, user_id: uuid.UUID | None) -> dict[str, Any]:
        """The client (a reference into the bundle) or a member of staff (by name)."""
        if user_id is None or user_id == self.client.user_id:
            return self.patient_ref()
        return {"type": "Practitioner", "display": self.record.staff_names.get(user_id, "Staff")}

    def patient(self) -> Patient:
        return Patient.model_validate(
            {
                "id": str(self.client.id),
                "active": self.client.status != ProgrammeStatus.closed,
                "name": [{"text": self.client.display_name}],
                "managingOrganization": self.organization_ref(self.client.organisation_id),
            }
        )

    def organization_ref(self, org_id: uuid.UUID) -> dict[str, Any]:
        return _ref(org_id, self.record.organisations.get(org_id))

    def organization(self, org_id: uuid.UUID) -> Organization:
        return Organization.model_validate(
            {"id": str(org_id), "name": self.record.organisations[org_id]}
        )

    def care_team(self) -> CareTeam:
        return CareTeam.model_validate(
            {
                "id": str(self.care_team_id),
                "status": "active",
                "name": f"Care team of {self.client.display_name}",
                "subject": self.patient_ref(),
                "participant": [
                    {
                        "role": [{"text": ROLE_TEXT.get(m.role_on_team, str(m.role_on_team))}],
                        "member": {"type": "Practitioner", "display": m.display_name},
                        "period": {"start": m.since.isoformat()},
                    }
                    for m in self.record.care_team
                ],
                "managingOrganization": [self.organization_ref(self.client.organisation_id)],
            }
        )

    def goal(self, plan_id: uuid.UUID, goal_id: str, text: str) -> Goal:
        return Goal.model_validate(
            {
                "id": str(goal_uuid(plan_id, goal_id)),
                "lifecycleStatus": "active",
                "description": {"text": text},
                "subject": self.patient_ref(),
            }
        )

    def care_plan(self, plan_id: uuid.UUID, plan: PlanContent) -> CarePlan:
        activities = []
        for action in plan.actions:
            detail: dict[str, Any] = {
                "status": ACTION_STATUS[action.status],
                "description": action.text,
                "performer": [self.person_ref(action.owner_id)],
            }
            if action.due_on is not None:
                detail["scheduledPeriod"] = {"end": action.due_on.isoformat()}
            activities.append({"detail": detail})
        return CarePlan.model_validate(
            {
                "id": str(plan_id),
                "status": "active",
                "intent": "plan",
                "title": "Shared plan: employment support and therapy",
                "subject": self.patient_ref(),
                "careTeam": [_ref(self.care_team_id)],
                "goal": [_ref(goal_uuid(plan_id, g.id)) for g in plan.goals],
                "activity": activities,
            }
        )

    def questionnaire_response(self, measure: MeasureResponse) -> QuestionnaireResponse:
        instrument = REGISTRY.get(measure.instrument)
        texts = {i.number: i.text for i in instrument.items} if instrument else {}
        items = []
        for key in sorted(measure.answers, key=int):
            value = measure.answers[key]
            item: dict[str, Any] = {"linkId": key}
            if int(key) in texts:
                item["text"] = texts[int(key)]
            if isinstance(value, int):
                item["answer"] = [{"valueInteger": value}]
            elif value == "not_applicable":
                item["answer"] = [
                    {"valueCoding": {"system": DATA_ABSENT_REASON, "code": "not-applicable"}}
                ]
            items.append(item)  # a missing answer: the item with no answer
        return QuestionnaireResponse.model_validate(
            {
                "id": str(measure.id),
                "questionnaire": (
                    f"{QUESTIONNAIRE_URN}{measure.instrument}|{measure.instrument_version}"
                ),
                "status": "completed",
                "subject": self.patient_ref(),
                "authored": measure.completed_at.isoformat(),
                "author": self.person_ref(measure.completed_by),
                "item": items,
            }
        )

    def observation(self, measure: MeasureResponse) -> Observation:
        instrument = REGISTRY.get(measure.instrument)
        name = instrument.name if instrument else measure.instrument
        code: dict[str, Any] = {"text": f"{name} total score"}
        if instrument is not None and instrument.loinc_total:
            code["coding"] = [{"system": LOINC, "code": instrument.loinc_total}]
        observation: dict[str, Any] = {
            "id": str(derived_id("observation", measure.id)),
            "status": "final",
            "category": [
                {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey"}], "text": "Survey"}
            ],
            "code": code,
            "subject": self.patient_ref(),
            "effectiveDateTime": measure.completed_at.isoformat(),
            "performer": [self.person_ref(measure.completed_by)],
            "valueInteger": measure.total,
        }
        if self.record.item_answers:  # the QuestionnaireResponse is in the bundle
            observation["derivedFrom"] = [_ref(measure.id)]
        if measure.band:
            observation["interpretation"] = [{"text": measure.band}]
        if measure.prorated:
            observation["note"] = [
                {"text": "Prorated from the answered items (NHS data dictionary rule)."}
            ]
        return Observation.model_validate(observation)

    def consent(self, decision: ConsentRecord) -> Consent:
        purpose = CONSENT_PURPOSE.get(decision.purpose, str(decision.purpose))
        return Consent.model_validate(
            {
                "id": str(derived_id("consent", self.client.id, decision.id)),
                "status": CONSENT_STATUS[decision.state],
                "scope": {
                    "coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}],
                    "text": "Sharing the client's record",
                },
                "category": [{"text": purpose}],
                "patient": self.patient_ref(),
                "dateTime": decision.recorded_at.isoformat(),
                "organization": [self.organization_ref(decision.organisation_id)],
                "policyRule": {
                    "text": "UK GDPR: the client's recorded decision for this organisation "
                    "and purpose"
                },
                "provision": {
                    "type": CONSENT_PROVISION[decision.state],
                    "actor": [
                        {
                            "role": {
                                "coding": [{"system": PARTICIPATION_TYPE, "code": "IRCP"}],
                                "text": "Information recipient",
                            },
                            "reference": self.organization_ref(decision.organisation_id),
                        }
                    ],
                },
            }
        )
