"""`arena push`: upload a folder to a remote server over the HTTP API (no database access)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from app.cli.server_commands import fail

console = Console(stderr=True)

CONFIG_HELP = (
    "client config file (TOML: server_url, api_key); default ~/.config/gallery-arena/client.toml"
)


def remote_client(server: str | None, config: Path | None):
    """An ArenaClient from --server, ARENA_SERVER_URL/ARENA_API_KEY or the config file."""
    from app.client import ArenaClient
    from app.settings import client_settings

    settings = client_settings(config, server_url=server)
    if not settings.server_url:
        fail("no server: give --server URL, or set ARENA_SERVER_URL or server_url in the config")
    if not settings.api_key:
        fail(
            "no API key: set ARENA_API_KEY or api_key in the config file "
            "(an admin creates one with `arena keys create --name NAME`)"
        )
    return ArenaClient(settings.server_url, settings.api_key)


def register(app: typer.Typer) -> None:
    @app.command()
    def push(
        directory: Path = typer.Argument(
            ..., exists=True, file_okay=False, help="folder of images"
        ),
        server: str | None = typer.Option(None, "--server", help="the server's base URL"),
        generator: str | None = typer.Option(None, "--generator", help="generator name or id"),
        reference_set: str | None = typer.Option(
            None, "--reference-set", help="reference set name or id"
        ),
        manifest: Path | None = typer.Option(
            None, "--manifest", help="file → prompt id map; default: manifest.json/.csv in DIR"
        ),
        prompt_set: str | None = typer.Option(None, "--prompt-set", help="prompt set of the ids"),
        batch_size: int = typer.Option(100, "--batch-size", min=1, help="images per batch"),
        batch_mb: int = typer.Option(256, "--batch-mb", min=1, help="MiB per batch at most"),
        config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    ) -> None:
        """Upload a folder in batches over the HTTP API; files the server holds are skipped, so
        running it again after an interruption uploads only the rest. Prints the batch ids."""
        from app.client import PROMPT_FILES, ClientError, owner_path, push_folder
        from app.errors import ArenaError
        from app.services.uploads import parse_manifest

        if manifest is None and generator is not None:
            manifest = next((directory / n for n in PROMPT_FILES if (directory / n).exists()), None)
        try:
            owner = owner_path(generator, reference_set)
            mapping = parse_manifest(manifest.name, manifest.read_bytes()) if manifest else None
        except (ClientError, ArenaError) as exc:
            fail(str(exc))
        total = sum(
            p.stat().st_size
            for p in directory.rglob("*")
            if p.is_file() and p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"}
        )
        progress = Progress(
            TextColumn("[bold]push"),
            BarColumn(),
            MofNCompleteColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        with remote_client(server, config) as client, progress:
            files_task = progress.add_task("files", total=total)

            def advance(_files: int, size: int) -> None:
                progress.advance(files_task, size)

            def stored(batch_id: int, files: int) -> None:
                progress.console.print(f"batch {batch_id}: {files} image(s) stored")

            try:
                result = push_folder(
                    client,
                    directory,
                    owner,
                    manifest=mapping,
                    prompt_set=prompt_set,
                    batch_files=batch_size,
                    batch_bytes=batch_mb * 1024 * 1024,
                    on_progress=advance,
                    on_batch=stored,
                )
            except ClientError as exc:
                fail(str(exc))
        typer.echo(
            json.dumps(
                {
                    "batch_ids": result.batch_ids,
                    "uploaded": result.uploaded,
                    "skipped": result.skipped,
                    "retries": result.retries,
                }
            )
        )
