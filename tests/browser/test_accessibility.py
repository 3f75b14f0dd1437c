"""Every view of the web client, for every role that can open it, at a desktop (1366x768) and a
phone (390x844) size: axe-core finds no WCAG 2.2 A/AA violation (tests/browser/accessibility.py).

To scan a new view, add its route to ``STAFF_VIEWS`` (or the client's list) below, or call
``axe_check(page, "what is on screen")`` from the view's own browser test once it has rendered.

One Chromium (with fake camera and microphone, for the meeting room) and one context per person,
signed in over HTTP: the page restores the session from the refresh token, as after a reload.
As in the ``page`` fixture, a console error, a CSP violation or an uncaught error fails the test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.accessibility import SIZES, axe_check, scan_both_sizes
from tests.browser.support import (
    Person,
    only_these_refusals,
    open_person,
    schedule_session_for_alex,
    submit_sign_in,
)
from tests.conftest import (
    DEMO_PASSWORD,
    ROLE_EMAILS,
    Live,
    demo_team_id,
    live_server,
)
from tests.support.builders import client_id_of

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

DESKTOP = {"width": SIZES["desktop"][0], "height": SIZES["desktop"][1]}
CLIENT_NAME = "Alex Morgan"

# Views by role ("{client}" is a demo client of the role's caseload, "{team}" the demo team,
# "{user}" a demo person, "{record}" the demo's latest supervision record, which the supervisor
# holds and the other clinical roles attended, "{supervisee}" the demo therapist, "{trial}" an
# evaluation trial opened for the scan). The client's page holds its panels (referrals, intake,
# consent, care team, evaluation), so scanning it scans them.
COMMON_STAFF = [
    "/home",
    "/clients",
    "/clients/{client}",
    "/clients/{client}/plan",
    "/clients/{client}/measures/phq9",
    "/clients/{client}/journey",
    "/meetings",
    "/messages",
    "/alerts",
    "/wellbeing",
    "/supervision/records/{record}",
    "/account",
    "/notifications",
]
STAFF_VIEWS = {
    "peer_keyworker": COMMON_STAFF,
    "therapist": COMMON_STAFF,
    "employment_specialist": [*COMMON_STAFF, "/caseloads", "/employer-contacts"],
    "supervisor": [
        *COMMON_STAFF,
        "/caseloads",
        "/employer-contacts",
        "/supervision",
        "/supervision/people/{supervisee}",
        "/teams/{team}/fidelity",
        "/reports",
        "/evaluation",
        "/evaluation/{trial}",
        "/audit",
    ],
    "admin": [
        "/home",
        "/users",
        "/users/{user}",
        "/teams",
        "/teams/{team}",
        "/organisation",
        "/single-sign-on",
        "/reports",
        "/audit",
        "/jobs",
        "/system",
        "/wellbeing",
        "/messages",
        "/account",
        "/notifications",
    ],
}
CLIENT_VIEWS = [
    "/home",
    "/my-record",
    "/clients/{client}",
    "/clients/{client}/plan",
    "/clients/{client}/measures/phq9",
    "/messages",
    "/notifications",
    "/no-such-page",
]

# The page takes this refresh token as if it had signed in before a reload; only when it has none
# of its own, since each refresh replaces it (and a replaced one must not come back).
SEED_REFRESH_TOKEN = """
(token) => {
  if (!window.sessionStorage.getItem('teamwell.refresh_token')) {
    window.sessionStorage.setItem('teamwell.refresh_token', token);
  }
}
"""


@pytest.fixture(scope="module")
def live_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server of this module's own, in demo mode: each role signs in here for the first time
    (enrolling its second factor over HTTP), and the sign-in page shows the demo logins."""
    with live_server(
        tmp_path_factory, "live-accessibility", extra_env={"TEAMWELL_DEMO_MODE": "true"}
    ) as running:
        yield running


# A part of a view still fetching says "Loading…" (the client page's panels, the meetings list):
# axe checks only what is there, so the scan waits for every part to have arrived.
NOTHING_LOADING = """
() => ![...document.querySelectorAll('#main p, #main [role="status"]')].some(
  (el) => el.checkVisibility() && /^Loading/.test(el.textContent.trim()))
"""


