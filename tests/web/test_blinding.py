"""Blinding (issue 5 item 6, issue 15): nothing an annotator can read names the generator.

The uploaded images carry the generator's name in their bytes (PNG text chunks, JPEG EXIF and
comment) and in their file names. The annotator walks through every task of pairwise, rating and
flag studies (attention checks included); every response they receive — HTML, headers, cookies,
redirects, image URLs and image bytes — is searched for the names, the file names and the ids.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import statistics
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import func, select

from app.models import Annotator as AnnotatorModel
from app.models import AnnotatorSession, Assignment, Generator, Image, ImageToken, Rendition
from tests.support.imagefactory import png_bytes
from tests.web.conftest import (
    GENERATORS,
    Annotator,
    Page,
    invite_urls,
    make_study,
    mixed_sources,
    path_of,
    upload_pool,
)

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
        "",  # the full-screen view's image, empty until it shows one of the task's images
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


# ----------------------------------------------------------------------------- issue 15 probes
#
# 4. served images fingerprinted their generator (size, alpha, PNG header, the uploaded bytes);
# 5. stable image URLs (shared across tasks, annotators and repeat checks; no session needed;
#    check copies made on demand, slower and always RGB);
# 6. a readable annotator cookie carrying a database id.


def _mixed_study(arena, kind="pairwise", **fields) -> dict:
    """Three generators with different sizes, formats and alpha, in an 80 px display box."""
    upload_pool(arena, sources=mixed_sources)
    return make_study(
        arena, kind=kind, name=f"mixed-{kind}", display_size=80, attention_check_rate=0.3, **fields
    )


def _originals(arena) -> set[str]:
    media = arena.settings.media_dir / "originals"
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in media.rglob("*") if p.is_file()}


def _walk_fetching(annotator, page, answer, limit=200):
    """Answer every task, fetching each image while its task is shown: [(page, {token: bytes})]."""
    shown = []
    for _ in range(limit):
        if "Thank you" in page.html:
            return shown
        images = {}
        for token in page.images:
            response = annotator.get(f"{page.study_path}/image/{token}")
            assert response.status_code == 200, response.text
            images[token] = response.content
        shown.append((page, images))
        response = annotator.answer(page, **answer)
        assert response.status_code == 200, response.text
        page = Page(response.text, page.study_path)
    pytest.fail("the study never ended")


@pytest.mark.parametrize("kind", ["pairwise", "rating"])
def test_probe4_every_served_image_has_the_study_geometry_mode_and_encoding(arena, kind):
    study = _mixed_study(arena, kind)
    assert (study["display_width"], study["display_height"]) == (80, 80)
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    answer = {"choice": "left"} if kind == "pairwise" else {"rating": "3"}
    shown = _walk_fetching(annotator, annotator.start(), answer)
    served = [data for _page, images in shown for data in images.values()]
    assert len(served) >= 12
    decoded = [PILImage.open(io.BytesIO(data)) for data in served]
    assert {(i.format, i.mode, i.size) for i in decoded} == {("JPEG", "RGB", (80, 80))}
    # The bytes before the scan data (JFIF, tables, frame header) are identical for all.
    assert len({data[: data.index(b"\xff\xda")] for data in served}) == 1
    # Served bytes are never the uploaded bytes, nor the researcher's stored copies.
    originals = _originals(arena)
    assert len(originals) == 12
    assert not {hashlib.sha256(data).hexdigest() for data in served} & originals
    # The page states the box for every image alike.
    for page, _images in shown:
        assert set(re.findall(r'<img [^>]*width="(\d+)" height="(\d+)"', page.html)) == {
            ("80", "80")
        }
    # The uploaded resolution is the researcher's: listed by the admin API only.
    listed = arena.client.get(f"/api/generators/{GENERATORS[1]}/images", headers=arena.headers)
    assert {(i["width"], i["height"]) for i in listed.json()} == {(96, 96)}


def test_probe5_image_urls_are_per_showing_per_session_and_refused_elsewhere(arena):
    upload_pool(arena)
    study = make_study(arena, name="tokens")
    first_url, second_url = invite_urls(arena, study, 2)
    first = Annotator(TestClient(arena.app), first_url)
    second = Annotator(TestClient(arena.app), second_url)
    page = first.start()
    study_path = page.study_path
    tokens = page.images
    assert len(tokens) == 2 and all(OPAQUE.match(t) for t in tokens)
    image = first.get(f"{study_path}/image/{tokens[0]}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    # Kept by this browser only (the token is never reused), never by a shared cache; nothing
    # that dates the file.
    assert image.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert "etag" not in image.headers and "last-modified" not in image.headers
    # A reload of the same task shows the same images under fresh tokens.
    again = first.page(study_path)
    assert again.field("assignment") == page.field("assignment")
    assert not set(again.images) & set(tokens)
    assert first.get(f"{study_path}/image/{again.images[0]}").status_code == 200
    # The earlier showing's URLs are dead: at most one showing's URLs live per task.
    assert first.get(f"{study_path}/image/{tokens[1]}").status_code == 404

    live = again.images[1]
    # Without the session: refused. With another annotator's session: refused.
    assert TestClient(arena.app).get(f"{study_path}/image/{live}").status_code == 403
    second.start()
    assert second.get(f"{study_path}/image/{live}").status_code == 404
    # A forged cookie is no session.
    forged = TestClient(arena.app, cookies={"arena_session": live})
    assert forged.get(f"{study_path}/image/{live}").status_code == 403
    assert first.get(f"{study_path}/image/{live}").status_code == 200
    # Once the task is answered its tokens are dead.
    response = first.answer(again, choice="left")
    assert response.status_code == 200
    assert first.get(f"{study_path}/image/{live}").status_code == 404
    assert first.get(f"{study_path}/image/{again.images[0]}").status_code == 404


def test_probe5_two_annotators_never_share_a_url_for_the_same_image(arena):
    upload_pool(arena)
    study = make_study(arena, name="two-annotators", raters_per_item=2)
    urls = invite_urls(arena, study, 2)
    seen = []
    for url in urls:
        annotator = Annotator(TestClient(arena.app), url)
        shown = _walk_fetching(annotator, annotator.start(), {"choice": "left"})
        seen.append(
            {t: hashlib.sha256(d).hexdigest() for _p, imgs in shown for t, d in imgs.items()}
        )
    a, b = seen
    assert not set(a) & set(b)
    same_image = set(a.values()) & set(b.values())
    assert len(same_image) == 12  # both saw every image of the pool, each under its own URLs


def test_probe5_repeat_checks_carry_fresh_urls(arena, monkeypatch):
    upload_pool(arena)
    study = make_study(arena, name="repeats", attention_check_rate=0.5)
    # Seeded draws (one generator per task) make the sequence of checks reproducible.
    seeds = iter(range(10_000))
    default_rng = np.random.default_rng
    monkeypatch.setattr(
        "app.services.studies.assignment.np.random.default_rng",
        lambda seed=None: default_rng(next(seeds) if seed is None else seed),
    )
    [url] = invite_urls(arena, study)
    annotator = Annotator(TestClient(arena.app), url)
    shown = _walk_fetching(annotator, annotator.start(), {"choice": "left"})
    by_assignment = {page.field("assignment"): (page, images) for page, images in shown}
    with arena.session_factory() as session:
        repeats = session.execute(
            select(Assignment.public_id, Assignment.repeat_of_id).where(
                Assignment.check_kind == "repeat"
            )
        ).all()
        originals = {repeat: session.get(Assignment, of).public_id for repeat, of in repeats}
    assert originals, "no repeat check was issued"
    all_tokens = [t for _p, images in shown for t in images]
    assert len(all_tokens) == len(set(all_tokens))  # no URL is ever shown twice
    for repeat, original in originals.items():
        rep_page, rep_images = by_assignment[repeat]
        orig_page, orig_images = by_assignment[original]
        rep_left, rep_right = rep_page.images
        orig_left, orig_right = orig_page.images
        assert not set(rep_images) & set(orig_images)
        # The same pictures, sides swapped: only the URLs are new.
        assert rep_images[rep_left] == orig_images[orig_right]
        assert rep_images[rep_right] == orig_images[orig_left]


def test_probe5_check_copies_are_prepared_and_served_like_real_images(arena, monkeypatch):
    upload_pool(arena)
    study = make_study(arena, name="checks", attention_check_rate=0.5)
    with arena.session_factory() as session:
        variants = dict(
            session.execute(
                select(Rendition.variant, func.count()).group_by(Rendition.variant)
            ).all()
        )
    assert variants == {"clean": 12, "degraded": 12}  # rendered when the study opened

    # From here on nothing may be rendered: every fetch only reads a prepared file.
    def no_rendering(*_args, **_kwargs):
        raise AssertionError("an image was rendered after the study opened")

    monkeypatch.setattr("app.display.render", no_rendering)
    urls = invite_urls(arena, study, 3)
    timings = {"clean": [], "degraded": []}
    headers = {"clean": set(), "degraded": set()}
    for url in urls:
        annotator = Annotator(TestClient(arena.app), url)
        page = annotator.start()
        while "Thank you" not in page.html:
            with arena.session_factory() as session:
                variant_of = dict(
                    session.execute(
                        select(ImageToken.token, Rendition.variant)
                        .join(Rendition, Rendition.id == ImageToken.rendition_id)
                        .where(ImageToken.token.in_(page.images))
                    ).all()
                )
            for token in page.images:
                for _ in range(3):
                    start = time.perf_counter()
                    response = annotator.client.get(f"{page.study_path}/image/{token}")
                    timings[variant_of[token]].append(time.perf_counter() - start)
                    assert response.status_code == 200
                    headers[variant_of[token]].add(
                        tuple(
                            sorted(
                                (k, v)
                                for k, v in response.headers.items()
                                # Per response, not per image: the length and the request id.
                                if k not in ("content-length", "x-request-id")
                            )
                        )
                    )
            response = annotator.answer(page, choice="left")
            page = Page(response.text, page.study_path)
    assert len(timings["degraded"]) >= 6 and len(timings["clean"]) >= 30
    # Same path, same headers, same format.
    assert headers["clean"] == headers["degraded"] and len(headers["clean"]) == 1
    real, check = statistics.median(timings["clean"]), statistics.median(timings["degraded"])
    print(f"median fetch: real {real * 1000:.2f} ms, check copy {check * 1000:.2f} ms")
    # The bar: check copies no slower than twice the real images. (Both read one
    # prepared file through the same code; what remains is noise of a shared machine.)
    assert check <= 2.0 * real, (real, check)


def _renditions(arena) -> int:
    with arena.session_factory() as session:
        return session.scalar(select(func.count()).select_from(Rendition))


def test_probe5_an_upload_to_an_open_study_is_rendered_at_once(arena):
    upload_pool(arena)
    make_study(arena, name="growing", attention_check_rate=0.2)
    before = _renditions(arena)
    assert before == 2 * 12

    def again(g_index, p_index, name):
        return png_bytes(1000 + 10 * g_index + p_index, tag=name), f"{name}_again_{p_index}.png"

    # New images for the study's prompts join its pool: rendered (clean and check copy) now.
    upload_pool(arena, sources=again, register=False)
    assert _renditions(arena) == before + 2 * 12
    # Images for prompts outside the study's prompt set are not its business.
    other = {"name": "other-prompts", "prompts": [{"external_id": "o0", "text": "a green cone"}]}
    assert (
        arena.client.post("/api/prompt-sets", json=other, headers=arena.headers).status_code == 201
    )
    upload_pool(arena, prompts=other, register=False)
    assert _renditions(arena) == before + 2 * 12


def test_probe6_the_session_cookie_is_opaque_random_and_stored_hashed(arena):
    upload_pool(arena)
    study = make_study(arena, name="cookies")
    [url] = invite_urls(arena, study)
    cookies = []
    for _ in range(2):  # the same invite opened twice: two unrelated sessions
        client = TestClient(arena.app)
        response = client.get(path_of(url), follow_redirects=False)
        cookie = response.cookies["arena_session"]
        cookies.append(cookie)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)  # 256 random bits, nothing else
    assert cookies[0] != cookies[1]
    with arena.session_factory() as session:
        annotator = session.scalar(select(AnnotatorModel))
        stored = session.scalars(select(AnnotatorSession.token_hash)).all()
    assert sorted(stored) == sorted(hashlib.sha256(c.encode()).hexdigest() for c in cookies)
    for cookie in cookies:
        # Not a signed payload (no "payload.signature"): 32 random bytes, no id, no JSON.
        assert "." not in cookie
        assert len(base64.urlsafe_b64decode(cookie + "=")) == 32
        assert f'"a":{annotator.id}'.encode() not in base64.urlsafe_b64decode(cookie + "=")
    # The stored row holds only the hash: the cookie itself is nowhere in the database.
    with arena.session_factory() as session:
        rows = session.execute(select(AnnotatorSession.token_hash)).scalars().all()
    assert not set(cookies) & set(rows)
