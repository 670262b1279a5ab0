"""`arena weights fetch NAME` and `arena weights list`: the network weights workers load.

Files go to ARENA_WEIGHTS_DIR (default ~/.cache/gallery-arena/weights), are sha256-verified
before they are kept, and are found there by workers when no explicit path is configured.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from app.cli.common import load_settings
from app.cli.server_commands import fail

console = Console()


def register(app: typer.Typer) -> None:
    weights_app = typer.Typer(help="Download and list network weights (CLIP, IS, DINOv2).")
    app.add_typer(weights_app, name="weights")

    @weights_app.command("fetch")
    def fetch(name: str = typer.Argument(..., help="an entry of `arena weights list`")) -> None:
        """Download one named set of weights into the cache, verifying its sha256."""
        from workers.extractors import weights_cache

        root = weights_cache.weights_dir(load_settings().weights_dir)
        try:
            path = weights_cache.fetch(name, root)
        except weights_cache.WeightsError as exc:
            fail(str(exc))
        console.print(f"{name}: {path} (sha256 verified)")

    @weights_app.command("list")
    def list_() -> None:
        """Every known entry: present and verified, changed on disk, or absent."""
        from workers.extractors import weights_cache

        root = weights_cache.weights_dir(load_settings().weights_dir)
        table = Table("name", "state", "used for", "file / how to get it")
        for entry in weights_cache.listing(root):
            where = entry["path"] or f"arena weights fetch {entry['name']}"
            table.add_row(entry["name"], entry["state"], entry["what"], where)
        console.print(f"weights cache: {root}")
        console.print(table)
