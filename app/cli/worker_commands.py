"""`arena worker` and `arena jobs`: run and watch the metric job queue."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.table import Table

from app.cli.server_commands import fail, session_scope
from app.errors import ArenaError
from app.settings import Settings

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
        processed = Worker(Settings(), device=device, concurrency=concurrency, once=once).run()
        console.print(f"{processed} job(s) done", style="dim")

    @jobs_app.callback()
    def jobs(
        ctx: typer.Context,
        status: str | None = typer.Option(None, help="queued, running, done or failed"),
        limit: int = typer.Option(30, min=1, help="newest N jobs"),
    ) -> None:
        """List jobs with their progress (newest first)."""
        if ctx.invoked_subcommand is not None:
            return
        from app.services.jobs import list_jobs

        with session_scope(Settings()) as session:
            rows = list_jobs(session, status=status, limit=limit)
            table = Table("id", "kind", "status", "progress", "attempts", "worker", "error")
            for job in rows:
                progress = f"{job.progress_done}/{job.progress_total}" if job.progress_total else ""
                error = (job.error or "").strip().splitlines()[0][:60] if job.error else ""
                table.add_row(
                    str(job.id),
                    job.kind,
                    job.status,
                    progress,
                    f"{job.attempts}/{job.max_attempts}",
                    job.worker or "",
                    error,
                )
        console.print(table)

    @jobs_app.command("retry")
    def jobs_retry(job_id: int) -> None:
        """Queue a failed job again with a fresh set of attempts."""
        from app.services.jobs import get_job, retry_job

        with session_scope(Settings()) as session:
            try:
                retry_job(session, get_job(session, job_id))
            except ArenaError as exc:
                fail(exc.message)
            session.commit()
        console.print(f"job {job_id} queued again")
