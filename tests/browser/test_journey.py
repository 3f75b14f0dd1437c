"""The IPS employment journey in a real browser.

The peer keyworker opens Alex's journey from his record, records a job start, and sees the job on
the timeline with its 26-week in-work support window and its 13-week sustainment check "Not yet".

She signs in with a recovery code from her enrolment: a TOTP step is accepted only once per
person, and test_meeting_room.py and test_plan_and_measures.py take the keyworker's codes from
the end of the same list (``pop()``), so this test takes the first one (``pop(0)``). As in the
``page`` fixture, a console error, a Content-Security-Policy violation or an uncaught error fails
the test.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.browser.support import PageProblems, open_nav, open_page, sign_in
from tests.conftest import ROLE_EMAILS, Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CLIENT_NAME = "Alex Morgan"
PHONE = {"width": 375, "height": 740}


def long_date(day: date) -> str:
    """As the page shows dates (en-GB, short month): 5 Mar 2026."""
    return f"{day.day} {day.strftime('%b')} {day.year}"


async def test_keyworker_records_a_job_start_on_alexs_journey(
    browser: Browser, live_sqlite: Live
) -> None:
    code: str = live_sqlite.as_role("peer_keyworker").tokens["recovery_codes"].pop(0)
    employer = f"Tyne Bakery {uuid.uuid4().hex[:6]}"

    problems = PageProblems()
    context, page = await open_page(browser, problems, viewport=PHONE)
    try:
        # Sign in: password, then a recovery code on the second-step page.
        await sign_in(page, live_sqlite, ROLE_EMAILS["peer_keyworker"], code=code)
        await open_nav(page, "Clients")
        # Caseloads are for employment specialists and supervisors.
        await expect(page.get_by_role("link", name="Caseloads")).to_be_hidden()

        # From the client list to Alex's journey.
        await (
            page.get_by_role("table", name="Clients")
            .get_by_role("link", name=CLIENT_NAME, exact=True)
            .click()
        )
        await expect(page.get_by_role("heading", level=1)).to_have_text(CLIENT_NAME)
        await (
            page.get_by_role("region", name="Employment journey")
            .get_by_role("link", name="Open the journey")
            .click()
        )
        await expect(page).to_have_url(re.compile(r"#/clients/[^/]+/journey$"))
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            f"Employment journey for {CLIENT_NAME}"
        )
        await expect(page.get_by_role("heading", level=2, name="Due now")).to_be_visible()
        # Employer contacts are the specialist's to log: the keyworker reads the list only.
        await expect(page.get_by_role("heading", level=2, name="Employer contacts")).to_be_visible()
        await expect(page.get_by_text("Log an employer contact")).to_have_count(0)

        # Record a job start today.
        await page.get_by_text("Record a job start", exact=True).click()
        form = page.get_by_role("form", name="Record a job start")
        await form.get_by_label("Employer").fill(employer)
        await form.get_by_label("Role").fill("Kitchen assistant")
        await form.get_by_label("Hours a week").fill("16")
        today = date.fromisoformat(await form.get_by_label("First day in the job").input_value())
        await form.get_by_role("button", name="Save job start").click()
        await expect(
            page.get_by_role("status").filter(has_text="Job start recorded")
        ).to_be_visible()

        # The job is on the timeline with its support window and sustainment checks.
        job = (
            page.get_by_role("list", name="Timeline")
            .get_by_role("listitem")
            .filter(has=page.get_by_role("heading", name=f"Kitchen assistant at {employer}"))
        )
        await expect(job).to_have_count(1)
        await expect(job).to_contain_text("16 hours a week")
        await expect(job.get_by_role("heading", name="In-work support")).to_be_visible()
        until = today + timedelta(weeks=26, days=-1)
        await expect(job).to_contain_text(f"Support until{long_date(until)}")
        await expect(job).to_contain_text("Next review due")
        check_13 = job.get_by_role("listitem").filter(has_text="13 weeks")
        await expect(check_13).to_contain_text("Not yet")
        await expect(check_13).to_contain_text(long_date(today + timedelta(weeks=13)))
        await expect(job.get_by_role("listitem").filter(has_text="52 weeks")).to_contain_text(
            "Not yet"
        )
        # Forms to review or end this job are offered with it.
        await expect(job.get_by_text("Record a support review")).to_be_visible()
        await expect(job.get_by_text("Record the job end")).to_be_visible()
    finally:
        await context.close()
    problems.assert_clean()
