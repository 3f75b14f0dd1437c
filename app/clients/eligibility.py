"""The programme's eligibility questions, as data (like the measures' instruments): another
programme sets its own in the ``eligibility_questions`` setting (``app.config``), no code
changes. Pure: :func:`assess` says whether a set of answers is eligible and why not.

The defaults are the trailblazer's (the North East Mental Health Employment Trailblazer report):
the cohort is people claiming an out-of-work benefit who are seeking mental-health treatment;
the only exception is people engaged in a mandatory DWP programme such as the Work Programme.
An ineligible referral is stored as such, with its reasons, and still counts as a referral.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class Question(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    text: str = Field(min_length=1, max_length=300)
    eligible_answer: StrictBool = Field(description="The answer a person eligible gives")
    reason_if_not: str = Field(min_length=1, max_length=200)


TRAILBLAZER_QUESTIONS: tuple[Question, ...] = (
    Question(
        key="claims_out_of_work_benefit",
        text="Is the person claiming an out-of-work benefit (ESA, JSA or Universal Credit)?",
        eligible_answer=True,
        reason_if_not="not claiming an out-of-work benefit",
    ),
    Question(
        key="seeking_mental_health_treatment",
        text="Are they seeking treatment for their mental health?",
        eligible_answer=True,
        reason_if_not="not seeking mental-health treatment",
    ),
    Question(
        key="on_mandatory_dwp_programme",
        text="Are they on a mandatory DWP programme (such as the Work Programme)?",
        eligible_answer=False,
        reason_if_not="on a mandatory DWP programme",
    ),
)


class AnswersDoNotFit(ValueError):
    """Answers missing for some questions, or given for questions the programme does not ask."""

    def __init__(self, missing: list[str], unknown: list[str]) -> None:
        self.missing, self.unknown = missing, unknown
        super().__init__(f"missing: {missing}; unknown: {unknown}")


def assess(questions: Sequence[Question], answers: Mapping[str, bool]) -> list[str]:
    """The reasons the answers make a referral ineligible, in question order (none: eligible).
    Every question must be answered and only those."""
    keys = [q.key for q in questions]
    missing = [k for k in keys if k not in answers]
    unknown = sorted(set(answers) - set(keys))
    if missing or unknown:
        raise AnswersDoNotFit(missing, unknown)
    return [q.reason_if_not for q in questions if answers[q.key] != q.eligible_answer]
