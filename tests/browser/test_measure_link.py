"""A questionnaire opened from a one-time link, with no sign-in: a client without a login
answers a GAD-7 on a phone-sized screen and the answers reach their record."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.accessibility import scan_both_sizes
from tests.browser.support import open_client, open_person, sign_in_as
from tests.conftest import Live
from tests.support.builders import client_id_of

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_client_without_a_login_answers_through_the_link(
    live_sqlite: Live, page: Page
) -> None:
    keyworker = live_sqlite.as_role("peer_keyworker")
    bea = client_id_of(live_sqlite, "Bea Collins")
    made = keyworker.post(f"/api/v1/clients/{bea}/measure-links", json={"instrument": "gad7"})
    assert made.status_code == 201, made.text
    fragment = made.json()["link"].split("#", 1)[1]

    await page.set_viewport_size({"width": 375, "height": 740})
    await page.goto(f"{live_sqlite.base_url}/#{fragment}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("GAD-7")
    for number in range(1, 8):
        question = page.get_by_role("group", name=re.compile(rf"^Question {number} of 7\b"))
        await question.get_by_label("Several days", exact=True).check()
    await page.get_by_role("button", name="Send my answers").click()
    await expect(page.get_by_role("heading", name=re.compile("Thank you"))).to_be_visible()
    await expect(page.get_by_text("7 out of 21")).to_be_visible()

    recorded = keyworker.get(f"/api/v1/clients/{bea}/measures").json()
    assert [(m["instrument"], m["total"], m["mode"]) for m in recorded][-1] == ("gad7", 7, "remote")
    # The link is spent.
    again = keyworker.http.get(f"/api/v1/measure-links/{fragment.rsplit('/', 1)[1]}")
    assert again.status_code == 410


async def gad7_link_form(page: Page, live: Live) -> Locator:
    """The keyworker on Bea's page with the questionnaire link form open, the GAD-7 chosen: the
    questionnaire panel."""
    await sign_in_as(page, live, "peer_keyworker")
    await open_client(page, "Bea Collins")
    panel = page.get_by_role("region", name="Questionnaires")
    await panel.get_by_text("Send a questionnaire link").click()
    await panel.get_by_label("Questionnaire", exact=True).select_option("gad7")
    return panel


async def test_staff_make_a_questionnaire_link_on_the_client_page_and_email_it(
    media_browser: Browser, live_sqlite: Live
) -> None:
    """The keyworker, on Bea's page (Bea has no login), makes a GAD-7 link in the questionnaire
    panel, emails it to the address Bea gave, and has it to copy; the link opens the GAD-7. The
    panel with its result has no axe violation at desktop or phone size."""
    keyworker = live_sqlite.as_role("peer_keyworker")
    address = f"bea.{uuid.uuid4().hex[:6]}@example.net"
    person = await open_person(media_browser, viewport={"width": 1366, "height": 768})
    page = person.page
    try:
        panel = await gad7_link_form(page, live_sqlite)
        await expect(panel.get_by_text("The client has no login")).to_be_visible()
        await panel.get_by_label("Email the link to (optional)").fill(address)
        await panel.get_by_role("button", name="Make the link").click()
        await expect(panel.get_by_text("The GAD-7 link was emailed.")).to_be_visible()
        link = await panel.get_by_role("textbox", name="Questionnaire link").input_value()
        await panel.get_by_role("button", name="Copy questionnaire link").click()
        await expect(
            panel.get_by_role("status").filter(has_text=re.compile("Copied|copy it yourself"))
        ).to_be_visible()
        await scan_both_sizes(page, "a questionnaire link made on the client page", back_to=None)
    finally:
        await person.context.close()
    person.problems.assert_clean()

    token = link.rsplit("/#/q/", 1)[1]
    opened = keyworker.http.get(f"/api/v1/measure-links/{token}")
    assert opened.status_code == 200 and opened.json()["instrument"]["code"] == "gad7"
    assert live_sqlite.server.log_path is not None
    log = live_sqlite.server.log_path.read_text(errors="replace")
    assert link in log[log.rfind(f"email to {address}:") :]


async def test_staff_text_a_questionnaire_link_from_the_client_page(
    media_browser: Browser, live_sqlite: Live
) -> None:
    """Where the service sends SMS (the log sender here), the keyworker ticks "Text the link" on
    Bea's page: a number that is not a UK mobile is refused at its field; a UK mobile gets the
    link texted, audited with its last three digits, and the log shows neither the token nor the
    whole number. The form with the option open has no axe violation at desktop or phone size."""
    person = await open_person(media_browser, viewport={"width": 1366, "height": 768})
    page = person.page
    try:
        panel = await gad7_link_form(page, live_sqlite)
        await panel.get_by_label("Text the link").check()
        number = panel.get_by_label("Mobile number")
        await number.fill("020 7946 0000")  # a landline
        await panel.get_by_role("button", name="Make the link").click()
        await expect(number).to_have_attribute("aria-invalid", "true")
        await number.fill("07700 900 555")
        await panel.get_by_role("button", name="Make the link").click()
        await expect(panel.get_by_text("The GAD-7 link was texted.")).to_be_visible()
        link = await panel.get_by_role("textbox", name="Questionnaire link").input_value()
        await panel.get_by_label("Text the link").check()
        await scan_both_sizes(
            page, "a questionnaire link texted from the client page", back_to=None
        )
    finally:
        await person.context.close()
    # The landline, refused by the server as the form showed: that one 422 and nothing else.
    refused = [e for e in person.problems.console_errors if "status of 422" in e]
    assert len(refused) == 1, person.problems.console_errors
    person.problems.console_errors.remove(refused[0])
    person.problems.assert_clean()

    token = link.rsplit("/#/q/", 1)[1]
    assert live_sqlite.server.log_path is not None
    log = live_sqlite.server.log_path.read_text(errors="replace")
    texted = log[log.rfind("sms to ...555:") :].splitlines()[0]
    assert "Your Teamwell questionnaire link" in texted and "/#/q/…" in texted
    texts = [line for line in log.splitlines() if "sms to" in line]
    assert texts and all(token not in line for line in texts)
    assert token not in log and "7700900555" not in log and "900 555" not in log
    bea = client_id_of(live_sqlite, "Bea Collins")
    events = live_sqlite.as_role("supervisor").get(
        "/api/v1/audit-events", params={"client_id": bea, "action": "measure_link.sms"}
    )
    assert [e["detail"] for e in events.json()["items"]][-1:] == ["to …555"]
