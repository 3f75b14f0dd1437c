"""IPS-25 diversity of employers, suggested from the share of job starts with different
employers, at each anchor."""

from __future__ import annotations

from fractions import Fraction

import pytest

from app.fidelity.service import MEASURED_ITEMS, employer_diversity_score


@pytest.mark.parametrize(
    ("share", "score"),
    [
        (Fraction(1), 5),
        (Fraction(9, 10), 5),
        (Fraction(89, 100), 4),
        (Fraction(3, 4), 4),
        (Fraction(74, 100), 3),
        (Fraction(1, 2), 3),
        (Fraction(49, 100), 2),
        (Fraction(1, 4), 2),
        (Fraction(24, 100), 1),
        (Fraction(0), 1),
    ],
)
def test_diversity_of_employers_at_the_anchors(share: Fraction, score: int) -> None:
    assert employer_diversity_score(share) == score


def test_a_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError):
        employer_diversity_score(Fraction(11, 10))
    with pytest.raises(ValueError):
        employer_diversity_score(-0.1)
    assert "diversity of employers" in MEASURED_ITEMS
