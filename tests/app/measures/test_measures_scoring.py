"""Outcome-measure scoring, tested at every boundary the published rules draw.

The rules under test are those in ``/work/shared/DOMAIN.md`` ("Outcome measures (published
scoring)"): PHQ-9, GAD-7 and WSAS bands; Talking Therapies caseness (PHQ-9 >= 10, GAD-7 >= 8),
reliable change (PHQ-9 6, GAD-7 4), recovery, reliable improvement / deterioration / recovery;
and the NHS data dictionary's WSAS proration rule (one missing or not-applicable item prorated
from the mean of the others, rounded to the nearest whole number, halves up; more than one
missing: not scored).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from fractions import Fraction

import pytest

from app.measures.instruments import (
    FREQUENCY_OPTIONS,
    GAD7,
    PHQ9,
    REGISTRY,
    WSAS,
    Band,
    Instrument,
    InvalidInstrument,
    Item,
    Option,
)
from app.measures.scoring import (
    NOT_APPLICABLE,
    Answer,
    InvalidAnswers,
    InvalidPair,
    MeasurePair,
    band_of,
    change,
    item9_risk,
    score,
)

# --- builders ----------------------------------------------------------------------------


def answers_totalling(instrument: Instrument, total: int) -> dict[int, Answer]:
    """A complete set of answers for ``instrument`` summing to ``total`` (highest items first)."""
    assert instrument.min_total <= total <= instrument.max_total
    answers: dict[int, Answer] = {}
    remaining = total - instrument.min_total
    for number in instrument.item_numbers:
        extra = min(remaining, instrument.max_score - instrument.min_score)
        answers[number] = instrument.min_score + extra
        remaining -= extra
    return answers


def wsas(*values: Answer) -> dict[int, Answer]:
    """WSAS answers in item order: work, home, social leisure, private leisure, relationships."""
    assert len(values) == 5
    return dict(enumerate(values, start=1))


def pair(phq9: int, anxiety: int, instrument: Instrument = GAD7) -> MeasurePair:
    return MeasurePair(phq9=phq9, anxiety=anxiety, anxiety_instrument=instrument)


# A made-up three-item anxiety scale, defined purely as data: nothing in the scoring code
# knows about it.
MINI_ANXIETY = Instrument(
    code="mini3",
    name="Mini anxiety scale (made up for tests)",
    version="1",
    items=(
        Item(number=1, text="Feeling tense", options=FREQUENCY_OPTIONS),
        Item(number=2, text="Avoiding places or people", options=FREQUENCY_OPTIONS),
        Item(number=3, text="Racing heart when worried", options=FREQUENCY_OPTIONS),
    ),
    min_score=0,
    max_score=3,
    bands=(Band(0, 2, "low"), Band(3, 5, "medium"), Band(6, 9, "high")),
    caseness_threshold=4,
    reliable_change=3,
    loinc_total=None,
)


# --- the definitions -----------------------------------------------------------------------


def test_registry_holds_the_three_instruments_by_code() -> None:
    assert REGISTRY == {"phq9": PHQ9, "gad7": GAD7, "wsas": WSAS}
    assert all(code == instrument.code for code, instrument in REGISTRY.items())


@pytest.mark.parametrize(
    ("instrument", "items", "item_range", "total_range", "caseness", "rc", "loinc"),
    [
        (PHQ9, 9, (0, 3), (0, 27), 10, 6, "44261-6"),
        (GAD7, 7, (0, 3), (0, 21), 8, 4, "70274-6"),
        (WSAS, 5, (0, 8), (0, 40), None, None, None),
    ],
)
def test_published_parameters(
    instrument: Instrument,
    items: int,
    item_range: tuple[int, int],
    total_range: tuple[int, int],
    caseness: int | None,
    rc: int | None,
    loinc: str | None,
) -> None:
    """Item counts, ranges, thresholds and LOINC codes as DOMAIN.md states them."""
    assert len(instrument.items) == items
    assert (instrument.min_score, instrument.max_score) == item_range
    assert (instrument.min_total, instrument.max_total) == total_range
    assert instrument.caseness_threshold == caseness
    assert instrument.reliable_change == rc
    assert instrument.loinc_total == loinc


@pytest.mark.parametrize("instrument", [PHQ9, GAD7])
def test_frequency_labels(instrument: Instrument) -> None:
    for item in instrument.items:
        assert item.options == (
            (0, "Not at all"),
            (1, "Several days"),
            (2, "More than half the days"),
            (3, "Nearly every day"),
        )
        assert item.not_applicable_label is None
    assert instrument.allow_not_applicable_items == frozenset()
    assert instrument.proration == "none"


def test_wsas_items_labels_and_not_applicable_work_item() -> None:
    topics = [
        "ability to work",
        "home management",
        "social leisure",
        "private leisure",
        "close relationships",
    ]
    for item, topic in zip(WSAS.items, topics, strict=True):
        assert topic in item.text
        assert [option.value for option in item.options] == list(range(9))
        assert item.options[0].label == "Not at all"
        assert item.options[8].label == "Very severely"
    assert WSAS.allow_not_applicable_items == frozenset({1})
    assert WSAS.items[0].not_applicable_label is not None
    assert all(item.not_applicable_label is None for item in WSAS.items[1:])
    assert WSAS.proration == "nhs_wsas"


def test_phq9_item_9_is_the_self_harm_item_and_the_only_risk_item() -> None:
    assert PHQ9.risk_items == frozenset({9})
    assert "hurting yourself" in PHQ9.items[8].text
    assert GAD7.risk_items == WSAS.risk_items == frozenset()


# --- bands: every boundary on both sides ------------------------------------------------------

BAND_BOUNDARIES = [
    (PHQ9, 0, "minimal"),
    (PHQ9, 4, "minimal"),
    (PHQ9, 5, "mild"),
    (PHQ9, 9, "mild"),
    (PHQ9, 10, "moderate"),
    (PHQ9, 14, "moderate"),
    (PHQ9, 15, "moderately severe"),
    (PHQ9, 19, "moderately severe"),
    (PHQ9, 20, "severe"),
    (PHQ9, 27, "severe"),
    (GAD7, 0, "minimal"),
    (GAD7, 4, "minimal"),
    (GAD7, 5, "mild"),
    (GAD7, 9, "mild"),
    (GAD7, 10, "moderate"),
    (GAD7, 14, "moderate"),
    (GAD7, 15, "severe"),
    (GAD7, 21, "severe"),
    (WSAS, 0, "subclinical"),
    (WSAS, 9, "subclinical"),
    (WSAS, 10, "significant impairment"),
    (WSAS, 20, "significant impairment"),
    (WSAS, 21, "moderately severe or worse"),
    (WSAS, 40, "moderately severe or worse"),
]


@pytest.mark.parametrize(("instrument", "total", "band"), BAND_BOUNDARIES)
def test_band_boundaries(instrument: Instrument, total: int, band: str) -> None:
    """Bands are inclusive at both ends (DOMAIN.md: PHQ-9 0-4|5-9|10-14|15-19|20-27, GAD-7
    0-4|5-9|10-14|15-21, WSAS under 10 | 10-20 | over 20)."""
    assert band_of(instrument, total) == band
    result = score(instrument, answers_totalling(instrument, total))
    assert (result.total, result.band, result.prorated) == (total, band, False)


@pytest.mark.parametrize("instrument", [PHQ9, GAD7, WSAS, MINI_ANXIETY])
def test_every_total_falls_in_exactly_one_band(instrument: Instrument) -> None:
    for total in range(instrument.min_total, instrument.max_total + 1):
        holding = [b for b in instrument.bands if b.lower <= total <= b.upper]
        assert len(holding) == 1
        assert score(instrument, answers_totalling(instrument, total)).band == holding[0].label


@pytest.mark.parametrize(("instrument", "total"), [(PHQ9, -1), (PHQ9, 28), (GAD7, 22), (WSAS, 41)])
def test_band_of_a_total_outside_the_range_is_an_error(instrument: Instrument, total: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        band_of(instrument, total)


# --- caseness -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument", "total", "caseness"),
    [
        (PHQ9, 9, False),
        (PHQ9, 10, True),
        (GAD7, 7, False),
        (GAD7, 8, True),
        (WSAS, 0, None),
        (WSAS, 40, None),
    ],
)
def test_caseness_threshold(instrument: Instrument, total: int, caseness: bool | None) -> None:
    """Caseness is total >= threshold: PHQ-9 10, GAD-7 8; WSAS has none (None)."""
    assert score(instrument, answers_totalling(instrument, total)).caseness is caseness


# --- not scored without every item (PHQ-9, GAD-7) -------------------------------------------


@pytest.mark.parametrize("instrument", [PHQ9, GAD7])
@pytest.mark.parametrize("missing", [1, 9])
def test_phq9_and_gad7_need_every_item(instrument: Instrument, missing: int) -> None:
    """No proration for PHQ-9 or GAD-7: one missing item and the form is not scored."""
    missing = min(missing, len(instrument.items))
    answers = answers_totalling(instrument, instrument.max_total)
    answers[missing] = None
    result = score(instrument, answers)
    assert (result.total, result.prorated, result.band, result.caseness) == (
        None,
        False,
        None,
        None,
    )
    assert not result.scored
    assert result.item_scores[missing] is None


def test_item_scores_are_returned_in_item_order_and_read_only() -> None:
    answers = {9: 0, 8: 1, 7: 2, 6: 3, 5: 0, 4: 1, 3: 2, 2: 3, 1: 0}
    result = score(PHQ9, answers)
    assert list(result.item_scores) == list(range(1, 10))
    assert dict(result.item_scores) == answers
    assert result.total == 12
    with pytest.raises(TypeError):
        result.item_scores[1] = 3  # type: ignore[index]


# --- WSAS proration (NHS data dictionary) ----------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "total", "prorated", "band"),
    [
        # Every item answered: a plain sum.
        (wsas(2, 2, 2, 2, 2), 10, False, "significant impairment"),
        (wsas(0, 0, 0, 0, 0), 0, False, "subclinical"),
        (wsas(8, 8, 8, 8, 8), 40, False, "moderately severe or worse"),
        # One missing item: mean of the other four x 5.
        (wsas(2, 2, None, 2, 2), 10, True, "significant impairment"),
        (wsas(3, 3, 3, 3, None), 15, True, "significant impairment"),
        (wsas(None, 8, 8, 8, 8), 40, True, "moderately severe or worse"),
        # Work "not applicable" (retired / not working): the same rule.
        (wsas(NOT_APPLICABLE, 0, 0, 0, 0), 0, True, "subclinical"),
        (wsas(NOT_APPLICABLE, 8, 8, 8, 8), 40, True, "moderately severe or worse"),
        # Rounding to the nearest whole number, halves up (Python's round() would give 2 and 12).
        (wsas(NOT_APPLICABLE, 0, 0, 1, 1), 3, True, "subclinical"),  # 2.5 -> 3
        (wsas(NOT_APPLICABLE, 2, 2, 3, 3), 13, True, "significant impairment"),  # 12.5 -> 13
        (wsas(1, 1, None, 1, 3), 8, True, "subclinical"),  # 7.5 -> 8
        (wsas(NOT_APPLICABLE, 1, 0, 0, 0), 1, True, "subclinical"),  # 1.25 -> 1
        (wsas(NOT_APPLICABLE, 1, 1, 1, 0), 4, True, "subclinical"),  # 3.75 -> 4
        # Band boundaries reached by proration.
        (wsas(NOT_APPLICABLE, 2, 2, 2, 1), 9, True, "subclinical"),  # 8.75 -> 9
        (wsas(NOT_APPLICABLE, 2, 2, 2, 2), 10, True, "significant impairment"),
        (wsas(NOT_APPLICABLE, 4, 4, 4, 4), 20, True, "significant impairment"),
        (wsas(NOT_APPLICABLE, 4, 4, 4, 5), 21, True, "moderately severe or worse"),  # 21.25
    ],
)
def test_wsas_proration(answers: dict[int, Answer], total: int, prorated: bool, band: str) -> None:
    """NHS data dictionary: with work "not applicable" or one item missing, prorate from the
    mean of the answered items; the stored score is a whole number, rounded half up."""
    result = score(WSAS, answers)
    assert (result.total, result.prorated, result.band, result.caseness) == (
        total,
        prorated,
        band,
        None,
    )


@pytest.mark.parametrize(
    "answers",
    [
        wsas(None, None, 4, 4, 4),
        wsas(4, 4, None, 4, None),
        wsas(NOT_APPLICABLE, None, 4, 4, 4),
        wsas(NOT_APPLICABLE, 4, 4, 4, None),
        wsas(None, None, None, None, None),
        wsas(NOT_APPLICABLE, None, None, None, None),
    ],
)
def test_wsas_with_more_than_one_item_unanswered_is_not_scored(
    answers: dict[int, Answer],
) -> None:
    """More than one missing (a not-applicable work item counts as unanswered): not scored."""
    result = score(WSAS, answers)
    assert (result.total, result.prorated, result.band, result.caseness) == (
        None,
        False,
        None,
        None,
    )


def test_wsas_proration_matches_an_exact_reference_for_every_form() -> None:
    """Every WSAS form with one unanswered item (5 positions x 9^4 answers), checked against
    an independent oracle: floor(Fraction(sum x 5, 4) + 1/2)."""
    for position in range(1, 6):
        blank: Answer = NOT_APPLICABLE if position == 1 else None
        for values in itertools.product(range(9), repeat=4):
            others = iter(values)
            answers = {n: blank if n == position else next(others) for n in range(1, 6)}
            expected = math.floor(Fraction(sum(values) * 5, 4) + Fraction(1, 2))
            result = score(WSAS, answers)
            assert result.total == expected, answers
            assert result.prorated


# --- invalid answers -----------------------------------------------------------------------

FULL_PHQ9 = answers_totalling(PHQ9, 12)
FULL_WSAS = wsas(1, 2, 3, 4, 5)
STR_KEYED_PHQ9: dict[object, Answer] = {n: v for n, v in FULL_PHQ9.items() if n != 1}


@pytest.mark.parametrize(
    ("instrument", "answers", "message"),
    [
        # unknown items
        (PHQ9, {**FULL_PHQ9, 10: 1}, r"unknown item\(s\) 10; items are numbered 1-9"),
        (PHQ9, {**FULL_PHQ9, 0: 1}, r"unknown item\(s\) 0;"),
        (
            GAD7,
            {**answers_totalling(GAD7, 3), 8: 0},
            r"unknown item\(s\) 8; items are numbered 1-7",
        ),
        (PHQ9, {**STR_KEYED_PHQ9, "1": 1}, r"unknown item\(s\) '1'"),
        # wrong count: an item dropped rather than given as None
        (
            PHQ9,
            {n: v for n, v in FULL_PHQ9.items() if n != 4},
            r"wrong count: expected 9 answers.*got 8; no entry for item\(s\) 4$",
        ),
        (GAD7, {}, r"expected 7 answers.*got 0; no entry for item\(s\) 1, 2, 3, 4, 5, 6, 7"),
        (WSAS, {1: 2, 2: 2, 3: 2, 4: 2}, r"expected 5 answers.*got 4; no entry for item\(s\) 5"),
        # out of range
        (PHQ9, {**FULL_PHQ9, 3: 4}, r"item 3: 4 is out of range 0-3"),
        (PHQ9, {**FULL_PHQ9, 3: -1}, r"item 3: -1 is out of range 0-3"),
        (GAD7, {**answers_totalling(GAD7, 0), 7: 4}, r"item 7: 4 is out of range 0-3"),
        (WSAS, {**FULL_WSAS, 5: 9}, r"item 5: 9 is out of range 0-8"),
        (WSAS, {**FULL_WSAS, 1: -1}, r"item 1: -1 is out of range 0-8"),
        # not a whole number
        (
            PHQ9,
            {**FULL_PHQ9, 2: 1.0},
            r"item 2: answer must be a whole number 0-3.*got 1.0 \(float\)",
        ),
        (PHQ9, {**FULL_PHQ9, 2: "2"}, r"item 2: .*got '2' \(str\)"),
        (PHQ9, {**FULL_PHQ9, 2: True}, r"item 2: .*got True \(bool\)"),
        # not applicable where it is not allowed
        (
            PHQ9,
            {**FULL_PHQ9, 1: NOT_APPLICABLE},
            r"item 1: 'not applicable' is not allowed for this item \(no item may be\)",
        ),
        (
            WSAS,
            {**FULL_WSAS, 2: NOT_APPLICABLE},
            r"item 2: 'not applicable' is not allowed for this item \(only item\(s\) 1 may be\)",
        ),
    ],
)
def test_invalid_answers(instrument: Instrument, answers: dict, message: str) -> None:
    with pytest.raises(InvalidAnswers, match=message) as raised:
        score(instrument, answers)
    assert str(raised.value).startswith(f"{instrument.name}: ")
    assert raised.value.instrument_code == instrument.code
    assert isinstance(raised.value, ValueError)


def test_a_bool_key_is_an_unknown_item_not_item_1() -> None:
    """True == 1 in Python; a form keyed by True has no item 1, and says so."""
    answers = {n: v for n, v in FULL_PHQ9.items() if n != 1} | {True: 1}
    with pytest.raises(InvalidAnswers) as raised:
        score(PHQ9, answers)
    assert raised.value.problems[0].startswith("unknown item(s) True")
    assert raised.value.problems[1].endswith("no entry for item(s) 1")


def test_every_problem_is_reported_at_once() -> None:
    answers: dict = {0: 1, 2: 5, 3: "x", 4: NOT_APPLICABLE, 5: 0, 6: 0, 7: 0, 8: 0, 9: 0}
    with pytest.raises(InvalidAnswers) as raised:
        score(PHQ9, answers)
    assert raised.value.problems == (
        "unknown item(s) 0; items are numbered 1-9",
        "wrong count: expected 9 answers, one per item 1-9 (None for a missing answer), "
        "got 9; no entry for item(s) 1",
        "item 2: 5 is out of range 0-3",
        "item 3: answer must be a whole number 0-3, None (missing) or NOT_APPLICABLE, "
        "got 'x' (str)",
        "item 4: 'not applicable' is not allowed for this item (no item may be)",
    )


# --- PHQ-9 item 9 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item9", "risk"), [(0, False), (1, True), (2, True), (3, True), (None, False)]
)
def test_item9_risk(item9: int | None, risk: bool) -> None:
    """Any answer above 0 to PHQ-9 item 9 must reach a clinician at once (DOMAIN.md)."""
    assert item9_risk({**answers_totalling(PHQ9, 0), 9: item9}) is risk


def test_item9_risk_is_raised_even_when_the_rest_of_the_form_is_incomplete_or_invalid() -> None:
    assert item9_risk({9: 1}) is True
    assert item9_risk({1: 99, 9: 2}) is True
    assert item9_risk({1: 3, 2: 3}) is False  # not asked; the caller must not read this as safe


@pytest.mark.parametrize("item9", [4, -1, NOT_APPLICABLE, "1"])
def test_item9_risk_rejects_an_invalid_item_9(item9: object) -> None:
    with pytest.raises(InvalidAnswers, match="item 9"):
        item9_risk({9: item9})  # type: ignore[dict-item]


# --- change between first and last measures -----------------------------------------------

CHANGE_FIELDS = (
    "caseness",
    "recovery",
    "reliable_improvement",
    "reliable_deterioration",
    "reliable_recovery",
)


@pytest.mark.parametrize(
    ("first", "last", "improved", "deteriorated"),
    [
        # PHQ-9 reliable change is 6: a fall or rise of 5 is not reliable, 6 is.
        ((15, 5), (10, 5), False, False),
        ((15, 5), (9, 5), True, False),
        ((10, 5), (15, 5), False, False),
        ((10, 5), (16, 5), False, True),
        # GAD-7 reliable change is 4: 3 is not reliable, 4 is.
        ((5, 12), (5, 9), False, False),
        ((5, 12), (5, 8), True, False),
        ((5, 8), (5, 11), False, False),
        ((5, 8), (5, 12), False, True),
        # One reliable fall, the other measure rising by less than its reliable change.
        ((15, 8), (9, 11), True, False),
        ((15, 12), (20, 8), True, False),
        # One measure reliably falls, the other reliably rises: deterioration, not improvement.
        ((15, 8), (9, 12), False, True),
        ((10, 12), (16, 8), False, True),
        # Both reliably fall / both reliably rise.
        ((27, 21), (0, 0), True, False),
        ((0, 0), (27, 21), False, True),
        # No change at all.
        ((12, 9), (12, 9), False, False),
    ],
)
def test_reliable_change(
    first: tuple[int, int], last: tuple[int, int], improved: bool, deteriorated: bool
) -> None:
    """Reliable improvement: PHQ-9 falls >= 6 or GAD-7 >= 4, and neither rises that much.
    Reliable deterioration: PHQ-9 rises >= 6 or GAD-7 >= 4, whatever the other measure did."""
    result = change(pair(*first), pair(*last))
    assert (result.reliable_improvement, result.reliable_deterioration) == (improved, deteriorated)
    assert (result.phq9_delta, result.anxiety_delta) == (last[0] - first[0], last[1] - first[1])
    assert result.anxiety_instrument == "gad7"


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        # (caseness, recovery, reliable improvement, reliable deterioration, reliable recovery)
        # At caseness by both, below both at the end, PHQ-9 down 6: reliable recovery.
        ((15, 12), (9, 7), (True, True, True, False, True)),
        # Just at caseness on PHQ-9 alone, one point below at the end: recovered, not reliably.
        ((10, 0), (9, 0), (True, True, False, False, False)),
        # At caseness on GAD-7 alone (8), 7 at the end: recovered, not reliably.
        ((5, 8), (5, 7), (True, True, False, False, False)),
        # At caseness on GAD-7 alone, down 5: reliable recovery.
        ((5, 12), (5, 7), (True, True, True, False, True)),
        # Still at caseness on PHQ-9 (10) at the end: reliable improvement, no recovery.
        ((15, 12), (10, 7), (True, False, True, False, False)),
        # Still at caseness on GAD-7 (8) at the end: reliable improvement, no recovery.
        ((15, 12), (9, 8), (True, False, True, False, False)),
        # Not at caseness at the start (9 and 7): never "recovery", however far scores fall.
        ((9, 7), (0, 0), (False, False, True, False, False)),
        # Below both thresholds at the end, but GAD-7 rose 4: recovery without reliable recovery,
        # and reliable deterioration.
        ((12, 3), (6, 7), (True, True, False, True, False)),
        # Worse on both.
        ((20, 15), (26, 19), (True, False, False, True, False)),
        # Not a case, becomes one.
        ((4, 3), (10, 7), (False, False, False, True, False)),
    ],
)
def test_recovery_table(
    first: tuple[int, int], last: tuple[int, int], expected: tuple[bool, ...]
) -> None:
    """Recovery: at caseness first, at neither threshold last. Reliable recovery: recovery and
    reliable improvement."""
    result = change(pair(*first), pair(*last))
    assert tuple(getattr(result, name) for name in CHANGE_FIELDS) == expected


def test_change_uses_the_anxiety_measures_own_thresholds() -> None:
    """A condition-specific anxiety measure brings its own caseness and reliable change."""
    first, last = pair(5, 6, MINI_ANXIETY), pair(5, 3, MINI_ANXIETY)
    result = change(first, last)
    # MINI: caseness >= 4, reliable change 3.
    assert tuple(getattr(result, name) for name in CHANGE_FIELDS) == (
        True,
        True,
        True,
        False,
        True,
    )
    assert result.anxiety_delta == -3
    assert result.anxiety_instrument == "mini3"
    assert not change(pair(5, 6, MINI_ANXIETY), pair(5, 4, MINI_ANXIETY)).recovery  # 4: a case
    assert not change(pair(5, 6, MINI_ANXIETY), pair(5, 4, MINI_ANXIETY)).reliable_improvement


def test_change_needs_the_same_anxiety_measure_at_both_ends() -> None:
    with pytest.raises(InvalidPair, match="changed from GAD-7 to Mini anxiety"):
        change(pair(12, 10), pair(8, 2, MINI_ANXIETY))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phq9": 28, "anxiety": 0}, "PHQ-9 total must be a whole number 0-27, got 28"),
        ({"phq9": -1, "anxiety": 0}, "PHQ-9 total must be"),
        ({"phq9": 0, "anxiety": 22}, "GAD-7 total must be a whole number 0-21, got 22"),
        ({"phq9": True, "anxiety": 0}, "PHQ-9 total must be"),
        ({"phq9": 0, "anxiety": 0, "anxiety_instrument": WSAS}, "has no caseness threshold"),
        ({"phq9": 0, "anxiety": 0, "anxiety_instrument": PHQ9}, "cannot be PHQ-9"),
        (
            {
                "phq9": 0,
                "anxiety": 0,
                "anxiety_instrument": replace(MINI_ANXIETY, reliable_change=None),
            },
            "has no reliable-change value",
        ),
    ],
)
def test_invalid_pairs(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidPair, match=message):
        MeasurePair(**kwargs)


# --- a new instrument as data ----------------------------------------------------------------


def test_a_new_instrument_is_added_as_data_and_scored_by_the_same_functions() -> None:
    registry = {**REGISTRY, MINI_ANXIETY.code: MINI_ANXIETY}
    instrument = registry["mini3"]
    assert score(instrument, {1: 1, 2: 1, 3: 0}).band == "low"
    assert score(instrument, {1: 1, 2: 1, 3: 1}).band == "medium"
    assert score(instrument, {1: 2, 2: 2, 3: 1}).band == "medium"
    assert score(instrument, {1: 2, 2: 2, 3: 2}).band == "high"
    assert score(instrument, {1: 1, 2: 1, 3: 1}).caseness is False
    assert score(instrument, {1: 2, 2: 1, 3: 1}).caseness is True
    assert score(instrument, {1: 3, 2: 3, 3: None}).total is None  # proration "none"
    with pytest.raises(InvalidAnswers, match=r"item 3: 4 is out of range 0-3"):
        score(instrument, {1: 0, 2: 0, 3: 4})
    assert "mini3" not in REGISTRY  # the shared registry is untouched


def test_a_new_instrument_with_a_not_applicable_item_uses_the_same_proration() -> None:
    five_items = tuple(
        Item(
            number=n,
            text=f"Question {n}",
            options=tuple(Option(v, None) for v in range(5)),
            not_applicable_label="Does not apply" if n == 2 else None,
        )
        for n in range(1, 6)
    )
    instrument = Instrument(
        code="made-up-5",
        name="Made-up five items",
        version="1",
        items=five_items,
        min_score=0,
        max_score=4,
        bands=(Band(0, 20, "any"),),
        caseness_threshold=None,
        reliable_change=None,
        loinc_total=None,
        proration="nhs_wsas",
        allow_not_applicable_items=frozenset({2}),
    )
    result = score(instrument, {1: 1, 2: NOT_APPLICABLE, 3: 0, 4: 0, 5: 1})
    assert (result.total, result.prorated) == (3, True)  # 2 x 5 / 4 = 2.5 -> 3
    with pytest.raises(InvalidAnswers, match=r"only item\(s\) 2 may be"):
        score(instrument, {1: NOT_APPLICABLE, 2: 0, 3: 0, 4: 0, 5: 0})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bands": (Band(0, 2, "low"), Band(4, 9, "high"))}, "bands must run contiguously"),
        ({"bands": (Band(0, 2, "low"), Band(2, 9, "high"))}, "bands must run contiguously"),
        ({"bands": (Band(1, 9, "all"),)}, "bands must run contiguously from 0"),
        ({"bands": (Band(0, 2, "low"), Band(3, 8, "high"))}, "bands stop at 8, not at 9"),
        ({"caseness_threshold": 10}, "caseness_threshold 10 is outside"),
        ({"caseness_threshold": 0}, "caseness_threshold 0 is outside"),
        ({"reliable_change": 0}, "reliable_change must be positive"),
        ({"max_score": 4}, "item 1 options must be the values 0..4"),
        ({"code": "Mini3"}, "code must be non-empty lower case"),
        ({"items": MINI_ANXIETY.items[1:]}, r"items must be numbered 1..2 in order"),
        ({"allow_not_applicable_items": frozenset({1})}, "disagree"),
        ({"risk_items": frozenset({4})}, r"risk_items names items that do not exist: \[4\]"),
    ],
)
def test_an_inconsistent_definition_is_refused(changes: dict, message: str) -> None:
    with pytest.raises(InvalidInstrument, match=message):
        replace(MINI_ANXIETY, **changes)


def test_not_applicable_needs_a_proration_rule() -> None:
    items = (
        replace(MINI_ANXIETY.items[0], not_applicable_label="N/A"),
        *MINI_ANXIETY.items[1:],
    )
    with pytest.raises(InvalidInstrument, match="'not applicable' items need a proration rule"):
        replace(MINI_ANXIETY, items=items, allow_not_applicable_items=frozenset({1}))
