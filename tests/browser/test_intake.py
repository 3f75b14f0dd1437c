"""Intake and the record's administration in a real browser, through the UI only.

The peer keyworker (Priya) takes a referral from the clients list: the new client's record opens.
She puts the partner organisation's employment specialist (Erin) and a therapist (Tom) on the
care team, then ends Tom's membership. She records the client's consent to share with the
employment provider (`employment_sharing`): Erin, in her own browser, finds the client in her
list and opens the record. Priya withdraws that consent: Erin's next change on the page she has
open is refused, and the page, reloaded, shows the server's refusal. Last, Priya records a
further referral.

Each person signs in with a recovery code from the end of their list (``pop()``), as the other
browser tests do. As in the ``page`` fixture, a console error, a Content-Security-Policy
violation or an uncaught error fails the test (the two expected 403s are taken out by name).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.browser.support import PageProblems, open_nav, open_page, sign_in
from tests.conftest import ROLE_EMAILS, Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

PROVIDER = "Northern Employment Partners"
TEAM = "Newcastle IPS Team"
REFUSAL = (
    "You do not have access to this: no current consent (employment_sharing) for this organisation."
)


async def test_referral_care_team_and_consent_decide_who_reads_the_record(
    browser: Browser, live_sqlite: Live
) -> None:
    keyworker_api = live_sqlite.as_role("peer_keyworker")
    keyworker_code = keyworker_api.recovery_code()
    specialist_code = live_sqlite.as_role("employment_specialist").recovery_code()
    name = f"Gwen Harper {uuid.uuid4().hex[:6]}"
    reason = "Wants to get back to bus driving after a long absence."

    priya_problems, erin_problems = PageProblems(), PageProblems()
    priya_context, priya = await open_page(browser, priya_problems)
    erin_context, erin = await open_page(browser, erin_problems)
    try:
        # Priya takes the referral from the clients list; the new record opens.
        await sign_in(priya, live_sqlite, ROLE_EMAILS["peer_keyworker"], code=keyworker_code)
        await open_nav(priya, "Clients")
        await priya.locator("summary", has_text="Take a referral").click()
        intake = priya.get_by_role("form", name="Take a referral")
        await intake.get_by_label("Client’s name").fill(name)
        # Chosen by name: other tests add teams to the organisation, and with more than one
        # the form asks which team takes the referral.
        await intake.get_by_label("Team", exact=True).select_option(label=TEAM)
        await intake.get_by_label("Referred by").select_option(label="Jobcentre")
        await intake.get_by_label("Reason for referral").fill(reason)
        await intake.get_by_role("button", name="Take referral").click()
        await expect(priya.get_by_role("heading", level=1)).to_have_text(name)
        await expect(priya).to_have_url(re.compile(r"#/clients/[0-9a-f-]+$"))
        client_id = priya.url.rsplit("/", 1)[1]

        care_team = priya.get_by_role("region", name="Care team")
        await expect(care_team.get_by_role("rowheader", name="Priya Shah")).to_be_visible()
        referrals = priya.get_by_role("region", name="Referrals")
        await expect(referrals.get_by_role("row").filter(has_text=reason)).to_contain_text(
            "Jobcentre"
        )

        # Erin (the partner's specialist) and Tom join the care team; Tom's membership ends.
        for person, role_on_team in (
            ("Erin Walsh (Employment specialist)", None),
            ("Tom Okafor (Therapist)", "Therapist"),
        ):
            await care_team.locator("summary", has_text="Add to the care team").click()
            add = care_team.get_by_role("form", name="Add to the care team")
            await add.get_by_label("Member of staff").select_option(label=person)
            if role_on_team:
                await add.get_by_label("Role on the care team").select_option(label=role_on_team)
            await add.get_by_role("button", name="Add to care team").click()
            joined = person.split(" (")[0]
            await expect(care_team.get_by_role("rowheader", name=joined)).to_be_visible()
        await care_team.get_by_role("button", name="End membership: Tom Okafor").click()
        await expect(
            care_team.get_by_text("Tom Okafor is no longer on the care team.")
        ).to_be_visible()
        current = care_team.get_by_role("table", name="Care team", exact=True)
        await expect(current.get_by_role("rowheader")).to_have_text(["Priya Shah", "Erin Walsh"])
        await care_team.locator("summary", has_text="Past members").click()
        past = care_team.get_by_role("table", name="Care team, with past members")
        await expect(past.get_by_role("rowheader")).to_have_text(["Tom Okafor"])

        # Priya records the client's consent to share with the employment provider.
        consent = priya.get_by_role("region", name="Consent")
        await consent.locator("summary", has_text="Record a consent decision").click()
        decision = consent.get_by_role("form", name="Record a consent decision")
        await decision.get_by_label("Organisation").select_option(label=PROVIDER)
        await decision.get_by_label("Purpose").select_option(label="Employment sharing")
        await decision.get_by_label("Grant consent").check()
        await decision.get_by_label("Note (optional)").fill("Agreed in person at intake.")
        await decision.get_by_role("button", name="Record decision").click()
        provider_row = consent.get_by_role("row").filter(
            has=priya.get_by_role("rowheader", name=PROVIDER)
        )
        await expect(provider_row).to_contain_text("Granted")

        # Erin finds the client in her own list and reads the record.
        await sign_in(erin, live_sqlite, ROLE_EMAILS["employment_specialist"], code=specialist_code)
        await open_nav(erin, "Clients")
        await (
            erin.get_by_role("table", name="Clients").get_by_role("link", name=name, exact=True)
        ).click()
        await expect(erin.get_by_role("heading", level=1)).to_have_text(name)
        erin_consent = erin.get_by_role("region", name="Consent")
        await erin_consent.locator("summary", has_text="Consent history").click()
        await expect(
            erin_consent.get_by_role("table", name="Consent history").get_by_role("row")
        ).to_have_count(2)  # header and the one decision

        # Priya withdraws it; Erin's access is gone and her page says why, in the server's words.
        await provider_row.get_by_role(
            "button", name=f"Withdraw consent: Employment sharing for {PROVIDER}"
        ).click()
        await expect(provider_row).to_contain_text("Withdrawn")
        await consent.locator("summary", has_text="Consent history").click()
        history = consent.get_by_role("table", name="Consent history")
        await expect(history.get_by_role("row")).to_have_count(3)  # header and two decisions
        await expect(history).to_contain_text("Agreed in person at intake.")
        # On the page she still has open, her next change is refused in the server's words.
        erin_referrals = erin.get_by_role("region", name="Referrals")
        await erin_referrals.locator("summary", has_text="Add a referral").click()
        attempt = erin_referrals.get_by_role("form", name="Add a referral")
        await attempt.get_by_label("Referred by").select_option(label="Other")
        await attempt.get_by_label("Reason for referral").fill("Employer asked for support.")
        await attempt.get_by_role("button", name="Add referral").click()
        await expect(attempt.get_by_role("alert")).to_contain_text(REFUSAL)
        await erin.reload()
        await expect(erin.get_by_role("heading", level=1)).to_have_text(
            "You do not have access to this page"
        )
        await expect(erin.get_by_text(REFUSAL)).to_be_visible()
        refused = [e for e in erin_problems.console_errors if "403" in e]
        assert len(refused) == 2, refused
        # Each console error ends with the address it came from: the referral, then the record.
        assert refused[0].endswith(f"/clients/{client_id}/referrals)"), refused
        assert refused[1].endswith(f"/clients/{client_id})"), refused
        for expected in refused:
            erin_problems.console_errors.remove(expected)

        # A further referral, recorded from the record.
        earlier = date.today() - timedelta(days=3)
        await referrals.locator("summary", has_text="Add a referral").click()
        further = referrals.get_by_role("form", name="Add a referral")
        await further.get_by_label("Referred by").select_option(label="Self-referral")
        await further.get_by_label("Referred on").fill(earlier.isoformat())
        await further.get_by_label("Reason for referral").fill("Asked to add in-work support.")
        await further.get_by_role("button", name="Add referral").click()
        await expect(referrals.get_by_text("Referral added.")).to_be_visible()
        await expect(
            referrals.get_by_role("table", name="Referrals").get_by_role("row")
        ).to_have_count(3)
    finally:
        await priya_context.close()
        await erin_context.close()
    priya_problems.assert_clean()
    erin_problems.assert_clean()

    # What the UI did is what the server holds.
    record = keyworker_api.get(f"/api/v1/clients/{client_id}").json()
    assert record["display_name"] == name and record["status"] == "referred"
    assert sorted(m["display_name"] for m in record["care_team"]) == ["Erin Walsh", "Priya Shah"]
    assert [(r["source"], r["referred_on"]) for r in record["referrals"]] == [
        ("self", earlier.isoformat()),
        ("jobcentre", date.today().isoformat()),
    ]
    decisions = keyworker_api.get(f"/api/v1/clients/{client_id}/consents").json()
    assert [(d["organisation_name"], d["purpose"], d["state"]) for d in decisions] == [
        (PROVIDER, "employment_sharing", "granted"),
        (PROVIDER, "employment_sharing", "withdrawn"),
    ]
    past_team = keyworker_api.get(
        f"/api/v1/clients/{client_id}/care-team", params={"include_past": True}
    ).json()
    tom = next(m for m in past_team if m["display_name"] == "Tom Okafor")
    assert tom["role_on_team"] == "therapist" and tom["until"] is not None
    assert (
        live_sqlite.as_role("employment_specialist").get(f"/api/v1/clients/{client_id}").status_code
        == 403
    )
