"""`arena media gc`: remove stored files that no row references (after a crash or a failed commit)."""

from __future__ import annotations

import json

import typer

from app.cli.common import load_settings


def register(app: typer.Typer) -> None:
    media = typer.Typer(help="The content-addressed media store.", no_args_is_help=True)
    app.add_typer(media, name="media")

    @media.command("gc")
    def gc(
        grace_hours: float = typer.Option(
            24.0,
            "--grace-hours",
            min=0,
            help="leave files younger than this alone (an upload may still be under way)",
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="list, remove nothing"),
    ) -> None:
        """Delete media files no image references, and upload temporaries, older than the grace.

        A server killed mid-upload leaves temporaries; one killed between linking files into
        place and committing leaves unreferenced files. Neither is ever served; this reclaims
        the space. Safe while the server runs (it locks out commits while it checks).
        """
        from app.cli.server_commands import session_scope
        from app.media import MediaStore, collect_garbage
        from app.services.catalog.images import referenced_shas

        settings = load_settings()
        store = MediaStore(settings.media_dir)
        with session_scope(settings) as session:

            def referenced(shas: set[str]) -> set[str]:
                used = referenced_shas(session, shas)
                session.rollback()  # each chunk reads what is committed now
                return used

            report = collect_garbage(store, referenced, grace_hours * 3600, dry_run=dry_run)
        typer.echo(
            json.dumps(
                {
                    "removed": len(report.removed),
                    "removed_bytes": report.removed_bytes,
                    "kept_referenced": report.kept_referenced,
                    "kept_young": report.kept_young,
                    "dry_run": dry_run,
                }
            )
        )

    @media.command("covariates")
    def covariates() -> None:
        """Measure brightness and saturation of images stored before they were measured at upload.

        Controlled Bradley-Terry (`?control=brightness,saturation` on the leaderboard) needs them
        for every image a vote showed; new uploads get them at upload. Safe to run again: only
        images still lacking a value are read.
        """
        from app.cli.server_commands import session_scope
        from app.leaderboard.covariates import backfill_appearance
        from app.media import MediaStore

        settings = load_settings()
        store = MediaStore(settings.media_dir)
        with session_scope(settings) as session:
            report = backfill_appearance(session, store)
            session.commit()
        typer.echo(json.dumps(report))
