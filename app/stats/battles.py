"""Pairwise votes ("battles") in the Chatbot Arena layout, encoded as integer arrays.

Chiang et al. 2024, "Chatbot Arena: An Open Platform for Evaluating LLMs by Human Preference":
a battle is (model_a, model_b, winner) with winner in model_a | model_b | tie | tie (bothbad);
model_a is the left-hand side. Outcome codes follow FastChat's preprocess_for_bt (2 = model_a
wins, 1 = tie, 0 = model_b wins) so that aggregation and bootstrap resampling reproduce its
recipe row for row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from app.stats.exceptions import StatsError, UnknownGeneratorError

WINNER_A = "model_a"
WINNER_B = "model_b"
TIE = "tie"
BOTH_BAD = "tie (bothbad)"
WINNER_LABELS = (WINNER_A, WINNER_B, TIE, BOTH_BAD)

A_WINS, TIED, B_WINS = 2, 1, 0
_CODE = {WINNER_A: A_WINS, WINNER_B: B_WINS, TIE: TIED, BOTH_BAD: TIED}


@dataclass(frozen=True, eq=False)
class Battles:
    """Votes in time order: generator indices for the left (a) and right (b) side and the outcome."""

    generators: tuple[str, ...]
    a: np.ndarray  # int64, index into generators, left side
    b: np.ndarray  # int64, right side
    outcome: np.ndarray  # int8: A_WINS / TIED / B_WINS
    both_bad: np.ndarray  # bool: the tie was "both bad" (kept for reporting; scored as a tie)

    def __len__(self) -> int:
        return int(self.a.shape[0])

    @property
    def n_generators(self) -> int:
        return len(self.generators)

    def index(self, name: str) -> int:
        try:
            return self.generators.index(name)
        except ValueError:
            raise UnknownGeneratorError(f"unknown generator {name!r}") from None

    def score_a(self) -> np.ndarray:
        """Score of the left side per vote: 1, 0.5 (either kind of tie) or 0."""
        return self.outcome.astype(np.float64) / 2.0

    def swapped(self) -> Battles:
        """The same votes with the sides exchanged (a win for the left becomes one for the right)."""
        return Battles(
            self.generators, self.b, self.a, (2 - self.outcome).astype(np.int8), self.both_bad
        )


def battles_from_records(
    model_a: Sequence[str],
    model_b: Sequence[str],
    winner: Sequence[str],
    generators: Iterable[str] | None = None,
) -> Battles:
    """Encode battles; generator order is first appearance in model_a then model_b (pandas.factorize
    over concat(model_a, model_b), as FastChat does) unless `generators` is given."""
    n = len(model_a)
    if len(model_b) != n or len(winner) != n:
        raise StatsError("model_a, model_b and winner must have the same length")
    if generators is None:
        order: dict[str, int] = {}
        for name in list(model_a) + list(model_b):
            order.setdefault(name, len(order))
    else:
        order = {name: i for i, name in enumerate(generators)}
        if len(order) != len(list(generators)):
            raise StatsError("duplicate generator names")
    names = tuple(order)
    try:
        a = np.fromiter((order[m] for m in model_a), dtype=np.int64, count=n)
        b = np.fromiter((order[m] for m in model_b), dtype=np.int64, count=n)
    except KeyError as exc:
        raise UnknownGeneratorError(f"unknown generator {exc.args[0]!r}") from None
    try:
        outcome = np.fromiter((_CODE[w] for w in winner), dtype=np.int8, count=n)
    except KeyError as exc:
        raise StatsError(
            f"unknown winner label {exc.args[0]!r}; expected one of {WINNER_LABELS}"
        ) from None
    both_bad = np.fromiter((w == BOTH_BAD for w in winner), dtype=bool, count=n)
    if np.any(a == b):
        raise StatsError(f"a generator cannot play itself (vote {int(np.argmax(a == b))})")
    return Battles(names, a, b, outcome, both_bad)


@dataclass(frozen=True, eq=False)
class UniqueOutcomes:
    """The distinct (a, b, outcome) rows and how often each occurred (FastChat preprocess_for_bt)."""

    n_generators: int
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    count: np.ndarray  # int64

    def pair_totals(
        self, count: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Wins of a, wins of b and ties per row for `count` (default: the observed counts)."""
        c = self.count if count is None else count
        return (
            c * (self.outcome == A_WINS),
            c * (self.outcome == B_WINS),
            c * (self.outcome == TIED),
        )


def unique_outcomes(battles: Battles) -> UniqueOutcomes:
    """Rows sorted lexicographically by (a, b, outcome), exactly as np.unique(axis=0) in FastChat."""
    k = battles.n_generators
    # Counting on the mixed-radix key (a*k + b)*3 + outcome is O(votes) and yields the rows in the
    # same lexicographic order as np.unique(schedule, axis=0), which sorts (10x slower at 200k).
    key = (battles.a * k + battles.b) * 3 + battles.outcome
    count = np.bincount(key, minlength=k * k * 3) if key.size else np.zeros(0, dtype=np.int64)
    present = np.flatnonzero(count)
    pair, outcome = np.divmod(present, 3)
    a, b = np.divmod(pair, k) if k else (pair, pair)
    return UniqueOutcomes(k, a, b, outcome, count[present].astype(np.int64))
