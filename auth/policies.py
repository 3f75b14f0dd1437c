"""Who may do what: named policies, one place, used by HTTP routes and WebSocket handlers alike.

A client's record is open to the members of their care team, the supervisors of those members,
and the client. Admins manage accounts but see no clinical content. Staff of another organisation
than the client's also need the client's current consent for their organisation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.consents import service as consents_service
from app.consents.models import ConsentPurpose
from app.organisations import service as organisations_service
from app.organisations.models import OrganisationKind
from app.teams import service as teams_service
from app.users import service as users_service
from app.users.models import CLINICAL_ROLES, Role, User


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True, "allowed")


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


def can_manage_accounts(user: User) -> Decision:
    if user.role == Role.admin:
        return ALLOW
    return Decision(False, "only admins manage accounts, teams and organisations")


def can_change_organisation(user: User, organisation_id: uuid.UUID) -> Decision:
    """An admin renames or re-classifies their own organisation only: a partner's name and kind
    are what its own people, and the clients who consent to sharing with it, go by."""
    if user.role != Role.admin:
        return Decision(False, "only admins manage accounts, teams and organisations")
    if user.organisation_id != organisation_id:
        return Decision(False, "admins manage their own organisation only")
    return ALLOW


def can_join_team(user: User) -> Decision:
    """Teams are clinical staff: their members read the team's conversation and meetings, so
    an admin (who may put people on teams) is never one, nor is a client (care teams instead)."""
    if user.role == Role.client:
        return Decision(False, "teams are made of staff; clients have care teams instead")
    if user.role not in CLINICAL_ROLES:
        return Decision(False, "admins manage teams and are not their members")
    return ALLOW


def can_confirm_team_member(
    user: User, *, candidate_id: uuid.UUID, confirmers: set[uuid.UUID]
) -> Decision:
    """A member an admin proposes for a team is confirmed (or declined) by someone already on it
    in force: its supervisors, or any of its clinical members when it has no supervisor
    (``teams.confirmer_ids``). They already read what the new member would, and the admin, who
    controls every account it makes, is none of them (admins are never members)."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.role not in CLINICAL_ROLES:
        return Decision(False, "a team's own clinical staff confirm who joins it")
    if user.id == candidate_id:
        return Decision(False, "nobody confirms their own place on a team")
    if user.id in confirmers:
        return ALLOW
    return Decision(
        False,
        "a team's supervisors confirm who joins it (its clinical members, when it has no "
        "supervisor)",
    )


def can_change_role(target: User, new_role: Role) -> Decision:
    """Roles change only among the clinical roles. An account is never made an admin or a
    clinician from the other side (an admin would otherwise give itself, or an account it runs,
    clinical reach), nor a client's login staff or the reverse (it belongs to a record)."""
    if new_role == target.role:
        return ALLOW
    if target.role in CLINICAL_ROLES and new_role in CLINICAL_ROLES:
        return ALLOW
    return Decision(
        False,
        f"a {target.role} account does not become {new_role}; invite a new account instead",
    )


def can_decide_supervision(user: User, supervisee_id: uuid.UUID) -> Decision:
    """A proposed supervisor is accepted or declined by the supervisee alone: the one person who
    already holds the clinical relationships the link would open, and whom an admin does not
    control."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.id == supervisee_id:
        return ALLOW
    return Decision(False, "only the person to be supervised accepts or declines a supervisor")


def can_read_audit(user: User) -> Decision:
    if user.role in (Role.admin, Role.supervisor):
        return ALLOW
    return Decision(False, "only supervisors and admins read the audit trail")


def can_create_client(user: User) -> Decision:
    if user.role in CLINICAL_ROLES:
        return ALLOW
    return Decision(False, "only clinical staff take referrals")


def sees_clinical_content(user: User) -> Decision:
    if user.role == Role.admin:
        return Decision(False, "admins manage accounts and see no clinical content")
    return ALLOW


def is_staff(user: User) -> Decision:
    if user.is_staff:
        return ALLOW
    return Decision(False, "staff only")


async def contacts(session: AsyncSession, user: User) -> set[uuid.UUID]:
    """Whose presence this person sees, and who may message them directly: colleagues who share
    a team or a client's care team; for a client, only their own care team. The relation is
    symmetric, so it is also who sees this person's presence."""
    related = await clients_service.care_relationship_ids(session=session, user_id=user.id)
    if user.role != Role.client:
        related |= await teams_service.colleague_ids(session=session, user_id=user.id)
    return related


