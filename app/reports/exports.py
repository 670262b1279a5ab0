"""Exports of a study: votes (Chatbot Arena battle layout), the leaderboard, metric results, and
a reference set's statistics (.npz). One function per export, shared by the API, the web page
and `arena export`, so a downloaded file holds exactly what the page shows."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InvalidInput, NotFound
from app.models import FeatureFile, Image, ReferenceSet, Study
from app.services.leaderboard import Leaderboard, flat_row
from app.services.leaderboard_metrics import metric_results_table
from app.services.votes import export_votes

WHAT = ("votes", "leaderboard", "metrics")
FORMATS = {
    "votes": ("csv", "jsonl"),
    "leaderboard": ("csv", "json"),
    "metrics": ("csv", "json"),
}
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}
# pytorch-fid and clean-fid read Inception statistics from this extractor's pool3 features.
INCEPTION_EXTRACTOR = "inception-fid"


@dataclass(frozen=True)
class Export:
    content: str | bytes
    media_type: str
    filename: str


def check_request(what: str, fmt: str) -> None:
    """InvalidInput (422) naming the allowed values when `what` or `fmt` is unknown."""
    if what not in WHAT:
        raise InvalidInput(f"what must be one of {', '.join(WHAT)}; got {what!r}")
    if fmt not in FORMATS[what]:
        raise InvalidInput(
            f"a {what} export comes as {' or '.join(FORMATS[what])}; got format {fmt!r}"
        )


def _clean(value: Any) -> Any:
    """JSON has no NaN: missing or non-finite numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(payload: Any) -> str:
    return (
        json.dumps(_clean(payload), indent=2, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


def _csv(records: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for record in records:
        columns += [c for c in record if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: _cell(v) for k, v in record.items()})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    # repr keeps every digit of a float, so a CSV cell parses back to the JSON number exactly.
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None:
        return ""
    return value


def leaderboard_records(lb: Leaderboard) -> list[dict[str, Any]]:
    flags = lb.study["flag_options"] if lb.study["kind"] == "flag" else []
    return [flat_row(row, flags) for row in lb.rows]


def export_leaderboard(lb: Leaderboard, fmt: str) -> str:
    if fmt == "json":
        return to_json(lb.to_dict())
    return _csv(leaderboard_records(lb))


def export_metrics(session: Session, study: Study, fmt: str) -> str:
    records = metric_results_table(session, [g.id for g in study.generators])
    if fmt == "json":
        return to_json({"study": study.name, "metric_results": records})
    return _csv(records)


def export_study(
    session: Session,
    study: Study,
    what: str,
    fmt: str,
    leaderboard: Leaderboard | None = None,
) -> Export:
    """One export of a study; `leaderboard` is the (cached) leaderboard for what=leaderboard."""
    check_request(what, fmt)
    stem = f"{study.name}-{what}".replace("/", "_").replace(" ", "_")
    if what == "votes":
        content = export_votes(session, study, fmt)
    elif what == "metrics":
        content = export_metrics(session, study, fmt)
    else:
        if leaderboard is None:
            raise ValueError("a leaderboard export needs the leaderboard")
        content = export_leaderboard(leaderboard, fmt)
    return Export(content, MEDIA_TYPES[fmt], f"{stem}.{fmt}")


# ----------------------------------------------------------------------------- reference stats


def _inception_extractor(session: Session, reference_set_id: int) -> str | None:
    """The newest Inception cache key ("inception-fid:VERSION") holding the set's features."""
    keys = session.scalars(
        select(FeatureFile.extractor)
        .where(FeatureFile.extractor.like(f"{INCEPTION_EXTRACTOR}:%"))
        .order_by(FeatureFile.id.desc())
    ).all()
    return keys[0] if keys else None


def reference_statistics(
    session: Session, features_root: Path, reference_set: ReferenceSet
) -> Export:
    """mu, sigma (and the features, for KID/PRDC) of a reference set's Inception pool3 features,
    in the .npz layout pytorch-fid and clean-fid load (keys mu and sigma)."""
    from app.services.features import MissingFeatures, load_features

    shas = list(
        session.scalars(
            select(Image.sha256)
            .where(Image.reference_set_id == reference_set.id)
            .order_by(Image.id)
        )
    )
    if not shas:
        raise NotFound(
            f"reference set {reference_set.name!r} has no images; upload some with "
            f"POST /api/reference-sets/{reference_set.id}/batches"
        )
    extractor = _inception_extractor(session, reference_set.id)
    try:
        if extractor is None:
            raise MissingFeatures("no Inception features have been extracted yet")
        features = load_features(session, features_root, extractor, shas)
    except MissingFeatures as exc:
        raise NotFound(
            f"reference set {reference_set.name!r} has no complete Inception features yet "
            f"({exc}); run a worker (`arena worker`) and try again"
        ) from None
    mu, sigma = _statistics(features)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        mu=mu,
        sigma=sigma,
        features=features.astype(np.float32),
        extractor=np.array(extractor),
        n=np.array(features.shape[0]),
    )
    stem = reference_set.name.replace("/", "_").replace(" ", "_")
    return Export(
        buffer.getvalue(),
        "application/octet-stream",
        f"{stem}-inception-statistics.npz",
    )


def _statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance exactly as pytorch-fid's calculate_activation_statistics computes them
    (np.mean over rows, np.cov with rowvar=False, i.e. ddof=1)."""
    if features.shape[0] < 2:
        raise InvalidInput(
            "statistics need at least two reference images with features"
        )
    return features.mean(axis=0), np.cov(features, rowvar=False)
