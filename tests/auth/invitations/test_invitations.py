"""Invitations by one-time link, end to end: a real server emailing through a real SMTP server.

``invites`` is a Teamwell server (on SQLite and on PostgreSQL) whose email backend is SMTP,
pointed at an aiosmtpd server on loopback (``tests/support/smtp.py``) that keeps what it receives
in a ``Mailbox``. The email senders and the pure invitation rules are tested directly at the end.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import ssl
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SMTPSession
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from sqlalchemy import text

from app.config import Settings
from app.crypto import new_token
from app.db import create_engine
from app.users.models import Role
from auth.email import (
    EmailMessage,
    EmailNotSent,
    LogEmailSender,
    SmtpEmailSender,
    email_sender_for,
)
from auth.invitations import service as invitations_service
from auth.invitations.schemas import InvitationStatus
from auth.models import Invitation
from tests.conftest import (
    PARTNER_ADMIN_EMAIL,
    ROLE_EMAILS,
    Live,
    live_server,
    problem,
)
from tests.support.builders import client_id_of
from tests.support.net import free_port
from tests.support.smtp import Mailbox, SmtpServer

EMAIL_FROM = "Teamwell <invitations@teamwell.example>"
STRONG_PASSWORD = "a-long-enough-password-42"


@dataclass
class Invites:
    live: Live
    smtp: SmtpServer

    @property
    def mailbox(self) -> Mailbox:
        return self.smtp.mailbox

    def token_from_email(self, to: str) -> str:
        """The token in the link emailed to this address (the last one sent to it)."""
        self.mailbox.wait_for(to)
        message = self.mailbox.sent_to(to)[-1]
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        pattern = re.escape(self.live.base_url) + r"/#/invite/([A-Za-z0-9_-]+)"
        match = re.search(pattern, text)
        assert match, text
        return match.group(1)

    def invite(self, **body: Any) -> dict[str, Any]:
        reply = self.live.as_role("admin").post("/api/v1/invitations", json=body)
        assert reply.status_code == 201, reply.text
        created: dict[str, Any] = reply.json()
        return created

    def accept(self, token: str, **overrides: Any) -> httpx.Response:
        body = {"token": token, "display_name": "Invited Person", "password": STRONG_PASSWORD}
        with self.live.client() as http:
            return http.post("/api/v1/invitations/accept", json={**body, **overrides})

    def listed(self) -> list[dict[str, Any]]:
        reply = self.live.as_role("admin").get("/api/v1/invitations", params={"limit": 200})
        assert reply.status_code == 200, reply.text
        items: list[dict[str, Any]] = reply.json()["items"]
        return items


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def invites(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Invites]:
    smtp = SmtpServer(Mailbox()).start()
    try:
        with live_server(
            tmp_path_factory,
            f"invitations-{request.param}",
            request=request,
            extra_env={
                "TEAMWELL_EMAIL_BACKEND": "smtp",
                "TEAMWELL_EMAIL_FROM": EMAIL_FROM,
                "TEAMWELL_SMTP_HOST": "127.0.0.1",
                "TEAMWELL_SMTP_PORT": str(smtp.port),
            },
        ) as live:
            yield Invites(live=live, smtp=smtp)
    finally:
        smtp.stop()


def unique_email(label: str) -> str:
    return f"{label}.{uuid.uuid4().hex[:8]}@example.org"


def demo_team_id(invites: Invites) -> str:
    teams = invites.live.as_role("admin").get("/api/v1/teams").json()["items"]
    team_id: str = teams[0]["id"]
    return team_id


# --- the flow against the real server --------------------------------------------------------


def test_invited_therapist_accepts_once_joins_the_team_and_signs_in(invites: Invites) -> None:
    live = invites.live
    admin = live.as_role("admin")
    team_id = demo_team_id(invites)
    address = unique_email("nia.patel")

    created = invites.invite(
        email=address.upper(), role="therapist", display_name="Nia Patel", team_id=team_id
    )
    assert created["email"] == address  # stored normalised
    assert created["status"] == "pending" and created["team_id"] == team_id
    assert created["organisation_id"] == admin.user["organisation_id"]
    assert not {"token", "token_hash"} & created.keys()

    message = invites.mailbox.wait_for(address)
    assert message["From"] == EMAIL_FROM
    assert "Tyneside NHS Foundation Trust" in message["Subject"]
    token = invites.token_from_email(address)
    assert token not in live.server.log_tail(1_000_000)  # the SMTP sender never logs links

    accepted = invites.accept(token, display_name="Nia Patel")
    assert accepted.status_code == 201, accepted.text
    user = accepted.json()
    assert user["email"] == address and user["role"] == "therapist"
    assert user["organisation_id"] == admin.user["organisation_id"]
    assert "password_hash" not in user

    with live.client() as http:
        login = http.post(
            "/api/v1/auth/login", json={"email": address, "password": STRONG_PASSWORD}
        )
    assert login.status_code == 200, login.text
    assert login.json()["mfa_enrolment_required"] is True

    # On the team as proposed by the admin who invited them, until the team's supervisor
    # confirms it (docs/security.md).
    members = admin.get(f"/api/v1/teams/{team_id}/members").json()
    [joined] = [m for m in members if m["user_id"] == user["id"]]
    assert joined["status"] == "pending" and joined["proposed_by"] == admin.user["id"]
    confirmed = live.as_role("supervisor").post(
        f"/api/v1/teams/{team_id}/members/{user['id']}/confirm"
    )
    assert confirmed.status_code == 200, confirmed.text
    [joined] = [m for m in confirmed.json() if m["user_id"] == user["id"]]
    assert joined["status"] == "active" and joined["confirmed_at"] is not None

    problem(invites.accept(token), 410)  # the link works once

    [listed] = [i for i in invites.listed() if i["id"] == created["id"]]
    assert listed["status"] == "accepted" and listed["accepted_user_id"] == user["id"]

    events = admin.get("/api/v1/audit-events", params={"actor_id": user["id"]}).json()["items"]
    assert [e["action"] for e in events if e["resource_id"] == created["id"]] == [
        "invitation.accept"
    ]
    created_events = admin.get(
        "/api/v1/audit-events", params={"action": "invitation.create"}
    ).json()["items"]
    assert any(
        e["resource_id"] == created["id"] and e["actor_id"] == admin.user["id"]
        for e in created_events
    )


def test_unknown_token_is_not_found(invites: Invites) -> None:
    problem(invites.accept(new_token()), 404)


async def unattributed_events(live: Live, action: str) -> list[dict[str, Any]]:
    """Audit events of nobody's organisation (an attempt that named no one), read from the
    database: no organisation's audit reader sees them."""
    engine = create_engine(Settings(database_url=live.env["TEAMWELL_DATABASE_URL"]))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT actor_id, resource_id, outcome, detail, user_agent FROM audit_event"
                    " WHERE action = :action AND organisation_id IS NULL"
                ),
                {"action": action},
            )
            return [dict(row._mapping) for row in rows]
    finally:
        await engine.dispose()


