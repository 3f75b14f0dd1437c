"""Sign-in, tokens, multi-factor authentication and lockout, against a real server."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from app.config import Settings
from auth.service import reuse_forgiven
from auth.throttle import account_delay
from tests.conftest import DEMO_CLIENT_EMAIL, Live, problem
from tests.support.builders import new_client

PASSWORD = "a-long-enough-password-1"


def new_person(live: Live, role: str = "therapist") -> str:
    """A fresh account (so lockouts and replays in one test touch no other)."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@tyneside.example"
    client_id = None
    if role == "client":  # a client's login opens their record, made first by the care team
        client_id = new_client(
            live.as_role("peer_keyworker"), "Test Person", reason="Wants help finding work"
        )
    live.new_account(email, "Test Person", role, password=PASSWORD, client_id=client_id)
    return email


def login(live: Live, email: str, password: str = PASSWORD) -> dict:
    with live.client() as http:
        reply = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return reply.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_refresh_rotates_and_reuse_revokes_the_family(live: Live) -> None:
    tokens = login(live, DEMO_CLIENT_EMAIL, "demo-password-for-the-tests")
    with live.client() as http:
        assert (
            http.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])).json()["email"]
            == DEMO_CLIENT_EMAIL
        )
        first = tokens["refresh_token"]
        rotated = http.post("/api/v1/auth/refresh", json={"refresh_token": first})
        assert rotated.status_code == 200
        between = rotated.json()
        assert between["refresh_token"] != first
        rotated = http.post(
            "/api/v1/auth/refresh", json={"refresh_token": between["refresh_token"]}
        )
        assert rotated.status_code == 200
        second = rotated.json()
        # The first token again, older than the one its successor replaced: a copy is in
        # someone else's hands, so the session ends (the grace covers only the one before).
        problem(http.post("/api/v1/auth/refresh", json={"refresh_token": first}), 401)
        problem(
            http.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401
        )
        problem(http.get("/api/v1/auth/me", headers=bearer(second["access_token"])), 401)


def refresh(live: Live, token: str) -> httpx.Response:
    with live.client() as http:
        return http.post("/api/v1/auth/refresh", json={"refresh_token": token})


def test_two_tabs_refreshing_at_once_keep_the_session(live: Live) -> None:
    tokens = login(live, DEMO_CLIENT_EMAIL, "demo-password-for-the-tests")
    start = threading.Barrier(2)

    def tab(_: int) -> httpx.Response:
        start.wait(timeout=10)
        return refresh(live, tokens["refresh_token"])

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(tab, range(2)))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    first, second = (a.json() for a in answers)
    # One line of tokens: both tabs hold the same successor, and each a working access token.
    assert first["refresh_token"] == second["refresh_token"] != tokens["refresh_token"]
    with live.client() as http:
        for answer in (first, second):
            me = http.get("/api/v1/auth/me", headers=bearer(answer["access_token"]))
            assert me.status_code == 200, me.text
    onwards = refresh(live, first["refresh_token"])
    assert onwards.status_code == 200, onwards.text
    # The successor has been used now, so the first token is no longer the one just before:
    # presenting it again is reuse, and ends the session.
    problem(refresh(live, tokens["refresh_token"]), 401)
    problem(refresh(live, onwards.json()["refresh_token"]), 401)


