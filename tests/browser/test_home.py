"""Everyone lands on their home page ("Today") after signing in, with their own day on it: the
keyworker today's session with Join into the meeting room, the therapist an urgent risk alert
the keyworker does not see, the supervisor their supervisees' talk requests, the admin what
they administer and nothing clinical, and Alex, on a phone, joins his session from it."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.support import (
    MEDIA_CSP,
    Person,
    open_person,
    schedule_session_for_alex,
    sign_in,
    sign_in_as,
)
from tests.conftest import DEMO_CLIENT_EMAIL, Live
from tests.support.builders import client_id_of

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CLIENT_NAME = "Alex Morgan"
DEMO_SESSION = "Weekly check-in with Alex"
PHONE = {"width": 390, "height": 844}
PHQ9_ITEM9 = {"1": 1, "2": 1, "3": 0, "4": 1, "5": 0, "6": 1, "7": 0, "8": 0, "9": 1}


async def land_on_home(person: Person, live: Live, role: str) -> Page:
    """Signs ``person`` in as the demo person of ``role``: they land on their home page."""
    await sign_in_as(person.page, live, role)
    await expect(person.page).to_have_url(re.compile(r"#/home$"))
    return person.page


async def test_keyworker_lands_on_today_and_joins_the_session_from_it(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    person = await open_person(browser, contexts=people)
    page = await land_on_home(person, live_sqlite, "peer_keyworker")
    main_nav = page.get_by_role("navigation", name="Main")
    await expect(main_nav.get_by_role("link", name="Home")).to_have_attribute(
        "aria-current", "page"
    )
    meetings = page.get_by_role("region", name="Meetings and sessions today")
    session = meetings.get_by_role("listitem").filter(has_text=DEMO_SESSION)
    await expect(session).to_be_visible()
    for part in ("Alerts", "Unread messages", "Journey work due", "Your wellbeing"):
        await expect(page.get_by_role("region", name=part, exact=True)).to_be_visible()
    # Risk alerts are for the care team's clinicians; the keyworker has none on her home.
    await expect(page.get_by_text("PHQ-9 item 9")).to_have_count(0)
    await expect(page.get_by_role("region", name="Asked to talk")).to_have_count(0)

    await session.get_by_role("link", name="Join").click()
    await expect(page).to_have_url(re.compile(r"#/meetings/[0-9a-f-]+$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(DEMO_SESSION)
    person.problems.assert_clean()


async def test_therapist_sees_the_urgent_alert_on_today(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    alex = client_id_of(live_sqlite, CLIENT_NAME, as_role="therapist")
    saved = live_sqlite.as_role("therapist").post(
        f"/api/v1/clients/{alex}/measures", json={"instrument": "phq9", "answers": PHQ9_ITEM9}
    )
    assert saved.status_code == 201, saved.text

    person = await open_person(browser, contexts=people)
    page = await land_on_home(person, live_sqlite, "therapist")
    alerts = page.get_by_role("region", name="Alerts", exact=True)
    urgent = (
        alerts.get_by_role("listitem").filter(has_text="PHQ-9 item 9").filter(has_text=CLIENT_NAME)
    )
    await expect(urgent.first).to_contain_text("Urgent")
    await alerts.get_by_role("link", name=re.compile(r"^Review and acknowledge them")).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
    person.problems.assert_clean()


async def test_supervisor_sees_a_wish_to_talk_on_today(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    made = live_sqlite.as_role("employment_specialist").post(
        "/api/v1/wellbeing/check-ins",
        json={"mood": 2, "workload": 4, "stress": 4, "support": 3, "wants_to_talk": True},
    )
    assert made.status_code == 201, made.text
    person = await open_person(browser, contexts=people)
    page = await land_on_home(person, live_sqlite, "supervisor")
    talk = page.get_by_role("region", name="Asked to talk")
    await expect(talk.get_by_role("listitem").filter(has_text="Erin Walsh").first).to_be_visible()
    await talk.get_by_role("link", name="Reply to a request").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Supervision")
    person.problems.assert_clean()


async def test_admin_lands_on_administration_without_clinical_content(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    person = await open_person(browser, contexts=people)
    page = await land_on_home(person, live_sqlite, "admin")
    organisation = page.get_by_role("region", name="Your organisation")
    await expect(organisation.get_by_text("Invitations waiting")).to_be_visible()
    await expect(organisation.get_by_text("Active accounts")).to_be_visible()
    for clinical in ("Alerts", "Meetings and sessions today", "Journey work due"):
        await expect(page.get_by_role("region", name=clinical, exact=True)).to_have_count(0)
    await organisation.get_by_role("link", name="Manage accounts and invitations").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    person.problems.assert_clean()


async def test_client_on_a_phone_joins_the_session_from_today(
    media_browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    title = f"Check-in from home {uuid.uuid4().hex[:6]}"
    meeting_id = schedule_session_for_alex(live_sqlite, title)
    person = await open_person(
        media_browser, contexts=people, viewport=PHONE, is_mobile=True, has_touch=True
    )
    page = person.page
    await sign_in(page, live_sqlite, DEMO_CLIENT_EMAIL, csp_contains=MEDIA_CSP)
    await expect(page).to_have_url(re.compile(r"#/home$"))
    await expect(page.get_by_role("region", name="Questionnaires to complete")).to_be_visible()
    plan = page.get_by_role("region", name="Your plan and record")
    await expect(plan.get_by_role("link", name="Your plan")).to_be_visible()
    sessions = page.get_by_role("region", name="Your sessions today")
    session = sessions.get_by_role("listitem").filter(has_text=title)
    await expect(session).to_contain_text("Now")
    await session.get_by_role("link", name="Join").click()
    await expect(page).to_have_url(re.compile(rf"#/meetings/{meeting_id}$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(title)
    await expect(page.get_by_text("Your camera and microphone are ready")).to_be_visible()
    await page.get_by_role("button", name="Join", exact=True).click()
    await expect(
        page.get_by_role("heading", name="Waiting for your care team to let you in")
    ).to_be_visible()
    person.problems.assert_clean()
