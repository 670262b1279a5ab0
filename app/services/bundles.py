"""Study bundles: one zip with everything needed to re-analyse a study on another instance.

Layout (format "gallery-arena-study-bundle", version 1):

    manifest.json          format, version, software, study, every other file's sha256 and size
    study.json             the study's settings, its prompt set and generator names
    generators.json        each generator's sampling settings
    prompts.json           the prompt set (external ids, texts, categories)
    images.jsonl           every image of the study's generators and every image a task showed
                           (bundle id, public id, owner, prompt, sha256, size, format)
    check_images.jsonl     attention-check copies (their source image)
    annotators.jsonl       opaque handles, exclusion flags, consent times (never invite tokens)
    assignments.jsonl      every answered task: sides, images, check kind and expectation
    votes.jsonl            every vote (assignment, aspect, choice, winner, rating, flags, timings)
    votes.csv              the same votes in the Chatbot Arena layout (app.services.studies.votes)
    metric_results.json    automatic metrics of the study's generators, with their parameters
    reference_sets.json    the reference sets those metrics compare against
    reference/NAME.npz     their Inception statistics (mu, sigma, n, features) when extracted
    images/SHA256.png      optional: the served, metadata-free copies annotators saw

Import checks every checksum before writing anything and refuses name clashes, so a bundle loads
whole or not at all; the leaderboard computed there equals the original's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
import zipfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import __version__
from app.errors import ArenaError, Conflict, InvalidInput
from app.media import MediaStore
from app.models import (
    Annotator,
    Assignment,
    Batch,
    CheckImage,
    Generator,
    Image,
    MetricResult,
    Prompt,
    PromptSet,
    ReferenceSet,
    Study,
    Vote,
    utcnow,
)
from app.services.planner import analyze
from app.services.studies.vote_export import export_votes
from app.services.studies.votes import recount_answers

FORMAT = "gallery-arena-study-bundle"
VERSION = 1
MAX_MEMBER_BYTES = 4 * 1024**3

GENERATOR_FIELDS = (
    "name",
    "description",
    "checkpoint",
    "guidance_scale",
    "truncation",
    "sampler",
    "steps",
    "resolution",
    "extra",
)
STUDY_FIELDS = (
    "public_id",
    "name",
    "kind",
    "question",
    "instructions",
    "raters_per_item",
    "attention_check_rate",
    "flag_options",
    "aspects",
    "pair_policy",
    "status",
    "is_public",
    "max_tasks_per_annotator",
    # What decides exclusions and caps, so the board there is the board here.
    "min_attention_checks",
    "min_attention_accuracy",
    "min_repeat_consistency",
    "min_loo_agreement",
    "min_median_response_s",
    "max_vote_share",
    "display_size",
    "display_width",
    "display_height",
)
METRIC_FIELDS = (
    "metric",
    "status",
    "value",
    "std",
    "ci_low",
    "ci_high",
    "n_gen",
    "n_real",
    "extractor",
    "preprocessing",
    "parameters",
    "warnings",
    "reason",
)
ASSIGNMENT_FIELDS = (
    "id",
    "public_id",
    "check_kind",
    "expected_choice",
    "repeat_of_id",
    "degraded_side",
    "check_image_id",
    "item_key",
    "slot",
)


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows).encode()


def _json(payload: Any) -> bytes:
    return (json.dumps(payload, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "reference"


# ----------------------------------------------------------------------------- export


def _study_images(session: Session, study: Study, assignments: list[Assignment]) -> list[Image]:
    generator_ids = [g.id for g in study.generators]
    shown = {
        image_id
        for a in assignments
        for image_id in (a.image_left_id, a.image_right_id, a.image_id)
        if image_id is not None
    }
    checks = {a.check_image_id for a in assignments if a.check_image_id is not None}
    if checks:
        shown |= set(
            session.scalars(select(CheckImage.source_image_id).where(CheckImage.id.in_(checks)))
        )
    query = select(Image).where(Image.generator_id.in_(generator_ids))
    images = {image.id: image for image in session.scalars(query)}
    missing = sorted(shown - images.keys())
    if missing:
        images.update(
            {i.id: i for i in session.scalars(select(Image).where(Image.id.in_(missing)))}
        )
    return [images[k] for k in sorted(images)]


def export_bundle(
    session: Session,
    study: Study,
    out: Path,
    *,
    store: MediaStore | None = None,
    features_root: Path | None = None,
    include_images: bool = False,
) -> dict[str, Any]:
    """Write the study's bundle to `out` (atomically); returns the manifest."""
    from app.leaderboard.board import software_versions
    from app.services.catalog.reference_statistics import statistics_npz

    if include_images and store is None:
        raise ValueError("include_images needs the media store")
    generators = list(study.generators)
    names = {g.id: g.name for g in generators}
    prompt_set = session.get(PromptSet, study.prompt_set_id) if study.prompt_set_id else None
    votes = list(
        session.scalars(
            select(Vote).where(Vote.study_id == study.id).order_by(Vote.created_at, Vote.id)
        )
    )
    answered = {v.assignment_id for v in votes}
    assignments = list(
        session.scalars(
            select(Assignment).where(Assignment.id.in_(answered)).order_by(Assignment.id)
        )
    )
    # A repeat check refers to the task it repeats: keep those too, answered or not.
    referenced = {a.repeat_of_id for a in assignments if a.repeat_of_id} - answered
    if referenced:
        assignments += list(
            session.scalars(select(Assignment).where(Assignment.id.in_(referenced)))
        )
        assignments.sort(key=lambda a: a.id)
    images = _study_images(session, study, assignments)
    prompts = {
        p.id: p
        for p in session.scalars(
            select(Prompt).where(
                Prompt.id.in_(
                    {i.prompt_id for i in images if i.prompt_id}
                    | {a.prompt_id for a in assignments if a.prompt_id}
                )
            )
        )
    }
    owners = {r.id: r.name for r in session.scalars(select(ReferenceSet))}
    all_generators = {g.id: g.name for g in session.scalars(select(Generator))}
    check_images = list(
        session.scalars(
            select(CheckImage)
            .where(CheckImage.id.in_({a.check_image_id for a in assignments if a.check_image_id}))
            .order_by(CheckImage.id)
        )
    )
    annotators = list(
        session.scalars(
            select(Annotator).where(Annotator.study_id == study.id).order_by(Annotator.id)
        )
    )
    handles = {a.id: a.handle for a in annotators}
    results = list(
        session.scalars(
            select(MetricResult)
            .where(MetricResult.generator_id.in_(list(names)))
            .order_by(MetricResult.id)
        )
    )
    reference_ids = sorted({r.reference_set_id for r in results if r.reference_set_id})
    references = [session.get(ReferenceSet, r) for r in reference_ids]

    files: dict[str, bytes] = {
        "study.json": _json(
            {
                **{f: getattr(study, f) for f in STUDY_FIELDS},
                "created_at": _stamp(study.created_at),
                "prompt_set": prompt_set.name if prompt_set else None,
                "generators": [g.name for g in generators],
            }
        ),
        "generators.json": _json(
            [
                {**{f: getattr(g, f) for f in GENERATOR_FIELDS}, "created_at": _stamp(g.created_at)}
                for g in generators
            ]
        ),
        "prompts.json": _json(
            {
                "name": prompt_set.name,
                "description": prompt_set.description,
                "prompts": [
                    {"external_id": p.external_id, "text": p.text, "category": p.category}
                    for p in prompt_set.prompts
                ],
            }
            if prompt_set
            else None
        ),
        "images.jsonl": _jsonl(
            {
                "id": i.id,
                "public_id": i.public_id,
                "generator": all_generators.get(i.generator_id) if i.generator_id else None,
                "reference_set": owners.get(i.reference_set_id) if i.reference_set_id else None,
                "prompt": prompts[i.prompt_id].external_id if i.prompt_id else None,
                "sha256": i.sha256,
                "width": i.width,
                "height": i.height,
                "byte_size": i.byte_size,
                "format": i.format,
                "created_at": _stamp(i.created_at),
            }
            for i in images
        ),
        "check_images.jsonl": _jsonl(
            {"id": c.id, "public_id": c.public_id, "source_image_id": c.source_image_id}
            for c in check_images
        ),
        "annotators.jsonl": _jsonl(
            {
                "handle": a.handle,
                "is_simulated": a.is_simulated,
                "exclusion_override": a.exclusion_override,
                "exclusion_note": a.exclusion_note,
                "exclusion_set_at": _stamp(a.exclusion_set_at),
                "consented_at": _stamp(a.consented_at),
                "created_at": _stamp(a.created_at),
            }
            for a in annotators
        ),
        "assignments.jsonl": _jsonl(
            {
                **{f: getattr(a, f) for f in ASSIGNMENT_FIELDS},
                "annotator": handles[a.annotator_id],
                "prompt": prompts[a.prompt_id].external_id if a.prompt_id else None,
                "image_left_id": a.image_left_id,
                "image_right_id": a.image_right_id,
                "image_id": a.image_id,
                "generator_left": all_generators.get(a.generator_left_id),
                "generator_right": all_generators.get(a.generator_right_id),
                "generator": all_generators.get(a.generator_id),
                "issued_at": _stamp(a.issued_at),
                "expires_at": _stamp(a.expires_at),
                "answered_at": _stamp(a.answered_at),
            }
            for a in assignments
        ),
        "votes.jsonl": _jsonl(
            {
                "assignment_id": v.assignment_id,
                "annotator": handles[v.annotator_id],
                "aspect": v.aspect,
                "choice": v.choice,
                "winner": v.winner,
                "rating": v.rating,
                "flags": v.flags,
                "server_ms": v.server_ms,
                "client_ms": v.client_ms,
                "created_at": _stamp(v.created_at),
            }
            for v in votes
        ),
        # Every vote, excluded annotators included (their status is a column): re-analysable.
        "votes.csv": export_votes(session, study, "csv", exclusions=False).encode(),
        "metric_results.json": _json(
            [
                {
                    "generator": names[r.generator_id],
                    "reference_set": owners.get(r.reference_set_id) if r.reference_set_id else None,
                    **{f: getattr(r, f) for f in METRIC_FIELDS},
                    "computed_at": _stamp(r.computed_at),
                }
                for r in results
            ]
        ),
        "reference_sets.json": _json(
            [{"name": r.name, "description": r.description} for r in references]
        ),
    }
    notes = []
    if features_root is not None:
        for reference in references:
            try:
                stats = statistics_npz(session, features_root, reference)
            except ArenaError as exc:
                notes.append(f"no statistics for reference set {reference.name!r}: {exc.message}")
                continue
            files[f"reference/{_safe_name(reference.name)}.npz"] = stats
    missing_images = []
    if include_images:
        for sha in sorted({i.sha256 for i in images}):
            try:
                files[f"images/{sha}.png"] = store.read_served(sha)
            except FileNotFoundError:
                missing_images.append(sha)
        if missing_images:
            notes.append(f"{len(missing_images)} image file(s) are not in the media store")
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": _stamp(utcnow()),
        "software": software_versions(),
        "study": study.name,
        "counts": {
            "generators": len(generators),
            "images": len(images),
            "annotators": len(annotators),
            "assignments": len(assignments),
            "votes": len(votes),
            "metric_results": len(results),
            "image_files": sum(1 for name in files if name.startswith("images/")),
        },
        "notes": notes,
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in sorted(files.items())
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".bundle-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
            archive.writestr("manifest.json", _json(manifest), zipfile.ZIP_DEFLATED)
            for name, data in sorted(files.items()):
                # PNGs and .npz are compressed already.
                method = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
                archive.writestr(name, data, method)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