async def test_refused_links_are_audited(invites: Invites) -> None:
    """A link used again (410) is recorded against its invitation, for its organisation's
    admins; a guessed link (404) names nothing, as with a forged token."""
    admin = invites.live.as_role("admin")
    address = unique_email("twice")
    created = invites.invite(email=address, role="therapist")
    token = invites.token_from_email(address)
    assert invites.accept(token).status_code == 201
    problem(invites.accept(token), 410)
    events = admin.get("/api/v1/audit-events", params={"action": "invitation.accept"}).json()
    refused = [
        e for e in events["items"] if e["resource_id"] == created["id"] and e["outcome"] == "denied"
    ]
    assert len(refused) == 1 and refused[0]["actor_id"] is None, refused
    assert refused[0]["detail"].startswith("invitation-gone")

    guess = f"guessed-{uuid.uuid4().hex}"
    with invites.live.client(headers={"User-Agent": guess}) as http:
        body = {"token": new_token(), "display_name": "Nobody", "password": STRONG_PASSWORD}
        problem(http.post("/api/v1/invitations/accept", json=body), 404)
    [event] = [
        e
        for e in await unattributed_events(invites.live, "invitation.accept")
        if e["user_agent"] == guess
    ]
    assert event["actor_id"] is None and event["resource_id"] is None
    assert event["outcome"] == "denied"


