"""A video session in two browsers: Alex (the demo client) waits in the lobby, the peer keyworker
lets him in, and each sees and hears the other over a real WebRTC connection.

Chromium runs with fake camera and microphone devices (a test pattern and a beep) and without
permission prompts. The test server hands out no STUN or TURN servers, so the two peer connections
meet on host candidates: ``--allow-loopback-in-peer-connection`` lets Chromium offer loopback ones
as well, for machines whose only interface is ``lo``. These flags need a browser of their own (the
``media_browser`` fixture, tests/browser/conftest.py); the shared one has none.

As in the ``page`` fixture, a console error, a Content-Security-Policy violation or an uncaught
error on either page fails the test.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser import support

# MEDIA_ARGS and schedule_session_for_alex were defined here first; other tests import them
# from here still.
from tests.browser.support import MEDIA_ARGS as MEDIA_ARGS
from tests.browser.support import MEDIA_CSP, Person, open_client, open_nav, sign_in
from tests.browser.support import schedule_session_for_alex as schedule_session_for_alex
from tests.conftest import DEMO_CLIENT_EMAIL, ROLE_EMAILS, Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SCREENSHOTS = Path(tempfile.gettempdir()) / "teamwell-browser"
CLIENT_NAME = "Alex Morgan"
KEYWORKER_NAME = "Priya Shah"
MEDIA_TIMEOUT_MS = 15_000

# Test instrumentation (an init script, so the page's CSP does not apply): keep a reference to
# each WebSocket the page opens, so that the test can drop the realtime connection.
TRACK_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  const opened = [];
  window.__teamwellTestSockets = opened;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      opened.push(this);
    }
  };
})();
"""

# Test instrumentation: a computer without a camera (video requests fail as Chromium fails them
# when no camera is plugged in; the fake microphone still works).
NO_CAMERA = """
(() => {
  const devices = navigator.mediaDevices;
  const native = devices.getUserMedia.bind(devices);
  devices.getUserMedia = (constraints = {}) => (constraints.video
    ? Promise.reject(new DOMException('Requested device not found', 'NotFoundError'))
    : native(constraints));
})();
"""


async def open_person(browser: Browser, contexts: list[BrowserContext], *scripts: str) -> Person:
    """A person whose page keeps its WebSockets within the test's reach (TRACK_SOCKETS)."""
    return await support.open_person(browser, TRACK_SOCKETS, *scripts, contexts=contexts)


async def expect_video_playing(page: Page, name: str) -> None:
    """The <video> on `name`'s tile shows frames and its playback moves on."""
    video = page.get_by_role("figure", name=name).locator("video")
    await expect(video).to_have_count(1)
    handle = await video.element_handle()
    assert handle is not None
    await page.wait_for_function(
        "v => v.videoWidth > 0 && v.readyState >= 2 && !v.paused",
        arg=handle,
        timeout=MEDIA_TIMEOUT_MS,
    )
    started = await handle.evaluate("v => v.currentTime")
    await page.wait_for_function(
        "([v, t]) => v.currentTime > t + 0.3", arg=[handle, started], timeout=MEDIA_TIMEOUT_MS
    )


