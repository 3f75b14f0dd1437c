"""OpenID Connect single sign-on per organisation.

An organisation's admin stores its provider (issuer, client id, encrypted client secret). A
person signs in at that provider with the authorization code flow (PKCE S256, state, nonce) run
by authlib's Starlette client; the verified ID token is matched to a Teamwell account of that
organisation, first by the remembered subject, else by a verified email address. The callback
hands the browser a one-time code, which it exchanges for tokens like a password sign-in.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc.errors import JoseError
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.crypto import FieldCipher, new_token, token_digest
from app.errors import Forbidden, NotFound, Problem, Unauthenticated, Unprocessable
from app.organisations import service as organisations_service
from app.organisations.models import Organisation
from app.users import service as users_service
from app.users.models import User
from auth.models import ExternalIdentity, SsoLoginCode, SsoProvider
from auth.service import AuthRuntime
from auth.sso.schemas import SsoProviderPublic, SsoProviderSettings

SCOPE = "openid email"
# A provider's client is rebuilt at least this often, so discovery is read again.
CLIENT_MAX_AGE_SECONDS = 3600.0
PROVIDER_TIMEOUT_SECONDS = 10.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


# --- what can go wrong -----------------------------------------------------------------------


class SsoFailure(StrEnum):
    """Why a sign-in through the provider did not reach Teamwell: the key of the page the browser
    is sent to (``/#/sso/failed/<failure>``) and of its words (``GET /auth/sso/failures/...``)."""

    not_configured = "not-configured"
    provider_unavailable = "provider-unavailable"
    cancelled = "cancelled"
    provider_error = "provider-error"
    not_started_here = "not-started-here"
    not_verified = "not-verified"
    email_not_verified = "email-not-verified"
    no_account = "no-account"
    account_inactive = "account-inactive"
    identity_conflict = "identity-conflict"


FAILURE_DETAIL = {
    SsoFailure.not_configured: "Single sign-on is not set up for this organisation, or it is "
    "switched off. Sign in with your email address and password, or ask your organisation's "
    "Teamwell admin.",
    SsoFailure.provider_unavailable: "Your organisation's identity provider did not answer, so "
    "you cannot sign in with it just now. Try again later, or sign in with your email address "
    "and password.",
    SsoFailure.cancelled: "The sign-in was cancelled at your identity provider.",
    SsoFailure.provider_error: "Your identity provider did not complete the sign-in.",
    SsoFailure.not_started_here: "This sign-in was not started in this browser, was already "
    "used, or took too long. Start again from the sign-in page.",
    SsoFailure.not_verified: "Your identity provider's answer could not be verified.",
    SsoFailure.email_not_verified: "Your identity provider has not confirmed your email "
    "address, so it cannot be matched to a Teamwell account.",
    SsoFailure.no_account: "No Teamwell account in this organisation matches your sign-in. Ask "
    "your organisation's Teamwell admin.",
    SsoFailure.account_inactive: "This Teamwell account is not active.",
    SsoFailure.identity_conflict: "This Teamwell account is linked to a different identity at "
    "your provider. Ask your organisation's Teamwell admin.",
}


class SsoProblem(Problem):
    """A failure of the sign-in round trip; the browser is sent to the web client's page for
    ``failure`` instead of being shown this problem as JSON."""

    failure = SsoFailure.provider_error

    def __init__(self, failure: SsoFailure | None = None, detail: str | None = None) -> None:
        if failure is not None:
            self.failure = failure
        super().__init__(detail or FAILURE_DETAIL[self.failure])


class SsoNotConfigured(SsoProblem, NotFound):
    slug, title = "sso-not-configured", "Single sign-on is not set up for this organisation"
    failure = SsoFailure.not_configured


class SsoSettingsInvalid(Unprocessable):
    slug, title = "sso-settings-invalid", "These single sign-on settings are not valid"


class SsoFailed(SsoProblem):
    slug, title = "sso-failed", "Single sign-on did not complete"


class SsoProviderUnavailable(SsoProblem):
    status, slug, title = 502, "sso-provider-unavailable", "The identity provider did not answer"
    failure = SsoFailure.provider_unavailable


class InvalidSsoCode(Unauthenticated):
    slug, title = "invalid-sso-code", "This sign-in link is not valid"


class RefusalReason(StrEnum):
    email_not_verified = "email-not-verified"
    unknown_account = "unknown-account"
    other_organisation = "other-organisation"
    account_inactive = "account-inactive"
    identity_conflict = "identity-conflict"


# The page does not tell an unknown account from one of another organisation; the audit does.
_REFUSAL_FAILURE = {
    RefusalReason.email_not_verified: SsoFailure.email_not_verified,
    RefusalReason.unknown_account: SsoFailure.no_account,
    RefusalReason.other_organisation: SsoFailure.no_account,
    RefusalReason.account_inactive: SsoFailure.account_inactive,
    RefusalReason.identity_conflict: SsoFailure.identity_conflict,
}


class SsoRefused(SsoProblem, Forbidden):
    """The provider vouched for someone Teamwell will not sign in. ``reason`` is for the audit
    trail; the page does not tell an unknown account from one of another organisation."""

    slug, title = "sso-refused", "Single sign-on refused"

    def __init__(self, reason: RefusalReason, *, user: User | None = None) -> None:
        super().__init__(_REFUSAL_FAILURE[reason])
        self.reason = reason
        self.user = user


def failure_url(settings: Settings, failure: SsoFailure) -> str:
    """The web client's page saying why a sign-in through the provider failed."""
    return f"{settings.public_url.rstrip('/')}/#/sso/failed/{failure.value}"


# --- pure rules ------------------------------------------------------------------------------


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def callback_url(settings: Settings, slug: str) -> str:
    """The redirect URI to register at the provider (exact match)."""
    return f"{settings.public_url.rstrip('/')}/api/v1/auth/sso/{slug}/callback"


def hand_off_url(settings: Settings, code: str) -> str:
    """Where the browser goes after the callback: the web client, holding the one-time code in
    the fragment (never sent to a server, never in a Referer)."""
    return f"{settings.public_url.rstrip('/')}/#/sso/{code}"


def issuer_allowed(issuer: str, settings: Settings) -> bool:
    """https, or plain http to this machine while Teamwell itself runs on plain http
    (development and tests)."""
    parts = urlsplit(issuer)
    if parts.scheme == "https":
        return True
    return (
        parts.scheme == "http"
        and parts.hostname in LOOPBACK_HOSTS
        and not settings.public_url.startswith("https://")
    )


def email_is_verified(claims: Mapping[str, Any]) -> bool:
    """Only an explicit ``true`` counts (some providers send the string ``"true"``)."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


@dataclass(frozen=True)
class ProviderIdentity:
    """Who the provider says signed in, from a verified ID token."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool


def identity_from_claims(issuer: str, claims: Mapping[str, Any]) -> ProviderIdentity:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SsoFailed(SsoFailure.not_verified)
    email = claims.get("email")
    return ProviderIdentity(
        issuer=issuer,
        subject=subject,
        email=email if isinstance(email, str) and email.strip() else None,
        email_verified=email_is_verified(claims),
    )


# --- provider settings -----------------------------------------------------------------------


async def enabled_providers(*, session: AsyncSession) -> list[tuple[str, str]]:
    """(slug, name) of organisations with single sign-on switched on, by name."""
    rows = await session.exec(
        select(Organisation.slug, Organisation.name)
        .join(SsoProvider, col(SsoProvider.organisation_id) == col(Organisation.id))
        .where(col(SsoProvider.enabled).is_(True))
        .order_by(col(Organisation.name))
    )
    return [(slug, name) for slug, name in rows.all()]


async def get_for_organisation(*, session: AsyncSession, organisation_id: uuid.UUID) -> SsoProvider:
    found = (
        await session.exec(
            select(SsoProvider).where(SsoProvider.organisation_id == organisation_id)
        )
    ).first()
    if found is None:
        raise SsoNotConfigured()
    return found


async def provider_for_login(
    *, session: AsyncSession, slug: str
) -> tuple[Organisation, SsoProvider]:
    """The organisation and its enabled provider; unknown, unset and disabled look the same."""
    try:
        organisation = await organisations_service.get_by_slug(session=session, slug=slug)
        provider = await get_for_organisation(session=session, organisation_id=organisation.id)
    except NotFound:
        raise SsoNotConfigured() from None
    if not provider.enabled:
        raise SsoNotConfigured()
    return organisation, provider


async def save_settings(
    *,
    session: AsyncSession,
    runtime: AuthRuntime,
    organisation_id: uuid.UUID,
    data: SsoProviderSettings,
) -> tuple[SsoProvider, bool]:
    """Create or replace the organisation's provider; True when it was created."""
    if not issuer_allowed(data.issuer, runtime.settings):
        raise SsoSettingsInvalid("The issuer must be an https:// URL.")
    if data.enabled:
        # Switched off, settings may be prepared before the provider exists; switched on, a
        # wrong issuer would otherwise be found only when someone tries to sign in.
        await check_issuer(data.issuer)
    existing = (
        await session.exec(
            select(SsoProvider).where(SsoProvider.organisation_id == organisation_id)
        )
    ).first()
    if data.client_secret is not None:
        secret = runtime.cipher.encrypt(data.client_secret.get_secret_value())
    elif existing is not None:
        secret = existing.client_secret_encrypted
    else:
        raise SsoSettingsInvalid("Give the client secret the provider issued for Teamwell.")
    provider = existing or SsoProvider(
        organisation_id=organisation_id,
        issuer=data.issuer,
        client_id=data.client_id,
        client_secret_encrypted=secret,
        created_at=runtime.now(),
    )
    provider.issuer = data.issuer
    provider.client_id = data.client_id
    provider.client_secret_encrypted = secret
    provider.enabled = data.enabled
    session.add(provider)
    await session.flush()
    return provider, existing is None


async def check_issuer(issuer: str) -> None:
    """Refuse settings whose provider does not confirm the issuer, when they are saved rather
    than when someone first signs in."""
    try:
        await read_discovery(issuer)
    except SsoProviderUnavailable:
        raise SsoSettingsInvalid(
            f"Teamwell could not read the provider's discovery document at "
            f"{discovery_url(issuer)}. Check the issuer, and that the provider is reachable "
            "from Teamwell."
        ) from None
    except IssuerMismatch as exc:
        named = f"names the issuer {exc.named}" if exc.named else "names no issuer"
        raise SsoSettingsInvalid(
            f"The provider's discovery document {named}, not {issuer}. Enter the issuer "
            "exactly as the provider states it."
        ) from None


async def delete_settings(*, session: AsyncSession, organisation_id: uuid.UUID) -> SsoProvider:
    provider = await get_for_organisation(session=session, organisation_id=organisation_id)
    await session.delete(provider)
    await session.flush()
    return provider


def public_view(
    provider: SsoProvider, organisation: Organisation, settings: Settings
) -> SsoProviderPublic:
    return SsoProviderPublic(
        id=provider.id,
        organisation_id=provider.organisation_id,
        issuer=provider.issuer,
        client_id=provider.client_id,
        enabled=provider.enabled,
        created_at=provider.created_at,
        redirect_uri=callback_url(settings, organisation.slug),
    )


# --- the authlib client per provider ---------------------------------------------------------


@dataclass(frozen=True)
class _CachedClient:
    fingerprint: str
    client: Any  # authlib's StarletteOAuth2App (untyped)
    built_at: float


class SsoClients:
    """One authlib client per organisation, built from its provider row and kept while the row
    is unchanged (the row's fingerprint is part of the key, so a change made through another
    server process is noticed too) and for at most ``max_age`` seconds."""

    def __init__(
        self,
        *,
        max_age: float = CLIENT_MAX_AGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self._monotonic = monotonic
        self._clients: dict[uuid.UUID, _CachedClient] = {}

    @staticmethod
    def _fingerprint(provider: SsoProvider) -> str:
        parts = (provider.id, provider.issuer, provider.client_id, provider.client_secret_encrypted)
        return token_digest("\n".join(str(part) for part in parts))

    def client_for(self, provider: SsoProvider, cipher: FieldCipher) -> Any:
        fingerprint = self._fingerprint(provider)
        now = self._monotonic()
        cached = self._clients.get(provider.organisation_id)
        if (
            cached is not None
            and cached.fingerprint == fingerprint
            and now - cached.built_at < self.max_age
        ):
            return cached.client
        try:
            secret = cipher.decrypt(provider.client_secret_encrypted)
        except ValueError:
            raise SsoProviderUnavailable(
                detail="The stored client secret cannot be read; an admin must enter it again."
            ) from None
        client = OAuth().register(
            # The name keys authlib's state in the browser session: one per organisation.
            name=f"sso-{provider.organisation_id.hex}",
            client_id=provider.client_id,
            client_secret=secret,
            server_metadata_url=discovery_url(provider.issuer),
            client_kwargs={
                "scope": SCOPE,
                "code_challenge_method": "S256",
                "timeout": PROVIDER_TIMEOUT_SECONDS,
            },
        )
        self._clients[provider.organisation_id] = _CachedClient(fingerprint, client, now)
        return client

    def forget(self, organisation_id: uuid.UUID) -> None:
        self._clients.pop(organisation_id, None)


# --- talking to the provider -----------------------------------------------------------------


async def read_discovery(issuer: str) -> dict[str, Any]:
    """The provider's discovery document, read now (not from a cache), checked to name this very
    issuer. :class:`SsoProviderUnavailable` when it cannot be read, :class:`IssuerMismatch` when
    it names another issuer."""
    try:
        async with httpx.AsyncClient(timeout=PROVIDER_TIMEOUT_SECONDS) as http:
            reply = await http.get(discovery_url(issuer))
            reply.raise_for_status()
            document = reply.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoProviderUnavailable() from exc
    if not isinstance(document, dict):
        raise SsoProviderUnavailable()
    named = document.get("issuer")
    if named != issuer:
        raise IssuerMismatch(named if isinstance(named, str) else None)
    return document


class IssuerMismatch(Exception):
    """The discovery document names another issuer (``named``) than the one configured."""

    def __init__(self, named: str | None) -> None:
        super().__init__(named)
        self.named = named


async def authorization_redirect(
    *, clients: SsoClients, client: Any, provider: SsoProvider, request: Request, redirect_uri: str
) -> Response:
    """A 302 to the provider's authorization endpoint. authlib keeps state, nonce and the PKCE
    verifier in the (signed) session cookie for the callback.

    The discovery document is read again first, even while authlib holds it: a provider that is
    down is then said so by Teamwell, instead of the browser being sent to an address that does
    not answer."""
    try:
        metadata = await read_discovery(provider.issuer)
    except (SsoProviderUnavailable, IssuerMismatch):
        clients.forget(provider.organisation_id)
        raise SsoProviderUnavailable() from None
    try:
        client.server_metadata.update(metadata, _loaded_at=time.time())
        response: Response = await client.authorize_redirect(request, redirect_uri)
    except (httpx.HTTPError, ValueError) as exc:
        clients.forget(provider.organisation_id)
        raise SsoProviderUnavailable() from exc
    return response


def _oauth_failure(error: str | None) -> SsoFailure:
    """An authlib error as the failure a person is shown: the provider's ``access_denied`` is
    the person cancelling; authlib's own state checks (no error code from the provider, or
    ``mismatching_state``) mean this browser did not start this sign-in, or used it already."""
    if error == "access_denied":
        return SsoFailure.cancelled
    if not error or error == "mismatching_state":
        return SsoFailure.not_started_here
    return SsoFailure.provider_error


async def verified_identity(
    *, client: Any, provider: SsoProvider, request: Request
) -> ProviderIdentity:
    """Redeem the code (with the PKCE verifier) and verify the ID token: signature, issuer,
    audience, nonce and expiry. A missing or forged state, or an error from the provider, is
    :class:`SsoFailed`."""
    returned_issuer = request.query_params.get("iss")
    if returned_issuer is not None and returned_issuer != provider.issuer:
        raise SsoFailed(SsoFailure.not_verified)
    try:
        token = await client.authorize_access_token(
            request,
            claims_options={
                "iss": {"essential": True, "value": provider.issuer},
                "aud": {"essential": True, "value": provider.client_id},
            },
        )
    except OAuthError as exc:
        # authlib's own wording ("CSRF Warning! ...") is not for people: each case has ours.
        raise SsoFailed(_oauth_failure(exc.error)) from exc
    except JoseError as exc:
        raise SsoFailed(SsoFailure.not_verified) from exc
    except httpx.HTTPError as exc:
        raise SsoProviderUnavailable() from exc
    claims = token.get("userinfo") if isinstance(token, dict) else None
    if not claims:
        raise SsoFailed(SsoFailure.not_verified)
    return identity_from_claims(provider.issuer, claims)


# --- matching the person to an account -------------------------------------------------------


async def _linked_identity(
    session: AsyncSession, issuer: str, subject: str
) -> ExternalIdentity | None:
    rows = await session.exec(
        select(ExternalIdentity).where(
            ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject
        )
    )
    return rows.first()


async def _linked_elsewhere(session: AsyncSession, user_id: uuid.UUID, issuer: str) -> bool:
    """Whether the account already has a (necessarily other) subject at this issuer."""
    rows = await session.exec(
        select(ExternalIdentity.id).where(
            ExternalIdentity.user_id == user_id, ExternalIdentity.issuer == issuer
        )
    )
    return rows.first() is not None


def _ensure_member(user: User, organisation_id: uuid.UUID) -> None:
    if user.organisation_id != organisation_id:
        raise SsoRefused(RefusalReason.other_organisation, user=user)
    if not user.is_active:
        raise SsoRefused(RefusalReason.account_inactive, user=user)


async def match_user(
    *,
    session: AsyncSession,
    runtime: AuthRuntime,
    organisation_id: uuid.UUID,
    identity: ProviderIdentity,
) -> tuple[User, bool]:
    """The active account of ``organisation_id`` this identity belongs to, and whether it was
    linked just now.

    A subject seen before decides. Otherwise a verified email address of a member of the
    organisation matches, and the subject is remembered; an account already linked to another
    subject at this provider is not re-linked by email.
    """
    linked = await _linked_identity(session, identity.issuer, identity.subject)
    if linked is not None:
        user = await session.get(User, linked.user_id)
        if user is None:
            raise SsoRefused(RefusalReason.unknown_account)
        _ensure_member(user, organisation_id)
        return user, False
    if not identity.email_verified:
        raise SsoRefused(RefusalReason.email_not_verified)
    user = (
        await users_service.get_by_email(session=session, email=identity.email)
        if identity.email
        else None
    )
    if user is None:
        raise SsoRefused(RefusalReason.unknown_account)
    _ensure_member(user, organisation_id)
    if await _linked_elsewhere(session, user.id, identity.issuer):
        raise SsoRefused(RefusalReason.identity_conflict, user=user)
    try:
        async with session.begin_nested():
            session.add(
                ExternalIdentity(
                    user_id=user.id,
                    issuer=identity.issuer,
                    subject=identity.subject,
                    created_at=runtime.now(),
                )
            )
    except IntegrityError:
        # A concurrent first sign-in with the same subject linked it: theirs stands.
        raced = await _linked_identity(session, identity.issuer, identity.subject)
        if raced is None or raced.user_id != user.id:
            raise SsoRefused(RefusalReason.identity_conflict, user=user) from None
        return user, False
    return user, True


# --- the one-time hand-off code --------------------------------------------------------------


async def issue_login_code(*, session: AsyncSession, runtime: AuthRuntime, user: User) -> str:
    """A random code for the browser, stored only as its digest; expired ones are swept."""
    now = runtime.now()
    await session.exec(delete(SsoLoginCode).where(col(SsoLoginCode.expires_at) < now))
    code = new_token()
    session.add(
        SsoLoginCode(
            code_hash=token_digest(code),
            user_id=user.id,
            expires_at=now + timedelta(seconds=runtime.settings.sso_code_seconds),
        )
    )
    await session.flush()
    return code


async def redeem_login_code(*, session: AsyncSession, runtime: AuthRuntime, code: str) -> User:
    """The account a valid, unused, unexpired code was issued for; the code is spent."""
    now = runtime.now()
    found = (
        await session.exec(select(SsoLoginCode).where(SsoLoginCode.code_hash == token_digest(code)))
    ).first()
    if found is None or found.used_at is not None or found.expires_at <= now:
        raise InvalidSsoCode("This sign-in link is not valid: it expired or was already used.")
    # Conditional update: of two concurrent exchanges of one code only one can win.
    claimed = await session.exec(
        update(SsoLoginCode)
        .where(col(SsoLoginCode.id) == found.id, col(SsoLoginCode.used_at).is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        raise InvalidSsoCode("This sign-in link is not valid: it expired or was already used.")
    user = await session.get(User, found.user_id)
    if user is None or not user.is_active:
        raise InvalidSsoCode("This sign-in link is not valid.")
    return user
