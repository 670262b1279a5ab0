"""Position (left/right) bias of pairwise votes with a Wilson score interval (Wilson 1927)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.stats.battles import A_WINS, B_WINS, Battles
from app.stats.exceptions import StatsError


@dataclass(frozen=True)
class PositionBias:
    """Share of decisive votes that went to the left side; flagged when the CI excludes 0.5."""

    left_wins: int
    decisive: int
    left_share: float | None  # None without decisive votes
    ci_low: float | None
    ci_high: float | None
    level: float
    flagged: bool

    def to_dict(self) -> dict:
        return {
            "left_wins": self.left_wins,
            "decisive": self.decisive,
            "left_share": self.left_share,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "level": self.level,
            "flagged": self.flagged,
        }


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927, JASA 22:209)."""
    if trials <= 0:
        raise StatsError("Wilson interval needs at least one trial")
    if not 0 <= successes <= trials:
        raise StatsError("successes must be between 0 and trials")
    # scipy.stats takes a second to import: loaded on first use, not with the package.
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2.0))
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    # At 0 or n successes the bound is exactly 0 or 1; rounding would leave 1 - 2e-16 above a
    # rate of 1 (an interval that excludes its own estimate, and a negative error bar).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def position_bias(battles: Battles, *, level: float = 0.95) -> PositionBias:
    """Left share of decisive votes (ties and both-bad excluded) with a Wilson CI."""
    left = int(np.count_nonzero(battles.outcome == A_WINS))
    decisive = left + int(np.count_nonzero(battles.outcome == B_WINS))
    if decisive == 0:
        return PositionBias(0, 0, None, None, None, level, False)
    low, high = wilson_interval(left, decisive, level)
    return PositionBias(
        left, decisive, left / decisive, low, high, level, bool(low > 0.5 or high < 0.5)
    )
