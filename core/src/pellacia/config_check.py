"""Explain what is wrong with a configuration, and show it with secrets masked.

``inspect_config`` loads the settings the way every command does and returns
them with the problems found loading them; ``check_settings`` compares loaded
settings with what the installed plugins provide; ``masked_settings`` is the
effective configuration as plain data with every secret replaced by
``**********``. The CLI (``pellacia-dist config``) only renders these.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import SettingsError

from pellacia.config import KNOWN_LAYERS, Settings, key_path, read_settings
from pellacia.contract import auth_kind, needs_client
from pellacia.log import MASK, redact_text

if TYPE_CHECKING:
    from pellacia.plugins import Registry

Level = Literal["error", "warning"]

#: keys whose values are secret wherever they appear (plugin sections are plain dicts)
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|api[_-]?key|credential|cookie)", re.I)
_URL_KEY = re.compile(r"(url|dsn|proxy)$", re.I)
_BOT_TOKEN = re.compile(r"^\d{5,12}:[A-Za-z0-9_-]{20,}$")
#: spacing below this between two posts of one account is asking for a ban
_MIN_SAFE_INTERVAL = 60.0


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, said so a person can fix it."""

    level: Level
    where: str  # dotted key, e.g. "chains.youtube"
    message: str

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "where": self.where, "message": self.message}


@dataclass
class Inspection:
    """Settings as loaded (None when they could not be) and the problems found."""

    settings: Settings | None
    config_file: Path | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]


# --------------------------------------------------------------------- loading


def inspect_config(config_file: Path | None = None, **overrides: Any) -> Inspection:
    """Load settings like every command does; never raises for a bad file.

    An explicit ``config_file`` that does not exist is an error (the commands
    would silently use defaults). TOML syntax errors keep their line and
    column; validation errors name the key and never echo the value.
    """
    from pellacia.config import default_config_path

    path = config_file or default_config_path()
    inspection = Inspection(settings=None, config_file=path if path.is_file() else None)
    if config_file is not None and not config_file.is_file():
        inspection.problems.append(
            Problem("error", "config", f"config file {config_file} does not exist")
        )
        return inspection
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            inspection.problems.append(
                Problem("error", "config", f"{path} is not valid TOML: {exc}")
            )
            return inspection
        except (OSError, UnicodeDecodeError) as exc:
            inspection.problems.append(Problem("error", "config", f"cannot read {path}: {exc}"))
            return inspection
    try:
        inspection.settings = read_settings(config_file, **overrides)
    except SettingsError as exc:  # a PELLACIA_* variable that should hold JSON does not
        inspection.problems.append(Problem("error", "environment", f"{exc} (it must be JSON)"))
        return inspection
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            where = key_path(error["loc"])
            inspection.problems.append(Problem("error", where, error["msg"]))
        return inspection
    inspection.problems.extend(_unknown_keys(raw, Settings))
    return inspection


def _unknown_keys(
    raw: Mapping[str, Any], model: type[BaseModel], prefix: str = ""
) -> list[Problem]:
    """Keys the settings models do not know: they are ignored, usually a typo."""
    problems: list[Problem] = []
    fields = model.model_fields
    for key, value in raw.items():
        where = f"{prefix}{key}"
        info = fields.get(key)
        if info is None:
            problems.append(Problem("warning", where, f"unknown key {key!r} is ignored"))
            continue
        sub = _submodel(info.annotation)
        if sub is None:
            continue
        kind, model_cls = sub
        if kind == "model" and isinstance(value, Mapping):
            problems.extend(_unknown_keys(value, model_cls, f"{where}."))
        elif kind == "dict" and isinstance(value, Mapping):
            for name, item in value.items():
                if isinstance(item, Mapping):
                    problems.extend(_unknown_keys(item, model_cls, f"{where}.{name}."))
                elif isinstance(item, list):
                    for i, entry in enumerate(item):
                        if isinstance(entry, Mapping):
                            problems.extend(
                                _unknown_keys(entry, model_cls, f"{where}.{name}[{i}].")
                            )
    return problems


