"""Equality-monitoring answers. Every question is optional and offers "prefer not to say";
the categories are the ONS 2021 census's where one exists (docs/equality.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

PREFER_NOT = "prefer_not_to_say"


class AgeBand(StrEnum):
    age_16_24 = "16_24"
    age_25_34 = "25_34"
    age_35_49 = "35_49"
    age_50_64 = "50_64"
    age_65_plus = "65_plus"
    prefer_not_to_say = PREFER_NOT


class Sex(StrEnum):
    female = "female"
    male = "male"
    prefer_not_to_say = PREFER_NOT


class GenderIdentity(StrEnum):
    """The census question: is the gender you identify with the same as your sex at birth?"""

    same_as_sex_at_birth = "same_as_sex_at_birth"
    different_from_sex_at_birth = "different_from_sex_at_birth"
    prefer_not_to_say = PREFER_NOT


class Ethnicity(StrEnum):
    """The ONS 2021 ethnic groups for England and Wales (19 categories)."""

    asian_bangladeshi = "asian_bangladeshi"
    asian_chinese = "asian_chinese"
    asian_indian = "asian_indian"
    asian_pakistani = "asian_pakistani"
    asian_other = "asian_other"
    black_african = "black_african"
    black_caribbean = "black_caribbean"
    black_other = "black_other"
    mixed_white_asian = "mixed_white_asian"
    mixed_white_black_african = "mixed_white_black_african"
    mixed_white_black_caribbean = "mixed_white_black_caribbean"
    mixed_other = "mixed_other"
    white_british = "white_british"
    white_irish = "white_irish"
    white_gypsy_irish_traveller = "white_gypsy_irish_traveller"
    white_roma = "white_roma"
    white_other = "white_other"
    other_arab = "other_arab"
    other_any = "other_any"
    prefer_not_to_say = PREFER_NOT


class Disability(StrEnum):
    """The census's Equality Act question: day-to-day activities limited by a condition."""

    limited_a_lot = "limited_a_lot"
    limited_a_little = "limited_a_little"
    not_limited = "not_limited"
    prefer_not_to_say = PREFER_NOT


class YesNo(StrEnum):
    yes = "yes"
    no = "no"
    prefer_not_to_say = PREFER_NOT


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EqualityAnswers(Strict):
    """What the client chose to say; a question left out (null) was not answered."""

    age_band: AgeBand | None = None
    sex: Sex | None = None
    gender_identity: GenderIdentity | None = None
    ethnicity: Ethnicity | None = None
    disability: Disability | None = None
    young_not_in_education_employment_training: YesNo | None = Field(
        default=None, description="Aged 16 to 24 and not in education, employment or training"
    )
    conviction: YesNo | None = Field(default=None, description="Has an unspent conviction")
    insecure_housing: YesNo | None = Field(
        default=None, description="Homeless, in temporary accommodation or at risk of losing home"
    )


class StaffEqualityEntry(Strict):
    """A member of staff enters the answers only with the client's consent to it, said here."""

    client_consents: StrictBool = Field(
        description="Must be true: the client agreed, now, that this member of staff records "
        "their answers"
    )
    answers: EqualityAnswers

    @field_validator("client_consents")
    @classmethod
    def consent_given(cls, value: bool) -> bool:
        if not value:
            raise ValueError("staff may record the answers only with the client's consent")
        return value


class EqualityPublic(BaseModel):
    """The client's own answers, shown only to them. Before any are given (or after they are
    withdrawn) every answer is null, as are ``entered_by`` and ``updated_at``."""

    answers: EqualityAnswers
    entered_by: Literal["client", "staff"] | None
    updated_at: datetime | None


CHARACTERISTICS: tuple[str, ...] = tuple(EqualityAnswers.model_fields)