async def settled(page: Page) -> None:
    """The view has rendered: a main heading, nothing loading."""
    await expect(page.locator("h1").first).to_be_visible()
    await expect(page.locator("#main[aria-busy='true'], #main .loading")).to_have_count(0)
    await page.wait_for_function(NOTHING_LOADING)


# The forms and histories a view keeps folded away (taking a referral, recording consent, adding
# to the care team, a meeting's attendance): opened, as a person would, so they are scanned too.
OPEN_EVERY_FOLD = """
() => {
  const closed = [...document.querySelectorAll('#main details:not([open])')];
  closed.forEach((d) => { d.open = true; });
  return closed.length;
}
"""


async def scan_views(live: Live, person: Person, role: str, views: list[str], ids: dict[str, str]):
    page = person.page
    for view in views:
        path = view.format(**ids)
        await page.goto(f"{live.base_url}/#{path}")
        await expect(page).to_have_url(re.compile(re.escape(f"#{path}") + "$"))
        await settled(page)
        await scan_both_sizes(page, f"{view} as {role}")
        if await page.evaluate(OPEN_EVERY_FOLD):
            await settled(page)
            await scan_both_sizes(page, f"{view} as {role}, every fold open")


def refresh_token_for(live: Live, role: str) -> str:
    """A refresh token of a sign-in of its own: the demo person's HTTP session (which enrolled
    the second factor) gives up one of its recovery codes for it."""
    codes = live.as_role(role).tokens.get("recovery_codes", [])
    with live.client() as http:
        challenge = http.post(
            "/api/v1/auth/login", json={"email": ROLE_EMAILS[role], "password": DEMO_PASSWORD}
        )
        assert challenge.status_code == 200, challenge.text
        tokens = challenge.json()
        if tokens.get("mfa_required"):
            verified = http.post(
                "/api/v1/auth/login/mfa",
                json={"mfa_token": tokens["mfa_token"], "code": codes.pop()},
            )
            assert verified.status_code == 200, verified.text
            tokens = verified.json()
    return str(tokens["refresh_token"])


async def reopened(browser: Browser, live: Live, role: str) -> Person:
    """Someone of ``role`` at a desktop size, signed in as after a reload (SEED_REFRESH_TOKEN)."""
    seed = f"({SEED_REFRESH_TOKEN})({refresh_token_for(live, role)!r})"
    return await open_person(browser, seed, viewport=DESKTOP)


@pytest.mark.parametrize("role", list(STAFF_VIEWS))
async def test_every_staff_view_has_no_violations(
    media_browser: Browser, live_demo: Live, role: str
) -> None:
    session = live_demo.as_role(role)
    ids = {"client": "", "team": "", "user": "", "record": "", "supervisee": "", "trial": ""}
    if "/supervision/records/{record}" in STAFF_VIEWS[role]:
        records = session.get("/api/v1/supervision/records").json()["items"]
        ids["record"] = str(records[0]["id"])
    if role == "supervisor":
        ids["supervisee"] = live_demo.as_role("therapist").user["id"]
    if "/clients" in STAFF_VIEWS[role]:
        clients = session.get("/api/v1/clients", params={"limit": 100}).json()["items"]
        ids["client"] = str(clients[0]["id"])
    if role in ("supervisor", "admin"):
        ids["team"] = demo_team_id(session)
    if role == "admin":
        people = session.get("/api/v1/users", params={"limit": 100}).json()["items"]
        ids["user"] = next(str(p["id"]) for p in people if p["email"] == ROLE_EMAILS["therapist"])
    if role == "supervisor":
        # Open, so the trial's page offers to close it; closed again after the scan, so it takes
        # in none of the other tests' clients.
        opened = session.post(
            "/api/v1/evaluation/trials", json={"name": "Scan", "stratify_by": "area_cluster"}
        )
        assert opened.status_code == 201, opened.text
        ids["trial"] = str(opened.json()["id"])
    person = await reopened(media_browser, live_demo, role)
    try:
        await scan_views(live_demo, person, role, STAFF_VIEWS[role], ids)
    finally:
        await person.context.close()
        if ids["trial"]:
            closed = session.post(f"/api/v1/evaluation/trials/{ids['trial']}/close")
            assert closed.status_code == 200, closed.text
    # The demo organisation has no single sign-on provider: its settings page asks, is told 404
    # (which Chromium logs), and offers to set one up.
    refusals = [("404", "/api/v1/auth/sso/organisations/")] if role == "admin" else []
    only_these_refusals(person.problems, refusals)


