"""The evaluators' extract from hand-built data on a server of its own: who is in it, what each
row says, that nothing identifying leaves, that two extracts cannot be joined, and that small
strata are coarsened.

Participants (a trial stratified by referral source; randomised 100 days ago, set in the
database since no API dates an allocation in the past):

    a  jobcentre; PHQ-9/GAD-7 15/12 then 5/4 (a case who recovered); a job started today;
       ESA from 400 days ago to 40 days ago (day 60 after randomisation)
    b  jobcentre; no measures, no job, no benefit history
    c  jobcentre; one pair 9/7 (a baseline, no latest); JSA from 300 to 70 days ago, ESA again
       from 60 days ago, open (a restart within the 28-day window: no off-flow)
    d  jobcentre; withdrew evaluation consent: absent
    e  self-referred; the only one of their stratum: reported as "other"; PIP from 200 days ago,
       open, and Universal Credit from 90 to 50 days ago (claimed after randomisation)
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.evaluation.extract import COLUMNS, coarsen_strata, months_between, pseudonym
from tests.app.reports.test_reports import gad7, phq9
from tests.conftest import Live, demo_team_id, live_server, problem, teamwell_cli
from tests.support import builders

TRIALS = "/api/v1/evaluation/trials"
FORBIDDEN_COLUMNS = {"name", "display_name", "email", "address", "nhs_number", "note", "reason"}


@pytest.fixture(scope="module")
def own(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(
        tmp_path_factory, "extract-postgres", request=request, backend="postgres"
    ) as running:
        yield running


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def backdate_allocations(live: Live, days: int) -> None:
    url = live.env["TEAMWELL_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE trial_allocation "
                    "SET allocated_at = allocated_at - make_interval(days => :d)"
                ),
                {"d": days},
            )
    finally:
        engine.dispose()


class Trial:
    def __init__(self, live: Live) -> None:
        self.live = live
        self.supervisor = live.as_role("supervisor")
        self.keyworker = live.as_role("peer_keyworker")
        self.organisation_id = self.supervisor.user["organisation_id"]
        self.ids: dict[str, str] = {}
        self.names: dict[str, str] = {}
        made = self.supervisor.post(
            TRIALS, json={"name": "Extract trial", "stratify_by": "referral_source"}
        )
        assert made.status_code == 201, made.text
        self.id = made.json()["id"]

    def client(self, key: str, source: str) -> str:
        name = f"Participant {key.upper()} {uuid.uuid4().hex[:6]}"
        self.names[key] = name
        self.ids[key] = builders.new_client(
            self.keyworker,
            name,
            team_id=demo_team_id(self.keyworker),
            source=source,
            reason="Confidential reason text",
        )
        self.consent(key, "granted")
        return self.ids[key]

    def consent(self, key: str, state: str) -> None:
        reply = self.keyworker.post(
            f"/api/v1/clients/{self.ids[key]}/consents",
            json={"organisation_id": self.organisation_id, "purpose": "evaluation", "state": state},
        )
        assert reply.status_code == 201, reply.text

    def measures(self, key: str, *pairs: tuple[int, int]) -> None:
        for number, (depression, anxiety) in enumerate(pairs):
            for instrument, answers in (("phq9", phq9(depression)), ("gad7", gad7(anxiety))):
                reply = self.keyworker.post(
                    f"/api/v1/clients/{self.ids[key]}/measures",
                    json={
                        "instrument": instrument,
                        "answers": answers,
                        "session_key": f"s{number}",
                    },
                )
                assert reply.status_code == 201, reply.text

    def claim(self, key: str, benefit: str, started: int, ended: int | None = None) -> None:
        """A claim started ``started`` days ago and ended ``ended`` days ago (open if None)."""
        details = {
            "esa": {"esa_group": "support"},
            "universal_credit": {"uc_regime": "intensive_work_search"},
        }.get(benefit, {})
        reply = self.keyworker.post(
            f"/api/v1/clients/{self.ids[key]}/benefits/claims",
            json={
                "benefit": benefit,
                **details,
                "started_on": builders.days_ago(started),
                "ended_on": builders.days_ago(ended) if ended is not None else None,
                "source": "verified",
            },
        )
        assert reply.status_code == 201, reply.text

    def extract(self) -> str:
        reply = self.supervisor.get(f"{TRIALS}/{self.id}/extract")
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("text/csv")
        assert "attachment" in reply.headers["content-disposition"]
        return reply.text


@pytest.fixture(scope="module")
def trial(own: Live) -> Trial:
    t = Trial(own)
    for key in "abcd":
        t.client(key, "jobcentre")
    t.client("e", "self")
    t.measures("a", (15, 12), (5, 4))
    t.measures("c", (9, 7))
    job = t.keyworker.post(
        f"/api/v1/clients/{t.ids['a']}/jobs",
        json={
            "employer": "Quayside Café",
            "role": "Barista",
            "hours_per_week": 20,
            "started_on": builders.today().isoformat(),
        },
    )
    assert job.status_code == 201, job.text
    t.claim("a", "esa", 400, 40)
    t.claim("c", "jsa", 300, 70)
    t.claim("c", "esa", 60)
    t.claim("e", "pip", 200)
    t.claim("e", "universal_credit", 90, 50)
    t.claim("d", "esa", 400, 40)
    t.consent("d", "withdrawn")
    backdate_allocations(own, 100)
    return t


def test_one_row_per_consenting_participant_with_what_was_recorded(trial: Trial) -> None:
    text = trial.extract()
    rows = rows_of(text)
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 4  # d withdrew
    assert rows == sorted(rows, key=lambda r: r["participant_id"])
    by_stratum: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_stratum.setdefault(row["stratum"], []).append(row)
        assert row["arm"] in ("ips", "treatment_as_usual")
    assert sorted(by_stratum) == ["jobcentre", "other"]  # self-referred, one person: coarsened
    assert len(by_stratum["jobcentre"]) == 3
    recovered = next(r for r in rows if r["phq9_baseline"] == "15")
    assert (recovered["gad7_baseline"], recovered["phq9_latest"], recovered["gad7_latest"]) == (
        "12",
        "5",
        "4",
    )
    assert recovered["caseness_at_baseline"] == "true" and recovered["recovery"] == "true"
    assert recovered["reliable_improvement"] == "true"
    # Randomised 100 days ago, measured and started work today: month 3.
    assert recovered["latest_measure_month"] == "3"
    assert recovered["job_starts"] == "1" and recovered["first_job_start_month"] == "3"
    assert recovered["sustained_13_weeks"] == ""  # not yet due
    baseline_only = next(r for r in rows if r["phq9_baseline"] == "9")
    assert baseline_only["phq9_latest"] == "" and baseline_only["recovery"] == ""
    assert sum(r["job_starts"] == "0" for r in rows) == 3


def test_benefit_status_at_baseline_and_off_flow(trial: Trial) -> None:
    """Randomised 100 days ago, with the 28-day restart window (worked from the module's
    histories)."""
    rows = rows_of(trial.extract())
    benefits = {
        (
            "a"
            if r["phq9_baseline"] == "15"
            else "c"
            if r["phq9_baseline"] == "9"
            else "e"
            if r["stratum"] == "other"
            else "b"
        ): (r["benefit_status_at_baseline"], r["benefit_off_flow"], r["off_flow_month"])
        for r in rows
    }
    assert benefits == {
        # On ESA at randomisation; off since day 60 after it (floor(60 / 30.4375) = month 1),
        # confirmed 12 days ago (40 - 28).
        "a": ("claiming", "off", "1"),
        # No benefit history at all: not the same as not claiming.
        "b": ("not_recorded", "not_recorded", ""),
        # JSA ended 70 days ago, ESA 10 days later: one spell, still on benefits, no off-flow.
        "c": ("claiming", "on_benefits", ""),
        # PIP is not out-of-work; Universal Credit from day 10 to day 50 after randomisation,
        # off since 50 days ago (confirmed 22 days ago): month floor(50 / 30.4375) = 1.
        "e": ("not_claiming", "off", "1"),
    }


def test_nothing_identifying_leaves(trial: Trial) -> None:
    text = trial.extract()
    header = set(rows_of(text)[0])
    assert not header & FORBIDDEN_COLUMNS
    for key, client_id in trial.ids.items():
        assert client_id not in text and client_id.replace("-", "") not in text
        assert trial.names[key] not in text
    assert "Confidential" not in text and "@" not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # no exact date
    assert not re.search(r"\d{1,2}/\d{1,2}/\d{2,4}", text)


def test_two_extracts_share_no_id(trial: Trial) -> None:
    first = {r["participant_id"] for r in rows_of(trial.extract())}
    second = {r["participant_id"] for r in rows_of(trial.extract())}
    assert len(first) == len(second) == 4
    assert not first & second


def test_the_command_line_extract_uses_the_key_it_is_given(trial: Trial, tmp_path: Path) -> None:
    """With the same key the ids are HMAC-SHA256(key, client id) and repeat; with another key
    none is shared."""
    key_one, key_two = tmp_path / "one.key", tmp_path / "two.key"
    key_one.write_bytes(b"k" * 32)
    key_two.write_bytes(b"j" * 32)
    found = []
    for key in (key_one, key_one, key_two):
        done = teamwell_cli(trial.live.env, "evaluation-extract", trial.id, "--key-file", str(key))
        assert done.returncode == 0, done.stderr
        found.append({r["participant_id"] for r in rows_of(done.stdout)})
    assert found[0] == found[1] and not found[0] & found[2]
    expected = {
        hmac.new(b"k" * 32, uuid.UUID(trial.ids[k]).bytes, hashlib.sha256).hexdigest()
        for k in "abce"
    }
    assert found[0] == expected
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 8)
    refused = teamwell_cli(trial.live.env, "evaluation-extract", trial.id, "--key-file", str(short))
    assert refused.returncode == 2


def test_only_the_organisation_s_supervisors_extract_and_it_is_audited(trial: Trial) -> None:
    for role in ("peer_keyworker", "therapist", "admin", "client"):
        assert problem(trial.live.as_role(role).get(f"{TRIALS}/{trial.id}/extract"), 403), role
    assert problem(trial.supervisor.get(f"{TRIALS}/{uuid.uuid4()}/extract"), 404)
    trial.extract()
    events: list[dict[str, Any]] = trial.supervisor.get(
        "/api/v1/audit-events", params={"action": "evaluation.extract", "limit": 50}
    ).json()["items"]
    assert events and all("Participant" not in (e.get("detail") or "") for e in events)


def test_the_pure_parts() -> None:
    key = b"a" * 32
    client = uuid.uuid4()
    assert pseudonym(key, client) == pseudonym(key, client) != pseudonym(b"b" * 32, client)
    from datetime import date

    start = date(2026, 1, 31)
    assert months_between(start, date(2026, 1, 31)) == 0
    assert months_between(start, date(2026, 3, 1)) == 0  # 29 days
    assert months_between(start, date(2026, 3, 3)) == 1  # 31 days
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    assert coarsen_strata({a: "x", b: "x", c: "x", d: "y"}, 3) == {
        a: "x",
        b: "x",
        c: "x",
        d: "other",
    }
