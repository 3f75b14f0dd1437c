"""Outcome questionnaires as data: items, answer labels, bands, thresholds.

Nothing here scores anything; :mod:`app.measures.scoring` reads these definitions. Adding a
questionnaire (for example a condition-specific anxiety measure that Talking Therapies pairs with
PHQ-9 instead of GAD-7) means writing one more :class:`Instrument` value and putting it in
:data:`REGISTRY`; no scoring code changes. A definition is checked when it is built, so a
mistyped band or an answer scale with a gap fails at import time, not when a client's form is
scored.

Sources (see ``/work/shared/DOMAIN.md``, "Outcome measures (published scoring)"):

* PHQ-9 — Kroenke, Spitzer & Williams 2001; items scored 0-3, total 0-27; bands 0-4 minimal,
  5-9 mild, 10-14 moderate, 15-19 moderately severe, 20-27 severe. Caseness ≥ 10 and reliable
  change 6 are the NHS Talking Therapies conventions. LOINC 44261-6 (total score).
* GAD-7 — Spitzer, Kroenke, Williams & Löwe 2006; items 0-3, total 0-21; bands 0-4 minimal,
  5-9 mild, 10-14 moderate, 15-21 severe. Caseness ≥ 8, reliable change 4 (Talking Therapies).
  LOINC 70274-6 (total score).
* WSAS — Mundt, Marks, Shear & Greist 2002; five items 0-8, total 0-40; under 10 subclinical,
  10-20 significant impairment, over 20 moderately severe or worse. No caseness threshold. The
  work item may be answered "not applicable"; the NHS data dictionary's proration rule applies
  (see :func:`app.measures.scoring.score`).

``version`` is the version of *our definition* (wording, labels, scoring data). Bump it whenever
any of that changes so a stored response can say which definition scored it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Proration = Literal["none", "nhs_wsas"]
"""How unanswered items are handled.

``"none"``: every item must be answered, otherwise the form is not scored.
``"nhs_wsas"``: the NHS data dictionary rule for WSAS, with at most one item unanswered
(missing or "not applicable") the total is prorated from the mean of the answered items; with
more than one the form is not scored.
"""


class InvalidInstrument(ValueError):
    """An instrument definition contradicts itself (a gap in its bands, a label off its scale)."""


class Option(NamedTuple):
    """One point on an item's answer scale.

    ``label`` is ``None`` for a point the printed form leaves unlabelled (WSAS labels only the
    even points 0, 2, 4, 6, 8; 1, 3, 5 and 7 are answerable but have no words of their own).
    """

    value: int
    label: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One question. ``number`` is 1-based, as printed on the form."""

    number: int
    text: str
    options: tuple[Option, ...]
    not_applicable_label: str | None = None
    """Wording of the "not applicable" choice, for the one kind of item that has one."""


@dataclass(frozen=True, slots=True)
class Band:
    """A severity band: totals ``lower`` to ``upper`` inclusive carry ``label``."""

    lower: int
    upper: int
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """A questionnaire and how to score it.

    ``min_score`` and ``max_score`` are *per item* (PHQ-9: 0 and 3); the range of the total is
    :attr:`min_total`-:attr:`max_total`. ``bands`` must cover that range without gaps or
    overlaps, lowest first. ``caseness_threshold`` is the lowest total that counts as a clinical
    case (``None``: the instrument has no caseness). ``reliable_change`` is the smallest change in
    total that counts as reliable (``None``: not used for reliable change). ``risk_items`` are
    items where any answer above the minimum must reach a clinician at once (PHQ-9 item 9).
    ``allow_not_applicable_items`` are the items that may be answered "not applicable"; only an
    instrument with a proration rule may have any, since otherwise such a form could never be
    scored.
    """

    code: str
    name: str
    version: str
    items: tuple[Item, ...]
    min_score: int
    max_score: int
    bands: tuple[Band, ...]
    caseness_threshold: int | None
    reliable_change: int | None
    loinc_total: str | None
    proration: Proration = "none"
    allow_not_applicable_items: frozenset[int] = field(default_factory=frozenset)
    risk_items: frozenset[int] = field(default_factory=frozenset)
    stem: str = ""
    """The instruction printed above the items."""

    def __post_init__(self) -> None:
        problems = list(_definition_problems(self))
        if problems:
            raise InvalidInstrument(f"{self.code or '<no code>'}: " + "; ".join(problems))

    @property
    def item_numbers(self) -> tuple[int, ...]:
        return tuple(item.number for item in self.items)

    @property
    def min_total(self) -> int:
        return self.min_score * len(self.items)

    @property
    def max_total(self) -> int:
        return self.max_score * len(self.items)