async def test_client_waits_is_admitted_and_both_see_each_other(
    media_browser: Browser, live_sqlite: Live
) -> None:
    title = f"Weekly check-in {uuid.uuid4().hex[:6]}"
    meeting_id = schedule_session_for_alex(live_sqlite, title)
    # The keyworker signs in with a recovery code: TOTP steps are accepted once per person,
    # and test_messaging.py signs the keyworker in with the next step's code.
    recovery_code = live_sqlite.as_role("peer_keyworker").recovery_code()

    contexts: list[BrowserContext] = []
    try:
        client = await open_person(media_browser, contexts)
        staff = await open_person(media_browser, contexts)
        alex_page, priya = client.page, staff.page

        # Alex finds the session on his record, checks his camera and joins: the lobby.
        await sign_in(alex_page, live_sqlite, DEMO_CLIENT_EMAIL, csp_contains=MEDIA_CSP)
        await open_nav(alex_page, "My record", CLIENT_NAME)
        sessions = alex_page.get_by_role("region", name="Your sessions")
        session = sessions.get_by_role("listitem").filter(has_text=title)
        await expect(session).to_contain_text("Now")
        SCREENSHOTS.mkdir(exist_ok=True)
        await alex_page.screenshot(path=SCREENSHOTS / "my-record-sessions.png", full_page=True)
        await session.get_by_role("link", name="Join").click()
        await expect(alex_page).to_have_url(re.compile(rf"#/meetings/{meeting_id}$"))
        await expect(alex_page.get_by_role("heading", level=1)).to_have_text(title)
        await expect(alex_page.get_by_text("Your camera and microphone are ready")).to_be_visible()
        await alex_page.screenshot(path=SCREENSHOTS / "meeting-prejoin-client.png", full_page=True)
        await alex_page.get_by_role("button", name="Join", exact=True).click()
        await expect(
            alex_page.get_by_role("heading", name="Waiting for your care team to let you in")
        ).to_be_visible()

        # The keyworker opens Alex's record: the session is listed; she schedules another one
        # and downloads the calendar file of this one.
        await sign_in(
            priya,
            live_sqlite,
            ROLE_EMAILS["peer_keyworker"],
            code=recovery_code,
            csp_contains=MEDIA_CSP,
        )
        await open_client(priya, CLIENT_NAME)
        staff_sessions = priya.get_by_role("region", name="Sessions")
        ours = staff_sessions.get_by_role("listitem").filter(has_text=title)
        await expect(ours).to_be_visible()

        follow_up = f"Follow-up {uuid.uuid4().hex[:6]}"
        await staff_sessions.get_by_text("Schedule a session").click()
        await staff_sessions.get_by_label("Title").fill(follow_up)
        await staff_sessions.get_by_label("Length").select_option(label="45 minutes")
        await staff_sessions.get_by_role("button", name="Schedule session").click()
        await expect(staff_sessions.get_by_text("Session scheduled")).to_be_visible()
        await expect(
            staff_sessions.get_by_role("listitem").filter(has_text=follow_up)
        ).to_be_visible()

        async with priya.expect_download() as download_info:
            await ours.get_by_role("button", name="Download calendar file").click()
        download = await download_info.value
        assert download.suggested_filename.endswith(".ics")
        saved = await download.path()
        assert saved is not None
        calendar = await asyncio.to_thread(Path(saved).read_text)
        assert calendar.startswith("BEGIN:VCALENDAR"), calendar[:80]
        assert meeting_id in calendar.replace("\r\n ", "")  # unfold long lines

        await priya.screenshot(path=SCREENSHOTS / "sessions-keyworker.png", full_page=True)

        # She joins directly and sees Alex waiting.
        await ours.get_by_role("link", name="Join").click()
        await expect(priya.get_by_role("heading", level=1)).to_have_text(title)
        await priya.get_by_role("button", name="Join", exact=True).click()
        lobby = priya.get_by_role("region", name="Waiting to join")
        waiting = lobby.get_by_role("listitem").filter(has_text=CLIENT_NAME)
        await expect(waiting).to_be_visible()

        # Lobby messages both ways.
        await alex_page.get_by_label("Message your care team").fill("Running 5 minutes late")
        await alex_page.get_by_role("button", name="Send").click()
        await expect(priya.get_by_role("log", name="Waiting room messages")).to_contain_text(
            "Running 5 minutes late"
        )
        await lobby.get_by_label("Message everyone waiting").fill("No problem, see you soon")
        await lobby.get_by_role("button", name="Send").click()
        alex_log = alex_page.get_by_role("log", name="Messages with your care team")
        await expect(alex_log).to_contain_text("You")
        await expect(alex_log).to_contain_text(f"{KEYWORKER_NAME}")
        await expect(alex_log).to_contain_text("No problem, see you soon")
        await alex_page.screenshot(path=SCREENSHOTS / "meeting-lobby-client.png", full_page=True)
        await priya.screenshot(path=SCREENSHOTS / "meeting-lobby-keyworker.png", full_page=True)

        await waiting.get_by_role("button", name="Admit").click()
        await expect(lobby.get_by_text("No one is waiting.")).to_be_visible()

        # Each sees the other's video, playing.
        await expect_video_playing(alex_page, KEYWORKER_NAME)
        await expect_video_playing(priya, CLIENT_NAME)

        # Mute and a raised hand show on the other side.
        await priya.get_by_role("button", name="Mute").click()
        await expect(alex_page.get_by_role("figure", name=KEYWORKER_NAME)).to_contain_text("Muted")
        await alex_page.get_by_role("button", name="Raise hand").click()
        await expect(priya.get_by_role("figure", name=CLIENT_NAME)).to_contain_text("Hand raised")

        # Screen sharing may be refused in a headless browser; either way the page copes.
        await priya.get_by_role("button", name="Share screen").click()
        await expect(
            priya.get_by_role("button", name="Stop sharing")
            .or_(priya.get_by_text("Your screen is not being shared"))
            .or_(priya.get_by_text("Your screen could not be shared"))
        ).to_be_visible()

        await alex_page.screenshot(path=SCREENSHOTS / "meeting-room-client.png", full_page=True)
        await priya.screenshot(path=SCREENSHOTS / "meeting-room-keyworker.png", full_page=True)

        # The keyworker's connection to Teamwell drops (and stays down while she is offline):
        # Alex sees her as reconnecting. Back online, she takes the same seat again, offers
        # afresh, and the pictures come back on new peer connections.
        await priya.context.set_offline(True)
        await priya.evaluate("window.__teamwellTestSockets.forEach((s) => s.close())")
        await expect(priya.get_by_text("You are offline.")).to_be_visible()
        priya_tile = alex_page.get_by_role("figure", name=KEYWORKER_NAME)
        await expect(priya_tile).to_contain_text("Reconnecting…")
        await priya.context.set_offline(False)
        await expect(priya_tile).not_to_contain_text("Reconnecting…")
        await expect(priya.get_by_text("You are offline.")).to_be_hidden()
        await expect_video_playing(alex_page, KEYWORKER_NAME)
        await expect_video_playing(priya, CLIENT_NAME)
        await expect(priya.get_by_role("figure", name=CLIENT_NAME)).to_contain_text("Hand raised")

        # The keyworker ends the meeting for everyone.
        await priya.get_by_role("button", name="End meeting for all").click()
        await priya.get_by_role("button", name="End meeting", exact=True).click()
        await expect(
            alex_page.get_by_role("heading", name="The meeting has ended.")
        ).to_be_visible()
        await expect(
            priya.get_by_role("heading", name="You ended the meeting for everyone.")
        ).to_be_visible()
        # Cameras and microphones are released.
        for page in (alex_page, priya):
            assert await page.locator("video[data-local]").evaluate_all(
                "vs => vs.every(v => !v.srcObject)"
            )
    finally:
        for context in contexts:
            await context.close()
    client.problems.assert_clean()
    staff.problems.assert_clean()


