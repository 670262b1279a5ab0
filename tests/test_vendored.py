"""Vendored files carry a version in their name and are pinned by sha256 (no CDN at run time)."""

from __future__ import annotations

import hashlib
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"


def test_htmx_is_the_pinned_release():
    data = (STATIC / "htmx-2.0.11.min.js").read_bytes()
    assert len(data) == 52_182
    assert hashlib.sha256(data).hexdigest() == (
        "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
    )
