"""The System page in a real browser: the demo admin opens "System" from the main navigation,
reads each part with its status in words (not colour alone), refreshes it, and the page passes
the accessibility rules (axe) on a desktop and at a phone's width, where nothing overflows."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from app.migrate import head_revision
from tests.browser.accessibility import axe_check
from tests.browser.support import PageProblems, open_nav, open_page, sign_in_as
from tests.conftest import Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

PHONE = {"width": 390, "height": 844}
# Every status in words as well as colour.
IN_WORDS = re.compile(r"^(OK|Needs attention|Down|Not used)$")
PARTS = ["Version", "Database", "Migrations", "Redis", "Scheduled jobs", "Audit trail"]


async def test_the_demo_admin_reads_the_system_page(browser: Browser, live_sqlite: Live) -> None:
    problems = PageProblems()
    context, page = await open_page(browser, problems)
    try:
        await sign_in_as(page, live_sqlite, "admin")
        await open_nav(page, "System")
        for name in [*PARTS, "Keys and secrets"]:
            await expect(page.get_by_role("region", name=name)).to_be_visible()
        for name in PARTS:
            status = page.get_by_role("region", name=name).locator(".system__status")
            await expect(status).to_contain_text("Status:")
            await expect(status.locator(".badge")).to_have_text(IN_WORDS)
        database = page.get_by_role("region", name="Database")
        await expect(database).to_contain_text("SQLite")
        await expect(database.locator(".badge")).to_have_text("OK")
        migrations = page.get_by_role("region", name="Migrations")
        await expect(migrations).to_contain_text(str(head_revision()))
        await expect(migrations).to_contain_text("Up to date.")
        redis = page.get_by_role("region", name="Redis")
        await expect(redis.locator(".badge")).to_have_text("Not used")
        keys = page.get_by_role("region", name="Keys and secrets")
        await expect(keys).to_contain_text("Message and document keys")
        await expect(keys).to_contain_text("key k1")
        await expect(keys).to_contain_text("never the key itself")
        await axe_check(page, "the System page")

        await page.get_by_role("button", name="Refresh").click()
        await expect(page.get_by_role("status").filter(has_text="Checked again")).to_have_text(
            "Checked again just now."
        )

        await page.set_viewport_size(PHONE)
        await expect(page.get_by_role("heading", level=1)).to_have_text("System")
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page is {overflow}px wider than a phone"
        await axe_check(page, "the System page on a phone")
    finally:
        await context.close()
    problems.assert_clean()
