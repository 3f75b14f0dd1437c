"""A client's record: who reads it, who changes it, who sees its item answers and risk alerts.

A client's record is open to the members of their care team, the supervisors of those members,
and the client. Admins manage accounts but see no clinical content. Staff of another organisation
than the client's also need the client's current consent for their organisation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clients.models import CareTeamMember, ClientRecord
from app.consents import service as consents_service
from app.consents.models import ConsentPurpose
from app.organisations import service as organisations_service
from app.organisations.models import OrganisationKind
from app.users import service as users_service
from app.users.models import CLINICAL_ROLES, Role, SupervisionLink, User
from auth.policies import supervision as supervision_policies
from auth.policies.decision import ALLOW, Decision


class Relationship(StrEnum):
    own_record = "own_record"
    care_team = "care_team"
    supervisor = "supervisor"
    none = "none"


def consent_purpose_for(kind: OrganisationKind) -> ConsentPurpose:
    """What a client must have agreed to before an organisation of this kind sees their record."""
    if kind in (OrganisationKind.employment_provider, OrganisationKind.jobcentre):
        return ConsentPurpose.employment_sharing
    return ConsentPurpose.care


def _related(
    user: User, client: ClientRecord, *, on_care_team: bool, supervising: bool
) -> Relationship:
    """The relationship, given whether the person is on the current care team and whether they
    supervise someone who is (``clients.care_relation``)."""
    if client.user_id is not None and client.user_id == user.id:
        return Relationship.own_record
    if user.role not in CLINICAL_ROLES:
        return Relationship.none
    if on_care_team:
        return Relationship.care_team
    if user.role == Role.supervisor and supervising:
        return Relationship.supervisor
    return Relationship.none


async def relationship(session: AsyncSession, user: User, client: ClientRecord) -> Relationship:
    related = _related(user, client, on_care_team=False, supervising=False)
    if related == Relationship.own_record or user.role not in CLINICAL_ROLES:
        return related  # decided without asking about the care team
    on_care_team, supervising = await clients_service.care_relation(
        session=session, client_id=client.id, user_id=user.id
    )
    return _related(user, client, on_care_team=on_care_team, supervising=supervising)


def related_to(user_id: uuid.UUID) -> ColumnElement[bool]:
    """``relationship`` as the condition of a query on client records, for the lists (clients,
    meetings, conversations, the home page): the person's own record, the care teams they are
    on, and the care teams of the staff they supervise under a link in force. The role and
    consent rules are applied after, in Python, to what it finds (``readable_clients``); the
    care-team and supervision services admit only clinical staff and supervisors to those
    relationships. ``tests/auth/policies/test_policy_sql.py`` holds the two to the same answer."""
    on_care_team = select(CareTeamMember.client_id).where(
        CareTeamMember.user_id == user_id, col(CareTeamMember.until).is_(None)
    )
    supervisees = select(SupervisionLink.supervisee_id).where(
        SupervisionLink.supervisor_id == user_id, *supervision_policies.link_in_force()
    )
    supervised_care = select(CareTeamMember.client_id).where(
        col(CareTeamMember.user_id).in_(supervisees), col(CareTeamMember.until).is_(None)
    )
    return or_(
        col(ClientRecord.user_id) == user_id,
        col(ClientRecord.id).in_(on_care_team),
        col(ClientRecord.id).in_(supervised_care),
    )


async def _consent_across_organisations(
    session: AsyncSession, user: User, client: ClientRecord
) -> Decision:
    if user.organisation_id == client.organisation_id:
        return ALLOW
    organisation = await organisations_service.get(
        session=session, organisation_id=user.organisation_id
    )
    purpose = consent_purpose_for(organisation.kind)
    granted = await consents_service.granted_clients(
        session=session,
        client_ids={client.id},
        organisation_id=user.organisation_id,
        purpose=purpose,
    )
    if client.id in granted:
        return ALLOW
    return Decision(False, f"no current consent ({purpose}) for this organisation")


def _account_refusal(user: User) -> Decision | None:
    """What refuses this account any client record, whoever the client."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.role == Role.admin:
        return Decision(False, "admins manage accounts and see no clinical content")
    return None


async def can_read_client(session: AsyncSession, user: User, client: ClientRecord) -> Decision:
    refusal = _account_refusal(user)
    if refusal is not None:
        return refusal
    related = await relationship(session, user, client)
    if related == Relationship.none:
        return Decision(False, "not on the care team, nor supervising it, nor the client")
    if related == Relationship.own_record:
        return ALLOW
    return await _consent_across_organisations(session, user, client)


