"""Employer contacts on the journey page, and a fidelity review joining the past reviews, in a
real browser.

Erin, the employment specialist, logs an employer contact for a new client from the journey
page: the first-employer-contact milestone is satisfied at once and the list shows the contact;
she corrects it; a refused contact shows the server's problem detail. For a second client she
records a job start, which also satisfies the milestone, and the page says why. Sofia, the
supervisor, saves a fidelity review and sees it in the chart and the table without reloading.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.support import PageProblems, open_page, sign_in_as
from tests.conftest import Live
from tests.support.builders import demo_team_id, new_client, share_with_specialist

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


def long_date(day: date) -> str:
    """As the page shows dates (en-GB, short month): 5 Mar 2026."""
    return f"{day.day} {day.strftime('%b')} {day.year}"


def client_with_erin(live: Live, name: str) -> str:
    """A client referred today by the keyworker, shared with Erin's provider, Erin assigned."""
    client_id = new_client(live.as_role("peer_keyworker"), name)
    share_with_specialist(live, client_id)
    return client_id


@asynccontextmanager
async def signed_in(
    browser: Browser, live: Live, role: str, problems: PageProblems
) -> AsyncIterator[Page]:
    context, page = await open_page(browser, problems)
    try:
        await sign_in_as(page, live, role)
        yield page
    finally:
        await context.close()


async def open_journey(page: Page, live: Live, client_id: str, name: str) -> None:
    await page.goto(f"{live.base_url}/#/clients/{client_id}/journey")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Employment journey for {name}"
    )


def first_contact(page: Page) -> Locator:
    return page.locator(".summary-list__row").filter(has_text="First employer contact")


async def test_specialist_logs_and_corrects_an_employer_contact_on_the_journey(
    browser: Browser, live_sqlite: Live
) -> None:
    suffix = uuid.uuid4().hex[:6]
    name, second = f"Cara Contact {suffix}", f"Jon Jobstart {suffix}"
    client_id = client_with_erin(live_sqlite, name)
    second_id = client_with_erin(live_sqlite, second)
    employer = f"Quayside Hotel {suffix}"
    problems = PageProblems()
    async with signed_in(browser, live_sqlite, "employment_specialist", problems) as page:
        await open_journey(page, live_sqlite, client_id, name)
        await expect(first_contact(page)).to_contain_text("Not yet")
        contacts = page.get_by_role("region", name="Employer contacts")
        await expect(contacts).to_contain_text("No employer contacts have been logged")

        # A contact dated tomorrow is refused by the server, and the page says why.
        await contacts.get_by_text("Log an employer contact", exact=True).click()
        form = page.get_by_role("form", name="Log an employer contact")
        today = date.fromisoformat(await form.get_by_label("Date of the contact").input_value())
        await form.get_by_label("Employer", exact=True).fill(employer)
        await form.get_by_label("Date of the contact").fill((today + timedelta(days=1)).isoformat())
        await form.get_by_label("How").select_option("phone")
        await form.get_by_label("Outcome").fill("Asked about kitchen vacancies")
        await form.get_by_role("button", name="Save contact").click()
        await expect(form.get_by_role("alert")).to_contain_text("after today")

        # Logged for today: the milestone is satisfied and the list shows the contact.
        await form.get_by_label("Date of the contact").fill(today.isoformat())
        await form.get_by_role("button", name="Save contact").click()
        await expect(
            page.get_by_role("status").filter(has_text="Employer contact logged")
        ).to_be_visible()
        await expect(first_contact(page)).to_contain_text(long_date(today))
        await expect(first_contact(page)).to_contain_text("an employer contact logged")
        row = contacts.get_by_role("row").filter(has_text=employer)
        await expect(row).to_contain_text("Phone")
        await expect(row).to_contain_text("Asked about kitchen vacancies")
        await expect(row).to_contain_text("Erin Walsh")

        # She corrects it: it was face to face, and a trial shift came of it.
        await row.get_by_role(
            "button", name=re.compile(f"^Edit the contact with {employer}")
        ).click()
        edit = page.get_by_role("form", name=re.compile("^Edit the employer contact"))
        await expect(edit.get_by_label("Employer", exact=True)).to_have_value(employer)
        await edit.get_by_label("How").select_option("face_to_face")
        await edit.get_by_label("Outcome").fill("Met the head chef; trial shift offered")
        await edit.get_by_role("button", name="Save changes").click()
        await expect(
            page.get_by_role("status").filter(has_text="Employer contact updated")
        ).to_be_visible()
        row = contacts.get_by_role("row").filter(has_text=employer)
        await expect(row).to_contain_text("Face to face")
        await expect(row).to_contain_text("trial shift offered")
        await expect(contacts.get_by_role("row")).to_have_count(2)  # the header and this one
        stored = live_sqlite.as_role("employment_specialist").get(
            f"/api/v1/clients/{client_id}/journey"
        )
        [contact] = stored.json()["employer_contacts"]
        # Left "Not in the directory" (or with no directory to choose from): no employer linked.
        assert contact["contact_type"] == "face_to_face" and contact["employer_id"] is None

        # A job start recorded on the second client's journey satisfies the milestone too.
        await open_journey(page, live_sqlite, second_id, second)
        await expect(first_contact(page)).to_contain_text("Not yet")
        await page.get_by_text("Record a job start", exact=True).click()
        job = page.get_by_role("form", name="Record a job start")
        await job.get_by_label("Employer").fill(f"Tyne Bakery {suffix}")
        await job.get_by_label("Role").fill("Baker")
        await job.get_by_label("Hours a week").fill("20")
        await job.get_by_role("button", name="Save job start").click()
        await expect(
            page.get_by_role("status").filter(has_text="Job start recorded")
        ).to_be_visible()
        await expect(first_contact(page)).to_contain_text(long_date(today))
        await expect(first_contact(page)).to_contain_text("a job start")
    # The refused save is the one resource the browser reports as failed to load.
    problems.console_errors = [e for e in problems.console_errors if "status of 422" not in e]
    problems.assert_clean()


