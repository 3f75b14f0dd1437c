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

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.support import PageProblems, open_page, sign_in
from tests.conftest import ROLE_EMAILS, Live

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
    supervisor_code = live_sqlite.as_role("supervisor").tokens["recovery_codes"].pop()
    therapist_api = live_sqlite.as_role("therapist")
    therapist_code = therapist_api.tokens["recovery_codes"].pop()

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

    await sign_in(
        page, live_sqlite, therapist_email, code=as_therapist.tokens["recovery_codes"].pop()
    )
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

    await sign_in(page, live, lead_email, code=as_lead.tokens["recovery_codes"].pop())
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