async def can_change_client(session: AsyncSession, user: User, client: ClientRecord) -> Decision:
    """Status, care team and referrals are changed by the care team and its supervisors."""
    if user.role == Role.client:
        return Decision(False, "clients do not change their record's administration")
    return await can_read_client(session, user, client)


async def can_record_consent(session: AsyncSession, user: User, client: ClientRecord) -> Decision:
    """A client records their own decisions; the care team records them on the client's word."""
    return await can_read_client(session, user, client)


# Who sees each questionnaire answer and the risk alerts, not only the scores. PHQ-9 item 9 asks
# about thoughts of self-harm: it must reach a clinician on the care team at once, and it is
# need-to-know inside the care team. Therapists own clinical risk; supervisors oversee the
# clinical work of the staff they supervise. Peer keyworkers and employment specialists work
# from the totals, bands and recovery status.
ITEM_ANSWER_ROLES = frozenset({Role.therapist, Role.supervisor})
ITEM_ANSWERS_REFUSED = (
    "item answers and risk alerts are for the care team's clinicians (its therapists and the "
    "supervisors of its staff); others see totals, bands and recovery"
)


async def can_see_item_answers(session: AsyncSession, user: User, client: ClientRecord) -> Decision:
    """Whether this person sees a client's questionnaire answers item by item (PHQ-9 item 9
    among them) and the risk alerts they raise, beside the totals everyone who reads the record
    sees: the client (their own answers), a therapist on the care team, and a supervisor on it
    or supervising someone on it (the supervision rule of ``relationship``). Never staff of an
    employment provider or a Jobcentre: their access rests on the client's consent to share
    with an employment service, which is for employment support, not clinical detail."""
    refusal = _account_refusal(user)
    if refusal is not None:
        return refusal
    related = await relationship(session, user, client)
    if related == Relationship.own_record:
        return ALLOW
    if related == Relationship.none:
        return Decision(False, "not on the care team, nor supervising it, nor the client")
    if user.role not in ITEM_ANSWER_ROLES:
        return Decision(False, ITEM_ANSWERS_REFUSED)
    if user.organisation_id != client.organisation_id:
        organisation = await organisations_service.get(
            session=session, organisation_id=user.organisation_id
        )
        if consent_purpose_for(organisation.kind) == ConsentPurpose.employment_sharing:
            return Decision(False, ITEM_ANSWERS_REFUSED)
    return await _consent_across_organisations(session, user, client)


class RiskAlertReach(StrEnum):
    """Whom a risk alert reached (``risk_alert_audience``), widest last."""

    care_team = "care_team"  # the care team's clinicians
    supervisors_of_care_team = "supervisors_of_care_team"  # the care team has none
    organisation_supervisors = "organisation_supervisors"  # nobody on or over the care team
    nobody = "nobody"  # nor has the organisation an active supervisor


@dataclass(frozen=True)
class RiskAlertAudience:
    reach: RiskAlertReach
    recipients: frozenset[uuid.UUID]


async def risk_alert_audience(session: AsyncSession, client: ClientRecord) -> RiskAlertAudience:
    """Who receives a risk alert (PHQ-9 item 9 above 0). It must reach a clinician at once and
    is never dropped silently, so each wider step is taken only when the one before reached
    nobody:

    1. everyone on the care team who may see the item answers (``can_see_item_answers``: its
       therapists and supervisors, by their own role, whatever role they hold on the team);
    2. else the supervisors of the care team's staff (supervision links in force) who may;
    3. else the organisation's active supervisors (``can_receive_escalated_risk_alert``).
    """
    care = await clients_service.care_team_user_ids(session=session, client_id=client.id)
    steps = (
        (RiskAlertReach.care_team, care),
        (
            RiskAlertReach.supervisors_of_care_team,
            await clients_service.supervisors_of(session=session, user_ids=care) - care,
        ),
    )
    for reach, candidates in steps:
        allowed: set[uuid.UUID] = set()
        for user in await users_service.many(session=session, ids=candidates):
            if await can_see_item_answers(session, user, client):
                allowed.add(user.id)
        if allowed:
            return RiskAlertAudience(reach, frozenset(allowed))
    supervisors = frozenset(
        user.id
        for user in await users_service.active_supervisors(
            session=session, organisation_id=client.organisation_id
        )
        if can_receive_escalated_risk_alert(user, client)
    )
    if supervisors:
        return RiskAlertAudience(RiskAlertReach.organisation_supervisors, supervisors)
    return RiskAlertAudience(RiskAlertReach.nobody, frozenset())


