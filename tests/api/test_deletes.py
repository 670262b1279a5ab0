"""DELETE for unused generators, reference sets and prompt sets; 409 with the reason when used."""

from __future__ import annotations

import pytest

from app.models import MetricResult, ReferenceSet
from tests.support.humaneval import seed_study


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/generators", {"name": "spare"}),
        ("/api/reference-sets", {"name": "spare"}),
        ("/api/prompt-sets", {"name": "spare", "prompts": [{"external_id": "p", "text": "a"}]}),
    ],
)
def test_unused_things_are_deleted(arena, path, body):
    assert arena.client.post(path, json=body, headers=arena.headers).status_code == 201
    deleted = arena.client.delete(f"{path}/spare", headers=arena.headers)
    assert deleted.status_code == 204
    assert arena.client.get(f"{path}/spare", headers=arena.headers).status_code == 404
    assert arena.client.delete(f"{path}/spare", headers=arena.headers).status_code == 404


def test_used_things_are_kept_with_the_reason(arena):
    with arena.session_factory() as session:
        study = seed_study(session, name="s1", generators=2, prompts=2)
        reference = ReferenceSet(name="real")
        session.add(reference)
        session.flush()
        generator_id = study.generators[0].id
        session.add(
            MetricResult(
                generator_id=generator_id, reference_set_id=reference.id, metric="fid", value=1.0
            )
        )
        session.commit()
    cases = {
        f"/api/generators/{generator_id}": ("studies 's1'", "2 image(s)", "1 metric result"),
        "/api/prompt-sets/s1-prompts": ("'s1'", "image(s) answer its prompts"),
        "/api/reference-sets/real": ("1 metric result",),
    }
    for url, phrases in cases.items():
        refused = arena.client.delete(url, headers=arena.headers)
        assert refused.status_code == 409, url
        detail = refused.json()["detail"]
        assert "in use" in detail and all(p in detail for p in phrases), detail
        assert arena.client.get(url, headers=arena.headers).status_code == 200
