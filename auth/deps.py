"""FastAPI dependencies that make a route's permissions readable in its signature."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.audit.models import Outcome
from app.audit.service import AuditEntry
from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.clock import Clock
from app.context import Actor, Context
from app.db import SessionDep
from app.dbtypes import INT32_MAX
from app.documents import service as documents_service
from app.documents.models import Document, DocumentUpload, DocumentVersion, Place
from app.documents.schemas import DocumentChange, UploadCreate
from app.errors import Forbidden, Unauthenticated, answer_problem
from app.meetings import service as meetings_service
from app.meetings.models import Meeting
from app.messaging import service as messaging_service
from app.messaging.models import Conversation
from app.supervision import check_ins as supervision_check_ins
from app.supervision import records as supervision_records
from app.supervision.models import SupervisionAction, SupervisionRecord, WellbeingCheckIn
from app.teams import service as teams_service
from app.teams.models import Team, TeamMembership
from app.users import service as users_service
from app.users.models import SupervisionLink, User
from auth import service as auth_service
from auth.policies import accounts as account_policies
from auth.policies import benefits as benefit_policies
from auth.policies import clients as client_policies
from auth.policies import documents as document_policies
from auth.policies import jobs as jobs_policies
from auth.policies import meetings as meeting_policies
from auth.policies import messaging as messaging_policies
from auth.policies import reports as report_policies
from auth.policies import supervision as supervision_policies
from auth.policies import system as system_policies
from auth.policies import teams as team_policies
from auth.policies.decision import Decision
from auth.service import AuthRuntime
from auth.tokens import InvalidToken

log = logging.getLogger("teamwell.auth")
bearer_scheme = HTTPBearer(auto_error=False, description="An access token from /auth/login")


class MfaEnrolmentRequired(Forbidden):
    slug, title = "mfa-enrolment-required", "Set up multi-factor authentication first"


# The dependencies below are coroutines although they do not wait for anything: FastAPI runs a
# plain function dependency in its thread pool, a round trip between threads on every request.
async def get_runtime(request: Request) -> AuthRuntime:
    runtime: AuthRuntime = request.app.state.auth
    return runtime


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


RuntimeDep = Annotated[AuthRuntime, Depends(get_runtime)]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def anonymous_context(request: Request, runtime: RuntimeDep) -> Context:
    actor = Actor(
        user_id=None,
        role=None,
        organisation_id=None,
        ip=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )
    return Context(actor=actor, clock=runtime.clock)


AnonymousContext = Annotated[Context, Depends(anonymous_context)]


ResourceId = uuid.UUID | str | int | None


@dataclass(frozen=True)
class Principal:
    """The signed-in person behind a request or a WebSocket, and the session they signed in with.

    Over HTTP it also holds the request's database session (``db``, the route's ``SessionDep``:
    FastAPI hands one request one session), so that a route audits what it did in one call,
    ``principal.audit("team.update", resource_type="team", resource_id=team.id)``, and the event
    is stored with the request's changes or not at all. A WebSocket handler has no request
    session: it records with the session of the message it handles."""

    user: User
    session_id: uuid.UUID
    mfa_verified: bool
    ctx: Context
    db: AsyncSession | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    def _session(self) -> AsyncSession:
        if self.db is None:
            raise RuntimeError("this principal has no request session to audit with")
        return self.db

    async def audit(
        self,
        action: str,
        *,
        resource_type: str,
        resource_id: ResourceId = None,
        client_id: uuid.UUID | None = None,
        outcome: Outcome = Outcome.success,
        detail: str | None = None,
    ) -> None:
        """Append one event to the audit trail as this person, in the request's transaction."""
        await audit_service.record(
            self._session(),
            self.ctx,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            client_id=client_id,
            outcome=outcome,
            detail=detail,
        )

    async def audit_many(self, entries: Sequence[AuditEntry]) -> None:
        """Append several events in one go (one per record of a listing, say)."""
        await audit_service.record_many(self._session(), self.ctx, entries)


