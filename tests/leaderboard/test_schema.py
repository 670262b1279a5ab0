"""The JSON leaderboard is described by app.leaderboard.schema: the route's OpenAPI entry names
the model, and a real board validates against it with every field declared."""

from __future__ import annotations

from app.leaderboard.schema import LeaderboardOut
from app.media import MediaStore
from tests.support.leaderboard_seed import seed_leaderboard_study


def _undeclared(model, path: str = "$") -> list[str]:
    """Fields present in the JSON that the schema does not declare, with their paths."""
    found = [f"{path}.{name}" for name in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]  # fmt: skip
        for item in items:
            if isinstance(item, LeaderboardOut.__mro__[1]):
                found += _undeclared(item, f"{path}.{name}")
    return found


def test_the_json_leaderboard_validates_with_every_field_declared(arena):
    with arena.session_factory() as session:
        study = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir)).study
        session.commit()
        study_id = study.id
    response = arena.client.get(
        f"/api/studies/{study_id}/leaderboard?exclusions=off", headers=arena.headers
    )
    assert response.status_code == 200
    board = LeaderboardOut.model_validate(response.json())
    assert _undeclared(board) == []
    assert board.rows and all(
        set(row.metrics) == {m.metric for m in board.metrics} for row in board.rows
    )
    assert board.options.apply_exclusions is False


def test_the_route_documents_its_response_model(arena):
    schema = arena.client.get("/openapi.json").json()
    ok = schema["paths"]["/api/studies/{ref}/leaderboard"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/LeaderboardOut")
    assert "MetricCellOut" in schema["components"]["schemas"]
