"""Row types shared by the scheduler (claims) and the delivery executor."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


class DeliveryState(enum.StrEnum):
    """The delivery state machine (DESIGN §3).

    pending → ready → claimed → uploading → publishing → published, or
    retry_wait (back to the queue at due_at), suspended (pre-empted by breaking
    news, resumes from its saved upload state), failed, manual, cancelled.
    """

    PENDING = "pending"
    READY = "ready"
    CLAIMED = "claimed"
    UPLOADING = "uploading"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    RETRY_WAIT = "retry_wait"
    SUSPENDED = "suspended"
    FAILED = "failed"
    MANUAL = "manual"
    CANCELLED = "cancelled"


#: states a worker may claim (when due)
DISPATCHABLE = frozenset(
    {DeliveryState.PENDING, DeliveryState.READY, DeliveryState.RETRY_WAIT, DeliveryState.SUSPENDED}
)
#: states that hold a lease
IN_FLIGHT = frozenset({DeliveryState.CLAIMED, DeliveryState.UPLOADING, DeliveryState.PUBLISHING})
#: states that never change again (except manual → published by resolve)
FINAL = frozenset(
    {DeliveryState.PUBLISHED, DeliveryState.FAILED, DeliveryState.CANCELLED, DeliveryState.MANUAL}
)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery a worker holds the lease on, with its post's content.

    ``previous_state`` tells the executor where the delivery was before this
    claim: ``publishing`` (or an expired lease in ``publishing``) means a
    publish call may already have gone out, so it must reconcile first.
    """

    id: uuid.UUID
    post_id: uuid.UUID
    platform: str
    account: str
    previous_state: DeliveryState
    priority: int  # 1 = breaking
    attempts: int
    layer_index: int
    idempotency_key: str
    lease_owner: str
    lease_until: datetime
    video_path: str
    video_sha256: str
    media: Mapping[str, Any]
    title: str
    description: str
    hashtags: tuple[str, ...]
    options: Mapping[str, Any] = field(
        default_factory=dict
    )  # the post's overrides for this platform
    upload_state: Mapping[str, Any] | None = None
    receipt: Mapping[str, Any] | None = None
    scheduled_at: datetime | None = None
    is_test: bool = False
    outcome_unknown: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any], previous_state: DeliveryState) -> ClaimedDelivery:
        """From a row of a delivery joined with its post (see ``store.deliveries``)."""
        overrides = row["overrides"] or {}
        return cls(
            id=row["id"],
            post_id=row["post_id"],
            platform=row["platform"],
            account=row["account"],
            previous_state=previous_state,
            priority=row["priority"],
            attempts=row["attempts"],
            layer_index=row["layer_index"],
            idempotency_key=row["idempotency_key"],
            lease_owner=row["lease_owner"],
            lease_until=row["lease_until"],
            video_path=row["video_path"],
            video_sha256=row["video_sha256"],
            media=row["media"] or {},
            title=row["title"],
            description=row["description"],
            hashtags=tuple(row["hashtags"] or ()),
            options=dict(overrides.get(row["platform"], {})),
            upload_state=row["upload_state"],
            receipt=row["receipt"],
            scheduled_at=row["scheduled_at"],
            is_test=row["is_test"],
            outcome_unknown=row["outcome_unknown"],
        )


StopReason = Literal["shutdown", "preempted"]


@dataclass
class RunControl:
    """Shared by the worker and the executor running one delivery.

    The worker sets ``stop_reason`` and then cancels the executor's task; the
    executor, on ``CancelledError``, checkpoints accordingly: ``preempted`` →
    ``suspended`` (breaking news took the account; resume later from the saved
    upload state), ``shutdown`` → back to the queue with its upload state.
    The executor sets ``settled`` as it writes a final state (failed, manual):
    that write and the operator's alert after it must not be cut off, so the
    worker waits for such a run instead of cancelling it.
    """

    stop_reason: StopReason | None = None
    settled: bool = False
