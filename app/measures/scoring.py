"""Scoring outcome questionnaires and judging change between sessions: pure functions, no I/O.

Every rule here is read from an :class:`~app.measures.instruments.Instrument` definition, so an
instrument added as data is scored by the same code. The rules follow
``/work/shared/DOMAIN.md`` ("Outcome measures (published scoring)"):

* **Totals** are the sum of the item answers. PHQ-9 and GAD-7 (``proration="none"``) need every
  item; a form with any item missing is *not scored* (``total is None``), never guessed.
* **WSAS proration** (``proration="nhs_wsas"``), from the NHS data dictionary entry WORK AND
  SOCIAL ADJUSTMENT SCALE SCORE: if the work item is "not applicable" or one item is missing, the
  missing score is substituted with the mean of the answered items; a form with more than one
  item missing is disregarded. "Not applicable" and "missing" both count as unanswered, so a
  not-applicable work item *and* another missing item is two unanswered items: not scored. The
  dictionary stores the score as a whole number (0-40), so the prorated total, ``mean x 5``, is
  **rounded to the nearest whole number, halves rounded up** (2.5 → 3, 12.5 → 13). Python's
  ``round`` would round halves to even (2.5 → 2), so it is not used; the arithmetic is exact
  integer arithmetic, with no floating point.
* **Bands** are inclusive at both ends; **caseness** is ``total >= caseness_threshold``.
* **Risk**: PHQ-9 item 9 (thoughts of self-harm) answered above 0 must reach a clinician on the
  care team at once; :func:`item9_risk` says so.
* **Change** between the first and last measures follows the NHS Talking Therapies conventions;
  see :func:`change`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Final, TypeAlias

from app.measures.instruments import GAD7, PHQ9, Instrument


class NotApplicable(Enum):
    """The answer "not applicable" (WSAS work item: retired, or not working for other reasons)."""

    NOT_APPLICABLE = "not_applicable"

    def __repr__(self) -> str:
        return "NOT_APPLICABLE"


NOT_APPLICABLE: Final = NotApplicable.NOT_APPLICABLE
"""Pass this for an item in ``allow_not_applicable_items`` that the person marked not applicable."""

Answer: TypeAlias = int | NotApplicable | None
"""One item's answer: a value on the item's scale, ``None`` for missing, or ``NOT_APPLICABLE``."""


class InvalidAnswers(ValueError):
    """Answers that cannot belong to this instrument's form.

    ``problems`` lists every fault found (not just the first), each naming the item.
    """

    def __init__(self, instrument: Instrument, problems: Iterable[str]) -> None:
        self.instrument_code = instrument.code
        self.problems = tuple(problems)
        super().__init__(f"{instrument.name}: " + "; ".join(self.problems))


class InvalidPair(ValueError):
    """Measures that cannot be compared: out of range, or a measure without the needed rules."""


@dataclass(frozen=True, slots=True)
class Score:
    """A scored form.

    ``total`` is ``None`` when the form is not scored (too many items unanswered); ``band`` and
    ``caseness`` are then ``None`` too. ``caseness`` is also ``None`` for an instrument without a
    caseness threshold (WSAS). ``prorated`` says the total was prorated from fewer items than
    the form has. ``item_scores`` maps each item number, in order, to its answer as given.
    """

    total: int | None
    prorated: bool
    band: str | None
    caseness: bool | None
    item_scores: Mapping[int, Answer]

    @property
    def scored(self) -> bool:
        return self.total is not None


def _is_int(value: object) -> bool:
    # bool is an int subclass; True is not an answer to a questionnaire item.
    return isinstance(value, int) and not isinstance(value, bool)


def _item_span(instrument: Instrument) -> str:
    numbers = instrument.item_numbers
    return f"{numbers[0]}-{numbers[-1]}"


def _value_problem(instrument: Instrument, number: int, value: object) -> str | None:
    """What is wrong with one item's answer, or ``None`` if nothing is."""
    if value is None:
        return None
    if value is NOT_APPLICABLE:
        if number in instrument.allow_not_applicable_items:
            return None
        allowed = sorted(instrument.allow_not_applicable_items)
        where = (
            f"only item(s) {', '.join(map(str, allowed))} may be" if allowed else "no item may be"
        )
        return f"item {number}: 'not applicable' is not allowed for this item ({where})"
    low, high = instrument.min_score, instrument.max_score
    if isinstance(value, bool) or not isinstance(value, int):
        return (
            f"item {number}: answer must be a whole number {low}-{high}, None (missing) "
            f"or NOT_APPLICABLE, got {value!r} ({type(value).__name__})"
        )
    if not low <= value <= high:
        return f"item {number}: {value} is out of range {low}-{high}"
    return None


