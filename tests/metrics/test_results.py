"""MetricValue serialises to plain JSON."""

from __future__ import annotations

import json

import numpy as np

from app.metrics import MetricValue


def test_as_dict_is_json_safe():
    value = MetricValue(
        "kid",
        np.float32(0.5),
        std=np.float64(0.1),
        n_gen=np.int64(10),
        parameters={
            "subsets": np.int64(3),
            "pair": (1, 2),
            "seed": np.uint32(7),
            "flag": np.bool_(True),
        },
        warnings=["w"],
    )
    data = value.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {
        "metric",
        "value",
        "std",
        "ci_low",
        "ci_high",
        "n_gen",
        "n_real",
        "parameters",
        "warnings",
    }
    assert (
        type(data["value"]) is float
        and type(data["n_gen"]) is int
        and data["parameters"]["pair"] == [1, 2]
    )
