"""The `teamwell` command and readiness, on a fresh database."""

from __future__ import annotations

import os
import re
import sqlite3

import pytest

from tests.conftest import live_server, problem, teamwell_cli


@pytest.mark.slow  # starts a server of its own
def test_readiness_follows_migrations_and_create_admin_can_sign_in(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with live_server(tmp_path_factory, "cli-fresh", prepared=False) as live:
        env, server, data_dir = live.env, live.server, live.data_dir
        with live.client() as http:
            # Alive, but not ready: the database has no schema yet.
            assert http.get("/healthz").status_code == 200
            body = problem(http.get("/readyz"), 503)
            assert "migration" in body["detail"]

            migrated = teamwell_cli(env, "migrate")
            assert migrated.returncode == 0, migrated.stderr
            assert http.get("/readyz").json()["status"] == "ready"

            # Past this code's head (a newer release migrated it, during a rolling upgrade):
            # still ready, naming the database's revision.
            with sqlite3.connect(data_dir / "teamwell.db") as db:
                (head,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
                db.execute("UPDATE alembic_version SET version_num = '0999_newer_release'")
            assert http.get("/readyz").json() == {
                "status": "ready",
                "migration": "0999_newer_release",
            }
            with sqlite3.connect(data_dir / "teamwell.db") as db:
                db.execute("UPDATE alembic_version SET version_num = ?", (head,))

            password = "an-admin-password-long-enough"
            made = teamwell_cli(
                {**env, "TEAMWELL_ADMIN_PASSWORD": password},
                "create-admin",
                "--email",
                "Lead@Council.example",
                "--name",
                "Lee Admin",
                "--organisation",
                "city-council",
                "--organisation-name",
                "City Council",
                "--kind",
                "local_authority",
            )
            assert made.returncode == 0, made.stderr
            assert password not in made.stdout + made.stderr
            signed_in = http.post(
                "/api/v1/auth/login", json={"email": "lead@council.example", "password": password}
            )
            assert signed_in.status_code == 200, signed_in.text
            assert signed_in.json()["user"]["role"] == "admin"
            assert signed_in.json()["mfa_enrolment_required"] is True

            verified = teamwell_cli(env, "verify-audit")
            assert verified.returncode == 0 and "intact" in verified.stdout
        server.stop()
    # Stopping, the server signed a checkpoint of the chain as it left it (it signs one every
    # TEAMWELL_AUDIT_CHECKPOINT_SECONDS while events come): the newest event removed is found.
    verified = teamwell_cli(env, "verify-audit")
    matched = re.search(r"(\d+) signed checkpoints matched", verified.stdout)
    assert verified.returncode == 0 and matched and int(matched[1]) >= 1, verified.stdout
    with sqlite3.connect(data_dir / "teamwell.db") as db:
        db.execute("DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)")
    truncated = teamwell_cli(env, "verify-audit")
    assert truncated.returncode == 1
    assert "BROKEN: 1 events missing after the checkpoint of" in truncated.stdout
    secrets_file = data_dir / "secrets.json"
    assert secrets_file.exists() and oct(os.stat(secrets_file).st_mode & 0o777) == "0o600"
    log = server.log_path.read_text() if server.log_path and server.log_path.exists() else ""
    assert password not in log