async def test_every_client_view_and_the_meeting_room_have_no_violations(
    media_browser: Browser, live_demo: Live
) -> None:
    alex = client_id_of(live_demo, CLIENT_NAME)
    title = f"Check-in {uuid.uuid4().hex[:6]}"
    meeting = f"/meetings/{schedule_session_for_alex(live_demo, title)}"

    client = await reopened(media_browser, live_demo, "client")
    staff = await reopened(media_browser, live_demo, "peer_keyworker")
    try:
        await scan_views(live_demo, client, "client", CLIENT_VIEWS, {"client": alex})

        alex_page, priya = client.page, staff.page
        await alex_page.goto(f"{live_demo.base_url}/#{meeting}")
        await expect(alex_page.get_by_text("Your camera and microphone are ready")).to_be_visible()
        await scan_both_sizes(alex_page, "the meeting's pre-join as client")
        await alex_page.get_by_role("button", name="Join", exact=True).click()
        await expect(
            alex_page.get_by_role("heading", name="Waiting for your care team to let you in")
        ).to_be_visible()
        await scan_both_sizes(alex_page, "the meeting lobby as client")

        await priya.goto(f"{live_demo.base_url}/#{meeting}")
        await expect(priya.get_by_text("Your camera and microphone are ready")).to_be_visible()
        await priya.get_by_role("button", name="Join", exact=True).click()
        waiting = (
            priya.get_by_role("region", name="Waiting to join")
            .get_by_role("listitem")
            .filter(has_text=CLIENT_NAME)
        )
        await expect(waiting).to_be_visible()
        await scan_both_sizes(priya, "the meeting room with someone waiting as keyworker")
        await waiting.get_by_role("button", name="Admit").click()
        await expect(alex_page.get_by_role("figure", name=re.compile("Priya Shah"))).to_be_visible()
        await scan_both_sizes(alex_page, "the meeting room in a call as client")
        await scan_both_sizes(priya, "the meeting room in a call as keyworker")
    finally:
        await client.context.close()
        await staff.context.close()
    client.problems.assert_clean()
    staff.problems.assert_clean()


async def test_pages_before_sign_in_have_no_violations(
    media_browser: Browser, live_demo: Live
) -> None:
    keyworker = live_demo.as_role("peer_keyworker")  # enrolled: its sign-in asks for a code
    bea = client_id_of(live_demo, "Bea Collins")
    made = keyworker.post(f"/api/v1/clients/{bea}/measure-links", json={"instrument": "phq9"})
    assert made.status_code == 201, made.text
    questionnaire = made.json()["link"].split("#", 1)[1]
    newcomer = f"new.{uuid.uuid4().hex[:8]}@tyneside.example"
    live_demo.new_account(newcomer, "Sam Newcomer", "therapist")
    invited = f"invited.{uuid.uuid4().hex[:8]}@tyneside.example"
    made = live_demo.as_role("admin").post(
        "/api/v1/invitations",
        json={"email": invited, "role": "therapist", "display_name": "Robin Invited"},
    )
    assert made.status_code == 201, made.text
    invitation = f"/invite/{live_demo.invitation_token(invited)}"

    person = await open_person(media_browser, viewport=DESKTOP)
    page = person.page
    try:
        await page.goto(f"{live_demo.base_url}/#{questionnaire}")
        await expect(page.get_by_role("heading", level=1)).to_contain_text("PHQ-9")
        await scan_both_sizes(page, "the questionnaire link")

        await page.goto(f"{live_demo.base_url}/#/no-such-page")
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await scan_both_sizes(page, "not found, signed out")

        await page.goto(f"{live_demo.base_url}/#{invitation}")
        await expect(page.get_by_label("Password", exact=True)).to_be_visible()
        await settled(page)
        await scan_both_sizes(page, "an invitation")

        await page.goto(f"{live_demo.base_url}/#/sso/failed/not-configured")
        await expect(page.get_by_role("heading", level=1)).to_have_text("We could not sign you in")
        await settled(page)
        await scan_both_sizes(page, "a failed single sign-on")

        await page.goto(f"{live_demo.base_url}/#/login")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        await scan_both_sizes(page, "sign-in")

        await submit_sign_in(page, ROLE_EMAILS["peer_keyworker"])
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Check your authenticator app"
        )
        await scan_both_sizes(page, "the second-factor step")
    finally:
        await person.context.close()
    person.problems.assert_clean()

    person = await open_person(media_browser, viewport=DESKTOP)
    page = person.page
    try:
        await page.goto(f"{live_demo.base_url}/#/login")
        await submit_sign_in(page, newcomer)
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Set up two-step verification"
        )
        await scan_both_sizes(page, "two-step verification set-up")
    finally:
        await person.context.close()
    person.problems.assert_clean()


