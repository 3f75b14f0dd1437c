"""A client without an account joins their session from a guest link on a phone: the keyworker
makes the link on the session's page (emailed and texted), Alex opens it on a phone-sized
screen, gives his first name, waits in the waiting room, is let in, and each sees the other's
video playing over a real WebRTC connection (fake camera and microphone, as in
test_meeting_room.py). A wrong name and an expired link are refused with a page that says so;
without a camera a guest joins with sound only. axe finds nothing on the guest pages or the
"Invite a guest" panel, at desktop and phone sizes."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, BrowserContext, expect

from tests.browser.accessibility import scan_both_sizes
from tests.browser.support import (
    MEDIA_CSP,
    meeting_for_alex,
    only_these_refusals,
    open_person,
    schedule_session_for_alex,
    sign_in,
)
from tests.browser.test_meeting_room import NO_CAMERA, expect_video_playing
from tests.conftest import ROLE_EMAILS, Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
KEYWORKER_NAME = "Priya Shah"


def guest_link(live: Live, meeting_id: str, **body: str) -> str:
    """A guest link made over the API (the browser test below makes its own through the page)."""
    made = live.as_role("peer_keyworker").post(
        f"/api/v1/meetings/{meeting_id}/guest-links", json={"kind": "client", **body}
    )
    assert made.status_code == 201, made.text
    return str(made.json()["link"])


async def test_a_client_joins_from_a_guest_link_on_a_phone_and_is_admitted(
    media_browser: Browser, live_sqlite: Live
) -> None:
    title = f"Guest check-in {uuid.uuid4().hex[:6]}"
    meeting_id = schedule_session_for_alex(live_sqlite, title)
    recovery_code = live_sqlite.as_role("peer_keyworker").recovery_code()
    contexts: list[BrowserContext] = []
    try:
        staff = await open_person(media_browser, contexts=contexts)
        guest = await open_person(media_browser, contexts=contexts, **PHONE)
        priya, alex = staff.page, guest.page

        # The keyworker opens the session and makes a link for Alex under "Invite a guest".
        await sign_in(
            priya,
            live_sqlite,
            ROLE_EMAILS["peer_keyworker"],
            code=recovery_code,
            csp_contains=MEDIA_CSP,
        )
        await priya.goto(f"{live_sqlite.base_url}/#/meetings/{meeting_id}")
        await expect(priya.get_by_role("heading", level=1)).to_have_text(title)
        invite = priya.get_by_role("region", name="Invite a guest")
        await expect(invite.get_by_text("No guest links yet.")).to_be_visible()
        await invite.get_by_label("Who is it for?").select_option("client")
        await expect(invite.get_by_label("Their name")).to_be_hidden()
        # Texted as well (the log sender here), to the mobile the keyworker gives.
        await invite.get_by_label("Text the link").check()
        await invite.get_by_label("Mobile number").fill("07700 900 987")
        await invite.get_by_role("button", name="Make the link").click()
        # Alex has a login email: the link went there, and is shown to copy too.
        await expect(invite.get_by_text("The link was emailed and texted.")).to_be_visible()
        link = await invite.get_by_label("Join link").input_value()
        assert "/#/guest/" in link
        code = await invite.get_by_label(re.compile("Short code")).input_value()
        assert re.fullmatch(r"\d{6}", code)
        await expect(invite.get_by_role("listitem").filter(has_text="Client")).to_contain_text(
            "opens"
        )
        await scan_both_sizes(priya, "the session page with a guest link made", (1366, 768))

        # Alex opens it on his phone: only his first name is asked for.
        await alex.goto(link)
        await expect(alex.get_by_role("heading", level=1)).to_have_text(
            "Join your video appointment"
        )
        await scan_both_sizes(alex, "the guest link's first page", (390, 844))
        await alex.get_by_label("Your first name").fill("  alex ")
        await alex.get_by_role("button", name="Continue").click()
        await expect(alex.get_by_role("heading", level=1)).to_have_text("Your video appointment")
        await expect(alex.get_by_text("Your camera and microphone are ready")).to_be_visible()
        await alex.get_by_role("button", name="Join", exact=True).click()
        await expect(
            alex.get_by_role("heading", name="Waiting for your care team to let you in")
        ).to_be_visible()
        await scan_both_sizes(alex, "a guest in the waiting room", (390, 844))

        # The keyworker joins and lets him in.
        await priya.get_by_role("button", name="Join", exact=True).click()
        lobby = priya.get_by_role("region", name="Waiting to join")
        waiting = lobby.get_by_role("listitem").filter(has_text="Alex")
        await expect(waiting).to_be_visible()
        await waiting.get_by_role("button", name="Admit").click()
        await expect(lobby.get_by_text("No one is waiting.")).to_be_visible()

        await expect_video_playing(alex, KEYWORKER_NAME)
        await expect_video_playing(priya, "Alex")
        await scan_both_sizes(alex, "a guest in the call", (390, 844))

        await priya.get_by_role("button", name="End meeting for all").click()
        await priya.get_by_role("button", name="End meeting", exact=True).click()
        await expect(alex.get_by_role("heading", name="The meeting has ended.")).to_be_visible()
    finally:
        for context in contexts:
            await context.close()
    staff.problems.assert_clean()
    guest.problems.assert_clean()

    attendance = (
        live_sqlite.as_role("peer_keyworker").get(f"/api/v1/meetings/{meeting_id}/attendance")
    ).json()
    [seat] = [a for a in attendance if a["guest"] == "client"]
    assert seat["name"] == "Alex" and seat["joined_at"] and seat["left_at"]
    # The text: the fixed words and the link, whose token the log of texts never holds (the
    # log email sender, development's, writes the whole email).
    assert live_sqlite.server.log_path is not None
    log = live_sqlite.server.log_path.read_text(errors="replace")
    texted = log[log.rfind("sms to ...987:") :].splitlines()[0]
    assert "Your Teamwell video appointment link" in texted and "/#/guest/…" in texted
    assert link.rsplit("/", 1)[1] not in texted and "900987" not in log


async def test_a_wrong_name_and_an_expired_link_are_refused_with_a_clear_page(
    media_browser: Browser, live_sqlite: Live
) -> None:
    meeting_id = schedule_session_for_alex(live_sqlite, f"Guest refusals {uuid.uuid4().hex[:6]}")
    link = guest_link(live_sqlite, meeting_id)
    now = datetime.now(UTC)
    over = meeting_for_alex(
        live_sqlite,
        f"Long over {uuid.uuid4().hex[:6]}",
        starts=now - timedelta(hours=3),
        ends=now - timedelta(hours=2),
    )
    expired = guest_link(live_sqlite, over)
    contexts: list[BrowserContext] = []
    try:
        guest = await open_person(media_browser, contexts=contexts, **PHONE)
        page = guest.page
        await page.goto(link)
        await page.get_by_label("Your first name").fill("Sam")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_text("That does not match")).to_be_visible()
        await expect(page.get_by_label("Your first name")).to_have_attribute("aria-invalid", "true")
        await scan_both_sizes(page, "a guest's wrong name", (390, 844))

        await page.goto(expired)
        await expect(page.get_by_role("heading", level=1)).to_have_text("This link cannot be used")
        await expect(page.get_by_text("This link has expired")).to_be_visible()
        await scan_both_sizes(page, "an expired guest link", (390, 844))
    finally:
        for context in contexts:
            await context.close()
    only_these_refusals(
        guest.problems, [("403", "/api/v1/guest-links/"), ("410", "/api/v1/guest-links/")]
    )


async def test_a_guest_without_a_camera_joins_with_sound_only(
    media_browser: Browser, live_sqlite: Live
) -> None:
    meeting_id = schedule_session_for_alex(live_sqlite, f"Sound only {uuid.uuid4().hex[:6]}")
    link = guest_link(live_sqlite, meeting_id)
    contexts: list[BrowserContext] = []
    try:
        guest = await open_person(media_browser, NO_CAMERA, contexts=contexts, **PHONE)
        page = guest.page
        await page.goto(link)
        await page.get_by_role("button", name="Use the code you were sent instead").click()
        await page.get_by_label("The code you were sent").fill("not the code")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_text("That does not match")).to_be_visible()
        await page.get_by_role("button", name="Use your first name instead").click()
        await page.get_by_label("Your first name").fill("Alex")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_text("you will join with sound only")).to_be_visible()
        await expect(page.get_by_role("figure", name="Alex (you)")).to_contain_text("Camera off")
        await page.get_by_role("button", name="Join", exact=True).click()
        await expect(
            page.get_by_role("heading", name="Waiting for your care team to let you in")
        ).to_be_visible()
    finally:
        for context in contexts:
            await context.close()
    only_these_refusals(guest.problems, [("403", "/api/v1/guest-links/")])