async def test_without_a_camera_the_client_joins_with_sound_only(
    media_browser: Browser, live_sqlite: Live
) -> None:
    title = f"Phone-style check-in {uuid.uuid4().hex[:6]}"
    meeting_id = schedule_session_for_alex(live_sqlite, title)
    contexts: list[BrowserContext] = []
    try:
        client = await open_person(media_browser, contexts, NO_CAMERA)
        page = client.page
        await sign_in(page, live_sqlite, DEMO_CLIENT_EMAIL, csp_contains=MEDIA_CSP)
        await page.goto(f"{live_sqlite.base_url}/#/meetings/{meeting_id}")
        await expect(page.get_by_role("heading", level=1)).to_have_text(title)
        await expect(page.get_by_text("you will join with sound only")).to_be_visible()
        me = page.get_by_role("figure", name=f"{CLIENT_NAME} (you)")
        await expect(me).to_contain_text("Camera off")
        await expect(page.get_by_role("button", name="Mute")).to_be_enabled()

        await page.get_by_role("button", name="Join", exact=True).click()
        await expect(
            page.get_by_role("heading", name="Waiting for your care team to let you in")
        ).to_be_visible()
        await page.screenshot(path=SCREENSHOTS / "meeting-lobby-sound-only.png", full_page=True)

        # Trying the camera again says why it cannot, without a console error.
        await page.get_by_role("button", name="Turn camera on").click()
        await expect(page.get_by_text("Your camera could not be started")).to_be_visible()

        await page.get_by_role("button", name="Leave the waiting room").click()
        await expect(page.get_by_role("heading", name="You left the waiting room.")).to_be_visible()
        await expect(page.get_by_role("button", name="Join again")).to_be_visible()
    finally:
        for context in contexts:
            await context.close()
    client.problems.assert_clean()


async def test_joining_on_a_second_device_ends_the_call_on_the_first_which_can_take_it_back(
    media_browser: Browser, live_sqlite: Live
) -> None:
    """Alex joins on his laptop, then on his phone: the seat moves to the phone (one seat per
    person), and the laptop says so and ends its call instead of going quiet. Taking the call
    back on the laptop moves the seat back, and now the phone says so."""
    title = f"Two-device check-in {uuid.uuid4().hex[:6]}"
    meeting_id = schedule_session_for_alex(live_sqlite, title)
    contexts: list[BrowserContext] = []
    try:
        laptop = await open_person(media_browser, contexts)
        phone = await open_person(media_browser, contexts)
        waiting = "Waiting for your care team to let you in"
        moved = "You joined this meeting on another device"
        for device in (laptop, phone):
            await sign_in(
                device.page,
                live_sqlite,
                DEMO_CLIENT_EMAIL,
                csp_contains=MEDIA_CSP,
            )
            await device.page.goto(f"{live_sqlite.base_url}/#/meetings/{meeting_id}")
            await expect(device.page.get_by_role("heading", level=1)).to_have_text(title)
        await laptop.page.get_by_role("button", name="Join", exact=True).click()
        await expect(laptop.page.get_by_role("heading", name=waiting)).to_be_visible()

        await phone.page.get_by_role("button", name="Join", exact=True).click()
        await expect(phone.page.get_by_role("heading", name=waiting)).to_be_visible()
        await expect(laptop.page.get_by_role("heading", name=moved)).to_be_visible()
        await expect(laptop.page.get_by_role("heading", name=waiting)).to_have_count(0)
        SCREENSHOTS.mkdir(exist_ok=True)
        await laptop.page.screenshot(path=SCREENSHOTS / "meeting-moved.png", full_page=True)

        await laptop.page.get_by_role("button", name="Take the call back here").click()
        await expect(laptop.page.get_by_role("heading", name=waiting)).to_be_visible()
        await expect(phone.page.get_by_role("heading", name=moved)).to_be_visible()
        await expect(
            phone.page.get_by_role("button", name="Take the call back here")
        ).to_be_visible()
    finally:
        for context in contexts:
            await context.close()
    laptop.problems.assert_clean()
    phone.problems.assert_clean()
