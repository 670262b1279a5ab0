"""Entry point of the `arena` command: one typer app, commands registered from small modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="arena",
    help="Gallery Arena: human preference and automatic metrics for image generators.",
    no_args_is_help=True,
    add_completion=False,
)


def _register() -> None:
    # Each module adds its commands to `app`; kept explicit so `arena --help` is predictable.
    from app.cli import server_commands

    server_commands.register(app)
    from app.cli import stats_commands

    stats_commands.register(app)
    from app.cli import worker_commands

    worker_commands.register(app)
    from app.cli import metrics_commands

    metrics_commands.register(app)
    from app.cli import study_commands

    study_commands.register(app)
    from app.cli import report_commands

    report_commands.register(app)
    from app.cli import demo_commands

    demo_commands.register(app)
    from app.cli import media_commands

    media_commands.register(app)
    from app.cli import weights_commands

    weights_commands.register(app)
    from app.cli import client_commands

    client_commands.register(app)
    from app.cli import bundle_commands

    bundle_commands.register(app)


_register()


def main() -> None:
    app()
