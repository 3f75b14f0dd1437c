"""The evaluators' extract: one pseudonymised row per consenting trial participant
(docs/evaluation.md, "The evaluators' extract").

* Who is in it: every client allocated in the trial whose latest evaluation decision for the
  trial's organisation grants consent, on the day the extract is made. A withdrawal removes them.
* Pseudonymous ids: HMAC-SHA256 of the client id under a key made for one extract (or given by
  the data controller for a follow-up): without the key two extracts share no id and cannot be
  joined, and the id cannot be turned back into the client.
* Nothing identifying: no name, email, address, NHS number, free text or exact date. Dates are
  whole months since the participant's randomisation.
* Benefits: the status on the randomisation day and the off-flow state on the extract day, by
  the rules of ``app.benefits.rules`` with the configured restart window; the month of the first
  confirmed off-flow after randomisation, never its date. ``not_recorded`` when the client has
  no benefit history at all (not the same as "not claiming").
* Small cells coarsened: a stratum with fewer participants than the suppression threshold is
  reported as ``other``, so no small area or team singles anyone out.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.benefits import rules as benefit_rules
from app.benefits import service as benefits_service
from app.consents import service as consents_service
from app.consents.models import ConsentPurpose
from app.evaluation.models import EvaluationTrial, TrialAllocation
from app.ips import rules as ips_rules
from app.measures.models import MeasureResponse
from app.reports.definitions import ClientFacts
from app.reports.service import client_facts_by_id

KEY_BYTES = 32
COARSENED_STRATUM = "other"
BENEFIT_NOT_RECORDED = "not_recorded"
# The mean length of a month, so "months since randomisation" does not depend on which months.
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True, slots=True)
class ExtractRow:
    participant_id: str
    arm: str
    stratum: str
    phq9_baseline: int | None
    gad7_baseline: int | None
    phq9_latest: int | None
    gad7_latest: int | None
    latest_measure_month: int | None
    caseness_at_baseline: bool | None
    recovery: bool | None
    reliable_improvement: bool | None
    job_starts: int
    first_job_start_month: int | None
    sustained_13_weeks: bool | None
    sustained_26_weeks: bool | None
    sustained_52_weeks: bool | None
    # "claiming" / "not_claiming" an out-of-work benefit on the randomisation day; "not_recorded"
    # with no benefit history at all.
    benefit_status_at_baseline: str
    # The off-flow state on the extract day (benefit_rules.OffFlowState) or "not_recorded".
    benefit_off_flow: str
    off_flow_month: int | None


COLUMNS: tuple[str, ...] = tuple(ExtractRow.__dataclass_fields__)


def new_key() -> bytes:
    """A key for one extract: kept by no one unless the caller keeps it."""
    return secrets.token_bytes(KEY_BYTES)


def pseudonym(key: bytes, client_id: uuid.UUID) -> str:
    return hmac.new(key, client_id.bytes, hashlib.sha256).hexdigest()


def months_between(start: date, day: date) -> int:
    """Whole months from ``start`` to ``day`` (negative before it)."""
    return int((day - start).days // DAYS_PER_MONTH)


def coarsen_strata(strata: dict[uuid.UUID, str], threshold: int) -> dict[uuid.UUID, str]:
    """Strata with fewer than ``threshold`` participants become ``other``."""
    sizes = Counter(strata.values())
    return {cid: (s if sizes[s] >= threshold else COARSENED_STRATUM) for cid, s in strata.items()}


def _sustained(jobs: tuple[ips_rules.Job, ...], weeks: int, as_of: date) -> bool | None:
    """Whether the first job was held at ``weeks`` (None with no job or not yet due)."""
    if not jobs:
        return None
    first = min(jobs, key=lambda j: j.started_on)
    check = next(c for c in ips_rules.sustainment_checks(first, as_of) if c.weeks == weeks)
    if check.status == "not_yet":
        return None
    return check.status in ("sustained", "due")


def _benefits(
    claims: list[benefit_rules.Claim] | None, start: date, as_of: date, window_days: int
) -> tuple[str, str, int | None]:
    """(status at baseline, off-flow state, month of the first confirmed off-flow after
    randomisation) for one participant's claims; None for a client with no history."""
    if not claims:
        return BENEFIT_NOT_RECORDED, BENEFIT_NOT_RECORDED, None
    claiming = benefit_rules.on_out_of_work_benefit(claims, start)
    status = benefit_rules.off_flow(claims, as_of=as_of, window_days=window_days)
    # Strictly after: an off-flow on the randomisation day itself means the client was not
    # claiming that day, so it is not an outcome of the trial.
    after = [day for day in status.off_flows if day > start]
    return (
        "claiming" if claiming else "not_claiming",
        str(status.state),
        months_between(start, after[0]) if after else None,
    )


