"""The one settings object. Every knob is an ARENA_* environment variable (or a .env file)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    # env_ignore_empty: `ARENA_X=""` (as docker-compose writes an unset knob) means unset, not
    # an empty string or Path("."); `ARENA_X=none` sets an optional knob to None (no limit).
    model_config = SettingsConfigDict(
        env_prefix="ARENA_",
        env_file=".env",
        extra="ignore",
        env_ignore_empty=True,
        env_parse_none_str="none",
    )

    # Embedded default: an SQLite file in the working directory, so `arena demo` needs nothing.
    database_url: str = "sqlite:///./arena.db"
    media_dir: Path = Path("./media")
    # Unset: generated once and persisted in secret_key_file (never hard-coded, stable across restarts).
    secret_key: str | None = Field(default=None, repr=False)
    secret_key_file: Path = Path("./.arena-secret")
    base_url: str = "http://127.0.0.1:8000"

    # Upload limits. Each is checked on decoded content, not on names or content types.
    max_file_bytes: int = 50 * 1024 * 1024
    max_request_bytes: int = 2 * 1024 * 1024 * 1024
    max_zip_uncompressed_bytes: int = 4 * 1024 * 1024 * 1024
    max_image_pixels: int = 64 * 1024 * 1024
    max_images_per_batch: int = 10_000
    # Decodes at once per process; each at the pixel limit peaks at several hundred MiB (README).
    max_concurrent_decodes: int = 2
    extraction_chunk_size: int = 256

    # Workers (feature extraction and metric jobs).
    job_lease_seconds: int = 120
    job_max_attempts: int = 5
    inception_weights: Path | None = None
    inception_classifier_weights: Path | None = None
    clip_model: str = "ViT-B-32"
    clip_pretrained: Path | None = None
    allow_network_weights: bool = False
    feature_dir: Path | None = None
    # FID Inception arithmetic: fp32, or bf16 / fp16 autocast (faster on GPUs; FID moves a little,
    # see README); part of the feature-cache key.
    inception_precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # Bootstrap rounds of the metrics job's intervals (FID, PRDC) and FID∞'s refits: each FID
    # round costs a covariance and an eigendecomposition of up to 2048 x 2048.
    metric_bootstrap_rounds: int = 200
    fid_infinity_rounds: int = 50
    # Downloaded weights (`arena weights fetch`); None: ~/.cache/gallery-arena/weights.
    weights_dir: Path | None = None
    # DINOv2 ViT-L/14 (timm layout) for FD-DINOv2; None: the weights cache.
    dinov2_weights: Path | None = None

    # Human evaluation: how long an issued task stays reserved, and request rate limits (per
    # minute) on the vote path and on opening invite links.
    assignment_ttl_seconds: int = 600
    vote_rate_per_annotator: int = 120
    vote_rate_per_ip: int = 1200
    invite_rate_per_ip: int = 30
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # IPs or CIDRs, "*" for any). Empty: none, the TCP peer is the client (rate limits per
    # address cannot be dodged with a made-up header).
    trusted_proxies: str = ""

    # Running several processes: Redis (optional) shares rate limits and cache invalidations
    # between them; without it they share rate limits through the database (see README).
    redis_url: str | None = None
    redis_prefix: str = "arena"
    # Where rate-limit counters live. auto: Redis when ARENA_REDIS_URL is set, else this process's
    # memory (`arena serve --workers N` switches it to the database, shared by the processes).
    rate_limit_storage: Literal["auto", "memory", "database", "redis"] = "auto"
    # Lifecycles: invite links and annotator sessions expire; None keeps an invite open forever.
    invite_ttl_days: float | None = 30.0
    invite_max_uses: int | None = None
    annotator_session_hours: float = 7 * 24.0
    # Logs: "text" for people, "json" (one object per line, with the request id) for collectors.
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # Concurrency of one web process: sync routes run on this many threads, and the database
    # pool holds as many connections (twice as many when rate limits are counted in the
    # database, whose hits take a connection of their own), with no overflow: connections are
    # opened once and kept, never churned under load. `arena serve --workers N` runs N processes.
    web_threads: int = Field(default=16, ge=1, le=1000)
    db_pool_size: int | None = Field(default=None, ge=1, le=10_000)
    # A serving process's garbage collector tuned (app/gc_tuning.py); `arena serve` turns it on.
    gc_tuning: bool = False
    # prometheus_client's multiprocess folder, for `arena serve --workers N` (emptied at start).
    metrics_multiproc_dir: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "ARENA_DATABASE_URL must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def features_path(self) -> Path:
        return self.feature_dir or self.media_dir / "features"

    @cached_property
    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.secret_key_file
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting together must not each write a different key.
        try:
            with open(path, "x") as handle:
                handle.write(key)
            path.chmod(0o600)
        except FileExistsError:
            return path.read_text().strip()
        return key


def get_settings() -> Settings:
    return Settings()


DEFAULT_CLIENT_CONFIG = Path("~/.config/gallery-arena/client.toml")


class ClientSettings(BaseSettings):
    """What `arena push` and `arena jobs --server` need to reach a server: flags first, then
    ARENA_SERVER_URL / ARENA_API_KEY, then the config file (TOML: server_url, api_key)."""

    model_config = SettingsConfigDict(env_prefix="ARENA_", extra="ignore", env_ignore_empty=True)
    config_path: ClassVar[Path] = DEFAULT_CLIENT_CONFIG

    server_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=cls.config_path.expanduser())
        return (init_settings, env_settings, toml)


def client_settings(config_file: Path | None = None, **given: str | None) -> ClientSettings:
    """Client settings with `given` (command-line flags) first and `config_file` last."""
    path = config_file or DEFAULT_CLIENT_CONFIG
    loaded = type("ClientSettingsFromFile", (ClientSettings,), {"config_path": path})
    return loaded(**{k: v for k, v in given.items() if v})
