"""Configuration: environment (``PELLACIA_*``), ``.env``, and a TOML file.

Precedence, highest first: explicit arguments, environment, ``.env``, the
TOML config file (``--config``, ``PELLACIA_CONFIG``, or ``config.toml`` in the
user config directory). Nested keys use ``__`` in the environment, e.g.
``PELLACIA_SPACING__MIN_INTERVAL=600``.

Secrets are ``SecretStr``: they print as ``**********`` everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP_NAME = "pellacia-dist"

#: The chain of DESIGN §4; layers whose plugin is absent are skipped.
DEFAULT_CHAIN: tuple[str, ...] = ("api", "api+vpn", "browser", "browser+vpn", "manual")
KNOWN_LAYERS = frozenset(DEFAULT_CHAIN)


def default_config_path() -> Path:
    """Where the config file lives unless ``--config``/``PELLACIA_CONFIG`` says otherwise."""
    env = os.environ.get("PELLACIA_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


class AccountSettings(BaseModel):
    """One account on one platform, and the OAuth app used to reach it."""

    name: str = "default"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    #: the account's own API base: the instance of a federated platform
    #: (``https://video.example.org``); plugins reach it through ``ctx.endpoint()``
    base_url: str | None = None
    #: per-platform defaults merged into every post's options (privacy, mode, ...)
    options: dict[str, Any] = Field(default_factory=dict)
    #: posting slots ("HH:MM" in ``timezone``) for ``schedule --at next-slot``
    slots: list[str] = Field(default_factory=list)
    #: the account's IANA zone (slots, best times); default: the top-level ``timezone``
    timezone: str | None = None

    @field_validator("slots")
    @classmethod
    def _hh_mm(cls, value: list[str]) -> list[str]:
        import re

        for number, slot in enumerate(value, 1):
            if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", slot):
                # the value is not echoed: config errors never show what was written
                raise ValueError(f"slots are 'HH:MM' (24 h); slot {number} is not")
        return sorted(set(value))

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            # not echoed: the URL may carry a user and password
            raise ValueError("base_url must be an http(s) URL with a host")
        return value.rstrip("/")


class SpacingSettings(BaseModel):
    """How far apart posts on one (platform, account) must be."""

    min_interval: float = Field(default=1800.0, ge=0, description="seconds between two posts")
    jitter: float = Field(default=900.0, ge=0, description="random extra seconds, up to this")
    breaking_floor: float = Field(default=0.0, ge=0, description="seconds between breaking posts")


class RetrySettings(BaseModel):
    """Retries inside one fallback layer (exponential backoff)."""

    #: failed tries in a row *without progress* before the next layer (a try
    #: that got new bytes acknowledged does not count)
    tries_per_layer: int = Field(default=5, ge=1, le=20)
    base_delay: float = Field(default=1.0, gt=0)
    max_delay: float = Field(default=16.0, gt=0)
    #: seconds a layer may keep failing (moving or not) before the next layer
    layer_time_limit: float = Field(default=6 * 3600.0, gt=0)
    #: once the video is uploaded, how often to check whether the platform is done
    #: with it (keep under the platform's status rate limit) ...
    processing_check_every: float = Field(default=60.0, gt=0)
    #: ... and after how long a person is asked to check it (never to upload again)
    processing_give_up_after: float = Field(default=6 * 3600.0, gt=0)


class AlertSettings(BaseModel):
    """Which alerts reach the sinks (Telegram etc. are configured in their plugin's section)."""

    min_level: Literal["info", "warning", "critical"] = "warning"


class ApiSettings(BaseModel):
    """``[api]``: the REST API of ``pellacia-dist serve``."""

    #: folders whose files a client may name as a post's video (a path outside is refused)
    allowed_roots: list[Path] = Field(default_factory=list)
    #: browser origins allowed to call the API (the editorial dashboard)
    cors_origins: list[str] = Field(default_factory=list)
    #: the largest request body; uploads are streamed to disk, never held in memory
    max_upload_bytes: int = Field(default=8 * 1024**3, gt=0)
    max_body_bytes: int = Field(default=1024**2, gt=0, description="any other request")
    #: requests per minute for one API key (a burst of ``rate_burst`` at once)
    rate_per_minute: float = Field(default=600.0, gt=0)
    rate_burst: int = Field(default=60, ge=1)
    #: /healthz and /readyz, /metrics without an API key
    public_health: bool = True
    public_metrics: bool = False


class WebhookSettings(BaseModel):
    """``[webhooks]``: lifecycle events to dashboards, signed the Standard Webhooks way."""

    #: targets on loopback, private or link-local addresses are refused unless allowed
    allow_private: bool = False
    #: when set, the only hosts a webhook may target (whatever they resolve to)
    allowed_hosts: list[str] = Field(default_factory=list)
    #: a message is retried with backoff for this long, then given up
    retry_hours: float = Field(default=24.0, gt=0)
    #: an endpoint failing without a success for this long is disabled, with an alert
    disable_after_hours: float = Field(default=24.0, gt=0)
    timeout: float = Field(default=10.0, gt=0, description="seconds per request")
    #: how often pending messages are looked for (serve and worker both dispatch)
    interval: float = Field(default=2.0, gt=0)


class IntakeSettings(BaseModel):
    """``[intake]``: folders the production stage drops ``name.mp4`` + ``name.json`` into."""

    #: watched by ``serve`` and ``worker`` (``pellacia-dist watch DIR`` watches one more)
    folders: list[Path] = Field(default_factory=list)
    #: a video written after its JSON counts once unchanged for this long
    settle_seconds: float = Field(default=5.0, ge=0)
    #: a full look at each folder this often, in case a file event was missed
    rescan_seconds: float = Field(default=30.0, gt=0)
    #: move submitted items to ``accepted/`` (else they stay, and are never sent again)
    move_accepted: bool = True


class Settings(BaseSettings):
    """All of pellacia-dist's settings."""

    model_config = SettingsConfigDict(
        env_prefix="PELLACIA_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    database_url: SecretStr | None = Field(
        None, validation_alias=AliasChoices("PELLACIA_DATABASE_URL", "DATABASE_URL", "database_url")
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    secret_key: SecretStr | None = None
    sandbox_url: str | None = None
    #: None: "info" for the worker, "warning" for interactive commands
    log_level: Literal["debug", "info", "warning", "error"] | None = None
    log_json: bool = False
    timezone: str = "UTC"  # default for --timezone

    accounts: dict[str, list[AccountSettings]] = Field(default_factory=dict)
    chains: dict[str, list[str]] = Field(default_factory=dict)
    spacing: SpacingSettings = Field(default_factory=SpacingSettings)
    spacing_overrides: dict[str, SpacingSettings] = Field(default_factory=dict)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: the collector's cadence and budgets (checked by ``pellacia.analytics.settings``)
    analytics: dict[str, Any] = Field(default_factory=dict)
    lease_seconds: float = Field(default=15.0, gt=1)
    api: ApiSettings = Field(default_factory=ApiSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)

    # the TOML file in use; set by load_settings
    config_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = _active_toml_path
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if toml_path is not None and toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    def chain_for(self, platform: str) -> list[str]:
        """The fallback chain configured for ``platform`` (DESIGN §4 by default)."""
        return list(self.chains.get(platform, DEFAULT_CHAIN))

    def spacing_for(self, platform: str) -> SpacingSettings:
        return self.spacing_overrides.get(platform, self.spacing)

    def accounts_for(self, platform: str) -> list[AccountSettings]:
        return self.accounts.get(platform) or [AccountSettings()]

    def account(self, platform: str, name: str) -> AccountSettings:
        for account in self.accounts_for(platform):
            if account.name == name:
                return account
        return AccountSettings(name=name)


_active_toml_path: Path | None = None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from every source; ``config_file`` wins over the default path.

    A file that is not TOML, cannot be read, or holds a value of the wrong kind
    (in it or in a ``PELLACIA_*`` variable) is a ``ConfigError`` naming the file,
    the line or the key, never the value (it may be a secret).
    """
    import tomllib

    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from pellacia.errors import ConfigError

    where = config_file or default_config_path()
    try:
        return read_settings(config_file, **overrides)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {where} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file {where}: {exc}") from None
    except SettingsError as exc:  # a PELLACIA_* variable that should hold JSON does not
        raise ConfigError(f"invalid PELLACIA_* environment: {exc} (it must be JSON)") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{key_path(error['loc'])}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError(
            f"invalid settings (config file {where} or PELLACIA_* environment): {problems}"
            " (pellacia-dist config check explains)"
        ) from None


def key_path(loc: tuple[int | str, ...]) -> str:
    """``spacing.min_interval`` for a validation error's location; a key the user
    wrote with odd characters (a newline, a dot) is quoted, so the path stays one line."""
    parts = [
        part
        if isinstance(part, int) or (part.isprintable() and part.strip() == part and part)
        else repr(part)
        for part in loc
    ]
    return ".".join(str(part) for part in parts) or "config"


def read_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """``load_settings`` that lets pydantic's and tomllib's own errors through
    (``config check`` reports each of them)."""
    global _active_toml_path
    _active_toml_path = config_file or default_config_path()
    try:
        settings = Settings(**overrides)
    finally:
        path, _active_toml_path = _active_toml_path, None
    settings.config_file = path if path.is_file() else None
    return settings
