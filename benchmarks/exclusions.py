"""False exclusions of the annotator-exclusion rule, measured by a seeded simulation.

A pairwise study of 4 generators with a known quality order (Bradley-Terry strengths 0, 0.4,
0.8, 1.2 on the natural-log scale) is answered by 14 honest raters and 1 careless one, through
the same services as people (assignment, attention checks, votes), on an in-memory SQLite
database; the leaderboard's rule (app.leaderboard.human.annotator_figures with the
study's thresholds) then says who is excluded. Repeated over seeds, it prints how often the
careless rater is caught and how often an honest rater is wrongly excluded.

Honest raters ("realistic noise"): each has a skill in [0.6, 1.3] that scales the strength
difference (P(better) = logistic(skill * diff)), says "tie" 8% and "both bad" 3% of the time,
answers a degraded-copy check correctly 96% of the time (2% tie or both bad, 2% the degraded
side), and takes 1.5-9 s per answer; 4 of the 14 pick "left" regardless on 20% of answers
(side bias). The careless rater answers uniformly at random in 0.4-1 s.

Two runs of the same design: `--db-studies` studies through the services (slow: ~30 s each
here), and `--studies` studies whose votes are drawn directly into the leaderboard's vote log
(the same raters, the same mix of real items, degraded-copy checks and repeats, the same rule;
milliseconds each), which gives the false-exclusion rate with a tight interval.

    python benchmarks/exclusions.py --studies 1000 --db-studies 2   # about 3 minutes

tests/services/studies/test_study_validity.py runs one seeded study of the same design on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy.orm import Session

STRENGTHS = (0.0, 0.4, 0.8, 1.2)
HONEST, SIDE_BIASED = 14, 4
CHOICES = ("left", "right", "tie", "both_bad")


@dataclass(frozen=True)
class Rater:
    skill: float
    left_bias: float = 0.0  # share of answers that are "left" whatever is shown
    careless: bool = False


def raters(rng: np.random.Generator) -> list[Rater]:
    honest = [
        Rater(float(rng.uniform(0.6, 1.3)), left_bias=0.2 if k < SIDE_BIASED else 0.0)
        for k in range(HONEST)
    ]
    return [*honest, Rater(0.0, careless=True)]


def answer(task, rater: Rater, strength: dict[int, float], rng: np.random.Generator) -> str:
    """A rater's choice on a pairwise task (real item, repeat or degraded-copy check)."""
    if rater.careless:
        return CHOICES[int(rng.integers(4))]
    if rater.left_bias and rng.random() < rater.left_bias:
        return "left"
    if task.check_kind == "degraded":
        u = rng.random()
        clean = "right" if task.degraded_side == "left" else "left"
        if u < 0.96:
            return clean
        if u < 0.98:
            return "tie" if u < 0.97 else "both_bad"
        return task.degraded_side
    u = rng.random()
    if u < 0.08:
        return "tie"
    if u < 0.11:
        return "both_bad"
    diff = strength[task.generator_left_id] - strength[task.generator_right_id]
    return "left" if rng.random() < 1 / (1 + np.exp(-rater.skill * diff)) else "right"


def seed_study(session: Session, *, prompts: int = 16, images_per_prompt: int = 1, **fields):
    """Generators of known strength with image rows per prompt, a reference set, an open study."""
    from app.models import Batch, Generator, Image, Prompt, PromptSet, ReferenceSet
    from app.services.studies.schemas import StudyCreate
    from app.services.studies.study import create_study, open_study

    prompt_set = PromptSet(name="sim-prompts")
    prompt_set.prompts = [
        Prompt(external_id=f"p{k}", text=f"prompt {k}", category="c" + str(k % 3))
        for k in range(prompts)
    ]
    reference = ReferenceSet(name="sim-real")
    gens = [Generator(name=f"g{k}") for k in range(len(STRENGTHS))]
    session.add_all([prompt_set, reference, *gens])
    session.flush()

    def image(batch: Batch, key: str, **owner) -> Image:
        return Image(
            batch_id=batch.id,
            sha256=hashlib.sha256(key.encode()).hexdigest(),
            width=8,
            height=8,
            byte_size=1,
            format="PNG",
            **owner,
        )

    real = Batch(reference_set_id=reference.id, n_images=8)
    session.add(real)
    session.flush()
    session.add_all([image(real, f"real{k}", reference_set_id=reference.id) for k in range(8)])
    for gen in gens:
        batch = Batch(generator_id=gen.id, n_images=prompts * images_per_prompt)
        session.add(batch)
        session.flush()
        for prompt in prompt_set.prompts:
            for copy in range(images_per_prompt):
                session.add(
                    image(
                        batch,
                        f"{gen.name}:{prompt.external_id}:{copy}",
                        generator_id=gen.id,
                        prompt_id=prompt.id,
                    )
                )
    session.flush()
    body = {
        "name": "simulated",
        "kind": "pairwise",
        "generators": [g.name for g in gens],
        "prompt_set": prompt_set.name,
        "raters_per_item": 3,
        "attention_check_rate": 0.3,
        "reference_set": reference.name,
        **fields,
    }
    study = create_study(session, StudyCreate(**body))
    open_study(session, study)
    return study, {g.id: s for g, s in zip(gens, STRENGTHS)}