# ----------------------------------------------------------------------------- import


class _Bundle:
    """A bundle opened for reading, every member checked against the manifest first."""

    def __init__(self, path: Path) -> None:
        try:
            self.archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InvalidInput(f"{path} is not a readable zip file: {exc}") from None
        try:
            self.manifest = json.loads(self.archive.read("manifest.json"))
        except KeyError:
            raise InvalidInput(f"{path} has no manifest.json: not a study bundle") from None
        except ValueError as exc:
            raise InvalidInput(f"the bundle's manifest.json is not valid JSON: {exc}") from None
        if self.manifest.get("format") != FORMAT:
            raise InvalidInput(f"{path} is not a {FORMAT} (format {self.manifest.get('format')!r})")
        if self.manifest.get("version") != VERSION:
            raise InvalidInput(
                f"bundle version {self.manifest.get('version')!r} is not supported "
                f"(this is gallery-arena {__version__}, which reads version {VERSION})"
            )
        members = {i.filename: i for i in self.archive.infolist()}
        listed = self.manifest.get("files", {})
        for name, entry in listed.items():
            info = members.get(name)
            if info is None:
                raise InvalidInput(f"the bundle lacks {name}, which its manifest lists")
            if info.file_size != entry["bytes"] or info.file_size > MAX_MEMBER_BYTES:
                raise InvalidInput(
                    f"{name} is {info.file_size} bytes; the manifest says {entry['bytes']}"
                )
            digest = hashlib.sha256()
            with self.archive.open(info) as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() != entry["sha256"]:
                raise InvalidInput(f"{name} does not match its checksum: the bundle is damaged")
        extra = sorted(set(members) - set(listed) - {"manifest.json"})
        if extra:
            raise InvalidInput(f"the bundle holds files its manifest does not list: {extra[:5]}")
        self.names = set(listed)

    def json(self, name: str) -> Any:
        return json.loads(self.archive.read(name))

    def jsonl(self, name: str) -> list[dict[str, Any]]:
        text = self.archive.read(name).decode()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _free_public_id(session: Session, model, wanted: str | None) -> str | None:
    """Keep the original public id (traceable across instances) unless it is taken here."""
    if wanted and session.scalar(select(model.id).where(model.public_id == wanted)) is None:
        return wanted
    return None  # the column default draws a new one


