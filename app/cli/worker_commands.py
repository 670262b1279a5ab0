"""`arena worker` and `arena jobs`: run and watch the metric job queue."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from app.cli.common import load_settings
from app.cli.server_commands import fail, session_scope
from app.errors import ArenaError

console = Console()


def register(app: typer.Typer) -> None:
    jobs_app = typer.Typer(help="The worker job queue.", invoke_without_command=True)
    app.add_typer(jobs_app, name="jobs")

    @app.command()
    def worker(
        once: bool = typer.Option(False, "--once", help="exit when no job is queued or running"),
        concurrency: int = typer.Option(1, min=1, help="jobs run at once in this process"),
        device: str = typer.Option("cpu", help="cpu or cuda[:N] for the feature networks"),
        verbose: bool = typer.Option(False, "-v", help="log every job"),
    ) -> None:
        """Claim and run jobs (feature extraction, metrics) until stopped; SIGTERM is clean."""
        from workers.runner import Worker

        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING,
            format="%(asctime)s %(name)s %(message)s",
        )
        if not (device == "cpu" or device.startswith("cuda")):
            fail("--device must be cpu or cuda[:N]")
        processed = Worker(load_settings(), device=device, concurrency=concurrency, once=once).run()
        console.print(f"{processed} job(s) done", style="dim")

    @jobs_app.callback()
    def jobs(
        ctx: typer.Context,
        status: str | None = typer.Option(None, help="queued, running, done or failed"),
        limit: int = typer.Option(30, min=1, help="newest N jobs"),
        server: str | None = typer.Option(
            None, "--server", help="read a remote server's queue over the API (ARENA_API_KEY)"
        ),
        follow: bool = typer.Option(
            False, "--follow", help="refresh until no job is queued or running"
        ),
        interval: float = typer.Option(2.0, "--interval", min=0.1, help="seconds between reads"),
        config: Path | None = typer.Option(None, "--config", help="client config file (TOML)"),
    ) -> None:
        """List jobs with their progress (newest first), here or on a remote server."""
        if ctx.invoked_subcommand is not None:
            return
        from app.client import ClientError

        if server is not None or config is not None:
            from app.cli.client_commands import remote_client

            client = remote_client(server, config)

            def read() -> list[dict]:
                return client.jobs(status, limit)
        else:
            from app.services.compute.jobs import list_jobs
            from app.services.compute.schemas import JobOut

            def read() -> list[dict]:
                with session_scope(load_settings()) as session:
                    rows = list_jobs(session, status=status, limit=limit)
                    return [JobOut.model_validate(job).model_dump() for job in rows]

        try:
            if not follow:
                console.print(_jobs_table(read()))
                return
            with Live(_jobs_table(rows := read()), console=console) as live:
                while any(job["status"] in ("queued", "running") for job in rows):
                    time.sleep(interval)
                    rows = read()
                    live.update(_jobs_table(rows))
        except ClientError as exc:
            fail(str(exc))

    @jobs_app.command("retry")
    def jobs_retry(job_id: int) -> None:
        """Queue a failed job again with a fresh set of attempts."""
        from app.services.compute.jobs import get_job, retry_job

        with session_scope(load_settings()) as session:
            try:
                retry_job(session, get_job(session, job_id))
            except ArenaError as exc:
                fail(exc.message)
            session.commit()
        console.print(f"job {job_id} queued again")


def _jobs_table(rows: list[dict]) -> Table:
    table = Table("id", "kind", "status", "progress", "attempts", "worker", "error")
    for job in rows:
        total = job["progress_total"]
        progress = f"{job['progress_done']}/{total}" if total else ""
        error = (job["error"] or "").strip().splitlines()[0][:60] if job["error"] else ""
        table.add_row(
            str(job["id"]),
            job["kind"],
            job["status"],
            progress,
            f"{job['attempts']}/{job['max_attempts']}",
            job["worker"] or "",
            error,
        )
    return table