# ------------------------------------------------------------------------------------------------
# The look: a client's day on a phone, and the first screens on a desktop.

PHONE = SIZES["phone"]
# A PHQ-9 of exactly the caseness threshold (10): its point sits on the threshold's line, where
# the line's label used to be drawn over it. Item 9 is 0, so no alert is raised.
PHQ9_ON_THE_LINE = {"1": 2, "2": 2, "3": 2, "4": 2, "5": 1, "6": 1, "7": 0, "8": 0, "9": 0}

PHQ9_DEF_CODE = "phq9"
DRAW_WITH_LATEST_ON_THE_LINE = """
async (code) => {
  const measures = await import('/static/measures.js');
  const defs = await measures.instruments();
  const def = defs.find((d) => d.code === code);
  const day = 24 * 3600 * 1000;
  const now = Date.now();
  const points = [16, 10, 10, 10].map((total, i) => ({
    t: now - (3 - i) * 4 * day,
    total,
    response: { band: null, completed_at: new Date(now - (3 - i) * 4 * day).toISOString() },
  }));
  const svg = measures.drawChart([{ def, points }], [def], 358, 't', 'd', { forClient: true });
  document.body.append(svg);
  const label = svg.querySelector('.chart__threshold-label').getBoundingClientRect();
  const hits = [...svg.querySelectorAll('.chart__marker')].map((m) => m.getBoundingClientRect())
    .filter((r) => r.left < label.right && label.left < r.right
      && r.top < label.bottom && label.top < r.bottom)
    .map((r) => `marker at ${Math.round(r.left)},${Math.round(r.top)}`);
  svg.remove();
  return hits;
}
"""

OVERLAPS = """
([a, b]) => {
  const r = a.getBoundingClientRect();
  const s = b.getBoundingClientRect();
  return r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom;
}
"""