def test_only_admins_invite(invites: Invites) -> None:
    therapist = invites.live.as_role("therapist")
    body = {"email": unique_email("nobody"), "role": "therapist"}
    problem(therapist.post("/api/v1/invitations", json=body), 403)
    problem(therapist.get("/api/v1/invitations"), 403)
    with invites.live.client() as anonymous:
        problem(anonymous.post("/api/v1/invitations", json=body), 401)
    assert invites.mailbox.sent_to(body["email"]) == []


def test_invited_client_signs_in_to_their_own_record(invites: Invites) -> None:
    live = invites.live
    bea = client_id_of(invites.live, "Bea Collins")
    address = unique_email("bea.collins")

    created = invites.invite(email=address, role="client", client_id=bea)
    assert created["client_id"] == bea
    accepted = invites.accept(invites.token_from_email(address), display_name="Bea Collins")
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["role"] == "client"

    with live.client() as http:
        login = http.post(
            "/api/v1/auth/login", json={"email": address, "password": STRONG_PASSWORD}
        )
        assert login.status_code == 200, login.text
        tokens = login.json()
        assert tokens["mfa_enrolment_required"] is False
        http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        own = http.get("/api/v1/clients")
    assert own.status_code == 200, own.text
    assert [c["id"] for c in own.json()["items"]] == [bea]

    # Bea now has a login: a second invitation for her record is refused.
    again = {"email": unique_email("bea.again"), "role": "client", "client_id": bea}
    problem(live.as_role("admin").post("/api/v1/invitations", json=again), 409)


def test_who_can_be_invited(invites: Invites) -> None:
    admin = invites.live.as_role("admin")

    def refused(status: int, **body: Any) -> dict[str, Any]:
        return problem(admin.post("/api/v1/invitations", json=body), status)

    refused(409, email=ROLE_EMAILS["therapist"], role="therapist")  # already has an account
    pending = unique_email("pending")
    invites.invite(email=pending, role="supervisor")
    refused(409, email=pending, role="supervisor")  # already invited
    refused(422, email=unique_email("client"), role="client")  # no client record named
    dana = client_id_of(invites.live, "Dana Evans")
    refused(422, email=unique_email("staff"), role="therapist", client_id=dana)
    refused(422, email=unique_email("client"), role="client", client_id=dana,
            team_id=demo_team_id(invites))  # fmt: skip
    alex = client_id_of(invites.live, "Alex Morgan")  # already has a login
    refused(409, email=unique_email("alex"), role="client", client_id=alex)
    refused(404, email=unique_email("staff"), role="therapist", team_id=str(uuid.uuid4()))
    refused(422, email="not-an-email", role="therapist")


def test_other_organisations_cannot_see_or_revoke_an_invitation(invites: Invites) -> None:
    created = invites.invite(email=unique_email("private"), role="peer_keyworker")
    partner = invites.live.as_email(PARTNER_ADMIN_EMAIL)
    listed = partner.get("/api/v1/invitations", params={"limit": 200}).json()["items"]
    assert created["id"] not in {i["id"] for i in listed}
    problem(partner.post(f"/api/v1/invitations/{created['id']}/revoke"), 404)


