"""OpenID Connect single sign-on per organisation: settings, the login round trip, the exchange."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import RedirectResponse

from app.audit import service as audit_service
from app.audit.models import Outcome
from app.context import Actor, Context
from app.db import SessionDep
from app.errors import Forbidden
from app.organisations import service as organisations_service
from app.users.models import User
from auth.deps import AccountManager, AnonymousContext, Principal, RuntimeDep
from auth.routes import finish_sign_in
from auth.schemas import MfaChallenge, TokenResponse
from auth.sso import service
from auth.sso.schemas import (
    SsoExchangeRequest,
    SsoFailurePublic,
    SsoProviderListing,
    SsoProviderPublic,
    SsoProviderSettings,
)

router = APIRouter(prefix="/auth/sso", tags=["sso"])


def get_sso_clients(request: Request) -> service.SsoClients:
    """The application's authlib clients, one per organisation, made on first use."""
    clients: service.SsoClients | None = getattr(request.app.state, "sso_clients", None)
    if clients is None:
        clients = request.app.state.sso_clients = service.SsoClients()
    return clients


SsoClientsDep = Annotated[service.SsoClients, Depends(get_sso_clients)]


def _own_organisation(principal: Principal, organisation_id: uuid.UUID) -> None:
    if organisation_id != principal.user.organisation_id:
        raise Forbidden("Admins manage their own organisation's single sign-on only.")


def _attempt(ctx: Context, organisation_id: uuid.UUID, user: User | None) -> Context:
    """The anonymous context of a sign-in attempt, filed under the provider's organisation."""
    actor = Actor(
        user_id=user.id if user else None,
        role=user.role if user else None,
        organisation_id=organisation_id,
        ip=ctx.actor.ip,
        user_agent=ctx.actor.user_agent,
    )
    return Context(actor=actor, clock=ctx.clock)


@router.get("/providers", response_model=list[SsoProviderListing])
async def list_providers(session: SessionDep) -> list[SsoProviderListing]:
    """Organisations whose people can sign in with their own identity provider (public: the
    sign-in page lists them)."""
    rows = await service.enabled_providers(session=session)
    return [SsoProviderListing(organisation_slug=s, organisation_name=n) for s, n in rows]


@router.get("/organisations/{organisation_id}", response_model=SsoProviderPublic)
async def get_settings(
    organisation_id: uuid.UUID, principal: AccountManager, session: SessionDep, runtime: RuntimeDep
) -> SsoProviderPublic:
    """The organisation's identity provider settings (admins of that organisation). The client
    secret is never returned; ``redirect_uri`` is what to register at the provider."""
    _own_organisation(principal, organisation_id)
    organisation = await organisations_service.get(session=session, organisation_id=organisation_id)
    provider = await service.get_for_organisation(session=session, organisation_id=organisation_id)
    return service.public_view(provider, organisation, runtime.settings)


@router.put("/organisations/{organisation_id}", response_model=SsoProviderPublic)
async def put_settings(
    organisation_id: uuid.UUID,
    body: SsoProviderSettings,
    principal: AccountManager,
    session: SessionDep,
    runtime: RuntimeDep,
    clients: SsoClientsDep,
) -> SsoProviderPublic:
    """Set up or change the organisation's OpenID Connect provider (admins of that
    organisation). Discovery is read from ``<issuer>/.well-known/openid-configuration``; the
    client secret is stored encrypted and may be left out to keep the stored one."""
    _own_organisation(principal, organisation_id)
    organisation = await organisations_service.get(session=session, organisation_id=organisation_id)
    provider, created = await service.save_settings(
        session=session, runtime=runtime, organisation_id=organisation_id, data=body
    )
    clients.forget(organisation_id)
    await principal.audit(
        "sso.configure",
        resource_type="sso_provider",
        resource_id=provider.id,
        detail=f"{'created' if created else 'updated'}; enabled={provider.enabled}",
    )
    return service.public_view(provider, organisation, runtime.settings)


