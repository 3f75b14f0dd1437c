"""Block randomisation for the IPS evaluation: pure functions, tested directly (no server)."""

from __future__ import annotations

import itertools
import random

import pytest

from app.evaluation.randomisation import (
    DEFAULT_BLOCK_SIZES,
    AllocationConcealed,
    Arm,
    Concealed,
    allocate,
    allocation_sequence,
    blocks,
    reveal,
)

SEED = "golden-seed-2024"
IPS, TAU = Arm.IPS, Arm.TREATMENT_AS_USUAL


def letters(arms: list[Arm]) -> str:
    return "".join("I" if arm is Arm.IPS else "T" for arm in arms)


def first_blocks(seed: str, stratum: str, count: int, **kwargs: tuple[int, ...]) -> list[list[Arm]]:
    return list(itertools.islice(blocks(seed, stratum, **kwargs), count))


# --- the arms ---------------------------------------------------------------------------------


def test_arm_values() -> None:
    assert [arm.value for arm in Arm] == ["ips", "treatment_as_usual"]
    assert Arm("ips") is Arm.IPS


# --- reproducibility ----------------------------------------------------------------------------


def test_same_inputs_give_the_same_sequence() -> None:
    first = allocation_sequence(SEED, "tyneside", length=200)
    assert allocation_sequence(SEED, "tyneside", length=200) == first
    assert allocation_sequence(SEED, "tyneside", block_sizes=(4, 6), length=200) == first


def test_global_random_state_is_neither_read_nor_changed() -> None:
    random.seed(1)
    state = random.getstate()
    first = allocation_sequence(SEED, "tyneside", length=100)
    assert random.getstate() == state
    random.seed(2)
    assert allocation_sequence(SEED, "tyneside", length=100) == first


def test_golden_sequence() -> None:
    """Recorded once; a change here means old trials can no longer be reproduced."""
    assert letters(allocation_sequence(SEED, "tyneside", length=20)) == "TITITIIITTIITTIITITT"
    assert [letters(b) for b in first_blocks(SEED, "tyneside", 5)] == [
        "TITITI",
        "IITT",
        "IITT",
        "IITITT",
        "TTITII",
    ]
    assert letters(allocation_sequence(SEED, "sunderland", length=20)) == "TITTIIITTIIITITTTITI"


def test_a_shorter_sequence_is_a_prefix_of_a_longer_one() -> None:
    longest = allocation_sequence(SEED, "tyneside", length=101)
    for length in range(101):
        assert allocation_sequence(SEED, "tyneside", length=length) == longest[:length]


def test_length_zero_and_negative() -> None:
    assert allocation_sequence(SEED, "tyneside", length=0) == []
    with pytest.raises(ValueError, match="length"):
        allocation_sequence(SEED, "tyneside", length=-1)


# --- balance ------------------------------------------------------------------------------------


@pytest.mark.parametrize("block_sizes", [(4, 6), (2,), (4,), (2, 4, 8), (6, 6, 10)])
@pytest.mark.parametrize("stratum", ["tyneside", "sunderland", "", "Durham & Darlington"])
def test_every_block_is_balanced_and_a_permitted_size(
    block_sizes: tuple[int, ...], stratum: str
) -> None:
    for arms in first_blocks(SEED, stratum, 200, block_sizes=block_sizes):
        assert len(arms) in block_sizes
        assert arms.count(IPS) == arms.count(TAU) == len(arms) // 2


@pytest.mark.parametrize("block_sizes", [(4, 6), (2,), (2, 4, 8), (6, 6, 10)])
@pytest.mark.parametrize("seed", ["a", "b", SEED, "another recorded seed"])
def test_running_imbalance_never_exceeds_half_the_largest_block(
    block_sizes: tuple[int, ...], seed: str
) -> None:
    sequence = allocation_sequence(seed, "tyneside", block_sizes=block_sizes, length=1000)
    difference = 0
    for arm in sequence:
        difference += 1 if arm is IPS else -1
        assert abs(difference) <= max(block_sizes) // 2


def test_arms_are_equal_at_every_block_boundary() -> None:
    sequence = allocation_sequence(SEED, "tyneside", length=1000)
    boundary = 0
    for arms in first_blocks(SEED, "tyneside", 150):
        boundary += len(arms)
        if boundary > len(sequence):
            break
        prefix = sequence[:boundary]
        assert prefix.count(IPS) == prefix.count(TAU)


def test_both_block_sizes_are_used_and_both_orders_occur() -> None:
    found = first_blocks(SEED, "tyneside", 200)
    assert {len(arms) for arms in found} == set(DEFAULT_BLOCK_SIZES)
    fours = {letters(arms) for arms in found if len(arms) == 4}
    assert len(fours) == 6  # every arrangement of IITT appears


def test_single_block_size_gives_a_fixed_period() -> None:
    sequence = allocation_sequence(SEED, "tyneside", block_sizes=(2,), length=100)
    for start in range(0, 100, 2):
        assert sorted(sequence[start : start + 2]) == [IPS, TAU]


# --- strata -------------------------------------------------------------------------------------


def test_strata_give_different_sequences() -> None:
    strata = ["tyneside", "sunderland", "durham", "Tyneside", "tyneside ", ""]
    sequences = {letters(allocation_sequence(SEED, s, length=64)) for s in strata}
    assert len(sequences) == len(strata)


