"""A questionnaire opened from a one-time link, with no sign-in: a client without a login
answers a GAD-7 on a phone-sized screen and the answers reach their record."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.conftest import Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_client_without_a_login_answers_through_the_link(
    live_sqlite: Live, page: Page
) -> None:
    keyworker = live_sqlite.as_role("peer_keyworker")
    clients = keyworker.get("/api/v1/clients").json()["items"]
    bea = next(c["id"] for c in clients if c["display_name"] == "Bea Collins")
    made = keyworker.post(f"/api/v1/clients/{bea}/measure-links", json={"instrument": "gad7"})
    assert made.status_code == 201, made.text
    fragment = made.json()["link"].split("#", 1)[1]

    await page.set_viewport_size({"width": 375, "height": 740})
    await page.goto(f"{live_sqlite.base_url}/#{fragment}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("GAD-7")
    for number in range(1, 8):
        question = page.get_by_role("group", name=re.compile(rf"^Question {number} of 7\b"))
        await question.get_by_label("Several days", exact=True).check()
    await page.get_by_role("button", name="Send my answers").click()
    await expect(page.get_by_role("heading", name=re.compile("Thank you"))).to_be_visible()
    await expect(page.get_by_text("7 out of 21")).to_be_visible()

    recorded = keyworker.get(f"/api/v1/clients/{bea}/measures").json()
    assert [(m["instrument"], m["total"], m["mode"]) for m in recorded][-1] == ("gad7", 7, "remote")
    # The link is spent.
    again = keyworker.http.get(f"/api/v1/measure-links/{fragment.rsplit('/', 1)[1]}")
    assert again.status_code == 410
