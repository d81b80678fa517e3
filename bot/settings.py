"""The bot's configuration, read once at start-up from the environment or `.env`."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import render
from bot.errors import UserError
from bot.feeds import DEFAULT_ALLOWED_HOSTS, LOST_AFTER_SECONDS, parse_allowed_hosts
from bot.ratelimits import RateLimits
from bot.timeparse import validate_zone

DISCORD_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{20,}$")
TELEGRAM_TOKEN_RE = re.compile(r"^\d{3,15}:[A-Za-z0-9_\-]{30,}$")
WORKER_ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,100}$")
SHARD_IDS_RE = re.compile(r"^\s*\d+\s*(?:-\s*\d+\s*)?(?:,\s*\d+\s*(?:-\s*\d+\s*)?)*$")
WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """Read `0-3` or `0,2` (or both, `0-1,4`) as sorted shard ids, `none` as none (a worker
    that only sends); raise ValueError if not."""
    if text.strip().lower() == "none":
        return ()
    if not SHARD_IDS_RE.match(text):
        raise ValueError(f"must be shard numbers or ranges such as `0-3` or "
                         f"`0,2`, or `none`; got {text!r}")
    ids: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        low, high = int(first), int(last or first)
        if high < low:
            raise ValueError(f"the range {part.strip()!r} runs backwards")
        ids.update(range(low, high + 1))
    return tuple(sorted(ids))


def default_worker_id() -> str:
    """Return this process's name among workers: the host name and the process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Settings(BaseSettings):
    """Every setting of PRODUCT §6, plus tuning knobs with safe defaults."""

    # An empty value (`GUIDES_DIR=` as .env.example has it) means unset, like a missing line.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", case_sensitive=False,
                                      env_ignore_empty=True)

    discord_token: SecretStr | None = None
    discord_dev_guild_id: int | None = None
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    database_url: str = "sqlite:///watchparty.db"
    guides_dir: Path | None = None
    default_timezone: str = "UTC"
    log_level: str = "INFO"
    grace_period_seconds: float = Field(default=300.0, gt=0)
    countdown_seconds: int = Field(default=10, ge=3, le=60)
    resume_countdown_seconds: int = Field(default=5, ge=3, le=60)
    ready_check_seconds: int = Field(default=120, ge=10, le=3600)
    discord_rate_limits: str = "bot=50/1s; chat=5/5s"
    telegram_rate_limits: str = "bot=30/1s; chat=1/1s,20/60s"
    worker_id: str = Field(default_factory=default_worker_id)
    discord_shard_count: int | None = Field(default=None, ge=1, le=10_000)
    discord_shard_ids: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    multi_worker: bool | None = None
    telegram_poller_lease_seconds: float = Field(default=15.0, ge=2, le=25)
    follow_allowed_hosts: str = DEFAULT_ALLOWED_HOSTS
    feed_lost_after_seconds: float = Field(default=LOST_AFTER_SECONDS, ge=1, le=600)
    syncplay_password: SecretStr | None = None
    jellyfin_api_key: SecretStr | None = None

    @field_validator("discord_token")
    @classmethod
    def _discord_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() and not DISCORD_TOKEN_RE.match(
                value.get_secret_value()):
            raise ValueError("DISCORD_TOKEN does not look like a bot token "
                             "(three dot-separated parts, from the Developer Portal's Bot page)")
        return value or None

    @field_validator("telegram_token")
    @classmethod
    def _telegram_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() and not TELEGRAM_TOKEN_RE.match(
                value.get_secret_value()):
            raise ValueError("TELEGRAM_TOKEN does not look like a bot token "
                             "(digits, a colon, then the secret, as BotFather gives it)")
        return value or None

    @field_validator("worker_id")
    @classmethod
    def _worker_id_shape(cls, value: str) -> str:
        if not WORKER_ID_RE.match(value):
            raise ValueError("WORKER_ID must be 1 to 100 letters, digits or . _ : @ - (no "
                             f"spaces), unique among the running workers; got {value!r}")
        return value

    @field_validator("follow_allowed_hosts")
    @classmethod
    def _follow_allowed_hosts(cls, value: str) -> str:
        return ",".join(parse_allowed_hosts(value))  # raises ValueError saying what is accepted

    @field_validator("syncplay_password", "jellyfin_api_key")
    @classmethod
    def _empty_secret_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("discord_shard_ids")
    @classmethod
    def _shard_ids(cls, value: str | None) -> str | None:
        if value is not None:
            parse_shard_ids(value)  # raises ValueError saying what is accepted
        return value

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host = value.partition("://")[2].split("/", 1)[0].rsplit(":", 1)[0]
        if not (value.startswith("https://") or (value.startswith("http://")
                                                 and host in LOOPBACK_HOSTS)):
            raise ValueError("must be the public https:// address Telegram "
                             f"posts updates to; got {value!r}")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not WEBHOOK_SECRET_RE.match(value.get_secret_value()):
            raise ValueError("must be 1 to 256 letters, digits, _ or - "
                             "(Telegram's rule for secret_token)")
        return value

    @model_validator(mode="after")
    def _together(self) -> Settings:
        if self.telegram_webhook_url and self.telegram_webhook_secret is None:
            raise ValueError("TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: "
                             "set a secret, so only Telegram can post updates to the webhook")
        if self.telegram_webhook_url and self.port is None:
            raise ValueError("TELEGRAM_WEBHOOK_URL is set but PORT is not: name the port this "
                             "worker listens on for the webhook")
        if self.discord_shard_ids is not None:
            if self.discord_shard_count is None:
                raise ValueError("DISCORD_SHARD_IDS is set but DISCORD_SHARD_COUNT is not: "
                                 "give the bot's total number of shards too")
            beyond = [i for i in parse_shard_ids(self.discord_shard_ids)
                      if i >= self.discord_shard_count]
            if beyond:
                raise ValueError(f"DISCORD_SHARD_IDS names shard {beyond[0]}, but "
                                 f"DISCORD_SHARD_COUNT={self.discord_shard_count} has shards 0 to "
                                 f"{self.discord_shard_count - 1}")
        return self

    def shard_ids(self) -> tuple[int, ...] | None:
        """The Discord shards this worker connects; None: one process holds every shard."""
        if self.discord_shard_count is None:
            return None
        if self.discord_shard_ids is None:
            return tuple(range(self.discord_shard_count))
        return parse_shard_ids(self.discord_shard_ids)

    def shares_database(self) -> bool:
        """Whether other workers may share this database (MULTI_WORKER, or PostgreSQL)."""
        if self.multi_worker is not None:
            return self.multi_worker
        return self.database_url.startswith(("postgresql://", "postgres://"))

    def allowed_feed_hosts(self) -> tuple[str, ...]:
        """Return the hosts (`host` or `host:port`) that `follow` may connect to."""
        return parse_allowed_hosts(self.follow_allowed_hosts)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("discord_rate_limits", "telegram_rate_limits")
    @classmethod
    def _rate_limits(cls, value: str) -> str:
        RateLimits.parse(value)  # raises ValueError saying what is accepted
        return value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgres://", "memory://")):
            scheme = value.split("://", 1)[0] if "://" in value else value
            raise ValueError(f"DATABASE_URL scheme {scheme!r} is not supported; use "
                             "sqlite:///PATH or postgresql://…")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            return validate_zone(value)
        except UserError as err:
            raise ValueError(render.error(err).plain()) from None

    @field_validator("guides_dir")
    @classmethod
    def _guides_folder(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder; name a folder of guide .toml files, "
                             "or leave GUIDES_DIR empty")
        return value