async def test_a_clients_record_on_a_phone(media_browser: Browser, live_demo: Live) -> None:
    keyworker = live_demo.as_role("peer_keyworker")
    alex = client_id_of(live_demo, CLIENT_NAME)
    scored = keyworker.post(
        f"/api/v1/clients/{alex}/measures",
        json={"instrument": "phq9", "answers": PHQ9_ON_THE_LINE},
    )
    assert scored.status_code == 201, scored.text
    assert scored.json()["total"] == 10

    client = await reopened(media_browser, live_demo, "client")
    page = client.page
    try:
        await page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
        await page.goto(f"{live_demo.base_url}/#/my-record")
        await expect(page.get_by_role("heading", level=1)).to_have_text(CLIENT_NAME)

        # The header takes under a sixth of the screen: short rows, the main navigation on one.
        header = await page.locator(".site-header").bounding_box()
        assert header is not None and header["height"] < PHONE[1] / 6, header
        # Nothing stray in it (a left-out link once showed as the text "null").
        assert "null" not in (await page.locator(".site-header").inner_text()).split()
        tops = await page.locator(".site-header .nav .nav__link:visible").evaluate_all(
            "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
        )
        # "Home", "My record" and "My documents" side by side.
        assert len(tops) == 3 and len(set(tops)) == 1, tops
        # Three links fit: a client's header has no menu to open.
        await expect(page.get_by_role("button", name="Menu", exact=True)).to_be_hidden()

        # The care team fits the screen, and its scroll container takes keyboard focus.
        care_team = page.get_by_role("region", name="Care team").locator(".table-wrap")
        assert await care_team.get_attribute("tabindex") == "0"
        widths = await care_team.evaluate("el => [el.scrollWidth, el.clientWidth]")
        assert widths[0] <= widths[1], widths

        # The chart speaks to the client: no clinical "caseness", and the line's label is not
        # drawn over the score sitting on that line.
        chart = page.locator(".chart__svg")
        await expect(chart).to_be_visible()
        await expect(page.locator(".chart")).not_to_contain_text(re.compile("caseness", re.I))
        label = chart.locator(".chart__threshold-label").first
        await expect(label).to_contain_text("PHQ-9")
        for marker in await chart.locator(".chart__marker").all():
            handles = [await label.element_handle(), await marker.element_handle()]
            assert not await page.evaluate(OVERLAPS, handles), "label drawn over a score"

        # Where scores sit on the line all along it, its label still clears them: the page's
        # own chart module, drawn with a fortnight of scores ending on the threshold.
        overlapping = await page.evaluate(DRAW_WITH_LATEST_ON_THE_LINE, PHQ9_DEF_CODE)
        assert overlapping == [], overlapping

        # The staff-facing footer is not shown to clients.
        await expect(page.locator(".site-footer")).to_be_hidden()
    finally:
        await client.context.close()
    client.problems.assert_clean()


async def test_a_staff_header_on_a_phone_folds_behind_a_menu(
    media_browser: Browser, live_demo: Live
) -> None:
    """Sofia, on a phone: a short header (the brand, Menu, messages and alerts); the menu opens
    and closes from the keyboard with focus kept on its button, and a link in it navigates and
    folds it again. At a desktop's width there is no menu: everything is in view."""
    person = await reopened(media_browser, live_demo, "supervisor")
    page = person.page
    try:
        await page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
        await page.goto(f"{live_demo.base_url}/#/home")
        await settled(page)
        header = page.locator(".site-header")
        menu = page.get_by_role("button", name="Menu", exact=True)
        main = page.get_by_role("navigation", name="Main")

        # Closed: one short row, the main navigation and the account out of the way.
        await expect(menu).to_have_attribute("aria-expanded", "false")
        await expect(main).to_be_hidden()
        await expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
        await expect(page.get_by_role("navigation", name="Messaging")).to_be_visible()
        box = await header.bounding_box()
        assert box is not None and box["height"] < PHONE[1] / 12, box
        controls = (await menu.get_attribute("aria-controls") or "").split()
        assert controls == ["primary-nav", "account"], controls

        # Opened from the keyboard: the links show, focus stays on the button.
        await menu.focus()
        await page.keyboard.press("Enter")
        await expect(menu).to_have_attribute("aria-expanded", "true")
        await expect(main.get_by_role("link", name="Supervision")).to_be_visible()
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        assert await menu.evaluate("el => el === document.activeElement")
        await axe_check(page, "the staff header's menu opened on a phone")

        # Escape folds it and gives focus back to the button; Space opens it again.
        await main.get_by_role("link", name="Clients").focus()
        await page.keyboard.press("Escape")
        await expect(menu).to_have_attribute("aria-expanded", "false")
        await expect(main).to_be_hidden()
        assert await menu.evaluate("el => el === document.activeElement")
        await page.keyboard.press("Space")
        await expect(menu).to_have_attribute("aria-expanded", "true")

        # A link navigates, and the menu folds again.
        await main.get_by_role("link", name="Supervision").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Supervision")
        await expect(menu).to_have_attribute("aria-expanded", "false")
        await expect(main).to_be_hidden()
        box = await header.bounding_box()
        assert box is not None and box["height"] < PHONE[1] / 12, box

        # On a desktop: no menu button, every link in view on one row.
        await page.set_viewport_size({"width": 1366, "height": 768})
        await expect(menu).to_be_hidden()
        await expect(main.get_by_role("link", name="Supervision")).to_be_visible()
        tops = await page.locator(".site-header .nav__link:visible").evaluate_all(
            "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
        )
        assert len(tops) >= 5 and len(set(tops)) == 1, tops
    finally:
        await person.context.close()
    person.problems.assert_clean()


