"""Staff tools in a real browser: a supervisor checks the audit trail, searches a conversation
for a message she sent, and replaces her recovery codes from "Your account" (password and a
current authenticator code), seeing the new codes once. A wrong password is refused with the
server's own words and does not sign her out.
"""

from __future__ import annotations

import time
import uuid

import pyotp
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.support import PageProblems, open_nav, open_page, sign_in
from tests.conftest import DEMO_PASSWORD, ROLE_EMAILS, Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_supervisor_checks_the_audit_trail_searches_and_replaces_her_codes(
    browser: Browser, live_sqlite: Live
) -> None:
    problems = PageProblems()
    context, page = await open_page(browser, problems)
    try:
        await steps(page, live_sqlite, problems)
    finally:
        await context.close()
    problems.assert_clean()


async def steps(page: Page, live_sqlite: Live, problems: PageProblems) -> None:
    sofia = live_sqlite.as_role("supervisor")
    await sign_in(page, live_sqlite, ROLE_EMAILS["supervisor"], code=sofia.recovery_code())

    # The audit trail holds.
    await open_nav(page, "Audit")
    await page.get_by_role("button", name="Check the audit trail").click()
    await expect(page.get_by_text("The audit trail is intact:")).to_be_visible()

    # A message she sends is found by a search of its conversation.
    word = f"zebra{uuid.uuid4().hex[:6]}"
    await (
        page.get_by_role("navigation", name="Messaging")
        .get_by_role("link", name="Messages")
        .click()
    )
    await page.get_by_role("button", name="Team conversation").click()
    await page.get_by_label("Message", exact=True).fill(f"Notes for the {word} review")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(
        page.locator(".message-list").get_by_text(f"Notes for the {word} review")
    ).to_be_visible()
    await page.get_by_text("Search this conversation").click()
    await page.get_by_label("Words to find").fill(word)
    await page.get_by_role("search").get_by_role("button", name="Search").click()
    await expect(page.get_by_text(f"1 message matches “{word}”.")).to_be_visible()
    found = page.get_by_role("list", name="Matching messages")
    await expect(found.get_by_text(f"Notes for the {word} review")).to_be_visible()

    # New recovery codes: a wrong password is refused in the server's words, and she stays in.
    await page.get_by_role("link", name="Your account").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    secret = sofia.totp_secret
    assert secret is not None
    # The current time step was used up when she enrolled.
    code = pyotp.TOTP(secret).at(time.time() + 30)
    await page.get_by_label("Your password").fill("not-her-password")
    await page.get_by_label("Authentication code").fill("000000")
    await page.get_by_role("button", name="Replace my recovery codes").click()
    problem = sofia.http.post(
        "/api/v1/auth/mfa/recovery-codes", json={"password": "not-her-password", "code": "000000"}
    ).json()
    await expect(page.locator(".error-summary__detail")).to_have_text(problem["detail"])
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    refused = [e for e in problems.console_errors if "status of 401" in e]
    assert len(refused) == 1, problems.console_errors  # the browser logs the refusal; expected
    problems.console_errors.remove(refused[0])

    await page.get_by_label("Your password").fill(DEMO_PASSWORD)
    await page.get_by_label("Authentication code").fill(code)
    await page.get_by_role("button", name="Replace my recovery codes").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    codes = await page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
    assert len(codes) >= 8
    # Other tests sign her in with her codes: the old ones no longer work.
    sofia.tokens["recovery_codes"] = list(codes)
    await page.get_by_role("button", name="I have saved these").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    await expect(page.get_by_text("Your new recovery codes are saved.")).to_be_visible()
