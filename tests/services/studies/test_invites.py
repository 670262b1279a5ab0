"""Invites called directly: only the token hash is stored, links resolve, bad counts refused."""

from __future__ import annotations

import pytest

from app.errors import Forbidden, InvalidInput
from app.models import Annotator
from app.services.studies.invites import (
    MAX_INVITES_PER_CALL,
    annotator_for_token,
    create_invites,
    create_simulated_annotator,
    hash_token,
    list_annotators,
)
from app.services.studies.study import close_study
from tests.support.humaneval import seed_study


def test_each_link_resolves_to_its_own_annotator_and_only_the_hash_is_stored(session):
    study = seed_study(session)
    created = create_invites(session, study, 3, "https://arena.example/")
    tokens = [url.rsplit("/", 1)[1] for _a, url in created]
    assert all(url.startswith("https://arena.example/invite/") for _a, url in created)
    assert len(set(tokens)) == 3
    for (annotator, _url), token in zip(created, tokens):
        assert annotator_for_token(session, token).id == annotator.id
        assert annotator.token_hash == hash_token(token) != token
    stored = " ".join(a.token_hash + a.handle for a in session.query(Annotator))
    assert not any(token in stored for token in tokens)
    assert [a.id for a in list_annotators(session, study)] == [a.id for a, _ in created]


def test_handles_are_opaque(session):
    study = seed_study(session)
    handles = [a.handle for a, _ in create_invites(session, study, 5, "http://t")]
    assert len(set(handles)) == 5 and all(h.startswith("rater-") for h in handles)


def test_unknown_token_is_forbidden(session):
    seed_study(session)
    with pytest.raises(Forbidden):
        annotator_for_token(session, "not-a-real-token")


@pytest.mark.parametrize("count", [0, -1, MAX_INVITES_PER_CALL + 1])
def test_bad_counts_are_refused(session, count):
    study = seed_study(session)
    with pytest.raises(InvalidInput):
        create_invites(session, study, count, "http://t")


def test_closed_study_gets_no_invites_and_simulated_raters_are_marked(session):
    study = seed_study(session)
    assert create_simulated_annotator(session, study).is_simulated
    close_study(session, study)
    with pytest.raises(InvalidInput):
        create_invites(session, study, 1, "http://t")
