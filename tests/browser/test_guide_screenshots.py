"""The user guides in docs/guide/ are pinned to the screens they describe.

One walk signs in as each role on a fresh demo server, goes to every screen the guides show and
photographs it (desktop 1366x768; the client on a 390x844 phone). Then, per guide:

- every image a guide shows is one this walk took, and every picture the walk takes is shown
  by a guide (no stale screenshots, no tasks without one);
- every on-screen label a guide quotes (written **"Label"**) is text of a screen the walk
  visited for that task, so a renamed button or heading fails here, not in a reader's hands.

The pictures are written to a temporary directory; with TEAMWELL_GUIDE_SCREENSHOTS=update they
replace the ones in docs/guide/img/ (a normal run leaves the committed images alone: they show
dates and times, so each run's would differ).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from playwright.async_api import Browser, FilePayload, FloatRect, Locator, Page, expect

from tests.app.documents.test_content import pdf
from tests.browser.support import (
    PageProblems,
    Person,
    only_these_refusals,
    open_client,
    open_nav,
    open_person,
    schedule_session_for_alex,
    sign_in_as,
)
from tests.conftest import REPO_ROOT, Live, demo_team_id, live_server
from tests.support.builders import client_id_of, consent, new_client
from tests.support.jobs import plant_job

pytestmark = [pytest.mark.browser]

GUIDE_DIR = REPO_ROOT / "docs" / "guide"
IMAGES = GUIDE_DIR / "img"
GUIDES = {
    "peer_keyworker": "peer-keyworker.md",
    "therapist": "therapist.md",
    "employment_specialist": "employment-specialist.md",
    "supervisor": "supervisor.md",
    "client": "client.md",
    "admin": "admin.md",
}
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
CLIENT_NAME = "Alex Morgan"
SESSION_TITLE = "Check-in from home"
PHQ9_ITEM9 = {"1": 1, "2": 1, "3": 0, "4": 1, "5": 0, "6": 1, "7": 0, "8": 0, "9": 1}
# All the images together, committed: kept small (viewports, not whole pages; parts of pages cut
# to PART_MAX_HEIGHT pixels).
MAX_TOTAL_IMAGE_BYTES = 3_200_000
PART_MAX_HEIGHT = 600

# Markdown images, or HTML ones (the phone screenshots are shown narrower).
IMAGE_REF = re.compile(r"(?:\]\(|src=\")img/([a-z0-9-]+)\.png")
LABEL = re.compile(r"\*\*\"([^\"]+)\"\*\*")


def normalised(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Task:
    """One task of a guide: its heading, the screenshots it shows and the labels it quotes."""

    guide: str
    title: str
    images: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def guide_tasks(name: str) -> list[Task]:
    """The sections (``## ...``) of a guide; text before the first one is its introduction."""
    tasks: list[Task] = []
    current = Task(name, "(introduction)")
    for line in (GUIDE_DIR / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            tasks.append(current)
            current = Task(name, line[3:].strip())
            continue
        current.images += IMAGE_REF.findall(line)
        current.labels += LABEL.findall(line)
    tasks.append(current)
    return tasks


def all_tasks() -> list[Task]:
    return [task for name in GUIDES.values() for task in guide_tasks(name)]


@dataclass
class Walk:
    """What the walk saw: the text of each screen, by the screenshot it belongs to."""

    out: Path
    seen: dict[str, list[str]] = field(default_factory=dict)

    async def look(self, page: Page, shot: str) -> None:
        """Remember what is on the screen now, as part of the task photographed as ``shot``."""
        text = await page.locator("body").inner_text()
        self.seen.setdefault(shot, []).append(normalised(text))

    async def shot(self, page: Page, shot: str, focus: Locator | None = None) -> None:
        """Photograph the viewport (scrolled to ``focus`` when given) and remember its text."""
        if focus is not None:
            await focus.scroll_into_view_if_needed()
        await self.look(page, shot)
        await page.mouse.move(0, 0)  # no hover styles in the picture
        await page.screenshot(
            path=str(self.out / f"{shot}.png"), animations="disabled", caret="hide"
        )

    async def part(self, page: Page, shot: str, part: Locator) -> None:
        """Photograph one part of the page (a form, a section): smaller than the viewport, for
        the screens a guide shows in detail. Remembers the whole screen's text all the same."""
        await part.scroll_into_view_if_needed()
        await self.look(page, shot)
        await page.mouse.move(0, 0)
        box = await part.bounding_box()
        assert box is not None, f"{shot}: the part to photograph is not on the page"
        # Its top, at most PART_MAX_HEIGHT of it: the pictures stay small.
        clip: FloatRect = {
            "x": box["x"],
            "y": box["y"],
            "width": box["width"],
            "height": min(box["height"], PART_MAX_HEIGHT),
        }
        await page.screenshot(
            path=str(self.out / f"{shot}.png"),
            animations="disabled",
            caret="hide",
            full_page=True,
            clip=clip,
        )


@pytest.fixture(scope="module")
def guide_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server of its own, so the screens show the demo data and nothing other tests added."""
    with live_server(tmp_path_factory, "live-guide") as running:
        yield running


async def signed_in(browser: Browser, live: Live, role: str) -> Person:
    person = await open_person(browser, viewport=DESKTOP)
    await sign_in_as(person.page, live, role)
    return person


def prepare(live: Live) -> dict[str, str]:
    """What the day in the guides has in it, beyond the demo: a session with Alex now, an
    urgent PHQ-9 answer, a specialist who asked to talk, her employer contacts, an employer in
    her directory with a vacancy Alex applied to, a newcomer waiting to join the team and a new
    supervisor proposed for the therapist."""
    schedule_session_for_alex(live, SESSION_TITLE)
    therapist = live.as_role("therapist")
    alex = client_id_of(live, CLIENT_NAME, as_role="therapist")
    saved = therapist.post(
        f"/api/v1/clients/{alex}/measures", json={"instrument": "phq9", "answers": PHQ9_ITEM9}
    )
    assert saved.status_code == 201, saved.text
    asked = live.as_role("employment_specialist").post(
        "/api/v1/wellbeing/check-ins",
        json={"mood": 2, "workload": 4, "stress": 4, "support": 3, "wants_to_talk": True},
    )
    assert asked.status_code == 201, asked.text
    for contact in (
        {
            "employer": "Quayside Hotel",
            "contact_type": "face_to_face",
            "client_id": alex,
            "outcome": "Met the head chef; a trial shift is possible in the spring",
        },
        {
            "employer": "Metro Logistics",
            "contact_type": "phone",
            "outcome": "Asked about warehouse vacancies for people returning to work",
        },
    ):
        logged = live.as_role("employment_specialist").post(
            "/api/v1/employer-contacts",
            json={"contacted_on": str(date.today()), **contact},
        )
        assert logged.status_code == 201, logged.text
    specialist = live.as_role("employment_specialist")
    employer = specialist.post(
        "/api/v1/employers",
        json={"name": "Tyne Bakery", "sector": "C", "location": "Gateshead"},
    )
    assert employer.status_code == 201, employer.text
    vacancy = specialist.post(
        f"/api/v1/employers/{employer.json()['id']}/vacancies",
        json={"title": "Bakery assistant", "hours_per_week": 20, "hourly_pay_pence": 1360},
    )
    assert vacancy.status_code == 201, vacancy.text
    logged = specialist.post(
        "/api/v1/employer-contacts",
        json={
            "employer": "Tyne Bakery",
            "employer_id": employer.json()["id"],
            "contacted_on": str(date.today()),
            "contact_type": "face_to_face",
            "outcome": "Met the owner; two bakery assistant posts from next month",
        },
    )
    assert logged.status_code == 201, logged.text
    applied = specialist.post(
        f"/api/v1/clients/{alex}/applications",
        json={"vacancy_id": vacancy.json()["id"], "applied_on": str(date.today())},
    )
    assert applied.status_code == 201, applied.text
    admin = live.as_role("admin")
    newcomer = live.new_account("nat.rowe@tyneside.example", "Nat Rowe", "therapist")
    added = admin.post(
        f"/api/v1/teams/{demo_team_id(admin)}/members", json={"user_id": newcomer["id"]}
    )
    assert added.status_code == 201, added.text
    sol = live.new_account("sol.baker@tyneside.example", "Sol Baker", "supervisor")
    proposed = admin.put(
        f"/api/v1/users/{therapist.user['id']}/supervisor", json={"supervisor_id": sol["id"]}
    )
    assert proposed.status_code == 200, proposed.text
    return {"alex": str(alex)}


async def walk_keyworker(browser: Browser, live: Live, walk: Walk) -> PageProblems:
    person = await signed_in(browser, live, "peer_keyworker")
    page = person.page
    today = page.get_by_role("region", name="Meetings and sessions today")
    await expect(today.get_by_role("listitem").filter(has_text=SESSION_TITLE)).to_be_visible()
    await walk.shot(page, "keyworker-today")

    await open_nav(page, "Clients")
    await page.locator("summary", has_text="Take a referral").click()
    form = page.get_by_role("form", name="Take a referral")
    await expect(form.get_by_role("button", name="Take referral")).to_be_visible()
    # The eligibility questions in view: the referral's fields above them are the familiar part.
    await walk.shot(page, "keyworker-take-referral", form.get_by_role("group", name="Eligibility"))

    await (
        page.get_by_role("table", name="Clients")
        .get_by_role("link", name=CLIENT_NAME, exact=True)
        .click()
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text(CLIENT_NAME)
    equality = page.get_by_role("region", name="Equality monitoring")
    await equality.get_by_text("Record answers with the client").click()
    await expect(equality.get_by_role("button", name="Record the answers")).to_be_visible()
    await walk.shot(page, "keyworker-equality", equality.get_by_role("heading"))
    panel = page.get_by_role("region", name="Case meetings")
    await panel.get_by_text("Call a case meeting").click()
    await expect(panel.get_by_role("button", name="Call the case meeting")).to_be_visible()
    await walk.shot(page, "keyworker-case-meeting", panel)

    # A letter on Alex's record, shared with Alex (the client's walk finds it).
    documents = page.get_by_role("region", name="Documents")
    await documents.get_by_label("Folder").select_option(label="Letters")
    await documents.locator(".documents__upload").get_by_label("Visible to client").check()
    await documents.get_by_label("Choose a file").set_input_files(
        FilePayload(name="Letter from the job centre.pdf", mimeType="application/pdf", buffer=pdf())
    )
    await documents.get_by_role("button", name="Upload", exact=True).click()
    letter = documents.get_by_role("region", name="Letters").get_by_role("listitem")
    await expect(letter.get_by_role("button", name="Preview")).to_be_visible()
    await walk.shot(page, "keyworker-documents", documents.get_by_role("heading", name="Documents"))

    questionnaires = page.get_by_role("region", name="Questionnaires")
    await questionnaires.get_by_text("Send a questionnaire link").click()
    await questionnaires.get_by_label("Questionnaire", exact=True).select_option("phq9")
    await questionnaires.get_by_role("button", name="Make the link").click()
    await expect(questionnaires.get_by_text("The PHQ-9 link was emailed.")).to_be_visible()
    await walk.shot(page, "keyworker-questionnaire-link", questionnaires)

    await open_nav(page, "Meetings")
    await expect(page.get_by_role("listitem").filter(has_text=SESSION_TITLE)).to_be_visible()
    await walk.shot(page, "keyworker-meetings")
    # Changing a meeting one hosts, with who is invited (the guide describes the open form).
    hosted = page.get_by_role("listitem").filter(has_text=SESSION_TITLE)
    await hosted.get_by_role("button", name="Change").click()
    await expect(hosted.get_by_role("group", name="Invite")).to_be_visible()
    await walk.look(page, "keyworker-meetings")

    # A guest link into the session, for an interpreter.
    await hosted.get_by_role("link", name="Join").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(SESSION_TITLE)
    invite = page.get_by_role("region", name="Invite a guest")
    await invite.get_by_label("Who is it for?").select_option("interpreter")
    await invite.get_by_label("Their name").fill("Dana Price")
    await invite.get_by_role("button", name="Make the link").click()
    await expect(invite.get_by_role("textbox", name="Join link")).to_be_visible()
    # The link shows before the form is ready again and the list has the new link: the picture
    # (and the words the guide quotes) wait for both.
    await expect(page.get_by_role("button", name="Make the link")).to_be_visible()
    await expect(page.get_by_role("button", name="Withdraw the link for").first).to_be_visible()
    await walk.shot(page, "keyworker-guest-link", invite)
    await person.context.close()
    return person.problems


async def walk_therapist(browser: Browser, live: Live, walk: Walk) -> PageProblems:
    person = await signed_in(browser, live, "therapist")
    page = person.page
    alerts = page.get_by_role("region", name="Alerts", exact=True)
    await expect(alerts.get_by_text("PHQ-9 item 9").first).to_be_visible()
    await walk.shot(page, "therapist-today")

    await walk.look(page, "therapist-alert")
    await alerts.get_by_role("link", name=re.compile(r"^Review and acknowledge them")).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
    await expect(page.get_by_role("button", name=re.compile("^Acknowledge")).first).to_be_visible()
    await walk.shot(page, "therapist-alert")

    await open_client(page, CLIENT_NAME)
    consent = page.get_by_role("region", name="Consent")
    await walk.look(page, "therapist-consent")
    await consent.locator("summary", has_text="Record a consent decision").click()
    decision = consent.get_by_role("form", name="Record a consent decision")
    await expect(decision.get_by_role("button", name="Record decision")).to_be_visible()
    await walk.shot(page, "therapist-consent", decision)

    await open_nav(page, "How are you?")
    mine = page.get_by_role("region", name="My supervisor")
    await expect(
        mine.get_by_role("button", name="Accept Sol Baker as my supervisor")
    ).to_be_visible()
    await walk.shot(page, "therapist-accept-supervisor", mine)
    await person.context.close()
    return person.problems


async def walk_specialist(browser: Browser, live: Live, walk: Walk) -> PageProblems:
    person = await signed_in(browser, live, "employment_specialist")
    page = person.page
    await expect(page.get_by_role("region", name="Journey work due")).to_be_visible()
    await walk.shot(page, "specialist-today")
    await walk.look(page, "specialist-employer-contact")
    await open_client(page, CLIENT_NAME)
    await walk.look(page, "specialist-employer-contact")
    await page.get_by_role("link", name="Open the journey").click()
    contacts = page.get_by_role("region", name="Employer contacts")
    await contacts.get_by_text("Log an employer contact", exact=True).click()
    form = page.get_by_role("form", name="Log an employer contact")
    await expect(form.get_by_role("button", name="Save contact")).to_be_visible()
    await walk.shot(page, "specialist-employer-contact", form)

    await expect(form.get_by_label("From your directory")).to_be_visible()
    await walk.look(page, "specialist-employer-contact")
    # The journey's link to every contact is where the next task starts.
    await walk.look(page, "specialist-employer-contacts")

    await walk.look(page, "specialist-job-quality")
    await page.locator("summary", has_text="Record a job start").click()
    job = page.get_by_role("form", name="Record a job start")
    await job.get_by_label("Employer", exact=True).fill("Tyne Bakery")
    await job.get_by_label("Role").fill("Bakery assistant")
    await job.get_by_label("Hours a week").fill("20")
    await job.get_by_label("Hourly pay (£)").fill("13.60")
    await walk.part(page, "specialist-job-quality", job)
    await page.locator("summary", has_text="Record a job start").click()

    brokerage = page.get_by_role("region", name="Vacancies and applications")
    await expect(brokerage.get_by_role("row").filter(has_text="Tyne Bakery")).to_contain_text(
        "Applied"
    )
    await walk.part(page, "specialist-vacancies", brokerage)

    await open_nav(page, "Employers")
    await page.get_by_role("button", name="Tyne Bakery", exact=True).click()
    await expect(
        page.get_by_role("table", name="Contacts with Tyne Bakery, newest first")
    ).to_contain_text("Met the owner")
    await walk.part(
        page, "specialist-employers", page.get_by_role("region", name="Employer directory")
    )

    await walk.look(page, "specialist-employer-contacts")
    await page.get_by_role("navigation", name="Caseloads").get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Caseloads")
    await walk.look(page, "specialist-employer-contacts")
    await page.get_by_role("link", name="Employer contacts").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Employer contacts")
    await expect(page.get_by_role("link", name=f"{CLIENT_NAME}’s journey")).to_be_visible()
    await walk.shot(page, "specialist-employer-contacts")

    await walk.look(page, "specialist-benefits")
    await open_client(page, CLIENT_NAME)
    benefits = page.get_by_role("region", name="Benefits")
    await expect(benefits).to_contain_text("Claiming an out-of-work benefit")
    await benefits.locator("summary", has_text="Add a benefit").click()
    await benefits.get_by_label("Benefit", exact=True).select_option(label="Universal Credit")
    add = benefits.get_by_role("form", name="Add a benefit")
    await expect(add.get_by_label("Conditionality regime")).to_be_visible()
    await walk.shot(page, "specialist-benefits", add)

    await open_nav(page, "How are you?")
    await expect(page.get_by_role("form", name="Wellbeing check-in")).to_be_visible()
    await walk.shot(page, "specialist-check-in")
    await person.context.close()
    return person.problems


async def walk_supervisor(browser: Browser, live: Live, walk: Walk) -> PageProblems:
    person = await signed_in(browser, live, "supervisor")
    page = person.page
    talk = page.get_by_role("region", name="Asked to talk")
    await expect(talk.get_by_role("listitem").filter(has_text="Erin Walsh").first).to_be_visible()
    await walk.shot(page, "supervisor-today")

    await walk.look(page, "supervisor-talk")
    await talk.get_by_role("link", name="Reply to a request").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Supervision")
    request = page.get_by_role("button", name="I’ll get in touch").first
    await expect(request).to_be_visible()
    waiting = page.get_by_role("region", name="Waiting to join your team")
    await expect(waiting.get_by_role("button", name="Confirm Nat Rowe")).to_be_visible()
    await walk.shot(page, "supervisor-talk")

    await walk.look(page, "supervisor-supervisee")
    supervised = page.get_by_role("region", name="People you supervise")
    await supervised.get_by_role("link", name="Tom Okafor", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tom Okafor")
    await expect(page.get_by_role("table", name="Every check-in")).to_be_visible()
    await walk.shot(page, "supervisor-supervisee", page.get_by_role("region", name="Cadence"))

    await open_nav(page, "Supervision")
    await walk.look(page, "supervisor-record")
    recorded = page.get_by_role("list", name="Sessions you recorded")
    await recorded.get_by_role("link", name="Group reflective practice").first.click()
    for fold in ("Correct the notes", "Add an action"):
        await page.locator("summary", has_text=fold).click()
        await expect(page.get_by_role("form", name=fold)).to_be_visible()
    await walk.shot(page, "supervisor-record", page.get_by_role("heading", level=1))

    await open_nav(page, "Supervision")
    await walk.look(page, "supervisor-fidelity-review")
    await page.get_by_role("link", name="New fidelity review").first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("IPS-25 fidelity review")
    past = page.get_by_role("region", name="Past reviews")
    await past.get_by_role("button", name=re.compile(r"^Open the review of ")).first.click()
    review = past.locator("section.fidelity-review")
    await expect(review.get_by_role("button", name="Close the review")).to_be_visible()
    await walk.shot(page, "supervisor-fidelity-review", review.get_by_role("heading", level=3))

    await open_nav(page, "Reports", "Programme reports")
    await expect(page.locator(".report-figure").first).to_be_visible()
    counted = page.locator("summary", has_text="How these are counted")
    await counted.click()
    await expect(page.locator(".report-definition").first).to_be_visible()
    await walk.shot(page, "supervisor-report-definitions", counted)

    # A trial opened in the browser; two new clients consent and are allocated; verified.
    await walk.look(page, "supervisor-evaluation")
    await page.get_by_role("link", name="Evaluation trials").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Evaluation")
    form = page.get_by_role("form", name="Open an evaluation trial")
    await form.get_by_label("Name of the trial").fill("Tyneside IPS evaluation")
    await walk.look(page, "supervisor-evaluation")
    await form.get_by_role("button", name="Open the trial").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tyneside IPS evaluation")
    keyworker = live.as_role("peer_keyworker")
    team = demo_team_id(keyworker)
    for name in ("Jo Entrant", "Sam Entrant"):
        client_id = new_client(
            keyworker, name, team_id=team, source="jobcentre", reason="Wants to get back to work"
        )
        consent(keyworker, client_id, keyworker.user["organisation_id"], "evaluation")
    await page.reload()
    await page.get_by_role("button", name="Verify the allocations").click()
    verdict = page.locator(".evaluation-verification")
    await expect(verdict).to_contain_text("The allocations match")
    await walk.look(page, "supervisor-evaluation")
    figures = page.get_by_role("region", name="Consent and allocation figures")
    await figures.get_by_role("button", name="Show the figures").click()
    await expect(
        figures.get_by_role("table", name="Allocations by arm", exact=True)
    ).to_contain_text("All strata")
    await walk.shot(page, "supervisor-evaluation", figures.get_by_role("table").first)
    closing = page.get_by_role("region", name="Close the trial")
    await closing.get_by_role("button", name="Close the trial").click()
    await expect(closing.get_by_role("button", name="Yes, close it")).to_be_visible()
    await walk.look(page, "supervisor-evaluation")
    await closing.get_by_role("button", name="Keep it open").click()
    await open_client(page)
    await expect(page.get_by_role("button", name="Show the evaluation arm")).to_be_visible()
    await walk.look(page, "supervisor-evaluation")
    await walk.look(page, "supervisor-evaluation")
    await open_nav(page, "Reports", "Programme reports")
    groups = page.get_by_role("region", name="By equality group")
    await groups.get_by_label("Group by").select_option(label="Disability")
    await groups.get_by_role("button", name="Show by group").click()
    await expect(groups.get_by_role("table")).to_contain_text("Not recorded")
    await walk.shot(page, "supervisor-equality-groups", groups.get_by_role("heading"))
    goals = page.get_by_role("region", name="Quarterly targets")
    await page.get_by_label("Team, area cluster or organisation").select_option(index=0)
    form = goals.get_by_role("form", name="Set a quarterly target")
    await form.get_by_label("Target for the quarter").fill("30")
    await form.get_by_role("button", name="Set the target").click()
    await expect(goals.get_by_role("table")).to_contain_text("Benefit off-flows")
    referrals = goals.get_by_role("row").filter(has_text="Referrals")
    await expect(referrals.get_by_role("cell").nth(0)).to_have_text("30")
    await expect(form.get_by_role("button", name="Set the target")).to_be_visible()
    await walk.shot(page, "supervisor-targets", goals.get_by_role("heading"))
    await person.context.close()
    return person.problems


async def walk_client(browser: Browser, live: Live, walk: Walk) -> PageProblems:
    person = await open_person(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    page = person.page
    await sign_in_as(page, live, "client")
    sessions = page.get_by_role("region", name="Your sessions today")
    session = sessions.get_by_role("listitem").filter(has_text=SESSION_TITLE)
    await expect(session).to_contain_text("Now")
    await walk.shot(page, "client-today")

    await walk.look(page, "client-join-session")
    await session.get_by_role("link", name="Join").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(SESSION_TITLE)
    await expect(page.get_by_text("Your camera and microphone are ready")).to_be_visible()
    await walk.shot(
        page, "client-join-session", page.get_by_role("button", name="Join", exact=True)
    )
    await page.get_by_role("button", name="Join", exact=True).click()
    await expect(
        page.get_by_role("heading", name="Waiting for your care team to let you in")
    ).to_be_visible()
    await walk.shot(page, "client-waiting")

    await open_nav(page, "Home", "Today")
    await walk.look(page, "client-plan")
    await (
        page.get_by_role("region", name="Your plan and record")
        .get_by_role("link", name="Your plan")
        .click()
    )
    await expect(page.get_by_role("heading", level=1)).not_to_have_text("Today")
    await walk.shot(page, "client-plan")

    await open_nav(page, "My record", CLIENT_NAME)
    own = page.get_by_role("region", name="About you (equality monitoring)")
    await own.get_by_label("Sex", exact=True).select_option(label="Prefer not to say")
    await own.get_by_role("button", name="Save my answers").click()
    await expect(own.get_by_role("button", name="Withdraw my answers")).to_be_visible()
    await walk.shot(page, "client-equality", own.get_by_role("heading"))

    await open_nav(page, "My documents")
    mine = page.get_by_role("region", name="Your files")
    await expect(mine.get_by_role("button", name="Preview")).to_be_visible()
    await walk.shot(page, "client-documents")
    await person.context.close()

    # A client without an account opens a guest link to the session.
    keyworker = live.as_role("peer_keyworker")
    meeting = next(
        m for m in keyworker.get("/api/v1/meetings").json() if m["title"] == SESSION_TITLE
    )
    made = keyworker.post(f"/api/v1/meetings/{meeting['id']}/guest-links", json={"kind": "client"})
    assert made.status_code == 201, made.text
    guest = await open_person(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    await guest.page.goto(made.json()["link"])
    await guest.page.get_by_label("Your first name").fill("Alex")
    await walk.shot(guest.page, "client-guest-link")
    await guest.context.close()
    guest.problems.assert_clean()
    return person.problems


async def walk_admin(browser: Browser, live: Live, walk: Walk) -> PageProblems:
    person = await signed_in(browser, live, "admin")
    page = person.page
    await expect(page.get_by_role("region", name="Your organisation")).to_be_visible()
    await walk.shot(page, "admin-today")

    await open_nav(page, "Users")
    invite = page.get_by_role("form", name="Invite someone")
    await invite.get_by_label("Email address").fill("new.colleague@tyneside.example")
    await walk.shot(page, "admin-invite", invite)

    await walk.look(page, "admin-supervisor")
    await page.get_by_role("link", name="Nat Rowe").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Nat Rowe")
    propose = page.get_by_role("form", name="Propose a supervisor")
    await expect(propose.get_by_role("button", name="Propose supervisor")).to_be_visible()
    await walk.shot(page, "admin-supervisor", propose)

    await open_nav(page, "Teams")
    create = page.get_by_role("form", name="Create a team")
    await expect(create.get_by_role("button", name="Create team")).to_be_visible()
    await walk.shot(page, "admin-teams")

    await open_nav(page, "Organisation")
    edit = page.get_by_role("form", name="Edit your organisation")
    await expect(edit.get_by_role("button", name="Save changes")).to_be_visible()
    await walk.shot(page, "admin-organisation")
    await walk.look(page, "admin-partner")
    add = page.get_by_role("form", name="Add a partner organisation")
    await add.get_by_label("Name", exact=True).fill("Gateshead Council")
    await add.get_by_label("Short name").fill("gateshead-council")
    await add.get_by_label("Kind").select_option(label="Local authority")
    await walk.shot(page, "admin-partner", add)

    await open_nav(page, "Users")
    await walk.look(page, "admin-single-sign-on")
    await page.get_by_role("link", name="Single sign-on settings").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Single sign-on")
    await walk.shot(page, "admin-single-sign-on")

    # A job that used its attempts (the guide server runs none of its own).
    await plant_job(live.env["TEAMWELL_DATABASE_URL"], live.data_dir, kind="retention.run")
    await open_nav(page, "Jobs", "Scheduled jobs")
    await expect(page.get_by_role("button", name="Retry Retention")).to_be_visible()
    await walk.shot(page, "admin-jobs")

    await open_nav(page, "System")
    await expect(page.get_by_role("region", name="Migrations")).to_contain_text("Up to date.")
    # The top of the page only: the guide images share a size budget.
    await walk.part(page, "admin-system", page.locator("main .page"))
    await person.context.close()
    # With no single sign-on set up yet, reading its settings is a 404 that Chromium logs.
    only_these_refusals(person.problems, [("404", "/api/v1/auth/sso/organisations/")])
    return person.problems


def test_the_guides_show_only_pictures_that_exist_and_are_linked_from_the_readme() -> None:
    """Without a browser: each image a guide shows is committed, the images stay small and the
    README links every guide."""
    shown = {image for task in all_tasks() for image in task.images}
    committed = {path.stem for path in IMAGES.glob("*.png")}
    assert shown <= committed, f"guides show missing images: {sorted(shown - committed)}"
    assert committed <= shown, f"images no guide shows: {sorted(committed - shown)}"
    total = sum(path.stat().st_size for path in IMAGES.glob("*.png"))
    assert total < MAX_TOTAL_IMAGE_BYTES, f"the guide images take {total} bytes"
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for name in GUIDES.values():
        assert f"docs/guide/{name}" in readme, f"README.md does not link docs/guide/{name}"


@pytest.mark.asyncio(loop_scope="session")
async def test_every_guide_matches_the_screens_it_describes(
    browser: Browser, media_browser: Browser, guide_live: Live
) -> None:
    live = guide_live
    prepare(live)
    update = os.environ.get("TEAMWELL_GUIDE_SCREENSHOTS", "") == "update"
    out = IMAGES if update else Path(tempfile.mkdtemp(prefix="teamwell-guide-"))
    out.mkdir(parents=True, exist_ok=True)
    walk = Walk(out)
    problems = [
        await walk_keyworker(browser, live, walk),
        await walk_therapist(browser, live, walk),
        await walk_specialist(browser, live, walk),
        await walk_supervisor(browser, live, walk),
        await walk_client(media_browser, live, walk),
        await walk_admin(browser, live, walk),
    ]
    for found in problems:
        found.assert_clean()

    taken = {path.stem for path in out.glob("*.png")}
    assert taken == set(walk.seen), "every task the walk looked at is photographed"
    tasks = all_tasks()
    shown = {image for task in tasks for image in task.images}
    assert taken <= shown, f"screenshots no guide shows: {sorted(taken - shown)}"
    assert shown <= taken, f"guides show screens the walk does not visit: {sorted(shown - taken)}"

    drifted: list[str] = []
    for task in tasks:
        if task.labels and not task.images:
            drifted.append(f"{task.guide}, {task.title}: quotes labels but shows no screen")
            continue
        screens = " | ".join(text for image in task.images for text in walk.seen[image])
        for label in task.labels:
            if normalised(label) not in screens:
                drifted.append(f"{task.guide}, {task.title}: {label!r} is not on its screen")
    assert not drifted, "guides quote labels their screens do not show:\n" + "\n".join(drifted)
    if not update:
        # The check of committed images above runs without a browser; here, the same names.
        committed = {path.stem for path in IMAGES.glob("*.png")}
        assert taken == committed, (
            f"re-run with TEAMWELL_GUIDE_SCREENSHOTS=update: {taken ^ committed}"
        )
