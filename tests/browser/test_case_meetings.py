"""The care team meets by video: the keyworker calls a case meeting from Alex's record with the
therapist and the employment specialist invited, moves it, and the three meet, each seeing the
others' video; afterwards the meeting is listed as past with who attended. A call also starts
from a conversation, and only a meeting's host is offered to change or cancel it, and to choose
who is invited.

Each person has a browser context of their own in a Chromium with fake camera and microphone
(tests/browser/test_meeting_room.py explains the flags and how video is shown to be playing), and
signs in with a recovery code taken from the end of their list: a TOTP step is accepted once per
person. A console error, a Content-Security-Policy violation or an uncaught error on any page
fails the test.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.accessibility import axe_check
from tests.browser.support import (
    MEDIA_CSP,
    Person,
    meeting_for_alex,
    open_client,
    open_nav,
    open_person,
    sign_in,
    sign_in_as,
)
from tests.browser.test_meeting_room import expect_video_playing
from tests.conftest import ROLE_EMAILS, Live, demo_team_id
from tests.support.builders import arrange_meeting

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CLIENT_NAME = "Alex Morgan"
NAMES = {
    "peer_keyworker": "Priya Shah",
    "therapist": "Tom Okafor",
    "employment_specialist": "Erin Walsh",
}


async def signed_in(
    browser: Browser, contexts: list[BrowserContext], live: Live, role: str
) -> Person:
    person = await open_person(browser, contexts=contexts)
    await sign_in_as(person.page, live, role, csp_contains=MEDIA_CSP)
    return person


async def join_from(page: Page, item_title: str, where: str) -> None:
    """Join the meeting `item_title` from the list in region `where`, past the camera check."""
    item = (
        page.get_by_role("region", name=where).get_by_role("listitem").filter(has_text=item_title)
    )
    await item.get_by_role("link", name="Join").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(item_title)
    await page.get_by_role("button", name="Join", exact=True).click()
    await expect(page.get_by_role("button", name="Leave")).to_be_visible()


async def test_keyworker_calls_a_case_meeting_the_care_team_meets_and_attendance_is_kept(
    media_browser: Browser, live_sqlite: Live
) -> None:
    title = f"Case review {uuid.uuid4().hex[:6]}"
    contexts: list[BrowserContext] = []
    people: list[Person] = []
    try:
        keyworker = await signed_in(media_browser, contexts, live_sqlite, "peer_keyworker")
        people.append(keyworker)
        priya = keyworker.page

        # Priya calls the case meeting from Alex's record: the care team is invited, Alex not.
        await open_client(priya)
        panel = priya.get_by_role("region", name="Case meetings")
        await panel.get_by_text("Call a case meeting").click()
        # The call form's title (each listed meeting's closed Change form has one too).
        await panel.get_by_role("textbox", name="Title", exact=True).fill(title)
        invite = panel.get_by_role("group", name="Invite")
        await expect(invite.get_by_label("Tom Okafor (Therapist)")).to_be_checked()
        await expect(invite.get_by_label("Erin Walsh", exact=False)).to_be_checked()
        await expect(invite.get_by_label(f"{CLIENT_NAME} (the client)")).not_to_be_checked()
        await panel.get_by_role("button", name="Call the case meeting").click()
        await expect(panel.get_by_text("Case meeting called")).to_contain_text(
            "emailed to 2 people"
        )
        ours = panel.get_by_role("listitem").filter(has_text=title)
        await expect(ours).to_contain_text("Case meeting")

        meeting = next(
            m
            for m in live_sqlite.as_role("peer_keyworker").get("/api/v1/meetings").json()
            if m["title"] == title
        )
        assert meeting["kind"] == "case_meeting"
        assert meeting["client_id"] is not None and meeting["team_id"] is None
        therapist_id = live_sqlite.as_role("therapist").get("/api/v1/auth/me").json()["id"]
        specialist_id = (
            live_sqlite.as_role("employment_specialist").get("/api/v1/auth/me").json()["id"]
        )
        assert set(meeting["invitee_ids"]) == {therapist_id, specialist_id}

        # The host moves it to the next day, same time: the server has the new time.
        await ours.get_by_role("button", name="Change").click()
        change = ours.get_by_role("form", name=f"Change {title}")
        day = change.get_by_label("Date")
        moved = date.fromisoformat(await day.input_value()) + timedelta(days=1)
        await day.fill(moved.isoformat())
        await change.get_by_role("button", name="Save changes").click()
        await expect(panel.get_by_text("Case meeting changed")).to_be_visible()
        changed = live_sqlite.as_role("peer_keyworker").get(f"/api/v1/meetings/{meeting['id']}")
        assert changed.status_code == 200, changed.text
        before = datetime.fromisoformat(meeting["starts_at"])
        after = datetime.fromisoformat(changed.json()["starts_at"])
        assert after - before == timedelta(days=1)
        assert changed.json()["ical_sequence"] == meeting["ical_sequence"] + 1

        # Tom finds it under Meetings: he may join, but it is Priya's to change or cancel.
        therapist = await signed_in(media_browser, contexts, live_sqlite, "therapist")
        people.append(therapist)
        tom = therapist.page
        await (
            tom.get_by_role("navigation", name="Main").get_by_role("link", name="Meetings").click()
        )
        await expect(tom.get_by_role("heading", level=1)).to_have_text("Meetings")
        his = (
            tom.get_by_role("region", name="Upcoming")
            .get_by_role("listitem")
            .filter(has_text=title)
        )
        await expect(his.get_by_role("link", name="Join")).to_be_visible()
        await expect(his.get_by_role("button", name="Change")).to_have_count(0)
        await expect(his.get_by_role("button", name="Cancel meeting")).to_have_count(0)
        await join_from(tom, title, "Upcoming")

        # Erin joins from Alex's record, Priya from hers.
        specialist = await signed_in(media_browser, contexts, live_sqlite, "employment_specialist")
        people.append(specialist)
        erin = specialist.page
        await open_client(erin)
        await expect(
            erin.get_by_role("region", name="Case meetings")
            .get_by_role("listitem")
            .filter(has_text=title)
            .get_by_role("button", name="Change")
        ).to_have_count(0)
        await join_from(erin, title, "Case meetings")
        await join_from(priya, title, "Case meetings")

        # Each sees the other two on video, playing.
        for me, person in zip(NAMES.values(), people, strict=True):
            for name in NAMES.values():
                if name != me:
                    await expect_video_playing(person.page, name)

        await priya.get_by_role("button", name="End meeting for all").click()
        await priya.get_by_role("button", name="End meeting", exact=True).click()
        for page in (tom, erin):
            await expect(page.get_by_role("heading", name="The meeting has ended.")).to_be_visible()

        # Afterwards the meeting is past, with who came.
        await (
            tom.get_by_role("navigation", name="Main").get_by_role("link", name="Meetings").click()
        )
        held = tom.get_by_role("region", name="Past").get_by_role("listitem").filter(has_text=title)
        await held.get_by_text(re.compile(r"^Attendance")).click()
        attendance = held.get_by_role("table", name=f"Attendance at {title}")
        for name in NAMES.values():
            await expect(attendance.get_by_role("rowheader", name=name)).to_be_visible()
        await expect(held.get_by_role("button", name="Change")).to_have_count(0)
    finally:
        for context in contexts:
            await context.close()
    for person in people:
        person.problems.assert_clean()


async def test_a_call_starts_from_a_conversation_and_a_colleague_joins_it(
    media_browser: Browser, live_sqlite: Live
) -> None:
    contexts: list[BrowserContext] = []
    people: list[Person] = []
    try:
        keyworker = await signed_in(media_browser, contexts, live_sqlite, "peer_keyworker")
        people.append(keyworker)
        priya = keyworker.page
        await open_client(priya)
        await priya.get_by_role("button", name="Care team thread").click()
        await expect(priya).to_have_url(re.compile(r"#/messages/[^/]+$"))
        thread_url = priya.url
        await priya.get_by_role("button", name="Start a call").click()
        await expect(priya).to_have_url(re.compile(r"#/meetings/[^/]+$"))
        meeting_id = priya.url.rsplit("/", 1)[1]
        await expect(priya.get_by_role("heading", level=1)).to_have_text("Call")
        await priya.get_by_role("button", name="Join", exact=True).click()
        await expect(priya.get_by_role("button", name="Leave")).to_be_visible()

        made = live_sqlite.as_role("peer_keyworker").get(f"/api/v1/meetings/{meeting_id}")
        assert made.status_code == 200, made.text
        assert made.json()["kind"] == "case_meeting"
        assert made.json()["conversation_id"] == thread_url.rsplit("/", 1)[1]

        # Tom opens the same thread: the call is offered to join.
        therapist = await signed_in(media_browser, contexts, live_sqlite, "therapist")
        people.append(therapist)
        tom = therapist.page
        await tom.goto(thread_url)
        await tom.get_by_role("link", name="Join the call").click()
        await expect(tom).to_have_url(re.compile(rf"#/meetings/{meeting_id}$"))
        await tom.get_by_role("button", name="Join", exact=True).click()

        await expect_video_playing(priya, NAMES["therapist"])
        await expect_video_playing(tom, NAMES["peer_keyworker"])

        await priya.get_by_role("button", name="End meeting for all").click()
        await priya.get_by_role("button", name="End meeting", exact=True).click()
        await expect(tom.get_by_role("heading", name="The meeting has ended.")).to_be_visible()
    finally:
        for context in contexts:
            await context.close()
    for person in people:
        person.problems.assert_clean()


def arrange_for_alex(live: Live, title: str) -> str:
    """A case meeting about Alex tomorrow, arranged by the keyworker over the API."""
    starts = datetime.now(UTC) + timedelta(days=1)
    return meeting_for_alex(
        live, title, kind="case_meeting", starts=starts, ends=starts + timedelta(hours=1)
    )


async def test_the_host_cancels_and_a_refused_change_or_cancel_shows_the_reason(
    browser: Browser, live_sqlite: Live
) -> None:
    tag = uuid.uuid4().hex[:6]
    moved, gone, called_off = (f"{what} {tag}" for what in ("Moved", "Gone", "Called off"))
    ids = {title: arrange_for_alex(live_sqlite, title) for title in (moved, gone, called_off)}
    keyworker = live_sqlite.as_role("peer_keyworker")
    contexts: list[BrowserContext] = []
    try:
        host = await open_person(browser, contexts=contexts)
        page = host.page
        await sign_in(
            page,
            live_sqlite,
            ROLE_EMAILS["peer_keyworker"],
            code=keyworker.recovery_code(),
        )
        await (
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Meetings").click()
        )
        upcoming = page.get_by_role("region", name="Upcoming")

        for title in ids:
            await expect(upcoming.get_by_role("listitem").filter(has_text=title)).to_be_visible()

        # Cancelled elsewhere while the host had the page open: the server's reasons are shown.
        for title in (moved, gone):
            cancelled = keyworker.post(f"/api/v1/meetings/{ids[title]}/cancel")
            assert cancelled.status_code == 200, cancelled.text
        item = upcoming.get_by_role("listitem").filter(has_text=moved)
        await item.get_by_role("button", name="Change").click()
        await item.get_by_role("button", name="Save changes").click()
        await expect(item.get_by_role("alert")).to_have_text(
            "The meeting could not be changed. The meeting has ended"
        )
        item = upcoming.get_by_role("listitem").filter(has_text=gone)
        await item.get_by_role("button", name="Cancel meeting").click()
        await item.get_by_role("button", name="Yes, cancel it").click()
        await expect(item.get_by_role("alert")).to_have_text(
            "The meeting could not be cancelled. The meeting was already cancelled."
        )

        # Cancelled here: it moves to the past meetings, marked as cancelled.
        item = upcoming.get_by_role("listitem").filter(has_text=called_off)
        await item.get_by_role("button", name="Cancel meeting").click()
        await item.get_by_role("button", name="Yes, cancel it").click()
        await expect(page.get_by_text(f"{called_off} was cancelled.")).to_be_visible()
        past = (
            page.get_by_role("region", name="Past")
            .get_by_role("listitem")
            .filter(has_text=called_off)
        )
        await expect(past).to_contain_text("Cancelled")
        assert keyworker.get(f"/api/v1/meetings/{ids[called_off]}").json()["cancelled_at"]
    finally:
        for context in contexts:
            await context.close()
    # The two refusals, as Chromium logs every answer of 4xx; nothing else.
    refused = [e for e in host.problems.console_errors if "(Gone)" in e or "(Conflict)" in e]
    assert len(refused) == 2, host.problems.console_errors
    for entry in refused:
        host.problems.console_errors.remove(entry)
    host.problems.assert_clean()


async def test_the_host_adds_and_removes_invitees_when_changing_a_meeting(
    browser: Browser, live_sqlite: Live
) -> None:
    title = f"Who comes {uuid.uuid4().hex[:6]}"
    meeting_id = arrange_for_alex(live_sqlite, title)
    keyworker = live_sqlite.as_role("peer_keyworker")
    path = f"/api/v1/meetings/{meeting_id}"
    ids = {
        role: live_sqlite.as_role(role).get("/api/v1/auth/me").json()["id"]
        for role in ("therapist", "employment_specialist", "client")
    }
    invited = keyworker.patch(path, json={"invitee_ids": [ids["therapist"]]})
    assert invited.status_code == 200, invited.text
    contexts: list[BrowserContext] = []
    try:
        host = await signed_in(browser, contexts, live_sqlite, "peer_keyworker")
        page = host.page
        await open_nav(page, "Meetings")
        upcoming = page.get_by_role("region", name="Upcoming")
        item = upcoming.get_by_role("listitem").filter(has_text=title)
        await item.get_by_role("button", name="Change").click()
        change = item.get_by_role("form", name=f"Change {title}")
        invite = change.get_by_role("group", name="Invite")
        # The care team and the client are offered; the one invited so far is ticked.
        tom = invite.get_by_label("Tom Okafor (Therapist)")
        erin = invite.get_by_label("Erin Walsh", exact=False)
        alex = invite.get_by_label(f"{CLIENT_NAME} (the client)")
        await expect(tom).to_be_checked()
        await expect(erin).not_to_be_checked()
        await expect(alex).not_to_be_checked()
        await axe_check(page, "changing a meeting, with who is invited")

        await tom.uncheck()
        await erin.check()
        await alex.check()
        await change.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_text("Case meeting changed")).to_be_visible()
        changed = keyworker.get(path).json()
        assert set(changed["invitee_ids"]) == {ids["employment_specialist"], ids["client"]}
        assert changed["ical_sequence"] == 2

        # Opened again, the form starts from the list as it now is.
        await item.get_by_role("button", name="Change").click()
        await expect(tom).not_to_be_checked()
        await expect(erin).to_be_checked()
        await expect(alex).to_be_checked()

        # A team's meeting offers the team's members; Erin is taken off, Tom stays.
        team_title = f"Team huddle {uuid.uuid4().hex[:6]}"
        starts = datetime.now(UTC) + timedelta(days=2)
        huddle = arrange_meeting(
            keyworker,
            kind="case_meeting",
            title=team_title,
            team_id=demo_team_id(keyworker),
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            invitee_ids=[ids["therapist"], ids["employment_specialist"]],
        )
        await page.reload()
        team_item = upcoming.get_by_role("listitem").filter(has_text=team_title)
        await team_item.get_by_role("button", name="Change").click()
        team_invite = team_item.get_by_role("group", name="Invite")
        await expect(team_invite.get_by_label("Tom Okafor", exact=False)).to_be_checked()
        await team_invite.get_by_label("Erin Walsh", exact=False).uncheck()
        await team_item.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_text("Case meeting changed")).to_be_visible()
        after = keyworker.get(f"/api/v1/meetings/{huddle['id']}").json()
        assert after["invitee_ids"] == [ids["therapist"]]
    finally:
        for context in contexts:
            await context.close()
    host.problems.assert_clean()


async def test_the_demo_shows_a_past_case_meeting_with_who_attended(
    browser: Browser, live_sqlite: Live
) -> None:
    contexts: list[BrowserContext] = []
    try:
        person = await signed_in(browser, contexts, live_sqlite, "therapist")
        page = person.page
        await open_client(page)
        panel = page.get_by_role("region", name="Case meetings")
        held = (
            panel.get_by_role("region", name="Past")
            .get_by_role("listitem")
            .filter(has_text=f"Case review: {CLIENT_NAME}")
        )
        await held.get_by_text(re.compile(r"^Attendance")).click()
        attendance = held.get_by_role("table", name=f"Attendance at Case review: {CLIENT_NAME}")
        for name in NAMES.values():
            await expect(attendance.get_by_role("rowheader", name=name)).to_be_visible()
        await expect(attendance.get_by_role("row")).to_have_count(1 + len(NAMES))
    finally:
        for context in contexts:
            await context.close()
    person.problems.assert_clean()
