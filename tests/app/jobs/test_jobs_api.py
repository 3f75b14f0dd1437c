"""Scheduled jobs in a running server, over HTTP: the server's runner runs the recurring jobs
at start; admins list queued, running and failed jobs (their organisation's and the
service's), retry a failed one (audited) which the runner then runs; other roles are refused
(tests/auth/policies/test_permissions.py holds the whole table)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PARTNER_ADMIN_EMAIL, Live, live_server, problem
from tests.support.jobs import plant_job

WAIT = 60.0


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server of this module's own that runs jobs, looking for due ones often."""
    extra = {"TEAMWELL_JOBS_IN_SERVICE": "true", "TEAMWELL_JOBS_POLL_SECONDS": "0.1"}
    with live_server(tmp_path_factory, "live-jobs", extra_env=extra) as live:
        yield live


def jobs(live: Live, role_or_email: str, **query: Any) -> list[dict[str, Any]]:
    who = live.as_email(role_or_email) if "@" in role_or_email else live.as_role(role_or_email)
    reply = who.get("/api/v1/admin/jobs", params={"limit": 200, **query})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["total"] == len(body["items"])
    items: list[dict[str, Any]] = body["items"]
    return items


def eventually(live: Live, check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}\n{live.server.log_tail()}"
        time.sleep(0.1)


def plant(live: Live, **fields: Any) -> str:
    url = live.env["TEAMWELL_DATABASE_URL"]
    return str(asyncio.run(plant_job(url, live.data_dir, **fields)))


def test_the_server_runs_its_recurring_jobs_at_start(running: Live) -> None:
    done = eventually(
        running,
        lambda: (
            {j["kind"] for j in jobs(running, "admin", status="done")}
            >= {"ips.journey_alerts", "retention.run"}
        ),
        "the recurring jobs done",
    )
    assert done
    for job in jobs(running, "admin", status="done"):
        assert job["attempts"] == 1 and job["last_error"] is None and job["finished_at"]
        assert set(job) == {
            "id",
            "kind",
            "status",
            "run_at",
            "attempts",
            "max_attempts",
            "last_error",
            "lease_until",
            "created_at",
            "finished_at",
            "organisation_id",
        }


def test_an_admin_sees_and_retries_a_failed_job_which_then_runs(running: Live) -> None:
    admin = running.as_role("admin")
    trust = admin.user["organisation_id"]
    failed = plant(running, organisation_id=uuid.UUID(trust))
    listed = jobs(running, "admin")
    assert listed[0]["id"] == failed, "failed jobs come first"
    assert (listed[0]["status"], listed[0]["attempts"], listed[0]["last_error"]) == (
        "failed",
        5,
        "OperationalError",
    )
    # The trust's job is not the partner organisation's admin's to see or retry.
    assert failed not in {j["id"] for j in jobs(running, PARTNER_ADMIN_EMAIL)}
    partner = running.as_email(PARTNER_ADMIN_EMAIL)
    problem(partner.post(f"/api/v1/admin/jobs/{failed}/retry"), 404)

    retried = admin.post(f"/api/v1/admin/jobs/{failed}/retry")
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("queued", 0)
    assert problem(admin.post(f"/api/v1/admin/jobs/{failed}/retry"), 409)["type"].endswith(
        "job-not-failed"
    )
    # The server's runner runs it.
    eventually(
        running,
        lambda: failed in {j["id"] for j in jobs(running, "admin", status="done")},
        "the retried job done",
    )
    audited = admin.get("/api/v1/audit-events", params={"action": "job.retry"}).json()["items"]
    assert [(e["resource_id"], e["outcome"], e["detail"]) for e in audited] == [
        (failed, "success", "retention.run")
    ]


def test_other_roles_are_refused_and_bad_input_is_a_problem(running: Live) -> None:
    for role in ("supervisor", "therapist", "client"):
        problem(running.as_role(role).get("/api/v1/admin/jobs"), 403)
    admin = running.as_role("admin")
    problem(admin.get("/api/v1/admin/jobs", params={"status": "sleeping"}), 422)
    problem(admin.post("/api/v1/admin/jobs/not-an-id/retry"), 422)
