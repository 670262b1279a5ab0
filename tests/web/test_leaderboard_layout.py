"""The leaderboard page's figures: alt texts that say what is plotted, a reason instead of an
empty image, a vote-count matrix, sample images with captions (researchers)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.leaderboard.cache import LeaderboardCache
from app.media import MediaStore
from tests.support.leaderboard_seed import seed_leaderboard_study
from tests.web.conftest import GENERATORS, make_study
from tests.web.test_leaderboard import sign_in


def _key(arena) -> str:
    return arena.headers["Authorization"].split(" ", 1)[1]


def test_a_study_without_votes_says_so_instead_of_showing_empty_images(pool):
    arena = pool
    study = make_study(arena, name="quiet")
    client = TestClient(arena.app)
    sign_in(client, _key(arena))
    page = client.get(f"/studies/{study['public_id']}/leaderboard").text
    ratings = page.split('id="plot-ratings"', 1)[1].split("</figure>", 1)[0]
    assert "Nothing to plot: no votes yet." in ratings and "<img" not in ratings
    assert "nothing to plot" not in page.lower().replace("nothing to plot:", "")
    # Samples: the generator's images with their prompts as captions, openable full screen.
    for name in GENERATORS:
        assert f'alt="{name}: a red cube on a table, take 0"' in page
    assert "<figcaption>a red cube on a table, take 0</figcaption>" in page
    assert 'src="/static/gallery.js"' in page and '<dialog id="lightbox"' in page


def test_plots_carry_alt_texts_that_describe_them(arena):
    arena.app.state.leaderboard_cache = LeaderboardCache(debounce_seconds=0)
    with arena.session_factory() as session:
        seeded = seed_leaderboard_study(session, MediaStore(arena.settings.media_dir))
        session.commit()
        public_id = seeded.study.public_id
    client = TestClient(arena.app)
    sign_in(client, _key(arena))
    page = client.get(f"/studies/{public_id}/leaderboard").text
    alts = dict(re.findall(r'<img src="[^"]*/plots/([a-z-]+)\.svg[^"]*" alt="([^"]+)"', page))
    assert set(alts) >= {"ratings", "win-rate", "precision-recall"}
    assert alts["ratings"].startswith("Bradley–Terry ratings with 95% confidence intervals for 5")
    assert "aurora" in alts["ratings"] and "[" in alts["ratings"]
    assert "vote count" in alts["win-rate"] and " beats " in alts["win-rate"]
    assert "precision" in alts["precision-recall"] and "recall" in alts["precision-recall"]
    for alt in alts.values():
        assert "nothing to plot" not in alt
    # The heatmap's vote counts, as a table too.
    matrix = page.split('id="vote-counts"', 1)[1].split("</table>", 1)[0]
    assert matrix.count("<tr>") == 1 + 5
    heatmap = client.get(f"/studies/{public_id}/leaderboard/plots/win-rate.svg").text
    assert "n=" in heatmap
    # Every row has its inline CI bar.
    assert page.count('class="ci-bar"') == 5