def import_bundle(session: Session, path: Path, store: MediaStore | None = None) -> Study:
    """Load a bundle into this instance: all of it or nothing (the caller rolls back on error)."""
    bundle = _Bundle(path)
    spec = bundle.json("study.json")
    generators_spec = bundle.json("generators.json")
    clashes = []
    if session.scalar(select(Study.id).where(Study.name == spec["name"])) is not None:
        clashes.append(f"study {spec['name']!r}")
    taken = set(
        session.scalars(
            select(Generator.name).where(Generator.name.in_([g["name"] for g in generators_spec]))
        )
    )
    clashes += [f"generator {name!r}" for name in sorted(taken)]
    handles = [a["handle"] for a in bundle.jsonl("annotators.jsonl")]
    taken_handles = set(
        session.scalars(select(Annotator.handle).where(Annotator.handle.in_(handles)))
    )
    if taken_handles:
        clashes.append(f"{len(taken_handles)} annotator handle(s)")
    if clashes:
        raise Conflict(
            f"this instance already has {', '.join(clashes)}; import the bundle into an instance "
            "without them (was it imported already?)"
        )

    generators = {}
    for g in generators_spec:
        generator = Generator(**{f: g[f] for f in GENERATOR_FIELDS})
        session.add(generator)
        generators[g["name"]] = generator
    prompt_set = _import_prompt_set(session, bundle.json("prompts.json"))
    prompts = {p.external_id: p for p in prompt_set.prompts} if prompt_set else {}
    references = {}
    for r in bundle.json("reference_sets.json"):
        existing = session.scalar(select(ReferenceSet).where(ReferenceSet.name == r["name"]))
        references[r["name"]] = existing or ReferenceSet(
            name=r["name"], description=r["description"]
        )
        session.add(references[r["name"]])
    session.flush()

    image_rows = bundle.jsonl("images.jsonl")
    for row in image_rows:
        if row["reference_set"] and row["reference_set"] not in references:
            existing = session.scalar(
                select(ReferenceSet).where(ReferenceSet.name == row["reference_set"])
            )
            references[row["reference_set"]] = existing or ReferenceSet(name=row["reference_set"])
            session.add(references[row["reference_set"]])
        if row["generator"] and row["generator"] not in generators:
            raise InvalidInput(
                f"image {row['id']} belongs to generator {row['generator']!r}, which the bundle "
                "does not describe"
            )
    session.flush()
    batches: dict[tuple[str, str], Batch] = {}
    images: dict[int, Image] = {}
    for row in image_rows:
        owner = ("g", row["generator"]) if row["generator"] else ("r", row["reference_set"])
        if owner not in batches:
            batches[owner] = Batch(
                generator_id=generators[owner[1]].id if owner[0] == "g" else None,
                reference_set_id=references[owner[1]].id if owner[0] == "r" else None,
                status="imported",
            )
            session.add(batches[owner])
            session.flush()
        batch = batches[owner]
        if row["prompt"] is not None and row["prompt"] not in prompts:
            raise InvalidInput(
                f"image {row['id']} answers prompt {row['prompt']!r}, not in the bundle"
            )
        image = Image(
            generator_id=batch.generator_id,
            reference_set_id=batch.reference_set_id,
            prompt_id=prompts[row["prompt"]].id if row["prompt"] is not None else None,
            batch_id=batch.id,
            sha256=row["sha256"],
            width=row["width"],
            height=row["height"],
            byte_size=row["byte_size"],
            format=row["format"],
            created_at=_time(row["created_at"]),
        )
        public_id = _free_public_id(session, Image, row["public_id"])
        if public_id:
            image.public_id = public_id
        session.add(image)
        images[row["id"]] = image
        batch.n_images += 1
        batch.total_bytes += row["byte_size"]
    session.flush()

    checks = {}
    for row in bundle.jsonl("check_images.jsonl"):
        check = CheckImage(source_image_id=images[row["source_image_id"]].id)
        public_id = _free_public_id(session, CheckImage, row["public_id"])
        if public_id:
            check.public_id = public_id
        session.add(check)
        checks[row["id"]] = check

    study = Study(
        **{f: spec[f] for f in STUDY_FIELDS if f != "public_id" and f in spec},
        prompt_set_id=prompt_set.id if prompt_set else None,
        created_at=_time(spec["created_at"]),
    )
    public_id = _free_public_id(session, Study, spec["public_id"])
    if public_id:
        study.public_id = public_id
    study.generators = [generators[name] for name in spec["generators"]]
    session.add(study)
    session.flush()

    annotators = {}
    for row in bundle.jsonl("annotators.jsonl"):
        # The invite tokens stay behind: a random hash nobody holds, and the invite revoked.
        annotator = Annotator(
            study_id=study.id,
            handle=row["handle"],
            token_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            is_simulated=row["is_simulated"],
            exclusion_override=row.get("exclusion_override"),
            exclusion_note=row.get("exclusion_note"),
            exclusion_set_at=_time(row.get("exclusion_set_at")),
            consented_at=_time(row["consented_at"]),
            created_at=_time(row["created_at"]),
            invite_revoked_at=utcnow(),
        )
        session.add(annotator)
        annotators[row["handle"]] = annotator
    session.flush()

    def generator_id(name: str | None) -> int | None:
        return generators[name].id if name else None

    def image_id(bundle_id: int | None) -> int | None:
        return images[bundle_id].id if bundle_id is not None else None

    assignments = {}
    rows = bundle.jsonl("assignments.jsonl")
    for row in rows:
        assignment = Assignment(
            study_id=study.id,
            annotator_id=annotators[row["annotator"]].id,
            prompt_id=prompts[row["prompt"]].id if row["prompt"] is not None else None,
            image_left_id=image_id(row["image_left_id"]),
            image_right_id=image_id(row["image_right_id"]),
            image_id=image_id(row["image_id"]),
            generator_left_id=generator_id(row["generator_left"]),
            generator_right_id=generator_id(row["generator_right"]),
            generator_id=generator_id(row["generator"]),
            check_kind=row["check_kind"],
            expected_choice=row["expected_choice"],
            degraded_side=row["degraded_side"],
            check_image_id=checks[row["check_image_id"]].id
            if row["check_image_id"] is not None
            else None,
            item_key=row["item_key"],
            slot=row["slot"],
            issued_at=_time(row["issued_at"]),
            expires_at=_time(row["expires_at"]),
            answered_at=_time(row["answered_at"]),
        )
        public_id = _free_public_id(session, Assignment, row["public_id"])
        if public_id:
            assignment.public_id = public_id
        session.add(assignment)
        assignments[row["id"]] = assignment
    session.flush()
    for row in rows:
        if row["repeat_of_id"] is not None:
            assignments[row["id"]].repeat_of_id = assignments[row["repeat_of_id"]].id

    for row in bundle.jsonl("votes.jsonl"):
        session.add(
            Vote(
                assignment_id=assignments[row["assignment_id"]].id,
                study_id=study.id,
                annotator_id=annotators[row["annotator"]].id,
                aspect=row.get("aspect"),  # absent from bundles written before aspects
                choice=row["choice"],
                winner=row["winner"],
                rating=row["rating"],
                flags=row["flags"],
                server_ms=row["server_ms"],
                client_ms=row["client_ms"],
                created_at=_time(row["created_at"]),
            )
        )

    for row in bundle.json("metric_results.json"):
        # The generators are new here, so no result of theirs exists yet.
        reference = references.get(row["reference_set"]) if row["reference_set"] else None
        session.add(
            MetricResult(
                generator_id=generators[row["generator"]].id,
                reference_set_id=reference.id if reference is not None else None,
                **{f: row[f] for f in METRIC_FIELDS},
                computed_at=_time(row["computed_at"]),
            )
        )

    if store is not None:
        for name in sorted(bundle.names):
            if name.startswith("images/") and name.endswith(".png"):
                # Only the served copy travels; it is linked into place when the import commits.
                sha = name[len("images/") : -len(".png")]
                if not re.fullmatch(r"[0-9a-f]{64}", sha):
                    raise InvalidInput(f"{name} is not named by a sha256: not a bundle image")
                store.put_bytes(session, store.served_path(sha), bundle.archive.read(name))
    session.flush()
    # The answer counters the vote path maintains, from the imported votes.
    recount_answers(session, study.id)
    analyze(session, "assignments", "votes", "annotators")
    return study


def _import_prompt_set(session: Session, spec: dict[str, Any] | None) -> PromptSet | None:
    """The bundle's prompt set; one of the same name here is reused when its prompts are equal."""
    if spec is None:
        return None
    rows = [(p["external_id"], p["text"], p["category"]) for p in spec["prompts"]]
    existing = session.scalar(select(PromptSet).where(PromptSet.name == spec["name"]))
    if existing is not None:
        here = [(p.external_id, p.text, p.category) for p in existing.prompts]
        if sorted(here) != sorted(rows):
            raise Conflict(
                f"this instance has a different prompt set named {spec['name']!r}; import the "
                "bundle into an instance without it"
            )
        return existing
    prompt_set = PromptSet(name=spec["name"], description=spec["description"])
    prompt_set.prompts = [Prompt(external_id=e, text=t, category=c) for e, t, c in rows]
    session.add(prompt_set)
    session.flush()
    return prompt_set


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a bundle, after checking every checksum."""
    return _Bundle(path).manifest
