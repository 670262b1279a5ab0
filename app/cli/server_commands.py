"""`arena serve`, `arena migrate`, `arena keys create`, `arena import`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from app.cli.common import load_settings
from app.errors import ArenaError

if TYPE_CHECKING:
    from app.settings import Settings

console = Console(stderr=True)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
PROMPT_FILES = ("manifest.json", "manifest.csv", "prompts.json", "prompts.csv")


def fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def session_scope(settings: Settings):
    """A session for one CLI command; the command commits, any error rolls back."""
    from app.db import make_engine, make_session_factory

    return make_session_factory(make_engine(settings))()


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="Admin API keys.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="interface to bind"),
        port: int = typer.Option(8000, help="TCP port"),
        workers: int | None = typer.Option(
            None, help="uvicorn worker processes (default: the CPU count)"
        ),
        access_log: bool = typer.Option(
            True,
            help="uvicorn's access line per request in text logs (JSON logs carry their own); "
            "off when a proxy in front keeps them",
        ),
    ) -> None:
        """Serve the web app and JSON API with uvicorn (run `arena migrate` first).

        X-Forwarded-For is believed only from ARENA_TRUSTED_PROXIES (default: nobody).
        With several workers and no ARENA_REDIS_URL, rate limits are counted in the database;
        with ARENA_METRICS_MULTIPROC_DIR, /metrics adds up every worker's counters.
        """
        import os
        import shutil

        import uvicorn

        from app.web.client_address import uvicorn_options

        if workers is None:
            workers = os.cpu_count() or 1
        if workers < 1:
            fail("--workers must be at least 1")
        settings = load_settings()
        # The worker processes read their settings (and prometheus_client its folder) from the
        # environment they inherit.
        if settings.metrics_multiproc_dir:
            shutil.rmtree(settings.metrics_multiproc_dir, ignore_errors=True)
            settings.metrics_multiproc_dir.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.metrics_multiproc_dir)
        # A serving process's garbage collector is tuned unless the environment says otherwise.
        os.environ.setdefault("ARENA_GC_TUNING", "true")
        if workers > 1:
            if settings.rate_limit_storage == "auto" and not settings.redis_url:
                os.environ["ARENA_RATE_LIMIT_STORAGE"] = "database"
            if not settings.metrics_multiproc_dir:
                console.print(
                    "[yellow]note:[/yellow] /metrics counters are per worker process; set "
                    "ARENA_METRICS_MULTIPROC_DIR to add them up"
                )
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            **uvicorn_options(settings),
            access_log=access_log and settings.log_format != "json",
        )

    @app.command()
    def migrate(
        revision: str = typer.Option("heads", help="target revision"),
        down: bool = typer.Option(False, "--down", help="downgrade to REVISION instead"),
    ) -> None:
        """Bring the database schema to REVISION (default: the newest) with Alembic."""
        from app.migrate import downgrade, upgrade

        settings = load_settings()
        (downgrade if down else upgrade)(settings, revision)
        console.print(f"database at {revision}: {settings.database_url.split('@')[-1]}")

    @keys.command("create")
    def keys_create(
        name: str = typer.Option(..., "--name", help="who or what uses the key"),
    ) -> None:
        """Create an admin API key and print it once (only its hash is stored)."""
        from app.services.api_keys import create_api_key

        with session_scope(load_settings()) as session:
            _row, key = create_api_key(session, name)
            session.commit()
        typer.echo(key)

    @keys.command("list")
    def keys_list() -> None:
        """One JSON line per key: id, name, prefix, last use, revoked (never the key)."""
        from app.services.api_keys import list_api_keys

        with session_scope(load_settings()) as session:
            for row in list_api_keys(session):
                typer.echo(json.dumps(_key_json(row)))

    @keys.command("revoke")
    def keys_revoke(
        key_id: int = typer.Argument(..., help="key id (see `arena keys list`)"),
    ) -> None:
        """Revoke a key at once (the last active key is kept)."""
        from app.services.api_keys import revoke_api_key

        with session_scope(load_settings()) as session:
            try:
                row = revoke_api_key(session, key_id)
                session.commit()
            except ArenaError as exc:
                session.rollback()
                fail(exc.message)
            typer.echo(json.dumps(_key_json(row)))

    @app.command("import")
    def import_folder(
        directory: Path = typer.Argument(
            ..., exists=True, file_okay=False, help="folder of images"
        ),
        generator: str | None = typer.Option(None, "--generator", help="generator name or id"),
        reference_set: str | None = typer.Option(
            None, "--reference-set", help="reference set name or id"
        ),
        manifest: Path | None = typer.Option(
            None, help=f"file → prompt id map; default: {', '.join(PROMPT_FILES)} in DIRECTORY"
        ),
        prompt_set: str | None = typer.Option(None, help="prompt set the manifest refers to"),
    ) -> None:
        """Import a folder of images as one all-or-nothing batch (same checks as the API)."""
        from app.media import MediaStore
        from app.services.catalog.generators import get_generator
        from app.services.catalog.prompts import get_prompt_set
        from app.services.catalog.reference_sets import get_reference_set
        from app.services.planner import analyze
        from app.services.uploads import IncomingFile, parse_manifest, store_batch

        if (generator is None) == (reference_set is None):
            fail("give exactly one of --generator NAME or --reference-set NAME")
        if manifest is None and generator is not None:
            manifest = next((directory / n for n in PROMPT_FILES if (directory / n).exists()), None)
        paths = sorted(
            p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        files = [IncomingFile(p.relative_to(directory).as_posix(), _path_reader(p)) for p in paths]
        settings = load_settings()
        with session_scope(settings) as session:
            try:
                mapping = parse_manifest(manifest.name, manifest.read_bytes()) if manifest else None
                batch, jobs = store_batch(
                    session,
                    MediaStore(settings.media_dir),
                    settings,
                    files=files,
                    generator=get_generator(session, generator) if generator else None,
                    reference_set=get_reference_set(session, reference_set)
                    if reference_set
                    else None,
                    manifest=mapping,
                    prompt_set=get_prompt_set(session, prompt_set) if prompt_set else None,
                )
                session.commit()
                analyze(session, "images", "batches")
                session.commit()
            except ArenaError as exc:
                session.rollback()
                for item in exc.extra.get("errors", [])[:20]:
                    console.print(f"  {item['file']}: {item['error']}")
                fail(exc.message)
        typer.echo(
            json.dumps({"batch_id": batch.id, "images": batch.n_images, "jobs_enqueued": len(jobs)})
        )


def _stamp(value) -> str | None:
    return value.isoformat() if value else None


def _key_json(row) -> dict:
    stamp = _stamp
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": stamp(row.created_at),
        "last_used_at": stamp(row.last_used_at),
        "revoked_at": stamp(row.revoked_at),
    }


def _path_reader(path: Path):
    def read(limit: int) -> bytes:
        with open(path, "rb") as handle:
            return handle.read(limit)

    return read