async def extract(
    *,
    session: AsyncSession,
    trial: EvaluationTrial,
    key: bytes,
    as_of: date,
    threshold: int,
    window_days: int,
) -> list[ExtractRow]:
    """The rows, ordered by participant id (so the order says nothing about enrolment)."""
    kept = await _consenting_allocations(session, trial)
    if not kept:
        return []
    ids = [a.client_id for a in kept]
    facts = await client_facts_by_id(
        session=session,
        in_scope=select(TrialAllocation.client_id).where(
            col(TrialAllocation.client_id).in_(ids), TrialAllocation.trial_id == trial.id
        ),
        first_day=min(a.allocated_at.date() for a in kept),
        as_of=as_of,
    )
    benefit_claims = await benefits_service.claims_of(session=session, client_ids=ids)
    totals = await _measure_totals(session, ids, as_of)
    strata = coarsen_strata({a.client_id: a.stratum for a in kept}, threshold)
    rows = [
        _row(
            allocation,
            key=key,
            stratum=strata[allocation.client_id],
            fact=facts.get(allocation.client_id),
            measures=totals[allocation.client_id],
            claims=benefit_claims.get(allocation.client_id),
            as_of=as_of,
            window_days=window_days,
        )
        for allocation in kept
    ]
    return sorted(rows, key=lambda r: r.participant_id)


async def _consenting_allocations(
    session: AsyncSession, trial: EvaluationTrial
) -> list[TrialAllocation]:
    """The trial's participants whose consent to the evaluation is in force (the others are
    left out of the extract altogether)."""
    allocations = list(
        await session.exec(select(TrialAllocation).where(TrialAllocation.trial_id == trial.id))
    )
    consenting = await consents_service.granted_clients(
        session=session,
        client_ids={a.client_id for a in allocations},
        organisation_id=trial.organisation_id,
        purpose=ConsentPurpose.evaluation,
    )
    return [a for a in allocations if a.client_id in consenting]


async def _measure_totals(
    session: AsyncSession, ids: list[uuid.UUID], as_of: date
) -> dict[uuid.UUID, dict[str, list[tuple[date, int]]]]:
    """Each participant's PHQ-9 and GAD-7 totals up to ``as_of``, oldest first."""
    totals: dict[uuid.UUID, dict[str, list[tuple[date, int]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for response in await session.exec(
        select(MeasureResponse)
        .where(
            col(MeasureResponse.client_id).in_(ids),
            col(MeasureResponse.instrument).in_(("phq9", "gad7")),
        )
        .order_by(col(MeasureResponse.completed_at), col(MeasureResponse.id))
    ):
        if response.total is not None and response.completed_at.date() <= as_of:
            totals[response.client_id][response.instrument].append(
                (response.completed_at.date(), response.total)
            )
    return totals


def _row(
    allocation: TrialAllocation,
    *,
    key: bytes,
    stratum: str,
    fact: ClientFacts | None,
    measures: dict[str, list[tuple[date, int]]],
    claims: list[benefit_rules.Claim] | None,
    as_of: date,
    window_days: int,
) -> ExtractRow:
    """One participant's row: dates as whole months from randomisation, never a date."""
    start = allocation.allocated_at.date()
    phq, gad = measures.get("phq9", []), measures.get("gad7", [])
    latest_day = max((d for d, _ in phq + gad), default=None)
    jobs = tuple(j for j in fact.jobs if j.started_on >= start) if fact else ()
    outcome = fact.outcome if fact else None
    at_baseline, off_flow, off_flow_month = _benefits(claims, start, as_of, window_days)
    return ExtractRow(
        participant_id=pseudonym(key, allocation.client_id),
        arm=str(allocation.arm),
        stratum=stratum,
        phq9_baseline=phq[0][1] if phq else None,
        gad7_baseline=gad[0][1] if gad else None,
        phq9_latest=phq[-1][1] if len(phq) > 1 else None,
        gad7_latest=gad[-1][1] if len(gad) > 1 else None,
        latest_measure_month=(
            months_between(start, latest_day) if latest_day is not None else None
        ),
        caseness_at_baseline=outcome.caseness if outcome else None,
        recovery=outcome.recovery if outcome else None,
        reliable_improvement=outcome.reliable_improvement if outcome else None,
        job_starts=len(jobs),
        first_job_start_month=(
            months_between(start, min(j.started_on for j in jobs)) if jobs else None
        ),
        sustained_13_weeks=_sustained(jobs, 13, as_of),
        sustained_26_weeks=_sustained(jobs, 26, as_of),
        sustained_52_weeks=_sustained(jobs, 52, as_of),
        benefit_status_at_baseline=at_baseline,
        benefit_off_flow=off_flow,
        off_flow_month=off_flow_month,
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(rows: list[ExtractRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(v) for v in asdict(row).values()])
    return out.getvalue()
