"""Benefits and eligibility in a real browser, through the UI only, axe clean.

Priya, the peer keyworker, opens a client's record: the Benefits section says no out-of-work
benefit is recorded. She adds an ESA claim (work-related activity group) that started long ago,
and the section shows it being claimed; she ends it 40 days ago and the section shows, as the
server computed it, that the client has been off out-of-work benefits for 40 days. She records a
better-off calculation. She adds a further referral answering the eligibility questions with the
client on a mandatory DWP programme: the referral is listed as not eligible, with the reason.
The page is axe clean at desktop and phone sizes. Alex, the client, sees his own benefit history
on his phone, with nothing to change. Tom, the therapist, has a client's record open when Priya
records a benefit elsewhere: his Benefits section says who changed it and shows the claim,
without a reload.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from playwright.async_api import Browser, expect

from tests.browser.accessibility import axe_check
from tests.browser.support import PageProblems, open_page, sign_in_as
from tests.conftest import Live
from tests.support.builders import add_to_care_team, days_ago, new_client

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def long_date(iso: str) -> str:
    """As the page shows dates (en-GB, short month): 5 Mar 2026."""
    day = date.fromisoformat(iso)
    return f"{day.day} {day.strftime('%b')} {day.year}"


async def test_keyworker_records_benefits_and_sees_the_off_flow_computed(
    browser: Browser, live_sqlite: Live
) -> None:
    name = f"Bo Benefit {uuid.uuid4().hex[:6]}"
    client_id = new_client(live_sqlite.as_role("peer_keyworker"), name, referred_on=days_ago(60))
    problems = PageProblems()
    context, page = await open_page(browser, problems, viewport=DESKTOP)
    try:
        await sign_in_as(page, live_sqlite, "peer_keyworker")
        await page.goto(f"{live_sqlite.base_url}/#/clients/{client_id}")
        await expect(page.get_by_role("heading", level=1)).to_have_text(name)
        benefits = page.get_by_role("region", name="Benefits")
        await expect(benefits).to_contain_text("No out-of-work benefit recorded")

        await benefits.locator("summary", has_text="Add a benefit").click()
        add = benefits.get_by_role("form", name="Add a benefit")
        await add.get_by_label("Benefit", exact=True).select_option(
            label="Employment and Support Allowance (ESA)"
        )
        await add.get_by_label("ESA group").select_option(label="Work-related activity group")
        await add.get_by_label("Started on").fill(days_ago(400))
        await add.get_by_label("Source").select_option(label="Verified")
        await add.get_by_role("button", name="Add benefit").click()
        await expect(benefits.get_by_text("Benefit added.")).to_be_visible()
        await expect(benefits).to_contain_text("Claiming an out-of-work benefit")
        await expect(benefits).to_contain_text(
            f"At referral ({long_date(days_ago(60))}): claiming an out-of-work benefit"
        )

        history = benefits.get_by_role("table", name="Benefit history")
        await history.locator("summary", has_text="End claim").click()
        end = history.get_by_role(
            "form", name="End the Employment and Support Allowance (ESA) claim"
        )
        await end.get_by_label("Ended on (first day not paid)").fill(days_ago(40))
        await end.get_by_role("button", name="End claim").click()
        await expect(benefits.get_by_text("Claim ended.")).to_be_visible()
        await expect(benefits).to_contain_text(
            f"Off out-of-work benefits since {long_date(days_ago(40))} (40 days)"
        )

        await benefits.locator("summary", has_text="Record a better-off calculation").click()
        calc = benefits.get_by_role("form", name="Record a better-off calculation")
        await calc.get_by_label("Done on").fill(days_ago(45))
        await calc.get_by_label("Outcome").select_option(label="Better off in work")
        await calc.get_by_label("Weekly hours modelled (optional)").fill("16")
        await calc.get_by_role("button", name="Record calculation").click()
        done = benefits.get_by_role("table", name="Better-off calculations")
        await expect(done.get_by_role("row").nth(1)).to_contain_text("Better off in work")
        await expect(done.get_by_role("row").nth(1)).to_contain_text("16")

        # A further referral with the eligibility questions: on a mandatory DWP programme.
        referrals = page.get_by_role("region", name="Referrals")
        await referrals.locator("summary", has_text="Add a referral").click()
        form = referrals.get_by_role("form", name="Add a referral")
        await form.get_by_label("Referred by").select_option(label="Jobcentre")
        await form.get_by_label("Reason for referral").fill("Re-referred by the work coach")
        answers = {
            "Is the person claiming an out-of-work benefit": "Yes",
            "Are they seeking treatment for their mental health?": "Yes",
            "Are they on a mandatory DWP programme": "Yes",
        }
        for question, answer in answers.items():
            group = form.get_by_role("group", name=question)
            await group.get_by_label(answer, exact=True).check()
        await form.get_by_role("button", name="Add referral").click()
        await expect(referrals.get_by_text("Referral added.")).to_be_visible()
        await expect(
            referrals.get_by_role("row").filter(has_text="Re-referred by the work coach")
        ).to_contain_text("No: on a mandatory DWP programme")

        await axe_check(page, "the client's page with benefits (desktop)")
        await page.set_viewport_size(PHONE)
        await expect(benefits).to_be_visible()
        await axe_check(page, "the client's page with benefits (phone)")
    finally:
        await context.close()
    problems.assert_clean()


async def test_client_sees_their_own_benefits_on_their_phone(
    browser: Browser, live_sqlite: Live
) -> None:
    problems = PageProblems()
    context, page = await open_page(
        browser, problems, viewport=PHONE, is_mobile=True, has_touch=True
    )
    try:
        await sign_in_as(page, live_sqlite, "client")
        await page.goto(f"{live_sqlite.base_url}/#/my-record")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Alex Morgan")
        benefits = page.get_by_role("region", name="Benefits")
        # The demo's Alex claims Universal Credit in the intensive work search regime.
        await expect(benefits.get_by_role("table", name="Benefit history")).to_contain_text(
            "Universal Credit"
        )
        await expect(benefits).to_contain_text("Claiming an out-of-work benefit")
        await expect(benefits.locator("summary", has_text="Add a benefit")).to_have_count(0)
        await expect(benefits.locator("summary", has_text="End claim")).to_have_count(0)
        await axe_check(page, "the client's own record with benefits (phone)")
    finally:
        await context.close()
    problems.assert_clean()


async def test_a_reader_s_benefits_section_follows_changes_made_elsewhere(
    browser: Browser, live_sqlite: Live
) -> None:
    keyworker, therapist = live_sqlite.as_role("peer_keyworker"), live_sqlite.as_role("therapist")
    name = f"Lee Live {uuid.uuid4().hex[:6]}"
    client_id = new_client(keyworker, name, referred_on=days_ago(30))
    add_to_care_team(keyworker, client_id, therapist.user["id"])
    problems = PageProblems()
    context, page = await open_page(browser, problems, viewport=DESKTOP)
    try:
        await sign_in_as(page, live_sqlite, "therapist")
        await page.goto(f"{live_sqlite.base_url}/#/clients/{client_id}")
        await expect(page.get_by_role("heading", level=1)).to_have_text(name)
        benefits = page.get_by_role("region", name="Benefits")
        await expect(benefits).to_contain_text("No out-of-work benefit recorded")

        added = keyworker.post(
            f"/api/v1/clients/{client_id}/benefits/claims",
            json={"benefit": "jsa", "started_on": days_ago(90), "source": "client_reported"},
        )
        assert added.status_code == 201, added.text
        await expect(benefits.get_by_role("status")).to_contain_text(
            f"{keyworker.user['display_name']} changed the benefits."
        )
        await expect(benefits.get_by_role("table", name="Benefit history")).to_contain_text(
            "Jobseeker’s Allowance (JSA)"
        )
        await expect(benefits).to_contain_text("Claiming an out-of-work benefit")
        await axe_check(page, "the benefits section after a change made elsewhere")
    finally:
        await context.close()
    problems.assert_clean()