async def test_a_saved_fidelity_review_joins_the_past_reviews_at_once(
    browser: Browser, live_sqlite: Live
) -> None:
    sofia = live_sqlite.as_role("supervisor")
    team_id = demo_team_id(sofia)
    listed = sofia.get(f"/api/v1/teams/{team_id}/fidelity-reviews")
    assert listed.status_code == 200, listed.text
    taken = {r["reviewed_on"] for r in listed.json()}
    day = datetime.now(UTC).date()
    while day.isoformat() in taken:
        day -= timedelta(days=1)
    problems = PageProblems()
    async with signed_in(browser, live_sqlite, "supervisor", problems) as page:
        await page.goto(f"{live_sqlite.base_url}/#/teams/{team_id}/fidelity")
        await expect(page.get_by_role("heading", level=1)).to_have_text("IPS-25 fidelity review")
        past = page.get_by_role("region", name="Past reviews")
        table = past.get_by_role("table", name="Past reviews")
        before = len(taken)
        await expect(table.get_by_role("row")).to_have_count(before + 1)
        markers = past.locator("svg.chart__svg .chart__marker")
        await expect(markers).to_have_count(before)

        form = page.get_by_role("form", name="IPS-25 fidelity review")
        await form.get_by_label("Review date").fill(day.isoformat())
        for select in await form.locator("select.fidelity-item__score").all():
            await select.select_option("3")
        await form.get_by_role("button", name="Save the review").click()
        await expect(page.get_by_text("Saved: 75 of 125 (fair).")).to_be_visible()

        # The new review is in the table and on the chart without reloading.
        await expect(table.get_by_role("row")).to_have_count(before + 2)
        await expect(table.get_by_role("row").filter(has_text=long_date(day))).to_contain_text("75")
        await expect(markers).to_have_count(before + 1)
    problems.assert_clean()


async def test_specialist_and_supervisor_read_every_employer_contact(
    browser: Browser, live_sqlite: Live
) -> None:
    """Erin's whole log, from her Caseloads page: each contact linked to a client opens that
    client's journey. Sofia, who supervises her, reads it narrowed to Erin, and narrowed to a
    specialist she does not supervise finds nothing."""
    suffix = uuid.uuid4().hex[:6]
    other = f"Sam Specialist {suffix}"
    live_sqlite.new_account(f"sam.{suffix}@tyneside.example", other, "employment_specialist")
    name = f"Lee Logbook {suffix}"
    client_id = client_with_erin(live_sqlite, name)
    erin = live_sqlite.as_role("employment_specialist")
    today = datetime.now(UTC).date().isoformat()
    linked, unlinked = f"Metro Logistics {suffix}", f"Tyne Garden Centre {suffix}"
    for body in (
        {"employer": unlinked, "contacted_on": today, "outcome": "Met the manager"},
        {
            "employer": linked,
            "contacted_on": today,
            "contact_type": "video",
            "outcome": "Asked about warehouse vacancies",
            "client_id": client_id,
        },
    ):
        logged = erin.post("/api/v1/employer-contacts", json=body)
        assert logged.status_code == 201, logged.text

    problems = PageProblems()
    async with signed_in(browser, live_sqlite, "employment_specialist", problems) as page:
        tools = page.get_by_role("navigation", name="Caseloads")
        await tools.get_by_role("link", name="Caseloads").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Caseloads")
        await page.get_by_role("link", name="Employer contacts").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Employer contacts")
        table = page.get_by_role("table", name="Employer contacts, newest first")
        row = table.get_by_role("row").filter(has_text=linked)
        await expect(row).to_contain_text("Video call")
        await expect(row).to_contain_text("Asked about warehouse vacancies")
        await expect(table.get_by_role("row").filter(has_text=unlinked)).to_contain_text("None")
        # No specialist filter for a specialist: the log is her own.
        await expect(page.get_by_label("Employment specialist")).to_have_count(0)
        await row.get_by_role("link", name=f"{name}\u2019s journey").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            f"Employment journey for {name}"
        )
        # And back from the journey to the whole log.
        await page.get_by_role("link", name="All employer contacts, for every client").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Employer contacts")
    problems.assert_clean()

    problems = PageProblems()
    async with signed_in(browser, live_sqlite, "supervisor", problems) as page:
        tools = page.get_by_role("navigation", name="Caseloads")
        await tools.get_by_role("link", name="Caseloads").click()
        await page.get_by_role("link", name="Employer contacts").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Employer contacts")
        table = page.get_by_role("table", name="Employer contacts, newest first")
        await expect(table.get_by_role("row").filter(has_text=linked)).to_contain_text("Erin Walsh")
        summary = page.locator(".results-summary")
        choice = page.get_by_label("Employment specialist")
        await choice.select_option(label=other)
        await expect(summary).to_have_text("No employer contacts found.")
        await choice.select_option(label="Erin Walsh")
        await expect(page).to_have_url(re.compile(rf"specialist={erin.user['id']}$"))
        await expect(table.get_by_role("row").filter(has_text=linked)).to_be_visible()
        every = erin.get("/api/v1/employer-contacts", params={"limit": 1}).json()["total"]
        await expect(summary).to_contain_text(f"of {every} employer contact")
    problems.assert_clean()
