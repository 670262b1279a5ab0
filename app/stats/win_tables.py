"""Pairwise win tables (Chatbot Arena notebook: pairwise win fraction, predicted win rate)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.stats.battles import A_WINS, B_WINS, TIED, Battles
from app.stats.elo import ELO_BASE, ELO_SCALE, elo_win_probability


@dataclass(frozen=True, eq=False)
class WinTables:
    """Row-vs-column tables over generators; NaN where a pair never met (None in to_dict)."""

    generators: tuple[str, ...]
    votes: np.ndarray  # votes[i, j]: all votes between i and j, either side, ties included
    wins: np.ndarray  # wins[i, j]: votes i won against j
    ties: np.ndarray  # ties[i, j] (symmetric), both kinds of tie
    observed_win_rate: np.ndarray  # wins / decisive votes (FastChat pairwise_win_fraction, no ties)
    predicted_win_rate: np.ndarray | None  # 1 / (1 + base**((R_j - R_i)/scale)) from BT ratings

    @property
    def average_win_rate(self) -> np.ndarray:
        """Mean over opponents of the observed win rate (FastChat's average win rate, no ties)."""
        rates = self.observed_win_rate
        met = ~np.isnan(rates)
        total = np.where(met, rates, 0.0).sum(axis=1)
        count = met.sum(axis=1)
        return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)

    @property
    def decisive_win_rate(self) -> np.ndarray:
        """Per generator: share of all its decisive votes that it won."""
        won = self.wins.sum(axis=1)
        decisive = won + self.wins.sum(axis=0)
        return np.divide(won, decisive, out=np.full(won.shape, np.nan), where=decisive > 0)

    def to_dict(self) -> dict:
        def table(m):
            if m is None:
                return None
            return {
                g: {
                    h: (None if np.isnan(v) else float(v))
                    for h, v in zip(self.generators, row)
                    if h != g
                }
                for g, row in zip(self.generators, m)
            }

        return {
            "votes": {
                g: {h: int(v) for h, v in zip(self.generators, row) if h != g}
                for g, row in zip(self.generators, self.votes)
            },
            "observed_win_rate": table(self.observed_win_rate),
            "predicted_win_rate": table(self.predicted_win_rate),
            "average_win_rate": {
                g: (None if np.isnan(v) else float(v))
                for g, v in zip(self.generators, self.average_win_rate)
            },
        }


def predicted_win_rate(ratings, *, scale: float = ELO_SCALE, base: float = ELO_BASE) -> np.ndarray:
    """Matrix of P(row beats column) implied by ratings on the Elo scale; NaN on the diagonal."""
    r = np.asarray(ratings, dtype=np.float64)
    p = elo_win_probability(r[:, None], r[None, :], scale=scale, base=base)
    np.fill_diagonal(p, np.nan)
    return p


def win_tables(
    battles: Battles, ratings=None, *, scale: float = ELO_SCALE, base: float = ELO_BASE
) -> WinTables:
    """Vote counts, observed and (given BT ratings in battles.generators order) predicted win rates."""
    k = battles.n_generators
    a, b, o = battles.a, battles.b, battles.outcome
    wins = np.zeros((k, k))
    np.add.at(wins, (a[o == A_WINS], b[o == A_WINS]), 1.0)
    np.add.at(wins, (b[o == B_WINS], a[o == B_WINS]), 1.0)
    ties = np.zeros((k, k))
    np.add.at(ties, (a[o == TIED], b[o == TIED]), 1.0)
    ties = ties + ties.T
    decisive = wins + wins.T
    votes = decisive + ties
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = np.where(decisive > 0, wins / decisive, np.nan)
    predicted = None if ratings is None else predicted_win_rate(ratings, scale=scale, base=base)
    return WinTables(
        battles.generators,
        votes.astype(np.int64),
        wins.astype(np.int64),
        ties.astype(np.int64),
        observed,
        predicted,
    )
