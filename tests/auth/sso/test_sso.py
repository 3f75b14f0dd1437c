"""Organisation single sign-on with OpenID Connect.

End to end against a real provider (the npm ``oidc-provider`` under Node.js) and a real server;
the matching rules and the one-time code directly against the service on a throwaway SQLite
database, with a frozen clock.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import app.models  # noqa: F401 - every table in the metadata
from app.clock import FrozenClock
from app.config import Settings
from app.crypto import FieldCipher
from app.db import create_engine, session_factory
from app.organisations.models import Organisation, OrganisationKind
from app.users.models import Role, User
from auth.models import SsoProvider
from auth.service import AuthRuntime
from auth.sso import service as sso
from auth.tokens import TokenSigner
from tests.conftest import (
    PARTNER_ADMIN_EMAIL,
    Live,
    live_server,
    problem,
)
from tests.support.net import free_port
from tests.support.oidc import OidcProvider, complete_login, require_node

SLUG = "tyneside-nhs"
CLIENT_ID = "teamwell-tyneside"
CLIENT_SECRET = "tyneside-client-secret-0123456789"
PRIYA = "priya.shah@tyneside.example"
SOFIA = "sofia.lind@tyneside.example"

# Accounts at the provider; the subject is the id.
ACCOUNTS: list[dict[str, Any]] = [
    {"id": "priya-at-idp", "email": PRIYA, "email_verified": True},
    {"id": "tom-at-idp", "email": "tom.okafor@tyneside.example", "email_verified": False},
    {"id": "stranger-at-idp", "email": "stranger@elsewhere.example", "email_verified": True},
    {
        "id": "erin-at-idp",
        "email": "erin.walsh@northern-employment.example",
        "email_verified": True,
    },
    {"id": "admin-at-idp", "email": "admin@tyneside.example", "email_verified": True},
    {"id": "sofia-at-idp", "email": SOFIA, "email_verified": True},
]


# --- a real provider and a server that knows its own address --------------------------------


@dataclass
class SsoWorld:
    live: Live
    provider: OidcProvider
    public_url: str

    @property
    def callback_url(self) -> str:
        return f"{self.public_url}/api/v1/auth/sso/{SLUG}/callback"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsoWorld]:
    require_node()  # skipped without Node.js 20+, failed instead under CI
    with live_server(tmp_path_factory, "sso") as live:
        # The redirect URI is the server's own address: the server is started first.
        provider = OidcProvider(
            clients=[
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": [f"{live.base_url}/api/v1/auth/sso/{SLUG}/callback"],
                }
            ],
            accounts=ACCOUNTS,
        )
        try:
            provider.start()
            yield SsoWorld(live=live, provider=provider, public_url=live.base_url)
        finally:
            provider.stop()


@pytest.fixture(scope="module")
def configured(world: SsoWorld) -> dict[str, Any]:
    """Tyneside's admin has set up single sign-on through the API."""
    admin = world.live.as_role("admin")
    organisation_id = admin.user["organisation_id"]
    reply = admin.put(
        f"/api/v1/auth/sso/organisations/{organisation_id}",
        json={
            "issuer": world.provider.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "enabled": True,
        },
    )
    assert reply.status_code == 200, reply.text
    assert CLIENT_SECRET not in reply.text
    body: dict[str, Any] = reply.json()
    return body


def browser(world: SsoWorld) -> httpx.Client:
    """One client for the app and the provider alike, as a browser is (cookies of both)."""
    return httpx.Client(base_url=world.public_url, timeout=10)


def through_provider(world: SsoWorld, http: httpx.Client, account_id: str) -> httpx.Response:
    """Start at the app, sign in at the provider, and return the app's answer at the callback."""
    start = http.get(f"/api/v1/auth/sso/{SLUG}/login")
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(world.provider.issuer + "/")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["state"] and query["nonce"]
    assert set(query["scope"][0].split()) == {"openid", "email"}
    assert query["redirect_uri"] == [world.callback_url]
    callback = complete_login(http, authorize, account_id)
    assert callback.startswith(world.callback_url + "?"), callback
    return http.get(callback)


