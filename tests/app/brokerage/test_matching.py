"""The matching rule at its edges: each criterion met, not met or unknown with its reason, and
which vacancies are shown in which order."""

from __future__ import annotations

from datetime import date, timedelta

from app.brokerage.rules import HOURS_TOLERANCE, Opening, Preferences, assess, is_live, matches
from app.ips.sectors import SIC_SECTIONS

TODAY = date(2026, 12, 7)
THRESHOLD = 1345


def opening(key: str = "v", **fields: object) -> Opening:
    base: dict[str, object] = {
        "key": key,
        "title": "Kitchen assistant",
        "status": "open",
        "hours_per_week": 16.0,
        "hourly_pay_pence": 1400,
        "location": "Newcastle city centre",
        "sector": "I",
        "closing_on": None,
    }
    base.update(fields)
    return Opening(**base)  # type: ignore[arg-type]


def outcomes(prefs: Preferences, o: Opening) -> dict[str, str]:
    found = assess(prefs, o, sectors=SIC_SECTIONS, threshold_pence=THRESHOLD)
    return {c.name: c.outcome for c in found.criteria}


def test_each_criterion_is_met_not_met_or_unknown() -> None:
    prefs = Preferences(types=("kitchen",), locations=("Newcastle",), hours_per_week=16)
    assert outcomes(prefs, opening()) == {
        "type": "met",
        "location": "met",
        "hours": "met",
        "pay": "met",
        "sector": "unknown",
        "minimum_pay": "unknown",
    }
    assert outcomes(Preferences(), opening(hourly_pay_pence=None, location=None)) == {
        "type": "unknown",
        "location": "unknown",
        "hours": "unknown",
        "pay": "unknown",
        "sector": "unknown",
        "minimum_pay": "unknown",
    }
    wrong = opening(title="Forklift driver", sector="H", location="Sunderland", hours_per_week=40)
    assert outcomes(prefs, wrong) == {
        "type": "not_met",
        "location": "not_met",
        "hours": "not_met",
        "pay": "met",
        "sector": "unknown",
        "minimum_pay": "unknown",
    }


def test_type_matches_the_title_the_sectors_name_or_its_letter_ignoring_case() -> None:
    assert outcomes(Preferences(types=("  KITCHEN  ",)), opening())["type"] == "met"
    # "Accommodation and food service activities" is section I.
    assert outcomes(Preferences(types=("food service",)), opening(title="Porter"))["type"] == "met"
    assert outcomes(Preferences(types=("i",)), opening(title="Porter"))["type"] == "met"
    assert outcomes(Preferences(types=("retail",)), opening())["type"] == "not_met"
    # A blank preference is no preference.
    assert outcomes(Preferences(types=(" ",)), opening())["type"] == "unknown"


def test_location_matches_either_way_round() -> None:
    prefs = Preferences(locations=("Newcastle city centre, Grainger Street",))
    assert outcomes(prefs, opening(location="Newcastle")).get("location") == "met"
    assert outcomes(Preferences(locations=("gateshead",)), opening())["location"] == "not_met"


def test_hours_within_the_tolerance_and_pay_at_the_threshold() -> None:
    prefs = Preferences(hours_per_week=16)
    edge = opening(hours_per_week=16 + HOURS_TOLERANCE)
    beyond = opening(hours_per_week=16 + HOURS_TOLERANCE + 0.5)
    assert outcomes(prefs, edge)["hours"] == "met"
    assert outcomes(prefs, beyond)["hours"] == "not_met"
    assert outcomes(prefs, opening(hourly_pay_pence=THRESHOLD))["pay"] == "met"
    assert outcomes(prefs, opening(hourly_pay_pence=THRESHOLD - 1))["pay"] == "not_met"
    found = assess(prefs, beyond, sectors=SIC_SECTIONS, threshold_pence=THRESHOLD)
    assert found.criteria[2].reason == "24.5 hours a week against 16 preferred"


def test_only_live_vacancies_that_nothing_rules_out_best_first() -> None:
    prefs = Preferences(types=("kitchen",), locations=("Newcastle",), hours_per_week=16)
    all_met = opening("a", closing_on=TODAY + timedelta(days=9))
    sooner = opening("b", closing_on=TODAY)  # the last day to apply is today: still live
    unknown_pay = opening("c", hourly_pay_pence=None)
    closed = opening("d", status="filled")
    passed = opening("e", closing_on=TODAY - timedelta(days=1))
    low_pay = opening("f", hourly_pay_pence=1000)
    found = matches(
        prefs,
        [unknown_pay, all_met, closed, passed, low_pay, sooner],
        today=TODAY,
        sectors=SIC_SECTIONS,
        threshold_pence=THRESHOLD,
    )
    assert [m.opening.key for m in found] == ["b", "a", "c"]
    assert [m.met for m in found] == [4, 4, 3]
    assert is_live(sooner, TODAY) and not is_live(passed, TODAY) and not is_live(closed, TODAY)


def test_sectors_and_minimum_pay_rule_a_vacancy_out_at_their_edges() -> None:
    prefs = Preferences(sectors=("I", "G"), min_hourly_pay_pence=1400)
    assert outcomes(prefs, opening()) == {
        "type": "unknown",
        "location": "unknown",
        "hours": "unknown",
        "pay": "met",
        "sector": "met",
        "minimum_pay": "met",  # 1400 is the minimum itself
    }
    below = opening(hourly_pay_pence=1399)
    assert outcomes(prefs, below)["minimum_pay"] == "not_met"
    assert outcomes(prefs, opening(sector="H"))["sector"] == "not_met"
    # Not known on the vacancy's side: shown, as any unknown is.
    assert outcomes(prefs, opening(sector=None))["sector"] == "unknown"
    assert outcomes(prefs, opening(hourly_pay_pence=None))["minimum_pay"] == "unknown"
    reasons = {
        c.name: c.reason
        for c in assess(prefs, below, sectors=SIC_SECTIONS, threshold_pence=THRESHOLD).criteria
    }
    assert reasons["minimum_pay"] == "Pays less than the client's minimum of £14.00"
    assert reasons["sector"] == (
        "In a preferred sector (Accommodation and food service activities)"
    )


def test_a_vacancy_outside_the_sectors_or_below_the_minimum_is_not_suggested() -> None:
    openings = [
        opening("kitchen"),
        opening("warehouse", title="Warehouse operative", sector="H"),
        opening("cheap", title="Kitchen porter", hourly_pay_pence=1350),
        opening("unsaid", title="Porter", sector=None, hourly_pay_pence=None),
    ]
    shown = matches(
        Preferences(sectors=("I",), min_hourly_pay_pence=1400),
        openings,
        today=TODAY,
        sectors=SIC_SECTIONS,
        threshold_pence=THRESHOLD,
    )
    assert [m.opening.key for m in shown] == ["kitchen", "unsaid"]
    everything = matches(
        Preferences(), openings, today=TODAY, sectors=SIC_SECTIONS, threshold_pence=THRESHOLD
    )
    assert {m.opening.key for m in everything} == {"kitchen", "warehouse", "cheap", "unsaid"}
