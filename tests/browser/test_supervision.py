"""Staff wellbeing and the supervisor's dashboard in a real browser.

The supervisor (Sofia) has her dashboard open. The therapist (Tom), whom she supervises, checks in
from his own browser and ticks "I'd like to talk": the request appears on Sofia's page at once,
over /ws, without a reload, and she acknowledges it. Two colleagues have checked in through the
API beforehand, so this week three people answered and the team's wellbeing chart draws a figure;
the caseload chart draws its bars, and the reports page draws its rates and offers the exports.

Each person signs in with a recovery code taken from the end of their list (``pop()``): a TOTP
step is accepted once per person, and the other browser tests take their codes the same way.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.accessibility import axe_check
from tests.browser.support import (
    PageProblems,
    only_these_refusals,
    open_nav,
    open_page,
    sign_in,
)
from tests.conftest import ROLE_EMAILS, Live, Session

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

ANSWERS = {"mood": 3, "workload": 4, "stress": 4, "support": 2}


async def test_check_in_reaches_the_supervisor_and_the_dashboard_draws_its_charts(
    browser: Browser, live_sqlite: Live
) -> None:
    for role in ("peer_keyworker", "employment_specialist"):
        reply = live_sqlite.as_role(role).post(
            "/api/v1/wellbeing/check-ins", json={**ANSWERS, "wants_to_talk": False}
        )
        assert reply.status_code == 201, reply.text
    supervisor_code = live_sqlite.as_role("supervisor").recovery_code()
    therapist_api = live_sqlite.as_role("therapist")
    therapist_code = therapist_api.recovery_code()

    problems = PageProblems()
    sofia_context, sofia = await open_page(browser, problems)
    tom_context, tom = await open_page(browser, problems)
    try:
        # Sofia opens her dashboard.
        await sign_in(sofia, live_sqlite, ROLE_EMAILS["supervisor"], code=supervisor_code)
        await sofia.get_by_role("link", name="Supervision").click()
        await expect(sofia.get_by_role("heading", level=1)).to_have_text("Supervision")
        await expect(sofia.get_by_role("heading", name="Asked to talk")).to_be_visible()

        # Tom checks in and asks to talk.
        await sign_in(tom, live_sqlite, ROLE_EMAILS["therapist"], code=therapist_code)
        await tom.get_by_role("link", name="How are you?").click()
        await expect(tom.get_by_role("heading", level=1)).to_have_text("How are you?")
        form = tom.get_by_role("form", name="Wellbeing check-in")
        for legend, value in (
            ("How has your mood been?", "3"),
            ("How is your workload?", "4"),
            ("How stressed do you feel?", "4"),
            ("How supported do you feel?", "1 – Unsupported"),
        ):
            await form.get_by_role("group", name=legend).get_by_label(value, exact=True).check()
        await form.get_by_label("I’d like to talk to my supervisor").check()
        await form.get_by_label("Anything you want to add (optional)").fill("A hard week.")
        await form.get_by_role("button", name="Send my check-in").click()
        told = tom.get_by_text("Your supervisor has been told you’d like to talk.")
        await expect(told).to_be_visible()
        # His own chart now has a point.
        await expect(tom.locator(".chart--line .chart__marker").first).to_be_attached()

        mine = therapist_api.get("/api/v1/wellbeing/check-ins").json()["items"][0]
        assert mine["wants_to_talk"] is True and mine["support"] == 1
        assert mine["text"] == "A hard week."

        # It reaches Sofia's open page at once, and she answers it.
        request = sofia.locator(f'li.talk-request[data-check-in-id="{mine["id"]}"]')
        await expect(request).to_contain_text("Tom Okafor would like to talk")
        await request.get_by_role("button", name="I’ll get in touch").click()
        await expect(request).to_be_hidden()
        answered = live_sqlite.as_role("supervisor").get("/api/v1/wellbeing/talk-requests")
        assert answered.status_code == 200, answered.text
        open_requests = [r for r in answered.json() if not r["acknowledged_at"]]
        assert all(r["check_in_id"] != mine["id"] for r in open_requests)

        # She arranges a one-to-one call with him; it is on his page, for him alone.
        arrange = sofia.get_by_role("form", name="Arrange supervision")
        await sofia.locator("summary", has_text="Arrange supervision").click()
        await arrange.get_by_role("group", name="With").get_by_label("Tom Okafor").check()
        await arrange.get_by_role("button", name="Arrange supervision").click()
        calls = sofia.locator(".supervision-calls .session")
        await expect(calls.filter(has_text="Supervision with Tom Okafor")).to_be_visible()
        await tom.reload()
        tom_calls = tom.get_by_role("list", name="Supervision calls")
        await expect(tom_calls.get_by_role("link", name="Join")).to_have_count(1)
        await expect(tom_calls).to_contain_text("Supervision with Tom Okafor")

        # The team's charts: this week three people answered, so the week has a figure.
        await sofia.reload()
        wellbeing = sofia.locator("figure", has_text="Team wellbeing, week by week")
        await expect(wellbeing.locator("svg.chart__svg")).to_be_visible()
        await expect(wellbeing.locator("path.chart__line").first).to_be_attached()
        await expect(wellbeing.locator(".chart__marker").first).to_be_attached()
        caseloads = sofia.locator(
            "figure", has_text="Caseloads (open cases per employment specialist)"
        )
        await expect(caseloads.locator("rect.chart__bar").first).to_be_visible()
        await expect(sofia.get_by_role("row", name="Tom Okafor")).to_be_visible()

        # Reports: the rates drawn as bars, and both exports offered.
        await sofia.get_by_role("link", name="Reports").click()
        await expect(sofia.get_by_role("heading", level=1)).to_have_text("Programme reports")
        await expect(sofia.locator("figure.chart--bars svg.chart__svg")).to_be_visible()
        await expect(sofia.get_by_role("button", name="Download CSV")).to_be_visible()
        await expect(sofia.get_by_role("button", name="Download JSON")).to_be_visible()
        async with sofia.expect_download() as download_info:
            await sofia.get_by_role("button", name="Download CSV").click()
        download = await download_info.value
        assert download.suggested_filename.endswith(".csv")
    finally:
        await sofia_context.close()
        await tom_context.close()
    problems.assert_clean()


async def test_a_proposed_supervisor_is_accepted_by_the_supervisee_in_the_browser(
    page: Page, live_sqlite: Live
) -> None:
    """The admin proposes a new supervisor for a new therapist; the therapist finds the
    proposal on "How are you?", named with its email, and accepts it there."""
    suffix = uuid.uuid4().hex[:8]
    therapist_email = f"tara-{suffix}@tyneside.example"
    therapist = live_sqlite.new_account(therapist_email, "Tara Quinn", "therapist")
    supervisor_email = f"sol-{suffix}@tyneside.example"
    supervisor = live_sqlite.new_account(supervisor_email, "Sol Baker", "supervisor")
    as_therapist = live_sqlite.sign_in(therapist_email)
    proposed = live_sqlite.as_role("admin").put(
        f"/api/v1/users/{therapist['id']}/supervisor", json={"supervisor_id": supervisor["id"]}
    )
    assert proposed.status_code == 200 and proposed.json()["status"] == "pending", proposed.text

    await sign_in(page, live_sqlite, therapist_email, code=as_therapist.recovery_code())
    await page.get_by_role("link", name="How are you?").click()
    mine = page.get_by_role("region", name="My supervisor")
    await expect(mine).to_contain_text("You have no supervisor at the moment.")
    proposal = mine.get_by_role("list", name="Proposed supervisors").get_by_role("listitem")
    await expect(proposal).to_contain_text(f"Sol Baker ({supervisor_email})")
    await proposal.get_by_role("button", name="Accept Sol Baker as my supervisor").click()
    await expect(mine).to_contain_text(f"Your supervisor is Sol Baker ({supervisor_email})")
    await expect(mine.get_by_role("list", name="Proposed supervisors")).to_have_count(0)

    links = as_therapist.get("/api/v1/supervision/links").json()
    assert [(x["supervisor_id"], x["status"]) for x in links] == [(supervisor["id"], "active")]


async def test_a_supervisor_confirms_who_joins_the_team_in_the_browser(
    page: Page, live_sqlite: Live
) -> None:
    """An admin proposes a new therapist for a team; the team's supervisor finds them on the
    Supervision page under "Waiting to join your team", named with their email, and confirms
    them there. Until then the therapist is only proposed."""
    live = live_sqlite
    admin = live.as_role("admin")
    suffix = uuid.uuid4().hex[:8]
    team = admin.post(
        "/api/v1/teams", json={"name": f"Joining team {suffix}", "area_cluster": "Tyne"}
    )
    assert team.status_code == 201, team.text
    team_id = str(team.json()["id"])
    lead_email = f"lea-{suffix}@tyneside.example"
    lead = live.new_account(lead_email, "Lea Stone", "supervisor")
    live.join_team(team_id, lead["id"], admin=admin)  # the first member: in force at once
    newcomer_email = f"nat-{suffix}@tyneside.example"
    newcomer = live.new_account(newcomer_email, "Nat Rowe", "therapist")
    added = admin.post(f"/api/v1/teams/{team_id}/members", json={"user_id": newcomer["id"]})
    assert added.status_code == 201, added.text
    as_lead = live.sign_in(lead_email)

    await sign_in(page, live, lead_email, code=as_lead.recovery_code())
    await page.get_by_role("link", name="Supervision").click()
    waiting = page.get_by_role("region", name="Waiting to join your team")
    proposal = waiting.get_by_role("list", name="Waiting to join your team").get_by_role("listitem")
    await expect(proposal).to_contain_text(f"Nat Rowe ({newcomer_email}")
    await expect(proposal).to_contain_text(f"Joining team {suffix}")
    await proposal.get_by_role("button", name="Confirm Nat Rowe").click()
    await expect(waiting).to_contain_text("No one is waiting to join your team.")

    members = as_lead.get(f"/api/v1/teams/{team_id}/members").json()
    assert {m["user_id"]: m["status"] for m in members} == {
        lead["id"]: "active",
        newcomer["id"]: "active",
    }


def supervised_by_sofia(
    live: Live, email: str, name: str, role: str
) -> tuple[dict[str, Any], Session]:
    """A new member of staff whom Sofia (the demo supervisor) supervises: the admin proposes
    her and they accept, as people come to be supervised."""
    person = live.new_account(email, name, role)
    as_person = live.sign_in(email)
    sofia = live.as_role("supervisor").user
    proposed = live.as_role("admin").put(
        f"/api/v1/users/{person['id']}/supervisor", json={"supervisor_id": sofia["id"]}
    )
    assert proposed.status_code == 200, proposed.text
    accepted = as_person.post(f"/api/v1/supervision/links/{proposed.json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return person, as_person


async def sofia_opens_supervision(page: Page, live: Live) -> None:
    code = live.as_role("supervisor").recovery_code()
    await sign_in(page, live, ROLE_EMAILS["supervisor"], code=code)
    await open_nav(page, "Supervision")


def one_to_one_with_tom(live: Live, notes: str) -> str:
    """The id of a one-to-one Sofia recorded with Tom yesterday, with these notes."""
    made = live.as_role("supervisor").post(
        "/api/v1/supervision/records",
        json={
            "kind": "one_to_one",
            "held_on": str(date.today() - timedelta(days=1)),
            "supervisee_ids": [live.as_role("therapist").user["id"]],
            "notes": notes,
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def test_a_supervisor_opens_a_record_corrects_its_notes_and_adds_an_action(
    browser: Browser, live_sqlite: Live
) -> None:
    """Sofia opens a one-to-one she recorded from "Sessions you recorded" on the Supervision
    page, corrects the notes, is told in the server's words when they are too long (and nothing
    changes), and adds an action Tom owns; Tom reads both."""
    live = live_sqlite
    tom_api = live.as_role("therapist")
    tom = tom_api.user
    suffix = uuid.uuid4().hex[:8]
    record_id = one_to_one_with_tom(live, f"First draft {suffix}.")

    problems = PageProblems()
    context, page = await open_page(browser, problems)
    try:
        await sofia_opens_supervision(page, live)
        recorded = page.get_by_role("list", name="Sessions you recorded")
        await recorded.locator(f'li[data-record-id="{record_id}"]').get_by_role("link").click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text("One-to-one supervision")
        main = page.get_by_role("navigation", name="Main")
        await expect(main.get_by_role("link", name="Supervision")).to_have_attribute(
            "aria-current", "page"
        )
        notes = page.get_by_role("region", name="Notes")
        await expect(notes).to_contain_text(f"First draft {suffix}.")

        # Corrected: the notes are replaced in full.
        await page.locator("summary", has_text="Correct the notes").click()
        correct = page.get_by_role("form", name="Correct the notes")
        await correct.get_by_label("Notes", exact=True).fill(f"Corrected {suffix}: a hard month.")
        await correct.get_by_role("button", name="Save the notes").click()
        await expect(correct).to_contain_text("The notes are saved")
        await expect(notes.locator(".supervision-record__notes")).to_have_text(
            f"Corrected {suffix}: a hard month."
        )

        # Too long: the server's refusal in its own words, and the notes as they were.
        await correct.get_by_label("Notes", exact=True).fill("x" * 20_001)
        await correct.get_by_role("button", name="Save the notes").click()
        await expect(correct.get_by_role("alert")).to_contain_text(
            "The notes are 20001 characters; at most 20000 are kept."
        )
        await expect(notes.locator(".supervision-record__notes")).to_have_text(
            f"Corrected {suffix}: a hard month."
        )

        # An action for Tom, due in a week.
        due = date.today() + timedelta(days=7)
        await page.locator("summary", has_text="Add an action").click()
        add = page.get_by_role("form", name="Add an action")
        await add.get_by_label("What was agreed").fill(f"Book a day of leave {suffix}")
        await add.get_by_label("Who does it").select_option(label="Tom Okafor")
        await add.get_by_label("Due on (optional)").fill(due.isoformat())
        await add.get_by_role("button", name="Add the action").click()
        await expect(add).to_contain_text(f"Added: Book a day of leave {suffix} (Tom Okafor).")
        actions = page.get_by_role("list", name="Actions agreed")
        await expect(actions.get_by_role("listitem")).to_have_count(1)
        await expect(actions).to_contain_text(f"Book a day of leave {suffix}")

        seen = tom_api.get(f"/api/v1/supervision/records/{record_id}")
        assert seen.status_code == 200, seen.text
        assert seen.json()["notes"] == f"Corrected {suffix}: a hard month."
        [action] = seen.json()["actions"]
        assert (action["text"], action["owner_id"], action["due_on"]) == (
            f"Book a day of leave {suffix}",
            tom["id"],
            due.isoformat(),
        )
    finally:
        await context.close()
    only_these_refusals(problems, [("422", f"/api/v1/supervision/records/{record_id}")])


async def test_notes_saved_elsewhere_meanwhile_show_both_versions_and_nothing_is_overwritten(
    browser: Browser, live_sqlite: Live
) -> None:
    """Sofia has a record open and corrects its notes; meanwhile the notes are saved from her
    other device. Her save is refused (412) and the page shows the saved notes beside hers, as
    the plan editor does; she re-applies hers, which are saved over the new version."""
    live = live_sqlite
    sofia_api = live.as_role("supervisor")
    suffix = uuid.uuid4().hex[:8]
    record_id = one_to_one_with_tom(live, f"First draft {suffix}.")
    path = f"/api/v1/supervision/records/{record_id}"

    problems = PageProblems()
    context, page = await open_page(browser, problems)
    try:
        await sofia_opens_supervision(page, live)
        await page.goto(f"{live.base_url}/#/supervision/records/{record_id}")
        notes = page.get_by_role("region", name="Notes")
        await expect(notes).to_contain_text(f"First draft {suffix}.")
        await page.locator("summary", has_text="Correct the notes").click()
        correct = page.get_by_role("form", name="Correct the notes")
        await correct.get_by_label("Notes", exact=True).fill(f"Mine {suffix}.")

        # Meanwhile, from her other device, over the version both read.
        elsewhere = sofia_api.patch(
            path, json={"notes": f"From the phone {suffix}."}, headers={"If-Match": '"1"'}
        )
        assert elsewhere.status_code == 200, elsewhere.text

        await correct.get_by_role("button", name="Save the notes").click()
        conflict = page.get_by_role(
            "region", name="The notes were saved elsewhere while you were editing"
        )
        await expect(conflict).to_be_visible()
        await expect(conflict).to_contain_text(f"From the phone {suffix}.")  # theirs
        await expect(conflict).to_contain_text(f"Mine {suffix}.")  # hers, not lost
        await expect(conflict.get_by_role("button", name="Use theirs")).to_be_visible()
        await expect(correct.get_by_label("Notes", exact=True)).to_have_value(f"Mine {suffix}.")
        await axe_check(page, "supervision record notes conflict")
        stored = sofia_api.get(path).json()
        assert (stored["version"], stored["notes"]) == (2, f"From the phone {suffix}.")

        await conflict.get_by_role("button", name="Re-apply my change").click()
        await expect(conflict).to_be_hidden()
        await expect(page.get_by_text("The notes are saved")).to_be_visible()
        await expect(notes.locator(".supervision-record__notes")).to_have_text(f"Mine {suffix}.")
        stored = sofia_api.get(path).json()
        assert (stored["version"], stored["notes"]) == (3, f"Mine {suffix}.")
    finally:
        await context.close()
    only_these_refusals(problems, [("412", path)])


async def test_a_supervisor_reads_a_supervisees_check_ins_and_sets_their_cadence(
    browser: Browser, live_sqlite: Live
) -> None:
    """From the Supervision page's list of the people she supervises, Sofia opens a new
    therapist's check-ins (what they added too) and sets how often they are prompted and due
    for supervision; a number out of range is refused in the server's words. Someone she does
    not supervise is refused whole."""
    live = live_sqlite
    suffix = uuid.uuid4().hex[:8]
    nia, as_nia = supervised_by_sofia(
        live, f"nia-{suffix}@tyneside.example", f"Nia Hart {suffix}", "therapist"
    )
    checked = as_nia.post(
        "/api/v1/wellbeing/check-ins",
        json={**ANSWERS, "wants_to_talk": False, "text": f"Busy but fine {suffix}."},
    )
    assert checked.status_code == 201, checked.text
    stranger = live.new_account(f"sam-{suffix}@tyneside.example", "Sam Vale", "therapist")
    sofia_api = live.as_role("supervisor")

    problems = PageProblems()
    context, page = await open_page(browser, problems)
    try:
        await sofia_opens_supervision(page, live)
        people = page.get_by_role("region", name="People you supervise")
        await people.get_by_role("link", name=f"Nia Hart {suffix}", exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(f"Nia Hart {suffix}")
        history = page.get_by_role("table", name="Every check-in")
        row = history.get_by_role("row").filter(has_text=f"Busy but fine {suffix}.")
        await expect(row).to_have_count(1)
        await expect(row.get_by_role("cell")).to_have_text(
            ["3", "4", "4", "2", "No", f"Busy but fine {suffix}."]
        )
        chart = page.locator("figure", has_text=f"Nia Hart {suffix}: check-ins")
        await expect(chart.locator(".chart__marker").first).to_be_attached()

        cadence = page.get_by_role("region", name="Cadence")
        await expect(cadence).to_contain_text("the service’s default")
        form = page.get_by_role("form", name="Set the cadence")
        await form.get_by_label("Prompt to check in every (days)").fill("400")
        await form.get_by_role("button", name="Save the cadence").click()
        await expect(form.get_by_role("alert")).to_contain_text(
            "Check these fields: body.check_in_days"
        )
        await expect(form).to_contain_text("Input should be less than or equal to 365")

        await form.get_by_label("Prompt to check in every (days)").fill("14")
        await form.get_by_label("Supervision due every (days)").fill("21")
        await form.get_by_role("button", name="Save the cadence").click()
        await expect(form).to_contain_text(
            "Saved. Check-in every 14 days; supervision every 21 days"
        )
        await expect(cadence.locator(".cadence-summary")).to_contain_text(
            "Check-in every 14 days; supervision every 21 days (set "
        )
        prompt = as_nia.get("/api/v1/wellbeing/prompt").json()
        assert (prompt["cadence_days"], prompt["cadence_set_by_supervisor"]) == (14, True)
        [mine] = [
            s
            for s in sofia_api.get("/api/v1/supervision/supervisees").json()
            if s["user_id"] == nia["id"]
        ]
        assert mine["cadence"]["supervision_days"] == 21

        # Back on the list, the cadence is the new one.
        await page.get_by_role("navigation", name="Breadcrumb").get_by_role("link").click()
        await expect(page.get_by_role("row").filter(has_text=f"Nia Hart {suffix}")).to_contain_text(
            "check-in every 14 days, supervision every 21 days"
        )

        # Someone else's check-ins: refused, in the server's words.
        await page.goto(f"{live.base_url}/#/supervision/people/{stranger['id']}")
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "You do not have access to this page"
        )
        await expect(
            page.get_by_text("check-ins are seen only by the person and their supervisor")
        ).to_be_visible()
    finally:
        await context.close()
    only_these_refusals(
        problems,
        [("422", "/cadence"), ("403", f"/api/v1/wellbeing/people/{stranger['id']}/check-ins")],
    )


async def test_those_who_attended_open_the_record_and_only_read_it(
    browser: Browser, live_sqlite: Live
) -> None:
    """A group session Sofia held with Priya (the demo keyworker) and a new admin she
    supervises: each opens it from "How are you?" and reads the notes, with no form to correct
    them or add an action (the record's supervisor's alone); Priya marks her own action done."""
    live = live_sqlite
    suffix = uuid.uuid4().hex[:8]
    ada_email = f"ada-{suffix}@tyneside.example"
    ada, as_ada = supervised_by_sofia(live, ada_email, f"Ada Finch {suffix}", "admin")
    priya_api = live.as_role("peer_keyworker")
    priya = priya_api.user
    made = live.as_role("supervisor").post(
        "/api/v1/supervision/records",
        json={
            "kind": "group",
            "held_on": str(date.today()),
            "supervisee_ids": [priya["id"], ada["id"]],
            "notes": f"Reflective practice {suffix}.",
            "actions": [{"text": f"Share the rota {suffix}", "owner_id": priya["id"]}],
        },
    )
    assert made.status_code == 201, made.text
    record_id = made.json()["id"]

    problems = PageProblems()
    for email, session in (
        (ROLE_EMAILS["peer_keyworker"], priya_api),
        (ada_email, as_ada),
    ):
        context, page = await open_page(browser, problems)
        try:
            await sign_in(page, live, email, code=session.recovery_code())
            await open_nav(page, "How are you?")
            card = page.locator(f'article[data-record-id="{record_id}"]')
            await card.get_by_role("link").click()
            await expect(page.get_by_role("heading", level=1)).to_contain_text(
                "Group reflective practice"
            )
            await expect(page.get_by_role("region", name="Notes")).to_contain_text(
                f"Reflective practice {suffix}."
            )
            await expect(page.get_by_role("list", name="Actions agreed")).to_contain_text(
                f"Share the rota {suffix}"
            )
            await expect(page.get_by_role("form")).to_have_count(0)
            main = page.get_by_role("navigation", name="Main")
            await expect(main.get_by_role("link", name="How are you?")).to_have_attribute(
                "aria-current", "page"
            )
            await expect(page.locator("#main summary")).to_have_count(0)
            if email == ROLE_EMAILS["peer_keyworker"]:
                await page.get_by_role("button", name="Mark done").click()
                await expect(page.get_by_role("list", name="Actions agreed")).to_contain_text(
                    "Done"
                )
        finally:
            await context.close()
    problems.assert_clean()
    [action] = priya_api.get(f"/api/v1/supervision/records/{record_id}").json()["actions"]
    assert action["done_at"] is not None
