"""The client page's record actions in a real browser.

The peer keyworker opens a newly referred client's record, downloads it as FHIR, corrects the
client's name and makes them active, sends them a questionnaire link (they have no login, so the
page shows the link to give them) and assigns Erin Walsh as their employment specialist; Alex
downloads his subject-access export from My record. Each result is checked through the API. As in
the ``page`` fixture, a console error, a Content-Security-Policy violation or an uncaught error
fails the test.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.support import PageProblems, open_nav, open_page, sign_in
from tests.conftest import DEMO_CLIENT_EMAIL, ROLE_EMAILS, Live
from tests.support.builders import client_id_of, refer_client

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SPECIALIST = "Erin Walsh"


async def downloaded_json(page: Page, button: str, tmp_path: Path) -> object:
    async with page.expect_download() as started:
        await page.get_by_role("button", name=button, exact=True).click()
    download = await started.value
    target = tmp_path / download.suggested_filename
    await download.save_as(target)
    return json.loads(target.read_text(encoding="utf-8"))


async def test_record_actions_through_the_client_page(
    browser: Browser, live_sqlite: Live, tmp_path: Path
) -> None:
    keyworker = live_sqlite.as_role("peer_keyworker")
    code: str = keyworker.recovery_code()
    alex = keyworker.get(f"/api/v1/clients/{client_id_of(live_sqlite, 'Alex Morgan')}").json()
    suffix = uuid.uuid4().hex[:6]
    gus = refer_client(keyworker, f"Gus Hael {suffix}", team_id=alex["team_id"], reason="Work")
    corrected = f"Gus Hale {suffix}"

    problems = PageProblems()
    context, page = await open_page(browser, problems, accept_downloads=True)
    try:
        await sign_in(page, live_sqlite, ROLE_EMAILS["peer_keyworker"], code=code)
        await open_nav(page, "Clients")
        await page.get_by_role("link", name=gus["display_name"], exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(gus["display_name"])
        actions = page.get_by_role("region", name="Record actions")
        # The subject-access export is for the client and supervisors only.
        await expect(
            actions.get_by_role("button", name="Download subject-access export")
        ).to_have_count(0)

        # Download as FHIR: the record as a Bundle naming the client.
        bundle = await downloaded_json(page, "Download as FHIR", tmp_path)
        assert isinstance(bundle, dict) and bundle["resourceType"] == "Bundle"
        patients = [
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
        ]
        assert len(patients) == 1

        # Change the name and the status.
        await actions.get_by_text("Change name or status").click()
        await actions.get_by_label("Name", exact=True).fill(corrected)
        await actions.get_by_label("Status", exact=True).select_option("active")
        await actions.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(corrected)
        await expect(page.get_by_text("The record is updated.")).to_be_visible()
        record = keyworker.get(f"/api/v1/clients/{gus['id']}").json()
        assert (record["display_name"], record["status"]) == (corrected, "active")

        # Send a questionnaire link (in the questionnaire panel): Gus has no login and no
        # address is given, so the page shows the link to give him.
        panel = page.get_by_role("region", name="Questionnaires")
        await panel.get_by_text("Send a questionnaire link").click()
        await panel.get_by_label("Questionnaire", exact=True).select_option("phq9")
        await panel.get_by_role("button", name="Make the link").click()
        shown = panel.get_by_text("has no login email")
        await expect(shown).to_be_visible()
        link = await panel.get_by_role("textbox", name="Questionnaire link").input_value()
        actions = page.get_by_role("region", name="Record actions")
        opened = keyworker.http.get(f"/api/v1/measure-links/{link.rsplit('/', 1)[1]}")
        assert opened.status_code == 200, opened.text
        assert opened.json()["instrument"]["code"] == "phq9"

        # Assign the employment specialist.
        await actions.get_by_text("Assign the employment specialist").click()
        await actions.get_by_label("Employment specialist", exact=True).select_option(
            label=f"{SPECIALIST} (Employment specialist)"
        )
        await actions.get_by_role("button", name="Assign", exact=True).click()
        await expect(
            page.get_by_text(f"{SPECIALIST} is now {corrected}’s employment specialist")
        ).to_be_visible()
        team = keyworker.get(f"/api/v1/clients/{gus['id']}/care-team").json()
        assert any(
            m["display_name"] == SPECIALIST and m["role_on_team"] == "employment_specialist"
            for m in team
        )
    finally:
        await context.close()
    problems.assert_clean()

    # Alex downloads everything held about him from My record; he changes nothing there.
    problems = PageProblems()
    context, page = await open_page(browser, problems, accept_downloads=True)
    try:
        await sign_in(page, live_sqlite, DEMO_CLIENT_EMAIL)
        await open_nav(page, "My record", heading="Alex Morgan")
        yours = page.get_by_role("region", name="Your data")
        await expect(yours.get_by_text("Change name or status")).to_have_count(0)
        archive = await downloaded_json(page, "Download subject-access export", tmp_path)
        assert isinstance(archive, dict)
        about = archive["about"]
        assert (about["format"], about["client_id"]) == ("teamwell.subject-access.v1", alex["id"])
    finally:
        await context.close()
    problems.assert_clean()
