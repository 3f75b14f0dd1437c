"""Replacing one's recovery codes: a step-up (password and a current code again), audited, and
an email through a real SMTP server telling the person, with no code in it.

An access token alone once minted new codes, so a stolen token became a second factor for
good. The server here emails through aiosmtpd on loopback
(``tests/auth/invitations/test_invitations.py``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from tests.conftest import DEMO_PASSWORD, Live, Session, live_server
from tests.support.smtp import Mailbox, SmtpServer

ROUTE = "/api/v1/auth/mfa/recovery-codes"


@pytest.fixture(scope="module")
def mailed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, Mailbox]]:
    smtp = SmtpServer(Mailbox()).start()
    try:
        with live_server(
            tmp_path_factory,
            "recovery-codes",
            extra_env={
                "TEAMWELL_EMAIL_BACKEND": "smtp",
                "TEAMWELL_SMTP_HOST": "127.0.0.1",
                "TEAMWELL_SMTP_PORT": str(smtp.port),
            },
        ) as live:
            yield live, smtp.mailbox
    finally:
        smtp.stop()


def fresh_staff(live: Live, mailbox: Mailbox) -> tuple[Session, str]:
    """A new therapist, invited by email (this server sends real email, so the link is in the
    mailbox, not the log) and signed in with the second factor enrolled: (session, user id)."""
    email = f"codes-{uuid.uuid4().hex[:8]}@tyneside.example"
    person = {"email": email, "display_name": "Robin Codes", "role": "therapist"}
    invited = live.as_role("admin").post("/api/v1/invitations", json=person)
    assert invited.status_code == 201, invited.text
    body = mailbox.wait_for(email).get_body(("plain",))
    assert body is not None
    link = re.search(r"/#/invite/([A-Za-z0-9_-]+)", body.get_content())
    assert link is not None
    with live.client() as http:
        accepted = http.post(
            "/api/v1/invitations/accept",
            json={"token": link.group(1), "display_name": "Robin Codes", "password": DEMO_PASSWORD},
        )
    assert accepted.status_code == 201, accepted.text
    return live.sign_in(email), str(accepted.json()["id"])


def next_code(secret: str) -> str:
    """A code of the next time step: the current one was used up by enrolment."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def denied(live: Live, user_id: str) -> list[dict[str, Any]]:
    events = live.as_role("admin").get(
        "/api/v1/audit-events",
        params={"actor_id": user_id, "action": "auth.recovery_codes_replaced", "limit": "200"},
    )
    return [e for e in events.json()["items"] if e["outcome"] == "denied"]


def test_a_token_alone_cannot_replace_the_codes(mailed: tuple[Live, Mailbox]) -> None:
    live, mailbox = mailed
    staff, user_id = fresh_staff(live, mailbox)
    assert staff.totp_secret is not None
    # What a stolen token once sufficed for: now the body is required.
    assert staff.post(ROUTE).status_code == 422
    wrong_password = staff.post(
        ROUTE, json={"password": "not-the-password", "code": next_code(staff.totp_secret)}
    )
    assert wrong_password.status_code == 401, wrong_password.text
    assert wrong_password.json()["type"].endswith("step-up-failed")
    wrong_code = "000000" if next_code(staff.totp_secret) != "000000" else "111111"
    reply = staff.post(ROUTE, json={"password": DEMO_PASSWORD, "code": wrong_code})
    assert reply.status_code == 401 and reply.json() == {
        **wrong_password.json(),
        "instance": reply.json()["instance"],
    }  # the same answer, whichever was wrong
    assert len(denied(live, user_id)) == 2
    assert len(mailbox.sent_to(staff.email)) == 1  # the invitation only


def test_replacing_the_codes_asks_again_and_tells_the_person(
    mailed: tuple[Live, Mailbox],
) -> None:
    live, mailbox = mailed
    staff, user_id = fresh_staff(live, mailbox)
    assert staff.totp_secret is not None
    old_codes = staff.tokens["recovery_codes"]
    reply = staff.post(
        ROUTE, json={"password": DEMO_PASSWORD, "code": next_code(staff.totp_secret)}
    )
    assert reply.status_code == 200, reply.text
    codes = reply.json()["recovery_codes"]
    assert len(codes) == 10 and not set(codes) & set(old_codes)

    message = mailbox.wait_for(staff.email, subject="recovery codes")
    assert "recovery codes" in message["Subject"]
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "replaced" in text
    # No code, old or new, and nothing of anyone's care: only what happened and what to do.
    assert not any(code in text for code in [*codes, *old_codes])
    assert "client" not in text.lower()

    events = live.as_role("admin").get(
        "/api/v1/audit-events",
        params={"actor_id": user_id, "action": "auth.recovery_codes_replaced"},
    )
    assert [e["outcome"] for e in events.json()["items"]] == ["success"]
