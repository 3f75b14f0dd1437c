"""Eligibility at referral as data: the verdict from the answers, and the questions as a
setting another programme replaces."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from app.clients.eligibility import TRAILBLAZER_QUESTIONS, AnswersDoNotFit, Question, assess
from app.config import Settings

ELIGIBLE = {
    "claims_out_of_work_benefit": True,
    "seeking_mental_health_treatment": True,
    "on_mandatory_dwp_programme": False,
}


def test_eligible_answers_give_no_reason() -> None:
    assert assess(TRAILBLAZER_QUESTIONS, ELIGIBLE) == []


def test_each_differing_answer_gives_its_reason_in_question_order() -> None:
    answers = {**ELIGIBLE, "on_mandatory_dwp_programme": True, "claims_out_of_work_benefit": False}
    assert assess(TRAILBLAZER_QUESTIONS, answers) == [
        "not claiming an out-of-work benefit",
        "on a mandatory DWP programme",
    ]


def test_missing_and_unknown_answers_are_refused() -> None:
    with pytest.raises(AnswersDoNotFit) as missing:
        assess(TRAILBLAZER_QUESTIONS, {"claims_out_of_work_benefit": True})
    assert missing.value.missing == [
        "seeking_mental_health_treatment",
        "on_mandatory_dwp_programme",
    ]
    with pytest.raises(AnswersDoNotFit) as unknown:
        assess(TRAILBLAZER_QUESTIONS, {**ELIGIBLE, "lives_in_area": True})
    assert unknown.value.unknown == ["lives_in_area"]


def test_another_programme_sets_its_own_questions(monkeypatch: pytest.MonkeyPatch) -> None:
    own = [
        {
            "key": "lives_in_area",
            "text": "Do they live in the area?",
            "eligible_answer": True,
            "reason_if_not": "lives outside the area",
        }
    ]
    monkeypatch.setenv("TEAMWELL_ELIGIBILITY_QUESTIONS", json.dumps(own))
    questions = Settings().eligibility_questions
    assert questions == (Question(**own[0]),)
    assert assess(questions, {"lives_in_area": False}) == ["lives outside the area"]


def test_the_questions_setting_is_bounded() -> None:
    one = TRAILBLAZER_QUESTIONS[0]
    with pytest.raises(ValidationError):
        Settings(eligibility_questions=())
    assert len(Settings(eligibility_questions=(one,) * 1).eligibility_questions) == 1
    many = tuple(Question(**{**one.model_dump(), "key": f"q{n}"}) for n in range(21))
    assert len(Settings(eligibility_questions=many[:20]).eligibility_questions) == 20
    with pytest.raises(ValidationError):
        Settings(eligibility_questions=many)
    with pytest.raises(ValidationError, match="must differ"):
        Settings(eligibility_questions=(one, one))
    with pytest.raises(ValidationError):
        Question(**{**one.model_dump(), "key": "Not A Key"})
    with pytest.raises(ValidationError):
        Question(**{**one.model_dump(), "eligible_answer": "yes"})


@pytest.mark.parametrize(("days", "valid"), [(-1, False), (0, True), (366, True), (367, False)])
def test_the_restart_window_is_bounded(days: int, valid: bool) -> None:
    if valid:
        assert Settings(benefit_restart_window_days=days).benefit_restart_window_days == days
    else:
        with pytest.raises(ValidationError):
            Settings(benefit_restart_window_days=days)
