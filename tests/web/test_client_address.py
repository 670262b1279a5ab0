"""X-Forwarded-For is believed only from ARENA_TRUSTED_PROXIES: a client rotating the header
from an untrusted address still hits its per-address limit (a real `arena serve` process)."""

from __future__ import annotations

import httpx
import pytest

from app.settings import Settings
from app.web.client_address import trusted_proxies, uvicorn_options
from tests.support.server import arena_server

LIMIT = 5


def invite_statuses(url: str, count: int) -> list[int]:
    with httpx.Client(base_url=url, timeout=10) as client:
        return [
            client.get(
                f"/invite/not-a-token-{i}", headers={"X-Forwarded-For": f"203.0.113.{i}"}
            ).status_code
            for i in range(count)
        ]


# The limiter is in-process: one backend shows it.
@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_rotating_forwarded_for_does_not_dodge_the_limit(settings):
    with arena_server(settings, invite_rate_per_ip=str(LIMIT)) as server:
        statuses = invite_statuses(server.url, LIMIT + 3)
    assert statuses[:LIMIT] == [403] * LIMIT  # an unknown invite token
    assert statuses[LIMIT:] == [429] * 3


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_trusted_proxy_names_the_client(settings):
    with arena_server(
        settings, invite_rate_per_ip=str(LIMIT), trusted_proxies="127.0.0.1"
    ) as server:
        statuses = invite_statuses(server.url, LIMIT + 3)
    assert statuses == [403] * (LIMIT + 3)  # each forwarded address has its own budget


def test_uvicorn_options_default_to_no_proxy():
    assert uvicorn_options(Settings()) == {"proxy_headers": False, "forwarded_allow_ips": ""}
    settings = Settings(trusted_proxies="10.0.0.1, 172.16.0.0/12")
    assert trusted_proxies(settings) == ["10.0.0.1", "172.16.0.0/12"]
    assert uvicorn_options(settings) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.1", "172.16.0.0/12"],
    }
