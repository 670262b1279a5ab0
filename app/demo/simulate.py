"""Simulated annotators for the demo, answering through the same services as real ones.

They are stored with is_simulated=True, so the leaderboard and exports mark their votes. Each
rater perceives an image's quality as its artist's true quality plus personal noise; a degraded
attention-check image looks terrible to everyone but the careless rater, who answers at random
(and shows what the agreement panel's exclusions are for).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy.orm import Session

from app.models import Assignment, Generator, Study
from app.models.enums import StudyKind
from app.services.studies.assignment import next_assignment
from app.services.studies.invites import create_simulated_annotator
from app.services.studies.votes import submit_vote

# Latent quality on the Bradley-Terry logit scale: what a careful human would prefer.
TRUE_QUALITY = {
    "artist-a": 0.6,
    "artist-b": -1.2,
    "artist-c": 0.9,
    # Guidance helps people's preference up to a point, then over-saturation costs a little.
    "artist-d-cfg1": -0.4,
    "artist-d-cfg3": 0.5,
    "artist-d-cfg7": 0.3,
}
DEGRADED_QUALITY = -4.0
REAL_QUALITY = 1.5  # a real photograph (the clean side of an attention check)
LEFT_BIAS = 0.15  # a small, realistic pull towards the left image
TIE_BAND = 0.35  # perceived differences smaller than this are called a tie


@dataclass(frozen=True)
class Rater:
    noise: float
    careless: bool = False


def default_raters(count: int) -> list[Rater]:
    """`count` raters of varied consistency; the last one is careless when there are 4 or more."""
    raters = [Rater(noise=0.5 + 0.15 * (i % 4)) for i in range(count)]
    if count >= 4:
        raters[-1] = Rater(noise=0.0, careless=True)
    return raters


def _quality(session: Session, generator_id: int | None, degraded: bool) -> float:
    if degraded:
        return DEGRADED_QUALITY
    if generator_id is None:
        return REAL_QUALITY
    return TRUE_QUALITY.get(session.get(Generator, generator_id).name, 0.0)


def _answer(session: Session, study: Study, task: Assignment, rater: Rater, rng) -> dict:
    if study.kind == StudyKind.pairwise:
        if rater.careless:
            return {"choice": str(rng.choice(["left", "right", "tie", "both_bad"]))}
        left = _quality(session, task.generator_left_id, task.degraded_side == "left")
        right = _quality(session, task.generator_right_id, task.degraded_side == "right")
        seen = left - right + LEFT_BIAS + rng.normal(0, rater.noise) + rng.logistic()
        if abs(seen) < TIE_BAND:
            return {"choice": "both_bad" if max(left, right) < -2 else "tie"}
        return {"choice": "left" if seen > 0 else "right"}
    degraded = task.degraded_side is not None
    quality = _quality(session, task.generator_id, degraded)
    if study.kind == StudyKind.rating:
        if rater.careless:
            return {"rating": int(rng.integers(1, 6))}
        score = 3 + 1.2 * quality + rng.normal(0, rater.noise)
        return {"rating": int(np.clip(round(score), 1, 5))}
    # flag study: poor images get artifacts flagged, most good ones nothing.
    if rater.careless:
        return {"flags": [] if rng.random() < 0.5 else [str(rng.choice(study.flag_options))]}
    flagged = quality + rng.normal(0, rater.noise) < -0.5
    return {"flags": ["artifacts"] if flagged and "artifacts" in study.flag_options else []}


def simulate_study(
    session: Session,
    study: Study,
    raters: list[Rater],
    *,
    seed: int = 7,
    max_votes: int = 10_000,
) -> int:
    """Let each simulated rater answer until nothing is left for them; returns votes cast."""
    rng = np.random.default_rng(seed)
    votes = 0
    for rater in raters:
        annotator = create_simulated_annotator(session, study)
        session.commit()
        while votes < max_votes:
            task = next_assignment(session, annotator, rng=rng)
            if task is None:
                break
            answer = _answer(session, study, task, rater, rng)
            # The server times a vote from when its task went on screen (the later of the
            # assignment's issue and the annotator's previous answer); a simulated rater answers
            # at once, so its think time is simulated by moving both back. The careless one
            # clicks through in well under a second, as the exclusion rule expects of such people.
            think_ms = int(rng.uniform(200, 700) if rater.careless else rng.uniform(1500, 6000))
            task.issued_at = task.issued_at - timedelta(milliseconds=think_ms)
            annotator.last_answer_at = task.issued_at
            session.flush()
            submit_vote(
                session,
                annotator,
                task.public_id,
                client_ms=think_ms,
                **answer,
            )
            session.commit()
            votes += 1
    return votes
