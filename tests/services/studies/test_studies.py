"""Study use cases called directly: creation rules, items per kind, open/close, deletion."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.errors import Conflict, InvalidInput, NotFound
from app.models import Vote
from app.services.studies.study import (
    StudyCreate,
    StudyUpdate,
    close_study,
    create_study,
    delete_study,
    get_study,
    open_study,
    study_items,
    update_study,
)
from tests.support.humaneval import seed_pool, seed_study


def _create(session, kind="pairwise", generators=None, **fields):
    gens, _ = seed_pool(session, generators=3, prompts=4, prefix=fields.pop("prefix", "pool"))
    names = generators if generators is not None else [g.name for g in gens]
    return create_study(
        session, StudyCreate(name=f"{kind}-s", kind=kind, generators=names, **fields)
    )


def test_pairwise_items_are_every_generator_pair_per_prompt(session):
    study = _create(session)
    items = study_items(session, study)
    # 3 generators give 3 pairs, for each of 4 prompts; each pair is ordered by generator id.
    assert len(items) == 12
    assert all(i.gen_a < i.gen_b and i.prompt_id is not None for i in items.values())


@pytest.mark.parametrize("kind", ["rating", "flag"])
def test_rating_and_flag_items_are_single_images(session, kind):
    study = _create(session, kind=kind)
    items = study_items(session, study)
    assert len(items) == 12 and all(i.image_b is None for i in items.values())
    assert study.question  # the kind's default question is filled in


def test_pairwise_needs_two_generators_and_known_names(session):
    with pytest.raises(InvalidInput):
        _create(session, generators=["pool-0"])
    with pytest.raises((InvalidInput, NotFound)):
        _create(session, generators=["pool-0", "no-such-generator"], prefix="other")


def test_schema_refuses_out_of_range_settings():
    with pytest.raises(ValidationError):
        StudyCreate(name="x", kind="pairwise", generators=["a", "b"], raters_per_item=0)
    with pytest.raises(ValidationError):
        StudyCreate(name="x", kind="pairwise", generators=["a", "b"], flag_options=["a", "a"])
    with pytest.raises(ValidationError):
        StudyUpdate(attention_check_rate=1.5)


def test_open_close_update_and_lookup(session):
    study = _create(session)
    assert study.status == "draft"
    update_study(session, study, StudyUpdate(question="Which is sharper?"))
    open_study(session, study)
    assert get_study(session, study.name).status == "open"
    assert get_study(session, study.id).question == "Which is sharper?"
    # Once open, changing what is asked would mix answers to different questions.
    with pytest.raises(Conflict):
        update_study(session, study, StudyUpdate(question="Which is prettier?"))
    update_study(session, study, StudyUpdate(is_public=True))
    assert study.is_public
    close_study(session, study)
    assert study.status == "closed"


def test_a_study_with_votes_cannot_be_deleted(session):
    study = seed_study(session, generators=2, prompts=1, raters_per_item=1)
    from app.services.studies.assignment import next_assignment
    from app.services.studies.invites import create_invites
    from app.services.studies.votes import submit_vote

    ((annotator, _url),) = create_invites(session, study, 1, "http://test")
    assignment = next_assignment(session, annotator)
    submit_vote(session, annotator, assignment.public_id, choice="left")
    assert session.query(Vote).count() == 1
    with pytest.raises(Conflict):
        delete_study(session, study)
    empty = _create(session, prefix="empty")
    delete_study(session, empty)
    with pytest.raises(NotFound):
        get_study(session, empty.name)
