"""Block randomisation for an evaluation of IPS against treatment as usual: pure functions, no I/O.

The project's domain notes (``/work/shared/DOMAIN.md``): "Evaluations randomise entrants between
IPS and treatment as usual and report by area cluster". The feature asked for is an optional
randomisation of consenting new clients — block randomisation, stratified by a chosen field,
reproducible from a recorded seed, allocation concealed until consent is recorded.

How a sequence is made
    Each stratum (the value of the chosen field, e.g. an area cluster) has its own sequence, made
    of consecutive *permuted blocks*. Block ``b`` of a stratum is derived from a byte stream
    ``HMAC-SHA256(key=seed, msg=(version, stratum, b, counter))`` for ``counter = 0, 1, ...``:

    1. its size is drawn uniformly from ``block_sizes`` (repeat a size to weight it);
    2. it holds ``size / 2`` of each arm, put in order by a Fisher-Yates shuffle.

    Integers are drawn from the stream by rejection sampling, so there is no modulo bias. No
    global random state is read or changed: the same seed, stratum and block sizes always give
    the same sequence, on any machine and Python version, and strata are independent of each
    other. Changing :data:`ALGORITHM_VERSION`, the encoding or the drawing order changes every
    sequence, which the golden-sequence test catches.

Properties that follow
    Every complete block is balanced, so after each block boundary the arms are equal, and at any
    point the difference between the arms is at most half the largest block size. The sequence
    does not depend on ``length``: a shorter sequence is a prefix of a longer one, so allocating
    the N-th consenting client never changes earlier allocations.

Concealment
    The seed is the secret that makes allocations predictable; it is recorded (so the trial can
    be audited and reproduced) but never shown to the people enrolling clients. An allocation is
    only computed by :func:`reveal` (or :meth:`Concealed.reveal`) once consent is recorded;
    before that :class:`AllocationConcealed` is raised. :class:`Concealed` keeps the seed out of
    its ``repr`` so it does not leak into logs.

Strata are compared as exact strings; callers normalise the chosen field (case, whitespace)
before passing it in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

ALGORITHM_VERSION: Final = "teamwell-block-randomisation-v1"
"""Mixed into every HMAC message so a future algorithm cannot silently reuse old sequences."""

DEFAULT_BLOCK_SIZES: Final[tuple[int, ...]] = (4, 6)
"""Block sizes chosen from at random; mixing sizes makes the end of a block hard to guess."""

_UINT32: Final = 2**32


class Arm(StrEnum):
    IPS = "ips"
    TREATMENT_AS_USUAL = "treatment_as_usual"


class AllocationConcealed(Exception):
    """An allocation was asked for before the client's consent was recorded."""


def _validate(seed: str, block_sizes: tuple[int, ...]) -> None:
    if not seed:
        raise ValueError("the seed must be a non-empty string")
    if not block_sizes:
        raise ValueError("at least one block size is needed")
    for size in block_sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % 2:
            raise ValueError(f"block sizes must be even positive integers, not {size!r}")


def _field(value: bytes) -> bytes:
    """Length-prefix a field so that no two different inputs encode to the same message."""
    return len(value).to_bytes(8, "big") + value


def _stream(seed: str, stratum: str, block: int) -> Iterator[int]:
    """Unsigned 32-bit integers from HMAC-SHA256 keyed by the seed, for one block of a stratum."""
    key = seed.encode()
    prefix = (
        _field(ALGORITHM_VERSION.encode()) + _field(stratum.encode()) + block.to_bytes(8, "big")
    )
    counter = 0
    while True:
        digest = hmac.new(key, prefix + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        for i in range(0, len(digest), 4):
            yield int.from_bytes(digest[i : i + 4], "big")
        counter += 1


def _below(stream: Iterator[int], n: int) -> int:
    """A uniform integer in ``[0, n)``, by rejection sampling (no modulo bias)."""
    limit = _UINT32 - _UINT32 % n
    while True:
        value = next(stream)
        if value < limit:
            return value % n


def _block(seed: str, stratum: str, block: int, block_sizes: tuple[int, ...]) -> list[Arm]:
    """Block number ``block`` of a stratum: a shuffled, balanced run of a randomly chosen size."""
    stream = _stream(seed, stratum, block)
    size = block_sizes[_below(stream, len(block_sizes))]
    arms = [Arm.IPS] * (size // 2) + [Arm.TREATMENT_AS_USUAL] * (size // 2)
    for i in range(size - 1, 0, -1):
        j = _below(stream, i + 1)
        arms[i], arms[j] = arms[j], arms[i]
    return arms


def blocks(
    seed: str, stratum: str, *, block_sizes: tuple[int, ...] = DEFAULT_BLOCK_SIZES
) -> Iterator[list[Arm]]:
    """A stratum's permuted blocks in order, without end (for audit and for the functions below)."""
    _validate(seed, block_sizes)  # here, not in the generator, so bad input fails at the call
    return _blocks(seed, stratum, block_sizes)


def _blocks(seed: str, stratum: str, block_sizes: tuple[int, ...]) -> Iterator[list[Arm]]:
    block = 0
    while True:
        yield _block(seed, stratum, block, block_sizes)
        block += 1


def allocation_sequence(
    seed: str,
    stratum: str,
    *,
    block_sizes: tuple[int, ...] = DEFAULT_BLOCK_SIZES,
    length: int,
) -> list[Arm]:
    """The first ``length`` allocations of a stratum (the last block may be cut short)."""
    _validate(seed, block_sizes)
    if length < 0:
        raise ValueError("length must not be negative")
    sequence: list[Arm] = []
    for arms in blocks(seed, stratum, block_sizes=block_sizes):
        if len(sequence) >= length:
            break
        sequence.extend(arms)
    return sequence[:length]


def allocate(
    seed: str,
    stratum: str,
    position: int,
    *,
    block_sizes: tuple[int, ...] = DEFAULT_BLOCK_SIZES,
) -> Arm:
    """The arm for the consenting client at ``position`` (0-based) in that stratum.

    Not for enrolment screens: use :func:`reveal`, which enforces concealment.
    """
    _validate(seed, block_sizes)
    if position < 0:
        raise ValueError("position must not be negative")
    start = 0
    for arms in blocks(seed, stratum, block_sizes=block_sizes):
        if position < start + len(arms):
            return arms[position - start]
        start += len(arms)
    raise AssertionError("unreachable: blocks() never ends")


def reveal(
    seed: str,
    stratum: str,
    position: int,
    *,
    consent_recorded: bool,
    block_sizes: tuple[int, ...] = DEFAULT_BLOCK_SIZES,
) -> Arm:
    """The allocation, once consent is recorded; raises :class:`AllocationConcealed` before."""
    if not consent_recorded:
        raise AllocationConcealed(
            f"allocation {position} in stratum {stratum!r} is concealed until consent is recorded"
        )
    return allocate(seed, stratum, position, block_sizes=block_sizes)


@dataclass(frozen=True)
class Concealed:
    """A pending allocation: which slot a client will take, without its arm or the seed on show."""

    seed: str = field(repr=False)
    stratum: str
    position: int
    block_sizes: tuple[int, ...] = DEFAULT_BLOCK_SIZES

    def __post_init__(self) -> None:
        _validate(self.seed, self.block_sizes)
        if self.position < 0:
            raise ValueError("position must not be negative")

    def reveal(self, *, consent_recorded: bool) -> Arm:
        return reveal(
            self.seed,
            self.stratum,
            self.position,
            consent_recorded=consent_recorded,
            block_sizes=self.block_sizes,
        )
