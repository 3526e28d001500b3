"""Configuration from the environment, validated once at start-up.

Every error names the variable and the fix; the process exits with status 2
before it touches PostgreSQL or Redis.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .faults import Faults

# A release baked into an image (see app/Dockerfile) can carry faults in this
# file; the environment wins over it.
BAKED_ENV_FILE = Path("/etc/agent-platform/release.env")
# The API listens on the container's interface.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104  # nosec B104
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class SettingsError(ValueError):
    """A variable is missing or malformed; the message says which and how to fix it."""


def _baked_env(path: Path = BAKED_ENV_FILE) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def _int(env: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not an integer; set a whole number between {lo} and {hi}"
        ) from None
    if not lo <= value <= hi:
        raise SettingsError(
            f"{name}={value} is out of range; set a whole number between {lo} and {hi}"
        )
    return value


def _database_url(env: dict[str, str]) -> str:
    url = env.get("DATABASE_URL", "")
    if not url:
        raise SettingsError(
            "DATABASE_URL is not set; set it to postgresql://USER:PASSWORD@HOST:5432/DBNAME"
        )
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise SettingsError(
        "DATABASE_URL must start with postgresql://; for example postgresql://agents:secret@db1:5432/agents"
    )


def _redis_url(env: dict[str, str]) -> str:
    url = env.get("REDIS_URL", "")
    if not url:
        raise SettingsError("REDIS_URL is not set; set it to redis://HOST:6379/0")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(
            "REDIS_URL must start with redis://, rediss:// or unix://; for example redis://db1:6379/0"
        )
    return url


def _key_hashes(env: dict[str, str]) -> tuple[str, ...]:
    raw = env.get("PLATFORM_API_KEY_SHA256", "")
    hashes = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    for h in hashes:
        if not _SHA256_HEX.match(h):
            raise SettingsError(
                "PLATFORM_API_KEY_SHA256 holds a value that is not a SHA-256 hex digest; "
                "make one with: python -m agent_platform keygen"
            )
    return hashes


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    release: str = "dev"
    git_sha: str = "unknown"
    build_time: str = "unknown"
    api_key_sha256: tuple[str, ...] = ()
    rate_limit_per_minute: int = 1200
    max_body_bytes: int = 65536
    host: str = ALL_INTERFACES
    port: int = 8000
    log_level: str = "INFO"
    worker_grace_seconds: int = 20
    worker_concurrency: int = 4
    heartbeat_seconds: int = 2
    worker_dead_after_seconds: int = 10
    task_max_attempts: int = 5
    anthropic_api_key: str = field(default="", repr=False)
    llm_model: str = "claude-sonnet-4-5"
    faults: Faults = field(default_factory=Faults)

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, baked: dict[str, str] | None = None
    ) -> Settings:
        env = dict(_baked_env() if baked is None else baked)
        env.update(os.environ if environ is None else environ)
        level = (env.get("PLATFORM_LOG_LEVEL") or cls.log_level).upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise SettingsError(
                f"PLATFORM_LOG_LEVEL={level!r} is not a level; use DEBUG, INFO, WARNING or ERROR"
            )
        heartbeat = _int(env, "PLATFORM_HEARTBEAT_SECONDS", cls.heartbeat_seconds, 1, 60)
        dead_after = _int(
            env, "PLATFORM_WORKER_DEAD_AFTER_SECONDS", cls.worker_dead_after_seconds, 2, 600
        )
        if dead_after <= heartbeat:
            raise SettingsError(
                "PLATFORM_WORKER_DEAD_AFTER_SECONDS must be greater than "
                "PLATFORM_HEARTBEAT_SECONDS; three heartbeats or more is a good margin"
            )
        return cls(
            database_url=_database_url(env),
            redis_url=_redis_url(env),
            release=env.get("PLATFORM_RELEASE") or cls.release,
            git_sha=env.get("PLATFORM_GIT_SHA") or cls.git_sha,
            build_time=env.get("PLATFORM_BUILD_TIME") or cls.build_time,
            api_key_sha256=_key_hashes(env),
            rate_limit_per_minute=_int(
                env, "PLATFORM_RATE_LIMIT_PER_MINUTE", cls.rate_limit_per_minute, 0, 10_000_000
            ),
            max_body_bytes=_int(env, "PLATFORM_MAX_BODY_BYTES", cls.max_body_bytes, 1024, 64 << 20),
            host=env.get("PLATFORM_HOST") or cls.host,
            port=_int(env, "PLATFORM_PORT", cls.port, 1, 65535),
            log_level=level,
            worker_grace_seconds=_int(
                env, "PLATFORM_WORKER_GRACE_SECONDS", cls.worker_grace_seconds, 0, 3600
            ),
            worker_concurrency=_int(
                env, "PLATFORM_WORKER_CONCURRENCY", cls.worker_concurrency, 1, 64
            ),
            heartbeat_seconds=heartbeat,
            worker_dead_after_seconds=dead_after,
            task_max_attempts=_int(
                env, "PLATFORM_TASK_MAX_ATTEMPTS", cls.task_max_attempts, 1, 100
            ),
            anthropic_api_key=env.get("ANTHROPIC_API_KEY", ""),
            llm_model=env.get("PLATFORM_LLM_MODEL") or cls.llm_model,
            faults=Faults.from_env(env),
        )