def sso_code(world: SsoWorld, reply: httpx.Response) -> str:
    assert reply.status_code == 302, reply.text
    location = reply.headers["location"]
    prefix = f"{world.public_url}/#/sso/"
    assert location.startswith(prefix), location
    return location.removeprefix(prefix)


def failure_page(world: SsoWorld, reply: httpx.Response) -> str:
    """The failure a browser was sent to the web client's page for, with that page's words
    checked to come from the server (never authlib's)."""
    assert reply.status_code == 302, reply.text
    location = reply.headers["location"]
    prefix = f"{world.public_url}/#/sso/failed/"
    assert location.startswith(prefix), location
    failure = location.removeprefix(prefix)
    with world.live.client() as anonymous:
        words = anonymous.get(f"/api/v1/auth/sso/failures/{failure}")
    assert words.status_code == 200, words.text
    assert words.json()["failure"] == failure
    assert "CSRF" not in words.text and words.json()["detail"]
    return failure


def exchange(http: httpx.Client, code: str) -> httpx.Response:
    return http.post("/api/v1/auth/sso/exchange", json={"code": code})


def audit_events(world: SsoWorld, action: str) -> list[dict[str, Any]]:
    reply = world.live.as_role("admin").get(
        "/api/v1/audit-events", params={"action": action, "limit": 200}
    )
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


# --- setting it up ---------------------------------------------------------------------------


