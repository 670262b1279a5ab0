"""Plots render to self-contained, deterministic SVG with the generator names as text."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from app.reports import plots


def test_ratings_plot_is_deterministic_svg_with_names():
    args = (["alpha", "beta"], [1010.0, 990.0], [1000.0, 980.0], [1020.0, 1001.0])
    first, second = plots.ratings_with_ci(*args), plots.ratings_with_ci(*args)
    assert first == second
    assert first.lstrip().startswith("<?xml") and "<svg" in first
    assert "alpha" in first and "beta" in first
    # Nothing is fetched from the web: no external hrefs, no scripts (namespaces are not fetches).
    assert not re.search(r'(href|src)="https?://', first) and "<script" not in first


def test_other_plots_render():
    names = ["a", "b", "c"]
    matrix = np.array([[np.nan, 0.7, 0.6], [0.3, np.nan, 0.55], [0.4, 0.45, np.nan]])
    assert "0.70" in plots.win_rate_heatmap(names, matrix)
    assert "recall" in plots.precision_recall_scatter(names, [0.9, 0.5, 0.7], [0.1, 0.6, 0.5])
    assert "score" in plots.mos_distribution(names, [[1, 2, 5], [3, 3], [5, 5, 4]])
    grid = plots.sample_grid(
        [Image.new("RGB", (10, 10), (i * 20, 0, 0)) for i in range(7)], columns=3
    )
    assert "<image" in grid