def _definition_problems(instrument: Instrument) -> list[str]:
    problems: list[str] = []
    if not instrument.code or instrument.code != instrument.code.strip().lower():
        problems.append("code must be non-empty lower case")
    if not instrument.items:
        problems.append("an instrument needs at least one item")
    if instrument.min_score >= instrument.max_score:
        problems.append("min_score must be below max_score")
    numbers = instrument.item_numbers
    if numbers != tuple(range(1, len(numbers) + 1)):
        problems.append(f"items must be numbered 1..{len(numbers)} in order, got {numbers}")
    scale = tuple(range(instrument.min_score, instrument.max_score + 1))
    for item in instrument.items:
        if tuple(option.value for option in item.options) != scale:
            problems.append(
                f"item {item.number} options must be the values "
                f"{instrument.min_score}..{instrument.max_score} in order"
            )
        if (item.not_applicable_label is not None) != (
            item.number in instrument.allow_not_applicable_items
        ):
            problems.append(
                f"item {item.number}: not_applicable_label and allow_not_applicable_items disagree"
            )
    for name, subset in (
        ("allow_not_applicable_items", instrument.allow_not_applicable_items),
        ("risk_items", instrument.risk_items),
    ):
        if not subset <= set(numbers):
            problems.append(
                f"{name} names items that do not exist: {sorted(subset - set(numbers))}"
            )
    if instrument.allow_not_applicable_items and instrument.proration == "none":
        problems.append("'not applicable' items need a proration rule")
    if instrument.proration != "none" and len(instrument.items) < 2:
        problems.append("proration needs at least two items to prorate from")
    expected_lower = instrument.min_total
    for band in instrument.bands:
        if band.lower != expected_lower or band.upper < band.lower:
            problems.append(
                f"bands must run contiguously from {instrument.min_total} to "
                f"{instrument.max_total}; '{band.label}' ({band.lower}-{band.upper}) does not"
            )
            break
        expected_lower = band.upper + 1
    else:
        if instrument.bands and expected_lower != instrument.max_total + 1:
            problems.append(f"bands stop at {expected_lower - 1}, not at {instrument.max_total}")
    threshold = instrument.caseness_threshold
    if threshold is not None and not instrument.min_total < threshold <= instrument.max_total:
        problems.append(f"caseness_threshold {threshold} is outside the range of the total")
    if instrument.reliable_change is not None and instrument.reliable_change <= 0:
        problems.append("reliable_change must be positive")
    return problems


FREQUENCY_OPTIONS = (
    Option(0, "Not at all"),
    Option(1, "Several days"),
    Option(2, "More than half the days"),
    Option(3, "Nearly every day"),
)
"""The PHQ-9 and GAD-7 answer scale."""

IMPAIRMENT_OPTIONS = (
    Option(0, "Not at all"),
    Option(1, None),
    Option(2, "Slightly"),
    Option(3, None),
    Option(4, "Definitely"),
    Option(5, None),
    Option(6, "Markedly"),
    Option(7, None),
    Option(8, "Very severely"),
)
"""The WSAS answer scale: nine points, the even ones labelled."""


def _items(texts: tuple[str, ...], options: tuple[Option, ...]) -> tuple[Item, ...]:
    return tuple(
        Item(number=number, text=text, options=options)
        for number, text in enumerate(texts, start=1)
    )