def test_revoked_invitation_cannot_be_accepted(invites: Invites) -> None:
    admin = invites.live.as_role("admin")
    address = unique_email("revoked")
    created = invites.invite(email=address, role="employment_specialist")
    token = invites.token_from_email(address)

    revoked = admin.post(f"/api/v1/invitations/{created['id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    again = admin.post(f"/api/v1/invitations/{created['id']}/revoke")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]

    assert "withdrawn" in problem(invites.accept(token), 410)["detail"]
    [listed] = [i for i in invites.listed() if i["id"] == created["id"]]
    assert listed["status"] == "revoked" and listed["accepted_user_id"] is None
    # Revoked, the email may be invited afresh.
    invites.invite(email=address, role="employment_specialist")


def test_accepted_invitation_cannot_be_revoked(invites: Invites) -> None:
    address = unique_email("accepted")
    created = invites.invite(email=address, role="peer_keyworker")
    assert invites.accept(invites.token_from_email(address)).status_code == 201
    reply = invites.live.as_role("admin").post(f"/api/v1/invitations/{created['id']}/revoke")
    problem(reply, 409)


def test_short_password_is_refused_and_the_link_still_works(invites: Invites) -> None:
    address = unique_email("short")
    invites.invite(email=address, role="therapist")
    token = invites.token_from_email(address)

    body = problem(invites.accept(token, password="too-short"), 422)
    assert [e["field"] for e in body["errors"]] == ["body.password"]
    assert invites.accept(token).status_code == 201


def test_two_concurrent_accepts_only_one_wins(invites: Invites) -> None:
    address = unique_email("race")
    invites.invite(email=address, role="therapist")
    token = invites.token_from_email(address)
    start = threading.Barrier(2)

    def accept() -> int:
        start.wait(timeout=10)
        return invites.accept(token).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(lambda _: accept(), range(2)))
    assert statuses == [201, 410]


def test_smtp_down_fails_the_invitation_and_stores_nothing(invites: Invites) -> None:
    admin = invites.live.as_role("admin")
    address = unique_email("undelivered")
    with invites.smtp.down():
        reply = admin.post("/api/v1/invitations", json={"email": address, "role": "therapist"})
        problem(reply, 502)
    assert address not in {i["email"] for i in invites.listed()}
    # Nothing pending was left behind: the same invitation now goes through.
    invites.invite(email=address, role="therapist")
    assert len(invites.mailbox.sent_to(address)) == 1


# --- the email senders -----------------------------------------------------------------------

SMTP_USER = "teamwell"
SMTP_PASSWORD = "smtp-password-that-must-never-be-logged"


async def test_log_sender_logs_recipient_subject_and_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    link = "http://127.0.0.1:8000/#/invite/abc123"
    caplog.set_level(logging.INFO, logger="teamwell.email")
    await LogEmailSender().send(
        EmailMessage(to="sam@example.org", subject="Your invitation", text=f"Open {link}")
    )
    assert "sam@example.org" in caplog.text
    assert "Your invitation" in caplog.text
    assert link in caplog.text


def test_sender_follows_the_settings() -> None:
    assert isinstance(email_sender_for(Settings(email_backend="log")), LogEmailSender)
    smtp = email_sender_for(
        Settings(
            email_backend="smtp",
            smtp_host="mail.example.org",
            smtp_port=587,
            smtp_username=SMTP_USER,
            smtp_password=SecretStr(SMTP_PASSWORD),
            smtp_starttls=True,
        )
    )
    assert isinstance(smtp, SmtpEmailSender)
    assert (smtp.host, smtp.port, smtp.starttls) == ("mail.example.org", 587, True)
    assert SMTP_PASSWORD not in repr(smtp)
    with pytest.raises(ValueError, match="email_backend"):
        email_sender_for(Settings(email_backend="carrier-pigeon"))


def _self_signed_certificate(directory: Path) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, cert_pem.decode()


@dataclass
class TlsSmtp:
    server: SmtpServer
    client_context: ssl.SSLContext
    logins: list[str]


