"""An admin's day in the browser: inviting someone who then joins, changing a role, proposing a
supervisor, deactivating and reactivating, making a team and putting people on it, seeing and
editing their organisation and adding a partner one, and setting up single sign-on (a mismatched
issuer refused, in the server's words) with an account for someone who signs in through it. And
the page a failed single sign-on lands on.

Real Chromium against a real server; every step through the web client after signing in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pyotp
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.accessibility import axe_check
from tests.browser.support import (
    PageProblems,
    only_these_refusals,
    open_nav,
    open_page,
    sign_in_as,
    submit_sign_in,
)
from tests.conftest import Live
from tests.support.oidc import discovery_only

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
def discovery() -> Iterator[str]:
    """A provider's discovery document (naming its issuer without a trailing slash)."""
    with discovery_only() as url:
        yield url


async def sign_in_admin(page: Page, live: Live) -> None:
    await sign_in_as(page, live, "admin")
    await open_nav(page, "Users")


async def test_admin_invites_someone_who_joins_and_manages_them(
    browser: Browser, live_sqlite: Live
) -> None:
    admin_problems = PageProblems()
    admin_context, page = await open_page(browser, admin_problems)
    try:
        await admin_journey(page, browser, live_sqlite)
    finally:
        await admin_context.close()
    # The two refusals the admin was shown, and nothing else.
    only_these_refusals(
        admin_problems, [("409", "/api/v1/invitations)"), ("422", "/api/v1/teams/")]
    )


