"""Upload → extraction jobs → metrics job → metric_result rows, with the real FID Inception weights.

The images are crops of real photographs (scikit-image); CLIP runs on the tiny random model only
where a test says so, and is otherwise reported unavailable, as it is without configured weights.
"""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from app import metrics
from app.models import Image, Job, MetricResult
from app.services.compute.features import load_features
from tests.workers.conftest import TINY_CLIP, real_photo_crops
from workers.runner import run_until_idle

pytest.importorskip("torch", reason="torch is not installed (worker extra)")
pytestmark = pytest.mark.torch

N_REAL, N_GEN, N_PROMPTS = 24, 16, 4
PROMPTS = {
    "name": "gallery",
    "prompts": [
        {"external_id": f"p{i}", "text": f"a photograph, view {i}"} for i in range(N_PROMPTS)
    ],
}


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").resize((96, 96)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(arena, target: str, images, manifest=None) -> None:
    parts = [("files", (f"{i}.png", png(im), "image/png")) for i, im in enumerate(images)]
    if manifest is not None:
        parts.append(("manifest", ("manifest.json", json.dumps(manifest), "application/json")))
    response = arena.client.post(target, files=parts, headers=arena.headers)
    assert response.status_code == 201, response.text


@pytest.fixture
def pipeline(arena, skimage_real_photos):
    """A reference set of real crops and one generator whose images are other real crops."""
    photos = list(skimage_real_photos.values())
    arena.client.post("/api/prompt-sets", json=PROMPTS, headers=arena.headers)
    arena.client.post("/api/generators", json={"name": "artist"}, headers=arena.headers)
    arena.client.post("/api/reference-sets", json={"name": "photos"}, headers=arena.headers)
    upload(
        arena,
        "/api/reference-sets/photos/batches",
        real_photo_crops(photos, N_REAL, seed=1),
    )
    manifest = {f"{i}.png": f"p{i % N_PROMPTS}" for i in range(N_GEN)}
    upload(
        arena,
        "/api/generators/artist/batches",
        real_photo_crops(photos, N_GEN, seed=2),
        manifest,
    )
    return arena


def results(arena) -> dict[str, MetricResult]:
    with arena.session_factory() as session:
        rows = session.scalars(
            select(MetricResult).where(MetricResult.reference_set_id.is_not(None))
        )
        return {row.metric: row for row in rows}


def test_upload_then_worker_leaves_fid_kid_prdc_with_real_weights(pipeline):
    assert run_until_idle(pipeline.settings) >= 3
    with pipeline.session_factory() as session:
        assert session.scalar(select(func.count()).where(Job.status != "done")) == 0
    rows = results(pipeline)

    for name in ("fid", "kid", "precision", "recall", "density", "coverage"):
        row = rows[name]
        assert row.status == "ok" and row.value is not None, (name, row.reason)
        assert (row.n_gen, row.n_real) == (N_GEN, N_REAL)
        assert row.extractor.startswith("inception-fid:") and "299" in row.preprocessing
    assert rows["fid"].value > 0
    assert any("10,000" in w or "10000" in w for w in rows["fid"].warnings)
    # Capped at half the smaller set, so the subsets differ and the std means something.
    assert rows["kid"].std > 0 and rows["kid"].parameters["subset_size"] == N_GEN // 2
    assert rows["kid"].warnings, "a subset size capped at N must say so"
    assert rows["precision"].parameters["k"] == 5
    for name in ("clip_score", "cmmd", "diversity", "inception_score"):
        assert rows[name].status == "unavailable" and rows[name].value is None
        assert "weights" in rows[name].reason

    # The stored numbers are the metrics core applied to the cached features of these images.
    with pipeline.session_factory() as session:
        gen = list(
            session.scalars(
                select(Image.sha256).where(Image.generator_id.is_not(None)).order_by(Image.id)
            )
        )
        ref = list(
            session.scalars(
                select(Image.sha256).where(Image.reference_set_id.is_not(None)).order_by(Image.id)
            )
        )
        cache_key = rows["fid"].extractor
        features_path = pipeline.settings.features_path
        gen_f = load_features(session, features_path, cache_key, gen)
        ref_f = load_features(session, features_path, cache_key, ref)
    assert gen_f.shape == (N_GEN, 2048) and (gen_f >= 0).all()
    assert rows["fid"].value == pytest.approx(metrics.fid(gen_f, ref_f).value, rel=1e-9)
    assert rows["coverage"].value == metrics.prdc(ref_f, gen_f, k=5)["coverage"].value


def test_new_upload_replaces_the_results_without_duplicates(pipeline, skimage_real_photos):
    run_until_idle(pipeline.settings)
    before = results(pipeline)
    more = real_photo_crops(list(skimage_real_photos.values()), 4, seed=3)
    manifest = {f"{i}.png": "p0" for i in range(4)}
    upload(pipeline, "/api/generators/artist/batches", more, manifest)
    run_until_idle(pipeline.settings)
    after = results(pipeline)
    assert after["fid"].n_gen == N_GEN + 4 and after["fid"].value != before["fid"].value
    with pipeline.session_factory() as session:
        per_metric = session.execute(
            select(MetricResult.metric, func.count()).group_by(MetricResult.metric)
        ).all()
    assert {count for _, count in per_metric} == {1}


def test_clip_metrics_with_the_tiny_random_clip(pipeline, tiny_clip_checkpoint):
    settings = pipeline.settings.model_copy(
        update={"clip_model": TINY_CLIP, "clip_pretrained": tiny_clip_checkpoint}
    )
    run_until_idle(settings)
    rows = results(pipeline)
    for name in ("clip_score", "cmmd", "diversity"):
        assert rows[name].status == "ok", (name, rows[name].reason)
        assert rows[name].extractor.startswith("clip:")
    assert 0 <= rows["clip_score"].value <= 100 and rows["clip_score"].n_gen == N_GEN
    assert rows["cmmd"].n_real == N_REAL
    assert rows["diversity"].parameters["n_groups"] == N_PROMPTS
    assert -1 <= rows["diversity"].value <= 1
    assert rows["inception_score"].status == "unavailable"  # no classifier weights configured


def test_too_few_images_for_prdc_is_unavailable_not_an_error(arena, skimage_real_photos):
    photos = list(skimage_real_photos.values())
    arena.client.post("/api/generators", json={"name": "tiny"}, headers=arena.headers)
    arena.client.post("/api/reference-sets", json={"name": "photos"}, headers=arena.headers)
    upload(arena, "/api/reference-sets/photos/batches", real_photo_crops(photos, 8, seed=1))
    upload(arena, "/api/generators/tiny/batches", real_photo_crops(photos, 3, seed=2))
    run_until_idle(arena.settings)
    rows = results(arena)
    assert rows["fid"].status == "ok"
    assert rows["precision"].status == "unavailable" and "at least 6" in rows["precision"].reason
    with arena.session_factory() as session:
        assert {j.status for j in session.scalars(select(Job))} == {"done"}
