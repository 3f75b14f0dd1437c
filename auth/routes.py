"""Sign-in, tokens, sign-out and multi-factor authentication."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.audit import service as audit_service
from app.audit.models import Outcome
from app.context import Context, acting_as
from app.db import SessionDep
from app.errors import Problem
from app.users import service as users_service
from app.users.models import User
from app.users.schemas import UserPublic
from auth import service as auth_service
from auth.deps import AnonymousContext, CurrentUser, RuntimeDep, SignedIn
from auth.email import EmailSenderDep, recovery_codes_replaced_email
from auth.models import AuthSession
from auth.schemas import (
    LoginRequest,
    LogoutRequest,
    MfaChallenge,
    MfaEnrolment,
    MfaLoginRequest,
    MfaVerified,
    MfaVerifyRequest,
    RecoveryCodes,
    RecoveryCodesRequest,
    RefreshRequest,
    TokenResponse,
)
from auth.service import AuthRuntime

router = APIRouter(prefix="/auth", tags=["auth"])


async def _refuse_sign_in(
    session: SessionDep, ctx: Context, user: User | None, exc: Problem, action: str
) -> Problem:
    """Keep the failure count and the audit record, then refuse."""
    await audit_service.record(
        session,
        acting_as(ctx, user) if user else ctx,
        action=action,
        resource_type="user",
        resource_id=user.id if user else None,
        outcome=Outcome.denied,
        detail=exc.slug,
    )
    await session.commit()
    return exc


async def finish_sign_in(
    *, session: SessionDep, runtime: AuthRuntime, ctx: Context, user: User, method: str
) -> TokenResponse | MfaChallenge:
    """After the first factor: ask for the second, or open a session (shared with SSO)."""
    if user.mfa_enabled:
        return auth_service.mfa_challenge(user, runtime, method)
    return await _open_session(
        session=session, runtime=runtime, ctx=ctx, user=user, method=method, mfa_verified=False
    )


async def _open_session(
    *,
    session: SessionDep,
    runtime: AuthRuntime,
    ctx: Context,
    user: User,
    method: str,
    mfa_verified: bool,
) -> TokenResponse:
    """Open a session for someone who has signed in, and audit it (``auth.login``, with how)."""
    tokens = await auth_service.start_session(
        session=session,
        runtime=runtime,
        ctx=ctx,
        user=user,
        method=method,
        mfa_verified=mfa_verified,
    )
    await audit_service.record(
        session,
        acting_as(ctx, user),
        action="auth.login",
        resource_type="user",
        resource_id=user.id,
        detail=f"{method}+mfa" if mfa_verified else method,
    )
    return tokens


@router.post("/login", response_model=TokenResponse | MfaChallenge)
async def login(
    body: LoginRequest, session: SessionDep, runtime: RuntimeDep, ctx: AnonymousContext
) -> TokenResponse | MfaChallenge:
    """Sign in with email and password.

    Answers with tokens, or with an ``mfa_token`` to complete at ``/auth/login/mfa`` when the
    account has multi-factor authentication. Repeated failures for one email from one
    address, or from one address for any emails, are refused for a while (429
    ``sign-in-throttled`` with ``Retry-After``, the same whether or not the email has an
    account); see docs/security.md.
    """
    try:
        user = await auth_service.check_password(
            session=session,
            runtime=runtime,
            email=body.email,
            password=body.password,
            address=ctx.actor.ip,
        )
    except (auth_service.InvalidCredentials, auth_service.SignInThrottled) as exc:
        known = await users_service.get_by_email(session=session, email=body.email)
        raise await _refuse_sign_in(session, ctx, known, exc, "auth.login") from None
    return await finish_sign_in(
        session=session, runtime=runtime, ctx=ctx, user=user, method="password"
    )


@router.post("/login/mfa", response_model=TokenResponse)
async def login_mfa(
    body: MfaLoginRequest, session: SessionDep, runtime: RuntimeDep, ctx: AnonymousContext
) -> TokenResponse:
    """Complete sign-in with a code from an authenticator app or a recovery code."""
    user, method = await auth_service.user_for_mfa_token(
        session=session, runtime=runtime, mfa_token=body.mfa_token
    )
    try:
        await auth_service.check_second_factor(
            session=session, runtime=runtime, user=user, code=body.code, address=ctx.actor.ip
        )
    except (auth_service.InvalidMfaCode, auth_service.SignInThrottled) as exc:
        raise await _refuse_sign_in(session, ctx, user, exc, "auth.mfa") from None
    return await _open_session(
        session=session, runtime=runtime, ctx=ctx, user=user, method=method, mfa_verified=True
    )


@router.post("/refresh", response_model=TokenResponse)
async def refresh(
    body: RefreshRequest, session: SessionDep, runtime: RuntimeDep, ctx: AnonymousContext
) -> TokenResponse:
    """Exchange a refresh token for new tokens. Each refresh token works once; reusing one ends
    the session it belongs to."""
    tokens, auth = await auth_service.rotate_refresh_token(
        session=session, runtime=runtime, refresh_token=body.refresh_token
    )
    if tokens is None:
        assert auth is not None
        user = await session.get(User, auth.user_id)
        exc = auth_service.SessionEnded(
            "Your session was ended for your protection; please sign in again."
        )
        raise await _refuse_sign_in(session, ctx, user, exc, f"auth.{auth.revoked_reason}")
    return tokens


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    principal: SignedIn, session: SessionDep, runtime: RuntimeDep, body: LogoutRequest | None = None
) -> Response:
    """End this session: its refresh tokens stop working and so do its access tokens."""
    await auth_service.revoke_session(
        session=session, runtime=runtime, session_id=principal.session_id, reason="logout"
    )
    await principal.audit("auth.logout", resource_type="user", resource_id=principal.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserPublic)
async def me(principal: SignedIn) -> UserPublic:
    """The signed-in person."""
    return UserPublic.model_validate(principal.user)


@router.post("/mfa/enrol", response_model=MfaEnrolment)
async def mfa_enrol(principal: SignedIn, session: SessionDep, runtime: RuntimeDep) -> MfaEnrolment:
    """Start setting up an authenticator app: returns the secret and an ``otpauth://`` URI."""
    enrolment = await auth_service.begin_mfa_enrolment(
        session=session, runtime=runtime, user=principal.user
    )
    await principal.audit("auth.mfa_enrol_started", resource_type="user", resource_id=principal.id)
    return enrolment


