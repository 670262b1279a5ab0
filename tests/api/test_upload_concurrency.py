"""Two slow uploads with one admin key never stall the server: /healthz and a third request
with the same key keep answering within a second (a real uvicorn process, PostgreSQL).

Before, the upload route was `async def` and ran its database calls on the event loop; the
second upload waited there for the api_keys row lock (last_used_at) held by the first,
whose commit needed the event loop: every route hung for minutes (issue 16).
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.support.server import admin_key, arena_server, noise_png

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_healthz_answers_within_a_second_during_two_uploads(settings):
    key = admin_key(settings)
    headers = {"Authorization": f"Bearer {key}"}
    with arena_server(settings) as server:
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            assert client.post("/api/generators", json={"name": "gen-a"}).status_code == 201
        batches = [
            [
                ("files", (f"{b}-{i}.png", noise_png(10 * b + i, 1200), "image/png"))
                for i in range(4)
            ]
            for b in range(2)
        ]
        results: dict[int, int] = {}

        def upload(index: int) -> None:
            with httpx.Client(base_url=server.url, headers=headers, timeout=300) as client:
                response = client.post("/api/generators/gen-a/batches", files=batches[index])
                results[index] = response.status_code

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        latencies: list[float] = []
        keyed: list[float] = []
        with httpx.Client(base_url=server.url, timeout=5) as probe:
            while any(t.is_alive() for t in threads):
                start = time.monotonic()
                assert probe.get("/healthz").status_code == 200
                latencies.append(time.monotonic() - start)
                start = time.monotonic()
                assert probe.get("/api/jobs", headers=headers).status_code == 200
                keyed.append(time.monotonic() - start)
                time.sleep(0.1)
        for thread in threads:
            thread.join()
    print(
        f"{len(latencies)} probes during the uploads: /healthz max {max(latencies):.3f} s, "
        f"same-key GET /api/jobs max {max(keyed):.3f} s"
    )
    assert results == {0: 201, 1: 201}
    assert len(latencies) >= 5, "the uploads finished too fast to show anything"
    assert max(latencies) < 1.0, f"/healthz took {max(latencies):.2f} s"
    assert max(keyed) < 1.0, f"a request with the same key took {max(keyed):.2f} s"