def _validated(instrument: Instrument, answers: Mapping[int, Answer]) -> dict[int, Answer]:
    """The answers in item order, or :class:`InvalidAnswers` naming every fault.

    The mapping must hold exactly one entry per item, keyed by item number, with ``None`` for
    an item left unanswered: an absent key is a wrong count (a caller that dropped an item is a
    bug, not a missing answer) and a key that is not an item number is an unknown item.
    """
    known = set(instrument.item_numbers)
    present = {key for key in answers if _is_int(key) and key in known}
    problems: list[str] = []
    unknown = [key for key in answers if key not in present]
    if unknown:
        problems.append(
            f"unknown item(s) {', '.join(map(repr, unknown))}; "
            f"items are numbered {_item_span(instrument)}"
        )
    absent = [number for number in instrument.item_numbers if number not in present]
    if absent:
        problems.append(
            f"wrong count: expected {len(known)} answers, one per item "
            f"{_item_span(instrument)} (None for a missing answer), got {len(answers)}; "
            f"no entry for item(s) {', '.join(map(str, absent))}"
        )
    for number in instrument.item_numbers:
        if number in present:
            problem = _value_problem(instrument, number, answers[number])
            if problem:
                problems.append(problem)
    if problems:
        raise InvalidAnswers(instrument, problems)
    return {number: answers[number] for number in instrument.item_numbers}


