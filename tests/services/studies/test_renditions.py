"""Renditions live in the media store like every stored file: the garbage collector keeps the
ones a study references and removes them once nothing does."""

from __future__ import annotations

from sqlalchemy import select

from app.media import MediaStore, collect_garbage
from app.models import Rendition, Study
from app.services.catalog.images import referenced_shas
from tests.web.conftest import make_study, upload_pool


def _collect(arena, store):
    with arena.session_factory() as session:

        def referenced(shas):
            used = referenced_shas(session, shas)
            session.rollback()
            return used

        return collect_garbage(store, referenced, grace_seconds=0)


def test_the_garbage_collector_keeps_referenced_renditions_and_drops_orphans(arena):
    upload_pool(arena)
    study = make_study(arena, name="gc", attention_check_rate=0.5)
    store = MediaStore(arena.settings.media_dir)
    with arena.session_factory() as session:
        shas = set(session.scalars(select(Rendition.sha256)))
    paths = [store.rendition_path(sha) for sha in shas]
    assert len(paths) == 24 and all(p.exists() for p in paths)
    _collect(arena, store)
    assert all(p.exists() for p in paths)
    # Once the study is gone (a draft, no votes), its renditions are garbage.
    with arena.session_factory() as session:
        row = session.get(Study, study["id"])
        row.status = "draft"
        session.commit()
    assert (
        arena.client.delete(f"/api/studies/{study['id']}", headers=arena.headers).status_code == 204
    )
    report = _collect(arena, store)
    assert not any(p.exists() for p in paths)
    assert {p for p in report.removed} >= set(paths)
