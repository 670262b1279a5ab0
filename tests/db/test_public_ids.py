"""Public ids are opaque and usable as CLI arguments."""

from __future__ import annotations

import secrets

from app.models import new_public_id


def test_public_ids_never_start_with_a_dash_even_when_the_draw_does(monkeypatch):
    draws = iter(["-leading-dash-id-xx", "plain-id-after-redraw"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: next(draws))
    assert new_public_id() == "plain-id-after-redraw"


def test_public_ids_are_distinct_and_128_bit():
    ids = {new_public_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
