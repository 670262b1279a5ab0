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


VENDORED = {
    # npm swagger-ui-dist@5.35.0 (Apache-2.0): the /docs page.
    "static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js": (
        1_732_839,
        "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2",
    ),
    "static/vendor/swagger-ui-5.35.0/swagger-ui.css": (
        187_956,
        "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d",
    ),
    # npm redoc@2.5.4 (MIT), bundles/redoc.standalone.js: the /redoc page
    # (3.x's standalone bundle needs to load as a module; FastAPI's page loads a classic script).
    "static/vendor/redoc-2.5.4/redoc.standalone.js": (
        1_103_471,
        "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b",
    ),
    # npm axe-core@4.14.1 (MPL-2.0), axe.min.js: the accessibility checks of the browser tests.
    "tests/browser/vendor/axe-core-4.14.1.min.js": (
        653_780,
        "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c",
    ),
}


def test_api_docs_and_axe_are_the_pinned_releases():
    root = STATIC.parent
    for path, (size, digest) in VENDORED.items():
        data = (root / path).read_bytes()
        assert len(data) == size, path
        assert hashlib.sha256(data).hexdigest() == digest, path
    for folder in ("static/vendor/swagger-ui-5.35.0", "static/vendor/redoc-2.5.4"):
        assert (root / folder / "LICENSE").is_file()