def test_admin_configures_sso_and_the_secret_never_comes_back(
    world: SsoWorld, configured: dict[str, Any]
) -> None:
    admin = world.live.as_role("admin")
    organisation_id = admin.user["organisation_id"]
    path = f"/api/v1/auth/sso/organisations/{organisation_id}"
    assert configured["issuer"] == world.provider.issuer
    assert configured["client_id"] == CLIENT_ID
    assert configured["redirect_uri"] == world.callback_url
    assert "client_secret" not in configured

    shown = admin.get(path)
    assert shown.status_code == 200, shown.text
    assert CLIENT_SECRET not in shown.text and "client_secret" not in shown.json()

    # Saving again without the secret keeps the stored one.
    again = admin.put(
        path, json={"issuer": world.provider.issuer, "client_id": CLIENT_ID, "enabled": True}
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == configured["id"]

    with world.live.client() as anonymous:
        listed = anonymous.get("/api/v1/auth/sso/providers")
    assert listed.status_code == 200
    assert {"organisation_slug": SLUG, "organisation_name": "Tyneside NHS Foundation Trust"} in (
        listed.json()
    )

    assert any(e["resource_id"] == configured["id"] for e in audit_events(world, "sso.configure"))


def test_only_an_admin_of_the_organisation_manages_its_sso(
    world: SsoWorld, configured: dict[str, Any]
) -> None:
    path = f"/api/v1/auth/sso/organisations/{configured['organisation_id']}"
    settings = {"issuer": world.provider.issuer, "client_id": "x", "client_secret": "y"}
    partner_admin = world.live.as_email(PARTNER_ADMIN_EMAIL)
    problem(partner_admin.put(path, json=settings), 403)
    problem(partner_admin.get(path), 403)
    problem(partner_admin.delete(path), 403)
    with world.live.client() as anonymous:
        problem(anonymous.get(path), 401)

    own = f"/api/v1/auth/sso/organisations/{partner_admin.user['organisation_id']}"
    problem(partner_admin.get(own), 404)
    # A new provider needs its secret, and a provider off this machine needs https.
    problem(partner_admin.put(own, json={"issuer": world.provider.issuer, "client_id": "x"}), 422)
    insecure = {"issuer": "http://idp.example.org", "client_id": "x", "client_secret": "y"}
    problem(partner_admin.put(own, json=insecure), 422)
    problem(partner_admin.get(own), 404)


def test_login_needs_an_enabled_provider(world: SsoWorld, configured: dict[str, Any]) -> None:
    admin = world.live.as_role("admin")
    path = f"/api/v1/auth/sso/organisations/{configured['organisation_id']}"
    with world.live.client() as http:
        for slug in ("northern-employment", "no-such-organisation"):
            reply = http.get(f"/api/v1/auth/sso/{slug}/login")
            assert failure_page(world, reply) == "not-configured"
        off = {"issuer": world.provider.issuer, "client_id": CLIENT_ID, "enabled": False}
        assert admin.put(path, json=off).status_code == 200
        try:
            assert failure_page(world, http.get(f"/api/v1/auth/sso/{SLUG}/login")) == (
                "not-configured"
            )
            listed = http.get("/api/v1/auth/sso/providers").json()
            assert SLUG not in {p["organisation_slug"] for p in listed}
        finally:
            on = {**off, "enabled": True}
            assert admin.put(path, json=on).status_code == 200
        assert http.get(f"/api/v1/auth/sso/{SLUG}/login").status_code == 302


# --- signing in ------------------------------------------------------------------------------


def test_priya_signs_in_with_sso(world: SsoWorld, configured: dict[str, Any]) -> None:
    with browser(world) as http:
        code = sso_code(world, through_provider(world, http, "priya-at-idp"))
        reply = exchange(http, code)
        assert reply.status_code == 200, reply.text
        tokens = reply.json()
        assert tokens["user"]["email"] == PRIYA
        # Staff must set up their own second factor on first sign-in, SSO or not.
        assert tokens["mfa_enrolment_required"] is True
        me = http.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert me.status_code == 200 and me.json()["email"] == PRIYA

        # The code works once.
        problem(exchange(http, code), 401)

    logins = [e for e in audit_events(world, "auth.login") if e["actor_id"] == tokens["user"]["id"]]
    assert any(e["detail"] == "sso" and e["outcome"] == "success" for e in logins)


def test_second_sign_in_is_matched_by_subject(world: SsoWorld, configured: dict[str, Any]) -> None:
    people = []
    for _ in range(2):
        with browser(world) as http:
            reply = exchange(http, sso_code(world, through_provider(world, http, "priya-at-idp")))
            assert reply.status_code == 200, reply.text
            people.append(reply.json()["user"]["id"])
    assert people[0] == people[1]
    # Linked once, by the verified email; every later sign-in found the subject.
    linked = [e for e in audit_events(world, "auth.sso_linked") if e["resource_id"] == people[0]]
    assert len(linked) == 1
    assert linked[0]["detail"] == world.provider.issuer
    sso_logins = [
        e
        for e in audit_events(world, "auth.login")
        if e["actor_id"] == people[0] and e["detail"] == "sso"
    ]
    assert len(sso_logins) >= 2


def test_someone_with_a_second_factor_is_asked_for_it(
    world: SsoWorld, configured: dict[str, Any]
) -> None:
    world.live.as_role("admin")  # signed in with a password once: second factor enrolled
    with browser(world) as http:
        reply = exchange(http, sso_code(world, through_provider(world, http, "admin-at-idp")))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["mfa_required"] is True and body["mfa_token"]
    assert "access_token" not in body


@pytest.mark.parametrize(
    ("account_id", "reason", "failure"),
    [
        ("tom-at-idp", "email-not-verified", "email-not-verified"),
        ("stranger-at-idp", "unknown-account", "no-account"),
        # The page does not tell an account of another organisation from no account.
        ("erin-at-idp", "other-organisation", "no-account"),
    ],
)
def test_people_teamwell_will_not_sign_in_are_refused_and_audited(
    world: SsoWorld, configured: dict[str, Any], account_id: str, reason: str, failure: str
) -> None:
    with browser(world) as http:
        assert failure_page(world, through_provider(world, http, account_id)) == failure
    denials = [e for e in audit_events(world, "auth.login") if e["outcome"] == "denied"]
    assert any(e["detail"] == f"sso:{reason}" for e in denials), denials


def test_an_inactive_account_is_refused(world: SsoWorld, configured: dict[str, Any]) -> None:
    admin = world.live.as_role("admin")
    people = admin.get("/api/v1/users", params={"limit": 200}).json()["items"]
    sofia = next(p for p in people if p["email"] == SOFIA)
    assert admin.patch(f"/api/v1/users/{sofia['id']}", json={"is_active": False}).is_success
    with browser(world) as http:
        assert failure_page(world, through_provider(world, http, "sofia-at-idp")) == (
            "account-inactive"
        )
    denials = [e for e in audit_events(world, "auth.login") if e["outcome"] == "denied"]
    assert any(
        e["detail"] == "sso:account-inactive" and e["resource_id"] == sofia["id"] for e in denials
    )


def test_forged_replayed_or_missing_state_and_cancelling_are_pages_in_our_words(
    world: SsoWorld, configured: dict[str, Any]
) -> None:
    callback = f"/api/v1/auth/sso/{SLUG}/callback"
    with browser(world) as http:
        # No login started in this browser at all.
        forged = http.get(callback, params={"code": "abc", "state": "forged"})
        assert failure_page(world, forged) == "not-started-here"
        assert failure_page(world, http.get(callback, params={"code": "abc"})) == (
            "not-started-here"
        )
        # A login started, but the answer carries another state.
        start = http.get(f"/api/v1/auth/sso/{SLUG}/login")
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        other = http.get(callback, params={"code": "abc", "state": state + "x"})
        assert failure_page(world, other) == "not-started-here"
        # The person cancels at the provider.
        cancelled = http.get(callback, params={"error": "access_denied", "state": state})
        assert failure_page(world, cancelled) == "cancelled"
        # Another error from the provider.
        start = http.get(f"/api/v1/auth/sso/{SLUG}/login")
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        erred = http.get(callback, params={"error": "server_error", "state": state})
        assert failure_page(world, erred) == "provider-error"

    # A genuine answer from the provider, delivered to a browser that did not start the login
    # (login CSRF): this browser holds no state for it.
    with browser(world) as victim_of_csrf, browser(world) as attacker:
        start = attacker.get(f"/api/v1/auth/sso/{SLUG}/login")
        answer = complete_login(attacker, start.headers["location"], "priya-at-idp")
        assert failure_page(world, victim_of_csrf.get(answer)) == "not-started-here"

    # The same answer replayed after it signed someone in.
    with browser(world) as http:
        start = http.get(f"/api/v1/auth/sso/{SLUG}/login")
        answer = complete_login(http, start.headers["location"], "priya-at-idp")
        sso_code(world, http.get(answer))
        assert failure_page(world, http.get(answer)) == "not-started-here"


def test_every_failure_has_words_and_an_unknown_one_is_not_found(world: SsoWorld) -> None:
    with world.live.client() as anonymous:
        for failure in sso.SsoFailure:
            words = anonymous.get(f"/api/v1/auth/sso/failures/{failure.value}")
            assert words.status_code == 200, words.text
            assert words.json() == {"failure": failure.value, "detail": sso.FAILURE_DETAIL[failure]}
        problem(anonymous.get("/api/v1/auth/sso/failures/no-such-failure"), 422)


def test_an_issuer_the_discovery_document_does_not_name_is_refused_when_saved(
    world: SsoWorld, configured: dict[str, Any]
) -> None:
    admin = world.live.as_role("admin")
    path = f"/api/v1/auth/sso/organisations/{configured['organisation_id']}"
    # The same provider, but spelt with a trailing slash: its discovery names it without one.
    mismatched = {"issuer": world.provider.issuer + "/", "client_id": CLIENT_ID, "enabled": True}
    body = problem(admin.put(path, json=mismatched), 422)
    assert body["type"].endswith("/sso-settings-invalid")
    assert f"names the issuer {world.provider.issuer}," in body["detail"]
    unreachable = {"issuer": f"http://127.0.0.1:{free_port()}", "client_id": CLIENT_ID}
    body = problem(admin.put(path, json=unreachable), 422)
    assert "could not read the provider's discovery document" in body["detail"]
    # Nothing changed.
    assert admin.get(path).json()["issuer"] == world.provider.issuer
    # Switched off, settings are kept unchecked (prepared before the provider exists).
    off = {**unreachable, "enabled": False}
    assert admin.put(path, json=off).status_code == 200
    back = {"issuer": world.provider.issuer, "client_id": CLIENT_ID, "enabled": True}
    assert admin.put(path, json=back).status_code == 200


def test_a_provider_that_is_down_is_said_so_by_teamwell(world: SsoWorld) -> None:
    """authlib keeps the discovery document; without reading it again at each login, the
    browser was sent to a provider that does not answer."""
    partner_admin = world.live.as_email(PARTNER_ADMIN_EMAIL)
    organisation = partner_admin.user["organisation_id"]
    slug = partner_admin.get(f"/api/v1/organisations/{organisation}").json()["slug"]
    path = f"/api/v1/auth/sso/organisations/{organisation}"
    with OidcProvider(clients=[], accounts=[]) as doomed:
        settings = {
            "issuer": doomed.issuer,
            "client_id": "teamwell-partner",
            "client_secret": "partner-client-secret-0123456789",
        }
        assert partner_admin.put(path, json=settings).status_code == 200
        with browser(world) as http:
            started = http.get(f"/api/v1/auth/sso/{slug}/login")
            assert started.headers["location"].startswith(doomed.issuer + "/")
    try:
        with browser(world) as http:
            reply = http.get(f"/api/v1/auth/sso/{slug}/login")
            assert failure_page(world, reply) == "provider-unavailable"
    finally:
        assert partner_admin.delete(path).status_code == 204


def test_unknown_code_is_refused(world: SsoWorld) -> None:
    with world.live.client() as http:
        problem(exchange(http, "not-a-code"), 401)
        problem(exchange(http, ""), 422)


# --- the rules, directly against the service -------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "verified"),
    [
        ({"email_verified": True}, True),
        ({"email_verified": "true"}, True),
        ({"email_verified": False}, False),
        ({"email_verified": "false"}, False),
        ({"email_verified": 1}, False),
        ({}, False),
    ],
)
def test_only_an_explicit_true_verifies_an_email(claims: dict[str, Any], verified: bool) -> None:
    assert sso.email_is_verified(claims) is verified