async def _audit_refused_token(
    session: AsyncSession,
    runtime: AuthRuntime,
    refused: InvalidToken,
    ip: str | None,
    user_agent: str | None,
) -> None:
    """Write the refusal of a bearer token to the audit trail, and commit it before the request
    is refused (which rolls its session back).

    A token whose signature held (expired, or of an ended session) was issued to its subject,
    who is then the actor. A forgery proves nothing about whom it names: the actor stays
    unknown, but the event names that person and carries their organisation, so the admins who
    look after them see that someone tried.
    """
    named = await session.get(User, refused.subject) if refused.subject else None
    actor = Actor(
        user_id=named.id if named and refused.signed else None,
        role=named.role if named and refused.signed else None,
        organisation_id=named.organisation_id if named else None,
        ip=ip,
        user_agent=user_agent,
    )
    await audit_service.record(
        session,
        Context(actor=actor, clock=runtime.clock),
        action="auth.token_refused",
        resource_type="user",
        resource_id=refused.subject,
        outcome=Outcome.denied,
        detail=str(refused) if refused.signed else f"{refused} (not issued by Teamwell)",
    )
    await session.commit()


async def principal_from_token(
    *,
    session: AsyncSession,
    runtime: AuthRuntime,
    token: str,
    ip: str | None,
    user_agent: str | None,
) -> Principal:
    """A valid token of a live session of an active user (HTTP and the WebSocket gateway).
    Every refusal is audited."""
    try:
        claims = runtime.signer.read_access_token(token, now=runtime.now())
    except InvalidToken as exc:
        await _audit_refused_token(session, runtime, exc, ip, user_agent)
        raise Unauthenticated(f"Access token refused: {exc}.") from exc
    found = await auth_service.signed_in(
        session=session, session_id=claims.session_id, user_id=claims.user_id
    )
    if found is None or not found[0].is_active:
        ended = InvalidToken(
            "its session has ended or the account is not active",
            subject=claims.user_id,
            signed=True,
        )
        await _audit_refused_token(session, runtime, ended, ip, user_agent)
        raise auth_service.SessionEnded()
    user, mfa_verified = found
    return principal_of(runtime, user, claims.session_id, mfa_verified, ip, user_agent)


def principal_of(
    runtime: AuthRuntime,
    user: User,
    session_id: uuid.UUID,
    mfa_verified: bool,
    ip: str | None,
    user_agent: str | None,
) -> Principal:
    """The principal of a person found signed in (``auth_service.signed_in``)."""
    actor = Actor(
        user_id=user.id,
        role=user.role,
        organisation_id=user.organisation_id,
        ip=ip,
        user_agent=user_agent,
    )
    return Principal(
        user=user,
        session_id=session_id,
        mfa_verified=mfa_verified,
        ctx=Context(actor=actor, clock=runtime.clock),
    )


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def authenticated(
    request: Request, session: SessionDep, credentials: Credentials
) -> Principal:
    """Signed in, whether or not multi-factor enrolment is still owed (for /auth/me, enrolment)."""
    return await _signed_in(request, session, credentials)


