"""The metrics job: one generator against one reference set, from cached features.

Waits (Deferred) while extraction of either side is still queued or running, fills any feature
the cache lacks, computes every metric the available networks allow, and replaces that scope's
metric_result rows in the job's transaction — so re-running it writes the same rows, never more.
A network without weights yields rows with status "unavailable" and the reason, never numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app import metrics
from app.metrics import catalog
from app.metrics.catalog import INCEPTION_METRICS
from app.metrics.errors import MetricInputError
from app.models import Generator, Image, Job, MetricResult, Prompt, ReferenceSet
from app.models.enums import PENDING_STATUSES, JobKind, PreprocessingMode
from app.models.ops import owner_scope
from app.services.catalog.reference_sets import statistics_file
from app.services.compute.features import cached_keys, load_features, store_features, text_key
from workers.context import Deferred, JobContext
from workers.extractors import ExtractorUnavailable
from workers.features import ensure_features

DEFER_SECONDS = 5
PRDC_K = 5
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
IS_SPLITS = 10
PRDC_NAMES = catalog.family("prdc")


@dataclass
class Side:
    """Features of one image set for one extractor (or, for a reference set imported from an
    .npz, its statistics and perhaps no features), or why there are none."""

    features: np.ndarray | None = None
    extractor: str | None = None
    preprocessing: str | None = None
    unavailable: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    mode: str = "clean"
    stats: metrics.GaussianStats | None = None


def _pending_extraction(session: Session, scopes: list[str]) -> int:
    return session.scalar(
        select(func.count()).where(
            Job.kind == JobKind.extract_features,
            Job.scope.in_(scopes),
            Job.status.in_(PENDING_STATUSES),
        )
    )


def _side(
    context: JobContext, session: Session, name: str, keys: list[str], mode: str = "clean"
) -> Side:
    try:
        extractor = context.extractor(name, mode)
    except ExtractorUnavailable as exc:
        return Side(unavailable=exc.reason, mode=mode)
    # Upload-time extraction is in the clean mode; other modes are filled in here.
    ensure_features(context, session, extractor, keys)
    cache_key = f"{extractor.name}:{extractor.version}"
    features = load_features(session, context.settings.features_path, cache_key, keys)
    return Side(features, cache_key, extractor.preprocessing, mode=mode)


def _statistics_side(context: JobContext, reference: ReferenceSet) -> Side:
    """An imported reference set: its .npz statistics (and features when the file holds them)."""
    path = statistics_file(context.settings.features_path, reference)
    try:
        stats, features = metrics.load_statistics(path)
    except metrics.StatisticsFileError as exc:
        return Side(unavailable=f"the imported statistics cannot be read: {exc}")
    return Side(
        features=features,
        extractor=f"imported .npz sha256 {reference.statistics_sha256[:16]}",
        preprocessing=f"imported statistics, declared {reference.preprocessing_mode} mode",
        mode=reference.preprocessing_mode,
        stats=stats,
    )


def _text_features(context: JobContext, session: Session, texts: list[str]) -> np.ndarray:
    extractor = context.extractor("clip")
    cache_key = f"{extractor.name}:{extractor.version}"
    keys = [text_key(t) for t in texts]
    present = cached_keys(session, cache_key, keys)
    todo = [(k, t) for k, t in dict(zip(keys, texts, strict=True)).items() if k not in present]
    if todo:
        vectors = extractor.embed_texts([t for _, t in todo])
        store_features(
            session,
            context.settings.features_path,
            cache_key,
            [k for k, _ in todo],
            vectors,
        )
    return load_features(session, context.settings.features_path, cache_key, keys)


def compute_metrics(context: JobContext, session: Session) -> dict[str, Any]:
    generator_id = context.job.payload["generator_id"]
    reference_set_id = context.job.payload.get("reference_set_id")
    scopes = [owner_scope(generator_id, None)]
    if reference_set_id is not None:
        scopes.append(owner_scope(None, reference_set_id))
    pending = _pending_extraction(session, scopes)
    if pending:
        raise Deferred(f"waiting for {pending} extraction job(s)", DEFER_SECONDS)
    if session.get(Generator, generator_id) is None:
        return {"skipped": "the generator no longer exists"}
    reference = session.get(ReferenceSet, reference_set_id) if reference_set_id else None
    mode = reference.preprocessing_mode if reference is not None else PreprocessingMode.clean

    gen_rows = session.execute(
        select(Image.sha256, Prompt.external_id, Prompt.text)
        .outerjoin(Prompt, Prompt.id == Image.prompt_id)
        .where(Image.generator_id == generator_id)
        .order_by(Image.id)
    ).all()
    gen_keys = [row.sha256 for row in gen_rows]
    ref_keys = (
        list(
            session.scalars(
                select(Image.sha256)
                .where(Image.reference_set_id == reference_set_id)
                .order_by(Image.id)
            )
        )
        if reference_set_id is not None
        else []
    )
    if reference is not None and reference.statistics_path:
        ref_inception = _statistics_side(context, reference)
        ref_clip = Side(
            unavailable="the reference set holds imported Inception statistics only; CMMD needs "
            "CLIP features of real images"
        )
        ref_dino = Side(
            unavailable="the reference set holds imported Inception statistics only; FD-DINOv2 "
            "needs DINOv2 features of real images"
        )
    else:
        ref_inception = (
            _side(context, session, "inception-fid", ref_keys, mode) if ref_keys else None
        )
        ref_clip = _side(context, session, "clip", ref_keys) if ref_keys else None
        ref_dino = _side(context, session, "dinov2", ref_keys) if ref_keys else None
    inputs = MetricInputs(
        gen_inception=_side(context, session, "inception-fid", gen_keys, mode),
        ref_inception=ref_inception,
        gen_clip=_side(context, session, "clip", gen_keys),
        ref_clip=ref_clip,
        prompt_ids=[row.external_id for row in gen_rows],
        prompt_texts=[row.text for row in gen_rows],
        seed=_seed(context.job.dedupe_key or str(context.job.id)),
        bootstrap=context.settings.metric_bootstrap_rounds,
        fid_infinity_rounds=context.settings.fid_infinity_rounds,
        ref_dino=ref_dino,
    )
    if ref_dino is not None:
        inputs.gen_dino = (
            ref_dino if ref_dino.unavailable else _side(context, session, "dinov2", gen_keys)
        )
    if inputs.gen_clip.unavailable is None and any(t is not None for t in inputs.prompt_texts):
        texts = [t for t in inputs.prompt_texts if t is not None]
        inputs.text_clip = _text_features(context, session, texts)
    inputs.gen_logits = _side(context, session, "inception-logits", gen_keys)
    context.check_stop()

    rows = evaluate(inputs)
    session.execute(
        delete(MetricResult).where(
            MetricResult.generator_id == generator_id,
            MetricResult.reference_set_id.is_(None)
            if reference_set_id is None
            else MetricResult.reference_set_id == reference_set_id,
        )
    )
    for row in rows:
        session.add(
            MetricResult(
                generator_id=generator_id,
                reference_set_id=reference_set_id,
                job_id=context.job.id,
                **row,
            )
        )
    session.flush()
    return {
        "metrics": {row["metric"]: row.get("value") for row in rows},
        "n_gen": len(gen_keys),
        "n_real": len(ref_keys),
    }


def _seed(text: str) -> int:
    """A seed derived from the job's identity: a re-run of the same job draws the same subsets."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


