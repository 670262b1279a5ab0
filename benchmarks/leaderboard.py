"""Leaderboard page load with 100,000 votes and 50 generators, cold and warm.

    python benchmarks/leaderboard.py [--votes 100000] [--generators 50] [--annotators 300]
                                     [--database-url postgresql+psycopg://postgres@127.0.0.1/bench]
                                     [--warm-repeats 20]

Seeds a study straight through the ORM's bulk inserts (rows only, no image files): 50 generators
with an image per prompt, 300 annotators (a tenth of them careless, so exclusions apply), 100,000
answered pairwise assignments of which 5% are attention checks, and ten metric results per
generator. Then, through the real app (FastAPI TestClient, researcher cookie):

  cold         first view ever (nothing stored): votes loaded, 1,000-round bootstrap, correlations
  restarted    first view in a fresh process once a board was computed: read from the database
               snapshot (leaderboard_snapshots), checked against the fingerprint, not recomputed
  warm         later views inside the debounce interval (the cached leaderboard is rendered)
  warm+check   later views after the debounce interval (the fingerprint queries run each time)
  JSON         the same for GET /api/studies/{id}/leaderboard
  plots        first and later render of the three SVG figures

Default database: a temporary SQLite file. Prints one line per figure (median of the warm runs).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from sqlalchemy import insert

METRICS_LOWER = {"fid": 40.0, "kid": 0.02, "cmmd": 0.5, "diversity": 0.3}
METRICS_HIGHER = {
    "inception_score": 5.0,
    "clip_score": 30.0,
    "precision": 0.6,
    "recall": 0.5,
    "density": 0.9,
    "coverage": 0.7,
}


def seed(
    settings, n_votes: int, n_generators: int, n_annotators: int, seed: int = 0
) -> tuple[int, str, str]:
    """Bulk-load a pairwise study; returns (study id, public id, admin API key)."""
    from app.db import make_engine, make_session_factory
    from app.models import (
        Annotator,
        Assignment,
        Batch,
        Generator,
        Image,
        MetricResult,
        Prompt,
        PromptSet,
        ReferenceSet,
        Study,
        Vote,
        new_public_id,
        utcnow,
    )
    from app.services.api_keys import create_api_key

    rng = np.random.default_rng(seed)
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    prompts = 40
    with factory() as session:
        _row, key = create_api_key(session, "benchmark")
        prompt_set = PromptSet(name="bench-prompts")
        prompt_set.prompts = [
            Prompt(external_id=f"p{k}", text=f"prompt {k}") for k in range(prompts)
        ]
        generators = [
            Generator(
                name=f"gen-{g:02d}",
                guidance_scale=float(3 + g % 6),
                steps=20 + g % 30,
                sampler="euler",
            )
            for g in range(n_generators)
        ]
        reference = ReferenceSet(name="bench-real")
        session.add_all([prompt_set, reference, *generators])
        session.flush()
        image_of: dict[tuple[int, int], int] = {}
        for generator in generators:
            batch = Batch(generator_id=generator.id, n_images=prompts)
            session.add(batch)
            session.flush()
            rows = [
                {
                    "public_id": new_public_id(),
                    "generator_id": generator.id,
                    "prompt_id": prompt.id,
                    "batch_id": batch.id,
                    "sha256": f"{generator.id:08d}{prompt.id:08d}".ljust(64, "0"),
                    "width": 512,
                    "height": 512,
                    "byte_size": 1,
                    "format": "PNG",
                }
                for prompt in prompt_set.prompts
            ]
            session.execute(insert(Image), rows)
        for image_id, gen_id, prompt_id in session.query(
            Image.id, Image.generator_id, Image.prompt_id
        ):
            image_of[(gen_id, prompt_id)] = image_id
        study = Study(
            name="bench-study",
            kind="pairwise",
            question="Which image better matches the prompt?",
            status="open",
            prompt_set_id=prompt_set.id,
            generators=generators,
            # The default exclusion rule (StudyCreate's defaults).
            min_attention_accuracy=0.8,
            min_repeat_consistency=0.5,
            min_loo_agreement=0.35,
            min_median_response_s=1.0,
        )
        session.add(study)
        session.flush()
        careless = max(1, n_annotators // 10)
        session.execute(
            insert(Annotator),
            [
                {
                    "study_id": study.id,
                    "handle": f"rater-{k:06d}",
                    "token_hash": f"{k:064d}",
                    "is_simulated": True,
                }
                for k in range(n_annotators)
            ],
        )
        annotator_ids = [
            a
            for (a,) in session.query(Annotator.id)
            .filter(Annotator.study_id == study.id)
            .order_by(Annotator.id)
        ]
        strength = rng.normal(0, 1, n_generators)
        gen_ids = [g.id for g in generators]
        prompt_ids = [p.id for p in prompt_set.prompts]
        start = utcnow() - timedelta(days=3)
        chunk = 10_000
        made = 0
        while made < n_votes:
            size = min(chunk, n_votes - made)
            who = rng.integers(0, n_annotators, size)
            a = rng.integers(0, n_generators, size)
            b = (a + rng.integers(1, n_generators, size)) % n_generators
            prompt = rng.integers(0, prompts, size)
            check = rng.random(size) < 0.05
            lazy = who < careless
            p_a = 1 / (1 + np.exp(strength[b] - strength[a]))
            u = rng.random(size)
            choice = np.where(u < 0.1, "tie", np.where(u < 0.1 + 0.9 * p_a, "left", "right"))
            choice = np.where(lazy, "left", choice)
            degraded_left = rng.random(size) < 0.5
            expected = np.where(degraded_left, "right", "left")
            choice = np.where(check & ~lazy, expected, choice)
            assignments, votes = [], []
            for k in range(size):
                t = start + timedelta(seconds=2 * (made + k))
                gl, gr = gen_ids[a[k]], gen_ids[b[k]]
                pid = prompt_ids[prompt[k]]
                row = {
                    "public_id": new_public_id(),
                    "study_id": study.id,
                    "annotator_id": annotator_ids[who[k]],
                    "prompt_id": pid,
                    "issued_at": t,
                    "expires_at": t + timedelta(minutes=10),
                    "answered_at": t + timedelta(seconds=1),
                }
                if check[k]:
                    row.update(
                        check_kind="degraded",
                        expected_choice=expected[k],
                        degraded_side="left" if degraded_left[k] else "right",
                        image_left_id=image_of[(gl, pid)],
                        image_right_id=image_of[(gl, pid)],
                        generator_left_id=None if degraded_left[k] else gl,
                        generator_right_id=gl if degraded_left[k] else None,
                    )
                else:
                    row.update(
                        image_left_id=image_of[(gl, pid)],
                        image_right_id=image_of[(gr, pid)],
                        generator_left_id=gl,
                        generator_right_id=gr,
                    )
                assignments.append(row)
            result = session.execute(insert(Assignment).returning(Assignment.id), assignments)
            ids = [r[0] for r in result]
            winner = {"left": "model_a", "right": "model_b", "tie": "tie"}
            for k, assignment_id in enumerate(ids):
                votes.append(
                    {
                        "assignment_id": assignment_id,
                        "study_id": study.id,
                        "annotator_id": annotator_ids[who[k]],
                        "choice": str(choice[k]),
                        "winner": winner[str(choice[k])],
                        "server_ms": 300 if lazy[k] else int(1500 + 4000 * rng.random()),
                        "created_at": start + timedelta(seconds=2 * (made + k) + 1),
                    }
                )
            session.execute(insert(Vote), votes)
            made += size
        metric_rows = []
        for g, gen_id in enumerate(gen_ids):
            s = strength[g]
            for name, base in METRICS_LOWER.items():
                metric_rows.append(
                    {
                        "generator_id": gen_id,
                        "reference_set_id": reference.id,
                        "metric": name,
                        "status": "ok",
                        "value": base * (1 - 0.2 * s) + rng.normal(0, base * 0.05),
                        "std": base * 0.01 if name == "kid" else None,
                        "n_gen": prompts,
                        "n_real": 1000,
                        "parameters": {},
                        "warnings": [],
                    }
                )
            for name, base in METRICS_HIGHER.items():
                metric_rows.append(
                    {
                        "generator_id": gen_id,
                        "reference_set_id": reference.id,
                        "metric": name,
                        "status": "ok",
                        "value": base * (1 + 0.2 * s) + rng.normal(0, base * 0.05),
                        "n_gen": prompts,
                        "n_real": 1000,
                        "parameters": {},
                        "warnings": [],
                    }
                )
        session.execute(insert(MetricResult), metric_rows)
        session.commit()
        ids = (study.id, study.public_id)
    engine.dispose()
    return ids[0], ids[1], key


def add_vote(session_factory, study_id: int) -> None:
    """One more answered pairwise assignment, a copy of the study's first real one."""
    from sqlalchemy import select

    from app.models import Assignment, Vote, new_public_id, utcnow

    with session_factory() as session:
        original = session.scalar(
            select(Assignment)
            .where(Assignment.study_id == study_id, Assignment.check_kind.is_(None))
            .order_by(Assignment.id)
            .limit(1)
        )
        now = utcnow()
        copy = Assignment(
            public_id=new_public_id(),
            study_id=study_id,
            annotator_id=original.annotator_id,
            prompt_id=original.prompt_id,
            image_left_id=original.image_right_id,
            image_right_id=original.image_left_id,
            generator_left_id=original.generator_right_id,
            generator_right_id=original.generator_left_id,
            issued_at=now,
            expires_at=now,
            answered_at=now,
        )
        session.add(copy)
        session.flush()
        session.add(
            Vote(
                assignment_id=copy.id,
                study_id=study_id,
                annotator_id=original.annotator_id,
                choice="left",
                winner="model_a",
                server_ms=3000,
                created_at=now,
            )
        )
        session.commit()


