"""Job quality beside job entry, and sustainment of competitive jobs only, from hand-built
histories with the answers worked out here."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.config import Settings
from app.ips import rules
from app.ips.rules import Job
from app.reports.definitions import CONTRACT_LABELS, ClientFacts, Tally, tally

D0 = date(2026, 3, 2)
POINT = D0 + timedelta(weeks=13)


def job(
    *,
    ended: date | None = None,
    competitive: bool = True,
    pay: int | None = None,
    threshold: int | None = 1345,
    contract: str | None = None,
    hours: float = 16,
) -> Job:
    return Job(
        employer="Tyne Foods",
        role="Packer",
        hours_per_week=hours,
        started_on=D0,
        ended_on=ended,
        competitive=competitive,
        hourly_pay_pence=pay,
        wage_threshold_pence=threshold if pay is not None else None,
        contract_type=contract,
    )


def one_client(*jobs: Job) -> list[ClientFacts]:
    return [
        ClientFacts(
            arm="not_allocated",
            referred_on=(),
            first_meeting_on=None,
            joined_on=D0,
            first_employer_contact_on=None,
            jobs=jobs,
        )
    ]


def test_a_job_that_is_not_competitive_does_not_count_in_sustainment() -> None:
    history = one_client(
        job(),  # competitive, held at 13 weeks
        job(competitive=False),  # held, but not competitive: left out by default
        job(ended=POINT - timedelta(days=1)),  # competitive, ended the day before the point
        job(competitive=False, ended=D0 + timedelta(days=3)),  # neither counted nor held
    )
    found = tally(history, first_day=POINT, as_of=POINT)
    assert found["sustained_13_weeks"] == Tally(1, 2)
    every_job = tally(history, first_day=POINT, as_of=POINT, competitive_only=False)
    assert every_job["sustained_13_weeks"] == Tally(2, 4)
    # Every job is still a job entry, competitive or not.
    started = tally(history, first_day=D0, as_of=D0)
    assert started["job_entries"] == Tally(4, None)
    assert started["job_entries_competitive"] == Tally(2, 4)


def test_pay_at_the_threshold_meets_it_and_unrecorded_pay_is_left_out() -> None:
    history = one_client(
        job(pay=1345),  # exactly the threshold: meets it
        job(pay=1344),  # a penny below
        job(pay=1200, threshold=1100),  # below today's rate but met the one in force then
        job(pay=None),  # not recorded: not in the denominator
    )
    found = tally(history, first_day=D0, as_of=D0)
    assert found["job_entries_at_wage_threshold"] == Tally(2, 3)
    assert rules.meets_wage_threshold(1345, 1345) is True
    assert rules.meets_wage_threshold(1344, 1345) is False
    assert rules.meets_wage_threshold(None, 1345) is None
    assert rules.meets_wage_threshold(1345, None) is None


def test_median_hours_and_the_contract_mix() -> None:
    history = one_client(
        job(hours=10, contract="permanent"),
        job(hours=16, contract="permanent"),
        job(hours=30, contract="zero_hours"),
        job(hours=37.5, contract=None),
    )
    found = tally(history, first_day=D0, as_of=D0)
    assert found["job_entries_median_hours"] == Tally(None, 4, (10, 16, 30, 37.5))
    assert found["job_entries_permanent"] == Tally(2, None)
    assert found["job_entries_zero_hours"] == Tally(1, None)
    assert found["job_entries_apprenticeship"] == Tally(0, None)
    assert set(CONTRACT_LABELS) == {
        "permanent",
        "fixed_term",
        "zero_hours",
        "self_employed",
        "apprenticeship",
    }
    # Jobs started outside the period are not job entries.
    later = tally(history, first_day=D0 + timedelta(days=1), as_of=POINT)
    assert later["job_entries"] == Tally(0, None)
    assert later["job_entries_median_hours"] == Tally(None, 0, ())


def test_counts_for_sustainment_follows_the_setting() -> None:
    sheltered = job(competitive=False)
    assert not rules.counts_for_sustainment(sheltered)
    assert rules.counts_for_sustainment(sheltered, competitive_only=False)
    assert rules.counts_for_sustainment(job())


def test_the_wage_threshold_and_competitive_only_are_settings() -> None:
    defaults = Settings()
    assert defaults.wage_threshold_pence == 1345
    assert defaults.wage_threshold_name == "Real Living Wage"
    assert defaults.sustainment_competitive_only is True
    assert Settings(wage_threshold_pence=1).wage_threshold_pence == 1
    with pytest.raises(ValueError):
        Settings(wage_threshold_pence=0)