@pytest.mark.parametrize(
    ("issuer", "public_url", "allowed"),
    [
        ("https://idp.example.org", "https://teamwell.example.org", True),
        ("http://idp.example.org", "http://127.0.0.1:8000", False),
        ("http://127.0.0.1:9000", "http://127.0.0.1:8000", True),
        ("http://127.0.0.1:9000", "https://teamwell.example.org", False),
    ],
)
def test_issuer_must_be_https_off_this_machine(issuer: str, public_url: str, allowed: bool) -> None:
    settings = Settings(public_url=public_url, data_dir=Path("unused"))
    assert sso.issuer_allowed(issuer, settings) is allowed


def test_discovery_and_redirect_addresses() -> None:
    settings = Settings(public_url="https://teamwell.example.org/", data_dir=Path("unused"))
    assert sso.discovery_url("https://idp.example.org/realm/") == (
        "https://idp.example.org/realm/.well-known/openid-configuration"
    )
    assert sso.callback_url(settings, "trust") == (
        "https://teamwell.example.org/api/v1/auth/sso/trust/callback"
    )
    assert sso.hand_off_url(settings, "c0de") == "https://teamwell.example.org/#/sso/c0de"


def test_clients_are_reused_until_the_provider_row_changes() -> None:
    cipher = FieldCipher("a-key-for-the-tests-only-0123456789abcdef")
    now = [0.0]
    clients = sso.SsoClients(max_age=60, monotonic=lambda: now[0])
    provider = SsoProvider(
        organisation_id=uuid.uuid4(),
        issuer="https://idp.example.org",
        client_id="teamwell",
        client_secret_encrypted=cipher.encrypt("s3cret"),
    )
    first = clients.client_for(provider, cipher)
    assert clients.client_for(provider, cipher) is first
    assert first.client_secret == "s3cret"
    assert first.client_kwargs["code_challenge_method"] == "S256"

    provider.client_secret_encrypted = cipher.encrypt("changed")
    changed = clients.client_for(provider, cipher)
    assert changed is not first and changed.client_secret == "changed"

    clients.forget(provider.organisation_id)
    assert clients.client_for(provider, cipher) is not changed
    current = clients.client_for(provider, cipher)
    now[0] = 61.0
    assert clients.client_for(provider, cipher) is not current


