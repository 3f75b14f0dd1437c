"""The loopback OpenID provider used by the SSO tests really speaks OpenID Connect.

A full authorization code + PKCE login with authlib's OAuth2 client, and the ID token checked
against the provider's published keys with joserfc.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.oidc import OidcLoginError, OidcProvider, complete_login, require_node

CLIENT_ID = "teamwell-test"
CLIENT_SECRET = "not-a-real-secret-0123456789"
REDIRECT_URI = "http://127.0.0.1:9/auth/sso/callback"  # never visited: the test stops before it

ACCOUNTS: list[dict[str, Any]] = [
    {"id": "alice", "email": "alice@example.org", "email_verified": True},
    {"id": "bob", "email": "bob@example.org", "email_verified": False},
]


@pytest.fixture(scope="module")
def provider(request: pytest.FixtureRequest) -> OidcProvider:
    require_node()  # skipped without Node.js 20+, failed instead under CI
    oidc = OidcProvider(
        clients=[
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [REDIRECT_URI],
            }
        ],
        accounts=ACCOUNTS,
    )
    request.addfinalizer(oidc.stop)
    oidc.start()
    return oidc


@pytest.fixture(scope="module")
def metadata(provider: OidcProvider) -> dict[str, Any]:
    response = httpx.get(provider.discovery_url, timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def oauth() -> Iterator[OAuth2Client]:
    with OAuth2Client(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scope="openid email",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        timeout=10,
    ) as client:
        yield client


def test_discovery_document(provider: OidcProvider, metadata: dict[str, Any]) -> None:
    assert provider.issuer.startswith("http://127.0.0.1:")
    assert metadata["issuer"] == provider.issuer
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert metadata[endpoint].startswith(provider.issuer + "/")
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert {"email", "email_verified"} <= set(metadata["claims_supported"])


@pytest.mark.parametrize("account", ACCOUNTS, ids=[account["id"] for account in ACCOUNTS])
def test_authorization_code_flow_with_pkce(
    provider: OidcProvider,
    metadata: dict[str, Any],
    browser: httpx.Client,
    oauth: OAuth2Client,
    account: dict[str, Any],
) -> None:
    code_verifier = generate_token(64)
    nonce = generate_token(24)
    authorize_url, state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
    )
    assert "code_challenge=" in authorize_url

    callback = complete_login(browser, authorize_url, account["id"])

    parts = urlsplit(callback)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT_URI
    params = parse_qs(parts.query)
    assert params["state"] == [state]
    assert params["iss"] == [provider.issuer]
    assert "code" in params

    token = oauth.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        state=state,
        code_verifier=code_verifier,
    )
    assert token["token_type"].lower() == "bearer"

    keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": CLIENT_ID},
        sub={"essential": True, "value": account["id"]},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(id_token.claims)
    assert id_token.claims["email"] == account["email"]
    assert id_token.claims["email_verified"] is account["email_verified"]

    # The same claims through userinfo, with the access token.
    userinfo = oauth.get(metadata["userinfo_endpoint"])
    userinfo.raise_for_status()
    assert userinfo.json()["email"] == account["email"]


def test_code_cannot_be_redeemed_without_the_verifier(
    metadata: dict[str, Any], browser: httpx.Client, oauth: OAuth2Client
) -> None:
    authorize_url, _state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(64)
    )
    callback = complete_login(browser, authorize_url, "alice")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = httpx.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": generate_token(64),
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_pkce_is_required(metadata: dict[str, Any], browser: httpx.Client) -> None:
    with OAuth2Client(
        client_id=CLIENT_ID, scope="openid email", redirect_uri=REDIRECT_URI
    ) as plain:
        authorize_url, _state = plain.create_authorization_url(metadata["authorization_endpoint"])
    assert "code_challenge" not in authorize_url
    callback = complete_login(browser, authorize_url, "alice")
    assert parse_qs(urlsplit(callback).query)["error"] == ["invalid_request"]


def test_unknown_account_is_refused(
    metadata: dict[str, Any], browser: httpx.Client, oauth: OAuth2Client
) -> None:
    authorize_url, _state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(64)
    )
    with pytest.raises(OidcLoginError):
        complete_login(browser, authorize_url, "mallory")
