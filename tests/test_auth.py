"""Sign-in, tokens, multi-factor authentication and lockout, against a real server."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pyotp
import pytest

from app.config import Settings
from auth.service import lockout_until
from tests.conftest import DEMO_CLIENT_EMAIL, Live, demo_team_id, problem

PASSWORD = "a-long-enough-password-1"


def new_person(live: Live, role: str = "therapist") -> str:
    """A fresh account (so lockouts and replays in one test touch no other)."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@tyneside.example"
    client_id = None
    if role == "client":  # a client's login opens their record, made first by the care team
        keyworker = live.as_role("peer_keyworker")
        made = keyworker.post(
            "/api/v1/clients",
            json={
                "display_name": "Test Person",
                "team_id": demo_team_id(keyworker),
                "referral": {
                    "source": "self",
                    "referred_on": str(date.today()),
                    "reason": "Wants help finding work",
                },
            },
        )
        assert made.status_code == 201, made.text
        client_id = made.json()["id"]
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
        second = rotated.json()
        assert second["refresh_token"] != first
        # The first token again: a copy is in someone else's hands, so the session ends.
        problem(http.post("/api/v1/auth/refresh", json={"refresh_token": first}), 401)
        problem(
            http.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401
        )
        problem(http.get("/api/v1/auth/me", headers=bearer(second["access_token"])), 401)


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


def test_repeated_failures_lock_the_account(live: Live) -> None:
    email = new_person(live)
    with live.client() as http:
        for _ in range(Settings().login_max_failures - 1):
            problem(http.post("/api/v1/auth/login", json={"email": email, "password": "nope"}), 401)
        locked = http.post("/api/v1/auth/login", json={"email": email, "password": "nope"})
        body = problem(locked, 429)
        assert int(locked.headers["retry-after"]) > 0
        assert "locked" in body["detail"]
        # Even the right password is refused while the lock lasts.
        problem(http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}), 429)


def test_lockout_doubles_and_is_capped() -> None:
    settings = Settings(
        login_max_failures=5, login_lockout_seconds=60, login_lockout_max_seconds=600
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert lockout_until(4, now, settings) is None
    assert lockout_until(5, now, settings) == now + timedelta(seconds=60)
    assert lockout_until(6, now, settings) == now + timedelta(seconds=120)
    assert lockout_until(8, now, settings) == now + timedelta(seconds=480)
    assert lockout_until(9, now, settings) == now + timedelta(seconds=600)
    assert lockout_until(400, now, settings) == now + timedelta(seconds=600)


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
