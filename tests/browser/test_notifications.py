"""Notifications in the browser: Alex, on a phone, finds "Notifications" where his account is,
changes his settings and saves them; a therapist does the same at a desktop; both pages are
axe clean at both sizes. The web client is installable: its service worker registers at the
root, a push delivered to it through the DevTools protocol shows a notification, and a page
opened offline is the offline page. The strict CSP stays on all of it."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from app.config import Settings
from app.db import create_engine, session_factory
from app.notifications.models import (
    Channel,
    DeliveryStatus,
    Kind,
    NotificationDelivery,
    NotificationProfile,
)
from tests.browser.accessibility import axe_check, scan_both_sizes
from tests.browser.support import only_these_refusals, open_nav, open_person, sign_in_as
from tests.conftest import Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}

SERVICE_WORKER_READY = """
async () => {
  const registration = await navigator.serviceWorker.ready;
  return { scope: registration.scope, active: Boolean(registration.active) };
}
"""
NOTIFICATIONS_SHOWN = """
async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.map((n) => ({ title: n.title, body: n.body, data: n.data }));
}
"""


async def open_notifications(page: Page) -> None:
    """From the account area (beside the name and Sign out), where people look for settings; on
    a phone, staff open the menu it folds behind first."""
    menu = page.get_by_role("button", name="Menu", exact=True)
    if await menu.is_visible() and await menu.get_attribute("aria-expanded") == "false":
        await menu.click()
    await page.locator("#account").get_by_role("link", name="Notifications").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    await expect(page.get_by_role("button", name="Save notification settings")).to_be_visible()


async def scan(page: Page, label: str) -> None:
    await scan_both_sizes(page, label, back_to=None)


async def test_alex_chooses_his_notifications_on_a_phone(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    person = await open_person(browser, contexts=people, viewport=PHONE, has_touch=True)
    page = person.page
    await sign_in_as(page, live_sqlite, "client")
    await open_notifications(page)
    messages = page.get_by_role("group", name="New messages")
    await expect(messages.get_by_role("checkbox", name="Email")).to_be_checked()
    # A client has no urgent alerts to keep on: nothing says so.
    await expect(page.get_by_text("As a clinician you keep at least one way on")).to_have_count(0)
    await scan(page, "notifications as client")

    await page.set_viewport_size(PHONE)
    await messages.get_by_role("checkbox", name="Email").uncheck()
    await page.get_by_label("Quiet from").fill("22:30")
    await page.get_by_role("button", name="Save notification settings").click()
    await expect(page.get_by_text("Your notification settings are saved.")).to_be_visible()
    saved = live_sqlite.as_role("client").get("/api/v1/me/notifications").json()
    assert saved["kinds"]["messages"]["email"] is False
    assert saved["quiet_hours"] == {"start": "22:30", "end": "08:00"}

    # A number that is not one is refused next to its field, in the server's words.
    await page.get_by_label("Mobile number for text messages").fill("07700 900123")
    await page.get_by_role("button", name="Save notification settings").click()
    await expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()
    await expect(page.locator(".field--error")).to_have_count(1)
    await scan(page, "notifications as client, a field refused")
    only_these_refusals(person.problems, [("422", "/api/v1/me/notifications")])


async def test_a_therapist_keeps_urgent_alerts_on(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    person = await open_person(browser, contexts=people, viewport=DESKTOP)
    page = person.page
    await sign_in_as(page, live_sqlite, "therapist")
    await open_notifications(page)
    urgent = page.get_by_role("group", name="Urgent alerts")
    await expect(urgent).to_contain_text("As a clinician you keep at least one way on")
    for box in await urgent.get_by_role("checkbox").all():
        await box.uncheck()
    await page.get_by_role("button", name="Save notification settings").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "Urgent alerts reach clinicians on at least one channel"
    )
    await scan(page, "notifications as therapist, urgent alerts refused")
    only_these_refusals(person.problems, [("422", "/api/v1/me/notifications")])


async def test_the_service_worker_shows_a_pushed_notification(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    person = await open_person(browser, contexts=people, viewport=PHONE)
    page = person.page
    await person.context.grant_permissions(["notifications"], origin=live_sqlite.base_url)
    response = await page.goto(f"{live_sqlite.base_url}/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    ready = await page.evaluate(SERVICE_WORKER_READY)
    assert ready == {"scope": f"{live_sqlite.base_url}/", "active": True}

    cdp = await person.context.new_cdp_session(page)
    scope = f"{live_sqlite.base_url}/"
    registered: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def updated(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"] == scope and not registered.done():
                registered.set_result(registration["registrationId"])

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    await cdp.send("ServiceWorker.enable")
    registration_id = await asyncio.wait_for(registered, timeout=30)
    payload = {
        "title": "You have a new message in Teamwell",
        "body": "Sign in to Teamwell to read it.",
        "url": f"{live_sqlite.base_url}/#/messages",
    }
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": live_sqlite.base_url,
            "registrationId": registration_id,
            "data": json.dumps(payload),
        },
    )
    # What was shown, read in the same look that found it: in one full run on a loaded machine a
    # second read, just after the look that found the notification, found none.
    shown = await page.wait_for_function(
        f"({NOTIFICATIONS_SHOWN})().then((shown) => shown.length > 0 && shown)"
    )
    assert await shown.json_value() == [
        {"title": payload["title"], "body": payload["body"], "data": {"url": payload["url"]}}
    ]
    person.problems.assert_clean()


async def test_installable_and_offline(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    person = await open_person(browser, contexts=people, viewport=PHONE)
    page = person.page
    await page.goto(f"{live_sqlite.base_url}/")
    await page.evaluate(SERVICE_WORKER_READY)
    manifest = await page.evaluate(
        "async () => (await fetch(document.querySelector('link[rel=manifest]').href)).json()"
    )
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["icons"]}
    await page.wait_for_function("navigator.serviceWorker.controller !== null")
    await person.context.set_offline(True)
    try:
        await page.goto(f"{live_sqlite.base_url}/#/home")
        await page.reload()
        await expect(page.get_by_role("heading", level=1)).to_have_text("You are offline")
        await expect(page.get_by_role("link", name="try again")).to_have_attribute("href", "/")
    finally:
        await person.context.set_offline(False)
    await axe_check(page, "the offline page")
    assert re.search(r"offline", await page.title(), re.IGNORECASE)


async def test_an_admin_sees_a_bounced_address_on_the_persons_page(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    """A bounce as the delivery run records it (a fresh colleague, so no other test's person is
    flagged), then the admin finds it where people are managed: Users, then the person."""
    email = f"bounced-{uuid.uuid4().hex[:8]}@tyneside.example"
    name = f"Bea Bounced {uuid.uuid4().hex[:4]}"
    made = live_sqlite.new_account(email, name, "therapist")
    when = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    url = live_sqlite.env["TEAMWELL_DATABASE_URL"]
    engine = create_engine(Settings(data_dir=live_sqlite.data_dir, database_url=url))
    try:
        async with session_factory(engine)() as session:
            person_id = uuid.UUID(made["id"])
            session.add(
                NotificationProfile(
                    user_id=person_id,
                    time_zone="Europe/London",
                    email_bounced_at=when,
                    email_bounced_address=email,
                    updated_at=when,
                )
            )
            session.add(
                NotificationDelivery(
                    user_id=person_id,
                    kind=Kind.urgent_alerts,
                    notice="urgent_alert",
                    channel=Channel.email,
                    link="#/alerts",
                    status=DeliveryStatus.failed,
                    attempts=1,
                    next_attempt_at=when,
                    created_at=when,
                    last_error="SMTP recipient refused",
                )
            )
            await session.commit()
    finally:
        await engine.dispose()

    person = await open_person(browser, contexts=people, viewport=DESKTOP)
    page = person.page
    await sign_in_as(page, live_sqlite, "admin")
    await open_nav(page, "Users")
    await page.get_by_role("link", name=name, exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
    await expect(page.get_by_role("status").filter(has_text="bounced")).to_contain_text(
        f"Email to {email} bounced on"
    )
    undelivered = page.get_by_role("region", name="Notifications not delivered")
    await expect(undelivered).to_contain_text("Urgent alerts by email")
    await scan(page, "a person whose email bounced, as admin")
    person.problems.assert_clean()
