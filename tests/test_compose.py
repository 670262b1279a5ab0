"""docker-compose.yml cannot run here (no Docker engine): check it by reading it."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_healthchecks():
    compose = _compose()
    assert set(compose["services"]) == {"postgres", "web", "worker"}
    for name, service in compose["services"].items():
        assert "healthcheck" in service, name
    assert {"pgdata", "media"} <= set(compose["volumes"])
    assert "arena migrate" in compose["services"]["web"]["command"]
    assert compose["services"]["worker"]["command"].startswith("arena worker")
    assert compose["services"]["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # Healthy means ready: the database answers and the schema is at head (/readyz).
    assert "/readyz" in " ".join(compose["services"]["web"]["healthcheck"]["test"])


def test_environment_names_real_settings():
    """Every ARENA_* variable in the compose file is a field of the settings object."""
    fields = {f"ARENA_{name.upper()}" for name in Settings.model_fields}
    for name, service in _compose()["services"].items():
        for key in service.get("environment", {}):
            if key.startswith("ARENA_"):
                assert key in fields, f"{name}: {key} is not a setting"
    web_env = _compose()["services"]["web"]["environment"]
    db = web_env["ARENA_DATABASE_URL"]
    postgres = _compose()["services"]["postgres"]["environment"]
    assert db.startswith("postgresql+psycopg://")
    assert (
        f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/{postgres['POSTGRES_DB']}"
        in db
    )
    Settings(**{k[len("ARENA_") :].lower(): v for k, v in web_env.items()}, _env_file=None)


def test_dockerfile_copies_what_the_app_reads():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("app", "workers", "migrations", "templates", "static"):
        assert f"COPY {folder}" in dockerfile
