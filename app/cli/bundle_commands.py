"""`arena bundle export|import`: a study, whole, to re-analyse or publish elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.cli.common import load_settings
from app.cli.server_commands import fail, session_scope
from app.errors import ArenaError


def register(app: typer.Typer) -> None:
    bundle = typer.Typer(
        help="Study bundles (zip with a manifest and checksums).", no_args_is_help=True
    )
    app.add_typer(bundle, name="bundle")

    @bundle.command("export")
    def bundle_export(
        study: str = typer.Argument(..., help="study name or id"),
        out: Path = typer.Option(..., "--out", help="the zip to write, e.g. study.zip"),
        images: bool = typer.Option(
            False, "--images", help="include the served (metadata-free) images"
        ),
    ) -> None:
        """Write votes, tasks, prompts, generator settings, metric results and reference
        statistics of STUDY to one zip with a manifest of checksums."""
        from app.media import MediaStore
        from app.services.bundles import export_bundle
        from app.services.studies.study import get_study

        settings = load_settings()
        with session_scope(settings) as session:
            try:
                manifest = export_bundle(
                    session,
                    get_study(session, study),
                    out,
                    store=MediaStore(settings.media_dir),
                    features_root=settings.features_path,
                    include_images=images,
                )
            except ArenaError as exc:
                fail(exc.message)
        typer.echo(json.dumps({"out": str(out), **manifest["counts"], "notes": manifest["notes"]}))

    @bundle.command("import")
    def bundle_import(
        path: Path = typer.Argument(..., exists=True, dir_okay=False, help="a study bundle zip"),
    ) -> None:
        """Load a bundle into this instance (checksums first; all or nothing)."""
        from app.media import MediaStore
        from app.services.bundles import import_bundle

        settings = load_settings()
        with session_scope(settings) as session:
            try:
                study = import_bundle(session, path, MediaStore(settings.media_dir))
                session.commit()
            except ArenaError as exc:
                session.rollback()
                fail(exc.message)
            typer.echo(
                json.dumps({"study": study.name, "id": study.id, "public_id": study.public_id})
            )
