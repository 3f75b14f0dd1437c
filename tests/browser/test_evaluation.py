"""The randomised evaluation in a real browser (docs/evaluation.md).

Sofia (supervisor) opens a trial from the Evaluation page: first with a block size the server
refuses, in its own words beside the field, then as it should be. Two new clients consent and are
allocated; a third has not consented yet, and Sofia reads the consent and arm figures. Priya
(keyworker) finds each client's place on their record: the arm, "awaiting consent", and for
Alex, who joined before the trial, the server's own
"in no trial". Sofia verifies the allocations against the seed, is refused a second trial while
this one is open, and closes it after confirming.

Trials are organisation-wide and one is open at a time, so this module runs a server of its own:
a trial left open on the shared one would take in other tests' new clients.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, expect

from app.demo import DEMO_TRIAL
from tests.app.evaluation.test_evaluation import TRIALS, World
from tests.browser.accessibility import axe_check
from tests.browser.conftest import PageProblems, open_nav, sign_in
from tests.browser.test_administration import only_these_refusals
from tests.browser.test_supervision import open_page
from tests.conftest import ROLE_EMAILS, Live, live_server
from tests.support.builders import client_id_of

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

ARM_WORDS = {"ips": "IPS", "treatment_as_usual": "Treatment as usual"}


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory, "live-evaluation-browser") as running:
        yield running


async def scan(page: Page, label: str) -> None:
    for width, height, size in ((1366, 768, "desktop"), (390, 844, "phone")):
        await page.set_viewport_size({"width": width, "height": height})
        await axe_check(page, f"{label} at {size} size")
    await page.set_viewport_size({"width": 1366, "height": 768})


async def open_record(page: Page, live: Live, client_id: str) -> None:
    await page.goto(f"{live.base_url}/#/clients/{client_id}")
    await expect(page.get_by_role("region", name="Evaluation")).to_be_visible()


async def test_a_supervisor_runs_a_trial_and_staff_see_each_clients_arm(
    browser: Browser, own: Live
) -> None:
    world = World(own)
    world.close_open_trials()
    name = f"Tyneside IPS evaluation {uuid.uuid4().hex[:6]}"
    sofia_problems, priya_problems = PageProblems(), PageProblems()
    sofia_context, sofia = await open_page(browser, sofia_problems)
    priya_context, priya = await open_page(browser, priya_problems)
    try:
        code = own.as_role("supervisor").recovery_code()
        await sign_in(sofia, own, ROLE_EMAILS["supervisor"], code=code)
        await open_nav(sofia, "Reports", "Programme reports")
        await sofia.get_by_role("link", name="Evaluation trials").click()
        await expect(sofia.get_by_role("heading", level=1)).to_have_text("Evaluation")
        # The demo's pilot, closed with its allocations: nothing is open.
        await expect(sofia.get_by_role("region", name="Trials")).to_contain_text(DEMO_TRIAL.name)
        assert [t["open"] for t in world.supervisor.get(TRIALS).json()] == [False]

        # An odd block size: the server's words, beside the field, and nothing opened.
        form = sofia.get_by_role("form", name="Open an evaluation trial")
        await form.get_by_label("Name of the trial").fill(name)
        await form.get_by_label("Stratify by").select_option(
            label="Where the client’s first referral came from"
        )
        # A word that is no number never leaves the page; an odd size is the server's refusal.
        await form.get_by_label("Block sizes").fill("4, six")
        await form.get_by_role("button", name="Open the trial").click()
        await expect(form.locator(".field--error")).to_contain_text(
            "Write whole numbers separated by commas, such as 4, 6."
        )
        await form.get_by_label("Block sizes").fill("4, 5")
        await form.get_by_role("button", name="Open the trial").click()
        await expect(form.get_by_role("alert")).to_contain_text(
            "Check these fields: body.block_sizes"
        )
        await expect(form.locator(".field--error")).to_contain_text(
            "block sizes must be even numbers of at least 2, not 5"
        )
        assert [t["name"] for t in world.supervisor.get(TRIALS).json()] == [DEMO_TRIAL.name]
        await scan(sofia, "the Evaluation page with a refused trial")

        await form.get_by_label("Block sizes").fill("2")
        await form.get_by_role("button", name="Open the trial").click()
        await expect(sofia.get_by_role("heading", level=1)).to_have_text(name)
        await expect(sofia.get_by_role("status").filter(has_text="is open")).to_be_visible()
        [trial] = [t for t in world.supervisor.get(TRIALS).json() if t["open"]]
        assert trial["name"] == name and trial["open"] is True
        assert trial["stratify_by"] == "referral_source" and trial["block_sizes"] == [2]
        assert sofia.url.endswith(f"#/evaluation/{trial['id']}")

        # Two new clients consent and are allocated; a third has not consented yet.
        allocated = [world.new_client(), world.new_client()]
        for client_id in allocated:
            world.consent(client_id)
        waiting = world.new_client()
        arms = {client_id: world.arm_of(client_id) for client_id in allocated}
        assert sorted(arms.values()) == ["ips", "treatment_as_usual"]  # one block of two

        await sofia.reload()
        summary = sofia.locator("dl.summary-list")
        await expect(
            summary.locator(".summary-list__row", has_text="Clients allocated")
        ).to_contain_text("2")
        await expect(summary.locator(".summary-list__row", has_text="Status")).to_contain_text(
            "Open"
        )

        # The programme lead's figures, when she asks: consents, then arms overall and by stratum.
        figures = sofia.get_by_role("region", name="Consent and allocation figures")
        await expect(figures).to_contain_text("where each stratum stands in its block")
        await figures.get_by_role("button", name="Show the figures").click()
        consent = figures.locator(".summary-list")
        for term, count in (
            ("New clients since the trial opened", "3"),
            ("Consented", "2"),
            ("Declined", "0"),
            ("Withdrew after consenting", "0"),
            ("Not asked yet", "1"),
        ):
            await expect(consent.locator(".summary-list__row", has_text=term)).to_contain_text(
                count
            )
        overall = figures.get_by_role("table", name="Allocations by arm", exact=True)
        await expect(
            overall.get_by_role("row", name=re.compile("^All strata")).get_by_role("cell")
        ).to_have_text(["1", "1", "2"])
        by_stratum = figures.get_by_role("table", name=re.compile("in each stratum"))
        await expect(
            by_stratum.get_by_role("row", name=re.compile("^jobcentre")).get_by_role("cell")
        ).to_have_text(["1", "1", "2"])
        assert [e["actor_name"] for e in world.audit("evaluation.figures_read")] == ["Sofia Lind"]
        await scan(sofia, "an evaluation trial's consent and allocation figures")

        # Priya finds each client's place on their record, when she asks for it.
        code = own.as_role("peer_keyworker").recovery_code()
        await sign_in(priya, own, ROLE_EMAILS["peer_keyworker"], code=code)
        for client_id, arm in arms.items():
            await open_record(priya, own, client_id)
            panel = priya.get_by_role("region", name="Evaluation")
            await panel.get_by_role("button", name="Show the evaluation arm").click()
            await expect(panel.locator(".summary-list__row", has_text="Arm")).to_contain_text(
                ARM_WORDS[arm]
            )
            await expect(panel).to_contain_text(name)
            await expect(panel).to_contain_text("jobcentre")  # the stratum
        await scan(priya, "a client's evaluation arm on the record")

        await open_record(priya, own, waiting)
        panel = priya.get_by_role("region", name="Evaluation")
        await panel.get_by_role("button", name="Show the evaluation arm").click()
        await expect(panel).to_contain_text("Awaiting consent.")
        await expect(panel).to_contain_text(f"could join “{name}”")
        await expect(panel.locator(".summary-list__row", has_text="Arm")).to_have_count(0)

        alex = client_id_of(own, "Alex Morgan")
        await open_record(priya, own, alex)
        panel = priya.get_by_role("region", name="Evaluation")
        await panel.get_by_role("button", name="Show the evaluation arm").click()
        await expect(panel.get_by_role("status")).to_have_text(
            "The client is in no evaluation trial."
        )
        await expect(panel.get_by_role("button", name="Show the evaluation arm")).to_be_hidden()
        # Each reading that found a place is in the audit trail: the browser's, and for the two
        # allocated clients the test's own reading of their arm above (both as Priya).
        for client_id, reads in ((allocated[0], 2), (allocated[1], 2), (waiting, 1)):
            readings = world.audit("evaluation.allocation_read", client_id=client_id)
            assert [e["actor_name"] for e in readings] == ["Priya Shah"] * reads, readings

        # Sofia verifies the allocations against the seed.
        await sofia.get_by_role("button", name="Verify the allocations").click()
        verdict = sofia.locator(".evaluation-verification")
        await expect(verdict).to_contain_text("The allocations match: all 2 of 2")
        stratum = verdict.get_by_role("row", name=re.compile("^jobcentre"))
        await expect(stratum.get_by_role("cell")).to_have_text(["2", "2", "None"])
        assert world.audit("evaluation.verify", resource_id=trial["id"])
        await scan(sofia, "an evaluation trial with its verification")

        # A second trial while this one is open: refused, in the server's words.
        await (
            sofia.get_by_role("navigation", name="Breadcrumb")
            .get_by_role("link", name="Evaluation")
            .click()
        )
        await expect(sofia.get_by_role("heading", level=1)).to_have_text("Evaluation")
        row = sofia.get_by_role("row", name=re.compile(re.escape(name)))
        await expect(row).to_contain_text("Open")
        await expect(row.get_by_role("cell").last).to_have_text("2")
        form = sofia.get_by_role("form", name="Open an evaluation trial")
        await expect(form).to_contain_text(f"“{name}” is open.")
        await form.get_by_label("Name of the trial").fill("A second evaluation")
        await form.get_by_role("button", name="Open the trial").click()
        await expect(form.get_by_role("alert")).to_contain_text(
            "Close the organisation's open trial before opening another."
        )
        assert len(world.supervisor.get(TRIALS).json()) == 2  # this one and the demo's pilot

        # Closing asks first; keeping it open changes nothing.
        await row.get_by_role("link", name=name).click()
        await expect(sofia.get_by_role("heading", level=1)).to_have_text(name)
        closing = sofia.get_by_role("region", name="Close the trial")
        await closing.get_by_role("button", name="Close the trial").click()
        question = closing.get_by_role("group", name=f"Close “{name}” for good?")
        await expect(question).to_be_visible()
        await question.get_by_role("button", name="Keep it open").click()
        await expect(question).to_be_hidden()
        assert world.supervisor.get(f"{TRIALS}/{trial['id']}").json()["open"] is True

        await closing.get_by_role("button", name="Close the trial").click()
        await question.get_by_role("button", name="Yes, close it").click()
        await expect(
            sofia.get_by_text("The trial is closed. 2 clients were allocated.")
        ).to_be_visible()
        await expect(summary.locator(".summary-list__row", has_text="Status")).to_contain_text(
            "Closed"
        )
        await expect(closing).to_contain_text("This trial is closed")
        closed = world.supervisor.get(f"{TRIALS}/{trial['id']}").json()
        assert closed["open"] is False and closed["closed_at"]

        # A closed trial still verifies.
        await sofia.get_by_role("button", name="Verify the allocations").click()
        await expect(verdict).to_contain_text("The allocations match: all 2 of 2")
    finally:
        await sofia_context.close()
        await priya_context.close()
        world.close_open_trials()
    only_these_refusals(
        sofia_problems, [("422", "/api/v1/evaluation/trials"), ("409", "/api/v1/evaluation/trials")]
    )
    only_these_refusals(priya_problems, [("404", f"/api/v1/clients/{alex}/allocation")])