async def test_a_client_joins_a_session_on_a_phone(media_browser: Browser, live_demo: Live) -> None:
    title = f"Phone check-in {uuid.uuid4().hex[:6]}"
    meeting = f"/meetings/{schedule_session_for_alex(live_demo, title)}"

    client = await reopened(media_browser, live_demo, "client")
    staff = await reopened(media_browser, live_demo, "peer_keyworker")
    alex_page, priya = client.page, staff.page
    try:
        await alex_page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
        await alex_page.goto(f"{live_demo.base_url}/#{meeting}")
        await expect(alex_page.get_by_text("Your camera and microphone are ready")).to_be_visible()
        join = alex_page.get_by_role("button", name="Join", exact=True)
        await join.scroll_into_view_if_needed()
        await join.click()
        await expect(
            alex_page.get_by_role("heading", name="Waiting for your care team to let you in")
        ).to_be_visible()
        # The waiting room opens at the top, the whole picture in view.
        assert await alex_page.evaluate("window.scrollY") == 0

        await priya.goto(f"{live_demo.base_url}/#{meeting}")
        await priya.get_by_role("button", name="Join", exact=True).click()
        waiting = (
            priya.get_by_role("region", name="Waiting to join")
            .get_by_role("listitem")
            .filter(has_text=CLIENT_NAME)
        )
        await waiting.get_by_role("button", name="Admit").click()

        await expect(alex_page.get_by_role("figure", name="Priya Shah")).to_be_visible()
        assert await alex_page.evaluate("window.scrollY") == 0
        # The own picture's name stays on one line inside the small picture, "(you)" kept.
        me = alex_page.get_by_role("figure", name=f"{CLIENT_NAME} (you)")
        await expect(me).to_be_visible()
        name = me.locator(".tile__name")
        await expect(name).to_contain_text("(you)")
        tile_box = await me.bounding_box()
        name_box = await name.bounding_box()
        assert tile_box is not None and name_box is not None
        line = await name.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)")
        assert name_box["height"] < 2 * line, (name_box, line)  # one line, not wrapped
        assert name_box["x"] >= tile_box["x"] and name_box["y"] >= tile_box["y"]
        assert name_box["x"] + name_box["width"] <= tile_box["x"] + tile_box["width"] + 0.5
        assert name_box["y"] + name_box["height"] <= tile_box["y"] + tile_box["height"] + 0.5
    finally:
        await client.context.close()
        await staff.context.close()
    client.problems.assert_clean()
    staff.problems.assert_clean()


async def test_first_screens_on_a_desktop(media_browser: Browser, live_demo: Live) -> None:
    person = await open_person(media_browser, viewport=DESKTOP)
    page = person.page
    try:
        await page.goto(f"{live_demo.base_url}/")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        about = page.get_by_role("region", name="What Teamwell is")
        await expect(about).to_contain_text("mental health")
        # In the demo: the demo logins, never their password.
        demo = about.get_by_role("region", name="Trying the demo?")
        for email in ROLE_EMAILS.values():
            await expect(demo).to_contain_text(email)
        await expect(demo).to_contain_text("./scripts/demo")
        assert DEMO_PASSWORD not in await page.content()
        # Beside the sign-in form, not under it.
        form = await page.locator(".auth-card").bounding_box()
        beside = await about.bounding_box()
        assert form is not None and beside is not None
        assert beside["x"] >= form["x"] + form["width"], (form, beside)
    finally:
        await person.context.close()
    person.problems.assert_clean()

    for role in ("supervisor", "admin"):
        person = await reopened(media_browser, live_demo, role)
        page = person.page
        try:
            await page.goto(f"{live_demo.base_url}/#/wellbeing")
            await settled(page)
            links = page.locator(".site-header .nav__link:visible")
            tops = await links.evaluate_all(
                "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
            )
            assert len(tops) >= 5 and len(set(tops)) == 1, (role, tops)
        finally:
            await person.context.close()
        person.problems.assert_clean()
