"""Headless Chromium for the web client tests.

The async Playwright API on pytest-asyncio's session loop, not the sync API: while a sync
Playwright is running it marks its own event loop as the thread's running loop between calls, so
every async test that pytest-asyncio runs later in the session (tests/auth/sso/test_sso.py and
others)
fails with "Cannot run the event loop while another loop is running".

The browser is Debian's Chromium (never ``playwright install``). Without it the tests skip, unless
``CI=true``, where a missing browser fails the run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

# The helpers once defined here live in support.py; tests written against this module's names
# keep importing them from here.
from tests.browser.support import (
    CHROMIUM_CANDIDATES,
    MEDIA_ARGS,
    REPORT_CSP_VIOLATIONS,
    TIMEOUT_MS,
    PageProblems,
    chromium_executable,
    only_these_refusals,
    open_nav,
    open_page,
    sign_in,
)

__all__ = [
    "CHROMIUM_CANDIDATES",
    "REPORT_CSP_VIOLATIONS",
    "TIMEOUT_MS",
    "PageProblems",
    "chromium_executable",
    "only_these_refusals",
    "open_nav",
    "sign_in",
]


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


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def media_browser(browser: Browser) -> AsyncIterator[Browser]:
    """Chromium with fake camera and microphone (support.MEDIA_ARGS), launched by the shared
    browser's Playwright, for the meeting room and anything that opens it."""
    executable = chromium_executable()
    assert executable is not None  # the shared fixture skips (or fails) without one
    launched = await browser.browser_type.launch(
        executable_path=str(executable), headless=True, args=MEDIA_ARGS
    )
    try:
        yield launched
    finally:
        await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a fresh context (own sessionStorage, so no one is signed in).

    Fails the test at teardown if any page it showed logged a console error, broke the
    Content-Security-Policy or threw an uncaught error.
    """
    problems = PageProblems()
    context, opened = await open_page(browser, problems)
    try:
        yield opened
    finally:
        await context.close()
    problems.assert_clean()


@pytest_asyncio.fixture(loop_scope="session")
async def people(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    """The browser contexts a test opens (support.open_person's ``contexts``); closed afterwards."""
    contexts: list[BrowserContext] = []
    try:
        yield contexts
    finally:
        for context in contexts:
            await context.close()
