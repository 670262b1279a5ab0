"""What the page says about its figures and empty cells: reasons, alt texts, notes, CI bars."""

from __future__ import annotations

from types import SimpleNamespace

from app.reports import format as fmt
from app.reports.figures import why_no_votes


def _human(total, used, checks=0, excluded=0):
    return SimpleNamespace(
        n_votes_total=total, n_votes_used=used, n_attention_votes=checks, n_excluded_votes=excluded
    )


def test_empty_states_say_exactly_why():
    assert why_no_votes(_human(0, 0)) == "no votes yet"
    assert why_no_votes(_human(12, 0, checks=2, excluded=10)) == (
        "none of the 12 votes can be used: 2 are attention checks and 10 come from excluded "
        "annotators"
    )
    assert why_no_votes(_human(5, 0, excluded=5)).endswith("5 come from excluded annotators")
    assert "only 3 usable votes" in why_no_votes(_human(9, 3, checks=6))


def _row(name, metrics, **human):
    return {"generator": name, "metrics": metrics, "human": human}


def test_unavailable_metrics_and_warnings_become_numbered_notes_stated_once():
    down = {"state": "unavailable", "note": "unavailable: no CLIP weights: set the path"}
    warned = {"state": "ok", "value": 30.0, "warnings": ["FID on 500 images is biased"]}
    rows = [
        _row("a", {"clip_score": down, "fid": warned}),
        _row("b", {"clip_score": down, "fid": {**warned, "warnings": []}}),
        _row("c", {"clip_score": down, "fid": warned}),
    ]
    notes, marks = fmt.table_notes(rows)
    assert notes.texts == [down["note"], "FID on 500 images is biased"]
    assert marks[("a", "clip_score")] == {"unavailable": 1, "warnings": []}
    assert marks[("c", "fid")] == {"unavailable": None, "warnings": [2]}
    assert marks[("b", "fid")]["warnings"] == []


def test_ci_bars_share_one_scale_and_open_ends_run_to_the_edge():
    rows = [
        _row("a", {}, bt=1100.0, bt_ci_low=1050.0, bt_ci_high=1150.0),
        _row("b", {}, bt=900.0, bt_ci_low=None, bt_ci_high=950.0),
        _row("c", {}, bt=None, bt_ci_low=None, bt_ci_high=None),
    ]
    bars = fmt.ci_bars(rows, "bt", "bt_ci_low", "bt_ci_high")
    assert set(bars) == {"a", "b"}
    assert 0 < bars["b"]["value"] < bars["b"]["high"] < bars["a"]["low"] < bars["a"]["value"]
    assert bars["a"]["high"] < 100
    assert bars["b"]["low"] == 0.0 and bars["b"]["open_low"]


def test_metric_notes_state_shared_parameters_once():
    cell = {"state": "ok", "value": 1.0, "n_gen": 50, "extractor": "inception", "metric": "fid"}
    rows = [_row("a", {"fid": cell}), _row("b", {"fid": {**cell, "n_gen": 70}})]
    [(label, groups)] = fmt.metric_notes(rows, {"fid": "FID"})
    assert label == "FID" and groups == [(["a", "b"], "extractor inception")]


def test_a_generator_that_met_nobody_is_left_out_of_the_average_win_rate_without_a_warning():
    """Its row of the win matrix is all empty: no mean, and no numpy "Mean of empty slice"."""
    import warnings

    from app.reports.figures import describe

    matrix = {
        "generators": ["a", "b", "c"],
        "observed": [[None, 0.75, None], [0.25, None, None], [None, None, None]],
    }
    board = SimpleNamespace(human=SimpleNamespace(win_matrix=matrix), rows=[1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = describe(board, "average-win-rate")
    assert text.endswith("best first: a 0.750; b 0.250."), text
