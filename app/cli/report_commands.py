"""`arena export` and `arena report`: a study's exports and its evaluation report, as files.

Both compute the leaderboard exactly as the server does (same function, same bootstrap seed), so
the files hold the numbers the page shows. Bad input exits with code 2 and says what to fix.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.cli.common import load_settings
from app.errors import ArenaError

console = Console(stderr=True)


class What(StrEnum):
    votes = "votes"
    leaderboard = "leaderboard"
    metrics = "metrics"


class Exclusions(StrEnum):
    on = "on"
    off = "off"


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True, highlight=False, markup=True)
    raise typer.Exit(2)


def _database(settings) -> None:
    """Refuse, with what to do, a database that is not there or has no schema: the commands
    read the same settings as `arena serve` (ARENA_* variables, .env) and never create one."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = make_url(settings.database_url)
    where = url.render_as_string(hide_password=True)
    hint = (
        "point ARENA_DATABASE_URL (and ARENA_MEDIA_DIR) at the database `arena serve` uses, "
        "in the environment or a .env file; after `arena demo`: "
        "ARENA_DATABASE_URL=sqlite:///arena-demo/arena.db ARENA_MEDIA_DIR=arena-demo/media"
    )
    if settings.is_sqlite:
        path = url.database
        if not path or path == ":memory:" or not Path(path).is_file():
            default = type(settings).model_fields["database_url"].default
            configured = (
                " (the default: ARENA_DATABASE_URL is not set)"
                if (settings.database_url == default)
                else ""
            )
            _fail(f"no database at {where}{configured}: {hint}")
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            has_schema = inspect(connection).has_table("studies")
    except SQLAlchemyError as exc:
        _fail(f"cannot open the database at {where} ({type(exc).__name__}): {hint}")
    finally:
        engine.dispose()
    if not has_schema:
        _fail(
            f"the database at {where} has no Gallery Arena tables: run `arena migrate`, or {hint}"
        )


def _format_for(what: str, requested: str | None, out: Path) -> str:
    if requested:
        return requested
    suffix = out.suffix.lower().lstrip(".")
    if suffix in ("csv", "json", "jsonl"):
        return suffix
    return "csv"


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        study: Annotated[str, typer.Argument(help="study name, id or public id")],
        what: Annotated[What, typer.Option("--what", help="votes, leaderboard or metrics")],
        out: Annotated[Path, typer.Option("--out", help="file to write")],
        fmt: Annotated[
            str | None,
            typer.Option(
                "--format",
                help="csv|jsonl for votes, csv|json otherwise (default: from --out's suffix)",
            ),
        ] = None,
        exclusions: Annotated[
            Exclusions, typer.Option("--exclusions", help="apply annotator exclusions")
        ] = Exclusions.on,
        reference_set: Annotated[
            str | None, typer.Option("--reference-set", help="reference set name or id")
        ] = None,
        aspect: Annotated[
            str | None,
            typer.Option(
                "--aspect", help="a study with aspects: the one shown (default: the first)"
            ),
        ] = None,
    ) -> None:
        """Write a study's votes (Chatbot Arena battle layout), leaderboard or metric results."""
        from app.cli.server_commands import session_scope
        from app.leaderboard.board import LeaderboardOptions, build_leaderboard
        from app.reports.exports import check_request, export_study
        from app.services.studies.study import get_study

        chosen = _format_for(what.value, fmt, out)
        if not out.parent.exists():
            _fail(f"--out: the folder {out.parent} does not exist")
        settings = load_settings()
        _database(settings)
        with session_scope(settings) as session:
            try:
                check_request(what.value, chosen)
                row = get_study(session, study)
                lb = None
                if what is What.leaderboard:
                    lb = build_leaderboard(
                        session,
                        row,
                        LeaderboardOptions(
                            apply_exclusions=exclusions is Exclusions.on,
                            reference_set=reference_set,
                            aspect=aspect,
                        ),
                    )
                result = export_study(
                    session, row, what.value, chosen, lb, exclusions=exclusions is Exclusions.on
                )
            except ArenaError as exc:
                _fail(exc.message)
        data = result.content.encode() if isinstance(result.content, str) else result.content
        out.write_bytes(data)
        typer.echo(f"wrote {what.value} of {row.name} as {chosen} to {out} ({len(data)} bytes)")

    @app.command("report")
    def report_command(
        study: Annotated[str, typer.Argument(help="study name, id or public id")],
        out: Annotated[Path, typer.Option("--out", help="report.html, or report.md for Markdown")],
        exclusions: Annotated[
            Exclusions, typer.Option("--exclusions", help="apply annotator exclusions")
        ] = Exclusions.on,
        reference_set: Annotated[
            str | None, typer.Option("--reference-set", help="reference set name or id")
        ] = None,
        aspect: Annotated[
            str | None,
            typer.Option(
                "--aspect", help="a study with aspects: the one shown (default: the first)"
            ),
        ] = None,
        rounds: Annotated[
            int,
            typer.Option("--bootstrap", min=10, help="bootstrap rounds for the CIs"),
        ] = 1000,
        seed: Annotated[int, typer.Option("--seed", help="bootstrap seed")] = 0,
        embed: Annotated[
            bool,
            typer.Option(
                "--embed",
                help="Markdown: inline the figures as data URIs instead of files beside the report",
            ),
        ] = False,
    ) -> None:
        """The four-pillar evaluation report (self-contained HTML or Markdown, opens offline)."""
        from app.cli.server_commands import session_scope
        from app.leaderboard.board import LeaderboardOptions, build_leaderboard
        from app.media import MediaStore
        from app.reports.report import write_report
        from app.services.studies.study import get_study

        if not out.parent.exists():
            _fail(f"--out: the folder {out.parent} does not exist")
        settings = load_settings()
        _database(settings)
        with session_scope(settings) as session:
            try:
                row = get_study(session, study)
                lb = build_leaderboard(
                    session,
                    row,
                    LeaderboardOptions(
                        apply_exclusions=exclusions is Exclusions.on,
                        reference_set=reference_set,
                        rounds=rounds,
                        seed=seed,
                        aspect=aspect,
                    ),
                )
                kind = write_report(session, MediaStore(settings.media_dir), lb, out, embed=embed)
            except ArenaError as exc:
                _fail(exc.message)
        typer.echo(f"wrote the {kind} report of {row.name} to {out}")