def _round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` to the nearest whole number, halves up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


def band_of(instrument: Instrument, total: int) -> str:
    """The label of the band holding ``total`` (bands are inclusive at both ends)."""
    for band in instrument.bands:
        if band.lower <= total <= band.upper:
            return band.label
    raise ValueError(
        f"{instrument.name}: total {total} is outside {instrument.min_total}-{instrument.max_total}"
    )


def score(instrument: Instrument, answers: Mapping[int, Answer]) -> Score:
    """Score one completed form.

    ``answers`` maps every item number to its answer: an integer on the item scale, ``None``
    if missing, or :data:`NOT_APPLICABLE` for an item in ``allow_not_applicable_items``.
    Raises :class:`InvalidAnswers` for an unknown item, a missing entry (wrong count), a value
    out of range or of the wrong type, or "not applicable" where it is not allowed.

    * Every item answered: ``total`` is the sum, ``prorated`` is false.
    * ``proration="none"`` (PHQ-9, GAD-7) and any item missing: not scored.
    * ``proration="nhs_wsas"`` (WSAS) and exactly one item missing or not applicable:
      ``total = round_half_up(mean of the answered items x number of items)``, i.e. for WSAS
      ``mean x 5``, and ``prorated`` is true. More than one unanswered: not scored.
    """
    item_scores = _validated(instrument, answers)
    answered = [value for value in item_scores.values() if isinstance(value, int)]
    unanswered = len(item_scores) - len(answered)
    total: int | None = None
    prorated = False
    if unanswered == 0:
        total = sum(answered)
    elif unanswered == 1 and instrument.proration == "nhs_wsas":
        # mean x n = (sum / answered) x n, rounded half up in exact integer arithmetic.
        total = _round_half_up(sum(answered) * len(item_scores), len(answered))
        prorated = True
    threshold = instrument.caseness_threshold
    return Score(
        total=total,
        prorated=prorated,
        band=None if total is None else band_of(instrument, total),
        caseness=None if total is None or threshold is None else total >= threshold,
        item_scores=MappingProxyType(item_scores),
    )


def risk_flag(instrument: Instrument, answers: Mapping[int, Answer]) -> bool:
    """Whether any of the instrument's ``risk_items`` is answered above its lowest value.

    Deliberately looks only at the risk items: a risk answer must reach a clinician even when
    the rest of the form is incomplete or would fail validation, so other items are neither
    required nor checked. A risk item's own answer is validated (out of range raises
    :class:`InvalidAnswers`). An absent or ``None`` risk item gives ``False``, which means
    *not asked*, not *no risk*: the caller must not read it as reassurance.
    """
    problems = [
        problem
        for number in sorted(instrument.risk_items)
        if (problem := _value_problem(instrument, number, answers.get(number))) is not None
    ]
    if problems:
        raise InvalidAnswers(instrument, problems)
    return any(
        isinstance(value := answers.get(number), int) and value > instrument.min_score
        for number in instrument.risk_items
    )


def item9_risk(answers: Mapping[int, Answer]) -> bool:
    """PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered above 0.

    Any such answer must reach a clinician on the client's care team at once (DOMAIN.md).
    See :func:`risk_flag` for how incomplete forms are treated.
    """
    return risk_flag(PHQ9, answers)


def _required(value: int | None, what: str) -> int:
    if value is None:
        raise InvalidPair(what)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class MeasurePair:
    """The PHQ-9 total and an anxiety-measure total recorded at the same session.

    GAD-7 is the default anxiety measure; Talking Therapies pairs PHQ-9 with a
    condition-specific measure for some diagnoses, which must then be passed as
    ``anxiety_instrument`` and have both a caseness threshold and a reliable-change value.
    """

    phq9: int
    anxiety: int
    anxiety_instrument: Instrument = GAD7

    def __post_init__(self) -> None:
        anxiety = self.anxiety_instrument
        if anxiety.code == PHQ9.code:
            raise InvalidPair("the anxiety measure cannot be PHQ-9 itself")
        _required(anxiety.caseness_threshold, f"{anxiety.name} has no caseness threshold")
        _required(anxiety.reliable_change, f"{anxiety.name} has no reliable-change value")
        for instrument, total in ((PHQ9, self.phq9), (anxiety, self.anxiety)):
            if not _is_int(total) or not instrument.min_total <= total <= instrument.max_total:
                raise InvalidPair(
                    f"{instrument.name} total must be a whole number "
                    f"{instrument.min_total}-{instrument.max_total}, got {total!r}"
                )


def at_caseness(pair: MeasurePair) -> bool:
    """Caseness: PHQ-9 ≥ its threshold (10) *or* the anxiety measure ≥ its threshold (GAD-7: 8)."""
    depression = _required(PHQ9.caseness_threshold, "PHQ-9 has no caseness threshold")
    anxiety = _required(
        pair.anxiety_instrument.caseness_threshold,
        f"{pair.anxiety_instrument.name} has no caseness threshold",
    )
    return pair.phq9 >= depression or pair.anxiety >= anxiety


@dataclass(frozen=True, slots=True)
class Change:
    """How a client's measures moved between the first and the last pair.

    Deltas are ``last - first``: negative is improvement. ``caseness`` is caseness at the
    *first* pair, the denominator for recovery rates (``recovery`` is always false for someone
    who was not a case to begin with).
    """

    caseness: bool
    recovery: bool
    reliable_improvement: bool
    reliable_deterioration: bool
    reliable_recovery: bool
    phq9_delta: int
    anxiety_delta: int
    anxiety_instrument: str
    """The code of the anxiety measure both pairs used."""


def change(first: MeasurePair, last: MeasurePair) -> Change:
    """Talking Therapies outcome between the first and the last measure (DOMAIN.md).

    With ``RC_D`` = PHQ-9's reliable change (6) and ``RC_A`` = the anxiety measure's (GAD-7: 4),
    ``ΔD = last.phq9 - first.phq9`` and ``ΔA = last.anxiety - first.anxiety``:

    * **caseness** — the first pair is at caseness (:func:`at_caseness`).
    * **recovery** — at caseness at the first pair and at *neither* threshold at the last.
    * **reliable improvement** — a reliable fall on at least one measure
      (``ΔD <= -RC_D or ΔA <= -RC_A``) *and* a reliable rise on neither
      (``ΔD < RC_D and ΔA < RC_A``).
    * **reliable deterioration** — a reliable rise on at least one measure
      (``ΔD >= RC_D or ΔA >= RC_A``), *whatever the other measure did*. So when one measure
      reliably falls and the other reliably rises, the client has reliably deteriorated and
      has not reliably improved: a reliable rise on either measure is never hidden by a fall
      on the other.
    * **reliable recovery** — both recovery and reliable improvement.

    Changes of exactly the reliable-change value count ("by 6 or more"). Both pairs must use
    the same anxiety measure; otherwise :class:`InvalidPair`.
    """
    if first.anxiety_instrument.code != last.anxiety_instrument.code:
        raise InvalidPair(
            f"the anxiety measure changed from {first.anxiety_instrument.name} to "
            f"{last.anxiety_instrument.name}; change needs the same measure at both"
        )
    depression_rc = _required(PHQ9.reliable_change, "PHQ-9 has no reliable-change value")
    anxiety_rc = _required(
        first.anxiety_instrument.reliable_change,
        f"{first.anxiety_instrument.name} has no reliable-change value",
    )
    depression_delta = last.phq9 - first.phq9
    anxiety_delta = last.anxiety - first.anxiety
    reliable_fall = depression_delta <= -depression_rc or anxiety_delta <= -anxiety_rc
    reliable_rise = depression_delta >= depression_rc or anxiety_delta >= anxiety_rc
    caseness = at_caseness(first)
    recovery = caseness and not at_caseness(last)
    reliable_improvement = reliable_fall and not reliable_rise
    return Change(
        caseness=caseness,
        recovery=recovery,
        reliable_improvement=reliable_improvement,
        reliable_deterioration=reliable_rise,
        reliable_recovery=recovery and reliable_improvement,
        phq9_delta=depression_delta,
        anxiety_delta=anxiety_delta,
        anxiety_instrument=first.anxiety_instrument.code,
    )
