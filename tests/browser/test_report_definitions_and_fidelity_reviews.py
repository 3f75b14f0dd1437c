"""How a report's figures are counted, and one past fidelity review, in a real browser.

Sofia (supervisor) unfolds "How these are counted" on the Reports page: every figure's definition,
what it counts and out of what, as the server defines them. Then, from her team's fidelity page,
she opens the demo team's past review from its table: the total, the band and all 25 item scores
the server holds; the review's address opens it again after a reload, and she closes it.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.accessibility import axe_check
from tests.browser.conftest import open_nav, sign_in
from tests.conftest import ROLE_EMAILS, Live, demo_team_id

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def scan(page: Page, label: str) -> None:
    for width, height, size in ((1366, 768, "desktop"), (390, 844, "phone")):
        await page.set_viewport_size({"width": width, "height": height})
        await axe_check(page, f"{label} at {size} size")
    await page.set_viewport_size({"width": 1366, "height": 768})


async def test_a_supervisor_reads_how_figures_are_counted_and_opens_a_past_review(
    page: Page, live_sqlite: Live
) -> None:
    supervisor = live_sqlite.as_role("supervisor")
    definitions = supervisor.get("/api/v1/reports/definitions").json()
    assert len(definitions) > 5
    team = demo_team_id(supervisor)
    reviews = supervisor.get(f"/api/v1/teams/{team}/fidelity-reviews").json()
    assert reviews, "the demo team has a past review"

    code = supervisor.recovery_code()
    await sign_in(page, live_sqlite, ROLE_EMAILS["supervisor"], code=code)
    await open_nav(page, "Reports", "Programme reports")

    # Folded away at first; unfolded, every definition as the server gives it.
    counted = page.locator("details", has=page.locator("summary", has_text="How these are counted"))
    listed = counted.locator(".report-definition")
    await expect(listed.first).to_be_hidden()
    await counted.locator("summary").click()
    await expect(listed).to_have_count(len(definitions))
    for d in definitions:
        entry = counted.locator(f'.report-definition[data-key="{d["key"]}"]')
        await expect(entry.locator("dt")).to_have_text(d["label"])
        await expect(entry).to_contain_text(d["definition"])
        await expect(entry).to_contain_text(f"Counted: {d['numerator_label']}")
        if d["denominator_label"]:
            await expect(entry).to_contain_text(f"Out of: {d['denominator_label']}")
        else:
            await expect(entry).not_to_contain_text("Out of:")
    await scan(page, "the Reports page with its definitions open")

    # The team's fidelity page, from Supervision; the past review opened from its table.
    await open_nav(page, "Supervision")
    await page.get_by_role("link", name="New fidelity review").first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("IPS-25 fidelity review")
    review = supervisor.get(f"/api/v1/teams/{team}/fidelity-reviews/{reviews[0]['id']}").json()
    past = page.get_by_role("region", name="Past reviews")
    opens = past.get_by_role("button", name=re.compile(r"^Open the review of "))
    await expect(opens).to_have_count(len(reviews))
    await opens.first.click()

    shown = past.locator("section.fidelity-review")
    title = shown.get_by_role("heading", level=3)
    await expect(title).to_have_text(re.compile(r"^Review of "))
    await expect(title).to_be_focused()
    await expect(shown).to_contain_text(f"Total {review['total']} of 125")
    rows = shown.locator("tbody tr")
    await expect(rows).to_have_count(25)
    for number, (item, score) in enumerate(review["scores"].items(), start=1):
        row = rows.nth(number - 1)
        await expect(row.get_by_role("rowheader")).to_have_text(
            f"{number}. {item[0].upper()}{item[1:]}"
        )
        await expect(row.get_by_role("cell").first).to_have_text(str(score))
    assert page.url.endswith(f"?review={review['id']}")
    await scan(page, "a past fidelity review")

    # Its address opens it with the page; closing it takes it away.
    await page.reload()
    await expect(shown.get_by_role("heading", level=3)).to_have_text(re.compile(r"^Review of "))
    await shown.get_by_role("button", name="Close the review").click()
    await expect(shown).to_have_count(0)
    assert "review=" not in page.url