async def _signed_in(
    request: Request, session: AsyncSession, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    runtime: AuthRuntime = request.app.state.auth
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("Sign in to continue.")
    principal = await principal_from_token(
        session=session,
        runtime=runtime,
        token=credentials.credentials,
        ip=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )
    # Who is acting, by id only, for the request's log line (app/logs.py).
    request.state.user_id = principal.user.id
    # The request's own session, for the route's audit events (Principal.audit).
    return replace(principal, db=session)


SignedIn = Annotated[Principal, Depends(authenticated)]


def enforce_mfa(principal: Principal, runtime: AuthRuntime) -> None:
    if (
        runtime.settings.mfa_required_for_staff
        and principal.user.is_staff
        and not principal.mfa_verified
    ):
        raise MfaEnrolmentRequired(
            "Staff accounts must set up multi-factor authentication before using Teamwell."
        )


async def require_mfa(
    session: AsyncSession, principal: Principal, runtime: AuthRuntime, *, where: str
) -> None:
    """``enforce_mfa`` with its refusal audited (``auth.mfa_enrolment_required``, ``denied``,
    the route or ``/ws`` as resource) and committed before the request or socket is refused:
    HTTP and the WebSocket gateway refuse a session that still owes enrolment the same way."""
    try:
        enforce_mfa(principal, runtime)
    except MfaEnrolmentRequired as exc:
        await session.rollback()
        await audit_service.record(
            session,
            principal.ctx,
            action="auth.mfa_enrolment_required",
            resource_type="route",
            resource_id=where,
            outcome=Outcome.denied,
            detail=exc.detail,
        )
        await session.commit()
        raise


async def current_principal(
    request: Request, session: SessionDep, credentials: Credentials
) -> Principal:
    # Signed in (as ``authenticated``), called here rather than solved as a dependency of its
    # own: every dependency FastAPI solves per request costs a share of a record read.
    principal = await _signed_in(request, session, credentials)
    runtime: AuthRuntime = request.app.state.auth
    # Audited here, not by audit_refusal: request.state.principal is set only once admitted.
    await require_mfa(session, principal, runtime, where=f"{request.method} {request.url.path}")
    # Kept so that a refusal raised further on can be audited as theirs (audit_refusal).
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


async def refuse(
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    resource_type: str,
    reason: str,
    resource_id: object = None,
    client_id: uuid.UUID | None = None,
) -> Forbidden:
    """Audit a refusal and build the error.

    Nothing the refused request did may be kept, but the refusal itself must be: the request's
    session is rolled back, then the audit event is written and committed on it. (A second
    session would wait on the SQLite write lock that this one holds.)
    """
    await session.rollback()
    await audit_service.record(
        session,
        principal.ctx,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        client_id=client_id,
        outcome=Outcome.denied,
        detail=reason,
    )
    await session.commit()
    return Refusal(f"You do not have access to this: {reason}.")


async def refuse_unless(
    decision: Decision,
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    resource_type: str,
    resource_id: object = None,
    client_id: uuid.UUID | None = None,
) -> None:
    """Raise the audited refusal (:func:`refuse`) when the policy's decision does not allow."""
    if not decision:
        raise await refuse(
            session,
            principal,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            client_id=client_id,
            reason=decision.reason,
        )


class Refusal(Forbidden):
    """A refusal already written to the audit trail (by :func:`refuse`)."""


async def audit_refusal(request: Request, exc: Exception) -> Response:
    """Answer any other refusal (a Forbidden raised by a route or a service) as a problem, and
    audit it first when a signed-in person made the request, so that no refusal goes unrecorded
    however deep in the code it was decided.

    The request's own session has been rolled back and closed by the time an exception handler
    runs, so the event is written in a session of its own. If it cannot be written the refusal
    still stands, and the failure is logged."""
    assert isinstance(exc, Forbidden)
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None and not isinstance(exc, Refusal):
        try:
            async with request.app.state.session_factory() as session:
                await audit_service.record(
                    session,
                    principal.ctx,
                    action="route.refused",
                    resource_type="route",
                    resource_id=f"{request.method} {request.url.path}",
                    outcome=Outcome.denied,
                    detail=exc.detail,
                )
                await session.commit()
        except Exception:
            log.exception("could not audit a refusal of %s %s", request.method, request.url.path)
    return answer_problem(request, exc)


def install_refusal_audit(app: FastAPI) -> None:
    app.add_exception_handler(Forbidden, audit_refusal)


UserPolicy = Callable[[User], Decision]


def require(policy: UserPolicy, action: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only people the named policy allows."""

    async def dependency(
        request: Request, session: SessionDep, principal: CurrentUser
    ) -> Principal:
        await refuse_unless(
            policy(principal.user),
            session,
            principal,
            action=action,
            resource_type="route",
            resource_id=request.url.path,
        )
        return principal

    dependency.__name__ = f"require_{policy.__name__}"
    return dependency


AccountManager = Annotated[
    Principal, Depends(require(account_policies.can_manage_accounts, "accounts"))
]
AuditReader = Annotated[Principal, Depends(require(account_policies.can_read_audit, "audit.read"))]
ClinicalStaff = Annotated[
    Principal, Depends(require(client_policies.can_create_client, "client.create"))
]
Staff = Annotated[Principal, Depends(require(account_policies.is_staff, "staff"))]
ClinicalReader = Annotated[
    Principal, Depends(require(client_policies.sees_clinical_content, "client.list"))
]
WellbeingReporter = Annotated[
    Principal, Depends(require(supervision_policies.can_check_in, "wellbeing.check_in"))
]
Supervisor = Annotated[
    Principal, Depends(require(supervision_policies.can_supervise, "supervision"))
]
ReportReader = Annotated[
    Principal, Depends(require(report_policies.can_read_reports, "reports.read"))
]
JobManager = Annotated[Principal, Depends(require(jobs_policies.can_manage_jobs, "jobs.manage"))]
SystemAdministrator = Annotated[
    Principal, Depends(require(system_policies.can_read_system, "system.read"))
]
EvaluationManager = Annotated[
    Principal, Depends(require(report_policies.can_manage_evaluation, "evaluation.manage"))
]
AllocationFiguresReader = Annotated[
    Principal,
    Depends(require(report_policies.can_read_allocation_figures, "evaluation.figures")),
]


# "The client of this access", where an audit event names its resource or client by default.
_THIS_CLIENT: Any = object()
_THIS_TEAM: Any = object()


@dataclass(frozen=True)
class ClientAccess:
    """A client's record that the caller was admitted to, and the caller."""

    client: ClientRecord
    principal: Principal
    # The caller's care relation to the client as read at admission (``clients.care_relation``:
    # on the care team, supervising someone on it), for further policies of the same request.
    relation: tuple[bool, bool] | None = None

    @property
    def ctx(self) -> Context:
        return self.principal.ctx

    async def decide(self, session: AsyncSession, policy: ClientPolicy) -> Decision:
        """Another policy on this client for the caller, decided with the care relation read at
        admission rather than a second query: for a route that changes nothing about the care
        team in between (a measure stored, say)."""
        if self.relation is not None:
            clients_service.remember_relation(
                session, self.client.id, self.principal.id, self.relation
            )
        try:
            return await policy(session, self.principal.user, self.client)
        finally:
            clients_service.forget_relation(session)

    async def audit(
        self,
        action: str,
        *,
        resource_type: str = "client",
        resource_id: ResourceId = _THIS_CLIENT,
        client_id: uuid.UUID | None = _THIS_CLIENT,
        outcome: Outcome = Outcome.success,
        detail: str | None = None,
    ) -> None:
        """Audit an access to this client's record: the event names the client, and the client
        is its resource unless another is named (``resource_type="plan"``: a client's plan is
        known by the client's id; ``resource_type="referral", resource_id=referral.id``)."""
        await self.principal.audit(
            action,
            resource_type=resource_type,
            resource_id=self.client.id if resource_id is _THIS_CLIENT else resource_id,
            client_id=self.client.id if client_id is _THIS_CLIENT else client_id,
            outcome=outcome,
            detail=detail,
        )

    async def audit_many(self, entries: Sequence[AuditEntry]) -> None:
        await self.principal.audit_many(entries)


ClientPolicy = Callable[[AsyncSession, User, ClientRecord], Awaitable[Decision]]


async def admitted_client(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    policy: ClientPolicy,
    *,
    action: str,
) -> ClientRecord:
    """The client (404 if absent), if the policy admits the caller; else the audited refusal
    of ``action``, against the client."""
    client, _ = await _admitted(session, principal, client_id, policy, action=action)
    return client


async def _admitted(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    policy: ClientPolicy,
    *,
    action: str,
) -> tuple[ClientRecord, tuple[bool, bool] | None]:
    """``admitted_client``, and the care relation read with the client."""
    client = await clients_service.get_with_relation(
        session=session, client_id=client_id, user_id=principal.id
    )
    known = clients_service.known_relation(session)
    try:
        decision = await policy(session, principal.user, client)
    finally:
        clients_service.forget_relation(session)
    await refuse_unless(
        decision,
        session,
        principal,
        action=action,
        resource_type="client",
        resource_id=client.id,
        client_id=client.id,
    )
    return client, known[2] if known is not None else None


def client_access(policy: ClientPolicy, action: str) -> Callable[..., Awaitable[ClientAccess]]:
    """Load the client named in the path and admit the caller only if the policy allows."""

    async def dependency(
        client_id: uuid.UUID, session: SessionDep, principal: CurrentUser
    ) -> ClientAccess:
        client, relation = await _admitted(session, principal, client_id, policy, action=action)
        return ClientAccess(client=client, principal=principal, relation=relation)

    dependency.__name__ = f"client_{policy.__name__}"
    return dependency


ReadableClient = Annotated[
    ClientAccess, Depends(client_access(client_policies.can_read_client, "client.read"))
]
ChangeableClient = Annotated[
    ClientAccess, Depends(client_access(client_policies.can_change_client, "client.update"))
]
BenefitsReader = Annotated[
    ClientAccess, Depends(client_access(benefit_policies.can_read_benefits, "benefits.read"))
]
BenefitsRecorder = Annotated[
    ClientAccess, Depends(client_access(benefit_policies.can_record_benefits, "benefits.record"))
]
ConsentRecorder = Annotated[
    ClientAccess, Depends(client_access(client_policies.can_record_consent, "consent.record"))
]


# --- teams ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamAccess:
    """A team that the caller was admitted to, and the caller."""

    team: Team
    principal: Principal

    async def audit(
        self,
        action: str,
        *,
        resource_type: str = "team",
        resource_id: ResourceId = _THIS_TEAM,
        outcome: Outcome = Outcome.success,
        detail: str | None = None,
    ) -> None:
        """Audit an access to this team: the team is the resource unless another is named."""
        await self.principal.audit(
            action,
            resource_type=resource_type,
            resource_id=self.team.id if resource_id is _THIS_TEAM else resource_id,
            outcome=outcome,
            detail=detail,
        )


TeamPolicy = Callable[[AsyncSession, User, uuid.UUID], Awaitable[Decision]]


def team_access(
    policy: TeamPolicy, action: str, *, policy_first: bool = False
) -> Callable[..., Awaitable[TeamAccess]]:
    """Load the team named in the path (404 if absent) and admit the caller only if the policy
    allows; a refusal is audited under ``action``. With ``policy_first`` the policy is asked
    before the team is looked up, so that a team the caller may not see is refused (403) alike
    whether or not it exists."""

    async def dependency(
        team_id: uuid.UUID, session: SessionDep, principal: CurrentUser
    ) -> TeamAccess:
        team = None if policy_first else await teams_service.get(session=session, team_id=team_id)
        await refuse_unless(
            await policy(session, principal.user, team_id),
            session,
            principal,
            action=action,
            resource_type="team",
            resource_id=team_id,
        )
        team = team or await teams_service.get(session=session, team_id=team_id)
        return TeamAccess(team=team, principal=principal)

    dependency.__name__ = f"team_{policy.__name__}"
    return dependency


async def visible_team(team_id: uuid.UUID, session: SessionDep, principal: CurrentUser) -> Team:
    """A team of the caller's organisation, or one they belong to: integrated teams have
    members employed by partner organisations. Any other is not found (404)."""
    team = await teams_service.get(session=session, team_id=team_id)
    if team.organisation_id != principal.user.organisation_id and team.id not in (
        await teams_service.team_ids_of(session=session, user_id=principal.id)
    ):
        raise teams_service.TeamNotFound()
    return team


async def organisation_team(
    team_id: uuid.UUID, session: SessionDep, principal: CurrentUser
) -> Team:
    """A team of the caller's own organisation (another organisation's is not found, 404)."""
    team = await teams_service.get(session=session, team_id=team_id)
    if team.organisation_id != principal.user.organisation_id:
        raise teams_service.TeamNotFound()
    return team


# A team the caller may see: their organisation's, or one they belong to.
VisibleTeam = Annotated[Team, Depends(visible_team)]
# A team of the caller's own organisation (what its admins change).
OrganisationTeam = Annotated[Team, Depends(organisation_team)]


def membership_decision(action: str) -> Callable[..., Awaitable[TeamMembership]]:
    """The proposed membership of the person named in the path on a team the caller sees, for
    someone who may confirm or decline it (``can_confirm_team_member``); a refusal is audited
    under ``action``, against the team."""

    async def dependency(
        user_id: uuid.UUID, team: VisibleTeam, session: SessionDep, principal: CurrentUser
    ) -> TeamMembership:
        decision = team_policies.can_confirm_team_member(
            principal.user,
            candidate_id=user_id,
            confirmers=await teams_service.confirmer_ids(session=session, team_id=team.id),
        )
        if not decision:
            raise await refuse(
                session,
                principal,
                action=action,
                resource_type="team",
                resource_id=team.id,
                reason=f"{decision.reason} (user {user_id})",
            )
        return await teams_service.get_membership(session=session, team_id=team.id, user_id=user_id)

    dependency.__name__ = f"membership_{action.replace('.', '_')}"
    return dependency


MembershipToConfirm = Annotated[TeamMembership, Depends(membership_decision("team.member_confirm"))]
MembershipToDecline = Annotated[TeamMembership, Depends(membership_decision("team.member_decline"))]


# --- supervision: links, check-ins, records ------------------------------------------------------


async def wellbeing_subject(
    user_id: uuid.UUID, session: SessionDep, principal: CurrentUser
) -> uuid.UUID:
    """The person named in the path, whose check-ins the caller may read (they themselves or
    their current supervisor); anyone else is refused whether or not the person exists."""
    await refuse_unless(
        await supervision_policies.can_read_wellbeing_of(session, principal.user, user_id),
        session,
        principal,
        action="wellbeing.read",
        resource_type="wellbeing",
        resource_id=user_id,
    )
    return user_id


# The id of a person whose check-ins the caller may read.
WellbeingSubject = Annotated[uuid.UUID, Depends(wellbeing_subject)]


async def talk_to_acknowledge(
    check_in_id: uuid.UUID, session: SessionDep, principal: CurrentUser
) -> WellbeingCheckIn:
    """The check-in named in the path, whose 'I'd like to talk' the caller may pick up."""
    check_in = await supervision_check_ins.get_check_in(session=session, check_in_id=check_in_id)
    await refuse_unless(
        await supervision_policies.can_acknowledge_talk(session, principal.user, check_in.user_id),
        session,
        principal,
        action="wellbeing.talk_acknowledge",
        resource_type="wellbeing",
        resource_id=check_in.user_id,
    )
    return check_in


async def cadence_subject(
    user_id: uuid.UUID, session: SessionDep, principal: CurrentUser
) -> uuid.UUID:
    """The person named in the path, whose cadence the caller (their supervisor) sets."""
    await refuse_unless(
        await supervision_policies.can_set_cadence(session, principal.user, user_id),
        session,
        principal,
        action="supervision.cadence_set",
        resource_type="supervision_cadence",
        resource_id=user_id,
    )
    return user_id


# A check-in whose 'I'd like to talk' the caller may acknowledge.
TalkToAcknowledge = Annotated[WellbeingCheckIn, Depends(talk_to_acknowledge)]
# The id of a supervisee whose cadence the caller may set.
CadenceSubject = Annotated[uuid.UUID, Depends(cadence_subject)]


def link_decision(action: str) -> Callable[..., Awaitable[SupervisionLink]]:
    """The supervision link named in the path, for its supervisee to accept or decline
    (``can_decide_supervision``); a refusal is audited under ``action``."""

    async def dependency(
        link_id: uuid.UUID, session: SessionDep, principal: CurrentUser
    ) -> SupervisionLink:
        link = await users_service.get_link(session=session, link_id=link_id)
        await refuse_unless(
            supervision_policies.can_decide_supervision(principal.user, link.supervisee_id),
            session,
            principal,
            action=action,
            resource_type="supervision_link",
            resource_id=link.id,
        )
        return link

    dependency.__name__ = f"link_{action.replace('.', '_')}"
    return dependency


LinkToAccept = Annotated[SupervisionLink, Depends(link_decision("supervision.link_accept"))]
LinkToDecline = Annotated[SupervisionLink, Depends(link_decision("supervision.link_decline"))]


async def _supervision_record(
    session: AsyncSession,
    principal: Principal,
    record_id: uuid.UUID,
    action: str,
    *,
    change: bool = False,
) -> SupervisionRecord:
    record = await supervision_records.get_record(session=session, record_id=record_id)
    decision = await supervision_policies.can_read_supervision_record(
        session, principal.user, record
    )
    if decision and change:
        decision = supervision_policies.can_change_supervision_record(principal.user, record)
    await refuse_unless(
        decision,
        session,
        principal,
        action=action,
        resource_type="supervision_record",
        resource_id=record.id,
    )
    return record


def supervision_record(
    action: str, *, change: bool = False
) -> Callable[..., Awaitable[SupervisionRecord]]:
    """The supervision record named in the path, for its supervisor and attendees to read, and
    (``change``) for the supervisor who holds it to change; a refusal is audited under
    ``action``."""

    async def dependency(
        record_id: uuid.UUID, session: SessionDep, principal: CurrentUser
    ) -> SupervisionRecord:
        return await _supervision_record(session, principal, record_id, action, change=change)

    dependency.__name__ = f"record_{action.replace('.', '_')}"
    return dependency


ReadableRecord = Annotated[SupervisionRecord, Depends(supervision_record("supervision.read"))]
RecordToUpdate = Annotated[
    SupervisionRecord, Depends(supervision_record("supervision.update", change=True))
]
RecordToAddActionTo = Annotated[
    SupervisionRecord, Depends(supervision_record("supervision.action_create", change=True))
]


async def markable_action(
    action_id: uuid.UUID, session: SessionDep, principal: CurrentUser
) -> SupervisionAction:
    """An agreed action of a record the caller reads, for its owner or the record's supervisor
    to mark done or open again."""
    action = await supervision_records.get_action(session=session, action_id=action_id)
    record = await _supervision_record(
        session, principal, action.record_id, "supervision.action_update"
    )
    await refuse_unless(
        supervision_policies.can_mark_supervision_action(principal.user, record, action),
        session,
        principal,
        action="supervision.action_update",
        resource_type="supervision_action",
        resource_id=action.id,
    )
    return action


MarkableAction = Annotated[SupervisionAction, Depends(markable_action)]
# A team whose overview the caller may see (its supervisors); refused alike if it is absent.
ViewableTeam = Annotated[
    TeamAccess,
    Depends(team_access(team_policies.can_view_team, "team.overview", policy_first=True)),
]


# --- meetings and conversations: the policy, then the object -------------------------------------
# A refusal here is a Forbidden raised once the caller is known, so it is audited as every
# refusal decided in a route is (``audit_refusal``, ``route.refused``).


async def visible_meeting(
    meeting_id: uuid.UUID, session: SessionDep, principal: CurrentUser
) -> Meeting:
    meeting = await meetings_service.get(session=session, meeting_id=meeting_id)
    await meeting_policies.require_visible(session, principal.user, meeting)
    return meeting


MeetingPolicy = Callable[[AsyncSession, User, Meeting], Awaitable[Decision]]


def meeting_access(policy: MeetingPolicy, refused: str) -> Callable[..., Awaitable[Meeting]]:
    """Load the meeting named in the path and admit the caller only if the policy allows;
    ``refused`` words the refusal around the policy's ``{reason}``."""

    async def dependency(
        meeting_id: uuid.UUID, session: SessionDep, principal: CurrentUser
    ) -> Meeting:
        meeting = await meetings_service.get(session=session, meeting_id=meeting_id)
        decision = await policy(session, principal.user, meeting)
        if not decision:
            raise Forbidden(refused.format(reason=decision.reason))
        return meeting

    dependency.__name__ = f"meeting_{policy.__name__}"
    return dependency


# A meeting the caller may see: its host, the staff who run it, whoever may join it.
VisibleMeeting = Annotated[Meeting, Depends(visible_meeting)]
# A meeting the caller may change or cancel: its host, while they still run it.
ManagedMeeting = Annotated[
    Meeting,
    Depends(
        meeting_access(
            meeting_policies.can_arrange, "A meeting is changed or cancelled by its host: {reason}."
        )
    ),
]
# A meeting the caller runs with colleagues, so its attendance is theirs to read.
RunMeeting = Annotated[
    Meeting, Depends(meeting_access(meeting_policies.can_read_attendance, "{reason}."))
]
# A client session the caller may bring guests into (``can_invite_guests``).
GuestInviter = Annotated[
    Meeting, Depends(meeting_access(meeting_policies.can_invite_guests, "{reason}."))
]


async def conversation_member(
    conversation_id: uuid.UUID, session: SessionDep, principal: CurrentUser
) -> Conversation:
    return await messaging_policies.member_conversation(session, principal.user, conversation_id)


# A conversation the caller is in (``NotAMember``, 403, otherwise).
ConversationMember = Annotated[Conversation, Depends(conversation_member)]


# --- documents ------------------------------------------------------------------------------------
# A document's permissions are its place's (auth/policies/documents.py); each refusal is audited
# against the document, naming the client its place is about.


@dataclass(frozen=True)
class DocumentAccess:
    """A document the caller was admitted to, where it lives, and the caller."""

    document: Document
    target: document_policies.Target
    principal: Principal

    async def audit(
        self,
        action: str,
        *,
        outcome: Outcome = Outcome.success,
        detail: str | None = None,
    ) -> None:
        await self.principal.audit(
            action,
            resource_type="document",
            resource_id=self.document.id,
            client_id=self.target.client_id,
            outcome=outcome,
            detail=detail,
        )


DocumentPolicy = Callable[
    [AsyncSession, User, Document, document_policies.Target], Awaitable[Decision]
]


async def admitted_document(
    session: AsyncSession,
    principal: Principal,
    document_id: uuid.UUID,
    policy: DocumentPolicy,
    *,
    action: str,
) -> DocumentAccess:
    """The document (404 if absent), if the policy admits the caller; else the audited refusal
    of ``action``."""
    document = await documents_service.get(session=session, document_id=document_id)
    target = await document_policies.target_of(session, document)
    await refuse_unless(
        await policy(session, principal.user, document, target),
        session,
        principal,
        action=action,
        resource_type="document",
        resource_id=document.id,
        client_id=target.client_id,
    )
    return DocumentAccess(document=document, target=target, principal=principal)


def document_access(
    policy: DocumentPolicy, action: str
) -> Callable[..., Awaitable[DocumentAccess]]:
    async def dependency(
        document_id: uuid.UUID, session: SessionDep, principal: CurrentUser
    ) -> DocumentAccess:
        return await admitted_document(session, principal, document_id, policy, action=action)

    dependency.__name__ = f"document_{policy.__name__}"
    return dependency


ReadableDocument = Annotated[
    DocumentAccess,
    Depends(document_access(document_policies.can_read_document, "document.read")),
]
ChangeableDocument = Annotated[
    DocumentAccess,
    Depends(document_access(document_policies.can_change_document, "document.update")),
]


@dataclass(frozen=True)
class VersionAccess:
    access: DocumentAccess
    version: DocumentVersion


async def readable_version(
    number: Annotated[int, Path(ge=1, le=INT32_MAX)], access: ReadableDocument, session: SessionDep
) -> VersionAccess:
    """A version of a readable document that the caller may see (until found safe, only its
    uploader); a refusal is audited as ``document.download``."""
    version = await documents_service.get_version(
        session=session, document=access.document, number=number
    )
    await refuse_unless(
        document_policies.can_see_version(access.principal.user, version),
        session,
        access.principal,
        action="document.download",
        resource_type="document",
        resource_id=access.document.id,
        client_id=access.target.client_id,
    )
    return VersionAccess(access=access, version=version)


ReadableVersion = Annotated[VersionAccess, Depends(readable_version)]


@dataclass(frozen=True)
class UploadPlace:
    """Where a new upload goes, admitted: the place (and the document, for a new version)."""

    data: UploadCreate
    target: document_policies.Target
    document: Document | None
    principal: Principal


async def upload_place(
    data: UploadCreate, session: SessionDep, principal: CurrentUser
) -> UploadPlace:
    """The place an upload names, if the caller may add to it (a new version: if they may
    change the document); a refusal is audited as ``document.upload``."""
    if data.document_id is not None:
        if any(x is not None for x in (data.client_id, data.conversation_id, data.meeting_id)):
            raise documents_service.PlaceRequired("A new version names its document alone.")
        access = await admitted_document(
            session,
            principal,
            data.document_id,
            document_policies.can_change_document,
            action="document.upload",
        )
        if access.document.deleted_at is not None:
            raise documents_service.DocumentDeleted()
        return UploadPlace(data, access.target, access.document, principal)
    place = documents_service.place_of(data)
    if place == Place.client_record:
        assert data.client_id is not None
        target = document_policies.Target(
            place, client=await clients_service.get(session=session, client_id=data.client_id)
        )
    elif place == Place.conversation:
        assert data.conversation_id is not None
        target = document_policies.Target(
            place,
            conversation=await messaging_service.get(
                session=session, conversation_id=data.conversation_id
            ),
        )
    else:
        assert data.meeting_id is not None
        target = document_policies.Target(
            place, meeting=await meetings_service.get(session=session, meeting_id=data.meeting_id)
        )
    await refuse_unless(
        await document_policies.can_add_document(session, principal.user, target),
        session,
        principal,
        action="document.upload",
        resource_type=place.value,
        resource_id=(target.client or target.conversation or target.meeting).id,  # type: ignore[union-attr]
        client_id=target.client_id,
    )
    return UploadPlace(data, target, None, principal)


NewUpload = Annotated[UploadPlace, Depends(upload_place)]


async def own_upload(
    upload_id: uuid.UUID, session: SessionDep, principal: CurrentUser
) -> DocumentUpload:
    """An upload of the caller's own (another's is refused, audited, whether or not it exists
    is not said apart from 404 for no upload at all)."""
    upload = await documents_service.get_upload(session=session, upload_id=upload_id)
    await refuse_unless(
        document_policies.can_use_upload(principal.user, upload),
        session,
        principal,
        action="document.upload",
        resource_type="document_upload",
        resource_id=upload.id,
        client_id=upload.client_id,
    )
    return upload


OwnUpload = Annotated[DocumentUpload, Depends(own_upload)]


@dataclass(frozen=True)
class DocumentChangeRequest:
    access: DocumentAccess
    change: DocumentChange


async def document_change(
    change: DocumentChange, access: ChangeableDocument, session: SessionDep
) -> DocumentChangeRequest:
    """A change of a document the caller may change; sharing with the client is staff's
    (``can_share_with_client``), refused and audited for anyone else."""
    if change.shared_with_client is not None:
        await refuse_unless(
            document_policies.can_share_with_client(access.principal.user),
            session,
            access.principal,
            action="document.update",
            resource_type="document",
            resource_id=access.document.id,
            client_id=access.target.client_id,
        )
    return DocumentChangeRequest(access=access, change=change)


DocumentChangeDep = Annotated[DocumentChangeRequest, Depends(document_change)]
