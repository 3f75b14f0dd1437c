"""Equality monitoring in a real browser. Alex answers on his phone; his keyworker, on Alex's
record, sees only an empty form to fill in with his consent, and no answer reaches her browser
in any reply; what she records on his consent is there when Alex looks, not when she does; a
supervisor sees the figures by group on the Reports page. Every screen passes axe."""

from __future__ import annotations

import contextlib

import pytest
from playwright.async_api import Browser, Response, expect

from tests.browser.accessibility import axe_check
from tests.browser.support import CLIENT_NAME, open_client, open_nav, open_person, sign_in_as
from tests.conftest import Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
SECTION_OWN = "About you (equality monitoring)"


async def test_answers_are_the_client_s_and_never_on_a_colleague_s_screen(
    browser: Browser, live_sqlite: Live
) -> None:
    contexts = []
    try:
        alex = await open_person(browser, contexts=contexts, viewport=PHONE, has_touch=True)
        await sign_in_as(alex.page, live_sqlite, "client")
        await open_nav(alex.page, "My record", CLIENT_NAME)
        own = alex.page.get_by_role("region", name=SECTION_OWN)
        await own.get_by_label("Ethnic group").select_option(
            label="White: Gypsy or Irish Traveller"
        )
        await own.get_by_label("Are your day-to-day activities limited").select_option(
            label="Yes, a lot"
        )
        await own.get_by_role("button", name="Save my answers").click()
        await expect(own.get_by_role("status")).to_have_text("Your answers are saved.")
        await expect(own.get_by_role("button", name="Withdraw my answers")).to_be_visible()
        await axe_check(alex.page, "a client's equality questions on a phone")

        keyworker = await open_person(browser, contexts=contexts, viewport=DESKTOP)
        bodies: list[str] = []

        async def keep(response: Response) -> None:
            if "/api/" in response.url:
                # A redirect or an aborted request has no body.
                with contextlib.suppress(Exception):
                    bodies.append(await response.text())

        keyworker.page.on("response", keep)
        await sign_in_as(keyworker.page, live_sqlite, "peer_keyworker")
        await open_client(keyworker.page)
        panel = keyworker.page.get_by_role("region", name="Equality monitoring")
        await expect(panel).to_contain_text("never shown to you or any colleague")
        await panel.get_by_text("Record answers with the client").click()
        ethnic = panel.get_by_label("Ethnic group")
        await expect(ethnic).to_have_value("")  # nothing of Alex's is filled in
        await expect(panel.get_by_label("Sex", exact=True)).to_have_value("")
        await axe_check(keyworker.page, "the equality panel on a client's record")

        # Without the client's consent nothing is sent; with it, the answers go and the form
        # is cleared, so the colleague is not left looking at them.
        await panel.get_by_label("Sex", exact=True).select_option(label="Male")
        await panel.get_by_role("button", name="Record the answers").click()
        await expect(panel.get_by_role("alert")).to_contain_text("only once the client has agreed")
        await panel.get_by_label("The client has agreed").check()
        await panel.get_by_role("button", name="Record the answers").click()
        await expect(panel.get_by_role("status")).to_contain_text("not shown to staff")
        await expect(panel.get_by_label("Sex", exact=True)).to_have_value("")
        await keyworker.page.reload()
        await expect(keyworker.page.get_by_role("heading", level=1)).to_have_text(CLIENT_NAME)
        await expect(
            keyworker.page.get_by_role("region", name="Equality monitoring").get_by_label(
                "Sex", exact=True
            )
        ).to_have_value("")
        for body in bodies:
            assert "white_gypsy_irish_traveller" not in body
            assert "limited_a_lot" not in body

        # Alex sees what was recorded for him (it replaced his own answers).
        await alex.page.reload()
        own = alex.page.get_by_role("region", name=SECTION_OWN)
        await expect(own.get_by_label("Sex", exact=True)).to_have_value("male")
        await expect(own.get_by_label("Ethnic group")).to_have_value("")

        supervisor = await open_person(browser, contexts=contexts, viewport=DESKTOP)
        await sign_in_as(supervisor.page, live_sqlite, "supervisor")
        await open_nav(supervisor.page, "Reports", "Programme reports")
        groups = supervisor.page.get_by_role("region", name="By equality group")
        await groups.get_by_label("Group by").select_option(label="Sex")
        await groups.get_by_role("button", name="Show by group").click()
        table = groups.get_by_role("table")
        await expect(table).to_contain_text("Prefer not to say")
        await expect(table).to_contain_text("Referrals")
        await axe_check(supervisor.page, "the report by equality group")
        for person in (alex, keyworker, supervisor):
            person.problems.assert_clean()
    finally:
        for context in contexts:
            await context.close()