def run_study(session: Session, seed: int, **fields) -> dict:
    """One simulated study; returns who was excluded and why."""
    from app.models import utcnow
    from app.services.studies.assignment import next_assignment
    from app.services.studies.exclusions import exclusion_statuses
    from app.services.studies.invites import create_simulated_annotator
    from app.services.studies.votes import submit_vote

    rng = np.random.default_rng(seed)
    study, strength = seed_study(session, **fields)
    people = [(create_simulated_annotator(session, study), r) for r in raters(rng)]
    now = utcnow() - timedelta(hours=6)
    active = list(people)
    while active:
        # A random order each round: nobody is systematically first to the remaining items.
        for index in rng.permutation(len(active)):
            annotator, rater = active[index]
            task = next_assignment(session, annotator, now=now, rng=rng)
            if task is None:
                active[index] = None
                continue
            seconds = rng.uniform(0.4, 1.0) if rater.careless else rng.uniform(1.5, 9.0)
            submit_vote(
                session,
                annotator,
                task.public_id,
                choice=answer(task, rater, strength, rng),
                now=now + timedelta(seconds=seconds),
            )
            now += timedelta(seconds=seconds + 0.5)
        active = [entry for entry in active if entry is not None]
    session.flush()
    figures, status = exclusion_statuses(session, study)
    careless = people[-1][0].handle
    honest = [a.handle for a, r in people if not r.careless]
    return {
        "careless_excluded": status[careless].excluded,
        "honest_excluded": [h for h in honest if status[h].excluded],
        "reasons": {h: list(s.reasons) for h, s in status.items() if s.excluded},
        "figures": figures,
        "study": study,
    }


def simulate_log(rng: np.random.Generator, *, prompts: int = 16, check_rate: float = 0.3):
    """The votes of one simulated study, drawn straight into a VoteLog (no database): every item
    (prompt x generator pair) gets 3 distinct raters; after each answer a rater gets a check
    with probability `check_rate`, a degraded copy of a real image or a repeat of one of their
    answered items (sides swapped), as next_assignment hands them out."""
    from types import SimpleNamespace

    from app.leaderboard.human import VoteLog
    from app.services.studies.assignment import REPEAT_SHARE

    people = raters(rng)
    handles = [f"r{k}" for k in range(len(people))]
    n_gen = len(STRENGTHS)
    strength = dict(enumerate(STRENGTHS))
    log = VoteLog(kind="pairwise")
    answered: dict[int, list[int]] = {k: [] for k in range(len(people))}
    repeated: set[int] = set()
    image_ids: dict[tuple[int, int], int] = {}
    pairs = [(a, b) for a in range(n_gen) for b in range(a + 1, n_gen)]
    tasks = [(p, pair) for p in range(prompts) for pair in pairs]
    queue = []
    for task in tasks:
        for who in rng.choice(len(people), size=3, replace=False):
            queue.append((int(who), task))
    rng.shuffle(queue)

    def add(who: int, **columns) -> int:
        rater = people[who]
        seconds = rng.uniform(0.4, 1.0) if rater.careless else rng.uniform(1.5, 9.0)
        log.vote_id.append(len(log))
        log.assignment.append(len(log))
        log.annotator.append(handles[who])
        log.server_ms.append(int(seconds * 1000))
        for name in ("check_kind", "expected", "repeat_of", "left", "right", "left_image"):
            getattr(log, name).append(columns.get(name))
        for name in ("right_image", "generator", "image", "rating", "flags", "prompt_ref"):
            getattr(log, name).append(columns.get(name))
        log.clean_reference.append(columns.get("clean_reference", False))
        choice = columns["choice"]
        log.choice.append(choice)
        log.winner.append(
            {"left": "model_a", "right": "model_b", "tie": "tie"}.get(choice, "tie (bothbad)")
        )
        return len(log) - 1

    for who, (prompt, (a, b)) in queue:
        left, right = (a, b) if rng.random() < 0.5 else (b, a)
        task = SimpleNamespace(check_kind=None, generator_left_id=left, generator_right_id=right)
        ids = [image_ids.setdefault((g, prompt), len(image_ids) + 1) for g in (left, right)]
        k = add(
            who,
            left=f"g{left}",
            right=f"g{right}",
            left_image=ids[0],
            right_image=ids[1],
            prompt_ref=f"p{prompt}",
            choice=answer(task, people[who], strength, rng),
        )
        answered[who].append(k)
        if rng.random() >= check_rate:
            continue
        open_repeats = [j for j in answered[who] if j not in repeated]
        if open_repeats and rng.random() < REPEAT_SHARE:
            j = open_repeats[int(rng.integers(len(open_repeats)))]
            repeated.add(j)
            lg, rg = int(log.right[j][1:]), int(log.left[j][1:])
            task = SimpleNamespace(check_kind="repeat", generator_left_id=lg, generator_right_id=rg)
            add(
                who,
                check_kind="repeat",
                repeat_of=log.assignment[j],
                left=log.right[j],
                right=log.left[j],
                left_image=log.right_image[j],
                right_image=log.left_image[j],
                prompt_ref=log.prompt_ref[j],
                choice=answer(task, people[who], strength, rng),
            )
        else:
            side = "left" if rng.random() < 0.5 else "right"
            task = SimpleNamespace(check_kind="degraded", degraded_side=side)
            add(
                who,
                check_kind="degraded",
                expected="right" if side == "left" else "left",
                left_image=-1,
                right_image=-1,
                clean_reference=True,
                choice=answer(task, people[who], strength, rng),
            )
    return log, handles