ISSUER = "https://idp.example.org"


@dataclass
class Db:
    session: AsyncSession
    runtime: AuthRuntime
    clock: FrozenClock
    trust: Organisation
    partner: Organisation


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'sso.db'}",
        jwt_secret="jwt-secret-for-the-sso-tests-0123456789",
        field_encryption_key="field-key-for-the-sso-tests-0123456789",
        session_secret="session-secret-for-the-sso-tests-01234",
        sso_code_seconds=60,
    )
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    clock = FrozenClock()
    runtime = AuthRuntime(
        settings=settings,
        signer=TokenSigner(settings.secret("jwt_secret")),
        cipher=FieldCipher(settings.secret("field_encryption_key")),
        clock=clock,
    )
    async with session_factory(engine)() as session:
        trust = organisation(session, clock, "trust")
        partner = organisation(session, clock, "partner")
        await session.flush()
        yield Db(session=session, runtime=runtime, clock=clock, trust=trust, partner=partner)
    await engine.dispose()


def organisation(session: AsyncSession, clock: FrozenClock, slug: str) -> Organisation:
    made = Organisation(
        slug=slug, name=slug.title(), kind=OrganisationKind.nhs_trust, created_at=clock.now()
    )
    session.add(made)
    return made


async def person(
    db: Db, email: str, *, of: Organisation | None = None, active: bool = True
) -> User:
    made = User(
        organisation_id=(of or db.trust).id,
        email=email,
        display_name=email.split("@")[0],
        role=Role.therapist,
        is_active=active,
        created_at=db.clock.now(),
    )
    db.session.add(made)
    await db.session.flush()
    return made


