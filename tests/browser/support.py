"""What the browser tests share: a watched page per person, signing in, the flags of a Chromium
with fake camera and microphone, and the steps many tests take (finding a client, a session with
Alex starting now). The fixtures built on them are in conftest.py, which also re-exports the
names it used to define here, so ``from tests.browser.conftest import sign_in`` keeps working.

Every page opened here reports what it complained about to a :class:`PageProblems`: a console
error, a Content-Security-Policy violation or an uncaught error fails the test that opened it
(``problems.assert_clean()``, or the ``page`` fixture at teardown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    expect,
)

from tests.conftest import DEMO_PASSWORD, ROLE_EMAILS, Live
from tests.support.builders import arrange_meeting, client_id_of

# The real binary first: /usr/bin/chromium is a shell wrapper that may print a harmless warning.
CHROMIUM_CANDIDATES = (Path("/usr/lib/chromium/chromium"), Path("/usr/bin/chromium"))
TIMEOUT_MS = 10_000

# Fake camera and microphone devices (a test pattern and a beep) and no permission prompts. The
# test servers hand out no STUN or TURN servers, so peer connections meet on host candidates:
# ``--allow-loopback-in-peer-connection`` lets Chromium offer loopback ones as well, for machines
# whose only interface is ``lo``. These need a browser of their own (the ``media_browser``
# fixture); the shared one has none.
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]
# The directive the meeting room depends on: its videos play from blob: URLs.
MEDIA_CSP = "media-src 'self' blob:"

# Runs in every page before its own scripts. Playwright injects it through the DevTools
# protocol, so the page's Content-Security-Policy does not apply to it.
REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (event) => {
  window.__teamwellCspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || 'inline'} ` +
    `(${event.sourceFile || 'document'}:${event.lineNumber})`);
});
"""

CLIENT_NAME = "Alex Morgan"  # the demo client (DEMO_CLIENT_EMAIL)


def chromium_executable() -> Path | None:
    return next((path for path in CHROMIUM_CANDIDATES if path.exists()), None)


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


async def open_page(
    browser: Browser, problems: PageProblems, *scripts: str, **options: Any
) -> tuple[BrowserContext, Page]:
    """A page in a fresh context of its own (so no one is signed in), in British English and
    with the tests' timeout, telling ``problems`` what it complains about.

    ``scripts`` run in every page of the context before its own (test instrumentation, which
    the page's Content-Security-Policy does not govern); ``options`` go to
    ``Browser.new_context`` (a viewport, a phone's touch screen, downloads). The caller closes
    the context.
    """
    context = await browser.new_context(locale="en-GB", **options)
    context.set_default_timeout(TIMEOUT_MS)
    await context.expose_function("__teamwellCspViolation", problems.on_csp_violation)
    await context.add_init_script(REPORT_CSP_VIOLATIONS)
    for script in scripts:
        await context.add_init_script(script)
    page = await context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    return context, page


@dataclass
class Person:
    """Someone at a browser of their own: their page, what it complained about, its context."""

    page: Page
    problems: PageProblems
    context: BrowserContext


async def open_person(
    browser: Browser,
    *scripts: str,
    contexts: list[BrowserContext] | None = None,
    **options: Any,
) -> Person:
    """:func:`open_page` with problems of its own; its context is added to ``contexts`` (for the
    test to close) when given."""
    problems = PageProblems()
    context, page = await open_page(browser, problems, *scripts, **options)
    if contexts is not None:
        contexts.append(context)
    return Person(page, problems, context)


async def submit_sign_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
    """On the sign-in page: the email and password entered, and "Sign in" pressed."""
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in", exact=True).click()


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
    await submit_sign_in(page, email)
    if code is not None:
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Check your authenticator app"
        )
        await page.get_by_label("Authentication code").fill(code)
        await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(home)


def recovery_code(live: Live, role: str) -> str:
    """One of the recovery codes the demo person of ``role`` got at enrolment, used up: a TOTP
    step is accepted once per person, and other tests sign in with the next step's code."""
    code: str = live.as_role(role).recovery_code()
    return code


async def sign_in_as(page: Page, live: Live, role: str, **options: Any) -> None:
    """:func:`sign_in` as the demo person of ``role``: staff pass the second step with a
    recovery code, the client (who has none) with the password alone."""
    code = None if role == "client" else recovery_code(live, role)
    await sign_in(page, live, ROLE_EMAILS[role], code=code, **options)


async def open_nav(page: Page, link: str, heading: str | None = None) -> None:
    """Follow a link of the main navigation and wait for its page (``heading``: its h1, when
    not the link's own text). On a phone, staff open the menu it folds behind first."""
    menu = page.get_by_role("button", name="Menu", exact=True)
    if await menu.is_visible() and await menu.get_attribute("aria-expanded") == "false":
        await menu.click()
    main = page.get_by_role("navigation", name="Main")
    await main.get_by_role("link", name=link, exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading or link)


async def open_client(page: Page, name: str = CLIENT_NAME) -> None:
    """From the Clients page to a client's record, as staff find it."""
    await open_nav(page, "Clients")
    await (
        page.get_by_role("table", name="Clients").get_by_role("link", name=name, exact=True).click()
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)


def meeting_for_alex(
    live: Live,
    title: str,
    *,
    kind: str = "client_session",
    starts: datetime | None = None,
    ends: datetime | None = None,
) -> str:
    """A meeting about Alex arranged by the keyworker over the API, no one else invited; its
    id. By default a client session from a minute ago to an hour from now."""
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, CLIENT_NAME)
    now = datetime.now(UTC)
    starts = starts or now - timedelta(minutes=1)
    ends = ends or now + timedelta(hours=1)
    made = arrange_meeting(
        keyworker,
        kind=kind,
        title=title,
        client_id=alex,
        starts_at=starts,
        ends_at=ends,
        invitee_ids=[],
    )
    return str(made["id"])


def schedule_session_for_alex(live: Live, title: str) -> str:
    """A client session for Alex starting now, arranged by the keyworker over the API."""
    return meeting_for_alex(live, title)


def only_these_refusals(problems: PageProblems, refusals: list[tuple[str, str]]) -> None:
    """Chromium logs each refused request as an error: take out those the test provoked, in
    order, and fail on anything else."""
    for status, where in refusals:
        found = [e for e in problems.console_errors if f"status of {status}" in e and where in e]
        assert found, (status, where, problems.console_errors)
        problems.console_errors.remove(found[0])
    problems.assert_clean()