async def admin_journey(page: Page, browser: Browser, live_sqlite: Live) -> None:
    suffix = uuid.uuid4().hex[:8]
    email = f"nia.{suffix}@tyneside.example"
    supervisor = live_sqlite.new_account(
        f"sol.{suffix}@tyneside.example", f"Sol {suffix}", "supervisor"
    )
    await sign_in_admin(page, live_sqlite)

    # Invite.
    invite = page.get_by_role("form", name="Invite someone")
    await invite.get_by_label("Email address").fill(email)
    await invite.get_by_label("Role").select_option(label="Therapist")
    await invite.get_by_role("button", name="Send invitation").click()
    await expect(invite.get_by_role("status")).to_contain_text(f"Invitation sent to {email}")
    invitations = page.get_by_role("table", name="Invitations")
    await expect(invitations.get_by_role("row").filter(has_text=email)).to_contain_text("Pending")
    # A refusal is shown in the server's own words.
    await invite.get_by_label("Email address").fill(email)
    await invite.get_by_role("button", name="Send invitation").click()
    await expect(invite.get_by_role("alert")).to_contain_text("pending invitation")

    # They accept the link and sign in, setting up their second factor as staff must.
    problems = PageProblems()
    context, newcomer = await open_page(browser, problems)
    try:
        token = live_sqlite.invitation_token(email)
        await newcomer.goto(f"{live_sqlite.base_url}/#/invite/{token}")
        await newcomer.get_by_label("Your name").fill(f"Nia {suffix}")
        password = "a-long-chosen-password-" + suffix
        await newcomer.get_by_label("Password", exact=True).fill(password)
        await newcomer.get_by_role("button", name="Create account").click()
        await expect(newcomer.get_by_role("heading", level=1)).to_have_text("Sign in")
        await submit_sign_in(newcomer, email, password)
        await expect(newcomer.get_by_role("heading", level=1)).to_have_text(
            "Set up two-step verification"
        )
        shown = await newcomer.locator("code").first.inner_text()
        secret = re.sub(r"\s+", "", shown)
        await newcomer.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
        await newcomer.get_by_role("button", name="Verify").click()
        await expect(newcomer.get_by_role("heading", level=1)).to_have_text(
            "Save your recovery codes"
        )
        await newcomer.get_by_role("button", name="I have saved these").click()
        await expect(newcomer.get_by_role("heading", level=1)).to_have_text("Today")
    finally:
        await context.close()
    problems.assert_clean()

    # The admin sees the invitation accepted and opens the new person.
    await page.reload()
    await expect(
        page.get_by_role("table", name="Invitations").get_by_role("row").filter(has_text=email)
    ).to_contain_text("Accepted")
    await page.get_by_role("link", name=f"Nia {suffix}").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Nia {suffix}")

    # Only clinical roles are offered.
    role_form = page.get_by_role("form", name="Change role")
    options = await role_form.get_by_label("Role").locator("option").all_inner_texts()
    assert options == ["Peer keyworker", "Therapist", "Employment specialist", "Supervisor"]
    await role_form.get_by_label("Role").select_option(label="Employment specialist")
    await role_form.get_by_role("button", name="Save role").click()
    await expect(role_form.get_by_role("status")).to_have_text(
        "Role changed to Employment specialist."
    )

    # Propose a supervisor: pending until they accept.
    propose = page.get_by_role("form", name="Propose a supervisor")
    await propose.get_by_label("Supervisor").select_option(label=f"Sol {suffix}")
    await propose.get_by_role("button", name="Propose supervisor").click()
    await expect(propose.get_by_role("status")).to_contain_text("is proposed")
    supervision = page.get_by_role("region", name="Supervisor")
    await expect(supervision.get_by_role("row").filter(has_text=f"Sol {suffix}")).to_contain_text(
        "Waiting for them to accept"
    )

    # Deactivate, then reactivate.
    account = page.get_by_role("region", name="Account")
    await account.get_by_role("button", name="Deactivate account").click()
    await expect(account.get_by_role("status")).to_have_text("Account deactivated.")
    await expect(page.locator(".user-summary")).to_contain_text("Deactivated")
    await account.get_by_role("button", name="Reactivate account").click()
    await expect(account.get_by_role("status")).to_have_text("Account reactivated.")
    await expect(page.locator(".user-summary")).to_contain_text("Active")

    admin = live_sqlite.as_role("admin")
    person = next(
        p
        for p in admin.get("/api/v1/users", params={"limit": 200}).json()["items"]
        if p["email"] == email
    )
    assert person["role"] == "employment_specialist" and person["is_active"] is True
    links = admin.get(f"/api/v1/users/{person['id']}/supervisor").json()
    assert [(x["supervisor_id"], x["status"]) for x in links] == [(supervisor["id"], "pending")]

    # A team: made, renamed, a member added and taken off again.
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Teams").click()
    create = page.get_by_role("form", name="Create a team")
    await create.get_by_label("Team name").fill(f"Tynemouth {suffix}")
    await create.get_by_label("Area cluster").fill("Tyne and Wear")
    await create.get_by_role("button", name="Create team").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Tynemouth {suffix}")
    add = page.get_by_role("form", name="Add someone to the team")
    # Admins and clients are not offered.
    offered = await add.get_by_label("Person to add").locator("option").all_inner_texts()
    assert not any("Administrator" in o or "Client" in o for o in offered), offered
    await add.get_by_label("Person to add").select_option(
        label=f"Nia {suffix} (Employment specialist)"
    )
    await add.get_by_role("button", name="Add to team").click()
    members = page.get_by_role("region", name="Members")
    await expect(members.get_by_role("row").filter(has_text=f"Nia {suffix}")).to_be_visible()
    await expect(members.get_by_role("status")).to_contain_text(f"Nia {suffix}")

    rename = page.get_by_role("form", name="Rename the team")
    await rename.get_by_label("Team name").fill(f"Tynemouth and Whitley Bay {suffix}")
    await rename.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Tynemouth and Whitley Bay {suffix}"
    )

    await (
        members.get_by_role("form", name=f"Take Nia {suffix} off the team")
        .get_by_role("button", name="Remove")
        .click()
    )
    await expect(members.get_by_role("row").filter(has_text=f"Nia {suffix}")).to_have_count(0)

    # A name the server refuses is shown in its words.
    await rename.get_by_label("Team name").fill("X")
    await rename.get_by_role("button", name="Save").click()
    await expect(rename.get_by_role("alert")).to_contain_text("There is a problem")


