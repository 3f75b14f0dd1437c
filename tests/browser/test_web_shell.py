"""The web client in headless Chromium against a real server: sign-in (with and without the
second factor), first-time MFA enrolment, and what each role lands on.

Every test's page comes from the ``page`` fixture (tests/browser/conftest.py): a console error,
a Content-Security-Policy violation or an uncaught error on any page it visits fails the test.
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Page, expect

from app.config import Settings
from tests.browser.conftest import open_nav
from tests.browser.support import submit_sign_in
from tests.conftest import (
    DEMO_CLIENT_EMAIL,
    DEMO_CLIENT_NAMES,
    DEMO_PASSWORD,
    ROLE_EMAILS,
    Live,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SCREENSHOTS = Path(tempfile.gettempdir()) / "teamwell-browser"


def next_step_code(secret: str) -> str:
    """A code the server accepts from someone who enrolled moments ago.

    Enrolment used the current 30 s step, and the server refuses a step it has already seen
    (``mfa_last_step``). It also accepts one step either side of its clock (``_verify_totp`` in
    auth/service.py), so the next step's code is accepted now and for the next minute.
    """
    return pyotp.TOTP(secret).at(time.time() + 30)


async def open_sign_in(page: Page, live: Live) -> None:
    response = await page.goto(f"{live.base_url}/")
    assert response is not None and response.ok
    # The "no CSP violations" checks mean something only if the policy is in force.
    assert "script-src 'self'" in response.headers["content-security-policy"]
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


async def submit_password(page: Page, live: Live, email: str, password: str) -> None:
    await open_sign_in(page, live)
    await submit_sign_in(page, email, password)


async def sign_in_with_code(page: Page, live: Live, email: str, secret: str) -> None:
    await submit_password(page, live, email, DEMO_PASSWORD)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your authenticator app")
    await page.get_by_label("Authentication code").fill(next_step_code(secret))
    await page.get_by_role("button", name="Verify").click()


async def test_therapist_signs_in_with_a_code_and_opens_a_client(
    page: Page, live_sqlite: Live
) -> None:
    email = ROLE_EMAILS["therapist"]
    secret = live_sqlite.as_role("therapist").totp_secret  # enrols over HTTP on first use
    assert secret

    await sign_in_with_code(page, live_sqlite, email, secret)

    await expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    await open_nav(page, "Clients")
    clients = page.get_by_role("table", name="Clients")
    await expect(clients).to_be_visible()
    names = clients.get_by_role("rowheader")
    await expect(names.first).to_be_visible()
    shown = [text.strip() for text in await names.all_inner_texts()]
    # The table renders in one go: once a row shows, all of them do.
    assert set(DEMO_CLIENT_NAMES) <= set(shown), shown
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "client-list.png", full_page=True)

    chosen = shown[0]
    await clients.get_by_role("link", name=chosen, exact=True).click()

    await expect(page).to_have_url(re.compile(r"#/clients/[^/]+$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(chosen)
    sections = page.get_by_role("heading", level=2)
    panels = [
        "Documents",
        "Benefits",
        "Care team",
        "Referrals",
        "Consent",
        "Equality monitoring",
        "Evaluation",
        "Record actions",
    ]
    await expect(sections).to_have_text(panels)
    for name in panels:
        await expect(page.get_by_role("region", name=name)).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "client-summary.png", full_page=True)


async def test_new_staff_member_enrols_in_two_step_verification(
    page: Page, live_sqlite: Live
) -> None:
    email = f"new.therapist.{uuid.uuid4().hex[:8]}@tyneside.example"
    password = "a-long-first-password-" + uuid.uuid4().hex[:8]
    live_sqlite.new_account(email, "Noor Haddad", "therapist", password=password)

    await submit_password(page, live_sqlite, email, password)

    await expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-step verification")
    add_step = page.get_by_role("listitem").filter(
        has=page.get_by_role("heading", name="Add Teamwell to your authenticator app")
    )
    shown_secret = await add_step.locator("code").first.inner_text()
    secret = re.sub(r"\s+", "", shown_secret)
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), shown_secret
    await page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Verify").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem")
    await expect(codes).to_have_count(Settings.model_fields["recovery_code_count"].default)
    # Until the codes are acknowledged the person cannot go anywhere else.
    await expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    await page.get_by_role("button", name="I have saved these").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    await expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
        ["Home", "Clients", "Meetings", "How are you?"]
    )
    await open_nav(page, "Clients")
    await expect(page.get_by_role("table", name="Clients")).to_be_visible()


async def test_client_sees_their_own_record(page: Page, live_sqlite: Live) -> None:
    await submit_password(page, live_sqlite, DEMO_CLIENT_EMAIL, DEMO_PASSWORD)

    await expect(page).to_have_url(re.compile(r"#/home$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    await expect(links).to_have_text(["Home", "My record", "My documents"])
    await expect(links.first).to_have_attribute("aria-current", "page")
    await open_nav(page, "My record", "Alex Morgan")
    await expect(page).to_have_url(re.compile(r"#/my-record$"))
    # A client's own record offers their data to download, not staff's record actions.
    await expect(page.get_by_role("heading", level=2)).to_have_text(
        [
            "Benefits",
            "Care team",
            "Referrals",
            "Consent",
            "About you (equality monitoring)",
            "Your data",
        ]
    )


async def test_admin_sees_administration_and_no_client_list(page: Page, live_sqlite: Live) -> None:
    secret = live_sqlite.as_role("admin").totp_secret
    assert secret

    await sign_in_with_code(page, live_sqlite, ROLE_EMAILS["admin"], secret)

    await expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    await expect(links).to_have_text(
        [
            "Home",
            "Users",
            "Teams",
            "Organisation",
            "Reports",
            "Audit",
            "Jobs",
            "System",
            "How are you?",
        ]
    )
    await open_nav(page, "Users")
    await expect(page.get_by_role("link", name="Clients")).to_have_count(0)
