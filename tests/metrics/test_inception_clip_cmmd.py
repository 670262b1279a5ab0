"""Inception Score vs torch-fidelity, CLIP score vs torchmetrics' CLIPScore arithmetic, CMMD vs a
float64 evaluation of google-research/cmmd's formula."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from app import metrics
from app.metrics import DimensionMismatchError, MetricInputError


@pytest.mark.parametrize(
    ("n", "classes", "splits", "shuffle", "seed"),
    [(1003, 1008, 10, False, None), (250, 20, 4, True, 7)],
)
def test_inception_score_matches_torch_fidelity(rng, n, classes, splits, shuffle, seed):
    import torch
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = rng.standard_normal((n, classes)) * 3
    peer = isc_features_to_metric(
        torch.from_numpy(logits), splits=splits, shuffle=shuffle, rng_seed=seed or 0
    )
    ours = metrics.inception_score(logits, splits=splits, shuffle=shuffle, seed=seed)
    assert ours.value == pytest.approx(peer["inception_score_mean"], rel=1e-12)
    assert ours.std == pytest.approx(peer["inception_score_std"], rel=1e-9)
    assert ours.n_gen == n and ours.parameters["splits"] == splits
    assert ours.warnings and "5,000" in ours.warnings[0]


def test_inception_score_from_probabilities_equals_from_logits(rng):
    import torch

    logits = rng.standard_normal((200, 30)) * 2
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    probs[:, 0] = 0.0  # a class nobody predicts: 0·log 0 counts as 0, not NaN
    probs /= probs.sum(axis=1, keepdims=True)
    from_probs = metrics.inception_score(probs=probs, splits=5)
    from_logs = metrics.inception_score(np.log(np.where(probs > 0, probs, 1e-300)), splits=5)
    assert np.isfinite(from_probs.value)
    assert from_probs.value == pytest.approx(from_logs.value, rel=1e-9)


def test_inception_score_bad_inputs(rng):
    logits = rng.standard_normal((5, 3))
    with pytest.raises(MetricInputError, match="exactly one"):
        metrics.inception_score()
    with pytest.raises(MetricInputError, match="cannot fill 10 splits"):
        metrics.inception_score(logits)
    with pytest.raises(MetricInputError, match="do not sum to 1"):
        metrics.inception_score(probs=np.full((4, 3), 0.5), splits=2)
    with pytest.raises(MetricInputError, match="non-negative"):
        metrics.inception_score(probs=np.array([[1.5, -0.5]] * 4), splits=2)


def _torchmetrics_clip_score(image: np.ndarray, text: np.ndarray) -> float:
    """CLIPScore's update/compute arithmetic, fed our embeddings through a stand-in model."""
    import torch
    from torchmetrics.functional.multimodal.clip_score import _clip_score_update

    model = SimpleNamespace(
        config=SimpleNamespace(),
        get_image_features=lambda pixels: torch.from_numpy(image)[pixels.flatten().long()],
        get_text_features=lambda ids, mask: torch.from_numpy(text)[ids[:, 0]],
    )
    model.to = lambda device: model

    def processor(images=None, text=None, **_):
        import torch

        if images is not None:
            return {"pixel_values": torch.stack(images)}
        ids = torch.tensor([[int(t)] for t in text])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    pictures = [torch.full((1, 1, 1), float(i)) for i in range(image.shape[0])]
    captions = [str(i) for i in range(text.shape[0])]
    score, n = _clip_score_update(pictures, captions, model, processor)
    # CLIPScore.compute: max(sum / n, 0)
    return float(torch.max(score.sum(0) / n, torch.zeros(())))


@pytest.mark.parametrize("positive", [True, False])
def test_clip_score_clamp_of_mean_equals_torchmetrics(rng, positive):
    image = rng.standard_normal((64, 24))
    text = (
        image * 0.5 + rng.standard_normal((64, 24))
        if positive
        else -image + rng.standard_normal((64, 24))
    )
    ours = metrics.clip_score(image, text, reduction="clamp_of_mean")
    assert ours.value == pytest.approx(_torchmetrics_clip_score(image, text), rel=1e-12, abs=1e-12)
    assert (ours.value > 0) == positive