def identity(subject: str, email: str | None, verified: bool = True) -> sso.ProviderIdentity:
    return sso.ProviderIdentity(
        issuer=ISSUER, subject=subject, email=email, email_verified=verified
    )


async def match(db: Db, who: sso.ProviderIdentity) -> tuple[User, bool]:
    return await sso.match_user(
        session=db.session, runtime=db.runtime, organisation_id=db.trust.id, identity=who
    )


async def test_the_subject_decides_once_linked(db: Db) -> None:
    ann = await person(db, "ann@trust.example")
    assert await match(db, identity("sub-ann", "Ann@Trust.example")) == (ann, True)
    # Later the provider's email for this subject changed and is unverified: still Ann.
    assert await match(db, identity("sub-ann", "someone@else.example", verified=False)) == (
        ann,
        False,
    )


@pytest.mark.parametrize(
    ("email", "verified", "reason"),
    [
        ("bea@trust.example", False, sso.RefusalReason.email_not_verified),
        ("nobody@trust.example", True, sso.RefusalReason.unknown_account),
        (None, True, sso.RefusalReason.unknown_account),
        ("cal@partner.example", True, sso.RefusalReason.other_organisation),
        ("dev@trust.example", True, sso.RefusalReason.account_inactive),
    ],
)
async def test_who_is_refused(
    db: Db, email: str | None, verified: bool, reason: sso.RefusalReason
) -> None:
    await person(db, "bea@trust.example")
    await person(db, "cal@partner.example", of=db.partner)
    await person(db, "dev@trust.example", active=False)
    with pytest.raises(sso.SsoRefused) as refused:
        await match(db, identity("sub-x", email, verified))
    assert refused.value.reason == reason
    assert refused.value.status == 403


