"""Battle encoding and the file readers (the CLI tests cover the error messages end to end)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from app.stats import (
    InputFormatError,
    StatsError,
    battles_from_records,
    unique_outcomes,
)
from app.stats.io import read_battles, read_mos, read_ratings


def test_unique_outcomes_match_numpy_unique_rows(battles_small):
    u = unique_outcomes(battles_small)
    rows, counts = np.unique(
        np.column_stack([battles_small.a, battles_small.b, battles_small.outcome]),
        axis=0,
        return_counts=True,
    )
    np.testing.assert_array_equal(np.column_stack([u.a, u.b, u.outcome]), rows)
    np.testing.assert_array_equal(u.count, counts)


def test_generator_order_is_first_appearance_in_model_a_then_model_b(ratings_ref):
    battles = battles_from_records(["y", "x"], ["z", "y"], ["model_a", "tie"])
    assert battles.generators == ("y", "x", "z")
    with pytest.raises(StatsError):
        battles_from_records(["y"], ["z"], ["left"])


def test_readers_accept_streams():
    battles = read_battles(io.StringIO("model_a,model_b,winner\nx,y,tie (bothbad)\n\n", newline=""))
    assert (
        len(battles) == 1
        and battles.both_bad.tolist() == [True]
        and battles.outcome.tolist() == [1]
    )
    table = read_ratings(io.StringIO("item_id,rater1,rater2\n1,4,5\n2,3,\n", newline=""))
    assert table.numeric and table.labels == ((4.0, 5.0), (3.0, None))
    mos = read_mos(io.StringIO("item_id,model,rater1,rater2\n1,m,4,\n", newline=""))
    assert mos.scores == (4.0,) and mos.matrix == ((4.0, None),)


def test_error_carries_the_line_number():
    with pytest.raises(InputFormatError) as info:
        read_battles(io.StringIO("model_a,model_b,winner\nx,y,model_a\nx,x,tie\n", newline=""))
    assert info.value.line == 3 and "plays itself" in str(info.value)