@router.delete("/organisations/{organisation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_settings(
    organisation_id: uuid.UUID,
    principal: AccountManager,
    session: SessionDep,
    clients: SsoClientsDep,
) -> Response:
    """Remove the organisation's provider: its people sign in with passwords again. Linked
    identities are kept, so setting the same provider up again recognises them."""
    _own_organisation(principal, organisation_id)
    provider = await service.delete_settings(session=session, organisation_id=organisation_id)
    clients.forget(organisation_id)
    await principal.audit("sso.delete", resource_type="sso_provider", resource_id=provider.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{slug}/login",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={302: {"description": "To the provider's authorization endpoint"}},
)
async def login(
    slug: str, request: Request, session: SessionDep, runtime: RuntimeDep, clients: SsoClientsDep
) -> Response:
    """Start single sign-on for the organisation with this slug: a redirect to its identity
    provider (authorization code flow with PKCE S256, state and nonce). When that cannot start
    (no enabled provider, the provider not answering), a redirect to the web client's
    ``/#/sso/failed/<failure>`` instead."""
    try:
        organisation, provider = await service.provider_for_login(session=session, slug=slug)
        await session.commit()  # hold no database transaction while waiting on the provider
        return await service.authorization_redirect(
            clients=clients,
            client=clients.client_for(provider, runtime.cipher),
            provider=provider,
            request=request,
            redirect_uri=service.callback_url(runtime.settings, organisation.slug),
        )
    except service.SsoProblem as exc:
        return _failure_page(runtime, exc)


def _failure_page(runtime: RuntimeDep, exc: service.SsoProblem) -> Response:
    """A browser on its way through the provider gets a page of the web client, not JSON."""
    return RedirectResponse(
        service.failure_url(runtime.settings, exc.failure), status_code=status.HTTP_302_FOUND
    )


@router.get("/failures/{failure}", response_model=SsoFailurePublic)
async def failure_words(failure: service.SsoFailure) -> SsoFailurePublic:
    """What the web client's ``/#/sso/failed/<failure>`` page says (public: nobody is signed in
    yet)."""
    return SsoFailurePublic(failure=failure, detail=service.FAILURE_DETAIL[failure])


@router.get(
    "/{slug}/callback",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={302: {"description": "To the web client's /#/sso/<code>"}},
)
async def callback(
    slug: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    ctx: AnonymousContext,
    clients: SsoClientsDep,
) -> Response:
    """Where the provider sends the browser back. The ID token is verified and matched to an
    account of the organisation; the browser is then sent to ``/#/sso/<code>`` with a one-time
    code to exchange at ``/auth/sso/exchange``. Any failure (a missing, forged or replayed state,
    the person cancelling, an error from the provider, a person Teamwell will not sign in, the
    last audited) sends the browser to ``/#/sso/failed/<failure>`` instead."""
    try:
        return await _callback(slug, request, session, runtime, ctx, clients)
    except service.SsoProblem as exc:
        return _failure_page(runtime, exc)


async def _callback(
    slug: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    ctx: AnonymousContext,
    clients: SsoClientsDep,
) -> Response:
    organisation, provider = await service.provider_for_login(session=session, slug=slug)
    await session.commit()  # hold no database transaction while waiting on the provider
    identity = await service.verified_identity(
        client=clients.client_for(provider, runtime.cipher), provider=provider, request=request
    )
    try:
        user, linked = await service.match_user(
            session=session,
            runtime=runtime,
            organisation_id=organisation.id,
            identity=identity,
        )
    except service.SsoRefused as exc:
        await audit_service.record(
            session,
            _attempt(ctx, organisation.id, exc.user),
            action="auth.login",
            resource_type="user",
            resource_id=exc.user.id if exc.user else None,
            outcome=Outcome.denied,
            detail=f"sso:{exc.reason}",
        )
        await session.commit()  # the refusal is recorded although the request fails
        raise
    if linked:
        await audit_service.record(
            session,
            _attempt(ctx, organisation.id, user),
            action="auth.sso_linked",
            resource_type="user",
            resource_id=user.id,
            detail=identity.issuer,
        )
    code = await service.issue_login_code(session=session, runtime=runtime, user=user)
    return RedirectResponse(
        service.hand_off_url(runtime.settings, code), status_code=status.HTTP_302_FOUND
    )


@router.post("/exchange", response_model=TokenResponse | MfaChallenge)
async def exchange(
    body: SsoExchangeRequest, session: SessionDep, runtime: RuntimeDep, ctx: AnonymousContext
) -> TokenResponse | MfaChallenge:
    """Swap the one-time code from ``/#/sso/<code>`` for tokens, or for an ``mfa_token`` to
    complete at ``/auth/login/mfa``, exactly as a password sign-in answers. A code works once
    and only for a short time."""
    user = await service.redeem_login_code(session=session, runtime=runtime, code=body.code)
    return await finish_sign_in(session=session, runtime=runtime, ctx=ctx, user=user, method="sso")