@dataclass
class MetricInputs:
    gen_inception: Side
    ref_inception: Side | None
    gen_clip: Side
    ref_clip: Side | None
    prompt_ids: list[str | None]
    prompt_texts: list[str | None]
    seed: int
    text_clip: np.ndarray | None = None
    gen_logits: Side | None = None
    # Rounds of the FID and PRDC bootstrap intervals and of FID∞'s refits (0: no interval).
    bootstrap: int = 200
    fid_infinity_rounds: int = 50
    gen_dino: Side | None = None
    ref_dino: Side | None = None


def _unavailable(names: tuple[str, ...], reason: str, side: Side | None = None) -> list[dict]:
    return [
        {
            "metric": name,
            "status": "unavailable",
            "reason": reason,
            "extractor": side.extractor if side else None,
            "preprocessing": side.preprocessing if side else None,
            "parameters": _mode_parameter(names, side),
        }
        for name in names
    ]


def _mode_parameter(names: tuple[str, ...], side: Side | None) -> dict[str, Any]:
    """Every Inception-based number is labelled with the preprocessing mode it was made in."""
    if side is None or not set(names) & INCEPTION_METRICS:
        return {}
    return {"preprocessing_mode": side.mode}


def _rows(names: tuple[str, ...], side: Side, compute) -> list[dict]:
    """Run one metric family; bad inputs (too few images…) become 'unavailable' rows with the reason."""
    try:
        values = compute()
    except MetricInputError as exc:
        return _unavailable(names, str(exc), side)
    if isinstance(values, metrics.MetricValue):
        values = {values.metric: values}
    rows = []
    for name in names:
        row = {
            **values[name].as_dict(),
            "status": "ok",
            "extractor": side.extractor,
            "preprocessing": side.preprocessing,
        }
        row["parameters"] = {**row["parameters"], **_mode_parameter(names, side)}
        rows.append(row)
    return rows


def _pair_reason(gen: Side, ref: Side) -> str | None:
    if gen.unavailable:
        return gen.unavailable
    if ref.unavailable:
        return ref.unavailable
    return None


