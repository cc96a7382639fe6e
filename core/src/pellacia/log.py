"""Structured logging (structlog): console for people, JSON with ``--log-json``.

A redaction processor runs last-but-one on every event so nothing
secret-shaped reaches a log line, whatever a caller passed.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(
    r"(token|secret|password|passwd|authorization|api[_-]?key|cookie|credential|dsn|proxy)",
    re.IGNORECASE,
)
_SECRET_VALUES = [
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)(access_token|refresh_token|client_secret|code_verifier|upload_token)=[^&\s\"']+"
    ),
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"),  # Telegram bot tokens
    re.compile(r"(?i)(postgres(?:ql)?://[^:/\s]+:)[^@\s]+@"),  # DSN passwords
    re.compile(r"(?i)(https?|socks5h?)://[^:/\s]+:[^@\s]+@"),  # credentials in proxy URLs
]
MASK = "**********"


def redact_text(text: str) -> str:
    """``text`` with anything token- or password-shaped masked."""
    for pattern in _SECRET_VALUES:
        text = pattern.sub(lambda m: _mask_match(m), text)
    return text


def _mask_match(match: re.Match[str]) -> str:
    whole = match.group(0)
    if match.lastindex and match.group(1) and whole.startswith(match.group(1)):
        prefix = match.group(1)
        if prefix.endswith(":"):
            return f"{prefix}{MASK}@"
        if "://" in whole and not prefix.endswith("="):
            return f"{prefix}://{MASK}@"
        return f"{prefix}={MASK}"
    return MASK


def _redact_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return MASK if _SECRET_KEYS.search(key) and value else redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def redact_processor(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named fields and secret-shaped values."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact_value(key if key != "event" else "", value)
    return event_dict


def configure_logging(level: str = "info", json: bool = False) -> None:
    """Set up structlog (and stdlib logging through it) once per process; logs go to stderr."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)


def get_logger(name: str | None = None, **bound: Any) -> Any:
    """A structlog logger; ``bound`` values are attached to every event."""
    return structlog.get_logger(name).bind(**bound) if bound else structlog.get_logger(name)