async def record_audience(session: AsyncSession, client: ClientRecord) -> set[uuid.UUID]:
    """Everyone who may read this client's record now: its care team, their supervisors and the
    client, each as ``can_read_client`` would decide (so withdrawn consent takes them out).

    Decided for everyone at once, in a few queries whatever the care team's size: it runs on
    every save of a plan and every case-thread message, where one ``can_read_client`` per person
    was most of a save's queries."""
    care = await clients_service.care_team_user_ids(session=session, client_id=client.id)
    supervising = await clients_service.supervisors_of(session=session, user_ids=care)
    candidates = care | supervising
    if client.user_id is not None:
        candidates.add(client.user_id)
    if not candidates:
        return set()
    audience: set[uuid.UUID] = set()
    elsewhere: dict[uuid.UUID, set[uuid.UUID]] = {}  # other organisation -> its people here
    for user in await users_service.many(session=session, ids=candidates):
        # As can_read_client, through the same rules.
        if _account_refusal(user) is not None:
            continue
        related = _related(
            user, client, on_care_team=user.id in care, supervising=user.id in supervising
        )
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


# --- meetings ----------------------------------------------------------------------------------


def can_change_meeting(user: User, *, host_id: uuid.UUID, runs_it: bool) -> Decision:
    """A meeting is moved, re-invited or cancelled only by the person who arranged it, its host
    (a meeting has one host and no co-hosts): colleagues on the care team join it, admit people
    and may end the call for everyone, but do not rearrange or call off a meeting someone else
    is holding and has sent invitations for in their own name. ``runs_it``: whether the person
    is still among the staff who run it (``meetings.is_care_staff``): a host taken off the care
    team, or deactivated, no longer changes the client's meetings."""
    if user.id != host_id:
        return Decision(False, "only the person who arranged the meeting changes or cancels it")
    if not runs_it:
        return Decision(False, "no longer on the care team or the team the meeting belongs to")
    return ALLOW


# --- IPS: the employment specialist's own work -------------------------------------------------


def can_log_employer_contacts(user: User) -> Decision:
    """Job development is the employment specialist's: they log their own employer contacts."""
    if user.role == Role.employment_specialist:
        return ALLOW
    return Decision(False, "employment specialists log their own employer contacts")


def can_change_employer_contact(user: User, specialist_id: uuid.UUID) -> Decision:
    """A logged contact is corrected by the specialist who logged it, and only while they are
    one (the same policy that lets them log it): a supervisor reads the log but does not rewrite
    their specialists' work."""
    allowed = can_log_employer_contacts(user)
    if not allowed:
        return allowed
    if user.id != specialist_id:
        return Decision(False, "only the specialist who logged an employer contact changes it")
    return ALLOW


def can_read_employer_contacts(user: User) -> Decision:
    """A specialist reads their own log; a supervisor the logs of the specialists they supervise
    (the IPS-25 job-development items are judged on them)."""
    if user.role in (Role.employment_specialist, Role.supervisor):
        return ALLOW
    return Decision(False, "employer contacts are read by the specialists and their supervisors")


def can_read_caseloads(user: User) -> Decision:
    """Caseload sizes (counts, no client names) are open to the clinical team."""
    if user.role in CLINICAL_ROLES:
        return ALLOW
    return Decision(False, "caseloads are for the clinical team and its supervisors")


