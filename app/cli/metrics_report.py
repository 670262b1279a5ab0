"""What `arena metrics` computes and prints: automatic metrics on exported feature files.

Thin wrappers over app.metrics, imported only when a metrics command runs. A feature file is .npy (rows = images); a reference may also be a
statistics .npz (mu, sigma and optionally features, the pytorch-fid / clean-fid layout). Bad
files (unreadable, wrong shape, NaN/inf rows, mismatched dimensions, too few rows) exit with
code 2 and a message naming the file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app import metrics
from app.metrics import (
    GaussianStats,
    MetricInputError,
    MetricValue,
    MissingFeaturesError,
    catalog,
)

err = Console(stderr=True)
FAMILIES = ("fid", "fid_infinity", "kid", "prdc", "cmmd", "is")
PRDC_NAMES = catalog.family("prdc")


def _fail(message: str) -> None:
    err.print(
        f"[red]error:[/red] {escape(message)}",
        markup=True,
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(2)


class Loaded:
    """What one file holds: features, statistics, or both."""

    def __init__(
        self, path: Path, features: np.ndarray | None, stats: GaussianStats | None
    ) -> None:
        self.path = path
        self._features = features
        self._stats = stats

    def features(self, metric: str) -> np.ndarray:
        if self._features is None:
            raise MissingFeaturesError(
                f"{self.path}: holds only mu and sigma, but {metric} needs per-image features "
                "(save the statistics with features, or pass the .npy features)"
            )
        return self._features

    def for_fid(self) -> np.ndarray | GaussianStats:
        return self._features if self._features is not None else self._stats


def load_features_file(path: Path) -> Loaded:
    """A .npy feature matrix or a statistics .npz, recognised by content rather than suffix."""
    if not path.is_file():
        raise MetricInputError(f"{path}: no such file")
    try:
        # Memory-mapped: the metrics stream rows, so a 50,000 x 2048 file is never copied whole.
        loaded = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MetricInputError(f"{path}: not a readable .npy or .npz file ({exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        loaded.close()
        stats, features = metrics.load_statistics(path)
        return Loaded(path, features, stats)
    if loaded.ndim != 2:
        raise MetricInputError(
            f"{path}: expected a 2-D (images, dimension) array, got shape {loaded.shape}"
        )
    return Loaded(path, loaded, None)


def _named(path: Path, compute):
    """Run one metric; input errors name the file they came from."""
    try:
        return compute()
    except MetricInputError as exc:
        message = str(exc)
        _fail(message if str(path) in message else f"{path}: {message}")


def parse_families(text: str, logits: Path | None) -> list[str]:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FAMILIES]
    if unknown or not names:
        _fail(f"--metrics takes a comma-separated list of {', '.join(FAMILIES)}; got {text!r}")
    if "is" in names and logits is None:
        _fail("--metrics is needs the classifier logits: add --is LOGITS.npy")
    if logits is not None and "is" not in names:
        names.append("is")
    return list(dict.fromkeys(names))


def _common(value: MetricValue) -> dict:
    out = {
        "n_real": value.n_real,
        "n_gen": value.n_gen,
        "warnings": list(value.warnings),
    }
    return {key: v for key, v in out.items() if v is not None}


def metrics_report(
    real: Path | None,
    gen: Path | None,
    families: list[str],
    *,
    logits: Path | None = None,
    seed: int | None = None,
    k: int = 5,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    fid_bootstrap: int = 0,
) -> dict:
    """One JSON-ready object per metric family."""
    report: dict = {}
    paired = [f for f in families if f != "is"]
    if paired and (real is None or gen is None):
        _fail(f"{', '.join(paired)} compare two sets: pass --real and --gen")
    if paired:
        real_file = _named(real, lambda: load_features_file(real))
        gen_file = _named(gen, lambda: load_features_file(gen))
    if "fid" in families:
        value = _named(
            gen,
            lambda: metrics.fid(
                gen_file.for_fid(),
                real_file.for_fid(),
                bootstrap=fid_bootstrap,
                seed=seed,
            ),
        )
        entry = {"value": value.value}
        if fid_bootstrap:
            entry.update(
                ci_low=value.ci_low,
                ci_high=value.ci_high,
                std=value.std,
                bootstrap=fid_bootstrap,
            )
            entry["seed"] = value.parameters["seed"]
        report["fid"] = {**entry, **_common(value)}
    if "fid_infinity" in families:
        value = _named(
            gen,
            lambda: metrics.fid_infinity(
                gen_file.features("FID∞"), real_file.for_fid(), bootstrap=50, seed=seed
            ),
        )
        report["fid_infinity"] = {
            "value": value.value,
            "ci_low": value.ci_low,
            "ci_high": value.ci_high,
            "sizes": value.parameters["sizes"],
            "seed": value.parameters["seed"],
            **_common(value),
        }
    if "kid" in families:
        value = _named(
            gen,
            lambda: metrics.kid(
                gen_file.features("KID"),
                real_file.features("KID"),
                subsets=kid_subsets,
                subset_size=kid_subset_size,
                seed=seed,
            ),
        )
        report["kid"] = {
            "mean": value.value,
            "std": value.std,
            "subsets": value.parameters["subsets"],
            "subset_size": value.parameters["subset_size"],
            "seed": value.parameters["seed"],
            **_common(value),
        }
    if "prdc" in families:
        values = _named(
            gen,
            lambda: metrics.prdc(real_file.features("PRDC"), gen_file.features("PRDC"), k=k),
        )
        report["prdc"] = {name: values[name].value for name in PRDC_NAMES}
        report["prdc"].update(k=k, **_common(values["precision"]))
    if "cmmd" in families:
        value = _named(
            gen,
            lambda: metrics.cmmd(gen_file.features("CMMD"), real_file.features("CMMD")),
        )
        report["cmmd"] = {
            "value": value.value,
            "sigma": value.parameters["sigma"],
            "scale": value.parameters["scale"],
            **_common(value),
        }
    if "is" in families:
        logits_file = _named(logits, lambda: load_features_file(logits))
        value = _named(
            logits,
            lambda: metrics.inception_score(logits_file.features("Inception Score")),
        )
        report["inception_score"] = {
            "mean": value.value,
            "std": value.std,
            "splits": value.parameters["splits"],
            "n": value.n_gen,
            "warnings": list(value.warnings),
        }
    return report


def _number(value: float | None, digits: int = 4) -> str:
    return (
        "-"
        if value is None
        else f"{value:.{digits}g}"
        if abs(value) < 1e-3
        else f"{value:.{digits}f}"
    )


def _table(report: dict) -> tuple[Table, list[str]]:
    table = Table(title="Automatic metrics")
    for column in ("metric", "value", "spread", "n_gen", "n_real"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    notes: list[str] = []
    for family, entry in report.items():
        n_gen, n_real = (
            str(entry.get("n_gen", entry.get("n", "-"))),
            str(entry.get("n_real", "-")),
        )
        if family == "prdc":
            for name in PRDC_NAMES:
                table.add_row(f"{name} (k={entry['k']})", _number(entry[name]), "-", n_gen, n_real)
        elif "mean" in entry:
            spread = f"± {_number(entry['std'])}"
            table.add_row(family, _number(entry["mean"]), spread, n_gen, n_real)
        else:
            spread = (
                "-"
                if entry.get("ci_low") is None
                else f"{_number(entry['ci_low'])} to {_number(entry['ci_high'])}"
            )
            table.add_row(family, _number(entry["value"]), spread, n_gen, n_real)
        notes += [f"{family}: {w}" for w in entry.get("warnings", [])]
    return table, notes


def emit(report: dict, fmt: str) -> None:
    """Print the report as JSON or ("table") as a table and its notes."""
    if fmt == "json":
        typer.echo(json.dumps(report, indent=2, allow_nan=False))
        return
    table, notes = _table(report)
    out = Console(width=200)
    out.print(table)
    for note in notes:
        out.print(note, highlight=False)


def clip_score_report(image: Path, text: Path, reduction: str) -> dict:
    """The JSON document of `arena metrics clip-score`."""
    image_file = _named(image, lambda: load_features_file(image))
    text_file = _named(text, lambda: load_features_file(text))
    value = _named(
        image,
        lambda: metrics.clip_score(
            image_file.features("CLIP score"),
            text_file.features("CLIP score"),
            reduction=reduction,
        ),
    )
    return {
        "clip_score": {
            "value": value.value,
            "std": value.std,
            "ci_low": value.ci_low,
            "ci_high": value.ci_high,
            "n": value.n_gen,
            "reduction": reduction,
        }
    }
