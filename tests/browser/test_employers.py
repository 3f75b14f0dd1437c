"""Job brokerage in a real browser: Erin (employment specialist) opens Employers from her
navigation, adds an employer and a vacancy, then on a client's journey sees it among the
matching vacancies with why, records an application and moves it to an interview, and logs a
contact with the employer chosen from her directory, which then shows on the employer's page;
Sofia (supervisor) reads the directory from Caseloads, with Erin's contact, but is offered no
forms. Axe finds nothing on either page. On a client's plan Erin sets the sectors wanted and the
lowest hourly pay, and the journey's matching vacancies leave out those outside them."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page, expect

from tests.browser.accessibility import axe_check
from tests.browser.support import open_nav, sign_in_as
from tests.conftest import Live
from tests.support.builders import edit_plan, new_client, share_with_specialist

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_specialist_keeps_employers_and_records_an_application(
    page: Page, live_sqlite: Live
) -> None:
    live = live_sqlite
    keyworker = live.as_role("peer_keyworker")
    client_id = new_client(keyworker, f"Brokered {uuid.uuid4().hex[:6]}")
    share_with_specialist(live, client_id)
    preferences = {"types": ["bakery"], "locations": ["Gateshead"], "hours_per_week": 20}
    edit_plan(
        keyworker, client_id, lambda c: c["vocational_profile"].update(preferences=preferences)
    )
    employer = f"Gateshead Bakery {uuid.uuid4().hex[:6]}"

    await sign_in_as(page, live, "employment_specialist")
    await open_nav(page, "Employers")
    form = page.get_by_role("form", name="Add an employer")
    await form.get_by_label("Employer name").fill(employer)
    await form.get_by_label("Sector").select_option("C")
    await form.get_by_label("Location (optional)").fill("Gateshead")
    await form.get_by_role("button", name="Add the employer").click()
    await expect(page.get_by_text(f"{employer} added to the directory.")).to_be_visible()

    vacancy = page.get_by_role("form", name="Add a vacancy")
    await vacancy.get_by_label("Employer").select_option(label=employer)
    await vacancy.get_by_label("Job title").fill("Bakery assistant")
    await vacancy.get_by_label("Hours a week").fill("20")
    await vacancy.get_by_label("Hourly pay (£, optional)").fill("13.60")
    await vacancy.get_by_label("Location (optional)").fill("Gateshead town centre")
    await vacancy.get_by_role("button", name="Add the vacancy").click()
    await expect(
        page.get_by_text(f"Vacancy added: Bakery assistant at {employer}.")
    ).to_be_visible()
    vacancies = page.get_by_role("table", name="Vacancies, soonest closing first")
    await expect(vacancies.get_by_role("row").filter(has_text=employer)).to_contain_text("£13.60")
    await page.get_by_role("button", name=employer, exact=True).click()
    await expect(page.get_by_role("table", name=f"Vacancies at {employer}")).to_contain_text(
        "Bakery assistant"
    )
    await axe_check(page, "the Employers page")

    # On the client's journey: the vacancy matches, with why; an application, then interview.
    await page.goto(f"{live.base_url}/#/clients/{client_id}/journey")
    matches = page.get_by_role("list", name="Matching vacancies")
    match = matches.get_by_role("listitem").filter(
        has=page.get_by_role("heading", name=f"Bakery assistant at {employer}")
    )
    await expect(match).to_contain_text("Preferred type “bakery” fits this job")
    await expect(match).to_contain_text("In the preferred location “Gateshead”")
    await match.get_by_text("Record an application", exact=True).click()
    await match.get_by_role("button", name="Save application").click()
    await expect(page.get_by_role("status").filter(has_text="Application recorded")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=f"Bakery assistant at {employer}")
    await expect(row).to_contain_text("Applied")
    await row.get_by_text("Move the application on", exact=True).click()
    await row.get_by_label("New status").select_option("interview")
    await row.get_by_role("button", name="Save").click()
    await expect(
        page.get_by_role("status").filter(has_text="Application interview")
    ).to_be_visible()
    await expect(
        page.get_by_role("row").filter(has_text=f"Bakery assistant at {employer}")
    ).to_contain_text("Interview")
    await axe_check(page, "the journey with vacancies and applications")

    # She logs a contact with the employer, chosen from her directory: its name fills in.
    contacts = page.get_by_role("region", name="Employer contacts")
    await contacts.get_by_text("Log an employer contact", exact=True).click()
    form = page.get_by_role("form", name="Log an employer contact")
    await expect(form.get_by_label("From your directory")).to_have_value("")
    await form.get_by_label("From your directory").select_option(label=f"{employer} (Gateshead)")
    await expect(form.get_by_label("Employer", exact=True)).to_have_value(employer)
    await form.get_by_label("How").select_option("phone")
    await form.get_by_label("Outcome").fill("Talked through the interview with the manager")
    await form.get_by_role("button", name="Save contact").click()
    await expect(
        page.get_by_role("status").filter(has_text="Employer contact logged")
    ).to_be_visible()
    await expect(contacts.get_by_role("row").filter(has_text=employer)).to_contain_text(
        "(in the directory)"
    )
    await axe_check(page, "the journey with a contact logged against a directory employer")

    # Logged against the wrong entry, the link is corrected: taken away, then put back.
    async def relink(choice: str) -> None:
        await contacts.get_by_role(
            "button", name=re.compile(f"^Edit the contact with {employer}")
        ).click()
        edit = page.get_by_role("form", name=re.compile("^Edit the employer contact"))
        await edit.get_by_label("From your directory").select_option(label=choice)
        await edit.get_by_role("button", name="Save changes").click()
        await expect(
            page.get_by_role("status").filter(has_text="Employer contact updated")
        ).to_be_visible()

    await relink("Not in the directory")
    await expect(contacts.get_by_role("row").filter(has_text=employer)).not_to_contain_text(
        "(in the directory)"
    )
    await relink(f"{employer} (Gateshead)")
    await expect(contacts.get_by_role("row").filter(has_text=employer)).to_contain_text(
        "(in the directory)"
    )
    [logged] = (
        live.as_role("employment_specialist")
        .get(f"/api/v1/clients/{client_id}/journey")
        .json()["employer_contacts"]
    )
    directory = live.as_role("employment_specialist").get("/api/v1/employers").json()
    [listed_employer] = [e for e in directory if e["name"] == employer]
    assert logged["employer_id"] == listed_employer["id"] and listed_employer["contacts"] == 1

    # The employer's page in the directory shows the contact.
    await open_nav(page, "Employers")
    await page.get_by_role("button", name=employer, exact=True).click()
    on_employer = page.get_by_role("table", name=f"Contacts with {employer}, newest first")
    await expect(on_employer.get_by_role("row").nth(1)).to_contain_text(
        "Talked through the interview with the manager"
    )
    await expect(on_employer.get_by_role("row").nth(1)).to_contain_text("Phone")
    await expect(on_employer.get_by_role("row")).to_have_count(2)  # the header and this one
    await expect(page.locator(".employer-detail")).not_to_contain_text("null")
    await axe_check(page, "an employer's page with its contacts")
    listed = (
        live.as_role("employment_specialist")
        .get(f"/api/v1/clients/{client_id}/applications")
        .json()
    )
    assert [a["status"] for a in listed] == ["interview"]

    # Sofia reads the directory from Caseloads; she is offered no forms.
    await page.context.clear_cookies()
    await page.evaluate("sessionStorage.clear(); localStorage.clear()")
    await sign_in_as(page, live, "supervisor")
    await page.get_by_role("link", name="Caseloads").click()
    await page.get_by_role("link", name="Employers", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Employers")
    await expect(
        page.get_by_role("table", name="Employer directory").get_by_role("button", name=employer)
    ).to_be_visible()
    await expect(page.get_by_role("form", name="Add an employer")).to_have_count(0)
    # She opens the employer: the contact Erin logged against it, by Erin.
    await page.get_by_role("button", name=employer, exact=True).click()
    await expect(
        page.get_by_role("table", name=f"Contacts with {employer}, newest first")
        .get_by_role("row")
        .nth(1)
    ).to_contain_text("Erin Walsh")
    await axe_check(page, "the Employers page read by a supervisor")


async def test_sectors_and_lowest_pay_on_the_plan_narrow_the_matching_vacancies(
    page: Page, live_sqlite: Live
) -> None:
    live = live_sqlite
    specialist = live.as_role("employment_specialist")
    mark = uuid.uuid4().hex[:6]
    titles = {}
    for key, sector, pay in (
        ("Cook", "I", 1500),
        ("Chef", "I", 1400),
        ("Shop assistant", "G", 1450),
    ):
        employer = specialist.post(
            "/api/v1/employers", json={"name": f"{key} employer {mark}", "sector": sector}
        )
        assert employer.status_code == 201, employer.text
        titles[key] = title = f"{key} {mark}"
        made = specialist.post(
            f"/api/v1/employers/{employer.json()['id']}/vacancies",
            json={"title": title, "hours_per_week": 20, "hourly_pay_pence": pay},
        )
        assert made.status_code == 201, made.text
    name = f"Pref Erence {mark}"
    client_id = new_client(live.as_role("peer_keyworker"), name)
    share_with_specialist(live, client_id)

    await sign_in_as(page, live, "employment_specialist")
    await page.goto(f"{live.base_url}/#/clients/{client_id}/journey")
    matches = page.get_by_role("list", name="Matching vacancies")
    for title in titles.values():
        await expect(matches).to_contain_text(title)

    await page.goto(f"{live.base_url}/#/clients/{client_id}")
    await page.get_by_role("region", name="Plan").get_by_role("link", name="Open the plan").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Plan for {name}")
    profile = page.get_by_role("region", name="Vocational profile")
    await profile.get_by_label("Lowest hourly pay (£)").fill("14.50")
    sectors = profile.get_by_role("group", name="Sectors wanted")
    await sectors.get_by_label("Accommodation and food service activities").check()
    await expect(page.get_by_text("Unsaved changes to Vocational profile.")).to_be_visible()
    await axe_check(page, "the plan's job preferences with sectors and lowest pay")
    await page.get_by_role("button", name="Save plan").click()
    await expect(page.get_by_text(re.compile(r"^Saved as version \d+\.$"))).to_be_visible()

    await page.goto(f"{live.base_url}/#/clients/{client_id}/journey")
    matches = page.get_by_role("list", name="Matching vacancies")
    cook = matches.get_by_role("listitem").filter(
        has=page.get_by_role("heading", name=re.compile(titles["Cook"]))
    )
    await expect(cook).to_contain_text("In a preferred sector")
    await expect(cook).to_contain_text("Pays at least the client's minimum of £14.50")
    # The chef pays under the client's minimum; the shop is in another sector.
    await expect(matches).not_to_contain_text(titles["Chef"])
    await expect(matches).not_to_contain_text(titles["Shop assistant"])
    saved = specialist.get(f"/api/v1/clients/{client_id}/plan").json()["content"]
    assert saved["vocational_profile"]["preferences"]["sectors"] == ["I"]
    assert saved["vocational_profile"]["preferences"]["min_hourly_pay_pence"] == 1450
