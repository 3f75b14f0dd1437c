"""Job quality in a real browser: Erin (employment specialist) records a job start with its pay,
contract, sector and whether it is competitive on a client's journey and sees them on the
timeline; Sofia (supervisor) then reads the job-quality figures beside job entry on the Reports
page, as the server counts them. Axe finds nothing on either page."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Page, expect

from tests.browser.accessibility import axe_check
from tests.browser.support import open_nav, sign_in_as
from tests.conftest import Live
from tests.support.builders import days_ago, new_client, share_with_specialist

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

QUALITY_KEYS = (
    "job_entries",
    "job_entries_competitive",
    "job_entries_at_wage_threshold",
    "job_entries_median_hours",
    "job_entries_permanent",
)


async def test_a_specialist_records_job_quality_and_the_report_shows_it(
    page: Page, live_sqlite: Live
) -> None:
    live = live_sqlite
    client_id = new_client(live.as_role("peer_keyworker"), f"Quality {uuid.uuid4().hex[:6]}")
    share_with_specialist(live, client_id)
    employer = f"Quayside Hotel {uuid.uuid4().hex[:6]}"

    await sign_in_as(page, live, "employment_specialist")
    await page.goto(f"{live.base_url}/#/clients/{client_id}/journey")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Employment journey for")
    await page.get_by_text("Record a job start", exact=True).click()
    form = page.get_by_role("form", name="Record a job start")
    await expect(form).to_contain_text("Real Living Wage is £13.45 an hour")
    await form.get_by_label("Employer").fill(employer)
    await form.get_by_label("Role").fill("Receptionist")
    await form.get_by_label("Hours a week").fill("24")
    await form.get_by_label("Hourly pay (£)").fill("13.50")
    await form.get_by_label("Contract").select_option("permanent")
    await form.get_by_label("Sector").select_option("I")
    await expect(form.get_by_label("Competitive job")).to_be_checked()
    await axe_check(page, "the journey's job start form with job quality")
    await form.get_by_role("button", name="Save job start").click()
    await expect(page.get_by_role("status").filter(has_text="Job start recorded")).to_be_visible()

    job = (
        page.get_by_role("list", name="Timeline")
        .get_by_role("listitem")
        .filter(has=page.get_by_role("heading", name=f"Receptionist at {employer}"))
    )
    await expect(job).to_have_count(1)
    await expect(job).to_contain_text("£13.50 an hour")
    await expect(job).to_contain_text("At or above the wage threshold")
    await expect(job).to_contain_text("ContractPermanent")
    await expect(job).to_contain_text("CompetitiveYes")
    await expect(job).to_contain_text("SectorI")
    recorded = (
        live.as_role("employment_specialist")
        .get(f"/api/v1/clients/{client_id}/journey")
        .json()["jobs"]
    )
    assert [(j["hourly_pay_pence"], j["contract_type"], j["sector"]) for j in recorded] == [
        (1350, "permanent", "I")
    ]

    # Sofia reads the report for her team (the client's) over the last year.
    await page.context.clear_cookies()
    await page.evaluate("sessionStorage.clear(); localStorage.clear()")
    await sign_in_as(page, live, "supervisor")
    await open_nav(page, "Reports", "Programme reports")
    report = page.locator(".report-figures")
    await expect(report).to_be_visible()
    supervisor = live.as_role("supervisor")
    scopes = supervisor.get("/api/v1/reports/scopes").json()
    first = scopes["teams"][0]
    answer = supervisor.get(
        "/api/v1/reports/programme",
        params={"scope": "team", "scope_id": first["id"], "from": days_ago(365), "to": days_ago(0)},
    ).json()
    figures = {f["key"]: f for f in answer["figures"]}
    assert figures["job_entries"]["overall"]["value"] >= 1
    for key in QUALITY_KEYS:
        row = report.locator(f'.report-figure[data-key="{key}"]')
        await expect(row.locator("dt")).to_have_text(figures[key]["label"])
        await expect(row).to_contain_text(figures[key]["definition"])
    entries = report.locator('.report-figure[data-key="job_entries"] .report-figure__number')
    await expect(entries).to_have_text(str(figures["job_entries"]["overall"]["value"]))
    await axe_check(page, "the Reports page with job quality")