def test_the_token_just_replaced_is_forgiven_within_the_grace(live: Live) -> None:
    tokens = login(live, DEMO_CLIENT_EMAIL, "demo-password-for-the-tests")
    rotated = refresh(live, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    again = refresh(live, tokens["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] == rotated.json()["refresh_token"]
    assert again.json()["access_token"] != rotated.json()["access_token"]
    assert refresh(live, rotated.json()["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    ("after", "successor_used", "forgiven"),
    [
        (timedelta(0), False, True),
        (timedelta(seconds=10) - timedelta(microseconds=1), False, True),
        (timedelta(seconds=10), False, False),  # the grace has passed, at its edge
        (timedelta(seconds=1), True, False),  # not the token just before: its successor was used
    ],
)
def test_reuse_is_forgiven_only_just_after_and_only_for_the_previous_token(
    after: timedelta, successor_used: bool, forgiven: bool
) -> None:
    used_at = datetime(2026, 1, 1, tzinfo=UTC)
    grace = timedelta(seconds=Settings().refresh_reuse_grace_seconds)
    assert grace == timedelta(seconds=10)
    assert (
        reuse_forgiven(
            used_at=used_at, successor_used=successor_used, now=used_at + after, grace=grace
        )
        is forgiven
    )
    # No grace at all: every reuse ends the session.
    assert not reuse_forgiven(
        used_at=used_at, successor_used=False, now=used_at, grace=timedelta(0)
    )


def test_logout_ends_access_and_refresh(live: Live) -> None:
    tokens = login(live, DEMO_CLIENT_EMAIL, "demo-password-for-the-tests")
    with live.client() as http:
        out = http.post(
            "/api/v1/auth/logout",
            headers=bearer(tokens["access_token"]),
            json={"refresh_token": tokens["refresh_token"]},
        )
        assert out.status_code == 204
        problem(http.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])), 401)
        problem(
            http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401
        )


def test_wrong_password_and_unknown_email_look_the_same(live: Live) -> None:
    email = new_person(live)
    with live.client() as http:
        wrong = problem(
            http.post("/api/v1/auth/login", json={"email": email, "password": "not-the-password"}),
            401,
        )
        unknown = problem(
            http.post(
                "/api/v1/auth/login",
                json={"email": "nobody@nowhere.example", "password": "not-the-password"},
            ),
            401,
        )
    assert wrong["detail"] == unknown["detail"]
    audit = live.as_role("admin").get("/api/v1/audit-events", params={"action": "auth.login"})
    assert any(e["outcome"] == "denied" for e in audit.json()["items"])


def from_address() -> dict[str, str]:
    """A client address of its own for one test (the test server trusts X-Forwarded-For from
    loopback, as a deployment trusts its reverse proxy), so throttles touch no other test."""
    n = uuid.uuid4().int
    return {"X-Forwarded-For": f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"}


def test_repeated_failures_throttle_the_account_at_that_address(live: Live) -> None:
    """Changed by the sign-in throttling: the refusal is `sign-in-throttled` (the same for an
    email without an account, next test) and holds only at the address the failures came
    from, so that a guesser cannot lock the person out."""
    email = new_person(live)
    with live.client(headers=from_address()) as http:
        for _ in range(Settings().login_max_failures - 1):
            problem(http.post("/api/v1/auth/login", json={"email": email, "password": "nope"}), 401)
        locked = http.post("/api/v1/auth/login", json={"email": email, "password": "nope"})
        body = problem(locked, 429)
        assert 0 < int(locked.headers["retry-after"]) <= Settings().login_lockout_seconds
        assert body["type"].endswith("sign-in-throttled") and "Try again" in body["detail"]
        # Even the right password is refused from there while the delay lasts: not checked.
        problem(http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}), 429)
    # The person, from their own address, is not held up by someone else's guessing.
    with live.client(headers=from_address()) as http:
        own = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert own.status_code == 200, own.text


def test_guessing_codes_with_the_password_does_not_lock_out_the_person(live: Live) -> None:
    """Someone who has the password and guesses codes is throttled at their address; the
    person, with the password and their app, still gets in from their own."""
    email = new_person(live, "peer_keyworker")
    secret = live.sign_in(email, PASSWORD).totp_secret
    assert secret is not None
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the enrolment used the current one
    wrong = "000000" if code != "000000" else "111111"
    with live.client(headers=from_address()) as http:
        for attempt in range(Settings().login_max_failures):
            challenge = login_with(http, email)
            reply = http.post(
                "/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"], "code": wrong}
            )
            problem(reply, 429 if attempt == Settings().login_max_failures - 1 else 401)
        # Signing in with the password again does not clear the count of wrong codes.
        challenge = login_with(http, email)
        reply = http.post(
            "/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"], "code": code}
        )
        assert problem(reply, 429)["type"].endswith("sign-in-throttled")
    with live.client(headers=from_address()) as http:
        challenge = login_with(http, email)
        reply = http.post(
            "/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"], "code": code}
        )
    assert reply.status_code == 200, reply.text


def login_with(http: httpx.Client, email: str) -> dict:
    reply = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    challenge: dict = reply.json()
    assert challenge["mfa_required"] is True
    return challenge


def test_throttling_looks_the_same_for_an_email_without_an_account(live: Live) -> None:
    known, unknown = new_person(live), f"nobody-{uuid.uuid4().hex[:8]}@tyneside.example"
    answers: dict[str, list[tuple[int, str, str]]] = {}
    for email in (known, unknown):
        with live.client(headers=from_address()) as http:
            replies = [
                http.post("/api/v1/auth/login", json={"email": email, "password": "nope"})
                for _ in range(Settings().login_max_failures + 1)
            ]
        # The seconds in the detail and Retry-After count down with the clock, and each answer
        # names its own request (``instance``); all else is equal.
        answers[email] = [
            (
                r.status_code,
                r.headers.get("content-type", ""),
                re.sub(r"\d+", "N", re.sub(r"urn:teamwell:request:[^\"]+", "REQUEST", r.text)),
            )
            for r in replies
        ]
        assert all(int(r.headers["retry-after"]) > 0 for r in replies if r.status_code == 429)
    statuses = [status for status, *_ in answers[known]]
    assert statuses == [401] * (Settings().login_max_failures - 1) + [429, 429]
    assert answers[known] == answers[unknown]


