"""HTTP hardening, on real servers: security headers on every kind of answer, HSTS only where the
browser came over TLS, the single sign-on cookie's flags, CORS closed, and body limits however
the body is sent.

Elsewhere: the Content-Security-Policy is exercised by the web client itself in headless
Chromium, where any violation fails the test (tests/browser); the body limit at its exact edge
is tests/app/clients/test_clients.py; the sign-in lockout (429 with Retry-After)
tests/auth/test_auth.py; the
message, typing and signalling rate limits tests/realtime/test_realtime_limits.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.main import CONTENT_SECURITY_POLICY, create_app
from tests.conftest import REPO_ROOT, Live, live_server, problem
from tests.support.oidc import discovery_only

WEB = REPO_ROOT / "web"
HSTS = "strict-transport-security"
# The same everywhere: what the browser must never be allowed to do with any of our answers.
REQUIRED_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}


def directives(policy: str) -> dict[str, str]:
    parsed = (part.strip().split(None, 1) for part in policy.split(";") if part.strip())
    return {name: value for name, value in parsed}


def assert_hardened(reply: httpx.Response) -> None:
    headers = reply.headers
    policy = directives(headers["content-security-policy"])
    for name, value in REQUIRED_DIRECTIVES.items():
        assert policy.get(name) == value, (name, headers["content-security-policy"])
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert "unsafe-eval" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "geolocation=()" in headers["permissions-policy"]
    if reply.request.url.path.startswith("/api/"):
        assert headers["cache-control"] == "no-store"


# --- security headers -----------------------------------------------------------------------------


def test_every_kind_of_answer_carries_the_security_headers(live_sqlite: Live) -> None:
    keyworker = live_sqlite.as_role("peer_keyworker")
    limit = Settings().max_request_bytes
    with live_sqlite.client() as http:
        answers = {
            "the web client": http.get("/"),
            "a script": http.get("/static/app.js"),
            "the service worker": http.get("/sw.js"),
            "the manifest": http.get("/manifest.webmanifest"),
            "the offline page": http.get("/static/offline.html"),
            "an API answer": keyworker.get("/api/v1/clients"),
            "not signed in": http.get("/api/v1/clients"),
            "refused": live_sqlite.as_role("client").get("/api/v1/users"),
            "no such route": http.get("/api/v1/nowhere"),
            "wrong method": http.delete("/api/v1/auth/login"),
            "invalid": http.post("/api/v1/auth/login", json={"email": 1}),
            "too large": http.post(
                "/api/v1/auth/login",
                content=b" " * (limit + 1),
                headers={"content-type": "application/json"},
            ),
        }
    assert answers["the web client"].status_code == 200
    assert answers["a script"].headers["content-type"].startswith("text/javascript")
    # The service worker from the root (its scope is every page), checked for a new release on
    # every visit; the manifest as what it is.
    assert answers["the service worker"].headers["content-type"].startswith("text/javascript")
    assert answers["the service worker"].headers["cache-control"] == "no-cache"
    assert answers["the manifest"].headers["content-type"] == "application/manifest+json"
    assert answers["too large"].status_code == 413
    for what, reply in answers.items():
        try:
            assert_hardened(reply)
        except (AssertionError, KeyError) as exc:
            raise AssertionError(f"{what} ({reply.status_code}): {reply.headers}") from exc


def test_the_web_client_needs_nothing_the_policy_forbids() -> None:
    """No inline script, inline style or event-handler attribute anywhere in the web client, and
    no string evaluated as code: the policy can stay without 'unsafe-inline' or 'unsafe-eval'.
    (The browser tests then load every page under the real policy and fail on any violation.)"""
    pages = [*sorted(WEB.rglob("*.html")), *sorted(WEB.rglob("*.js"))]
    assert len(pages) > 5
    for page in pages:
        text = page.read_text()
        if page.suffix == ".html":
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), page
            assert "<style" not in text and " style=" not in text, page
        assert not re.search(r"\son[a-z]+=[\"']", text), f"inline event handler in {page}"
        assert not re.search(r"\beval\(|new Function\(", text), f"code from a string in {page}"
        assert not re.search(r"https?://(?!www\.w3\.org/)", text), f"another origin in {page}"
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY


def test_cors_is_closed(live_sqlite: Live) -> None:
    """No cross-origin reads: a preflight is refused and nothing grants another origin."""
    evil = {"Origin": "https://evil.example"}
    with live_sqlite.client() as http:
        preflight = http.options(
            "/api/v1/auth/login",
            headers={
                **evil,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        problem(preflight, 405)
        simple = http.post(
            "/api/v1/auth/login", json={"email": "x@example.org", "password": "y"}, headers=evil
        )
    signed_in = live_sqlite.as_role("therapist").get("/api/v1/auth/me", headers=evil)
    for reply in (preflight, simple, signed_in):
        granted = [h for h in reply.headers if h.startswith("access-control-")]
        assert not granted, reply.headers


def test_a_streamed_body_over_the_limit_is_refused(live_sqlite: Live) -> None:
    """Without a Content-Length the limit is counted as the body arrives."""
    limit = Settings().max_request_bytes
    chunk = b" " * 65_536

    def body() -> Iterator[bytes]:
        for _ in range(limit // len(chunk) + 2):
            yield chunk

    with live_sqlite.client() as http:
        reply = http.post(
            "/api/v1/auth/login", content=body(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in reply.request.headers
    body_of = problem(reply, 413)
    assert str(limit) in body_of["detail"]
    assert_hardened(reply)


# --- HSTS: only over TLS --------------------------------------------------------------------------


def test_hsts_only_when_the_browser_came_over_tls(live_sqlite: Live) -> None:
    """The test server trusts X-Forwarded-Proto from 127.0.0.1 (uvicorn's default
    --forwarded-allow-ips), as a TLS proxy on the same machine would send it."""
    with live_sqlite.client() as http:
        assert HSTS not in http.get("/healthz").headers
        behind_tls = http.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert behind_tls.headers[HSTS] == "max-age=31536000; includeSubDomains"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server whose TLS proxy is on another machine (not on loopback): forwarded headers from
    anywhere else, this test included, are not believed."""
    with live_server(
        tmp_path_factory, "proxied", extra_env={"FORWARDED_ALLOW_IPS": "192.0.2.10"}
    ) as running:
        yield running