def can_override_caseload(user: User) -> Decision:
    """Assigning beyond the caseload limit is a supervisor's decision."""
    if user.role == Role.supervisor:
        return ALLOW
    return Decision(False, "only a supervisor may assign beyond the caseload limit")


# --- supervision, staff wellbeing, fidelity, reports and evaluation -----------------------------


def can_check_in(user: User) -> Decision:
    """Every member of staff may record how they are; clients have their own measures."""
    if user.is_staff and user.is_active:
        return ALLOW
    return Decision(False, "wellbeing check-ins are for staff")


def can_supervise(user: User) -> Decision:
    """Supervision, team wellbeing, the team view and fidelity reviews are the supervisor's."""
    if user.role == Role.supervisor and user.is_active:
        return ALLOW
    return Decision(False, "only supervisors hold supervision and see the team's wellbeing")


async def can_read_wellbeing_of(
    session: AsyncSession, user: User, person_id: uuid.UUID
) -> Decision:
    """A single person's check-ins are read by that person and their current supervisors, no one
    else (not colleagues, not admins, not other supervisors)."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.id == person_id:
        return ALLOW
    if user.role == Role.supervisor:
        supervisees = await users_service.supervisee_ids(session=session, supervisor_id=user.id)
        if person_id in supervisees:
            return ALLOW
    return Decision(False, "check-ins are seen only by the person and their supervisor")


async def can_view_team(session: AsyncSession, user: User, team_id: uuid.UUID) -> Decision:
    """A team's view (aggregate wellbeing, caseloads, overdue work, alerts, presence) is for the
    supervisors who are members of that team."""
    decision = can_supervise(user)
    if not decision:
        return decision
    if team_id in await teams_service.team_ids_of(session=session, user_id=user.id):
        return ALLOW
    return Decision(False, "not a supervisor of this team")


def can_read_reports(user: User) -> Decision:
    """Programme reports hold only suppressed aggregates: supervisors and admins read them."""
    if user.role in (Role.supervisor, Role.admin) and user.is_active:
        return ALLOW
    return Decision(False, "programme reports are for supervisors and admins")


def can_manage_evaluation(user: User) -> Decision:
    """Opening or closing a randomised evaluation is a supervisor's decision; the seed is never
    shown to anyone, so managing a trial does not reveal future allocations."""
    return can_supervise(user)


async def can_read_fidelity(session: AsyncSession, user: User, team_id: uuid.UUID) -> Decision:
    """A team's IPS-25 reviews are read by its clinical members, supervisors included: the scores
    describe the service they all give, and improving them is the whole team's work. Admins and
    staff of other teams do not read them; only the team's supervisors record them."""
    if not user.is_active:
        return Decision(False, "account is inactive")
    if user.role not in CLINICAL_ROLES:
        return Decision(False, "fidelity reviews are read by the team's clinical staff")
    if team_id in await teams_service.team_ids_of(session=session, user_id=user.id):
        return ALLOW
    return Decision(False, "not a member of this team")


async def can_read_report_scope(
    session: AsyncSession,
    user: User,
    *,
    kind: str,
    organisation_ids: frozenset[uuid.UUID],
    team_ids: frozenset[uuid.UUID],
) -> Decision:
    """Which programme reports a report reader may see: an organisation's by its own supervisors
    and admins; a team's or an area cluster's by a supervisor who is a member of a team in it,
    or by an admin whose organisation has a team in it. ``organisation_ids`` and ``team_ids``
    are the scope's (for an organisation, that organisation and its teams)."""
    decision = can_read_reports(user)
    if not decision:
        return decision
    if kind == "organisation":
        if user.organisation_id in organisation_ids:
            return ALLOW
        return Decision(False, "an organisation's reports are for its own supervisors and admins")
    if user.role == Role.admin:
        if user.organisation_id in organisation_ids:
            return ALLOW
        return Decision(False, "no team of your organisation is in this scope")
    if await teams_service.team_ids_of(session=session, user_id=user.id) & team_ids:
        return ALLOW
    return Decision(False, "you are not a member of a team in this scope")