def test_lockout_doubles_and_is_capped() -> None:
    settings = Settings(
        login_max_failures=5, login_lockout_seconds=60, login_lockout_max_seconds=600
    )
    # The rule is now the throttle's delay, in seconds from the latest failure.
    assert account_delay(4, settings) is None
    assert account_delay(5, settings) == 60
    assert account_delay(6, settings) == 120
    assert account_delay(8, settings) == 480
    assert account_delay(9, settings) == 600
    assert account_delay(400, settings) == 600


def test_staff_must_enrol_mfa_then_sign_in_with_a_code(live: Live) -> None:
    email = new_person(live, "peer_keyworker")
    first = login(live, email)
    assert first["mfa_enrolment_required"] is True
    with live.client() as http:
        body = problem(http.get("/api/v1/clients", headers=bearer(first["access_token"])), 403)
        assert body["type"].endswith("mfa-enrolment-required")
        enrol = http.post("/api/v1/auth/mfa/enrol", headers=bearer(first["access_token"]))
        secret = enrol.json()["secret"]
        assert enrol.json()["otpauth_uri"].startswith("otpauth://totp/")
        problem(
            http.post(
                "/api/v1/auth/mfa/verify",
                headers=bearer(first["access_token"]),
                json={"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"},
            ),
            401,
        )
        totp = pyotp.TOTP(secret)
        verified = http.post(
            "/api/v1/auth/mfa/verify",
            headers=bearer(first["access_token"]),
            json={"code": totp.now()},
        )
        assert verified.status_code == 200, verified.text
        codes = verified.json()["recovery_codes"]
        assert len(codes) == 10 and len(set(codes)) == 10
        assert (
            http.get("/api/v1/clients", headers=bearer(verified.json()["access_token"])).status_code
            == 200
        )

        # Next sign-in: password, then a second factor.
        challenge = login(live, email)
        assert challenge["mfa_required"] is True and "access_token" not in challenge
        problem(
            http.post(
                "/api/v1/auth/login/mfa",
                json={"mfa_token": challenge["mfa_token"], "code": "12345x"},
            ),
            401,
        )
        # The enrolment code's time step was used; a recovery code works once.
        done = http.post(
            "/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"], "code": codes[0]}
        )
        assert done.status_code == 200, done.text
        assert done.json()["mfa_enrolment_required"] is False
        again = login(live, email)
        problem(
            http.post(
                "/api/v1/auth/login/mfa", json={"mfa_token": again["mfa_token"], "code": codes[0]}
            ),
            401,
        )
        problem(
            http.post("/api/v1/auth/mfa/enrol", headers=bearer(done.json()["access_token"])), 409
        )


def test_clients_sign_in_without_mfa(live: Live) -> None:
    tokens = login(live, DEMO_CLIENT_EMAIL, "demo-password-for-the-tests")
    assert tokens["mfa_enrolment_required"] is False
    assert tokens["user"]["role"] == "client"
    assert "password_hash" not in tokens["user"] and "mfa_secret_encrypted" not in tokens["user"]


def _segment(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("attack", ["alg-none", "tampered", "garbage", "wrong-scheme"])
def test_forged_tokens_are_refused(live: Live, attack: str) -> None:
    token = live.as_role("therapist").tokens["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = {
        "alg-none": f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}.",
        "tampered": f"{header}.{_segment(claims)}.{signature}",
        "garbage": "not-a-token",
        "wrong-scheme": token,
    }[attack]
    scheme = "Basic" if attack == "wrong-scheme" else "Bearer"
    with live.client() as http:
        problem(http.get("/api/v1/auth/me", headers={"Authorization": f"{scheme} {forged}"}), 401)


def test_deactivated_person_is_signed_out(live: Live) -> None:
    email = new_person(live, "client")
    tokens = login(live, email)
    admin = live.as_role("admin")
    assert (
        admin.patch(f"/api/v1/users/{tokens['user']['id']}", json={"is_active": False}).status_code
        == 200
    )
    with live.client() as http:
        problem(http.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])), 401)
        problem(http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}), 401)
