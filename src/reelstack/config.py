"""Settings: every knob is a REELSTACK_* environment variable with an embedded-mode default."""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE_NAME = "secret_key"  # noqa: S105 - a file name
MIN_SECRET_LENGTH = 32
KNOWN_DEFAULT_SECRETS = frozenset({"changeme", "secret", "development", "reelstack"})


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """The settings cannot run: raised at start-up, before anything listens."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELSTACK_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("./var")
    host: str = "127.0.0.1"
    port: int = 8000
    forwarded_allow_ips: str = "127.0.0.1"

    database_url: str | None = None
    database_read_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "reelstack:"
    redis_max_connections: int = 200
    # Sub-keys per hot counter in Redis; a reader sums them.
    counter_shards: int = Field(default=8, ge=1, le=64)
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    secret_key: SecretStr | None = None
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    media_url_ttl_seconds: int = 3600

    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536

    rate_limit_enabled: bool = True
    rate_limit_anonymous: str = "100/minute"
    rate_limit_authenticated: str = "1000/minute"
    rate_limit_login: str = "10/minute"
    rate_limit_register: str = "5/hour"

    run_jobs_in_process: bool | None = None
    auto_migrate: bool | None = None
    job_workers: int = 2
    # The longest an idle embedded job worker sleeps between looks at its SQLite queue (Redis
    # workers block instead): at 0.25 a follow reaches the followee's open page well within a
    # second, while an idle `serve` spends about 0.6% of a core polling (0.4% at 1.0).
    job_poll_seconds: float = 0.25
    job_timeout_seconds: float = 3600.0

    avatar_max_bytes: int = 5 * 1024 * 1024

    # Comments: comma-separated words (case-insensitive, whole words) that hold a comment for
    # review instead of showing it; empty holds nothing.
    comment_held_words: str = ""

    # Uploads: limits a creator meets before a byte is stored.
    upload_max_bytes: int = 2 * 1024**3
    upload_chunk_size: int = 5 * 1024 * 1024
    upload_max_chunk_bytes: int = 64 * 1024 * 1024
    upload_simple_max_bytes: int = 100 * 1000 * 1000
    uploads_per_day: int = 50
    upload_session_ttl_seconds: int = 24 * 3600
    upload_mime_types: str = (
        "video/mp4,video/quicktime,video/webm,video/x-matroska,video/3gpp,video/3gpp2,"
        "video/x-msvideo,video/avi,video/mp2t,video/mpeg,video/x-flv,video/ogg,"
        "application/octet-stream"
    )

    # Processing: every ffmpeg run is bounded in time, threads and memory.
    video_max_duration_seconds: float = 600.0
    ffmpeg_path: str | None = None
    ffmpeg_threads: int = 0  # 0: one per CPU
    ffmpeg_timeout_seconds: float = 3600.0
    ffmpeg_memory_limit_mib: int = 8192
    processing_lease_seconds: int = 120
    processing_max_attempts: int = 3
    log_level: str = "info"
    # A line per request on standard output (client, method, path, status, time taken, request
    # id), written in batches (`infra/accesslog.py`); shown at log level info or below.
    access_log: bool = True

    # Notifications: likes of one video gather into one line while it is unread and younger
    # than the window; creators above the threshold do not notify followers of new posts.
    notification_aggregation_window_seconds: int = Field(default=86400, ge=60)
    notify_new_post_max_followers: int = Field(default=10_000, ge=0)
    notification_fan_out_batch: int = Field(default=1000, ge=1, le=10_000)
    # Real-time streams: an idle SSE stream sends a comment this often so proxies keep it open;
    # a WebSocket that has not authenticated within the timeout is closed.
    notification_stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    notification_ws_auth_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    # Views: the analytics stream (infra.streams) and the request path's visibility cache.
    analytics_flush_seconds: float = Field(default=1.0, gt=0, le=60)
    # A batch moves each viewed video's counter once: up to this many views a second, one batch.
    analytics_batch_size: int = Field(default=5000, ge=1, le=50_000)
    analytics_max_pending: int = Field(default=200_000, ge=1000)
    analytics_stream_max_len: int = Field(default=1_000_000, ge=10_000)
    analytics_claim_idle_seconds: float = Field(default=30.0, gt=0)
    # How stale a video's audience, status and owner's blocks may be when a view is recorded.
    view_visibility_cache_seconds: float = Field(default=5.0, ge=0, le=60)

    # Feeds: creators with fewer followers push new videos into each follower's inbox (a capped
    # list in the cache); bigger ones are pulled at read time.
    fanout_threshold: int = Field(default=1000, ge=0)
    feed_inbox_size: int = Field(default=800, ge=10, le=10_000)
    trending_refresh_minutes: float = Field(default=5.0, gt=0, le=60)
    for_you_list_size: int = Field(default=500, ge=20, le=5000)
    for_you_refresh_minutes: float = Field(default=30.0, gt=0)
    # A For-You reader's list is rebuilt this long after their first signal of a burst: the
    # swipes of those seconds share one rebuild, done before the page after next is asked for.
    for_you_rebuild_delay_seconds: float = Field(default=1.0, ge=0, le=60)
    # How long candidate gathering may take before the page falls back to trending + following.
    for_you_budget_seconds: float = Field(default=1.0, gt=0, le=30)
    seen_filter_days: int = Field(default=30, ge=1, le=365)
    # Impressions are training data (the ranker learns from the last `TRAINING_DAYS`) and a
    # feed logs ~20 rows a page: older ones are deleted hourly, or the table grows forever.
    impression_retention_days: int = Field(default=30, ge=8, le=3650)
    ranker_min_training_rows: int = Field(default=200, ge=10)

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.scale_out and self.secret_key is None:
            raise ConfigurationError(
                "REELSTACK_SECRET_KEY must be set when REELSTACK_REDIS_URL is: every API and "
                "worker process must sign and check tokens with the same secret"
            )
        if self.env is Environment.PRODUCTION:
            if self.secret_key is None:
                raise ConfigurationError(
                    "REELSTACK_SECRET_KEY must be set in production: a generated secret is "
                    "not shared between processes and is lost with the data directory"
                )
            value = self.secret_key.get_secret_value()
            if len(value) < MIN_SECRET_LENGTH or value.lower() in KNOWN_DEFAULT_SECRETS:
                raise ConfigurationError(
                    f"REELSTACK_SECRET_KEY must be a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters in production"
                )
        return self

    @property
    def scale_out(self) -> bool:
        """True when the cache, queue and pub/sub roles live in Redis."""
        return self.redis_url is not None

    @property
    def allowed_upload_types(self) -> frozenset[str]:
        return frozenset(t.strip().lower() for t in self.upload_mime_types.split(",") if t.strip())

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'reelstack.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def jobs_in_process(self) -> bool:
        """Embedded mode runs the job consumer inside `serve`, so one command is the platform."""
        if self.run_jobs_in_process is not None:
            return self.run_jobs_in_process
        return not self.scale_out

    @property
    def migrate_on_start(self) -> bool:
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.is_sqlite

    @cached_property
    def signing_key(self) -> bytes:
        """The secret behind tokens and signed URLs; generated once into the data dir if unset."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / SECRET_FILE_NAME
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip().encode()


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
