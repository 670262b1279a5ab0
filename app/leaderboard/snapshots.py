"""Computed leaderboards kept in the database (the leaderboard_snapshots table).

A web process keeps leaderboards in memory (LeaderboardCache); after a restart, or in a second
process behind the same database, it would otherwise recompute the board on the first view
(seconds of bootstrap at 100,000 votes). It reads the stored one instead, checked against the
same fingerprint as the in-memory entry. A snapshot is keyed by the reader options and the
software version, so numbers computed by an older release are never served as current.
"""

from __future__ import annotations

import dataclasses
import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import __version__
from app.leaderboard.board import Leaderboard, LeaderboardOptions, build_leaderboard, fingerprint
from app.leaderboard.human import HumanSummary
from app.models import LeaderboardSnapshot, Study
from app.observability import LEADERBOARD_RECOMPUTATIONS

# Bumped whenever the stored layout of a Leaderboard changes.
SNAPSHOT_FORMAT = 4  # 2: FID∞ cells, reference-set mode, quality-diversity families; 3: depth;
# 4: aspects
_RUNTIME_FIELDS = ("updating", "_memo", "_lock")


def options_key(options: LeaderboardOptions) -> str:
    return json.dumps(
        {"format": SNAPSHOT_FORMAT, "version": __version__, **dataclasses.asdict(options)},
        sort_keys=True,
    )


def dump_leaderboard(leaderboard: Leaderboard) -> str:
    data = {
        f.name: getattr(leaderboard, f.name)
        for f in dataclasses.fields(Leaderboard)
        if f.name not in _RUNTIME_FIELDS
    }
    data["human"] = dataclasses.asdict(leaderboard.human)
    return json.dumps(data)


def load_leaderboard(payload: str) -> Leaderboard:
    data = json.loads(payload)
    data["human"] = HumanSummary(**data["human"])
    return Leaderboard(**data)


def read_snapshot(
    session: Session, study_id: int, options: LeaderboardOptions
) -> Leaderboard | None:
    """The stored leaderboard for these options, whatever its fingerprint (the caller checks)."""
    payload = session.scalar(
        select(LeaderboardSnapshot.payload).where(
            LeaderboardSnapshot.study_id == study_id,
            LeaderboardSnapshot.options_key == options_key(options),
        )
    )
    return None if payload is None else load_leaderboard(payload)


def write_snapshot(
    session: Session, study_id: int, options: LeaderboardOptions, leaderboard: Leaderboard
) -> None:
    """Insert or replace the snapshot; flushes, the caller commits.

    Inside a savepoint: when another process stored the same key first, its row (computed from
    the same fingerprint or a newer one) is kept and this session's transaction goes on.
    """
    key = options_key(options)
    payload = dump_leaderboard(leaderboard)
    try:
        with session.begin_nested():
            row = session.scalar(
                select(LeaderboardSnapshot).where(
                    LeaderboardSnapshot.study_id == study_id,
                    LeaderboardSnapshot.options_key == key,
                )
            )
            if row is None:
                session.add(
                    LeaderboardSnapshot(
                        study_id=study_id,
                        options_key=key,
                        fingerprint=leaderboard.fingerprint,
                        payload=payload,
                    )
                )
            else:
                row.fingerprint = leaderboard.fingerprint
                row.payload = payload
    except IntegrityError:
        # Another process stored this key first: keep its row (see the docstring).
        return


def stored_fingerprint(session: Session, study_id: int, options: LeaderboardOptions) -> str | None:
    """The fingerprint of the stored snapshot (one indexed column, no payload), or None."""
    return session.scalar(
        select(LeaderboardSnapshot.fingerprint).where(
            LeaderboardSnapshot.study_id == study_id,
            LeaderboardSnapshot.options_key == options_key(options),
        )
    )


def options_payload(options: LeaderboardOptions) -> dict:
    """Reader options as a job payload (JSON)."""
    return dataclasses.asdict(options)


def options_from_payload(payload: dict) -> LeaderboardOptions:
    return LeaderboardOptions(**payload)


def recompute_snapshot(
    session: Session, study_id: int, options: LeaderboardOptions
) -> Leaderboard | None:
    """Compute the study's board and store it as the snapshot, unless the stored one is current:
    the work of the recompute_leaderboard queue job (and of a process that runs it itself).
    Flushes; the caller commits. None when the study no longer exists."""
    study = session.get(Study, study_id)
    if study is None:
        return None
    current = fingerprint(session, study, [g.id for g in study.generators])
    if stored_fingerprint(session, study_id, options) == current:
        stored = read_snapshot(session, study_id, options)
        if stored is not None:
            return stored
    LEADERBOARD_RECOMPUTATIONS.inc()
    board = build_leaderboard(session, study, options)
    write_snapshot(session, study_id, options, board)
    return board