def timed(call) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--generators", type=int, default=50)
    parser.add_argument("--annotators", type=int, default=300)
    parser.add_argument(
        "--database-url",
        default=None,
        help="an empty database (default: temporary SQLite)",
    )
    parser.add_argument("--warm-repeats", type=int, default=20)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from app.leaderboard.cache import LeaderboardCache
    from app.main import create_app
    from app.migrate import upgrade
    from app.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(
            database_url=url,
            media_dir=Path(tmp) / "media",
            secret_key="benchmark-secret-key",
            secret_key_file=Path(tmp) / "secret",
        )
        upgrade(settings)
        started = time.perf_counter()
        study_id, public_id, key = seed(settings, args.votes, args.generators, args.annotators)
        print(
            f"seeded {args.votes:,} votes, {args.generators} generators, {args.annotators} annotators "
            f"on {url.split(':')[0]} in {time.perf_counter() - started:.1f} s"
        )

        app = create_app(settings)
        # As the server runs it: default debounce; a stale board's recomputation is requested
        # and (no worker here) done by cache.wait(), as a worker would.
        cache = LeaderboardCache(session_factory=app.state.session_factory)
        app.state.leaderboard_cache = cache
        client = TestClient(app)
        bearer = {"Authorization": f"Bearer {key}"}
        page_url = f"/studies/{public_id}/leaderboard"
        # Sign in like a browser: the page then authenticates by cookie.
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        client.post(
            "/login",
            data={"api_key": key, "csrf_token": token, "next": page_url},
            follow_redirects=False,
        )

        cold = timed(lambda: client.get(page_url))
        lb = next(iter(app.state.leaderboard_cache._entries.values())).leaderboard
        warm = [timed(lambda: client.get(page_url)) for _ in range(args.warm_repeats)]
        sorted_warm = [
            timed(lambda: client.get(page_url, params={"sort": "fid"}))
            for _ in range(args.warm_repeats)
        ]
        app.state.leaderboard_cache.debounce_seconds = 0.0
        checked = [timed(lambda: client.get(page_url)) for _ in range(args.warm_repeats)]
        app.state.leaderboard_cache.debounce_seconds = 3.0
        json_warm = [
            timed(lambda: client.get(f"/api/studies/{study_id}/leaderboard", headers=bearer))
            for _ in range(args.warm_repeats)
        ]
        plots_first = sum(
            timed(lambda n=n: client.get(f"{page_url}/plots/{n}.svg"))
            for n in ("ratings", "win-rate", "precision-recall")
        )
        plots_again = sum(
            timed(lambda n=n: client.get(f"{page_url}/plots/{n}.svg"))
            for n in ("ratings", "win-rate", "precision-recall")
        )
        # A vote arrives: the next view after the debounce interval is served the previous
        # leaderboard at once while the new one is computed elsewhere (here: cache.wait()).
        add_vote(app.state.session_factory, study_id)
        cache.debounce_seconds = 0.0
        after_vote = timed(lambda: client.get(page_url))
        started = time.perf_counter()
        cache.wait()
        background = time.perf_counter() - started + after_vote
        refreshed = timed(lambda: client.get(page_url))
        cache.debounce_seconds = 3.0
        # A restarted process: nothing in memory, the last board in the database.
        app.state.leaderboard_cache = LeaderboardCache(session_factory=app.state.session_factory)
        restarted = timed(lambda: client.get(page_url))
        app.state.leaderboard_cache = LeaderboardCache(session_factory=app.state.session_factory)
        json_restarted = timed(
            lambda: client.get(f"/api/studies/{study_id}/leaderboard", headers=bearer)
        )

        med = statistics.median
        print(
            f"votes used for ratings {lb.human.n_votes_used:,}, attention checks {lb.human.n_attention_votes:,}, "
            f"excluded annotators {len(lb.human.agreement['excluded'])}; "
            f"leaderboard computed in {lb.compute_seconds:.2f} s (1,000 bootstrap rounds, 10 correlations)"
        )
        print(f"page cold                      {cold * 1000:8.1f} ms")
        print(f"page warm (median of {args.warm_repeats})         {med(warm) * 1000:8.1f} ms")
        print(f"page warm sorted by FID        {med(sorted_warm) * 1000:8.1f} ms")
        print(f"page warm + fingerprint check  {med(checked) * 1000:8.1f} ms")
        print(
            f"page right after a new vote    {after_vote * 1000:8.1f} ms (previous board, recomputing)"
        )
        print(
            f"  background recomputation     {background * 1000:8.1f} ms; next view {refreshed * 1000:.1f} ms"
        )
        print(
            f"page, restarted process        {restarted * 1000:8.1f} ms (stored board, fingerprint checked)"
        )
        print(f"JSON, restarted process        {json_restarted * 1000:8.1f} ms")
        print(f"JSON warm                      {med(json_warm) * 1000:8.1f} ms")
        print(f"3 plots first render           {plots_first * 1000:8.1f} ms")
        print(f"3 plots cached                 {plots_again * 1000:8.1f} ms")
        app.state.engine.dispose()


if __name__ == "__main__":
    main()
