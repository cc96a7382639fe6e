"""Properties of config loading: any file, any ``PELLACIA_*`` value gives settings
or a one-line ``ConfigError`` naming the file or key, never a traceback and
never the value of a secret; ``config check`` never raises on any of them."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pellacia.config import Settings, load_settings
from pellacia.config_check import inspect_config
from pellacia.errors import ConfigError
from pellacia.testing.fuzz import fuzz_settings
from pydantic import BaseModel

SECRET = "fuzz-s3cret-value"

# ---------------------------------------------------------------- a TOML writer


def _toml(value: Any) -> str:
    """``value`` as an inline TOML value (tables inline, strings JSON-escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_string(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def document(data: dict[str, Any]) -> str:
    return "".join(f"{_string(key)} = {_toml(value)}\n" for key, value in data.items())


texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    texts,
    st.just(SECRET),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=8,
)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside ``annotation`` (``X``, ``list[X]``, ``dict[str, list[X]]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def tables(model: type[BaseModel], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Tables that use ``model``'s own keys (plus a typo) with any values: the
    validation of every field is reached, not only "unknown key"."""
    keys = [*sorted(model.model_fields), "typo_key"]

    def value_for(key: str) -> st.SearchStrategy[Any]:
        info = model.model_fields.get(key)
        sub = _model_of(info.annotation) if info is not None else None
        if sub is None or depth > 1:
            return values
        table = tables(sub, depth + 1)
        # a table where one is expected, a list of them, a dict of lists of them
        return st.one_of(
            values, table, st.lists(table, max_size=2), st.dictionaries(texts, st.lists(table))
        )

    return st.lists(st.sampled_from(keys), unique=True, max_size=5).flatmap(
        lambda chosen: st.fixed_dictionaries({k: value_for(k) for k in chosen})
    )


@pytest.fixture
def clean_env(tmp_path: Path) -> Iterator[Path]:
    """No PELLACIA_* variable and no .env from the developer's shell."""
    saved = {
        k: v for k, v in os.environ.items() if k.startswith("PELLACIA_") or k == "DATABASE_URL"
    }
    for name in saved:
        del os.environ[name]
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)
        os.environ.update(saved)


def _loads_or_config_error(path: Path, names: str | None = None) -> Settings | ConfigError:
    """Settings, or a ``ConfigError`` on one line that names ``names`` (default: the file)."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        assert SECRET not in message
        assert (names or str(path)) in message
        return exc


@fuzz_settings(max_examples=150)
@given(data=tables(Settings))
@example(data={"spacing": 3})  # a table's place: was a pydantic traceback from every command
@example(data={"secret_key": [SECRET]})  # never echoed
@example(data={"accounts": {"youtube": [{"client_secret": {"x": SECRET}}]}})
@example(data={"lease_seconds": "nan"})
@example(data={"accounts": {"x": [{"base_url": SECRET}]}})  # was echoed in the error
@example(data={"accounts": {"x": [{"slots": [SECRET]}]}})  # was echoed in the error
@example(data={"spacing_overrides": {"\n": 0}})  # a key with a newline made the message two lines
def test_any_toml_table_is_settings_or_a_config_error(
    clean_env: Path, data: dict[str, Any]
) -> None:
    text = document(data)
    path = clean_env / "config.toml"
    path.write_text(text, encoding="utf-8")
    import tomllib

    assert tomllib.loads(text) == data or _has_nan(data)  # the writer itself round-trips
    loaded = _loads_or_config_error(path)
    inspection = inspect_config(path)  # never raises; errors exactly when loading fails
    if isinstance(loaded, ConfigError):
        assert inspection.errors


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return False


@fuzz_settings(max_examples=100)
@given(raw=st.one_of(st.binary(max_size=200), texts.map(str.encode)))
@example(raw=b"a = [\n")  # was a tomllib traceback from every command
@example(raw=b"\xff\xfe")  # not UTF-8
@example(raw=b'secret_key = "' + SECRET.encode() + b"\n")  # unterminated: not echoed? (line only)
def test_any_bytes_are_settings_or_a_config_error(clean_env: Path, raw: bytes) -> None:
    path = clean_env / "config.toml"
    path.write_bytes(raw)
    _loads_or_config_error(path)
    inspect_config(path)


@fuzz_settings(max_examples=100)
@given(
    name=st.sampled_from(
        [
            "PELLACIA_LEASE_SECONDS",
            "PELLACIA_SPACING__MIN_INTERVAL",
            "PELLACIA_LOG_LEVEL",
            "PELLACIA_LOG_JSON",
            "PELLACIA_ACCOUNTS",
            "PELLACIA_API__ALLOWED_ROOTS",
            "PELLACIA_RETRY__TRIES_PER_LAYER",
            "PELLACIA_SECRET_KEY",
            "PELLACIA_INTAKE__FOLDERS",
        ]
    ),
    value=st.one_of(texts.filter(lambda s: "\x00" not in s), values.map(json.dumps)),
)
@example(name="PELLACIA_ACCOUNTS", value="{")  # not JSON
@example(name="PELLACIA_LEASE_SECONDS", value="soon")
def test_any_environment_value_is_settings_or_a_config_error(
    clean_env: Path, name: str, value: str
) -> None:
    empty = clean_env / "empty.toml"
    empty.write_text("")
    os.environ[name] = value
    try:
        loaded = _loads_or_config_error(empty, names="PELLACIA_")
        inspection = inspect_config(empty)  # never raises either
        if isinstance(loaded, ConfigError):
            assert inspection.errors
    finally:
        del os.environ[name]
