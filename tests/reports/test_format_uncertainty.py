"""Digits that match the uncertainty, intervals, "no spread" and the preprocessing-mode label."""

from __future__ import annotations

from app.reports import format as fmt


def _cell(metric, value, **extra):
    return {"metric": metric, "state": "ok", "value": value, **extra}


def test_decimals_follow_the_first_significant_digit_of_the_uncertainty():
    assert fmt.places_for(0.07, "precision") == 2
    assert fmt.places_for(4.0, "fid") == 0
    assert fmt.places_for(0.0024, "kid") == 3
    assert fmt.places_for(None, "precision") == fmt.DIGITS["precision"]


def test_metric_text_carries_interval_spread_and_mode():
    precision = _cell(
        "precision",
        0.84,
        ci_low=0.769,
        ci_high=0.909,
        parameters={"preprocessing_mode": "legacy_pytorch"},
    )
    assert fmt.metric_value(precision) == "0.84 [0.77, 0.91] (legacy pytorch)"
    fid = _cell("fid", 63.14, ci_low=38.2, ci_high=55.9, parameters={"preprocessing_mode": "clean"})
    assert fmt.metric_value(fid) == "63 [38, 56] (clean)"
    kid = _cell("kid", -0.00071, std=0.0024, parameters={"preprocessing_mode": "clean"})
    assert fmt.metric_value(kid) == "-0.001 ± 0.002 (clean)"
    no_spread = _cell("kid", 0.01, std=None, parameters={"spread": "one subset only"})
    assert fmt.metric_value(no_spread) == "0.0100 (no spread)"
    assert "95% CI of the large-N FID [38.20, 55.90]" in fmt.metric_details(fid)
