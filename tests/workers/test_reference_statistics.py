"""A reference set imported from an .npz of Inception statistics (pytorch-fid / clean-fid layout).

The .npz is the statistics export of an image reference set; FID against the imported set must
equal FID against the images it came from. Real FID Inception weights, real photographs.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from sqlalchemy import select

from app.models import MetricResult, ReferenceSet
from tests.workers.test_metrics_pipeline import pipeline, upload  # noqa: F401 - fixture
from workers.runner import run_until_idle

pytest.importorskip("torch", reason="torch is not installed (worker extra)")
pytestmark = pytest.mark.torch


def _rows(arena, reference: str) -> dict[str, MetricResult]:
    with arena.session_factory() as session:
        ref_id = session.scalar(select(ReferenceSet.id).where(ReferenceSet.name == reference))
        return {
            row.metric: row
            for row in session.scalars(
                select(MetricResult).where(MetricResult.reference_set_id == ref_id)
            )
        }


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _import(arena, name: str, data: bytes, mode: str = "clean"):
    return arena.client.post(
        "/api/reference-sets/statistics",
        files={"statistics": ("stats.npz", data, "application/octet-stream")},
        data={"name": name, "preprocessing_mode": mode},
        headers=arena.headers,
    )


@pytest.mark.slow
def test_npz_reference_gives_the_fid_of_the_images_it_was_exported_from(pipeline):  # noqa: F811
    run_until_idle(pipeline.settings)
    exported = pipeline.client.get(
        "/api/reference-sets/photos/statistics.npz", headers=pipeline.headers
    )
    assert exported.status_code == 200, exported.text
    with np.load(io.BytesIO(exported.content)) as archive:
        assert str(archive["preprocessing_mode"]) == "clean"
        mu, sigma = archive["mu"], archive["sigma"]
    # A paper's file: mu and sigma only, as pytorch-fid and clean-fid write them.
    response = _import(pipeline, "paper", _npz(mu=mu, sigma=sigma))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["source"] == "statistics" and body["statistics_dimension"] == 2048
    assert body["preprocessing_mode"] == "clean" and body["statistics_has_features"] is False
    run_until_idle(pipeline.settings)

    images, imported = _rows(pipeline, "photos"), _rows(pipeline, "paper")
    assert imported["fid"].status == "ok", imported["fid"].reason
    assert imported["fid"].value == pytest.approx(images["fid"].value, rel=1e-9)
    assert imported["fid"].parameters["preprocessing_mode"] == "clean"
    assert imported["fid"].ci_low is not None and imported["fid_infinity"].status == "ok"
    for name in ("kid", "precision", "recall", "density", "coverage"):
        assert imported[name].status == "unavailable"
        assert "compare individual images" in imported[name].reason
        assert "'features' array" in imported[name].reason
    assert imported["cmmd"].status == "unavailable" and "CLIP" in imported["cmmd"].reason
    # Images cannot be added to a set of statistics.
    refused = pipeline.client.post(
        "/api/reference-sets/paper/batches",
        files=[("files", ("a.png", b"not read", "image/png"))],
        headers=pipeline.headers,
    )
    assert refused.status_code == 409 and "statistics" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("data", "mode", "message"),
    [
        (b"", "clean", "empty"),
        (b"PK\x03\x04 not a zip", "clean", "not a readable .npz"),
        (_npz(mu=np.zeros(3)), "clean", "missing array(s) sigma"),
        (_npz(mu=np.zeros(3), sigma=np.eye(4)), "clean", "sigma has shape (4, 4)"),
        (
            _npz(mu=np.zeros(2), sigma=np.eye(2), preprocessing_mode=np.asarray("clean")),
            "legacy_pytorch",
            "records preprocessing_mode 'clean'",
        ),
        (_npz(mu=np.zeros(2), sigma=np.eye(2)), "tensorflow", "legacy_tensorflow"),
    ],
)
def test_bad_statistics_files_are_refused_and_leave_nothing(arena, data, mode, message):
    response = _import(arena, "bad", data, mode)
    assert response.status_code == 422, response.text
    assert message in str(response.json()["detail"])
    with arena.session_factory() as session:
        assert session.scalar(select(ReferenceSet.id)) is None
    folder = arena.settings.features_path / "reference-statistics"
    assert not folder.exists() or not any(folder.iterdir())
