"""The CLI tests run the commands on the same inputs as the numeric tests they front."""

from tests.metrics.conftest import rng
from tests.stats.conftest import battles_small, fixtures, ratings_ref

__all__ = ["battles_small", "fixtures", "ratings_ref", "rng"]