async def test_admin_sets_up_single_sign_on_and_a_mismatched_issuer_is_refused(
    browser: Browser, live_sqlite: Live, discovery: str
) -> None:
    problems = PageProblems()
    context, page = await open_page(browser, problems)
    try:
        await single_sign_on_set_up(page, live_sqlite, discovery)
    finally:
        await context.close()
    settings = "/api/v1/auth/sso/organisations/"
    # Not set up yet (the page's first look), then the mismatched issuer; the address taken.
    only_these_refusals(problems, [("404", settings), ("422", settings), ("409", "/api/v1/users)")])


async def single_sign_on_set_up(page: Page, live_sqlite: Live, discovery: str) -> None:
    await sign_in_admin(page, live_sqlite)
    await page.get_by_role("link", name="Single sign-on settings").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Single sign-on")
    form = page.get_by_role("form", name="Single sign-on settings")
    # The provider states its issuer without the trailing slash.
    await form.get_by_label("Issuer").fill(discovery + "/")
    await form.get_by_label("Client ID").fill("teamwell")
    await form.get_by_label("Client secret").fill("a-client-secret-from-the-provider")
    await form.get_by_role("button", name="Save settings").click()
    await expect(form.get_by_role("alert")).to_contain_text(
        f"names the issuer {discovery}, not {discovery}/"
    )
    await form.get_by_label("Issuer").fill(discovery)
    await form.get_by_role("button", name="Save settings").click()
    await expect(form.get_by_role("status")).to_have_text("Single sign-on settings saved.")
    current = page.get_by_role("region", name="Current state")
    await expect(current).to_contain_text("Single sign-on is on.")
    await expect(current).to_contain_text("/api/v1/auth/sso/tyneside-nhs/callback")

    # An account for someone who signs in through the provider: it has no password.
    await axe_check(page, "single sign-on set up, with the form for an account")
    email = f"kai.{uuid.uuid4().hex[:8]}@tyneside.example"
    add = page.get_by_role("form", name="Add someone who signs in with single sign-on")
    await add.get_by_label("Email address").fill(email)
    await add.get_by_label("Name", exact=True).fill("Kai Provider")
    await add.get_by_label("Role").select_option(label="Therapist")
    await add.get_by_role("button", name="Add account").click()
    await expect(add.get_by_role("status")).to_contain_text(f"Account made for {email}.")
    # The same address twice is refused in the server's words.
    await add.get_by_label("Email address").fill(email)
    await add.get_by_label("Name", exact=True).fill("Kai Again")
    await add.get_by_role("button", name="Add account").click()
    await expect(add.get_by_role("alert")).to_contain_text(
        "An account with that email already exists."
    )
    await page.get_by_role("link", name="Open Kai Provider’s page").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Kai Provider")
    await expect(page.locator(".user-summary")).to_contain_text(f"Therapist · {email} · Active")
    with live_sqlite.client() as http:  # no password to sign in with
        refused = http.post(
            "/api/v1/auth/login", json={"email": email, "password": "any-password-at-all"}
        )
        assert refused.status_code == 401, refused.text
    await page.go_back()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Single sign-on")

    # Removed again, so the sign-in page of other tests lists no provider.
    await page.get_by_role("button", name="Remove single sign-on").click()
    await expect(
        page.get_by_role("status").filter(has_text="Single sign-on removed.")
    ).to_be_visible()
    await expect(current).to_contain_text("Single sign-on is not set up.")


TRUST = "Tyneside NHS Foundation Trust"


