"""Scheduled jobs in a real browser: the admin opens "Jobs" from the main navigation, sees a
failed job with its attempts and the kind of its last error (never stored data), retries it and
sees it queued again; the page passes the accessibility rules (axe) with the failed job on it.
The test server runs no jobs (tests/conftest.py), so the retried job stays queued to be seen."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.accessibility import axe_check
from tests.browser.support import PageProblems, open_nav, open_page, sign_in_as
from tests.conftest import Live
from tests.support.jobs import plant_job

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_an_admin_retries_a_failed_job_from_the_jobs_page(
    browser: Browser, live_sqlite: Live
) -> None:
    await plant_job(
        live_sqlite.env["TEAMWELL_DATABASE_URL"],
        live_sqlite.data_dir,
        kind="ips.journey_alerts",
        last_error="OperationalError",
    )
    problems = PageProblems()
    context, page = await open_page(browser, problems)
    try:
        await sign_in_as(page, live_sqlite, "admin")
        await open_nav(page, "Jobs", "Scheduled jobs")
        table = page.get_by_role("table", name="Scheduled jobs")
        row = table.get_by_role("row").filter(has_text="IPS journey alerts")
        await expect(row).to_have_count(1)
        await expect(row.get_by_role("cell").nth(0)).to_have_text("Failed")
        await expect(row).to_contain_text("5 of 5")
        await expect(row).to_contain_text("OperationalError")
        await axe_check(page, "the Jobs page with a failed job")

        await row.get_by_role("button", name="Retry IPS journey alerts").click()
        await expect(page.get_by_role("status").filter(has_text="queued again")).to_have_text(
            "IPS journey alerts is queued again and will run shortly."
        )
        await expect(row).to_contain_text("Queued")
        await expect(row).to_contain_text("0 of 5")
        await expect(row.get_by_role("button", name="Retry IPS journey alerts")).to_have_count(0)
    finally:
        await context.close()
    problems.assert_clean()
