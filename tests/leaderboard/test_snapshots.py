"""Leaderboards stored in the database: a fresh process serves the last board without computing
it, a stale one is replaced, and a board survives the round trip number for number (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.leaderboard import cache as leaderboard_cache
from app.leaderboard import snapshots as leaderboard_snapshots
from app.leaderboard.board import LeaderboardOptions, build_leaderboard, fingerprint
from app.leaderboard.cache import LeaderboardCache
from app.leaderboard.snapshots import (
    dump_leaderboard,
    load_leaderboard,
    read_snapshot,
)
from app.media import MediaStore
from app.models import Generator, LeaderboardSnapshot, Study
from app.reports.figures import figure
from tests.support.leaderboard_seed import cast_votes, seed_leaderboard_study
from tests.web.test_leaderboard import board as board_cells
from tests.web.test_leaderboard import sign_in

OPTIONS = LeaderboardOptions(rounds=50)


@pytest.fixture
def study_id(arena) -> int:
    with arena.session_factory() as session:
        result = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir))
        session.commit()
        return result.study.id


def _plain(data):
    """As a reader gets it: JSON (tuples and lists alike)."""
    return json.loads(json.dumps(data))


def _no_recomputation(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("the leaderboard was recomputed")

    monkeypatch.setattr(leaderboard_cache, "build_leaderboard", refuse)


def test_round_trip_keeps_every_number(arena, study_id):
    with arena.session_factory() as session:
        board = build_leaderboard(session, session.get(Study, study_id), OPTIONS)
    loaded = load_leaderboard(dump_leaderboard(board))
    assert loaded.to_dict() == _plain(board.to_dict())
    assert loaded.rows == _plain(board.rows)
    # The stored board draws the same figures as the computed one.
    assert figure(loaded, "ratings") == figure(board, "ratings")


def test_a_fresh_process_serves_the_stored_board_without_computing(arena, study_id, monkeypatch):
    with arena.session_factory() as session:
        public_id = session.get(Study, study_id).public_id
    api, page = f"/api/studies/{study_id}/leaderboard", f"/studies/{public_id}/leaderboard"
    sign_in(arena.client, arena.headers["Authorization"].split(" ", 1)[1])
    arena.app.state.leaderboard_cache = LeaderboardCache(session_factory=arena.session_factory)
    computed = arena.client.get(api, headers=arena.headers).json()
    computed_page = arena.client.get(page).text
    with arena.session_factory() as session:
        assert session.scalar(select(func.count(LeaderboardSnapshot.id))) == 1

    _no_recomputation(monkeypatch)
    # A restarted process: nothing in memory.
    arena.app.state.leaderboard_cache = LeaderboardCache(session_factory=arena.session_factory)
    served = arena.client.get(api, headers=arena.headers).json()
    assert served == computed and served["updating"] is False
    served_page = arena.client.get(page)
    assert served_page.status_code == 200
    assert board_cells(served_page.text).rows == board_cells(computed_page).rows


def test_a_stale_snapshot_is_served_marked_updating_then_replaced(arena, study_id):
    with arena.session_factory() as session:
        LeaderboardCache(session_factory=arena.session_factory).get(
            session, session.get(Study, study_id), OPTIONS
        )
        study = session.get(Study, study_id)
        before = read_snapshot(session, study_id, OPTIONS)
        study.raters_per_item = 4  # room for a newly invited annotator's votes
        cast_votes(session, study, seed=11, careful=1, lazy=0)
        session.commit()

    restarted = LeaderboardCache(debounce_seconds=0, session_factory=arena.session_factory)
    with arena.session_factory() as session:
        stale = restarted.get(session, session.get(Study, study_id), OPTIONS)
    assert stale.updating is True and stale.fingerprint == before.fingerprint
    restarted.wait()
    with arena.session_factory() as session:
        study = session.get(Study, study_id)
        current = fingerprint(session, study, [g.id for g in study.generators])
        fresh = restarted.get(session, study, OPTIONS)
        stored = read_snapshot(session, study_id, OPTIONS)
    assert fresh.fingerprint == current != before.fingerprint
    assert fresh.human.n_votes_total > before.human.n_votes_total
    assert stored.fingerprint == current  # the replacement was stored, one row per key
    with arena.session_factory() as session:
        assert session.scalar(select(func.count(LeaderboardSnapshot.id))) == 1


def test_without_a_session_factory_a_stale_snapshot_is_recomputed_in_the_call(arena, study_id):
    with arena.session_factory() as session:
        study = session.get(Study, study_id)
        first = LeaderboardCache().get(session, study, OPTIONS)
        session.commit()  # the caller owns the transaction, snapshot included
        generator = session.scalar(select(Generator).order_by(Generator.id))
        generator.guidance_scale = 9.5  # shown beside every score: a new fingerprint
        session.commit()
        board = LeaderboardCache().get(session, session.get(Study, study_id), OPTIONS)
    assert board.fingerprint != first.fingerprint and board.updating is False
    row = next(r for r in board.rows if r["generator"] == generator.name)
    assert row["settings"]["guidance_scale"] == 9.5


def test_snapshots_of_another_release_or_options_are_not_read(arena, study_id, monkeypatch):
    with arena.session_factory() as session:
        LeaderboardCache(session_factory=arena.session_factory).get(
            session, session.get(Study, study_id), OPTIONS
        )
        assert read_snapshot(session, study_id, OPTIONS) is not None
        assert read_snapshot(session, study_id, LeaderboardOptions(rounds=51)) is None
        monkeypatch.setattr(leaderboard_snapshots, "__version__", "999.0")
        assert read_snapshot(session, study_id, OPTIONS) is None


def test_renaming_the_study_changes_the_fingerprint(arena, study_id):
    with arena.session_factory() as session:
        study = session.get(Study, study_id)
        ids = [g.id for g in study.generators]
        before = fingerprint(session, study, ids)
        study.name = "renamed study"
        session.flush()
        assert fingerprint(session, study, ids) != before