async def test_admin_edits_their_organisation_and_adds_a_partner(
    browser: Browser, live_sqlite: Live
) -> None:
    problems = PageProblems()
    context, page = await open_page(browser, problems)
    try:
        await organisation_journey(page, live_sqlite)
    finally:
        await context.close()
        # The demo trust's name, whatever happened, for the tests after this one.
        live_sqlite.as_role("admin").patch(
            f"/api/v1/organisations/{live_sqlite.as_role('admin').user['organisation_id']}",
            json={"name": TRUST},
        )
    # The refusals the admin was shown: a name too short, a short name already taken.
    only_these_refusals(
        problems, [("422", "/api/v1/organisations/"), ("409", "/api/v1/organisations)")]
    )


async def organisation_journey(page: Page, live_sqlite: Live) -> None:
    suffix = uuid.uuid4().hex[:6]
    await sign_in_admin(page, live_sqlite)
    await open_nav(page, "Organisation")
    details = page.get_by_role("region", name="Details")
    await expect(details).to_contain_text(TRUST)
    await expect(details).to_contain_text("NHS trust")
    await expect(details).to_contain_text("tyneside-nhs")

    # Edit: a refusal in the server's words beside the field, then the change saved.
    edit = page.get_by_role("form", name="Edit your organisation")
    await edit.get_by_label("Name").fill("T")
    await edit.get_by_role("button", name="Save changes").click()
    await expect(edit.get_by_role("alert")).to_contain_text("There is a problem")
    await expect(edit.locator(".field__error")).to_contain_text("at least 2")
    renamed = f"Tyneside and Wear NHS Trust {suffix}"
    await edit.get_by_label("Name").fill(renamed)
    await edit.get_by_role("button", name="Save changes").click()
    await expect(edit.get_by_role("status")).to_have_text("Organisation details saved.")
    await expect(details).to_contain_text(renamed)
    listed = page.get_by_role("table", name="Organisations in the programme")
    await expect(listed.get_by_role("row").filter(has_text=f"{renamed} (yours)")).to_have_count(1)
    await page.reload()
    await expect(details).to_contain_text(renamed)
    await page.get_by_role("form", name="Edit your organisation").get_by_label("Name").fill(TRUST)
    await page.get_by_role("button", name="Save changes").click()
    await expect(details).to_contain_text(TRUST)

    # A partner: added, listed; its short name cannot be taken twice (the server's words).
    add = page.get_by_role("form", name="Add a partner organisation")
    council = f"Gateshead Council {suffix}"
    await add.get_by_label("Name", exact=True).fill(council)
    await add.get_by_label("Short name").fill(f"gateshead-{suffix}")
    await add.get_by_label("Kind").select_option(label="Local authority")
    await add.get_by_role("button", name="Add organisation").click()
    await expect(add.get_by_role("status")).to_contain_text(f"{council} added.")
    table = page.get_by_role("table", name="Organisations in the programme")
    await expect(table.get_by_role("row").filter(has_text=council)).to_contain_text(
        "Local authority"
    )
    await add.get_by_label("Name", exact=True).fill("Another council")
    await add.get_by_label("Short name").fill(f"gateshead-{suffix}")
    await add.get_by_role("button", name="Add organisation").click()
    await expect(add.get_by_role("alert")).to_contain_text(
        f"An organisation with the slug 'gateshead-{suffix}' already exists."
    )

    listed = live_sqlite.as_role("admin").get("/api/v1/organisations", params={"limit": 200})
    made = [o for o in listed.json()["items"] if o["name"] == council]
    assert [(o["slug"], o["kind"]) for o in made] == [(f"gateshead-{suffix}", "local_authority")]


async def test_a_failed_single_sign_on_is_a_page_with_a_way_back(
    page: Page, live_sqlite: Live
) -> None:
    response = await page.goto(f"{live_sqlite.base_url}/api/v1/auth/sso/no-such-organisation/login")
    assert response is not None and response.ok
    await expect(page).to_have_url(re.compile(r"#/sso/failed/not-configured$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("We could not sign you in")
    await expect(page.get_by_role("alert")).to_contain_text(
        "Single sign-on is not set up for this organisation"
    )
    await page.get_by_role("link", name="Sign in again").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
