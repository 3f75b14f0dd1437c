"""Questionnaires, risk alerts and the shared plan in real browsers.

Alex (the demo client, no second factor) completes a PHQ-9 on a phone-sized screen and answers
item 9 above 0; the therapist, with the Alerts page already open, sees the urgent alert arrive
without a reload and acknowledges it. Then the peer keyworker and the therapist work on Alex's
plan at the same time: a save with no edits pending refreshes the other page in place, and a save
based on an old version gets the conflict view instead of overwriting anything.

Staff sign in with recovery codes from their enrolment: a TOTP step is accepted only once per
person, and test_web_shell.py and test_messaging.py sign the therapist and the keyworker in with
the next step's code. As in the ``page`` fixture, a console error, a Content-Security-Policy
violation or an uncaught error on any page fails the test.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from tests.browser import support
from tests.browser.support import PageProblems, Person, open_client, open_nav, sign_in, sign_in_as
from tests.conftest import DEMO_CLIENT_EMAIL, Live
from tests.support.builders import client_id_of

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SCREENSHOTS = Path(tempfile.gettempdir()) / "teamwell-browser"
CLIENT_NAME = "Alex Morgan"
KEYWORKER_NAME = "Priya Shah"
THERAPIST_NAME = "Tom Okafor"
PHONE = {"width": 375, "height": 740}
PAGE_CSP = "script-src 'self'"
# PHQ-9 answers by item: 1+1+0+1+0+1+0+0 and item 9 ("thoughts … of hurting yourself") at 1.
PHQ9_ANSWERS = {
    1: "Several days",
    2: "Several days",
    3: "Not at all",
    4: "Several days",
    5: "Not at all",
    6: "Several days",
    7: "Not at all",
    8: "Not at all",
    9: "Several days",
}


async def open_person(
    browser: Browser,
    contexts: list[BrowserContext],
    problems_seen: list[PageProblems],
    **options: Any,
) -> Person:
    """support.open_person, its problems added to ``problems_seen`` (checked at the test's end)."""
    person = await support.open_person(browser, contexts=contexts, **options)
    problems_seen.append(person.problems)
    return person


async def open_plan(page: Page) -> None:
    """From the client list to Alex's plan, as staff find it."""
    await open_client(page, CLIENT_NAME)
    await page.get_by_role("region", name="Plan").get_by_role("link", name="Open the plan").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Plan for {CLIENT_NAME}")


async def test_phq9_on_a_phone_raises_an_urgent_alert_the_therapist_sees_live(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    problems: list[PageProblems] = []
    therapist = await open_person(browser, people, problems)
    client = await open_person(
        browser, people, problems, viewport=PHONE, is_mobile=True, has_touch=True
    )
    tom, alex = therapist.page, client.page

    # The therapist has the Alerts page open, connected for live updates.
    await sign_in_as(tom, live_sqlite, "therapist", csp_contains=PAGE_CSP)
    await tom.get_by_role("navigation", name="Alerts").get_by_role("link").click()
    await expect(tom.get_by_role("heading", level=1)).to_have_text("Alerts")
    await expect(
        tom.get_by_text("New alerts appear here as soon as they are raised.")
    ).to_be_visible()
    needing = tom.get_by_role("region", name=re.compile(r"^Needing your attention"))
    alex_alerts = needing.get_by_role("listitem").filter(has_text=CLIENT_NAME)
    before = await alex_alerts.count()
    await tom.evaluate("window.__teamwellSamePage = true")

    # Alex opens the PHQ-9 from his record on his phone.
    await sign_in(alex, live_sqlite, DEMO_CLIENT_EMAIL, csp_contains=PAGE_CSP)
    await open_nav(alex, "My record", CLIENT_NAME)
    questionnaires = alex.get_by_role("region", name="Complete a questionnaire")
    await questionnaires.get_by_role("link", name=re.compile(r"^PHQ-9")).click()
    await expect(alex.get_by_role("heading", level=1)).to_have_text("PHQ-9")
    await expect(alex.get_by_text("0 of 9 questions answered")).to_be_visible()

    # Every question must be answered.
    await alex.get_by_role("button", name="Send my answers").click()
    problems_box = alex.get_by_role("alert").filter(has_text="There is a problem")
    await expect(problems_box.get_by_role("listitem")).to_have_count(9)

    for number, answer in PHQ9_ANSWERS.items():
        question = alex.get_by_role("group", name=re.compile(rf"^Question {number} of 9\b"))
        await question.get_by_label(answer, exact=True).check()
    await expect(alex.get_by_text("9 of 9 questions answered")).to_be_visible()
    await expect(problems_box).to_be_hidden()  # each error went as its question was answered

    # Phone-sized: nothing scrolls sideways and every answer is a large touch target.
    assert await alex.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    first = alex.get_by_role("group", name=re.compile(r"^Question 1 of 9\b"))
    box = await first.locator("label", has_text="Several days").bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 280, box
    SCREENSHOTS.mkdir(exist_ok=True)
    await alex.screenshot(path=SCREENSHOTS / "phq9-phone.png", full_page=True)

    await alex.get_by_role("button", name="Send my answers").click()
    result = alex.get_by_role("region", name="Thank you: your answers have been sent")
    await expect(result).to_contain_text("5 out of 27")
    await expect(result).to_contain_text("Mild")
    await expect(result).to_contain_text("Samaritans")
    await alex.screenshot(path=SCREENSHOTS / "phq9-result-phone.png", full_page=True)

    # The urgent alert reaches the therapist's open page, announced, without a reload.
    await expect(alex_alerts).to_have_count(before + 1)
    card = alex_alerts.first
    await expect(card).to_contain_text("Urgent")
    await expect(card).to_contain_text("PHQ-9 item 9")
    announcement = tom.get_by_role("alert").filter(has_text="New urgent alert")
    await expect(announcement).to_contain_text(CLIENT_NAME)
    await expect(
        tom.get_by_role("navigation", name="Alerts").get_by_role("link")
    ).to_have_accessible_name(re.compile(r"urgent"))
    assert await tom.evaluate("window.__teamwellSamePage") is True
    await tom.screenshot(path=SCREENSHOTS / "alerts-therapist.png", full_page=True)

    # Acknowledged with a note: it leaves the list and is kept with the note.
    note = f"Called Alex; agreed a safety plan ({uuid.uuid4().hex[:6]})"
    await card.get_by_label("What you did (optional)").fill(note)
    await card.get_by_role("button", name=re.compile(r"^Acknowledge")).click()
    await expect(alex_alerts).to_have_count(before)
    await expect(tom.get_by_role("status").filter(has_text="acknowledged")).to_have_text(
        f"Alert about {CLIENT_NAME} acknowledged."
    )
    await tom.get_by_text("Show acknowledged alerts").click()
    await expect(tom.get_by_role("row").filter(has_text=note)).to_contain_text(CLIENT_NAME)
    await tom.screenshot(path=SCREENSHOTS / "alerts-acknowledged.png", full_page=True)

    for seen in problems:
        seen.assert_clean()


async def test_two_staff_edit_the_plan_and_a_stale_save_gets_the_conflict_view(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    problems: list[PageProblems] = []
    keyworker = await open_person(browser, people, problems)
    therapist = await open_person(browser, people, problems)
    priya, tom = keyworker.page, therapist.page
    await sign_in_as(priya, live_sqlite, "peer_keyworker", csp_contains=PAGE_CSP)
    await sign_in_as(tom, live_sqlite, "therapist", csp_contains=PAGE_CSP)
    await open_plan(priya)
    await open_plan(tom)
    tag = uuid.uuid4().hex[:6]

    # Priya adds a goal and saves; Tom has nothing unsaved, so his page follows in place.
    goal = f"Find warehouse work near home ({tag})"
    priya_goals = priya.get_by_role("region", name="Goals")
    await priya_goals.get_by_role("button", name="Add a goal").click()
    await priya_goals.get_by_role("textbox").last.fill(goal)
    await expect(priya.get_by_text("Unsaved changes to Goals.")).to_be_visible()
    await priya.get_by_role("button", name="Save plan").click()
    await expect(priya.get_by_text(re.compile(r"^Saved as version \d+\.$"))).to_be_visible()
    tom_goals = tom.get_by_role("region", name="Goals")
    await expect(tom.get_by_text(f"Updated by {KEYWORKER_NAME} just now.")).to_be_visible()
    await expect(tom_goals.get_by_role("textbox").last).to_have_value(goal)

    # Tom rewords the goal; meanwhile Priya adds an action and saves.
    reworded = f"Find warehouse or retail work near home ({tag})"
    await tom_goals.get_by_role("textbox").last.fill(reworded)
    await expect(tom.get_by_text("Unsaved changes to Goals.")).to_be_visible()
    action = f"Book a CV session at the library ({tag})"
    priya_actions = priya.get_by_role("region", name="Actions")
    await priya_actions.get_by_role("button", name="Add an action").click()
    await priya_actions.get_by_label("What will be done").last.fill(action)
    await priya.get_by_role("button", name="Save plan").click()
    await expect(priya.get_by_text(re.compile(r"^Saved as version \d+\.$"))).to_be_visible()

    # Tom keeps his edit and is told the plan changed under him.
    await expect(
        tom.get_by_role("status").filter(has_text=f"{KEYWORKER_NAME} saved a newer version")
    ).to_contain_text("merge")
    await expect(tom_goals.get_by_role("textbox").last).to_have_value(reworded)

    # His save is based on the old version: the conflict view, nothing overwritten.
    await tom.get_by_role("button", name="Save plan").click()
    conflict = tom.get_by_role("region", name="Someone else saved the plan while you were editing")
    await expect(conflict).to_be_visible()
    await expect(conflict).to_contain_text(KEYWORKER_NAME)
    await expect(conflict).to_contain_text(action)  # their Actions, kept
    await expect(conflict).to_contain_text(reworded)  # his Goals, to re-apply
    await expect(conflict.get_by_role("button", name="Use theirs")).to_be_visible()
    await tom.screenshot(path=SCREENSHOTS / "plan-conflict.png", full_page=True)

    # Chromium logs every 4xx response as a console error; this one is the point of the test.
    expected = [e for e in therapist.problems.console_errors if "412 (Precondition Failed)" in e]
    assert len(expected) == 1 and "/plan" in expected[0], therapist.problems.console_errors
    therapist.problems.console_errors.remove(expected[0])

    await conflict.get_by_role("button", name="Re-apply my change").click()
    await expect(conflict).to_be_hidden()
    await expect(tom.get_by_text(re.compile(r"^Saved as version \d+\.$"))).to_be_visible()
    await expect(
        tom.get_by_role("region", name="Actions").get_by_label("What will be done").last
    ).to_have_value(action)
    await expect(tom_goals.get_by_role("textbox").last).to_have_value(reworded)

    # Priya had nothing unsaved: her page shows Tom's goal, and both changes are stored.
    await expect(priya.get_by_text(f"Updated by {THERAPIST_NAME} just now.")).to_be_visible()
    await expect(priya_goals.get_by_role("textbox").last).to_have_value(reworded)
    client_id = re.search(r"#/clients/([^/]+)/plan", tom.url)
    assert client_id is not None
    stored = live_sqlite.as_role("therapist").get(f"/api/v1/clients/{client_id[1]}/plan")
    assert stored.status_code == 200, stored.text
    content = stored.json()["content"]
    assert reworded in [g["text"] for g in content["goals"]]
    assert action in [a["text"] for a in content["actions"]]

    # A comment on the goal reaches the other page live.
    comment = f"Alex mentioned the retail park ({tag})"
    await tom_goals.get_by_text("Comment", exact=True).first.click()
    await tom_goals.get_by_label(re.compile(r"^Add a comment on goal")).last.fill(comment)
    await tom_goals.get_by_role("button", name="Post comment").last.click()
    await expect(priya_goals.get_by_text(re.compile(r"^Comments \(1\)"))).to_be_visible()

    # The history lists each version with who saved it and which sections changed.
    await priya.get_by_text("Show version history").click()
    versions = priya.get_by_role("region", name="History").get_by_role("listitem")
    await expect(versions.first).to_contain_text(THERAPIST_NAME)
    await expect(versions.first).to_contain_text("Changed: Goals")
    await expect(versions.nth(1)).to_contain_text("Changed: Actions")
    await priya.screenshot(path=SCREENSHOTS / "plan-keyworker.png", full_page=True)

    for seen in problems:
        seen.assert_clean()


async def scores_table(page: Page) -> Locator:
    """Alex's record from the client list, and the scores shown as a table."""
    await open_client(page, CLIENT_NAME)
    scores = page.get_by_role("region", name="Questionnaire scores")
    await scores.get_by_text(re.compile(r"^Show the scores as a table")).click()
    table = scores.get_by_role("table", name="Questionnaire scores, newest first")
    await expect(table).to_be_visible()
    return table


async def test_the_employment_specialist_sees_scores_without_answers(
    browser: Browser, live_sqlite: Live, people: list[BrowserContext]
) -> None:
    """Item answers are for the care team's clinicians: the therapist sees them beside each
    score, the partner provider's employment specialist sees the scores alone."""
    client_id = client_id_of(live_sqlite, CLIENT_NAME, as_role="therapist")
    saved = live_sqlite.as_role("therapist").post(
        f"/api/v1/clients/{client_id}/measures",
        json={"instrument": "phq9", "answers": {str(n): 1 for n in range(1, 10)}},
    )
    assert saved.status_code == 201, saved.text
    problems: list[PageProblems] = []
    specialist = await open_person(browser, people, problems)
    therapist = await open_person(browser, people, problems)

    await sign_in_as(specialist.page, live_sqlite, "employment_specialist")
    table = await scores_table(specialist.page)
    await expect(table.get_by_role("cell", name="9 of 27")).not_to_have_count(0)
    await expect(table.get_by_role("columnheader", name="Answers by question")).to_have_count(0)
    await expect(specialist.page.get_by_text("Q9 1")).to_have_count(0)
    await expect(
        specialist.page.get_by_role("navigation", name="Alerts").get_by_role("link")
    ).not_to_have_accessible_name(re.compile(r"urgent"))
    await specialist.page.screenshot(path=SCREENSHOTS / "scores-specialist.png", full_page=True)

    await sign_in_as(therapist.page, live_sqlite, "therapist")
    table = await scores_table(therapist.page)
    await expect(table.get_by_role("columnheader", name="Answers by question")).to_have_count(1)
    await expect(table.get_by_role("cell").filter(has_text="Q9 1").first).to_be_visible()

    for seen in problems:
        seen.assert_clean()
