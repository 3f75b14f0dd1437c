"""Evaluation trials: opening and closing them, allocating consenting new clients, verifying.

Callers check the policies; this runs the SQL. The arithmetic of the allocation sequence is in
``app/evaluation/randomisation.py``; here it is tied to the records.

Who is randomised (:func:`eligible`)
    A client of the trial's organisation whose record was created while the trial was open
    (at or after ``opened_at``), who is still ``referred`` or ``active`` when they consent, and
    who has no allocation in the trial yet. Clients already on the caseload when the trial opened
    have been receiving one service or the other, so they are not entrants and are never
    randomised; nor are clients already in work or closed.

When
    In the transaction that records a granted ``evaluation`` consent for the trial's
    organisation (:func:`allocate_on_consent`), never before: until then no allocation exists,
    and the seed that would predict it is sealed. A later withdrawal keeps the allocation
    (intention to treat), and a consent granted again finds it already made.

Concurrency
    The next position in a stratum follows the highest one taken in it so far. The trial's
    row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite every transaction already
    begins ``IMMEDIATE``), so two consents recorded at once take positions one after the other.
    The same lock orders allocations against closing the trial. The unique constraints on
    (trial, client) and (trial, stratum, position) back this up: a slip would fail the whole
    request rather than store two clients in one slot.
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients.models import ClientRecord, ProgrammeStatus, Referral
from app.consents.models import ConsentPurpose, ConsentRecord, ConsentState
from app.context import Context
from app.db import found
from app.errors import Conflict, NotFound, Unprocessable
from app.evaluation import randomisation
from app.evaluation.models import EvaluationTrial, TrialAllocation
from app.evaluation.randomisation import ALGORITHM_VERSION, Arm
from app.evaluation.schemas import StratifyBy, TrialCreate
from app.messaging.keyring import MessageKeyring
from app.teams.models import Team

ELIGIBLE_STATUSES = frozenset({ProgrammeStatus.referred, ProgrammeStatus.active})
STRATIFY_FIELDS = tuple(StratifyBy)
STRATUM_MAX_CHARS = 100  # the column's width
UNKNOWN_STRATUM = "unknown"
SEED_BYTES = 32


class TrialNotFound(NotFound):
    title = "Evaluation trial not found"


class AllocationNotFound(NotFound):
    title = "No trial allocation"


class TrialAlreadyOpen(Conflict):
    slug, title = "trial-already-open", "The organisation already has an open trial"


class TrialClosed(Conflict):
    slug, title = "trial-closed", "The trial is closed"


class BlockSizeTooLarge(Unprocessable):
    slug, title = "validation-error", "Invalid request"

    def __init__(self, size: int, limit: int) -> None:
        message = f"block size {size} is above the largest allowed, {limit}"
        super().__init__(
            f"Check these fields: body.block_sizes ({message})",
            extra={"errors": [{"field": "body.block_sizes", "message": message}]},
        )


def seed_aad(trial_id: uuid.UUID) -> bytes:
    """Binds a sealed seed to its trial, so a seed copied onto another trial does not open."""
    return f"evaluation-trial:{trial_id}".encode()


def normalise_stratum(value: str | None) -> str:
    """Case and spacing do not make a different stratum ("Tyne and Wear" is "tyne  and wear")."""
    text = " ".join((value or "").split()).casefold()[:STRATUM_MAX_CHARS]
    return text or UNKNOWN_STRATUM


def eligible(trial: EvaluationTrial, client: ClientRecord) -> bool:
    """Whether a client is a new entrant the trial randomises (see the module's notes)."""
    return (
        trial.closed_at is None
        and client.organisation_id == trial.organisation_id
        and client.created_at >= trial.opened_at
        and client.status in ELIGIBLE_STATUSES
    )


# --- trials -------------------------------------------------------------------------------------


async def open_trial_of(
    *, session: AsyncSession, organisation_id: uuid.UUID
) -> EvaluationTrial | None:
    rows = await session.exec(
        select(EvaluationTrial).where(
            EvaluationTrial.organisation_id == organisation_id,
            col(EvaluationTrial.closed_at).is_(None),
        )
    )
    return rows.first()


async def open_trial(
    *,
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    organisation_id: uuid.UUID,
    created_by: uuid.UUID,
    data: TrialCreate,
    max_block_size: int,
    seed: str | None = None,
) -> EvaluationTrial:
    """Open a trial with a seed generated here, sealed at once; the plain seed goes nowhere.
    ``seed`` is for the demo data only, whose allocations must be the same on every load; no
    route passes one."""
    largest = max(data.block_sizes)
    if largest > max_block_size:
        raise BlockSizeTooLarge(largest, max_block_size)
    if await open_trial_of(session=session, organisation_id=organisation_id) is not None:
        # One at a time: a consenting client must belong to one trial, not to whichever is first.
        raise TrialAlreadyOpen("Close the organisation's open trial before opening another.")
    trial_id = uuid.uuid4()
    plain = seed if seed is not None else secrets.token_urlsafe(SEED_BYTES)
    key_id, sealed = keyring.encrypt(plain, aad=seed_aad(trial_id))
    trial = EvaluationTrial(
        id=trial_id,
        organisation_id=organisation_id,
        name=data.name,
        stratify_by=data.stratify_by,
        block_sizes=list(data.block_sizes),
        seed_key_id=key_id,
        seed_ciphertext=sealed,
        opened_at=ctx.now(),
        created_by=created_by,
        extra={"algorithm": ALGORITHM_VERSION},
    )
    session.add(trial)
    await session.flush()
    return trial


async def list_trials(
    *, session: AsyncSession, organisation_id: uuid.UUID
) -> list[EvaluationTrial]:
    rows = await session.exec(
        select(EvaluationTrial)
        .where(EvaluationTrial.organisation_id == organisation_id)
        .order_by(col(EvaluationTrial.opened_at).desc())
    )
    return list(rows.all())


async def get_trial(
    *, session: AsyncSession, trial_id: uuid.UUID, organisation_id: uuid.UUID
) -> EvaluationTrial:
    """A trial of this organisation; another organisation's trial is as good as absent."""
    trial = await session.get(EvaluationTrial, trial_id)
    if trial is None or trial.organisation_id != organisation_id:
        raise TrialNotFound()
    return trial


async def _locked(session: AsyncSession, trial_id: uuid.UUID) -> EvaluationTrial:
    """The trial's row, re-read and held until the transaction ends (see Concurrency)."""
    rows = await session.exec(
        select(EvaluationTrial)
        .where(EvaluationTrial.id == trial_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return rows.one()


async def close_trial(
    *, session: AsyncSession, ctx: Context, trial: EvaluationTrial
) -> EvaluationTrial:
    """Stop allocating. Allocations already made stay, and the trial can still be verified."""
    trial = await _locked(session, trial.id)
    if trial.closed_at is not None:
        raise TrialClosed("The trial was already closed.")
    trial.closed_at = ctx.now()
    session.add(trial)
    await session.flush()
    return trial


def algorithm_of(trial: EvaluationTrial) -> str:
    return str(trial.extra.get("algorithm", ALGORITHM_VERSION))


async def allocation_counts(
    *, session: AsyncSession, trial_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not trial_ids:
        return {}
    rows = await session.exec(
        select(TrialAllocation.trial_id, func.count())
        .where(col(TrialAllocation.trial_id).in_(trial_ids))
        .group_by(col(TrialAllocation.trial_id))
    )
    return {trial_id: int(count) for trial_id, count in rows.all()}


@dataclass(frozen=True)
class ArmCounts:
    stratum: str
    ips: int
    treatment_as_usual: int


@dataclass(frozen=True)
class Figures:
    """A trial's recruitment as its programme lead follows it (docs/evaluation.md, "Figures")."""

    entrants: int
    consented: int
    declined: int
    withdrawn: int
    not_asked: int
    overall: ArmCounts
    strata: list[ArmCounts]


def _arm_counts(stratum: str, arms: list[Arm]) -> ArmCounts:
    return ArmCounts(
        stratum=stratum,
        ips=sum(1 for a in arms if a == Arm.IPS),
        treatment_as_usual=sum(1 for a in arms if a == Arm.TREATMENT_AS_USUAL),
    )


async def figures(*, session: AsyncSession, trial: EvaluationTrial) -> Figures:
    """Consent decisions of the trial's entrants and its allocations by arm.

    Entrants are the organisation's clients whose record was made while the trial was open (the
    only ones it can randomise). Of them: consented (latest evaluation decision grants),
    withdrawn (granted once, latest withdraws), declined (every decision withdraws: they said no
    when asked) and not asked (no decision yet)."""
    entrant_filter: list[ColumnElement[bool]] = [
        col(ClientRecord.organisation_id) == trial.organisation_id,
        col(ClientRecord.created_at) >= trial.opened_at,
    ]
    if trial.closed_at is not None:
        entrant_filter.append(col(ClientRecord.created_at) <= trial.closed_at)
    entrants = set((await session.exec(select(ClientRecord.id).where(*entrant_filter))).all())
    decisions = await session.exec(
        select(ConsentRecord.client_id, ConsentRecord.state)
        .join(ClientRecord, col(ClientRecord.id) == col(ConsentRecord.client_id))
        .where(
            *entrant_filter,
            ConsentRecord.organisation_id == trial.organisation_id,
            ConsentRecord.purpose == ConsentPurpose.evaluation,
        )
        .order_by(col(ConsentRecord.id))
    )
    latest: dict[uuid.UUID, ConsentState] = {}
    ever_granted: set[uuid.UUID] = set()
    for client_id, state in decisions.all():
        latest[client_id] = ConsentState(state)
        if state == ConsentState.granted:
            ever_granted.add(client_id)
    consented = sum(1 for s in latest.values() if s == ConsentState.granted)
    withdrawn = sum(
        1 for c, s in latest.items() if s == ConsentState.withdrawn and c in ever_granted
    )
    rows = await session.exec(
        select(TrialAllocation.stratum, TrialAllocation.arm).where(
            TrialAllocation.trial_id == trial.id
        )
    )
    by_stratum: dict[str, list[Arm]] = defaultdict(list)
    for stratum, arm in rows.all():
        by_stratum[stratum].append(Arm(arm))
    return Figures(
        entrants=len(entrants),
        consented=consented,
        declined=len(latest) - consented - withdrawn,
        withdrawn=withdrawn,
        not_asked=len(entrants - set(latest)),
        overall=_arm_counts("all", [a for arms in by_stratum.values() for a in arms]),
        strata=[_arm_counts(s, arms) for s, arms in sorted(by_stratum.items())],
    )


# --- allocation ---------------------------------------------------------------------------------


async def stratum_of(
    *, session: AsyncSession, stratify_by: StratifyBy | str, client: ClientRecord
) -> str:
    """The client's stratum: the chosen field's value, normalised."""
    field = StratifyBy(stratify_by)
    if field is StratifyBy.team:
        return str(client.team_id)
    if field is StratifyBy.area_cluster:
        team = await session.get(Team, client.team_id)
        return normalise_stratum(team.area_cluster if team else None)
    first = await session.exec(
        select(Referral.source)
        .where(Referral.client_id == client.id)
        .order_by(col(Referral.referred_on), col(Referral.recorded_at))
        .limit(1)
    )
    return normalise_stratum(first.first())


async def stratum_labels(
    *, session: AsyncSession, stratify_by: StratifyBy | str, strata: set[str]
) -> dict[str, str]:
    """What each stratum is called for a person reading the figures. A team stratum is stored as
    the team's id (names change, ids do not); it is shown by the team's name. Area clusters and
    referral sources are their own (normalised) names."""
    labels = {stratum: stratum for stratum in strata}
    if StratifyBy(stratify_by) is not StratifyBy.team:
        return labels
    ids = set()
    for stratum in strata:
        try:
            ids.add(uuid.UUID(stratum))
        except ValueError:
            continue  # "all", or "other" where small cells were coarsened
    if ids:
        rows = await session.exec(select(Team.id, Team.name).where(col(Team.id).in_(ids)))
        labels.update({str(team_id): name for team_id, name in rows.all()})
    return labels


async def allocation_in(
    *, session: AsyncSession, trial_id: uuid.UUID, client_id: uuid.UUID
) -> TrialAllocation | None:
    rows = await session.exec(
        select(TrialAllocation).where(
            TrialAllocation.trial_id == trial_id, TrialAllocation.client_id == client_id
        )
    )
    return rows.first()


def _seed(keyring: MessageKeyring, trial: EvaluationTrial) -> str:
    return keyring.decrypt(trial.seed_key_id, trial.seed_ciphertext, aad=seed_aad(trial.id))


async def allocate_on_consent(
    *,
    session: AsyncSession,
    ctx: Context,
    keyring: MessageKeyring,
    client: ClientRecord,
    consent: ConsentRecord,
) -> TrialAllocation | None:
    """Allocate the client in their organisation's open trial if this consent lets it happen:
    a granted evaluation consent, for the trial's organisation, of a new client not yet
    allocated. Returns the new allocation, or None when nothing was allocated."""
    if consent.purpose != ConsentPurpose.evaluation or consent.state != ConsentState.granted:
        return None
    if consent.id is None:
        raise ValueError("allocate on a consent decision that has been stored")
    if consent.organisation_id != client.organisation_id:
        return None
    candidate = await open_trial_of(session=session, organisation_id=consent.organisation_id)
    if candidate is None:
        return None
    trial = await _locked(session, candidate.id)
    if not eligible(trial, client):
        return None
    if await allocation_in(session=session, trial_id=trial.id, client_id=client.id):
        return None  # consent granted again: the first allocation stands
    stratum = await stratum_of(session=session, stratify_by=trial.stratify_by, client=client)
    # After the highest taken, not the count: should a row ever be erased, its slot is not reused.
    highest = await session.exec(
        select(func.max(TrialAllocation.position)).where(
            TrialAllocation.trial_id == trial.id, TrialAllocation.stratum == stratum
        )
    )
    last = highest.one()
    position = 0 if last is None else int(last) + 1
    arm = randomisation.reveal(
        _seed(keyring, trial),
        stratum,
        position,
        # The decision is stored (it has an id) and grants: the one case in which an arm exists.
        consent_recorded=consent.state == ConsentState.granted,
        block_sizes=tuple(trial.block_sizes),
    )
    allocation = TrialAllocation(
        trial_id=trial.id,
        client_id=client.id,
        stratum=stratum,
        position=position,
        arm=arm,
        consent_record_id=consent.id,
        allocated_at=ctx.now(),
    )
    session.add(allocation)
    await session.flush()
    return allocation


async def allocation_of(
    *, session: AsyncSession, client_id: uuid.UUID
) -> tuple[TrialAllocation, EvaluationTrial] | None:
    """The client's allocation (the latest, should there ever be more than one) and its trial."""
    rows = await session.exec(
        select(TrialAllocation, EvaluationTrial)
        .join(EvaluationTrial, col(EvaluationTrial.id) == col(TrialAllocation.trial_id))
        .where(TrialAllocation.client_id == client_id)
        .order_by(col(TrialAllocation.allocated_at).desc())
        .limit(1)
    )
    found = rows.first()
    return (found[0], found[1]) if found else None


async def awaiting_trial(*, session: AsyncSession, client: ClientRecord) -> EvaluationTrial | None:
    """The open trial this client would join on consenting, if any (no arm exists yet)."""
    trial = await open_trial_of(session=session, organisation_id=client.organisation_id)
    if trial is None or not eligible(trial, client):
        return None
    return trial


# --- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StratumCheck:
    stratum: str
    allocations: int
    matched: int
    missing_positions: list[int]


@dataclass(frozen=True)
class Verification:
    trial_id: uuid.UUID
    algorithm: str
    allocations: int
    matched: int
    mismatched_allocation_ids: list[uuid.UUID]
    strata: list[StratumCheck]
    verified_at: datetime

    @property
    def algorithm_matches(self) -> bool:
        return self.algorithm == ALGORITHM_VERSION

    @property
    def all_match(self) -> bool:
        return (
            self.algorithm_matches
            and self.matched == self.allocations
            and not any(s.missing_positions for s in self.strata)
        )


async def verify(
    *, session: AsyncSession, keyring: MessageKeyring, trial: EvaluationTrial, now: datetime
) -> Verification:
    """Recompute every stored allocation from the recorded seed and compare. Reports counts and
    the ids of allocations that differ; never the seed, and no counts by arm."""
    rows = await session.exec(
        select(TrialAllocation)
        .where(TrialAllocation.trial_id == trial.id)
        .order_by(col(TrialAllocation.stratum), col(TrialAllocation.position))
    )
    by_stratum: dict[str, list[TrialAllocation]] = defaultdict(list)
    for allocation in rows.all():
        by_stratum[allocation.stratum].append(allocation)
    seed = _seed(keyring, trial)
    block_sizes = tuple(trial.block_sizes)
    strata: list[StratumCheck] = []
    mismatched: list[uuid.UUID] = []
    for stratum, allocations in sorted(by_stratum.items()):
        expected: list[Arm] = randomisation.allocation_sequence(
            seed, stratum, block_sizes=block_sizes, length=allocations[-1].position + 1
        )
        matched = 0
        for allocation in allocations:
            if Arm(allocation.arm) == expected[allocation.position]:
                matched += 1
            else:
                mismatched.append(allocation.id)
        taken = {a.position for a in allocations}
        strata.append(
            StratumCheck(
                stratum=stratum,
                allocations=len(allocations),
                matched=matched,
                missing_positions=[p for p in range(len(expected)) if p not in taken],
            )
        )
    return Verification(
        trial_id=trial.id,
        algorithm=algorithm_of(trial),
        allocations=sum(s.allocations for s in strata),
        matched=sum(s.matched for s in strata),
        mismatched_allocation_ids=mismatched,
        strata=strata,
        verified_at=now,
    )


async def trial_by_id(*, session: AsyncSession, trial_id: uuid.UUID) -> EvaluationTrial:
    """Any organisation's trial, for the command line (an operator's tool, not an API)."""
    return await found(session, EvaluationTrial, trial_id, missing=TrialNotFound)
