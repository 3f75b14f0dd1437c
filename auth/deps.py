"""FastAPI dependencies that make a route's permissions readable in its signature."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.audit.models import Outcome
from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.clock import Clock
from app.context import Actor, Context
from app.db import SessionDep
from app.errors import Forbidden, Unauthenticated, problem_response
from app.meetings import service as meetings_service
from app.meetings.models import Meeting
from app.messaging.models import Conversation
from app.users.models import User
from auth import service as auth_service
from auth.policies import accounts as account_policies
from auth.policies import benefits as benefit_policies
from auth.policies import clients as client_policies
from auth.policies import jobs as jobs_policies
from auth.policies import meetings as meeting_policies
from auth.policies import messaging as messaging_policies
from auth.policies import reports as report_policies
from auth.policies import supervision as supervision_policies
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


@dataclass(frozen=True)
class Principal:
    """The signed-in person behind a request or a WebSocket, and the session they signed in with."""

    user: User
    session_id: uuid.UUID
    mfa_verified: bool
    ctx: Context

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


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
    actor = Actor(
        user_id=user.id,
        role=user.role,
        organisation_id=user.organisation_id,
        ip=ip,
        user_agent=user_agent,
    )
    return Principal(
        user=user,
        session_id=claims.session_id,
        mfa_verified=mfa_verified,
        ctx=Context(actor=actor, clock=runtime.clock),
    )


async def authenticated(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """Signed in, whether or not multi-factor enrolment is still owed (for /auth/me, enrolment)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("Sign in to continue.")
    return await principal_from_token(
        session=session,
        runtime=runtime,
        token=credentials.credentials,
        ip=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )


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
    request: Request, principal: SignedIn, runtime: RuntimeDep, session: SessionDep
) -> Principal:
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
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        slug=exc.slug,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extra,
    )


def install_refusal_audit(app: FastAPI) -> None:
    app.add_exception_handler(Forbidden, audit_refusal)


UserPolicy = Callable[[User], Decision]


def require(policy: UserPolicy, action: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only people the named policy allows."""

    async def dependency(
        request: Request, session: SessionDep, principal: CurrentUser
    ) -> Principal:
        decision = policy(principal.user)
        if not decision:
            raise await refuse(
                session,
                principal,
                action=action,
                resource_type="route",
                resource_id=request.url.path,
                reason=decision.reason,
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
EvaluationManager = Annotated[
    Principal, Depends(require(report_policies.can_manage_evaluation, "evaluation.manage"))
]


@dataclass(frozen=True)
class ClientAccess:
    client: ClientRecord
    principal: Principal

    @property
    def ctx(self) -> Context:
        return self.principal.ctx


ClientPolicy = Callable[[AsyncSession, User, ClientRecord], Awaitable[Decision]]


def client_access(policy: ClientPolicy, action: str) -> Callable[..., Awaitable[ClientAccess]]:
    """Load the client named in the path and admit the caller only if the policy allows."""

    async def dependency(
        client_id: uuid.UUID, session: SessionDep, principal: CurrentUser
    ) -> ClientAccess:
        client = await clients_service.get(session=session, client_id=client_id)
        decision = await policy(session, principal.user, client)
        if not decision:
            raise await refuse(
                session,
                principal,
                action=action,
                resource_type="client",
                resource_id=client.id,
                client_id=client.id,
                reason=decision.reason,
            )
        return ClientAccess(client=client, principal=principal)

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
