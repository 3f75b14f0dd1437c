"""Headless Chromium for the web client tests.

The async Playwright API on pytest-asyncio's session loop, not the sync API: while a sync
Playwright is running it marks its own event loop as the thread's running loop between calls, so
every async test that pytest-asyncio runs later in the session (tests/test_sso.py and others)
fails with "Cannot run the event loop while another loop is running".

The browser is Debian's Chromium (never ``playwright install``). Without it the tests skip, unless
``CI=true``, where a missing browser fails the run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    async_playwright,
    expect,
)

# The real binary first: /usr/bin/chromium is a shell wrapper that may print a harmless warning.
from tests.conftest import DEMO_PASSWORD, Live

CHROMIUM_CANDIDATES = (Path("/usr/lib/chromium/chromium"), Path("/usr/bin/chromium"))
TIMEOUT_MS = 10_000

# Runs in every page before its own scripts. Playwright injects it through the DevTools
# protocol, so the page's Content-Security-Policy does not apply to it.
REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (event) => {
  window.__teamwellCspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || 'inline'} ` +
    `(${event.sourceFile || 'document'}:${event.lineNumber})`);
});
"""


def chromium_executable() -> Path | None:
    return next((path for path in CHROMIUM_CANDIDATES if path.exists()), None)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_executable()
    if executable is None:
        message = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(executable), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class PageProblems:
    """Everything a page complained about: console errors, CSP violations, uncaught errors."""

    console_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        if "Content Security Policy" in message.text:
            self.csp_violations.append(f"console: {message.text} ({where})")
        elif message.type == "error":
            self.console_errors.append(f"{message.text} ({where})")

    def on_page_error(self, error: Error) -> None:
        self.page_errors.append(f"{error.name}: {error.message}")

    def on_csp_violation(self, description: str) -> None:
        self.csp_violations.append(f"securitypolicyviolation: {description}")

    def assert_clean(self) -> None:
        found = [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"CSP violation: {text}" for text in self.csp_violations),
            *(f"uncaught: {text}" for text in self.page_errors),
        ]
        assert not found, "The page reported problems:\n" + "\n".join(found)


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a fresh context (own sessionStorage, so no one is signed in).

    Fails the test at teardown if any page it showed logged a console error, broke the
    Content-Security-Policy or threw an uncaught error.
    """
    problems = PageProblems()
    context: BrowserContext = await browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    await context.expose_function("__teamwellCspViolation", problems.on_csp_violation)
    await context.add_init_script(REPORT_CSP_VIOLATIONS)
    opened = await context.new_page()
    opened.on("console", problems.on_console)
    opened.on("pageerror", problems.on_page_error)
    try:
        yield opened
    finally:
        await context.close()
    problems.assert_clean()


async def sign_in(
    page: Page,
    live: Live,
    email: str,
    *,
    code: str | None = None,
    home: str = "Today",
    csp_contains: str | None = None,
) -> None:
    """Sign in through the sign-in page; with ``code``, pass the authenticator step too.

    ``csp_contains`` names a directive the page's Content-Security-Policy must carry (each test
    checks the one its feature depends on). Everyone lands on the home page (``home``: its
    heading); tests that start elsewhere go there with :func:`open_nav`.
    """
    response = await page.goto(f"{live.base_url}/")
    assert response is not None and response.ok
    if csp_contains is not None:
        assert csp_contains in response.headers["content-security-policy"]
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    if code is not None:
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Check your authenticator app"
        )
        await page.get_by_label("Authentication code").fill(code)
        await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(home)


async def open_nav(page: Page, link: str, heading: str | None = None) -> None:
    """Follow a link of the main navigation and wait for its page (``heading``: its h1, when
    not the link's own text). On a phone, staff open the menu it folds behind first."""
    menu = page.get_by_role("button", name="Menu", exact=True)
    if await menu.is_visible() and await menu.get_attribute("aria-expanded") == "false":
        await menu.click()
    main = page.get_by_role("navigation", name="Main")
    await main.get_by_role("link", name=link, exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading or link)