def _submodel(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """("model", M) for a nested model field, ("dict", M) for dict[str, M | list[M]]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    args: tuple[Any, ...] = tuple(getattr(annotation, "__args__", ()))
    if getattr(annotation, "__origin__", None) is dict and len(args) == 2:
        value = args[1]
        inner_args: tuple[Any, ...] = tuple(getattr(value, "__args__", (value,)))
        inner = inner_args[-1]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return "dict", inner
    return None


# ---------------------------------------------------------------------- checks


def check_settings(settings: Settings, registry: Registry) -> list[Problem]:
    """Every problem of ``settings`` given the installed plugins, errors first."""
    platforms = set(registry.platforms)
    problems: list[Problem] = []
    problems += _check_platform_names(settings, platforms)
    problems += _check_chains(settings, registry)
    problems += _check_accounts(settings, registry)
    problems += _check_spacing(settings)
    problems += _check_retry(settings)
    problems += _check_routes(settings, registry, platforms)
    problems += _check_telegram(settings, registry)
    problems += _check_plugins(settings, registry)
    problems += _check_misc(settings)
    problems.sort(key=lambda p: 0 if p.level == "error" else 1)
    return problems


def _installed(platforms: Iterable[str]) -> str:
    return ", ".join(sorted(platforms)) or "none"


def _unknown_platform(where: str, name: str, platforms: set[str]) -> Problem:
    return Problem(
        "error",
        where,
        f"no installed plugin provides platform {name!r} (installed: {_installed(platforms)}); "
        "check the spelling or install its plugin",
    )


def _check_platform_names(settings: Settings, platforms: set[str]) -> list[Problem]:
    problems = []
    for section, names in (
        ("accounts", settings.accounts),
        ("chains", settings.chains),
        ("spacing_overrides", settings.spacing_overrides),
    ):
        for name in names:
            if name not in platforms:
                problems.append(_unknown_platform(f"{section}.{name}", name, platforms))
    return problems


def _check_chains(settings: Settings, registry: Registry) -> list[Problem]:
    problems = []
    has_vpn_route = any(route.kind != "direct" for route in registry.routes.values())
    for platform, chain in settings.chains.items():
        where = f"chains.{platform}"
        if not chain:
            problems.append(
                Problem(
                    "error", where, "empty chain: nothing would ever publish; end it with 'manual'"
                )
            )
            continue
        for layer in chain:
            if layer not in KNOWN_LAYERS:
                known = ", ".join(sorted(KNOWN_LAYERS))
                problems.append(
                    Problem("error", where, f"unknown layer {layer!r} (known layers: {known})")
                )
        dupes = sorted({layer for layer in chain if chain.count(layer) > 1})
        if dupes:
            problems.append(Problem("warning", where, f"layer(s) listed twice: {', '.join(dupes)}"))
        if chain[-1] != "manual":
            problems.append(
                Problem(
                    "warning",
                    where,
                    "chain does not end with 'manual': a post that every layer fails is only "
                    "marked failed instead of waiting in the manual queue",
                )
            )
        if "manual" in chain[:-1]:
            problems.append(Problem("warning", where, "layers after 'manual' are never reached"))
        if not has_vpn_route and any(layer.endswith("+vpn") for layer in chain):
            problems.append(
                Problem(
                    "warning",
                    where,
                    "the '+vpn' layers are skipped: no VPN/proxy route is configured "
                    "(install pellacia-dist-vpn and add [plugins.vpn.routes.<name>])",
                )
            )
        if any(
            layer.startswith("browser") for layer in chain
        ) and not registry.browser_uploaders.get(platform):
            problems.append(
                Problem(
                    "warning",
                    where,
                    f"the 'browser' layers are skipped: no browser uploader for {platform!r} "
                    "is installed",
                )
            )
    return problems


def _check_accounts(settings: Settings, registry: Registry) -> list[Problem]:
    problems = []
    for platform, accounts in settings.accounts.items():
        seen: set[str] = set()
        auth = getattr(registry.platforms.get(platform), "auth", None)
        kind = auth_kind(auth).value if auth is not None and needs_client(auth) else None
        for i, account in enumerate(accounts):
            where = f"accounts.{platform}[{i}]"
            if account.name in seen:
                problems.append(
                    Problem("error", where, f"account name {account.name!r} is used twice")
                )
            seen.add(account.name)
            if kind is not None and not account.client_id:
                problems.append(
                    Problem(
                        "error",
                        where,
                        f"account {account.name!r} has no client_id: {platform}'s "
                        f"{kind} sign-in needs the OAuth app's client_id",
                    )
                )
            if account.client_secret is not None and not account.client_id:
                problems.append(
                    Problem("error", where, "client_secret is set but client_id is missing")
                )
    return problems


def _check_spacing(settings: Settings) -> list[Problem]:
    problems = []
    items = [("spacing", settings.spacing)] + [
        (f"spacing_overrides.{name}", spacing)
        for name, spacing in settings.spacing_overrides.items()
    ]
    for where, spacing in items:
        if spacing.min_interval == 0 and spacing.jitter == 0:
            problems.append(
                Problem(
                    "warning",
                    where,
                    "no spacing at all: posts on one account go out back to back, which "
                    "platforms treat as spam",
                )
            )
        elif spacing.min_interval < _MIN_SAFE_INTERVAL:
            problems.append(
                Problem(
                    "warning",
                    where,
                    f"min_interval of {spacing.min_interval:g} s is below "
                    f"{_MIN_SAFE_INTERVAL:g} s: accounts risk being flagged",
                )
            )
        if spacing.jitter > 2 * max(spacing.min_interval, 1.0) and spacing.min_interval > 0:
            problems.append(
                Problem(
                    "warning",
                    where,
                    f"jitter ({spacing.jitter:g} s) is more than twice min_interval "
                    f"({spacing.min_interval:g} s): the schedule becomes mostly random",
                )
            )
        if spacing.breaking_floor > spacing.min_interval:
            problems.append(
                Problem(
                    "warning",
                    where,
                    "breaking_floor is longer than min_interval: breaking news would be "
                    "spaced further apart than normal posts",
                )
            )
    return problems


def _check_retry(settings: Settings) -> list[Problem]:
    retry = settings.retry
    if retry.max_delay < retry.base_delay:
        return [
            Problem(
                "error",
                "retry",
                f"max_delay ({retry.max_delay:g} s) is shorter than base_delay "
                f"({retry.base_delay:g} s)",
            )
        ]
    return []


def _check_routes(settings: Settings, registry: Registry, platforms: set[str]) -> list[Problem]:
    problems = []
    vpn_section = settings.plugins.get("vpn", {})
    plugin_routes = vpn_section.get("routes", {}) if isinstance(vpn_section, Mapping) else {}
    if plugin_routes and "vpn" not in {info.name for info in registry.plugins}:
        problems.append(
            Problem(
                "error",
                "plugins.vpn.routes",
                "routes are configured but the vpn plugin is not installed "
                "(pip install pellacia-dist-vpn)",
            )
        )
    if isinstance(plugin_routes, Mapping):
        for name, route in plugin_routes.items():
            if not isinstance(route, Mapping):
                continue
            for platform in route.get("platforms", []) or []:
                if platform not in platforms:
                    problems.append(
                        _unknown_platform(
                            f"plugins.vpn.routes.{name}.platforms", platform, platforms
                        )
                    )
    return problems


def _check_telegram(settings: Settings, registry: Registry) -> list[Problem]:
    problems: list[Problem] = []
    section = settings.plugins.get("telegram")
    if not isinstance(section, Mapping) or not section:
        return problems
    where = "plugins.telegram"
    token = section.get("bot_token")
    chat = section.get("chat_id")
    if not token:
        problems.append(Problem("error", where, "bot_token is missing: no alert can be sent"))
    elif not isinstance(token, str) or not _BOT_TOKEN.match(token):
        problems.append(
            Problem(
                "error",
                f"{where}.bot_token",
                "bot_token does not look like a Bot API token (digits, a colon, then letters)",
            )
        )
    if chat is None or chat == "":
        problems.append(Problem("error", where, "chat_id is missing: no alert can be sent"))
    elif isinstance(chat, str) and not (chat.startswith("@") or chat.lstrip("-").isdigit()):
        problems.append(
            Problem(
                "error",
                f"{where}.chat_id",
                "chat_id must be a number (e.g. -1001234567890) or an @channelusername",
            )
        )
    base_url = section.get("base_url")
    if base_url and not str(base_url).startswith(("http://", "https://")):
        problems.append(
            Problem("error", f"{where}.base_url", "base_url must start with http:// or https://")
        )
    if "telegram" not in {info.name for info in registry.plugins}:
        problems.append(
            Problem(
                "error",
                where,
                "Telegram is configured but its plugin is not installed "
                "(pip install pellacia-dist-telegram)",
            )
        )
    return problems


def _check_plugins(settings: Settings, registry: Registry) -> list[Problem]:
    problems = []
    names = {info.name for info in registry.plugins}
    for name in settings.plugins:
        if name not in names:
            problems.append(
                Problem(
                    "warning",
                    f"plugins.{name}",
                    f"no installed plugin is called {name!r}: this section is not used",
                )
            )
    for info in registry.plugins:
        if info.error:
            # a plugin refusing its own section is a configuration error to fix
            level: Level = "error" if info.error.startswith("ConfigError") else "warning"
            problems.append(
                Problem(level, f"plugins.{info.name}", f"plugin failed to load: {info.error}")
            )
    return problems


def _check_misc(settings: Settings) -> list[Problem]:
    problems = []
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(
                "error",
                "timezone",
                f"unknown time zone {settings.timezone!r}: use an IANA name like Europe/Paris",
            )
        )
    if settings.sandbox_url and not settings.sandbox_url.startswith(("http://", "https://")):
        problems.append(Problem("error", "sandbox_url", "sandbox_url must start with http://"))
    return problems


# ---------------------------------------------------------------------- show


def mask_url(url: str) -> str:
    """``url`` with its password (or a lone user token) replaced by the mask."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None and parts.username is None:
        return redact_text(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    netloc = f"{user}:{MASK}@{host}"
    return parts._replace(netloc=netloc).geturl()


def _mask(key: str, value: Any) -> Any:
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        if "://" in secret:
            return mask_url(secret)
        return MASK if secret else ""
    if isinstance(value, Mapping):
        return {str(k): _mask(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(key, v) for v in value]
    if isinstance(value, str):
        if _SECRET_KEY.search(key) and value:
            return MASK
        if "://" in value or _URL_KEY.search(key):
            return mask_url(value)
        return redact_text(value)
    if isinstance(value, Path):
        return str(value)
    return value


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The effective settings as JSON-able data, every secret masked."""
    data: dict[str, Any] = {}
    for name in Settings.model_fields:
        data[name] = _dump(getattr(settings, name))
    return {key: _mask(key, value) for key, value in data.items()}


def _dump(value: Any) -> Any:
    # SecretStr stays an object so _mask can recognise it; models become dicts.
    if isinstance(value, BaseModel):
        return {name: _dump(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, Mapping):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return value


def sources(settings: Settings) -> dict[str, Any]:
    """Where the settings came from: the config file and which environment names."""
    env = sorted(name for name in os.environ if name.startswith("PELLACIA_"))
    if "DATABASE_URL" in os.environ:
        env.append("DATABASE_URL")
    dotenv = Path(".env")
    return {
        "config_file": str(settings.config_file) if settings.config_file else None,
        "environment": env,
        "dotenv": str(dotenv.resolve()) if dotenv.is_file() else None,
    }
