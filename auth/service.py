"""Sign-in, multi-factor authentication, token rotation and sign-out."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import bindparam, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clock import Clock
from app.config import Settings
from app.context import Context
from app.crypto import FieldCipher, new_token, token_digest
from app.errors import Conflict, Problem, TooManyRequests, Unauthenticated
from app.users import service as users_service
from app.users.models import User
from app.users.schemas import UserPublic
from auth.models import AuthSession, RecoveryCode, RefreshToken
from auth.passwords import hash_password, needs_rehash, verify_password
from auth.schemas import MfaChallenge, MfaEnrolment, TokenResponse
from auth.throttle import SignInThrottle
from auth.tokens import InvalidToken, TokenSigner


class InvalidCredentials(Unauthenticated):
    slug, title = "invalid-credentials", "Email or password not recognised"


class SignInThrottled(TooManyRequests):
    """The same answer whichever limit applies and whether or not the email has an account."""

    slug, title = "sign-in-throttled", "Too many failed sign-ins"

    def __init__(self, wait: int) -> None:
        super().__init__(
            f"Too many failed sign-ins. Try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )


class InvalidMfaCode(Unauthenticated):
    slug, title = "invalid-mfa-code", "That code is not valid"


class StepUpFailed(Unauthenticated):
    slug, title = "step-up-failed", "Password or code not recognised"


class SessionEnded(Unauthenticated):
    slug, title = "session-ended", "Your session has ended; please sign in again"


class MfaAlreadyEnabled(Conflict):
    slug, title = "mfa-already-enabled", "Multi-factor authentication is already set up"


class MfaNotStarted(Conflict):
    slug, title = "mfa-not-started", "Start multi-factor enrolment first"


@dataclass
class AuthRuntime:
    """What authentication needs at run time, built once at start-up."""

    settings: Settings
    signer: TokenSigner
    cipher: FieldCipher
    clock: Clock
    # Counts of failed sign-ins (in Redis when TEAMWELL_REDIS_URL is set): auth/throttle.py.
    throttle: SignInThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.throttle = SignInThrottle(self.settings)

    def now(self) -> datetime:
        return self.clock.now()


# --- pure rules ------------------------------------------------------------------------------


def reuse_forgiven(
    *, used_at: datetime, successor_used: bool, now: datetime, grace: timedelta
) -> bool:
    """Whether a refresh token presented after it was used is a race, not a copy.

    Two tabs (or a retry) refreshing with one token at the same moment present it twice within
    moments. The token is forgiven only while it is the immediately previous one (its successor
    has not been used) and for less than ``grace`` after it was used (OAuth 2.0 Security BCP,
    refresh token rotation). Any other reuse means the token was copied."""
    return not successor_used and now - used_at < grace


def mfa_required_for(user: User, settings: Settings) -> bool:
    return user.mfa_enabled or (settings.mfa_required_for_staff and user.is_staff)


def new_recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits: ten hex digits, shown as xxxxx-xxxxx
    return f"{raw[:5]}-{raw[5:]}"


def _normalise_recovery_code(code: str) -> str:
    return code.strip().lower().replace(" ", "")


# --- sign-in ---------------------------------------------------------------------------------


async def check_password(
    *,
    session: AsyncSession,
    runtime: AuthRuntime,
    email: str,
    password: str,
    address: str | None,
) -> User:
    """The account for these credentials, tried from ``address``.

    Throttled (auth/throttle.py) by this email at this address and by the address: while
    either limit applies the password is not even checked, and the answer is the same whether
    or not the email has an account."""
    throttle = runtime.throttle
    now = runtime.now().timestamp()
    wait = await throttle.wait(email=email, address=address, now=now)
    if wait is not None:
        raise SignInThrottled(wait)
    user = await users_service.get_by_email(session=session, email=email)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        wait = await throttle.failed(email=email, address=address, now=now)
        if wait is not None:
            raise SignInThrottled(wait)
        raise InvalidCredentials("Email or password not recognised.")
    await throttle.succeeded(email=email, address=address)
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
    return user


def mfa_challenge(user: User, runtime: AuthRuntime, method: str) -> MfaChallenge:
    """A short-lived token proving the first factor (``method``: password or sso) was passed."""
    token = runtime.signer.encode(
        {"typ": "mfa", "sub": str(user.id), "amr": method},
        now=runtime.now(),
        lifetime=timedelta(minutes=runtime.settings.mfa_token_minutes),
    )
    return MfaChallenge(mfa_token=token)


async def start_session(
    *,
    session: AsyncSession,
    runtime: AuthRuntime,
    ctx: Context,
    user: User,
    method: str,
    mfa_verified: bool,
) -> TokenResponse:
    now = runtime.now()
    auth_session = AuthSession(
        user_id=user.id,
        method=method,
        mfa_verified=mfa_verified,
        created_at=now,
        last_used_at=now,
        ip=ctx.actor.ip,
        user_agent=(ctx.actor.user_agent or "")[:512] or None,
    )
    user.last_login_at = now
    session.add_all([auth_session, user])
    await session.flush()
    return await _issue_tokens(session=session, runtime=runtime, user=user, auth=auth_session)


async def _issue_tokens(
    *,
    session: AsyncSession,
    runtime: AuthRuntime,
    user: User,
    auth: AuthSession,
    refresh: str | None = None,
) -> TokenResponse:
    """Store a new refresh token (``refresh``, or a random one) and answer it with a new
    access token."""
    now = runtime.now()
    refresh = refresh or new_token()
    session.add(
        RefreshToken(
            session_id=auth.id,
            token_hash=token_digest(refresh),
            issued_at=now,
            expires_at=now + timedelta(days=runtime.settings.refresh_token_days),
        )
    )
    await session.flush()
    return _token_response(runtime=runtime, user=user, auth=auth, refresh=refresh)


def _token_response(
    *, runtime: AuthRuntime, user: User, auth: AuthSession, refresh: str
) -> TokenResponse:
    now = runtime.now()
    lifetime = timedelta(minutes=runtime.settings.access_token_minutes)
    access = runtime.signer.access_token(
        user_id=user.id,
        session_id=auth.id,
        role=user.role,
        mfa=auth.mfa_verified,
        now=now,
        lifetime=lifetime,
    )
    return TokenResponse(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(lifetime.total_seconds()),
        user=UserPublic.model_validate(user),
        mfa_enrolment_required=(
            runtime.settings.mfa_required_for_staff and user.is_staff and not auth.mfa_verified
        ),
    )


def _verify_totp(user: User, runtime: AuthRuntime, code: str) -> bool:
    if not user.mfa_secret_encrypted:
        return False
    totp = pyotp.TOTP(runtime.cipher.decrypt(user.mfa_secret_encrypted))
    now = runtime.now()
    for offset in (0, -1, 1):  # one step either side, for clock drift
        when = now + timedelta(seconds=offset * totp.interval)
        step = totp.timecode(when)
        if secrets.compare_digest(totp.at(when), code) and step > (user.mfa_last_step or -1):
            user.mfa_last_step = step
            return True
    return False


async def _use_recovery_code(
    session: AsyncSession, runtime: AuthRuntime, user: User, code: str
) -> bool:
    digest = token_digest(_normalise_recovery_code(code))
    rows = await session.exec(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == digest,
            col(RecoveryCode.used_at).is_(None),
        )
    )
    found = rows.first()
    if found is None:
        return False
    found.used_at = runtime.now()
    session.add(found)
    return True


async def user_for_mfa_token(
    *, session: AsyncSession, runtime: AuthRuntime, mfa_token: str
) -> tuple[User, str]:
    """The person who passed the first factor, and how (password or sso)."""
    try:
        claims = runtime.signer.decode(mfa_token, purpose="mfa", now=runtime.now())
        user = await users_service.get(session=session, user_id=uuid.UUID(claims["sub"]))
    except (InvalidToken, KeyError, ValueError, Problem) as exc:
        raise Unauthenticated("The sign-in step has expired; please start again.") from exc
    if not user.is_active:
        raise InvalidCredentials()
    method = claims.get("amr")
    return user, method if method in ("password", "sso") else "password"


async def check_second_factor(
    *, session: AsyncSession, runtime: AuthRuntime, user: User, code: str, address: str | None
) -> None:
    """Accept a TOTP code or an unused recovery code. Throttled like the password, by this
    account at this address (its own count) and by the address."""
    throttle = runtime.throttle
    now = runtime.now().timestamp()
    step = "second-factor"
    wait = await throttle.wait(email=user.email, address=address, now=now, step=step)
    if wait is not None:
        raise SignInThrottled(wait)
    compact = code.strip().replace(" ", "")
    ok = (compact.isdigit() and _verify_totp(user, runtime, compact)) or (
        not compact.isdigit() and await _use_recovery_code(session, runtime, user, compact)
    )
    if not ok:
        wait = await throttle.failed(email=user.email, address=address, now=now, step=step)
        if wait is not None:
            raise SignInThrottled(wait)
        raise InvalidMfaCode("That code is not valid. Check your authenticator app's clock.")
    await throttle.succeeded(email=user.email, address=address, step=step)
    session.add(user)


# --- tokens ----------------------------------------------------------------------------------


async def rotate_refresh_token(
    *, session: AsyncSession, runtime: AuthRuntime, refresh_token: str
) -> tuple[TokenResponse | None, AuthSession | None]:
    """Exchange a refresh token for new tokens.

    A refresh token works once; its successor is ``signer.refresh_successor`` of it. Presenting
    a used one again within the grace, while its successor is unused, is a race of two tabs:
    it is answered with that same successor and a new access token, and nothing is revoked.
    Any other reuse means the token was copied: the whole family (the session) is revoked, and
    ``(None, session)`` tells the caller to refuse.
    """
    now = runtime.now()
    found = (
        await session.exec(
            select(RefreshToken).where(RefreshToken.token_hash == token_digest(refresh_token))
        )
    ).first()
    if found is None:
        raise SessionEnded("That refresh token is not recognised.")
    auth = await session.get(AuthSession, found.session_id)
    if auth is None or auth.revoked_at is not None:
        raise SessionEnded()
    if found.used_at is not None:
        return await _present_again(
            session=session, runtime=runtime, used=found, auth=auth, refresh_token=refresh_token
        )
    if found.expires_at <= now:
        raise SessionEnded("Your session has expired; please sign in again.")
    idle = timedelta(minutes=runtime.settings.session_idle_minutes)
    if auth.last_used_at + idle <= now:
        return None, await _revoke_family(session, auth, now, "idle_timeout")
    # Conditional update: of two concurrent uses of one token only one can win; the other is
    # then a token presented again, a moment after it was used.
    claimed = await session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.id) == found.id, col(RefreshToken.used_at).is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        await session.refresh(found)
        return await _present_again(
            session=session, runtime=runtime, used=found, auth=auth, refresh_token=refresh_token
        )
    user = await session.get(User, auth.user_id)
    if user is None or not user.is_active:
        raise SessionEnded()
    auth.last_used_at = now
    session.add(auth)
    successor = runtime.signer.refresh_successor(refresh_token)
    tokens = await _issue_tokens(
        session=session, runtime=runtime, user=user, auth=auth, refresh=successor
    )
    return tokens, auth


async def _present_again(
    *,
    session: AsyncSession,
    runtime: AuthRuntime,
    used: RefreshToken,
    auth: AuthSession,
    refresh_token: str,
) -> tuple[TokenResponse | None, AuthSession]:
    """A used refresh token presented again: forgiven as a race (``reuse_forgiven``), or the
    end of its session."""
    now = runtime.now()
    successor = runtime.signer.refresh_successor(refresh_token)
    issued = (
        await session.exec(
            select(RefreshToken).where(
                RefreshToken.token_hash == token_digest(successor),
                RefreshToken.session_id == auth.id,
            )
        )
    ).first()
    grace = timedelta(seconds=runtime.settings.refresh_reuse_grace_seconds)
    user = await session.get(User, auth.user_id)
    if (
        used.used_at is not None
        and issued is not None
        and issued.expires_at > now
        and user is not None
        and user.is_active
        and reuse_forgiven(
            used_at=used.used_at, successor_used=issued.used_at is not None, now=now, grace=grace
        )
    ):
        return _token_response(runtime=runtime, user=user, auth=auth, refresh=successor), auth
    return None, await _revoke_family(session, auth, now, "refresh_token_reuse")


async def _revoke_family(
    session: AsyncSession, auth: AuthSession, now: datetime, reason: str
) -> AuthSession:
    auth.revoked_at = now
    auth.revoked_reason = reason
    session.add(auth)
    await session.flush()
    return auth


async def revoke_session(
    *, session: AsyncSession, runtime: AuthRuntime, session_id: uuid.UUID, reason: str
) -> None:
    auth = await session.get(AuthSession, session_id)
    if auth is not None and auth.revoked_at is None:
        auth.revoked_at = runtime.now()
        auth.revoked_reason = reason
        session.add(auth)
        await session.flush()


async def revoke_all_sessions(
    *, session: AsyncSession, runtime: AuthRuntime, user_id: uuid.UUID, reason: str
) -> None:
    await session.exec(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=runtime.now(), revoked_reason=reason)
    )


# Built once with bound parameters (it runs on every request and socket): building the
# statement and its cache key anew each time cost about as much as running it.
_SIGNED_IN = (
    select(User, AuthSession.mfa_verified)
    .join(AuthSession, col(AuthSession.user_id) == col(User.id))
    .where(
        col(AuthSession.id) == bindparam("session_id"),
        col(User.id) == bindparam("user_id"),
        col(AuthSession.revoked_at).is_(None),
    )
)


async def signed_in(
    *, session: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[User, bool] | None:
    """The person of a live (not revoked) session of theirs, and whether that session passed
    the second factor: one query, as it runs on every request and socket."""
    rows = await session.exec(_SIGNED_IN, params={"session_id": session_id, "user_id": user_id})
    found = rows.first()
    return (found[0], found[1]) if found is not None else None


# --- multi-factor enrolment ------------------------------------------------------------------


async def begin_mfa_enrolment(
    *, session: AsyncSession, runtime: AuthRuntime, user: User
) -> MfaEnrolment:
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    secret = pyotp.random_base32()
    user.mfa_secret_encrypted = runtime.cipher.encrypt(secret)
    session.add(user)
    await session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=user.email, issuer_name=runtime.settings.mfa_issuer
    )
    return MfaEnrolment(secret=secret, otpauth_uri=uri)


async def complete_mfa_enrolment(
    *, session: AsyncSession, runtime: AuthRuntime, user: User, auth: AuthSession, code: str
) -> tuple[TokenResponse, list[str]]:
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    if not user.mfa_secret_encrypted:
        raise MfaNotStarted()
    if not _verify_totp(user, runtime, code):
        raise InvalidMfaCode("That code is not valid. Check your authenticator app's clock.")
    user.mfa_enabled = True
    auth.mfa_verified = True
    session.add_all([user, auth])
    codes = await replace_recovery_codes(session=session, runtime=runtime, user=user)
    tokens = await _issue_tokens(session=session, runtime=runtime, user=user, auth=auth)
    return tokens, codes


async def check_step_up(
    *, runtime: AuthRuntime, user: User, password: str, code: str, address: str | None
) -> None:
    """The signed-in person proves it is them again: password and a current code from their
    authenticator app (not a recovery code: those are what is being replaced). One answer
    for either being wrong, so a stolen token does not tell which; failures count towards the
    sign-in throttle of this account at this address, so guessing here is no faster than at
    sign-in."""
    throttle = runtime.throttle
    now = runtime.now().timestamp()
    wait = await throttle.wait(email=user.email, address=address, now=now)
    if wait is not None:
        raise SignInThrottled(wait)
    password_ok = verify_password(user.password_hash, password)
    # Checked even after a wrong password, so the answer takes as long either way; a code
    # accepted here is used up (its time step) like one accepted at sign-in.
    code_ok = _verify_totp(user, runtime, code)
    if not (password_ok and code_ok):
        wait = await throttle.failed(email=user.email, address=address, now=now)
        if wait is not None:
            raise SignInThrottled(wait)
        raise StepUpFailed("That password or code is not right.")


async def replace_recovery_codes(
    *, session: AsyncSession, runtime: AuthRuntime, user: User
) -> list[str]:
    old = await session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id))
    for code in old.all():
        await session.delete(code)
    codes = [new_recovery_code() for _ in range(runtime.settings.recovery_code_count)]
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=token_digest(_normalise_recovery_code(c)))
        for c in codes
    )
    await session.flush()
    return codes
