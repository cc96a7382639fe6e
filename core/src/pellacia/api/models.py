"""Request and response bodies of the REST API (pydantic)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PostFields(BaseModel):
    """What a post says; the video comes as a server-side path or an upload."""

    model_config = ConfigDict(extra="forbid")

    platforms: list[str] = Field(min_length=1, description="platform names, or ['all']")
    title: str | None = Field(None, max_length=5000, description="default: the file name")
    description: str = Field("", max_length=100_000)
    hashtags: list[str] = Field(default_factory=list, max_length=200)
    priority: Literal["normal", "breaking"] = "normal"
    at: str | None = Field(None, description="local time 'YYYY-MM-DD HH:MM' (none: now)")
    timezone: str | None = Field(None, description="IANA zone of `at` (default from config)")
    fold: Literal[0, 1] | None = Field(None, description="for a time that happens twice")
    allow_past: bool = False
    allow_duplicate: bool = False
    test: bool = Field(False, description="post to the sandbox")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-platform options, e.g. {'youtube': {...}}"
    )


class PostCreate(PostFields):
    path: str = Field(min_length=1, max_length=4096, description="the video, under an allowed root")


class CreatedDeliveryOut(BaseModel):
    id: uuid.UUID
    platform: str
    account: str


class PostCreated(BaseModel):
    post_id: uuid.UUID
    sha256: str
    size: int
    scheduled_at: datetime | None
    timezone: str | None
    deliveries: list[CreatedDeliveryOut]


class DeliveryBrief(BaseModel):
    id: uuid.UUID
    platform: str
    account: str
    state: str
    remote_url: str | None


class PostSummary(BaseModel):
    id: uuid.UUID
    title: str
    priority: str
    scheduled_at: datetime | None
    timezone: str | None
    is_test: bool
    created_at: datetime
    deliveries: list[DeliveryBrief]


class PostPage(BaseModel):
    items: list[PostSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class Attempt(BaseModel):
    attempt: int
    layer: str
    route: str | None
    worker: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error_class: str | None
    error: str | None
    bytes_sent: int | None


class Delivery(BaseModel):
    id: uuid.UUID
    post_id: uuid.UUID
    platform: str
    account: str
    state: str
    priority: int
    due_at: datetime
    wait_reason: str | None
    attempts: int
    layer: str | None
    remote_id: str | None
    remote_url: str | None
    published_at: datetime | None
    outcome_unknown: bool
    last_error: str | None
    manual_package: str | None
    created_at: datetime
    updated_at: datetime
    history: list[Attempt] = Field(default_factory=list)


class Post(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    hashtags: list[str]
    priority: str
    scheduled_at: datetime | None
    timezone: str | None
    is_test: bool
    video_sha256: str
    video_size: int
    created_at: datetime
    deliveries: list[Delivery]


class CancelOut(BaseModel):
    delivery_id: uuid.UUID
    platform: str
    outcome: str = Field(description="cancelled | requested | publishing | already final state")


class RetryOut(BaseModel):
    id: uuid.UUID
    previous_state: str
    state: str


class ScheduledRow(BaseModel):
    post_id: uuid.UUID
    title: str
    priority: str
    scheduled_at: datetime | None
    timezone: str | None
    is_test: bool
    delivery_id: uuid.UUID
    platform: str
    account: str
    state: str
    due_at: datetime
    wait_reason: str | None
    remote_url: str | None
    last_error: str | None


class AccountWindowOut(BaseModel):
    platform: str
    account: str
    next_at: datetime | None
    last_dispatch_at: datetime | None
    in_flight: int
    queued: int
    breaking_active: bool
    blocked_until: datetime | None
    block_reason: str | None


class WaitingOut(BaseModel):
    id: uuid.UUID
    platform: str
    account: str
    state: str
    due_at: datetime
    reason: str
    until: datetime | None


class BudgetOut(BaseModel):
    bucket: str
    used: int
    window_end: datetime | None
    blocked_until: datetime | None
    reason: str | None


class QueueStatusOut(BaseModel):
    now: datetime
    counts: dict[str, dict[str, int]]
    next_due: datetime | None
    accounts: list[AccountWindowOut]
    waiting: list[WaitingOut]
    budgets: list[BudgetOut]


class ManualItemOut(BaseModel):
    delivery_id: uuid.UUID
    post_id: uuid.UUID
    platform: str
    account: str
    title: str
    outcome_unknown: bool
    last_error: str | None
    package: str | None
    since: datetime


class ResolveIn(BaseModel):
    post_url: str = Field(max_length=2000, description="the URL of the post made by hand")


class ResolveOut(BaseModel):
    delivery_id: uuid.UUID
    remote_id: str
    url: str


class AccountOut(BaseModel):
    platform: str
    account: str
    bound_to: str | None
    expires_at: datetime | None
    refresh_expires_at: datetime | None
    scopes: list[str]
    updated_at: datetime
    status: str = Field(description="token health: ok, or what expired and what to do")


class PluginOut(BaseModel):
    name: str
    distribution: str | None
    version: str | None
    provides: list[str]
    error: str | None


class RouteOut(BaseModel):
    name: str
    kind: str | None = Field(description="direct | proxy (None: no longer installed)")
    installed: bool
    last_24h: dict[str, int] = Field(description="attempts per outcome over the last 24 h")


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
