"""A study with real uploaded images, an invite, and helpers to act as an annotator."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from tests.support.imagefactory import jpeg_bytes, png_bytes

GENERATORS = ("SecretDiffusion-XL", "HiddenGAN-v2", "CovertFlow-3")
PROMPTS = {
    "name": "blind-prompts",
    "prompts": [
        {"external_id": f"q{i}", "text": f"a red cube on a table, take {i}"} for i in range(4)
    ],
}


def mixed_sources(g_index: int, p_index: int, name: str, side: int = 64) -> tuple[bytes, str]:
    """Each generator its own kind of file: RGB PNG at `side`, JPEG at 1.5x, RGBA PNG at `side`
    (the sizes, formats and alpha that told generators apart before issue 15)."""
    seed = 100 * g_index + p_index
    kind = g_index % 3
    if kind == 0:
        return png_bytes(seed, size=(side, side), tag=name), f"{name}_{p_index}.png"
    if kind == 1:
        big = side * 3 // 2
        return jpeg_bytes(seed, size=(big, big), tag=name), f"{name}_{p_index}.jpg"
    rgba = png_bytes(seed, size=(side, side), tag=name, mode="RGBA")
    return rgba, f"{name}_{p_index}.png"


def upload_pool(arena, generators=GENERATORS, prompts=PROMPTS, sources=None, register=True) -> None:
    """Each generator uploads one image per prompt; bytes and file names carry its name.

    `sources(g_index, p_index, name) -> (bytes, file name)` replaces the default files;
    `register=False` uploads for generators (and a prompt set) that already exist."""
    client, headers = arena.client, arena.headers
    if register:
        assert client.post("/api/prompt-sets", json=prompts, headers=headers).status_code == 201
    for g_index, name in enumerate(generators):
        if register:
            created = client.post("/api/generators", json={"name": name}, headers=headers)
            assert created.status_code == 201
        files, manifest = [], {}
        for p_index, prompt in enumerate(prompts["prompts"]):
            seed = 100 * g_index + p_index
            if sources is not None:
                data, filename = sources(g_index, p_index, name)
            elif p_index % 2:
                data, filename = jpeg_bytes(seed, tag=name), f"{name}_{p_index}.jpg"
            else:
                data, filename = png_bytes(seed, tag=name), f"{name}_{p_index}.png"
            files.append(("files", (filename, data, "application/octet-stream")))
            manifest[filename] = prompt["external_id"]
        files.append(("manifest", ("manifest.json", json.dumps(manifest), "application/json")))
        response = client.post(
            f"/api/generators/{name}/batches",
            files=files,
            data={"prompt_set": prompts["name"]},
            headers=headers,
        )
        assert response.status_code == 201, response.text


def make_study(arena, kind="pairwise", name=None, **fields) -> dict:
    body = {
        "name": name or f"{kind}-study",
        "kind": kind,
        "generators": list(GENERATORS),
        "prompt_set": PROMPTS["name"],
        "attention_check_rate": 0.0,
        # A handful of test annotators answer everything: no vote-share cap here.
        "max_vote_share": 1.0,
        **fields,
    }
    response = arena.client.post("/api/studies", json=body, headers=arena.headers)
    assert response.status_code == 201, response.text
    study = response.json()
    opened = arena.client.post(f"/api/studies/{study['id']}/open", headers=arena.headers)
    assert opened.status_code == 200, opened.text
    return opened.json()


def invite_urls(arena, study: dict, count: int = 1) -> list[str]:
    response = arena.client.post(
        f"/api/studies/{study['id']}/invites",
        json={"count": count},
        headers=arena.headers,
    )
    assert response.status_code == 201, response.text
    return [row["url"] for row in response.json()]


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@dataclass
class Page:
    html: str
    study_path: str

    def field(self, name: str) -> str:
        match = re.search(rf'name="{name}" value="([^"]*)"', self.html)
        assert match, f"no field {name} in page"
        return match.group(1)

    @property
    def images(self) -> list[str]:
        """The tokens of the task's images (not of the task held ahead)."""
        shown = self.html.split('<template id="ahead-images">')[0]
        return re.findall(r'src="/study/[^/"]+/image/([^"]+)"', shown)

    @property
    def ahead_images(self) -> list[str]:
        """The tokens of the images of the task held ahead (the page preloads them)."""
        parts = self.html.split('<template id="ahead-images">')
        held = parts[1].split("</template>")[0] if len(parts) > 1 else ""
        return re.findall(r'src="/study/[^/"]+/image/([^"]+)"', held)


class Annotator:
    """A browser without JavaScript (or with htmx headers), driven through the test client."""

    def __init__(self, client, invite_url: str) -> None:
        self.client = client
        self.invite_url = invite_url
        self.responses = []

    def get(self, path, **kw):
        response = self.client.get(path, **kw)
        self.responses.append(response)
        return response

    def post(self, path, **kw):
        response = self.client.post(path, **kw)
        self.responses.append(response)
        return response

    def start(self, consent: bool = True) -> Page:
        response = self.get(path_of(self.invite_url), follow_redirects=False)
        assert response.status_code == 303, response.text
        study_path = response.headers["location"]
        page = self.get(study_path)
        assert page.status_code == 200
        if consent:
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            done = self.post(
                f"{study_path}/consent",
                data={"csrf_token": token},
                follow_redirects=False,
            )
            assert done.status_code == 303, done.text
            page = self.get(study_path)
        return Page(page.text, study_path)

    def page(self, study_path: str) -> Page:
        response = self.get(study_path)
        assert response.status_code == 200, response.text
        return Page(response.text, study_path)

    def answer(self, page: Page, htmx: bool = True, **answer):
        data = {
            "csrf_token": page.field("csrf_token"),
            "assignment": page.field("assignment"),
            **answer,
        }
        if 'name="ahead"' in page.html:  # as the form sends it
            data.setdefault("ahead", page.field("ahead"))
        headers = {"HX-Request": "true"} if htmx else {}
        return self.post(
            f"{page.study_path}/vote",
            data=data,
            headers=headers,
            follow_redirects=False,
        )


@pytest.fixture
def pool(arena):
    upload_pool(arena)
    return arena