def test_seeds_give_different_sequences() -> None:
    sequences = {
        letters(allocation_sequence(f"seed-{n}", "tyneside", length=64)) for n in range(20)
    }
    assert len(sequences) == 20


def test_a_stratum_does_not_depend_on_others_being_allocated() -> None:
    alone = allocation_sequence(SEED, "tyneside", length=50)
    allocation_sequence(SEED, "sunderland", length=500)
    assert allocation_sequence(SEED, "tyneside", length=50) == alone


def test_strata_are_uncorrelated() -> None:
    """Two strata agree at about half the positions: neither copies nor mirrors the other."""
    a = allocation_sequence(SEED, "tyneside", length=10_000)
    b = allocation_sequence(SEED, "sunderland", length=10_000)
    agree = sum(x is y for x, y in zip(a, b, strict=True))
    assert 4_800 <= agree <= 5_200  # ±4 standard deviations of 50


def test_field_encoding_is_unambiguous() -> None:
    """Seed and stratum are kept apart: moving text between them changes the sequence."""
    assert allocation_sequence("ab", "c", length=64) != allocation_sequence("a", "bc", length=64)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("block_sizes", [(), (3,), (4, 5), (0,), (-2,), (4, -4), (True,), (4.0,)])
def test_block_sizes_must_be_even_and_positive(block_sizes: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        allocation_sequence(SEED, "tyneside", block_sizes=block_sizes, length=10)
    with pytest.raises(ValueError):
        allocate(SEED, "tyneside", 0, block_sizes=block_sizes)
    with pytest.raises(ValueError):
        blocks(SEED, "tyneside", block_sizes=block_sizes)
    with pytest.raises(ValueError):
        Concealed(SEED, "tyneside", 0, block_sizes=block_sizes)


def test_the_seed_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="seed"):
        allocation_sequence("", "tyneside", length=10)
    with pytest.raises(ValueError, match="seed"):
        allocate("", "tyneside", 0)


def test_position_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="position"):
        allocate(SEED, "tyneside", -1)
    with pytest.raises(ValueError, match="position"):
        Concealed(SEED, "tyneside", -1)


# --- positions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("block_sizes", [(4, 6), (2,), (2, 4, 8)])
def test_allocate_matches_the_sequence_across_block_boundaries(
    block_sizes: tuple[int, ...],
) -> None:
    sequence = allocation_sequence(SEED, "tyneside", block_sizes=block_sizes, length=120)
    for position, arm in enumerate(sequence):
        assert allocate(SEED, "tyneside", position, block_sizes=block_sizes) is arm


def test_positions_either_side_of_each_boundary() -> None:
    found = first_blocks(SEED, "tyneside", 10)
    start = 0
    for arms in found:
        end = start + len(arms)
        assert allocate(SEED, "tyneside", start) is arms[0]
        assert allocate(SEED, "tyneside", end - 1) is arms[-1]
        start = end


def test_a_far_position() -> None:
    sequence = allocation_sequence(SEED, "tyneside", length=5_001)
    assert allocate(SEED, "tyneside", 5_000) is sequence[5_000]


# --- concealment --------------------------------------------------------------------------------


def test_reveal_is_refused_until_consent_is_recorded() -> None:
    with pytest.raises(AllocationConcealed):
        reveal(SEED, "tyneside", 0, consent_recorded=False)
    for position in range(20):
        assert reveal(SEED, "tyneside", position, consent_recorded=True) is allocate(
            SEED, "tyneside", position
        )


def test_reveal_passes_block_sizes_through() -> None:
    sequence = allocation_sequence(SEED, "tyneside", block_sizes=(2,), length=10)
    assert [
        reveal(SEED, "tyneside", p, consent_recorded=True, block_sizes=(2,)) for p in range(10)
    ] == sequence


def test_concealed_wrapper() -> None:
    pending = Concealed(SEED, "tyneside", 7)
    with pytest.raises(AllocationConcealed):
        pending.reveal(consent_recorded=False)
    assert pending.reveal(consent_recorded=True) is allocate(SEED, "tyneside", 7)
    shown = repr(pending)
    assert SEED not in shown
    assert "ips" not in shown.lower()
    assert "treatment" not in shown.lower()
    with pytest.raises(AttributeError):
        pending.position = 8  # type: ignore[misc]


# --- statistical sanity (deterministic: everything is seeded) -----------------------------------


def test_ten_thousand_allocations_are_within_one_percent_of_half() -> None:
    sequence = allocation_sequence(SEED, "tyneside", length=10_000)
    assert abs(sequence.count(IPS) - 5_000) <= 100
    assert abs(sequence.count(TAU) - 5_000) <= 100


def test_the_first_allocation_of_a_stratum_is_a_fair_coin() -> None:
    """Blocking forces overall balance, so also check a single position across many strata."""
    firsts = [allocate(SEED, f"stratum-{n}", 0) for n in range(40_000)]
    assert abs(firsts.count(IPS) - 20_000) <= 400  # 1% of the total: ±4 standard deviations


def test_block_sizes_are_chosen_evenly() -> None:
    sizes = [len(arms) for arms in first_blocks(SEED, "tyneside", 10_000)]
    assert abs(sizes.count(4) - 5_000) <= 200  # ±4 standard deviations of 50
