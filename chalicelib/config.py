"""Settings: one frozen object read from the environment, lazily and once.

Read lazily (never at import) because chalice's test client and the local stack set the
environment per call; tests call ``get_settings.cache_clear()`` after changing it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

MB = 1024 * 1024
_PER_PLATFORM = re.compile(r"PRSNL_(?P<kind>COOKIES|PROXY)_(?P<platform>[A-Z0-9]+)")
GB = 1024 * MB


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


def _ints(name: str) -> tuple[int, ...]:
    """A comma-separated list of integers (Telegram user ids)."""
    return tuple(int(item) for item in (_env(name) or "").split(",") if item.strip())


def _telegram_download_limit() -> int | None:
    """What getFile serves: 20 MB on the public Bot API, no limit of its own on a self-hosted server."""
    if _env("PRSNL_TELEGRAM_DOWNLOAD_LIMIT"):
        return _int("PRSNL_TELEGRAM_DOWNLOAD_LIMIT", 0)
    return None if _env("PRSNL_TELEGRAM_API_URL") else 20 * MB


def _telegram_upload_limit() -> int:
    """What sendVideo takes: 50 MB on the public Bot API, 2000 MB on a self-hosted server."""
    return _int("PRSNL_TELEGRAM_UPLOAD_LIMIT", 2000 * MB if _env("PRSNL_TELEGRAM_API_URL") else 50 * MB)


def _per_platform(kind: str) -> dict[str, str]:
    """``PRSNL_<KIND>_<PLATFORM>`` variables by lower-case platform name (``PRSNL_COOKIES_YOUTUBE`` -> ``youtube``)."""
    return {match["platform"].lower(): value for name, value in os.environ.items()
            if (match := _PER_PLATFORM.fullmatch(name)) and match["kind"] == kind and value.strip()}


def _languages(name: str, default: str) -> tuple[str, ...]:
    """A comma-separated list of language codes (``en,pt-BR``), as caption keys hold them; a bad one is refused."""
    from chalicelib.storage.layout import language

    codes = [item.strip() for item in (_env(name) or default).split(",") if item.strip()]
    if any(language(code) is None for code in codes):
        raise ValueError(f"{name} must be comma-separated language codes such as en,pt-br: {_env(name)!r}")
    return tuple(dict.fromkeys(language(code) for code in codes))


def _bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _choice(name: str, choices: tuple[str, ...]) -> str:
    """The value among ``choices`` (the first by default); anything else is an error naming them."""
    value = (_env(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    aws_endpoint_url: str | None
    bucket: str
    backup_bucket: str
    users_table: str
    api_keys_table: str
    videos_table: str
    video_sources_table: str
    jobs_table: str
    snapshots_table: str
    jobs_queue: str
    jobs_queue_url: str | None
    max_video_bytes: int
    max_duration_seconds: int
    compress_above_bytes: int
    max_height: int
    max_bitrate: int
    default_quota_bytes: int
    worker_concurrency: int
    worker_reserved_concurrency: int
    fanout_above_seconds: int
    segment_seconds: int
    download_concurrency: int
    cpu_concurrency: int
    max_attempts: int
    retry_backoff_seconds: int
    job_lease_seconds: int
    ytdlp_max_age_days: int
    smoke_required: bool
    allow_loopback_urls: bool
    progress_interval_seconds: float
    signed_url_seconds: int
    cdn_domain: str | None
    cdn_key_pair_id: str | None
    cdn_private_key: str | None
    cdn_private_key_secret: str | None
    orphan_grace_seconds: int
    stale_queued_seconds: int
    maintenance_interval_seconds: int
    telegram_token: str | None
    telegram_webhook_secret: str | None
    telegram_token_secret: str | None
    telegram_webhook_secret_secret: str | None
    telegram_api_url: str | None
    telegram_allowed_users: tuple[int, ...]
    telegram_download_limit: int | None
    telegram_upload_limit: int
    telegram_edit_interval_seconds: float
    idempotency_table: str
    public_url: str | None
    watch_secret: str | None
    watch_secret_secret: str | None
    watch_link_seconds: int
    work_dir: str | None
    ops_table: str
    events_table: str
    event_bus: str | None
    webhook_url: str | None
    webhook_secret: str | None
    webhook_secret_secret: str | None
    webhook_timeout_seconds: float
    event_max_attempts: int
    event_backoff_seconds: int
    event_poll_seconds: float
    tracing: bool
    ffmpeg_binary: str | None
    api_port: int
    aws_port: int
    samples_port: int
    local_save_seconds: float
    start_timeout_seconds: float
    log_format: str  # `make run`'s console: "lines" (one line per job event) or "json" (every raw log line)
    platform_cookies_secret: str | None
    platform_cookies: dict[str, str]  # platform -> Netscape cookie text, from PRSNL_COOKIES_<PLATFORM>
    proxies: dict[str, str]  # platform -> proxy URL, from PRSNL_PROXY_<PLATFORM>; "" -> PRSNL_PROXY, for every platform
    caption_languages: tuple[str, ...]  # the captions a capture keeps unless its owner chose others

    @property
    def jobs_dlq(self) -> str:
        return f"{self.jobs_queue}-dlq"

    @property
    def hidden_seconds(self) -> int:
        """How long a running job's message stays hidden past each lease renewal: longer than the lease, so a
        redelivery after a crash always arrives once the lease is over and can claim the job."""
        return self.job_lease_seconds + max(5, self.job_lease_seconds // 4)

    def proxy_for(self, platform: str) -> str | None:
        return self.proxies.get(platform) or self.proxies.get("") or None


def load_settings() -> Settings:
    """Build settings from ``PRSNL_*`` variables; defaults name resources after the stage."""
    stage = _env("PRSNL_STAGE", "local")
    prefix = f"prsnl-{stage}"
    return Settings(
        stage=stage,
        region=_env("AWS_REGION", _env("AWS_DEFAULT_REGION", "us-east-1")),
        aws_endpoint_url=_env("AWS_ENDPOINT_URL"),
        bucket=_env("PRSNL_BUCKET", f"{prefix}-media"),
        backup_bucket=_env("PRSNL_BACKUP_BUCKET", f"{prefix}-backup"),
        users_table=_env("PRSNL_USERS_TABLE", f"{prefix}-users"),
        api_keys_table=_env("PRSNL_API_KEYS_TABLE", f"{prefix}-api-keys"),
        videos_table=_env("PRSNL_VIDEOS_TABLE", f"{prefix}-videos"),
        video_sources_table=_env("PRSNL_VIDEO_SOURCES_TABLE", f"{prefix}-video-sources"),
        jobs_table=_env("PRSNL_JOBS_TABLE", f"{prefix}-jobs"),
        snapshots_table=_env("PRSNL_SNAPSHOTS_TABLE", f"{prefix}-storage-snapshots"),
        jobs_queue=_env("PRSNL_JOBS_QUEUE", f"{prefix}-jobs"),
        jobs_queue_url=_env("PRSNL_JOBS_QUEUE_URL"),
        max_video_bytes=_int("PRSNL_MAX_VIDEO_BYTES", 500 * MB),
        max_duration_seconds=_int("PRSNL_MAX_DURATION_SECONDS", 4 * 3600),
        compress_above_bytes=_int("PRSNL_COMPRESS_ABOVE_BYTES", 200 * MB),
        max_height=_int("PRSNL_MAX_HEIGHT", 1080),
        max_bitrate=_int("PRSNL_MAX_BITRATE", 8_000_000),
        default_quota_bytes=_int("PRSNL_DEFAULT_QUOTA_BYTES", 10 * GB),
        worker_concurrency=_int("PRSNL_WORKER_CONCURRENCY", 10),
        # the deployed worker's reserved concurrency: segments of a long transcode run at once (bench/fanout.py)
        worker_reserved_concurrency=_int("PRSNL_WORKER_RESERVED_CONCURRENCY", 16),
        # a transcode longer than this is split into segments, one queue job each (one worker: ~4x realtime at 1080p)
        fanout_above_seconds=_int("PRSNL_FANOUT_ABOVE_SECONDS", 300),
        segment_seconds=_int("PRSNL_SEGMENT_SECONDS", 60),
        # a worker process's jobs in their I/O steps (metadata, download, upload) and in their CPU steps
        # (transcode, remux, thumbnails) at once: downloads overlap, the encoders do not fight over the cores
        download_concurrency=_int("PRSNL_DOWNLOAD_CONCURRENCY", 10),
        cpu_concurrency=_int("PRSNL_CPU_CONCURRENCY", 0) or os.cpu_count() or 1,
        max_attempts=_int("PRSNL_MAX_ATTEMPTS", 3),
        retry_backoff_seconds=_int("PRSNL_RETRY_BACKOFF_SECONDS", 10),
        # a running job's lease, renewed every quarter of it: a dead worker's job is claimed again soon after
        job_lease_seconds=_int("PRSNL_JOB_LEASE_SECONDS", 120),
        ytdlp_max_age_days=_int("PRSNL_YTDLP_MAX_AGE_DAYS", 60),
        smoke_required=_bool("PRSNL_SMOKE", False),
        allow_loopback_urls=_bool("PRSNL_ALLOW_LOOPBACK_URLS", _env("PRSNL_STAGE") == "local"),  # closed if unset
        progress_interval_seconds=_float("PRSNL_PROGRESS_INTERVAL_SECONDS", 1.0),
        signed_url_seconds=_int("PRSNL_SIGNED_URL_SECONDS", 300),
        cdn_domain=_env("PRSNL_CDN_DOMAIN"),
        cdn_key_pair_id=_env("PRSNL_CDN_KEY_PAIR_ID"),
        cdn_private_key=_env("PRSNL_CDN_PRIVATE_KEY"),
        cdn_private_key_secret=_env("PRSNL_CDN_PRIVATE_KEY_SECRET"),
        orphan_grace_seconds=_int("PRSNL_ORPHAN_GRACE_SECONDS", 3600),
        # a job queued this long has lost its message: a few of the jobs queue's visibility timeouts (90 min in AWS)
        stale_queued_seconds=_int("PRSNL_STALE_QUEUED_SECONDS", 6 * 3600),
        maintenance_interval_seconds=_int("PRSNL_MAINTENANCE_INTERVAL_SECONDS", 3600),
        telegram_token=_env("PRSNL_TELEGRAM_TOKEN"),
        telegram_webhook_secret=_env("PRSNL_TELEGRAM_WEBHOOK_SECRET"),
        telegram_token_secret=_env("PRSNL_TELEGRAM_TOKEN_SECRET"),
        telegram_webhook_secret_secret=_env("PRSNL_TELEGRAM_WEBHOOK_SECRET_SECRET"),
        telegram_api_url=_env("PRSNL_TELEGRAM_API_URL"),
        telegram_allowed_users=_ints("PRSNL_TELEGRAM_ALLOWED_USERS"),
        telegram_download_limit=_telegram_download_limit(),
        telegram_upload_limit=_telegram_upload_limit(),
        telegram_edit_interval_seconds=_float("PRSNL_TELEGRAM_EDIT_INTERVAL_SECONDS", 3.0),
        idempotency_table=_env("PRSNL_IDEMPOTENCY_TABLE", f"{prefix}-idempotency"),
        # where people reach the app (watch links in bot messages); unset in AWS's API: the request's own address
        public_url=_env("PRSNL_PUBLIC_URL", f"http://127.0.0.1:{_int('PRSNL_API_PORT', 8000)}" if stage == "local"
                        else None),
        watch_secret=_env("PRSNL_WATCH_SECRET"),
        watch_secret_secret=_env("PRSNL_WATCH_SECRET_SECRET"),
        watch_link_seconds=_int("PRSNL_WATCH_LINK_SECONDS", 0),  # 0: watch links last until the owner revokes them
        work_dir=_env("PRSNL_WORK_DIR"),  # where the worker downloads and encodes (None: the system temp dir)
        ops_table=_env("PRSNL_OPS_TABLE", f"{prefix}-ops"),
        events_table=_env("PRSNL_EVENTS_TABLE", f"{prefix}-events"),
        event_bus=_env("PRSNL_EVENT_BUS"),  # an EventBridge bus name: every event is put there too
        webhook_url=_env("PRSNL_WEBHOOK_URL"),  # an outgoing webhook signed by the Standard Webhooks scheme
        webhook_secret=_env("PRSNL_WEBHOOK_SECRET"),  # whsec_<base64>; or from Secrets Manager:
        webhook_secret_secret=_env("PRSNL_WEBHOOK_SECRET_SECRET"),
        webhook_timeout_seconds=_float("PRSNL_WEBHOOK_TIMEOUT_SECONDS", 10.0),
        event_max_attempts=_int("PRSNL_EVENT_MAX_ATTEMPTS", 12),  # then the event is given up (logged, counted)
        event_backoff_seconds=_int("PRSNL_EVENT_BACKOFF_SECONDS", 5),  # 5 s, 10 s, 20 s ... capped at an hour
        event_poll_seconds=_float("PRSNL_EVENT_POLL_SECONDS", 1.0),  # the local worker's look at the outbox
        tracing=_bool("PRSNL_TRACING", False),  # X-Ray through Powertools' Tracer (costs ~0.5 s of cold start)
        ffmpeg_binary=_env("PRSNL_FFMPEG"),
        api_port=_int("PRSNL_API_PORT", 8000),
        aws_port=_int("PRSNL_AWS_PORT", 5000),
        samples_port=_int("PRSNL_SAMPLES_PORT", 8001),
        local_save_seconds=_float("PRSNL_LOCAL_SAVE_SECONDS", 1.0),  # `make run`'s write-through to .local/data
        start_timeout_seconds=_float("PRSNL_START_TIMEOUT_SECONDS", 300.0),  # a live child that never answers
        log_format=_choice("PRSNL_LOG_FORMAT", ("lines", "json")),
        # a Secrets Manager secret holding {"youtube": "<Netscape cookie text>", ...} (PRSNL_COOKIES_<PLATFORM> first)
        platform_cookies_secret=_env("PRSNL_PLATFORM_COOKIES_SECRET"),
        platform_cookies=_per_platform("COOKIES"),
        proxies={**_per_platform("PROXY"), **({"": _env("PRSNL_PROXY")} if _env("PRSNL_PROXY") else {})},
        caption_languages=_languages("PRSNL_CAPTION_LANGUAGES", "en"),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()