def test_a_forwarded_proto_from_an_untrusted_address_is_ignored(proxied: Live) -> None:
    with proxied.client() as http:
        reply = http.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert HSTS not in reply.headers


async def test_an_https_public_url_sends_hsts_and_secure_cookies(tmp_path: Path) -> None:
    """The setting: TEAMWELL_PUBLIC_URL on https means every answer is HSTS and the sign-on
    cookie is Secure, whatever the proxy in front says."""
    settings = Settings(data_dir=tmp_path, public_url="https://teamwell.example.org")
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://teamwell.test") as http:
        reply = await http.get("/healthz")
    assert reply.headers[HSTS] == "max-age=31536000; includeSubDomains"
    # The sign-on's session (app/edge.py: on the sign-on's routes only) sets Secure cookies.
    assert app.edge is not None
    assert "secure" in app.edge.sessions.security_flags  # type: ignore[attr-defined]


# --- cookies --------------------------------------------------------------------------------------


@pytest.fixture
def discovery() -> Iterator[str]:
    with discovery_only() as url:
        yield url


def test_the_only_cookie_is_http_only_same_site_and_short_lived(
    proxied: Live, discovery: str
) -> None:
    """Teamwell authenticates with bearer tokens, never cookies; the one cookie it sets carries
    the single sign-on state between the redirect and the callback."""
    admin = proxied.as_role("admin")
    organisation = admin.user["organisation_id"]
    configured = admin.put(
        f"/api/v1/auth/sso/organisations/{organisation}",
        json={
            "issuer": discovery,
            "client_id": "teamwell",
            "client_secret": "a-client-secret-from-the-provider",
            "enabled": True,
        },
    )
    assert configured.status_code == 200, configured.text
    with proxied.client() as http:
        slug = admin.get(f"/api/v1/organisations/{organisation}").json()["slug"]
        start = http.get(f"/api/v1/auth/sso/{slug}/login")
    assert start.status_code == 302, start.text
    assert start.headers["location"].startswith(f"{discovery}/authorize?")
    cookies = start.headers.get_list("set-cookie")
    assert len(cookies) == 1, cookies
    name, *attributes = [part.strip() for part in cookies[0].split(";")]
    flags = {a.split("=")[0].lower(): [*a.split("=", 1), ""][1] for a in attributes}
    assert name.startswith("teamwell_sso=")
    assert "httponly" in flags and flags["samesite"].lower() == "lax"
    assert flags["path"] == "/" and int(flags["max-age"]) <= 600
    assert "secure" not in flags  # plain http here; see the https test above
    # Signed-in answers set no cookie at all.
    assert "set-cookie" not in admin.get("/api/v1/auth/me").headers