@pytest.fixture(scope="module")
def tls_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsSmtp]:
    """An SMTP server that requires STARTTLS and a login, and a context that trusts it."""
    cert_path, key_path, cert_pem = _self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    logins: list[str] = []

    def authenticator(
        server: SMTPServer, session: SMTPSession, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            logins.append(SMTP_USER)
        return AuthResult(success=ok)

    server = SmtpServer(
        Mailbox(),
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    ).start()
    try:
        yield TlsSmtp(
            server=server,
            client_context=ssl.create_default_context(cadata=cert_pem),
            logins=logins,
        )
    finally:
        server.stop()


def _tls_sender(tls_smtp: TlsSmtp, password: str) -> SmtpEmailSender:
    return SmtpEmailSender(
        host="127.0.0.1",
        port=tls_smtp.server.port,
        sender=EMAIL_FROM,
        username=SMTP_USER,
        password=SecretStr(password),
        starttls=True,
        tls_context=tls_smtp.client_context,
    )


async def test_smtp_sender_uses_starttls_and_logs_in(tls_smtp: TlsSmtp) -> None:
    address = unique_email("tls")
    await _tls_sender(tls_smtp, SMTP_PASSWORD).send(
        EmailMessage(to=address, subject="Over TLS", text="Hello over TLS")
    )
    message = tls_smtp.server.mailbox.wait_for(address)
    assert message["Subject"] == "Over TLS" and message["From"] == EMAIL_FROM
    assert message["Message-ID"] and message["Date"]
    assert tls_smtp.logins == [SMTP_USER]


async def test_smtp_sender_failure_is_502_and_never_logs_the_password(
    tls_smtp: TlsSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="teamwell.email")
    wrong = "a-wrong-password-that-must-not-be-logged"
    address = unique_email("refused")
    with pytest.raises(EmailNotSent) as refused:
        await _tls_sender(tls_smtp, wrong).send(
            EmailMessage(to=address, subject="Refused", text="Never delivered")
        )
    assert refused.value.status == 502
    assert "not sent" in caplog.text
    assert wrong not in caplog.text and SMTP_PASSWORD not in caplog.text
    assert tls_smtp.server.mailbox.sent_to(address) == []


async def test_smtp_sender_without_a_server_is_email_not_sent() -> None:
    sender = SmtpEmailSender(host="127.0.0.1", port=free_port(), sender=EMAIL_FROM)
    with pytest.raises(EmailNotSent):
        await sender.send(EmailMessage(to="x@example.org", subject="s", text="t"))


# --- the pure rules --------------------------------------------------------------------------

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def make_invitation(**fields: Any) -> Invitation:
    values: dict[str, Any] = {
        "organisation_id": uuid.uuid4(),
        "email": "sam@example.org",
        "role": Role.therapist,
        "token_hash": "0" * 64,
        "invited_by": uuid.uuid4(),
        "created_at": NOW - timedelta(days=1),
        "expires_at": NOW + timedelta(days=6),
        **fields,
    }
    return Invitation(**values)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, InvitationStatus.pending),
        ({"expires_at": NOW + timedelta(seconds=1)}, InvitationStatus.pending),
        ({"expires_at": NOW}, InvitationStatus.expired),
        ({"expires_at": NOW.replace(tzinfo=None)}, InvitationStatus.expired),  # as SQLite returns
        ({"revoked_at": NOW}, InvitationStatus.revoked),
        ({"revoked_at": NOW, "expires_at": NOW}, InvitationStatus.revoked),
        ({"accepted_at": NOW}, InvitationStatus.accepted),
        ({"accepted_at": NOW, "expires_at": NOW - timedelta(days=1)}, InvitationStatus.accepted),
    ],
)
def test_invitation_status(fields: dict[str, Any], expected: InvitationStatus) -> None:
    assert invitations_service.status_of(make_invitation(**fields), NOW) == expected


def test_invite_link_keeps_the_token_in_the_fragment() -> None:
    for base in ("https://teamwell.example", "https://teamwell.example/"):
        link = invitations_service.invite_link(base, "tok_EN-1")
        assert link == "https://teamwell.example/#/invite/tok_EN-1"


@pytest.mark.parametrize("role", list(Role))
def test_invitation_email_has_the_link_and_the_expiry(role: Role) -> None:
    invitation = make_invitation(role=role, display_name="Sam")
    message = invitations_service.invitation_email(
        invitation=invitation,
        link="https://teamwell.example/#/invite/tok",
        organisation_name="Tyneside NHS Foundation Trust",
        inviter_name="Morgan Reid",
    )
    assert message.to == "sam@example.org"
    assert "Tyneside NHS Foundation Trust" in message.subject
    assert message.text.startswith("Hello Sam,")
    assert "https://teamwell.example/#/invite/tok" in message.text
    assert "11 January 2026 at 09:00 UTC" in message.text
    assert "Morgan Reid at Tyneside NHS Foundation Trust" in message.text
