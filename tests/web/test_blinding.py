"""Blinding (issue 5 item 6): nothing an annotator can read before voting names the generator.

The uploaded images carry the generator's name in their bytes (PNG text chunks, JPEG EXIF and
comment) and in their file names. The annotator walks through every task of pairwise, rating and
flag studies (attention checks included); every response they receive — HTML, headers, cookies,
redirects, image URLs and image bytes — is searched for the names, the file names and the ids.
"""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import select

from app.models import Generator, Image
from tests.web.conftest import GENERATORS, Annotator, invite_urls, make_study

# Distinctive fragments of each name as well as the whole, in every case.
FRAGMENTS = [f for name in GENERATORS for f in (name, name.split("-")[0])]
OPAQUE = re.compile(r"^[A-Za-z0-9_-]{32}$")


def leaks(blob: bytes, needles: list[str]) -> list[str]:
    lowered = blob.lower()
    return [n for n in needles if n.lower().encode() in lowered]


def walk(arena, kind: str) -> tuple[list, set[str]]:
    """Answer every task of a fresh study of this kind; return all responses and image ids."""
    study = make_study(arena, kind=kind, name=f"blind-{kind}", attention_check_rate=0.3)
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    page = annotator.start()
    images: set[str] = set()
    answers = {
        "pairwise": {"choice": "left"},
        "rating": {"rating": "3"},
        "flag": {"flags": ["artifacts"]},
    }
    for _ in range(200):
        if "Thank you" in page.html:
            break
        images.update(page.images)
        for token in page.images:  # as a browser does, while the task is shown
            fetched = annotator.get(f"{page.study_path}/image/{token}")
            assert fetched.status_code == 200, fetched.text
        response = annotator.answer(page, **answers[kind])
        assert response.status_code == 200, response.text
        page = type(page)(response.text, page.study_path)
    else:
        pytest.fail("the study never ended")
    return annotator.responses, images


@pytest.mark.parametrize("kind", ["pairwise", "rating", "flag"])
def test_nothing_reaching_the_annotator_names_the_generator(pool, kind):
    arena = pool
    with arena.session_factory() as session:
        generator_ids = {str(g.id) for g in session.scalars(select(Generator))}
        stored = session.execute(select(Image.id, Image.sha256)).all()
    file_names = [f"{name}_{p}" for name in GENERATORS for p in range(4)]
    responses, images = walk(arena, kind)
    assert images, "no image was shown"
    needles = FRAGMENTS + file_names + [sha for _id, sha in stored]

    for response in responses:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items()).encode()
        assert not leaks(headers, needles), (response.url, leaks(headers, needles))
        assert not leaks(response.content, needles), (
            response.url,
            leaks(response.content, needles),
        )
        # No header derived from the stored file or the upload.
        for header in ("etag", "last-modified", "content-disposition", "server-timing"):
            assert header not in response.headers, (response.url, header)

    html = "".join(
        r.text for r in responses if r.headers.get("content-type", "").startswith("text/html")
    )
    # Alt texts say only which side the image is on.
    assert set(re.findall(r'alt="([^"]*)"', html)) <= {
        "Left image",
        "Right image",
        "Image to rate",
        "Image to check",
    }
    # Image URLs are opaque, random, and say nothing about the row or the generator.
    row_ids = {str(i) for i, _sha in stored}
    for image_id in images:
        assert OPAQUE.match(image_id), image_id
        assert image_id not in row_ids and image_id not in generator_ids
    assert len({i[:4] for i in images}) > len(images) // 2  # no shared, counting prefix

    for response in responses:
        if response.headers.get("content-type") == "image/jpeg":
            assert response.status_code == 200
            decoded = PILImage.open(io.BytesIO(response.content))
            # JFIF header only: no EXIF, ICC profile, comment or text of any kind.
            assert set(decoded.info) <= {"jfif", "jfif_version", "jfif_unit", "jfif_density"}, (
                decoded.info
            )
            assert not decoded.getexif()
            assert b"Exif" not in response.content and b"ICC_PROFILE" not in response.content


def test_uploaded_bytes_really_carried_the_names(pool):
    """The check above is meaningful only if the originals did contain the names."""
    arena = pool
    media = arena.settings.media_dir / "originals"
    originals = [p.read_bytes() for p in media.rglob("*") if p.is_file()]
    assert len(originals) == len(GENERATORS) * 4
    assert all(leaks(data, FRAGMENTS) for data in originals)