def test_clip_score_mean_of_clamped_clamps_each_pair(rng):
    image, text = rng.standard_normal((40, 8)), rng.standard_normal((40, 8))
    cos = np.sum(image * text, 1) / np.linalg.norm(image, axis=1) / np.linalg.norm(text, axis=1)
    per_pair = 100 * np.maximum(cos, 0)
    ours = metrics.clip_score(image, text)
    assert ours.value == pytest.approx(per_pair.mean(), rel=1e-12)
    assert ours.std == pytest.approx(per_pair.std(ddof=1), rel=1e-12)
    assert ours.ci_low < ours.value < ours.ci_high
    assert ours.parameters["reduction"] == "mean_of_clamped" and ours.n_gen == 40
    # With some negative cosines, the two reductions really differ.
    assert ours.value > metrics.clip_score(image, text, reduction="clamp_of_mean").value


def test_clip_score_bad_inputs(rng):
    with pytest.raises(MetricInputError, match="3 image embeddings but 4 text"):
        metrics.clip_score(rng.standard_normal((3, 4)), rng.standard_normal((4, 4)))
    with pytest.raises(DimensionMismatchError):
        metrics.clip_score(rng.standard_normal((3, 4)), rng.standard_normal((3, 5)))
    with pytest.raises(MetricInputError, match="all zeros"):
        metrics.clip_score(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(MetricInputError, match="reduction"):
        metrics.clip_score(np.ones((2, 3)), np.ones((2, 3)), reduction="median")


def _google_research_cmmd(x: np.ndarray, y: np.ndarray, sigma=10.0, scale=1000.0) -> float:
    """google-research/cmmd distance.mmd, written in float64 numpy (the original is jax float32)."""
    x_sqnorms = np.diag(x @ x.T)
    y_sqnorms = np.diag(y @ y.T)
    gamma = 1 / (2 * sigma**2)
    k_xx = np.mean(np.exp(-gamma * (-2 * x @ x.T + x_sqnorms[:, None] + x_sqnorms[None, :])))
    k_xy = np.mean(np.exp(-gamma * (-2 * x @ y.T + x_sqnorms[:, None] + y_sqnorms[None, :])))
    k_yy = np.mean(np.exp(-gamma * (-2 * y @ y.T + y_sqnorms[:, None] + y_sqnorms[None, :])))
    return scale * (k_xx + k_yy - 2 * k_xy)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_cmmd_matches_the_google_research_formula(rng, monkeypatch):
    real, gen = rng.standard_normal((300, 32)), rng.standard_normal((260, 32)) + 0.3
    expected = _google_research_cmmd(_unit(real), _unit(gen))
    assert metrics.cmmd(gen, real).value == pytest.approx(expected, rel=1e-12)
    # Row blocks do not change the value.
    monkeypatch.setattr(sys.modules["app.metrics.cmmd"], "_BLOCK_ROWS", 7)
    assert metrics.cmmd(gen, real).value == pytest.approx(expected, rel=1e-12)
    raw = metrics.cmmd(gen, real, normalize=False, sigma=5.0, scale=10.0)
    assert raw.value == pytest.approx(_google_research_cmmd(real, gen, 5.0, 10.0), rel=1e-12)
    assert raw.parameters["sigma"] == 5.0 and raw.parameters["l2_normalised"] is False


def test_cmmd_float32_reference_is_only_good_to_a_few_digits(rng):
    real, gen = (
        _unit(rng.standard_normal((400, 64))),
        _unit(rng.standard_normal((400, 64)) + 0.05),
    )
    exact = metrics.cmmd(gen, real).value
    approx = _google_research_cmmd(real.astype(np.float32), gen.astype(np.float32))
    assert approx == pytest.approx(exact, rel=1e-2)
    assert exact == pytest.approx(_google_research_cmmd(real, gen), rel=1e-12)


def test_cmmd_bad_inputs(rng):
    with pytest.raises(MetricInputError, match="sigma"):
        metrics.cmmd(np.ones((2, 2)), np.ones((2, 2)), sigma=0)
    with pytest.raises(DimensionMismatchError):
        metrics.cmmd(rng.standard_normal((3, 2)), rng.standard_normal((3, 4)))
