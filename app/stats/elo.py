"""Online Elo over votes in time order (Elo 1978; Chatbot Arena's compute_elo, FastChat)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.stats.battles import Battles

# Chatbot Arena defaults (FastChat fastchat/serve/monitor/rating_systems.py).
ELO_K = 4.0
ELO_SCALE = 400.0
ELO_BASE = 10.0
ELO_INITIAL = 1000.0


@dataclass(frozen=True)
class EloResult:
    """Final online Elo ratings after replaying the votes once, in order."""

    generators: tuple[str, ...]
    ratings: tuple[float, ...]
    n_votes: int
    k: float
    scale: float
    base: float
    initial: float

    def rating(self, name: str) -> float:
        return self.ratings[self.generators.index(name)]

    def to_dict(self) -> dict:
        return {
            "ratings": dict(zip(self.generators, self.ratings)),
            "n_votes": self.n_votes,
            "params": {
                "k": self.k,
                "scale": self.scale,
                "base": self.base,
                "initial": self.initial,
            },
        }


def online_elo(
    battles: Battles,
    *,
    k: float = ELO_K,
    scale: float = ELO_SCALE,
    base: float = ELO_BASE,
    initial: float = ELO_INITIAL,
) -> EloResult:
    """Sequential Elo updates R_a += K (S_a - E_a), ties scoring 0.5 (FastChat compute_elo)."""
    alpha = math.log(base) / scale
    ratings = [float(initial)] * battles.n_generators
    # A Python loop over plain floats: each update depends on the previous one, and list indexing
    # is several times faster than numpy scalar access for this.
    scores = battles.score_a().tolist()
    for a, b, s in zip(battles.a.tolist(), battles.b.tolist(), scores):
        expected = 1.0 / (1.0 + math.exp(alpha * (ratings[b] - ratings[a])))
        update = k * (s - expected)
        ratings[a] += update
        ratings[b] -= update
    return EloResult(battles.generators, tuple(ratings), len(battles), k, scale, base, initial)


def elo_win_probability(
    r_a: np.ndarray | float,
    r_b: np.ndarray | float,
    *,
    scale: float = ELO_SCALE,
    base: float = ELO_BASE,
):
    """P(a beats b) = 1 / (1 + base**((R_b - R_a) / scale)) (the Elo / Bradley-Terry link)."""
    return 1.0 / (1.0 + np.power(base, (np.asarray(r_b) - np.asarray(r_a)) / scale))