@router.post("/mfa/verify", response_model=MfaVerified)
async def mfa_verify(
    body: MfaVerifyRequest, principal: SignedIn, session: SessionDep, runtime: RuntimeDep
) -> MfaVerified:
    """Finish enrolment with a first code. Returns recovery codes (shown once) and new tokens
    for this now fully verified session."""
    auth = await session.get(AuthSession, principal.session_id)
    assert auth is not None
    try:
        tokens, codes = await auth_service.complete_mfa_enrolment(
            session=session, runtime=runtime, user=principal.user, auth=auth, code=body.code
        )
    except auth_service.InvalidMfaCode as exc:
        # Nothing was changed: a wrong code leaves the enrolment as it was.
        raise await _refuse_sign_in(
            session, principal.ctx, principal.user, exc, "auth.mfa_verify"
        ) from None
    await principal.audit("auth.mfa_enabled", resource_type="user", resource_id=principal.id)
    return MfaVerified(**tokens.model_dump(), recovery_codes=codes)


@router.post("/mfa/recovery-codes", response_model=RecoveryCodes)
async def new_recovery_codes(
    body: RecoveryCodesRequest,
    principal: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    sender: EmailSenderDep,
) -> RecoveryCodes:
    """Replace the recovery codes; the old ones stop working. Asks for the password and a
    current code from the authenticator app again (401 ``step-up-failed`` if either is wrong;
    audited), and emails the person that their codes changed (the email carries no codes). If
    the email cannot be sent nothing is changed (502)."""
    if not principal.user.mfa_enabled:
        raise auth_service.MfaNotStarted()
    try:
        await auth_service.check_step_up(
            runtime=runtime,
            user=principal.user,
            password=body.password,
            code=body.code,
            address=principal.ctx.actor.ip,
        )
    except (auth_service.StepUpFailed, auth_service.SignInThrottled) as exc:
        raise await _refuse_sign_in(
            session, principal.ctx, principal.user, exc, "auth.recovery_codes_replaced"
        ) from None
    codes = await auth_service.replace_recovery_codes(
        session=session, runtime=runtime, user=principal.user
    )
    await principal.audit(
        "auth.recovery_codes_replaced", resource_type="user", resource_id=principal.id
    )
    await sender.send(
        recovery_codes_replaced_email(
            to=principal.user.email,
            when=runtime.now(),
            ip=principal.ctx.actor.ip,
            public_url=runtime.settings.public_url,
        )
    )
    return RecoveryCodes(recovery_codes=codes)