def _prepared_reference(ref: Side) -> object:
    """The reference covariance factored once for FID and FID∞ (a 2048² factorisation is most of
    their cost); what the metrics take unprepared when it cannot be, so they give the reason."""
    real = ref.features if ref.features is not None else ref.stats
    try:
        stats = real if ref.features is None else metrics.gaussian_stats(real)
        return metrics.prepare_reference(stats)
    except MetricInputError:
        return real


def _reference_rows(inputs: MetricInputs, gen: Side, ref: Side) -> list[dict]:
    """FID (bootstrap interval), FID∞, KID and PRDC (bootstrap intervals) against a reference:
    its features, or its imported statistics (FID and FID∞ only)."""
    real = _prepared_reference(ref)
    rows = _rows(
        ("fid",),
        gen,
        lambda: metrics.fid(gen.features, real, bootstrap=inputs.bootstrap, seed=inputs.seed),
    )
    rows += _rows(
        ("fid_infinity",),
        gen,
        lambda: metrics.fid_infinity(
            gen.features, real, bootstrap=inputs.fid_infinity_rounds, seed=inputs.seed
        ),
    )
    if ref.features is None:
        return rows + _unavailable(
            ("kid", *PRDC_NAMES),
            "the reference set was imported as statistics (mu, sigma) without per-image "
            "features: KID and PRDC compare individual images, which mu and sigma cannot "
            "give; import an .npz that also holds a 'features' array (our statistics.npz "
            "export does) or upload the reference images",
            gen,
        )
    rows += _rows(
        ("kid",),
        gen,
        lambda: metrics.kid(
            gen.features,
            ref.features,
            subsets=KID_SUBSETS,
            subset_size=KID_SUBSET_SIZE,
            seed=inputs.seed,
        ),
    )
    return rows + _rows(
        PRDC_NAMES,
        gen,
        lambda: metrics.prdc(
            ref.features, gen.features, k=PRDC_K, bootstrap=inputs.bootstrap, seed=inputs.seed
        ),
    )


def evaluate(inputs: MetricInputs) -> list[dict]:
    """Every metric the inputs allow, as MetricResult keyword arguments (one dict per metric).

    Reference-based metrics (FID, KID, PRDC on Inception features; CMMD on CLIP) exist only when
    the job names a reference set; reference-free ones (CLIP score, diversity, IS) always do.
    """
    rows: list[dict] = []
    gen, ref = inputs.gen_inception, inputs.ref_inception
    if ref is not None:
        reason = _pair_reason(gen, ref)
        if reason:
            rows += _unavailable(("fid", "fid_infinity", "kid", *PRDC_NAMES), reason, gen)
        else:
            rows += _reference_rows(inputs, gen, ref)

    if inputs.ref_dino is not None and inputs.gen_dino is not None:
        dino, ref_dino = inputs.gen_dino, inputs.ref_dino
        reason = _pair_reason(dino, ref_dino)
        if reason:
            rows += _unavailable(("fd_dinov2",), reason, dino)
        else:
            rows += _rows(
                ("fd_dinov2",),
                dino,
                lambda: dataclasses.replace(
                    metrics.fid(
                        dino.features,
                        ref_dino.features,
                        bootstrap=inputs.bootstrap,
                        seed=inputs.seed,
                    ),
                    metric="fd_dinov2",
                ),
            )

    clip = inputs.gen_clip
    if inputs.ref_clip is not None:
        reason = _pair_reason(clip, inputs.ref_clip)
        if reason:
            rows += _unavailable(("cmmd",), reason, clip)
        else:
            rows += _rows(
                ("cmmd",),
                clip,
                lambda: metrics.cmmd(clip.features, inputs.ref_clip.features),
            )
    if clip.unavailable:
        rows += _unavailable(("clip_score", "diversity"), clip.unavailable, clip)
    else:
        with_text = [i for i, text in enumerate(inputs.prompt_texts) if text is not None]
        if not with_text or inputs.text_clip is None:
            rows += _unavailable(("clip_score",), "none of the images has a prompt", clip)
        else:
            rows += _rows(
                ("clip_score",),
                clip,
                lambda: metrics.clip_score(clip.features[with_text], inputs.text_clip),
            )
        rows += _rows(
            ("diversity",),
            clip,
            lambda: metrics.diversity(clip.features, inputs.prompt_ids),
        )

    logits = inputs.gen_logits
    if logits is not None:
        if logits.unavailable:
            rows += _unavailable(("inception_score",), logits.unavailable, logits)
        else:
            rows += _rows(
                ("inception_score",),
                logits,
                lambda: metrics.inception_score(logits.features, splits=IS_SPLITS),
            )
    return rows