def rule_only(studies: int, seed: int) -> tuple[int, int, list[int], int]:
    """(careless caught, honest excluded, honest excluded per study, careless caught without the
    response-time criterion) over `studies` vote logs."""
    from app.leaderboard.human import annotator_figures
    from app.stats import ExclusionRule

    caught, wrongly, per_study, slow_caught = 0, 0, [], 0
    for k in range(studies):
        log, handles = simulate_log(np.random.default_rng(seed + k))
        _figures, status = annotator_figures(log, {}, ExclusionRule())
        _figures, without_speed = annotator_figures(
            log, {}, ExclusionRule(min_median_response_s=None)
        )
        slow_caught += without_speed[handles[-1]].excluded
        caught += status[handles[-1]].excluded
        honest = sum(status[h].excluded for h in handles[:-1] if h in status)
        wrongly += honest
        per_study.append(honest)
    return caught, wrongly, per_study, slow_caught


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=1000, help="vote-log studies")
    parser.add_argument("--db-studies", type=int, default=2, help="studies through the services")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from scipy.stats import beta

    started = time.perf_counter()
    caught, wrongly, per_study, slow_caught = rule_only(args.studies, args.seed)
    n_honest = args.studies * HONEST
    # Clopper-Pearson 95% interval of the per-rater false-exclusion rate.
    low = beta.ppf(0.025, wrongly, n_honest - wrongly + 1) if wrongly else 0.0
    high = beta.ppf(0.975, wrongly + 1, n_honest - wrongly)
    print(
        f"vote-log simulation: {args.studies} studies x ({HONEST} honest + 1 careless), seeds "
        f"{args.seed}..{args.seed + args.studies - 1}, {time.perf_counter() - started:.0f} s"
    )
    print(
        f"  careless rater excluded in {caught}/{args.studies} studies "
        f"({slow_caught}/{args.studies} by checks and agreement alone, were they not fast)"
    )
    print(
        f"  honest raters excluded: {wrongly}/{n_honest} = {wrongly / n_honest:.3%} "
        f"(95% CI {low:.3%} to {high:.3%}); studies excluding more than one honest rater: "
        f"{sum(1 for n in per_study if n > 1)}/{args.studies}"
    )
    if not args.db_studies:
        return
    from app.db import make_engine, make_session_factory
    from app.migrate import upgrade
    from app.settings import Settings

    started = time.perf_counter()
    caught, wrongly, per_study = 0, 0, []
    for k in range(args.db_studies):
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(database_url=f"sqlite:///{folder}/sim.db")
            upgrade(settings)
            engine = make_engine(settings)
            with make_session_factory(engine)() as session:
                result = run_study(session, args.seed + k)
            engine.dispose()
        caught += result["careless_excluded"]
        wrongly += len(result["honest_excluded"])
        per_study.append(len(result["honest_excluded"]))
        for handle in result["honest_excluded"]:
            print(f"study {k}: honest {handle} excluded: {'; '.join(result['reasons'][handle])}")
    n_honest = args.db_studies * HONEST
    print(
        f"through the services: {args.db_studies} studies, seeds "
        f"{args.seed}..{args.seed + args.db_studies - 1}, {time.perf_counter() - started:.0f} s"
    )
    print(f"  careless rater excluded in {caught}/{args.db_studies} studies")
    print(
        f"  honest raters excluded: {wrongly}/{n_honest} = {wrongly / n_honest:.2%} "
        f"(studies with more than one: {sum(1 for n in per_study if n > 1)})"
    )


if __name__ == "__main__":
    main()