async def test_an_inactive_linked_account_is_refused(db: Db) -> None:
    eve = await person(db, "eve@trust.example")
    await match(db, identity("sub-eve", eve.email))
    eve.is_active = False
    with pytest.raises(sso.SsoRefused) as refused:
        await match(db, identity("sub-eve", eve.email))
    assert refused.value.reason == sso.RefusalReason.account_inactive


async def test_a_linked_account_is_not_taken_over_by_a_new_subject_with_its_email(
    db: Db,
) -> None:
    fay = await person(db, "fay@trust.example")
    await match(db, identity("sub-fay", fay.email))
    with pytest.raises(sso.SsoRefused) as refused:
        await match(db, identity("sub-someone-new", fay.email))
    assert refused.value.reason == sso.RefusalReason.identity_conflict


async def test_a_concurrent_first_sign_in_of_the_same_person_is_not_an_error(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    jo = await person(db, "jo@trust.example")
    assert await match(db, identity("sub-jo", jo.email)) == (jo, True)

    # Another request linked the subject just after this one looked (its lookups saw nothing):
    # this one's insert then collides, and the link that won is used.
    real_lookup = sso._linked_identity
    lookups = 0

    async def lookup(*args: Any) -> Any:
        nonlocal lookups
        lookups += 1
        return None if lookups == 1 else await real_lookup(*args)

    async def nowhere_else(*_args: Any) -> bool:
        return False

    monkeypatch.setattr(sso, "_linked_identity", lookup)
    monkeypatch.setattr(sso, "_linked_elsewhere", nowhere_else)
    assert await match(db, identity("sub-jo", jo.email)) == (jo, False)
    assert lookups == 2
    monkeypatch.undo()
    assert await match(db, identity("sub-jo", jo.email)) == (jo, False)


async def test_a_login_code_works_once(db: Db) -> None:
    gus = await person(db, "gus@trust.example")
    code = await sso.issue_login_code(session=db.session, runtime=db.runtime, user=gus)
    redeemed = await sso.redeem_login_code(session=db.session, runtime=db.runtime, code=code)
    assert redeemed.id == gus.id
    with pytest.raises(sso.InvalidSsoCode):
        await sso.redeem_login_code(session=db.session, runtime=db.runtime, code=code)
    with pytest.raises(sso.InvalidSsoCode):
        await sso.redeem_login_code(session=db.session, runtime=db.runtime, code="x" + code)


async def test_a_login_code_expires(db: Db) -> None:
    hal = await person(db, "hal@trust.example")
    code = await sso.issue_login_code(session=db.session, runtime=db.runtime, user=hal)
    db.clock.advance(seconds=60)
    with pytest.raises(sso.InvalidSsoCode):
        await sso.redeem_login_code(session=db.session, runtime=db.runtime, code=code)


async def test_a_login_code_of_a_deactivated_account_is_refused(db: Db) -> None:
    ivy = await person(db, "ivy@trust.example")
    code = await sso.issue_login_code(session=db.session, runtime=db.runtime, user=ivy)
    ivy.is_active = False
    with pytest.raises(sso.InvalidSsoCode):
        await sso.redeem_login_code(session=db.session, runtime=db.runtime, code=code)