PHQ9 = Instrument(
    code="phq9",
    name="PHQ-9",
    version="1",
    stem=(
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    ),
    items=_items(
        (
            "Little interest or pleasure in doing things",
            "Feeling down, depressed, or hopeless",
            "Trouble falling or staying asleep, or sleeping too much",
            "Feeling tired or having little energy",
            "Poor appetite or overeating",
            "Feeling bad about yourself — or that you are a failure or have let yourself or "
            "your family down",
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            "Moving or speaking so slowly that other people could have noticed? Or the opposite "
            "— being so fidgety or restless that you have been moving around a lot more than "
            "usual",
            "Thoughts that you would be better off dead or of hurting yourself in some way",
        ),
        FREQUENCY_OPTIONS,
    ),
    min_score=0,
    max_score=3,
    bands=(
        Band(0, 4, "minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 19, "moderately severe"),
        Band(20, 27, "severe"),
    ),
    caseness_threshold=10,
    reliable_change=6,
    loinc_total="44261-6",
    risk_items=frozenset({9}),
)

GAD7 = Instrument(
    code="gad7",
    name="GAD-7",
    version="1",
    stem="Over the last 2 weeks, how often have you been bothered by the following problems?",
    items=_items(
        (
            "Feeling nervous, anxious or on edge",
            "Not being able to stop or control worrying",
            "Worrying too much about different things",
            "Trouble relaxing",
            "Being so restless that it is hard to sit still",
            "Becoming easily annoyed or irritable",
            "Feeling afraid as if something awful might happen",
        ),
        FREQUENCY_OPTIONS,
    ),
    min_score=0,
    max_score=3,
    bands=(
        Band(0, 4, "minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 21, "severe"),
    ),
    caseness_threshold=8,
    reliable_change=4,
    loinc_total="70274-6",
)

WSAS_WORK_ITEM = 1

WSAS = Instrument(
    code="wsas",
    name="Work and Social Adjustment Scale (WSAS)",
    version="1",
    stem=(
        "People's problems sometimes affect their ability to do certain day-to-day tasks in "
        "their lives. To rate your problems look at each section and decide on the scale "
        "provided how much your problem impairs your ability to carry out the activity."
    ),
    items=(
        Item(
            number=WSAS_WORK_ITEM,
            text=(
                "Because of my problem, my ability to work is impaired. 0 means not at all "
                "impaired and 8 means very severely impaired to the point I can't work."
            ),
            options=IMPAIRMENT_OPTIONS,
            not_applicable_label=(
                "Not applicable: I'm retired, or not working for reasons unrelated to my problem"
            ),
        ),
        Item(
            number=2,
            text=(
                "Because of my problem, my home management (cleaning, tidying, shopping, cooking, "
                "looking after home or children, paying bills) is impaired."
            ),
            options=IMPAIRMENT_OPTIONS,
        ),
        Item(
            number=3,
            text=(
                "Because of my problem, my social leisure activities (with other people, e.g. "
                "parties, bars, clubs, outings, visits, dating, home entertaining) are impaired."
            ),
            options=IMPAIRMENT_OPTIONS,
        ),
        Item(
            number=4,
            text=(
                "Because of my problem, my private leisure activities (done alone, such as "
                "reading, gardening, collecting, sewing, walking alone) are impaired."
            ),
            options=IMPAIRMENT_OPTIONS,
        ),
        Item(
            number=5,
            text=(
                "Because of my problem, my ability to form and maintain close relationships "
                "with others, including those I live with, is impaired."
            ),
            options=IMPAIRMENT_OPTIONS,
        ),
    ),
    min_score=0,
    max_score=8,
    bands=(
        Band(0, 9, "subclinical"),
        Band(10, 20, "significant impairment"),
        Band(21, 40, "moderately severe or worse"),
    ),
    caseness_threshold=None,
    reliable_change=None,
    loinc_total=None,
    proration="nhs_wsas",
    allow_not_applicable_items=frozenset({WSAS_WORK_ITEM}),
)

REGISTRY: dict[str, Instrument] = {instrument.code: instrument for instrument in (PHQ9, GAD7, WSAS)}
"""Every instrument the service offers, by code. Add a definition here to offer another."""