def can_receive_escalated_risk_alert(user: User, client: ClientRecord) -> Decision:
    """A risk alert nobody on or over the care team may see goes to the supervisors of the
    client's own organisation: a risk to life reaches a clinician who can find one for the
    client rather than nobody. It opens only that alert (its detail and the client's name), not
    the record nor its item answers."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.role != Role.supervisor:
        return Decision(False, "escalated risk alerts go to the organisation's supervisors")
    if user.organisation_id != client.organisation_id:
        return Decision(False, "not a supervisor of the client's organisation")
    return ALLOW


async def can_see_risk_alert(
    session: AsyncSession, user: User, client: ClientRecord, *, escalated: bool
) -> Decision:
    """Whether the recipient of a risk alert still sees it (and may acknowledge it): while they
    may see the client's item answers, or, for an alert escalated to the organisation's
    supervisors, while they are one of them."""
    decision = await can_see_item_answers(session, user, client)
    if decision or not escalated:
        return decision
    if can_receive_escalated_risk_alert(user, client):
        return ALLOW
    return decision


async def readable_clients(
    session: AsyncSession, user: User, candidates: list[ClientRecord]
) -> list[ClientRecord]:
    """Filter related clients by the cross-organisation consent rule, in one query."""
    if user.role == Role.admin:
        return []
    foreign = {
        c.id
        for c in candidates
        if c.organisation_id != user.organisation_id and c.user_id != user.id
    }
    if not foreign:
        return candidates
    organisation = await organisations_service.get(
        session=session, organisation_id=user.organisation_id
    )
    granted = await consents_service.granted_clients(
        session=session,
        client_ids=foreign,
        organisation_id=user.organisation_id,
        purpose=consent_purpose_for(organisation.kind),
    )
    return [c for c in candidates if c.id not in foreign or c.id in granted]


def can_join_care_team(user: User) -> Decision:
    """A client's care team is made of active clinical staff (``NotClinicalStaff`` otherwise):
    its members read the record, so an admin or a client never joins one."""
    if user.role in CLINICAL_ROLES and user.is_active:
        return ALLOW
    return Decision(False, "care teams are made of active clinical staff")


def can_create_client(user: User) -> Decision:
    if user.role in CLINICAL_ROLES:
        return ALLOW
    return Decision(False, "only clinical staff take referrals")


def sees_clinical_content(user: User) -> Decision:
    if user.role == Role.admin:
        return Decision(False, "admins manage accounts and see no clinical content")
    return ALLOW


async def record_audience(session: AsyncSession, client: ClientRecord) -> set[uuid.UUID]:
    """Everyone who may read this client's record now: its care team, their supervisors and the
    client, each as ``can_read_client`` would decide (so withdrawn consent takes them out).

    Decided for everyone at once, in one query whatever the care team's size (and two more for
    each other organisation among them): it runs on every save of a plan and every case-thread
    message, where one ``can_read_client`` per person was most of a save's queries."""
    audience: set[uuid.UUID] = set()
    elsewhere: dict[uuid.UUID, set[uuid.UUID]] = {}  # other organisation -> its people here
    found = await clients_service.audience_candidates(session=session, client=client)
    for user, on_care_team, supervising in found:
        # As can_read_client, through the same rules.
        if _account_refusal(user) is not None:
            continue
        related = _related(user, client, on_care_team=on_care_team, supervising=supervising)
        if related == Relationship.none:
            continue
        if related == Relationship.own_record or user.organisation_id == client.organisation_id:
            audience.add(user.id)
        else:
            elsewhere.setdefault(user.organisation_id, set()).add(user.id)
    for organisation_id, user_ids in elsewhere.items():
        organisation = await organisations_service.get(
            session=session, organisation_id=organisation_id
        )
        granted = await consents_service.granted_clients(
            session=session,
            client_ids={client.id},
            organisation_id=organisation_id,
            purpose=consent_purpose_for(organisation.kind),
        )
        if client.id in granted:
            audience |= user_ids
    return audience


async def can_request_subject_access(
    session: AsyncSession, user: User, client: ClientRecord
) -> Decision:
    """The client themselves, or a supervisor of their care team (a data-protection request);
    either still needs to be able to read the record (a withdrawn consent counts)."""
    readable = await can_read_client(session, user, client)
    if not readable:
        return readable
    if client.user_id is not None and client.user_id == user.id:
        return ALLOW
    if user.role == Role.supervisor:
        return ALLOW
    return Decision(
        False, "a subject-access export is for the client and their care team's supervisors"
    )
