"""`arena metrics` and `arena metrics clip-score`: automatic metrics on exported feature files.

The options live here; what the commands compute is app/cli/metrics_report.py, imported when a
command runs, so `arena --help` loads neither numpy nor scipy. A feature file is .npy (rows =
images); a reference may also be a statistics .npz (mu, sigma and optionally features, the
pytorch-fid / clean-fid layout). Bad files exit with code 2 and a message naming the file.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_FAMILIES = "fid,kid,prdc"


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


class Reduction(StrEnum):
    mean_of_clamped = "mean_of_clamped"
    clamp_of_mean = "clamp_of_mean"


def register(app: typer.Typer) -> None:
    metrics_app = typer.Typer(
        help="Automatic metrics on feature files (.npy features, .npz statistics).",
        invoke_without_command=True,
        no_args_is_help=False,
    )
    app.add_typer(metrics_app, name="metrics")

    @metrics_app.callback()
    def metrics_command(
        ctx: typer.Context,
        real: Annotated[
            Path | None,
            typer.Option(
                "--real",
                metavar="REAL.(npy|npz)",
                help="reference features or statistics",
            ),
        ] = None,
        gen: Annotated[
            Path | None,
            typer.Option(
                "--gen",
                metavar="GEN.(npy|npz)",
                help="generated features or statistics",
            ),
        ] = None,
        which: Annotated[
            str,
            typer.Option(
                "--metrics", help="comma-separated: fid, fid_infinity, kid, prdc, cmmd, is"
            ),
        ] = DEFAULT_FAMILIES,
        logits: Annotated[
            Path | None,
            typer.Option(
                "--is",
                metavar="LOGITS.npy",
                help="classifier logits for the Inception Score",
            ),
        ] = None,
        seed: Annotated[
            int | None,
            typer.Option(
                "--seed",
                min=0,
                help="seed of the KID subsets and FID bootstrap (drawn and reported if absent)",
            ),
        ] = None,
        k: Annotated[
            int,
            typer.Option("--k", min=1, help="neighbours for precision/recall/density/coverage"),
        ] = 5,
        kid_subsets: Annotated[int, typer.Option("--kid-subsets", min=1)] = 100,
        kid_subset_size: Annotated[int, typer.Option("--kid-subset-size", min=2)] = 1000,
        fid_bootstrap: Annotated[
            int,
            typer.Option(
                "--fid-bootstrap",
                min=0,
                help="bootstrap rounds for a FID interval (needs gen features)",
            ),
        ] = 0,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", help="json or table")
        ] = OutputFormat.json,
    ) -> None:
        """FID, KID, precision/recall/density/coverage, CMMD and Inception Score on feature files.

        Prints one object per metric family. CMMD expects CLIP image embeddings, the others
        Inception pool3 features; --is takes classifier logits (N x classes).
        """
        if ctx.invoked_subcommand is not None:
            return
        from app.cli import metrics_report as run

        if real is None and gen is None and logits is None:
            typer.echo(ctx.get_help())
            raise typer.Exit(2)
        only_logits = real is None and gen is None and which == DEFAULT_FAMILIES
        families = ["is"] if only_logits else run.parse_families(which, logits)
        report = run.metrics_report(
            real,
            gen,
            families,
            logits=logits,
            seed=seed,
            k=k,
            kid_subsets=kid_subsets,
            kid_subset_size=kid_subset_size,
            fid_bootstrap=fid_bootstrap,
        )
        run.emit(report, fmt)

    @metrics_app.command("clip-score")
    def clip_score_command(
        image: Annotated[
            Path,
            typer.Option("--image", metavar="IMG.npy", help="image embeddings, one row per pair"),
        ],
        text: Annotated[
            Path,
            typer.Option(
                "--text",
                metavar="TXT.npy",
                help="text embeddings, row i is image i's prompt",
            ),
        ],
        reduction: Annotated[
            Reduction,
            typer.Option(
                "--reduction",
                help="mean_of_clamped (per pair, default) or clamp_of_mean (torchmetrics)",
            ),
        ] = Reduction.mean_of_clamped,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", help="json or table")
        ] = OutputFormat.json,
    ) -> None:
        """CLIP score: 100 * max(cos(image, text), 0) over image-prompt pairs, with a 95% CI."""
        from app.cli import metrics_report as run

        run.emit(run.clip_score_report(image, text, reduction.value), fmt)
