"""An intake item's JSON: what it may say, and every problem with it in words."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ItemMetadata(BaseModel):
    """``name.json`` beside ``name.mp4`` (its JSON Schema is in docs/intake.md)."""

    model_config = ConfigDict(extra="forbid")

    platforms: list[str] | Literal["all"] = Field(description="platform names, or 'all'")
    title: str | None = Field(None, description="default: the file name")
    description: str = ""
    hashtags: list[str] = Field(default_factory=list)
    priority: Literal["normal", "breaking"] = "normal"
    at: str | None = Field(None, description="local time 'YYYY-MM-DD HH:MM' (none: now)")
    timezone: str | None = Field(None, description="IANA zone of `at`")
    fold: Literal[0, 1] | None = None
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-platform options"
    )


class ItemProblems(Exception):
    """Everything wrong with an item, one problem per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse(raw: bytes) -> ItemMetadata:
    """The item's metadata, or ``ItemProblems`` naming every problem."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise ItemProblems([f"the JSON file is not UTF-8: {exc}"]) from None
    except json.JSONDecodeError as exc:
        raise ItemProblems([f"the JSON file is not valid JSON: {exc}"]) from None
    except RecursionError:
        raise ItemProblems(["the JSON file is nested too deeply"]) from None
    except ValueError as exc:  # NaN or Infinity: not JSON, and not storable
        raise ItemProblems([f"the JSON file is not valid JSON: {exc}"]) from None
    try:
        return ItemMetadata.model_validate(data)
    except ValidationError as exc:
        raise ItemProblems(
            [f"{'.'.join(map(str, e['loc'])) or 'the JSON'}: {e['msg']}" for e in exc.errors()]
        ) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
