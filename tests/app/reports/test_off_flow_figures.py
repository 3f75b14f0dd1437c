"""The off-flow and eligibility figures of the programme report, from hand-built facts; each
expected count is worked out in the test from the definitions (docs/reports.md)."""

from __future__ import annotations

from datetime import date, timedelta

from app.benefits.rules import BenefitKind, Claim, UcRegime
from app.reports import definitions
from app.reports.definitions import ClientFacts, tally

FIRST = date(2026, 4, 1)
LAST = date(2026, 6, 30)
WINDOW = 28


def day(n: int) -> date:
    return FIRST + timedelta(days=n)


def esa(start: date, end: date | None = None) -> Claim:
    return Claim(BenefitKind.esa, start, end)


def facts(
    claims: tuple[Claim, ...] = (),
    referred: tuple[date, ...] = (),
    ineligible: tuple[date, ...] = (),
) -> ClientFacts:
    return ClientFacts(
        arm="not_allocated",
        referred_on=referred,
        first_meeting_on=None,
        joined_on=referred[0] if referred else FIRST,
        first_employer_contact_on=None,
        jobs=(),
        benefit_claims=claims,
        ineligible_referred_on=ineligible,
    )


def test_off_flows_in_the_period() -> None:
    clients = [
        # Off on day 10, confirmed on day 38: counts.
        facts((esa(day(-200), day(10)),)),
        # Off on day 80; the window ends on day 108, after the last day (90):
        # not yet confirmed on the period's last day, so not counted.
        facts((esa(day(-200), day(80)),)),
        # Ends on day 20 and restarts on day 40 (20 days later): one spell, still on benefits.
        facts((esa(day(-200), day(20)), esa(day(40)))),
        # Off before the period: not in it.
        facts((esa(day(-200), day(-40)),)),
        # PIP only: never on an out-of-work benefit.
        facts((Claim(BenefitKind.pip, day(-200), day(5)),)),
        # Two off-flows in the period (day 5 and day 60) count the client once.
        facts((esa(day(-100), day(5)), esa(day(34), day(60)))),
        # Universal Credit moving to working enough on day 30: an off-flow, confirmed day 58.
        facts(
            (
                Claim(
                    BenefitKind.universal_credit, day(-50), day(30), UcRegime.intensive_work_search
                ),
                Claim(BenefitKind.universal_credit, day(30), None, UcRegime.working_enough),
            )
        ),
    ]
    found = tally(clients, first_day=FIRST, as_of=LAST, window_days=WINDOW)
    assert found["benefit_off_flows"].numerator == 3


def test_off_flow_rate_of_those_claiming_at_referral() -> None:
    clients = [
        # Claiming at referral (day 2), off since day 30: in both.
        facts((esa(day(-100), day(30)),), referred=(day(2),)),
        # Claiming at referral, still claiming: in the denominator only.
        facts((esa(day(-100)),), referred=(day(2),)),
        # Claiming at referral, off on day 80, not yet for the window at the end: denominator.
        facts((esa(day(-100), day(80)),), referred=(day(2),)),
        # Not claiming at referral (the claim ended the day before): neither.
        facts((esa(day(-100), day(2)),), referred=(day(2),)),
        # Only PIP at referral: neither.
        facts((Claim(BenefitKind.pip, day(-100)),), referred=(day(2),)),
        # Referred before the period: neither.
        facts((esa(day(-100), day(10)),), referred=(day(-5),)),
    ]
    found = tally(clients, first_day=FIRST, as_of=LAST, window_days=WINDOW)
    assert (found["off_flow_rate"].numerator, found["off_flow_rate"].denominator) == (1, 3)


def test_an_ineligible_referral_still_counts_as_a_referral() -> None:
    clients = [
        facts(referred=(day(1), day(50)), ineligible=(day(1),)),
        facts(referred=(day(3),), ineligible=(day(3),)),
        facts(referred=(day(-3),), ineligible=(day(-3),)),  # before the period
    ]
    found = tally(clients, first_day=FIRST, as_of=LAST)
    assert found["referrals"].numerator == 3
    assert found["ineligible_referrals"].numerator == 2


def test_off_flow_figures_are_suppressed_like_the_others() -> None:
    clients = [facts((esa(day(-100), day(5)),), referred=(day(1),)) for _ in range(2)]
    shown = {
        f.definition.key: f.overall
        for f in definitions.figures(
            clients, first_day=FIRST, as_of=LAST, threshold=3, by_arm=False
        )
    }
    assert shown["benefit_off_flows"].suppressed and shown["benefit_off_flows"].value is None
    assert shown["off_flow_rate"].suppressed and shown["off_flow_rate"].numerator is None
