"""Quarterly targets in a real browser: a supervisor sets a team's referrals target on the
Reports page and sees it beside the count so far, off-flows counted like the rest; axe clean."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from tests.browser.accessibility import axe_check
from tests.browser.support import open_nav, open_person, sign_in_as
from tests.conftest import Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_supervisor_sets_a_quarterly_target_and_sees_progress(
    browser: Browser, live_sqlite: Live
) -> None:
    contexts = []
    try:
        supervisor = await open_person(
            browser, contexts=contexts, viewport={"width": 1366, "height": 768}
        )
        page = supervisor.page
        await sign_in_as(page, live_sqlite, "supervisor")
        await open_nav(page, "Reports", "Programme reports")
        await page.get_by_label("Team, area cluster or organisation").select_option(
            label="Newcastle IPS Team (team)"
        )
        goals = page.get_by_role("region", name="Quarterly targets")
        table = goals.get_by_role("table")
        off_flow = table.get_by_role("row").filter(has_text="Benefit off-flows")
        # Counted from the demo clients' benefit histories: a number, or withheld when small.
        so_far = re.compile(r"^(\d+|withheld)$")
        await expect(off_flow.get_by_role("cell").nth(1)).to_have_text(so_far)
        form = goals.get_by_role("form", name="Set a quarterly target")
        await form.get_by_label("Measure").select_option(label="Referrals")
        await form.get_by_label("Target for the quarter").fill("40")
        await form.get_by_role("button", name="Set the target").click()
        referrals = table.get_by_role("row").filter(has_text="Referrals")
        await expect(referrals.get_by_role("cell").nth(0)).to_have_text("40")
        await form.get_by_label("Measure").select_option(label="Benefit off-flows")
        await form.get_by_label("Target for the quarter").fill("6")
        await form.get_by_role("button", name="Set the target").click()
        await expect(off_flow.get_by_role("cell").nth(0)).to_have_text("6")
        await expect(off_flow.get_by_role("cell").nth(1)).to_have_text(so_far)
        await axe_check(page, "quarterly targets on the Reports page")
        supervisor.problems.assert_clean()
    finally:
        for context in contexts:
            await context.close()
