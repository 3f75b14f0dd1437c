"""Programme reports: the figure definitions and suppression as pure functions at their edges,
then the whole API on a server of its own, seeded with a data set whose answers are known.

The seeded programme (D is the server's today; the period is D-400 to D):

Team A (the employment provider, cluster "North Tyne")
    a1  referred D-300, first meeting D-290, first employer contact D-280 (10 days), job from
        D-200 still held; PHQ-9/GAD-7 15/12 then 5/4 (recovered, reliable improvement); IPS arm
    a2  referred D-250, met D-240, job D-220 to D-150 (its start is the first contact, 20 days);
        12/5 then 11/5 (a case, not recovered, no reliable change); IPS arm
    a3  referred D-200, met D-195, first contact D-140 (55 days), job from D-120 held; 8/6 then
        2/3 (not a case; PHQ-9 down exactly 6: reliable improvement); treatment as usual
    a4  referred D-100, met D-90, no contact (30 days passed); 20/15 then 9/7 (recovered at the
        thresholds' edge); diversion 4 sessions offered, 2 attended; treatment as usual
    a5  referred D-20, met D-10, no contact yet (not 30 days); diversion 3 offered, none
        attended; treatment as usual
    a6  referred D-450 and again D-50, met D-440, job from D-380 held; not allocated
    a7  referred D-30, never met (joined the day the record was made, D); a diversion activity
        with no session offered; not allocated
    a8  referred D-60, met D-55, employer contact logged for them D-50 (5 days); diversion 2
        offered, 1 attended; IPS arm
Team B (the employment provider, cluster "South Tyne")
    b1-b3  referred D-70, met D-65, first contact D-60 (5 days); b1 PHQ-9/GAD-7 10/3 then 9/3
Team C (the trust, cluster "North Tyne")
    c1  referred D-10, never met
Benefits (recorded by the team's employment specialist; the restart window is 28 days)
    a1  ESA D-400 to D-100: off-flow D-100        a2  JSA D-260 to D-200, again from D-190
    a3  UC (intensive work search) D-300 to D-150  (within the window: one spell, still on)
    a4  ESA D-200 to D-50: off-flow D-50          a5  PIP only (not out-of-work)
    a8  UC D-100 to D-10 (pending: inside the window)
    So team A: 3 off-flows; claiming at referral a1, a2, a3, a4, a8 (5), off at D a1, a3, a4.
Eligibility: b1-b3 each re-referred D-70 and found ineligible (3 ineligible referrals).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.ips.rules import Job
from app.reports import definitions
from app.reports.definitions import (
    BY_KEY,
    DEFINITIONS,
    ClientFacts,
    DiversionFacts,
    OutcomeFacts,
    Tally,
    figures,
    present,
    tally,
)
from app.reports.service import CSV_COLUMNS
from tests.conftest import Live, Session, live_server, problem
from tests.support.builders import new_client, new_team

D0 = date(2026, 3, 2)


def client(
    *,
    arm: definitions.Group = "not_allocated",
    referred: tuple[date, ...] = (),
    met: date | None = None,
    joined: date | None = None,
    contact: date | None = None,
    jobs: tuple[Job, ...] = (),
    outcome: OutcomeFacts | None = None,
    diversion: DiversionFacts | None = None,
) -> ClientFacts:
    return ClientFacts(
        arm=arm,
        referred_on=referred,
        first_meeting_on=met,
        joined_on=joined or met or D0,
        first_employer_contact_on=contact,
        jobs=jobs,
        outcome=outcome,
        diversion=diversion,
    )


def job(started: date, ended: date | None = None) -> Job:
    return Job(
        employer="Tyne Foods", role="Packer", hours_per_week=16, started_on=started, ended_on=ended
    )


# --- definitions as data ---------------------------------------------------------------------


def test_every_figure_has_its_definition_in_one_place() -> None:
    keys = [d.key for d in DEFINITIONS]
    assert keys == [
        "referrals",
        "ineligible_referrals",
        "engagement",
        "job_entries",
        "job_entries_competitive",
        "job_entries_at_wage_threshold",
        "job_entries_median_hours",
        "job_entries_permanent",
        "job_entries_fixed_term",
        "job_entries_zero_hours",
        "job_entries_self_employed",
        "job_entries_apprenticeship",
        "sustained_13_weeks",
        "sustained_26_weeks",
        "sustained_52_weeks",
        "benefit_off_flows",
        "off_flow_rate",
        "first_employer_contact_median_days",
        "first_employer_contact_within_30_days",
        "recovery",
        "reliable_improvement",
        "diversion_uptake",
    ]
    assert set(tally([], first_day=D0, as_of=D0)) == set(keys)
    for d in DEFINITIONS:
        assert d.label and d.definition and d.numerator
        assert (d.denominator is None) == (d.unit == "count")


def test_the_documentation_gives_every_figure() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "reports.md").read_text()
    for d in DEFINITIONS:
        assert f"| `{d.key}` | {d.label} | {d.unit} |" in text, d.key


# --- counting at the edges -------------------------------------------------------------------


def test_referrals_and_engagement_count_the_period_inclusively() -> None:
    first, last = D0, D0 + timedelta(days=9)
    clients = [
        client(referred=(first - timedelta(days=1),)),  # before the period
        client(referred=(first,), met=last),  # first day; met on the last day
        client(referred=(last,), met=last + timedelta(days=1)),  # met after the period
        client(referred=(first - timedelta(days=5), last)),  # re-referred in the period
        client(referred=(last + timedelta(days=1),)),  # after the period
    ]
    found = tally(clients, first_day=first, as_of=last)
    assert found["referrals"] == Tally(3, None)
    assert found["engagement"] == Tally(1, 3)


def test_sustainment_points_fall_in_the_period_and_an_end_on_the_point_counts_as_held() -> None:
    start = D0
    point = start + timedelta(weeks=13)
    jobs = (
        job(start),  # held
        job(start, point),  # ended on the point: held on it
        job(start, point - timedelta(days=1)),  # ended the day before: not sustained
    )
    on_the_day = tally([client(jobs=jobs)], first_day=point, as_of=point)
    assert on_the_day["sustained_13_weeks"] == Tally(2, 3)
    assert on_the_day["job_entries"] == Tally(0, None)
    day_before = tally([client(jobs=jobs)], first_day=start, as_of=point - timedelta(days=1))
    assert day_before["sustained_13_weeks"] == Tally(0, 0)
    assert day_before["job_entries"] == Tally(3, None)
    later = tally([client(jobs=jobs)], first_day=start, as_of=start + timedelta(weeks=52))
    assert later["sustained_26_weeks"] == Tally(1, 3)
    assert later["sustained_52_weeks"] == Tally(1, 3)


def test_first_employer_contact_within_30_days_and_when_the_outcome_is_known() -> None:
    joined = D0
    due = joined + timedelta(days=30)
    clients = [
        client(joined=joined, contact=due),  # on the due day: within
        client(joined=joined, contact=due + timedelta(days=1)),  # a day late
        client(joined=joined, contact=joined - timedelta(days=3)),  # before joining: 0 days
        client(joined=joined),  # no contact: known once the due day has passed
    ]
    on_due_day = tally(clients[3:], first_day=joined, as_of=due)
    assert on_due_day["first_employer_contact_within_30_days"] == Tally(0, 0)
    day_after = tally(clients, first_day=joined, as_of=due + timedelta(days=1))
    assert day_after["first_employer_contact_within_30_days"] == Tally(2, 4)
    assert day_after["first_employer_contact_median_days"] == Tally(None, 3, (0, 30, 31))
    # A contact after the day counted to is not yet a contact.
    before = tally(clients[:2], first_day=joined, as_of=due)
    assert before["first_employer_contact_median_days"].days == (30,)


def test_recovery_counts_only_cases_and_improvement_counts_everyone_finished() -> None:
    day = D0

    def outcome(caseness: bool, recovery: bool, improved: bool) -> OutcomeFacts:
        return OutcomeFacts(day, caseness, recovery, improved)

    clients = [
        client(outcome=outcome(True, True, True)),
        client(outcome=outcome(True, False, False)),
        client(outcome=outcome(False, False, True)),
        client(outcome=OutcomeFacts(day - timedelta(days=1), True, True, True)),  # earlier
    ]
    found = tally(clients, first_day=day, as_of=day)
    assert found["recovery"] == Tally(1, 2)
    assert found["reliable_improvement"] == Tally(2, 3)


def test_diversion_uptake_needs_a_change_in_the_period_and_a_session_offered() -> None:
    day = D0
    clients = [
        client(diversion=DiversionFacts((day,), 4, 1)),
        client(diversion=DiversionFacts((day,), 3, 0)),
        client(diversion=DiversionFacts((day,), 0, 0)),  # nothing offered yet
        client(diversion=DiversionFacts((day - timedelta(days=1),), 5, 5)),  # changed before
    ]
    assert tally(clients, first_day=day, as_of=day)["diversion_uptake"] == Tally(1, 2)


# --- suppression at the edges ----------------------------------------------------------------


def test_counts_of_one_and_two_are_withheld_three_and_zero_are_shown() -> None:
    count = BY_KEY["referrals"]
    assert [present(count, Tally(n, None), threshold=3)[0].value for n in range(5)] == [
        0,
        None,
        None,
        3,
        4,
    ]
    cell, parts = present(count, Tally(2, None), threshold=3)
    assert cell.suppressed and cell.numerator is None and parts is None
    assert present(count, Tally(4, None), threshold=5)[0].value is None
    assert present(count, Tally(5, None), threshold=5)[0].value == 5


def test_a_withheld_denominator_hides_its_numerator_even_zero_and_the_rate() -> None:
    share = BY_KEY["engagement"]
    cell, _ = present(share, Tally(0, 2), threshold=3)
    assert (cell.value, cell.numerator, cell.denominator, cell.suppressed) == (
        None,
        None,
        None,
        True,
    )
    cell, _ = present(share, Tally(2, 3), threshold=3)  # numerator withheld: no rate either
    assert (cell.value, cell.numerator, cell.denominator, cell.suppressed) == (None, None, 3, True)
    cell, _ = present(share, Tally(3, 4), threshold=3)
    assert (cell.value, cell.numerator, cell.denominator, cell.suppressed) == (0.75, 3, 4, False)
    cell, _ = present(share, Tally(0, 0), threshold=3)  # nobody to count is not a secret
    assert (cell.value, cell.numerator, cell.denominator, cell.suppressed) == (None, 0, 0, False)
    cell, _ = present(share, Tally(1, 3), threshold=3)
    assert cell.value is None and cell.numerator is None


def test_a_median_is_shown_only_over_enough_values() -> None:
    median = BY_KEY["first_employer_contact_median_days"]
    assert present(median, Tally(None, 2, (4, 9)), threshold=3)[0].value is None
    cell, _ = present(median, Tally(None, 3, (4, 9, 30)), threshold=3)
    assert (cell.value, cell.denominator, cell.suppressed) == (9.0, 3, False)
    assert present(median, Tally(None, 4, (1, 2, 3, 10)), threshold=3)[0].value == 2.5


def test_a_single_withheld_arm_takes_a_second_part_with_it() -> None:
    count = BY_KEY["referrals"]
    parts = {
        "ips": Tally(3, None),
        "treatment_as_usual": Tally(4, None),
        "not_allocated": Tally(2, None),
    }
    overall, cells = present(count, Tally(9, None), parts, threshold=3)
    assert cells is not None and overall.value == 9
    # 2 is withheld; 9 - 3 - 4 would give it away, so the smallest other part (3) goes too.
    assert {g: c.value for g, c in cells.items()} == {
        "ips": None,
        "treatment_as_usual": 4,
        "not_allocated": None,
    }
    # Two withheld parts already hide each other; zeros are never picked to hide a part.
    parts = {
        "ips": Tally(1, None),
        "treatment_as_usual": Tally(2, None),
        "not_allocated": Tally(5, None),
    }
    _, cells = present(count, Tally(8, None), parts, threshold=3)
    assert cells is not None and cells["not_allocated"].value == 5
    parts = {
        "ips": Tally(0, None),
        "treatment_as_usual": Tally(2, None),
        "not_allocated": Tally(3, None),
    }
    _, cells = present(count, Tally(5, None), parts, threshold=3)
    assert cells is not None
    assert [cells[g].value for g in definitions.ARM_GROUPS] == [0, None, None]


def test_complementary_suppression_covers_numerators_denominators_and_rates() -> None:
    share = BY_KEY["first_employer_contact_within_30_days"]
    parts = {"ips": Tally(3, 3), "treatment_as_usual": Tally(0, 2), "not_allocated": Tally(0, 0)}
    overall, cells = present(share, Tally(3, 5), parts, threshold=3)
    assert (overall.value, overall.numerator, overall.denominator) == (0.6, 3, 5)
    assert cells is not None
    # Treatment as usual's 2 is withheld, and with it its numerator 0; 5 - 2 and 3 - 0 would
    # give both away through the IPS arm, so the IPS arm is withheld as well.
    assert all(cells[g].suppressed for g in ("ips", "treatment_as_usual"))
    assert cells["ips"].numerator is None and cells["ips"].denominator is None
    assert cells["ips"].value is None
    na = cells["not_allocated"]
    assert (na.value, na.numerator, na.denominator, na.suppressed) == (None, 0, 0, False)


def test_split_figures_add_up_to_the_overall_figures() -> None:
    day = D0
    clients = [
        client(arm="ips", referred=(day,), met=day),
        client(arm="ips", referred=(day,)),
        client(arm="treatment_as_usual", referred=(day,), met=day),
        client(referred=(day,), met=day),
    ]
    overall = tally(clients, first_day=day, as_of=day)
    split = definitions.tally_by_arm(clients, first_day=day, as_of=day)
    for key in BY_KEY:
        if key == "first_employer_contact_median_days":
            continue
        assert sum(split[g][key].numerator or 0 for g in definitions.ARM_GROUPS) == (
            overall[key].numerator or 0
        )
    shown = figures(clients, first_day=day, as_of=day, threshold=3, by_arm=True)
    engagement = next(f for f in shown if f.definition.key == "engagement")
    assert engagement.overall.value == 0.75
    assert engagement.by_arm is not None
    assert all(c.suppressed for c in engagement.by_arm.values())


def test_the_threshold_is_a_setting_with_a_floor_of_three() -> None:
    assert Settings().report_suppression_threshold == 3
    assert Settings(report_suppression_threshold=5).report_suppression_threshold == 5
    with pytest.raises(ValidationError):
        Settings(report_suppression_threshold=2)
    assert Settings().report_max_period_days == 1096
    with pytest.raises(ValidationError):
        Settings(report_max_period_days=0)


# --- the API on a seeded programme -----------------------------------------------------------

PROVIDER_ADMIN = "admin@northern-employment.example"
PROVIDER_SLUG = "northern-employment"
TRUST_SLUG = "tyneside-nhs"
NORTH, SOUTH = "North Tyne", "South Tyne"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def report_live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """A server of its own, so the organisation-wide figures hold only the seeded clients."""
    with live_server(tmp_path_factory, f"reports-{request.param}", request=request) as running:
        yield running


@dataclass
class Programme:
    live: Live
    today: date
    ids: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)

    def day(self, back: int) -> str:
        return (self.today - timedelta(days=back)).isoformat()

    @property
    def period(self) -> dict[str, str]:
        return {"from": self.day(400), "to": self.day(0)}

    def as_(self, who: str) -> Session:
        return self.live.as_email(self.emails[who])

    def report(self, who: str, scope: str, scope_id: str, **extra: str) -> Any:
        return self.as_(who).get(
            "/api/v1/reports/programme",
            params={"scope": scope, "scope_id": scope_id, **self.period, **extra},
        )


def ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def phq9(total: int) -> dict[str, int]:
    """PHQ-9 answers with this total and item 9 (self-harm) at 0."""
    answers = {str(n): 0 for n in range(1, 10)}
    for n in range(1, 9):
        answers[str(n)] = min(3, total)
        total -= answers[str(n)]
    assert total == 0
    return answers


def gad7(total: int) -> dict[str, int]:
    answers = {}
    for n in range(1, 8):
        answers[str(n)] = min(3, total)
        total -= answers[str(n)]
    assert total == 0
    return answers


class Seeder:
    def __init__(self, programme: Programme, staff: Session) -> None:
        self.p = programme
        self.staff = staff

    def client(self, name: str, team: str, referred_back: int) -> str:
        self.p.ids[name] = new_client(
            self.staff,
            f"Seeded client {name.upper()}",
            team_id=self.p.ids[team],
            referred_on=self.p.day(referred_back),
            reason="Wants help back to work",
        )
        return str(self.p.ids[name])

    def referral(self, name: str, back: int) -> None:
        ok(
            self.staff.post(
                f"/api/v1/clients/{self.p.ids[name]}/referrals",
                json={"source": "jobcentre", "referred_on": self.p.day(back), "reason": "Again"},
            ),
            201,
        )

    def ineligible_referral(self, name: str, back: int) -> None:
        answers = {
            "claims_out_of_work_benefit": False,
            "seeking_mental_health_treatment": True,
            "on_mandatory_dwp_programme": False,
        }
        made = ok(
            self.staff.post(
                f"/api/v1/clients/{self.p.ids[name]}/referrals",
                json={
                    "source": "jobcentre",
                    "referred_on": self.p.day(back),
                    "reason": "Again",
                    "eligibility": answers,
                },
            ),
            201,
        )
        assert made["eligible"] is False

    def claim(
        self, by: Session, name: str, claim: dict[str, Any], start: int, end: int | None = None
    ) -> None:
        body = {**claim, "started_on": self.p.day(start), "source": "verified"}
        if end is not None:
            body["ended_on"] = self.p.day(end)
        ok(by.post(f"/api/v1/clients/{self.p.ids[name]}/benefits/claims", json=body), 201)

    def milestone(self, name: str, kind: str, back: int) -> None:
        ok(
            self.staff.post(
                f"/api/v1/clients/{self.p.ids[name]}/milestones",
                json={"kind": kind, "occurred_on": self.p.day(back)},
            ),
            201,
        )

    def job(self, name: str, started_back: int, ended_back: int | None = None) -> None:
        path = f"/api/v1/clients/{self.p.ids[name]}/jobs"
        made = ok(
            self.staff.post(
                path,
                json={
                    "employer": "Quayside Café",
                    "role": "Barista",
                    "hours_per_week": 20,
                    "started_on": self.p.day(started_back),
                },
            ),
            201,
        )
        if ended_back is not None:
            ok(self.staff.patch(f"{path}/{made['id']}", json={"ended_on": self.p.day(ended_back)}))

    def measures(self, name: str, *pairs: tuple[int, int]) -> None:
        for number, (depression, anxiety) in enumerate(pairs):
            for instrument, answers in (("phq9", phq9(depression)), ("gad7", gad7(anxiety))):
                ok(
                    self.staff.post(
                        f"/api/v1/clients/{self.p.ids[name]}/measures",
                        json={
                            "instrument": instrument,
                            "answers": answers,
                            "session_key": f"session-{number}",
                        },
                    ),
                    201,
                )

    def diversion(self, name: str, offered: int, attended: int) -> None:
        path = f"/api/v1/clients/{self.p.ids[name]}/plan"
        read = self.staff.get(path)
        content = ok(read)["content"]
        content["diversion"] = [
            {
                "kind": "life_skills",
                "activity": "Budgeting group",
                "sessions_offered": offered,
                "sessions_attended": attended,
            }
        ]
        ok(self.staff.put(path, json=content, headers={"If-Match": read.headers["etag"]}))


def _new_user(live: Live, admin: Session, email: str, role: str, name: str) -> str:
    return str(live.new_account(email, name, role, admin=admin)["id"])


async def _allocate(
    database_url: str, data_dir: str, arms: dict[str, str], organisation: str, recorded_by: str
) -> None:
    """Evaluation arms written straight to the tables, so the split has known parts (the
    randomisation itself has its own tests)."""
    import app.models  # noqa: F401 - every table, for the foreign keys
    from app.consents.models import ConsentPurpose, ConsentRecord, ConsentState
    from app.db import create_engine, session_factory
    from app.evaluation.models import EvaluationTrial, TrialAllocation
    from app.evaluation.randomisation import Arm

    engine = create_engine(Settings(database_url=database_url, data_dir=data_dir))
    now = datetime.now(UTC)
    try:
        async with session_factory(engine)() as session:
            trial = EvaluationTrial(
                organisation_id=uuid.UUID(organisation),
                name="Report test trial",
                stratify_by="area_cluster",
                block_sizes=[4],
                seed_key_id="test",
                seed_ciphertext=b"not a seed",
                opened_at=now,
                closed_at=now,
                created_by=uuid.UUID(recorded_by),
            )
            session.add(trial)
            await session.flush()
            for position, (client_id, arm) in enumerate(sorted(arms.items())):
                consent = ConsentRecord(
                    client_id=uuid.UUID(client_id),
                    organisation_id=uuid.UUID(organisation),
                    purpose=ConsentPurpose.evaluation,
                    state=ConsentState.granted,
                    recorded_at=now,
                    recorded_by=uuid.UUID(recorded_by),
                )
                session.add(consent)
                await session.flush()
                assert consent.id is not None
                session.add(
                    TrialAllocation(
                        trial_id=trial.id,
                        client_id=uuid.UUID(client_id),
                        stratum="all",
                        position=position,
                        arm=Arm(arm),
                        consent_record_id=consent.id,
                        allocated_at=now,
                    )
                )
            await session.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def programme(report_live: Live) -> Programme:
    live = report_live
    provider_admin = live.as_email(PROVIDER_ADMIN)
    organisations = {
        o["slug"]: o["id"] for o in ok(provider_admin.get("/api/v1/organisations"))["items"]
    }
    emails = {
        "supervisor": "sam.reid@northern-employment.example",
        "therapist": "tess.lowe@northern-employment.example",
        "provider_admin": PROVIDER_ADMIN,
        "trust_admin": "admin@tyneside.example",
        "trust_supervisor": "sofia.lind@tyneside.example",
        "trust_therapist": "tom.okafor@tyneside.example",
        "client": "alex.morgan@example.org",
        "specialist": "erin.walsh@northern-employment.example",
    }
    supervisor = _new_user(live, provider_admin, emails["supervisor"], "supervisor", "Sam Reid")
    therapist = _new_user(live, provider_admin, emails["therapist"], "therapist", "Tess Lowe")
    ids = {
        "provider": organisations[PROVIDER_SLUG],
        "trust": organisations[TRUST_SLUG],
        "A": new_team(
            live,
            "Report Team A",
            NORTH,
            [supervisor, therapist],
            confirmer=live.as_email(emails["supervisor"]),
            admin=provider_admin,
        ),
        "B": new_team(live, "Report Team B", SOUTH, [therapist], admin=provider_admin),
        "C": new_team(live, "Report Team C", NORTH, admin=live.as_email(emails["trust_admin"])),
    }
    p = Programme(live, datetime.now(UTC).date(), ids, emails)
    seed = Seeder(p, live.as_email(emails["therapist"]))
    seed.client("a1", "A", 300)
    # Every date is counted back from the server's today (UTC, as the test's).
    server_today = ok(seed.staff.get(f"/api/v1/clients/{ids['a1']}/journey"))["today"]
    assert server_today == p.day(0)
    seed.milestone("a1", "first_meeting", 290)
    seed.milestone("a1", "first_employer_contact", 280)
    seed.job("a1", 200)
    seed.measures("a1", (15, 12), (5, 4))

    seed.client("a2", "A", 250)
    seed.milestone("a2", "first_meeting", 240)
    seed.job("a2", 220, 150)
    seed.measures("a2", (12, 5), (11, 5))

    seed.client("a3", "A", 200)
    seed.milestone("a3", "first_meeting", 195)
    seed.milestone("a3", "first_employer_contact", 140)
    seed.job("a3", 120)
    seed.measures("a3", (8, 6), (2, 3))

    seed.client("a4", "A", 100)
    seed.milestone("a4", "first_meeting", 90)
    seed.measures("a4", (20, 15), (9, 7))
    seed.diversion("a4", 4, 2)

    seed.client("a5", "A", 20)
    seed.milestone("a5", "first_meeting", 10)
    seed.diversion("a5", 3, 0)

    seed.client("a6", "A", 450)
    seed.referral("a6", 50)
    seed.milestone("a6", "first_meeting", 440)
    seed.job("a6", 380)

    seed.client("a7", "A", 30)
    seed.diversion("a7", 0, 0)

    seed.client("a8", "A", 60)
    seed.milestone("a8", "first_meeting", 55)
    seed.diversion("a8", 2, 1)
    specialist = live.as_email(emails["specialist"])
    ok(
        seed.staff.post(
            f"/api/v1/clients/{ids['a8']}/employment-specialist",
            json={"user_id": specialist.user["id"]},
        ),
        201,
    )
    ok(
        specialist.post(
            "/api/v1/employer-contacts",
            json={
                "employer": "Metro Logistics",
                "contacted_on": p.day(50),
                "outcome": "Asked about warehouse roles",
                "client_id": ids["a8"],
            },
        ),
        201,
    )

    esa = {"benefit": "esa", "esa_group": "work_related_activity"}
    uc = {"benefit": "universal_credit", "uc_regime": "intensive_work_search"}
    for name in ("a1", "a2", "a3", "a4", "a5"):
        ok(
            seed.staff.post(
                f"/api/v1/clients/{ids[name]}/employment-specialist",
                json={"user_id": specialist.user["id"]},
            ),
            201,
        )
    seed.claim(specialist, "a1", esa, 400, 100)
    seed.claim(specialist, "a2", {"benefit": "jsa"}, 260, 200)
    seed.claim(specialist, "a2", {"benefit": "jsa"}, 190)
    seed.claim(specialist, "a3", uc, 300, 150)
    seed.claim(specialist, "a4", esa, 200, 50)
    seed.claim(specialist, "a5", {"benefit": "pip"}, 300)
    seed.claim(specialist, "a8", uc, 100, 10)

    for name in ("b1", "b2", "b3"):
        seed.client(name, "B", 70)
        seed.milestone(name, "first_meeting", 65)
        seed.milestone(name, "first_employer_contact", 60)
        seed.ineligible_referral(name, 70)
    seed.measures("b1", (10, 3), (9, 3))

    Seeder(p, live.as_email(emails["trust_therapist"])).client("c1", "C", 10)

    asyncio.run(
        _allocate(
            live.env["TEAMWELL_DATABASE_URL"],
            live.env["TEAMWELL_DATA_DIR"],
            {
                ids["a1"]: "ips",
                ids["a2"]: "ips",
                ids["a8"]: "ips",
                ids["a3"]: "treatment_as_usual",
                ids["a4"]: "treatment_as_usual",
                ids["a5"]: "treatment_as_usual",
            },
            ids["provider"],
            supervisor,
        )
    )
    return p


def cells(report: dict[str, Any], group: str = "overall") -> dict[str, tuple[Any, ...]]:
    """(value, numerator, denominator, suppressed) of every figure, for one group."""
    found = {}
    for figure in report["figures"]:
        cell = figure["overall"] if group == "overall" else figure["by_arm"][group]
        found[figure["key"]] = (
            cell["value"],
            cell["numerator"],
            cell["denominator"],
            cell["suppressed"],
        )
    return found


WITHHELD = (None, None, None, True)
TEAM_A = {
    "referrals": (8, 8, None, False),
    "ineligible_referrals": (0, 0, None, False),
    "engagement": (0.875, 7, 8, False),
    "job_entries": (4, 4, None, False),
    # Seeded jobs record no quality: competitive by default, pay and contract not recorded.
    "job_entries_competitive": (1.0, 4, 4, False),
    "job_entries_at_wage_threshold": (None, 0, 0, False),
    "job_entries_median_hours": (20.0, None, 4, False),
    **{f"job_entries_{c}": (0, 0, None, False) for c in definitions.CONTRACT_LABELS},
    "sustained_13_weeks": (0.75, 3, 4, False),
    "sustained_26_weeks": (None, None, 3, True),  # 2 of 3: the 2 is withheld
    "sustained_52_weeks": WITHHELD,  # 1 of 1
    "benefit_off_flows": (3, 3, None, False),  # a1, a3, a4
    "off_flow_rate": (0.6, 3, 5, False),  # of a1, a2, a3, a4, a8
    "first_employer_contact_median_days": (15.0, None, 4, False),  # 5, 10, 20, 55
    "first_employer_contact_within_30_days": (0.6, 3, 5, False),
    "recovery": (None, None, 3, True),  # 2 of 3
    "reliable_improvement": (0.75, 3, 4, False),
    "diversion_uptake": (None, None, 3, True),  # 2 of 3
}


def test_team_report_has_the_known_figures_and_withholds_twos(programme: Programme) -> None:
    report = ok(programme.report("supervisor", "team", programme.ids["A"]))
    assert report["scope"] == {"kind": "team", "id": programme.ids["A"], "name": "Report Team A"}
    assert report["period"] == {**programme.period, "as_of": programme.day(0)}
    assert report["split"] is None
    assert report["suppression"]["threshold"] == 3
    assert cells(report) == TEAM_A
    for figure in report["figures"]:
        definition = BY_KEY[figure["key"]]
        assert figure["label"] == definition.label
        assert figure["definition"] == definition.definition
        assert figure["numerator_label"] == definition.numerator
        assert figure["denominator_label"] == definition.denominator
        assert figure["unit"] == definition.unit
        assert figure["by_arm"] is None
    # At the edge: counts of 3 are shown (13-week sustainment, within 30 days), 2s never.
    shown = [
        v
        for f in report["figures"]
        for v in (f["overall"]["numerator"], f["overall"]["denominator"])
    ]
    assert 3 in shown and not {1, 2} & set(shown)


def test_organisation_and_area_cluster_reports(programme: Programme) -> None:
    organisation = ok(programme.report("provider_admin", "organisation", PROVIDER_SLUG))
    assert organisation["scope"]["id"] == programme.ids["provider"]
    assert cells(organisation) == {
        **TEAM_A,
        "referrals": (14, 14, None, False),  # b1-b3's ineligible referrals count too
        "ineligible_referrals": (3, 3, None, False),
        "engagement": (0.9091, 10, 11, False),
        "first_employer_contact_median_days": (5.0, None, 7, False),  # 5, 5, 5, 5, 10, 20, 55
        "first_employer_contact_within_30_days": (0.75, 6, 8, False),
        "recovery": (0.75, 3, 4, False),  # b1: a case at PHQ-9 10, recovered at 9
        "reliable_improvement": (0.6, 3, 5, False),
    }
    cluster = ok(programme.report("supervisor", "area_cluster", NORTH))
    assert cluster["scope"] == {"kind": "area_cluster", "id": NORTH, "name": NORTH}
    assert cells(cluster) == {
        **TEAM_A,
        "referrals": (9, 9, None, False),  # c1 of the trust's team in the cluster
        "engagement": (0.7778, 7, 9, False),
    }


def test_split_by_arm_withholds_a_second_part_beside_a_small_one(programme: Programme) -> None:
    report = ok(programme.report("supervisor", "team", programme.ids["A"], split="arm"))
    assert report["split"] == "arm"
    assert cells(report) == TEAM_A
    ips, tau, none = (cells(report, g) for g in definitions.ARM_GROUPS)
    # Referrals: IPS 3, treatment as usual 3, not allocated 2 -> the 2 and one 3 are withheld.
    assert (ips["referrals"], tau["referrals"], none["referrals"]) == (
        WITHHELD,
        (3, 3, None, False),
        WITHHELD,
    )
    assert ips["engagement"] == WITHHELD
    assert tau["engagement"] == (1.0, 3, 3, False)
    assert none["engagement"] == WITHHELD
    # Median days: IPS 5, 10, 20 (n 3); treatment as usual 55 (n 1) -> both withheld.
    assert ips["first_employer_contact_median_days"] == WITHHELD
    assert tau["first_employer_contact_median_days"] == WITHHELD
    assert none["first_employer_contact_median_days"] == (None, None, 0, False)
    # Within 30 days: IPS 3 of 3, treatment as usual 0 of 2 -> both withheld, 0 of 0 shown.
    assert ips["first_employer_contact_within_30_days"] == WITHHELD
    assert tau["first_employer_contact_within_30_days"] == WITHHELD
    assert none["first_employer_contact_within_30_days"] == (None, 0, 0, False)
    assert tau["sustained_26_weeks"] == (None, 0, 0, False)
    # Job entries 2, 1 and 1: all withheld beside the overall 4.
    assert [g["job_entries"] for g in (ips, tau, none)] == [WITHHELD] * 3
    # Whatever is shown of the parts never leaves exactly one unknown beside a shown total.
    for figure in report["figures"]:
        for part in ("numerator", "denominator"):
            if figure["overall"][part] is None:
                continue
            hidden = [g for g in definitions.ARM_GROUPS if figure["by_arm"][g][part] is None]
            assert len(hidden) != 1, (figure["key"], part)


def test_exports_csv_and_json_with_a_filename(programme: Programme) -> None:
    params = {"scope": "team", "scope_id": programme.ids["A"], **programme.period, "split": "arm"}
    supervisor = programme.as_("supervisor")
    report = ok(supervisor.get("/api/v1/reports/programme", params=params))
    exported = supervisor.get(
        "/api/v1/reports/programme/export", params={**params, "format": "csv"}
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    name = f"teamwell-report-team-report-team-a-{programme.day(400)}-to-{programme.day(0)}"
    assert exported.headers["content-disposition"] == f'attachment; filename="{name}.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == len(DEFINITIONS) * 4
    assert {r["group"] for r in rows} == {"overall", *definitions.ARM_GROUPS}
    for row in rows:
        figure = next(f for f in report["figures"] if f["key"] == row["figure"])
        cell = figure["overall"] if row["group"] == "overall" else figure["by_arm"][row["group"]]
        for column in ("value", "numerator", "denominator"):
            assert row[column] == ("" if cell[column] is None else str(cell[column]))
        assert row["suppressed"] == ("true" if cell["suppressed"] else "false")
        assert row["definition"] == figure["definition"]
        assert row["scope_name"] == "Report Team A" and row["as_of"] == programme.day(0)
    referrals = {r["group"]: r["value"] for r in rows if r["figure"] == "referrals"}
    assert referrals == {"overall": "8", "ips": "", "treatment_as_usual": "3", "not_allocated": ""}
    # No client is named anywhere in the file.
    assert "Seeded client" not in exported.text and "Alex" not in exported.text

    exported = supervisor.get(
        "/api/v1/reports/programme/export", params={**params, "format": "json"}
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"] == f'attachment; filename="{name}.json"'
    body = json.loads(exported.text)
    assert {k: v for k, v in body.items() if k != "generated_at"} == {
        k: v for k, v in report.items() if k != "generated_at"
    }
    problem(
        supervisor.get("/api/v1/reports/programme/export", params={**params, "format": "xlsx"}), 422
    )


def test_who_may_read_which_report(programme: Programme) -> None:
    ids = programme.ids
    expected = {
        # A supervisor: their own team, its cluster and their organisation.
        "supervisor": {
            ("team", ids["A"]): 200,
            ("team", ids["B"]): 403,
            ("organisation", ids["provider"]): 200,
            ("organisation", ids["trust"]): 403,
            ("area_cluster", NORTH): 200,
            ("area_cluster", SOUTH): 403,
        },
        # An admin: their organisation, its teams and the clusters it has a team in.
        "provider_admin": {
            ("team", ids["A"]): 200,
            ("team", ids["B"]): 200,
            ("team", ids["C"]): 403,
            ("organisation", ids["provider"]): 200,
            ("organisation", ids["trust"]): 403,
            ("area_cluster", NORTH): 200,
            ("area_cluster", SOUTH): 200,
        },
        "trust_supervisor": {
            ("team", ids["A"]): 403,
            ("area_cluster", NORTH): 403,
            ("organisation", TRUST_SLUG): 200,
        },
        # Clinical staff who are not supervisors, and clients, read no reports.
        "therapist": {("team", ids["A"]): 403, ("organisation", ids["provider"]): 403},
        "client": {("team", ids["A"]): 403},
    }
    for who, scopes in expected.items():
        for (scope, scope_id), status in scopes.items():
            reply = programme.report(who, scope, scope_id)
            assert reply.status_code == status, (who, scope, scope_id, reply.text)
            if status == 403:
                problem(reply, 403)
            export = programme.as_(who).get(
                "/api/v1/reports/programme/export",
                params={"scope": scope, "scope_id": scope_id, **programme.period},
            )
            assert export.status_code == status, (who, scope, scope_id, export.text)
    for who in ("therapist", "client"):
        problem(programme.as_(who).get("/api/v1/reports/definitions"), 403)
        problem(programme.as_(who).get("/api/v1/reports/scopes"), 403)


def test_reads_exports_and_refusals_are_audited(programme: Programme) -> None:
    supervisor = programme.as_("supervisor")
    ok(programme.report("supervisor", "team", programme.ids["A"]))
    problem(programme.report("supervisor", "team", programme.ids["B"]), 403)
    events = ok(
        supervisor.get(
            "/api/v1/audit-events",
            params={"actor_id": supervisor.user["id"], "action": "report.read", "limit": 200},
        )
    )["items"]
    outcomes = {(e["resource_id"], e["outcome"]) for e in events}
    assert (f"team:{programme.ids['A']}", "success") in outcomes
    assert (f"team:{programme.ids['B']}", "denied") in outcomes
    assert all(e["client_id"] is None for e in events)
    exported = ok(
        supervisor.get(
            "/api/v1/audit-events",
            params={"actor_id": supervisor.user["id"], "action": "report.export", "limit": 200},
        )
    )["items"]
    assert any(e["detail"].endswith(", csv") for e in exported)


def test_scopes_and_definitions_for_the_report_page(programme: Programme) -> None:
    scopes = ok(programme.as_("supervisor").get("/api/v1/reports/scopes"))
    assert scopes["teams"] == [{"kind": "team", "id": programme.ids["A"], "name": "Report Team A"}]
    assert [s["id"] for s in scopes["organisations"]] == [programme.ids["provider"]]
    assert scopes["area_clusters"] == [{"kind": "area_cluster", "id": NORTH, "name": NORTH}]
    admin_scopes = ok(programme.as_("provider_admin").get("/api/v1/reports/scopes"))
    assert {t["name"] for t in admin_scopes["teams"]} >= {"Report Team A", "Report Team B"}
    listed = ok(programme.as_("supervisor").get("/api/v1/reports/definitions"))
    assert [d["key"] for d in listed] == [d.key for d in DEFINITIONS]


def test_bad_requests_are_problems(programme: Programme) -> None:
    supervisor = programme.as_("supervisor")

    def ask(**params: str) -> Any:
        return supervisor.get("/api/v1/reports/programme", params=params)

    team = {"scope": "team", "scope_id": programme.ids["A"]}
    body = problem(ask(**team, **{"from": programme.day(0), "to": programme.day(1)}), 422)
    assert body["errors"][0]["field"] == "query.to"
    body = problem(ask(**team, **{"from": programme.day(-1), "to": programme.day(-2)}), 422)
    assert body["errors"][0]["field"] == "query.from"
    # At most 1096 days, both ends counted.
    ok(ask(**team, **{"from": programme.day(1095), "to": programme.day(0)}))
    body = problem(ask(**team, **{"from": programme.day(1096), "to": programme.day(0)}), 422)
    assert "1096" in body["detail"]
    period = programme.period
    problem(ask(scope="team", scope_id="not-a-uuid", **period), 422)
    problem(ask(scope="team", scope_id=str(uuid.uuid4()), **period), 404)
    problem(ask(scope="organisation", scope_id="no-such-organisation", **period), 404)
    problem(ask(scope="area_cluster", scope_id="Nowhere", **period), 404)
    problem(ask(scope="galaxy", scope_id="x", **period), 422)
    problem(ask(**team, split="gender", **period), 422)
    problem(ask(**team), 422)


def test_a_period_in_the_past_counts_only_what_was_dated_in_it(programme: Programme) -> None:
    """Up to D-100: a4's referral on D-100 is the last one counted; measures and plan changes
    (all dated today) are not yet there."""
    report = ok(
        programme.as_("supervisor").get(
            "/api/v1/reports/programme",
            params={
                "scope": "team",
                "scope_id": programme.ids["A"],
                "from": programme.day(400),
                "to": programme.day(100),
            },
        )
    )
    assert report["period"]["as_of"] == programme.day(100)
    found = cells(report)
    # a1, a2, a3, a4 referred in the period; a6's second referral (D-50) is after it.
    assert found["referrals"] == (4, 4, None, False)
    # a4 met the team on D-90, after the period.
    assert found["engagement"] == (0.75, 3, 4, False)
    assert found["job_entries"] == (4, 4, None, False)
    # 13-week points up to D-100: J1 D-109 held, J2 D-129 ended, J6 D-289 held: 2 of 3.
    assert found["sustained_13_weeks"] == (None, None, 3, True)
    # Joined in the period: a1, a2, a3 (a4 met on D-90, after it); a3's contact took 55 days.
    assert found["first_employer_contact_within_30_days"] == (None, None, 3, True)
    assert found["recovery"] == (None, 0, 0, False)
    assert found["diversion_uptake"] == (None, 0, 0, False)
