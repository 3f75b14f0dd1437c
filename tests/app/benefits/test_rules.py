"""Off-flow computed from hand-built benefit histories; each expected answer is worked out in
the test from the definitions in app/benefits/rules.py."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.benefits.rules import (
    BenefitKind,
    Claim,
    OffFlowState,
    UcRegime,
    is_out_of_work,
    off_flow,
    on_out_of_work_benefit,
)

WINDOW = 28
D = date(2026, 3, 2)


def day(n: int) -> date:
    return D + timedelta(days=n)


def esa(start: int, end: int | None = None) -> Claim:
    return Claim(BenefitKind.esa, day(start), day(end) if end is not None else None)


def test_open_claim_is_on_benefits() -> None:
    status = off_flow([esa(0)], as_of=day(100), window_days=WINDOW)
    assert status.state == OffFlowState.on_benefits
    assert status.off_since is None and status.off_flows == ()


def test_ended_claim_is_pending_until_the_window_passes_then_off() -> None:
    # Ends on day 10: days 10..37 are within the window (10 + 28 = 38 is the first day off).
    history = [esa(0, 10)]
    pending = off_flow(history, as_of=day(37), window_days=WINDOW)
    assert pending.state == OffFlowState.pending
    assert pending.off_since == day(10) and pending.days_off == 27
    off = off_flow(history, as_of=day(38), window_days=WINDOW)
    assert off.state == OffFlowState.off
    assert off.days_off == 28 and off.off_flows == (day(10),)


def test_claim_that_restarts_within_the_window_is_not_an_off_flow() -> None:
    # ESA ends on day 10 and JSA starts on day 37 (27 days later, inside the 28-day window):
    # one spell, so the only off-flow is the end of JSA.
    history = [esa(0, 10), Claim(BenefitKind.jsa, day(37), day(60))]
    status = off_flow(history, as_of=day(200), window_days=WINDOW)
    assert status.off_flows == (day(60),)
    assert status.state == OffFlowState.off and status.off_since == day(60)
    assert status.days_off == 140


def test_restart_after_the_window_makes_two_off_flows() -> None:
    # Off on day 10; back on from day 38 (28 days later: the window has passed, the off-flow was
    # confirmed that day); off again on day 50.
    history = [esa(0, 10), esa(38, 50)]
    status = off_flow(history, as_of=day(100), window_days=WINDOW)
    assert status.off_flows == (day(10), day(50))
    assert status.state == OffFlowState.off and status.days_off == 50


def test_pip_alone_is_not_out_of_work() -> None:
    history = [Claim(BenefitKind.pip, day(0))]
    assert not is_out_of_work(history[0])
    status = off_flow(history, as_of=day(50), window_days=WINDOW)
    assert status.state == OffFlowState.never_claimed
    assert not on_out_of_work_benefit(history, day(5))


def test_pip_continuing_does_not_keep_someone_on_out_of_work_benefits() -> None:
    history = [esa(0, 20), Claim(BenefitKind.pip, day(0))]
    status = off_flow(history, as_of=day(60), window_days=WINDOW)
    assert status.state == OffFlowState.off and status.off_since == day(20)


def test_overlapping_claims_off_only_when_the_last_ends() -> None:
    # ESA days 0-30, UC (intensive work search) days 20-45: off from day 45, not day 30.
    uc = Claim(BenefitKind.universal_credit, day(20), day(45), UcRegime.intensive_work_search)
    status = off_flow([esa(0, 30), uc], as_of=day(90), window_days=WINDOW)
    assert status.off_flows == (day(45),)
    assert status.off_since == day(45) and status.days_off == 45


def test_claim_inside_another_does_not_end_the_spell_early() -> None:
    status = off_flow([esa(0, 100), esa(10, 20)], as_of=day(110), window_days=WINDOW)
    assert status.state == OffFlowState.pending and status.off_since == day(100)


def test_universal_credit_working_enough_is_not_out_of_work() -> None:
    working = Claim(BenefitKind.universal_credit, day(0), None, UcRegime.working_enough)
    light = Claim(BenefitKind.universal_credit, day(0), None, UcRegime.light_touch)
    assert not is_out_of_work(working)
    assert is_out_of_work(light)
    # Moving from searching for work to working enough is leaving out-of-work benefits.
    searching = Claim(BenefitKind.universal_credit, day(0), day(40), UcRegime.intensive_work_search)
    moved = Claim(BenefitKind.universal_credit, day(40), None, UcRegime.working_enough)
    status = off_flow([searching, moved], as_of=day(80), window_days=WINDOW)
    assert status.state == OffFlowState.off and status.off_since == day(40)


def test_the_future_is_not_known() -> None:
    # A claim recorded as starting after as_of is ignored; an end after as_of is not reached.
    assert off_flow([esa(50)], as_of=day(10), window_days=WINDOW).state == (
        OffFlowState.never_claimed
    )
    assert off_flow([esa(0, 50)], as_of=day(10), window_days=WINDOW).state == (
        OffFlowState.on_benefits
    )


def test_baseline_uses_the_days_a_claim_is_in_force() -> None:
    history = [esa(0, 10)]
    assert on_out_of_work_benefit(history, day(0))
    assert on_out_of_work_benefit(history, day(9))
    assert not on_out_of_work_benefit(history, day(10))  # the end day is the first day off
    assert not on_out_of_work_benefit(history, day(-1))


def test_window_zero_counts_any_end_at_once_but_back_to_back_claims_are_one_spell() -> None:
    status = off_flow([esa(0, 10)], as_of=day(10), window_days=0)
    assert status.state == OffFlowState.off and status.days_off == 0
    joined = off_flow([esa(0, 10), esa(10, 20)], as_of=day(30), window_days=0)
    assert joined.off_flows == (day(20),)


def test_negative_window_is_refused() -> None:
    with pytest.raises(ValueError):
        off_flow([], as_of=D, window_days=-1)
