"""`arena studies ...`, `arena invites create` and `arena votes export`: thin calls into services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import load_settings
from app.cli.server_commands import fail, session_scope
from app.errors import ArenaError


def register(app: typer.Typer) -> None:
    studies = typer.Typer(help="Human-evaluation studies.", no_args_is_help=True)
    invites = typer.Typer(help="Annotator invite links.", no_args_is_help=True)
    votes = typer.Typer(help="Annotator votes.", no_args_is_help=True)
    app.add_typer(studies, name="studies")
    app.add_typer(invites, name="invites")
    app.add_typer(votes, name="votes")

    @studies.command("create")
    def studies_create(
        generator: Annotated[
            list[str],
            typer.Option("--generator", "-g", help="generator name or id (repeat)"),
        ],
        name: str = typer.Option(..., "--name", help="unique study name"),
        kind: str = typer.Option("pairwise", "--kind", help="pairwise, rating or flag"),
        prompt_set: str | None = typer.Option(
            None, "--prompt-set", help="restrict to this prompt set"
        ),
        question: str | None = typer.Option(None, help="question shown above each task"),
        raters: int = typer.Option(3, "--raters", help="distinct annotators per item"),
        check_rate: float = typer.Option(
            0.1, "--check-rate", help="share of attention checks (0-1)"
        ),
        policy: str = typer.Option("uniform", "--policy", help="pair sampling: uniform or active"),
        max_tasks: int | None = typer.Option(
            None, "--max-tasks", help="cap on tasks per annotator"
        ),
        reference_set: str | None = typer.Option(
            None, "--reference-set", help="real images for the clean side of attention checks"
        ),
        max_vote_share: float = typer.Option(
            0.2, "--max-vote-share", help="largest share of the planned votes one annotator casts"
        ),
        open_now: bool = typer.Option(False, "--open", help="open the study for votes at once"),
        aspect: list[str] | None = typer.Option(
            None,
            "--aspect",
            help="KEY=QUESTION, repeat for several questions per task (pairwise and rating)",
        ),
    ) -> None:
        """Create a study (draft unless --open) and print it as JSON."""
        from pydantic import ValidationError

        from app.media import MediaStore
        from app.services.studies.renditions import prepare_study
        from app.services.studies.schemas import StudyCreate
        from app.services.studies.study import create_study, open_study

        aspects = []
        for text in aspect or []:
            key, sep, asked = text.partition("=")
            if not sep:
                fail(f"--aspect {text!r}: expected KEY=QUESTION")
            aspects.append({"key": key.strip(), "question": asked})
        try:
            body = StudyCreate(
                name=name,
                kind=kind,
                generators=generator,
                prompt_set=prompt_set,
                question=question,
                raters_per_item=raters,
                attention_check_rate=check_rate,
                pair_policy=policy,
                max_tasks_per_annotator=max_tasks,
                reference_set=reference_set,
                max_vote_share=max_vote_share,
                aspects=aspects or None,
            )
        except ValidationError as exc:
            fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        settings = load_settings()
        with session_scope(settings) as session:
            try:
                study = create_study(session, body)
                if open_now:
                    open_study(session, study)
                    prepare_study(session, MediaStore(settings.media_dir), study)
                session.commit()
            except ArenaError as exc:
                session.rollback()
                fail(exc.message)
            typer.echo(
                json.dumps(
                    {
                        "id": study.id,
                        "public_id": study.public_id,
                        "name": study.name,
                        "kind": study.kind,
                        "status": study.status,
                    }
                )
            )

    @studies.command("list")
    def studies_list() -> None:
        """One JSON line per study."""
        from app.services.studies.study import list_studies

        with session_scope(load_settings()) as session:
            for study in list_studies(session):
                typer.echo(
                    json.dumps(
                        {
                            "id": study.id,
                            "name": study.name,
                            "kind": study.kind,
                            "status": study.status,
                            "generators": [g.name for g in study.generators],
                        }
                    )
                )

    def _set_status(ref: str, action: str) -> None:
        from app.media import MediaStore
        from app.services.studies import study as service
        from app.services.studies.renditions import prepare_study

        settings = load_settings()
        with session_scope(settings) as session:
            try:
                study = service.get_study(session, ref)
                if action == "open":
                    service.open_study(session, study)
                    prepare_study(session, MediaStore(settings.media_dir), study)
                else:
                    service.close_study(session, study)
                session.commit()
            except ArenaError as exc:
                session.rollback()
                fail(exc.message)
            typer.echo(f"study {study.name!r} is {study.status}")

    @studies.command("open")
    def studies_open(study: str = typer.Argument(..., help="study name or id")) -> None:
        """Open a study for votes."""
        _set_status(study, "open")

    @studies.command("close")
    def studies_close(
        study: str = typer.Argument(..., help="study name or id"),
    ) -> None:
        """Close a study: no more votes are accepted."""
        _set_status(study, "close")

    @invites.command("create")
    def invites_create(
        study: str = typer.Option(..., "--study", help="study name or id"),
        count: int = typer.Option(1, "--count", help="how many invite links"),
        expires_in_days: float | None = typer.Option(
            None, "--expires-in-days", help="default: ARENA_INVITE_TTL_DAYS (30)"
        ),
        never_expires: bool = typer.Option(False, "--never-expires", help="links never expire"),
        max_uses: int | None = typer.Option(
            None, "--max-uses", help="openings per link; default: ARENA_INVITE_MAX_USES (no limit)"
        ),
    ) -> None:
        """Create COUNT annotators and print their invite links, one per line (shown only once)."""
        from app.services.studies.invites import create_invites
        from app.services.studies.study import get_study

        settings = load_settings()
        ttl = None if never_expires else (expires_in_days or settings.invite_ttl_days)
        with session_scope(settings) as session:
            try:
                created = create_invites(
                    session,
                    get_study(session, study),
                    count,
                    settings.base_url,
                    expires_in_days=ttl,
                    max_uses=max_uses if max_uses is not None else settings.invite_max_uses,
                )
                session.commit()
            except ArenaError as exc:
                session.rollback()
                fail(exc.message)
            for annotator, url in created:
                typer.echo(f"{annotator.handle}\t{url}")

    @invites.command("list")
    def invites_list(study: str = typer.Option(..., "--study", help="study name or id")) -> None:
        """One JSON line per invite: handle, status, uses, expiry (never the link)."""
        from app.services.studies.invites import list_annotators
        from app.services.studies.study import get_study

        with session_scope(load_settings()) as session:
            try:
                rows = list_annotators(session, get_study(session, study))
            except ArenaError as exc:
                fail(exc.message)
            for annotator in rows:
                if not annotator.is_simulated:
                    typer.echo(json.dumps(_invite_json(annotator)))

    @invites.command("revoke")
    def invites_revoke(
        handle: str = typer.Argument(..., help="the annotator handle (see `arena invites list`)"),
        study: str = typer.Option(..., "--study", help="study name or id"),
    ) -> None:
        """Revoke an invite: the link stops opening and its sessions end at once."""
        from app.services.studies.invites import revoke_invite
        from app.services.studies.study import get_study

        with session_scope(load_settings()) as session:
            try:
                annotator = revoke_invite(session, get_study(session, study), handle)
                session.commit()
            except ArenaError as exc:
                session.rollback()
                fail(exc.message)
            typer.echo(json.dumps(_invite_json(annotator)))

    annotators = typer.Typer(
        help="Annotators of a study and their exclusion (the rule, and your overrides).",
        no_args_is_help=True,
    )
    app.add_typer(annotators, name="annotators")

    @annotators.command("list")
    def annotators_list(
        study: str = typer.Option(..., "--study", help="study name or id"),
        aspect: str | None = typer.Option(
            None, "--aspect", help="a study with aspects: judged on this one (default: the first)"
        ),
    ) -> None:
        """One JSON line per annotator: excluded or not, why, overrides and quality figures."""
        from app.services.studies.exclusions import annotator_report
        from app.services.studies.study import get_study

        with session_scope(load_settings()) as session:
            try:
                rows = annotator_report(session, get_study(session, study), aspect)
            except ArenaError as exc:
                fail(exc.message)
        for row in rows:
            typer.echo(json.dumps(row, default=str))

    def _override(study: str, handle: str, action: str, note: str | None) -> None:
        from app.services.studies.exclusions import exclusion_statuses, set_override
        from app.services.studies.study import get_study

        with session_scope(load_settings()) as session:
            try:
                row = get_study(session, study)
                set_override(session, row, handle, action, note)
                state = exclusion_statuses(session, row)[1].get(handle)
                session.commit()
            except ArenaError as exc:
                session.rollback()
                fail(exc.message)
        excluded = bool(state and state.excluded)
        typer.echo(
            f"{handle} in {row.name!r}: {'excluded' if excluded else 'counted'}"
            + (f" ({'; '.join(state.reasons)})" if excluded else "")
        )

    @annotators.command("exclude")
    def annotators_exclude(
        handle: str = typer.Argument(..., help="annotator handle"),
        study: str = typer.Option(..., "--study", help="study name or id"),
        note: str | None = typer.Option(None, "--note", help="why (shown with the exclusion)"),
    ) -> None:
        """Exclude an annotator from every figure, whatever the rule says."""
        _override(study, handle, "exclude", note)

    @annotators.command("reinstate")
    def annotators_reinstate(
        handle: str = typer.Argument(..., help="annotator handle"),
        study: str = typer.Option(..., "--study", help="study name or id"),
        note: str | None = typer.Option(None, "--note", help="why (kept with the override)"),
    ) -> None:
        """Count an annotator although the rule would exclude them."""
        _override(study, handle, "reinstate", note)

    @annotators.command("clear")
    def annotators_clear(
        handle: str = typer.Argument(..., help="annotator handle"),
        study: str = typer.Option(..., "--study", help="study name or id"),
    ) -> None:
        """Drop your override: the rule decides again."""
        _override(study, handle, "clear", None)

    @votes.command("export")
    def votes_export(
        study: str = typer.Option(..., "--study", help="study name or id"),
        fmt: str = typer.Option("csv", "--format", help="csv or jsonl"),
        exclusions: str = typer.Option(
            "on", "--exclusions", help="on: leave out excluded annotators' votes; off: keep all"
        ),
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="file (default: stdout)")
        ] = None,
    ) -> None:
        """Votes in the Chatbot Arena layout (model_a = left, model_b = right, winner)."""
        from app.services.studies.study import get_study
        from app.services.studies.vote_export import export_votes

        if exclusions not in ("on", "off"):
            fail(f"--exclusions must be on or off; got {exclusions!r}")
        with session_scope(load_settings()) as session:
            try:
                text = export_votes(
                    session, get_study(session, study), fmt, exclusions=exclusions == "on"
                )
            except ArenaError as exc:
                fail(exc.message)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text)


def _invite_json(annotator) -> dict:
    from app.services.studies.invites import invite_status

    def stamp(value):
        return value.isoformat() if value else None

    return {
        "handle": annotator.handle,
        "status": invite_status(annotator),
        "uses": annotator.invite_uses,
        "max_uses": annotator.invite_max_uses,
        "expires_at": stamp(annotator.invite_expires_at),
        "revoked_at": stamp(annotator.invite_revoked_at),
    }
