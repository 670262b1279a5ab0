"""`arena demo`: the tiny art gallery, seeded on a fresh embedded database, then served."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

console = Console()


def follow_up_commands(settings, study_names: list[str]) -> list[str]:
    """The commands to run against the demo from another terminal, with the settings they need
    (the demo's database is not the default ./arena.db, so each line names it)."""
    import shlex

    env = " ".join(
        f"{name}={shlex.quote(str(value))}"
        for name, value in (
            ("ARENA_DATABASE_URL", settings.database_url),
            ("ARENA_MEDIA_DIR", settings.media_dir),
            ("ARENA_SECRET_KEY_FILE", settings.secret_key_file),
        )
    )
    port = settings.base_url.rsplit(":", 1)[-1].strip("/")
    lines = [f"{env} arena serve --port {port}"]
    for name in study_names:
        quoted = shlex.quote(name)
        lines.append(f"{env} arena report {quoted} --out {shlex.quote(name + '-report.html')}")
        lines.append(
            f"{env} arena export {quoted} --what votes --out {shlex.quote(name + '-votes.csv')}"
        )
    return lines


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        port: Annotated[int, typer.Option(help="TCP port to serve on (127.0.0.1)")] = 8000,
        directory: Annotated[
            Path,
            typer.Option("--dir", help="folder for the demo's database, media and key"),
        ] = Path("arena-demo"),
        serve: Annotated[
            bool, typer.Option("--serve/--no-serve", help="serve after seeding")
        ] = True,
    ) -> None:
        """Seed the tiny art gallery (real photographs, three artists and a guidance sweep),
        compute its metrics with the real FID Inception weights, simulate a few raters, and serve
        it on embedded SQLite."""
        from app.demo.seed import (
            DemoSizes,
            failed_jobs,
            prepare_directory,
            run_jobs,
            seed_catalogue,
            seed_studies,
        )

        started = time.monotonic()
        try:
            import torch  # noqa: F401 - the in-process worker extracts features with it
        except ImportError:
            console.print(
                "[red]error:[/red] the demo computes FID with the real Inception network and "
                "needs the worker extra: pip install torch==2.14.1 torchvision==0.29.1 -e '.[worker]'"
            )
            raise typer.Exit(2) from None
        try:
            settings = prepare_directory(directory, port)
        except FileExistsError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        sizes = DemoSizes()
        with console.status("uploading the reference photographs and the three artists…"):
            admin_key = seed_catalogue(settings, sizes)
        with Progress(
            TextColumn("feature extraction and metrics"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("jobs"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("jobs", total=None)
            run_jobs(
                settings,
                lambda done, total: progress.update(task, completed=done, total=total),
            )
        for kind, scope, error in failed_jobs(settings):
            console.print(
                f"[yellow]warning:[/yellow] job {kind} {scope} failed: {error}",
                soft_wrap=True,
            )
        with console.status("simulated raters are voting…"):
            studies = seed_studies(settings, sizes)
        elapsed = time.monotonic() - started

        console.print(
            f"\n[bold green]The tiny art gallery is ready[/bold green] ({elapsed:.0f} s) in {settings.media_dir.parent}"
        )
        console.print(f"admin API key (shown once): [bold]{admin_key}[/bold]")
        for study in studies:
            console.print(
                f"\n[bold]{study.name}[/bold] ({study.kind}, {study.simulated_votes} simulated votes)"
            )
            # soft_wrap: links stay on one line, so terminals keep them clickable.
            console.print(f"  vote yourself:  {study.invite_url}", soft_wrap=True)
            console.print(
                f"  leaderboard:    {study.leaderboard_url}  (sign in with the admin key: "
                "public once the study is closed)",
                soft_wrap=True,
            )
        console.print(f"\nAPI docs: {settings.base_url}/docs   (Authorization: Bearer <admin key>)")
        console.print("\nLater, from any terminal (the settings point at this demo's folder):")
        for line in follow_up_commands(settings, [study.name for study in studies]):
            console.print(f"  {line}", soft_wrap=True, highlight=False, markup=False)
        if not serve:
            return
        import uvicorn

        from app.main import create_app

        console.print("serving; Ctrl+C stops")
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
